"""cred set|generate|totp|recovery|show|history, and otp. Secrets come from a hidden prompt or stdin,
never from an argument, and go to stdout only when asked for."""

from __future__ import annotations

import sys

import click

from accountctl.cli import output
from accountctl.cli.common import actor_hint, fmt, format_options, global_options, interactive, register_path, session
from accountctl.errors import AccessError, InputError


def _precheck_custodian(doing: str) -> None:
    """Refuse a non-custodian from the header alone, before prompting for any secret."""
    from accountctl.store import register as store

    header, _ = store.read_header(register_path())
    if not store.choose_slot(header, actor_hint()).is_custodian:
        raise AccessError(f"only an IT custodian can {doing}")


def _read_stdin() -> str:
    text = sys.stdin.read()
    return text[:-1] if text.endswith("\n") else text


def read_secret(what: str, *, confirm: bool = False) -> str:
    """A secret from a hidden prompt (asked twice with `confirm`) or, when not a terminal, stdin."""
    if not interactive():
        return _read_stdin().rstrip("\r")
    first = click.prompt(what, hide_input=True, err=True)
    if confirm and click.prompt(f"Repeat {what.lower()}", hide_input=True, err=True) != first:
        raise InputError("the two entries did not match; nothing was stored")
    return first


@click.group()
def cred() -> None:
    """Credentials IT holds for each account (custodians only).

    \b
    Example:
      accountctl cred generate oak-facebook-oakprimary
    """


@cred.command("set")
@click.argument("account_id", metavar="ID")
@click.option("--username", help="The login name (not secret; the password never comes from an argument).")
@global_options
def cred_set(account_id, username) -> None:
    """Store the account's password from a hidden prompt, or stdin when it is not a terminal.

    \b
    Example:
      printf '%s\\n' "$NEW_PASSWORD" | accountctl cred set oak-facebook-oakprimary --username office@oak.sch.uk
    """
    from accountctl.core import vault

    _precheck_custodian("set passwords")
    password = read_secret("Password", confirm=True)
    with session(write=True) as reg:
        vault.set_password(reg, account_id, password, username)
    output.message(f"Stored a new password for {account_id.strip().lower()}.")


@cred.command("generate")
@click.argument("account_id", metavar="ID")
@click.option("--length", type=int, default=24, show_default=True, help="12 to 128 characters.")
@global_options
def cred_generate(account_id, length) -> None:
    """Generate and store a strong password; prints it alone on stdout, once.

    \b
    Example:
      accountctl cred generate oak-facebook-oakprimary --length 32
    """
    from accountctl.core import vault

    _precheck_custodian("generate passwords")
    password = vault.generate_password(length)
    with session(write=True) as reg:
        vault.set_password(reg, account_id, password, generated=True)
    click.echo(password)


@cred.command("totp")
@click.argument("account_id", metavar="ID")
@global_options
def cred_totp(account_id) -> None:
    """Store the 2FA (TOTP) seed: a base32 secret or an otpauth:// URI, from stdin or a hidden prompt.

    \b
    Example:
      printf '%s\\n' "otpauth://totp/Facebook:office@oak.sch.uk?secret=...&issuer=Facebook" | accountctl cred totp ID
    """
    from accountctl.core import vault

    _precheck_custodian("set 2FA seeds")
    text = read_secret("TOTP secret or otpauth:// URI")
    with session(write=True) as reg:
        vault.set_totp(reg, account_id, text)
    output.message(f"Stored the 2FA seed for {account_id.strip().lower()}.")


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

    _precheck_custodian("set recovery codes")
    if interactive():
        lines = []
        output.message("Type the recovery codes, one a line; an empty line ends.")
        while True:
            line = click.prompt("Code", default="", show_default=False, hide_input=True, err=True)
            if not line.strip():
                break
            lines.append(line)
        text = "\n".join(lines)
    else:
        text = _read_stdin()
    with session(write=True) as reg:
        result = vault.set_recovery(reg, account_id, text)
    output.message(f"Stored {result['count']} recovery code(s) for {result['account']}.")


@cred.command("show")
@click.argument("account_id", metavar="ID")
@click.option("--reason", required=True, help="Why you need it (kept in the history).")
@click.option("--field", type=click.Choice(["username", "password", "totp", "recovery"]),
              help="Print just this one, alone on stdout.")
@format_options
def cred_show(account_id, reason, field) -> None:
    """Reveal what IT holds; the reveal and its reason (not the value) go in the history.

    \b
    Example:
      accountctl cred show oak-facebook-oakprimary --field password --reason "Handover to new owner"
    """
    from accountctl.core import vault

    with session(write=True) as reg:
        values = vault.reveal(reg, account_id, reason, field)
    if field and fmt() == "table":
        value = values[field]
        click.echo("\n".join(value) if isinstance(value, list) else value)
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

    with session() as reg:
        seed = vault.load_totp(reg, account_id)
    click.echo(vault.totp_code(seed))
