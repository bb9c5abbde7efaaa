"""cred set|generate|totp|recovery|show|history, and otp. Secrets come from a hidden prompt or stdin,
never from an argument, and go to stdout only when asked for."""

from __future__ import annotations

import sys

import click

from accountctl.cli import output
from accountctl.cli.common import (
    actor_hint,
    fmt,
    format_options,
    global_options,
    interactive,
    register_path,
    session,
    text_or_refuse,
)
from accountctl.errors import AccessError, InputError

STDIN_LIMIT = 64 * 1024  # bytes of secrets read from stdin: far more than any password, seed or set of codes


def _precheck_custodian(doing: str) -> None:
    """Refuse a non-custodian from the header alone, before prompting for any secret."""
    from accountctl.store import register as store

    header, _ = store.read_header(register_path())
    if not store.choose_slot(header, actor_hint()).is_custodian:
        raise AccessError(f"only an IT custodian can {doing}")


def _checked_account(account_id: str, doing: str) -> str:
    """Unlock and check before any secret is asked for: a custodian, and an account that exists (its id)."""
    from accountctl.core.lookup import get_account
    from accountctl.core.vault import require_vault

    _precheck_custodian(doing)  # from the header: no passphrase wasted on someone who may not do this
    with session() as reg:
        require_vault(reg, doing)
        return get_account(reg.db, account_id)["id"]


def _read_stdin(what: str) -> str:
    """Stdin as UTF-8 text (bad bytes are refused, never half-decoded), without its last line break."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:  # a text-only stream (an embedding host): already decoded
        text = text_or_refuse(sys.stdin.read(STDIN_LIMIT + 1), f"the {what} on stdin")
    else:
        data = stream.read(STDIN_LIMIT + 1)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(f"the {what} on stdin is not UTF-8 text; nothing was stored") from None
    if len(text) > STDIN_LIMIT:
        raise InputError(f"the {what} on stdin is longer than {STDIN_LIMIT // 1024} KiB")
    text = text.removeprefix("\ufeff")  # a byte order mark some Windows tools put first
    return text[:-1] if text.endswith("\n") else text


def read_secret(what: str, *, confirm: bool = False) -> str:
    """A secret from a hidden prompt (asked twice with `confirm`) or, when not a terminal, stdin."""
    if not interactive():
        return _read_stdin(what.split(" for ")[0].lower()).rstrip("\r")
    first = text_or_refuse(click.prompt(what, hide_input=True, err=True), "what was typed")
    if confirm and click.prompt(f"Repeat {what[0].lower() + what[1:]}", hide_input=True, err=True) != first:
        raise InputError("the two entries did not match; nothing was stored")
    return first


@click.group()
def cred() -> None:
    """Credentials IT holds for each account (custodians only).

    \b
    Example:
      accountctl cred generate oak-facebook-oakprimary
    """


CLIP_OPTION = click.option(
    "--clip", is_flag=True, help="Copy to the clipboard instead of printing; cleared after 45 seconds."
)


def _clipboard():
    from accountctl.cli import clip

    return clip.require()


def _to_clipboard(value: str, board, what: str) -> None:
    from accountctl.cli import clip

    clip.copy(value, board)
    output.message(f"Copied {what} to the clipboard; it is cleared in {clip.CLEAR_AFTER} seconds.")


@cred.command("set")
@click.argument("account_id", metavar="ID")
@click.option("--username", help="The login name (not secret; the password never comes from an argument).")
@global_options
def cred_set(account_id, username) -> None:
    """Store the account's password from a hidden prompt, or stdin when it is not a terminal.

    A weak password is stored (it is what the platform has) with a warning; 'cred generate' makes a
    strong one.

    \b
    Example:
      accountctl cred set oak-facebook-oakprimary --username office@oak.sch.uk   # asked twice, hidden
    """
    from accountctl.core import vault

    account_id = _checked_account(account_id, "set passwords")
    password = read_secret(f"Password for {account_id}", confirm=True)
    with session(write=True) as reg:
        result = vault.set_password(reg, account_id, password, username)
    output.message(f"Stored a new password for {result['account']}.")
    _ticked(result, "password-rotated")
    if result["weak"]:
        advice = " ".join(result["suggestions"])
        output.message(
            f"Warning: that password is weak ({result['weak']}). {advice + ' ' if advice else ''}"
            f"A generated one is stronger: 'accountctl cred generate {result['account']}'."
        )


def _ticked(result: dict, step: str) -> None:
    """Say which open incidents the change completed a step of."""
    for incident in result["incidents"]:
        output.message(f"Incident {incident}: {step} done.")
    for incident in result.get("incidents_held", []):
        output.message(
            f"Incident {incident}: {step} is NOT done: {result['held_because']}. "
            f"Use a new generated one: accountctl cred generate {result['account']}"
        )


@cred.command("generate")
@click.argument("account_id", metavar="ID")
@click.option("--length", type=int, default=24, show_default=True, help="12 to 128 characters.")
@click.option(
    "--no-symbols", "no_symbols", is_flag=True, help="Letters and digits only, for a platform that refuses symbols."
)
@CLIP_OPTION
@global_options
def cred_generate(account_id, length, no_symbols, clip) -> None:
    """Generate and store a strong password; prints it alone on stdout, once (or copies it, --clip).

    \b
    Example:
      accountctl cred generate oak-facebook-oakprimary --length 32
      accountctl cred generate oak-x-oakmusic --no-symbols   # a platform that refuses ]~^<
      accountctl cred generate oak-facebook-oakprimary --clip  # paste it into the platform within 45 s
    """
    from accountctl.core import vault

    board = _clipboard() if clip else None  # no clipboard: refused before anything is generated or stored
    _precheck_custodian("generate passwords")
    password = vault.generate_password(length, symbols=not no_symbols)
    with session(write=True) as reg:
        result = vault.set_password(reg, account_id, password, generated=True)
    if board is not None:
        _to_clipboard(password, board, f"the new password of {result['account']}")
    else:
        click.echo(password)
    _ticked(result, "password-rotated")


@cred.command("totp")
@click.argument("account_id", metavar="ID")
@global_options
def cred_totp(account_id) -> None:
    """Store the 2FA (TOTP) seed: a base32 secret or an otpauth:// URI, from a hidden prompt or stdin.

    Paste the secret (or the otpauth:// URI the platform's QR code holds) at the hidden prompt, or
    pipe it from a file or another program; never type it into the command line. Then the current
    code is printed, to type into the platform's 2FA set-up to confirm it.

    \b
    Example:
      accountctl cred totp oak-facebook-oakprimary            # paste at the hidden prompt
      accountctl cred totp oak-facebook-oakprimary < seed.txt  # or from a file only you can read
    """
    from accountctl.core import vault

    account_id = _checked_account(account_id, "set 2FA seeds")
    text = read_secret(f"TOTP secret or otpauth:// URI for {account_id}")
    with session(write=True) as reg:
        result = vault.set_totp(reg, account_id, text)
    output.message(f"Stored the 2FA seed for {account_id.strip().lower()}. Its current code, to confirm the set-up:")
    click.echo(vault.totp_code(result["seed"]))
    _ticked(result, "mfa-reseeded")


@cred.command("recovery")
@click.argument("account_id", metavar="ID")
@global_options
def cred_recovery(account_id) -> None:
    """Store the account's recovery codes, one a line on stdin (or typed, ending with an empty line).

    \b
    Example:
      accountctl cred recovery oak-facebook-oakprimary < codes.txt
    """
    from accountctl.core import vault

    account_id = _checked_account(account_id, "set recovery codes")
    if interactive():
        lines = []
        output.message(f"Type the recovery codes for {account_id}, one a line; an empty line ends.")
        while True:
            line = text_or_refuse(
                click.prompt("Code", default="", show_default=False, hide_input=True, err=True), "what was typed"
            )
            if not line.strip():
                break
            lines.append(line)
        text = "\n".join(lines)
    else:
        text = _read_stdin("recovery codes")
    with session(write=True) as reg:
        result = vault.set_recovery(reg, account_id, text)
    output.message(f"Stored {result['count']} recovery code(s) for {result['account']}.")


@cred.command("show")
@click.argument("account_id", metavar="ID")
@click.option("--reason", required=True, help="Why you need it (kept in the history).")
@click.option(
    "--field",
    type=click.Choice(["username", "password", "totp", "recovery"]),
    help="Print just this one, alone on stdout.",
)
@CLIP_OPTION
@format_options
def cred_show(account_id, reason, field, clip) -> None:
    """Reveal what IT holds; the reveal and its reason (not the value) go in the history.

    With --clip, the field (default: the password) goes to the clipboard instead of the screen.

    \b
    Example:
      accountctl cred show oak-facebook-oakprimary --field password --reason "Handover to new owner"
      accountctl cred show oak-facebook-oakprimary --clip --reason "Posting the newsletter"
    """
    from accountctl.core import vault

    board = None
    if clip:
        if field == "recovery":
            raise InputError("--clip copies one value: the username, password or totp, not the recovery codes")
        board, field = _clipboard(), field or "password"  # checked before the reveal is recorded
    with session(write=True, focus=("account", account_id)) as reg:
        values = vault.reveal(reg, account_id, reason, field)
    if board is not None:
        _to_clipboard(values[field], board, f"the {field} of {values['account']}")
    elif field and fmt() == "table":
        value = values[field]
        output.secret("\n".join(value) if isinstance(value, list) else value)
    else:
        output.record(values, fmt(), ["account", field] if field else ["account", *vault.FIELDS])


@cred.command("history")
@click.argument("account_id", metavar="ID")
@format_options
def cred_history(account_id) -> None:
    """When each password was set and by whom (never the values).

    \b
    Example:
      accountctl cred history oak-facebook-oakprimary
    """
    from accountctl.core import vault

    with session() as reg:
        rows = vault.password_history(reg, account_id)
    output.rows(rows, ["set_at", "set_by", "replaced_at", "current"], fmt())


@click.command()
@click.argument("account_id", metavar="ID")
@global_options
def otp(account_id) -> None:
    """Print the account's current 2FA code.

    \b
    Example:
      accountctl otp oak-facebook-oakprimary
    """
    from accountctl.core import vault

    with session(focus=("account", account_id)) as reg:
        seed = vault.load_totp(reg, account_id)
    click.echo(vault.totp_code(seed))
