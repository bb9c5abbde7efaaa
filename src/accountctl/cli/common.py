"""What every command shares: global options, the unlocked session, passphrase sources."""

from __future__ import annotations

import functools
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import click

from accountctl.cli import output
from accountctl.errors import AccessError, InputError

META = "accountctl."


def _remember(ctx: click.Context, param: click.Parameter, value):
    # Global options may stand before or after the subcommand; the later (inner) one wins.
    if value is not None and value is not False:
        ctx.meta[META + param.name] = value
    return value


def _remember_json(ctx: click.Context, param: click.Parameter, value):
    if value:
        ctx.meta[META + "format"] = "json"
    return value


REGISTER_OPTION = click.option(
    "--register",
    "register",
    metavar="PATH|URL",
    expose_value=False,
    callback=_remember,
    help="Register file, or a postgresql:// URL (default: ACCOUNTCTL_REGISTER, else your data folder).",
)
AS_OPTION = click.option(
    "--as",
    "as_",
    metavar="EMAIL",
    expose_value=False,
    callback=_remember,
    help="Whose key slot to unlock (default: ACCOUNTCTL_USER; may be omitted with one slot).",
)
DEBUG_OPTION = click.option("--debug", is_flag=True, expose_value=False, callback=_remember, help="Show tracebacks.")
FORMAT_OPTIONS = [
    click.option(
        "--format",
        "format",
        type=click.Choice(output.FORMATS),
        expose_value=False,
        callback=_remember,
        help="Output format.",
    ),
    click.option(
        "--json", "json_", is_flag=True, expose_value=False, callback=_remember_json, help="Same as --format json."
    ),
    click.option(
        "--wide",
        is_flag=True,
        expose_value=False,
        callback=_remember,
        help="Tables: show every cell whole instead of fitting the screen.",
    ),
]
assert META + "wide" == output.WIDE


def _add(func: Callable, options: list) -> Callable:
    for option in reversed(options):
        func = option(func)
    return func


def global_options(func: Callable) -> Callable:
    """Add --register, --as and --debug to a command that unlocks the register."""
    return _add(func, [REGISTER_OPTION, AS_OPTION, DEBUG_OPTION])


def file_options(func: Callable) -> Callable:
    """Add --register and --debug to a command that uses the file but unlocks no one's slot (init, vault status)."""
    return _add(func, [REGISTER_OPTION, DEBUG_OPTION])


def format_options(func: Callable) -> Callable:
    """Add --format, --json and --wide (and the global options) to a command that prints records."""
    return global_options(_add(func, FORMAT_OPTIONS))


def file_format_options(func: Callable) -> Callable:
    """--format, --json, --wide, --register and --debug, for a command that reads the file unlocked (vault status)."""
    return file_options(_add(func, FORMAT_OPTIONS))


def plain_format_options(func: Callable) -> Callable:
    """--format, --json, --wide and --debug, for a command that reads no register (rules)."""
    return _add(func, [*FORMAT_OPTIONS, DEBUG_OPTION])


def meta(name: str, default=None):
    return click.get_current_context().meta.get(META + name, default)


def fmt() -> str:
    """The chosen output format."""
    return meta("format", "table")


def register_path() -> Path | str:
    """The register's address: a file path, or a postgresql:// URL as given."""
    from accountctl.store.stores import address

    return address(meta("register"))


def actor_hint() -> str | None:
    """Who this command acts as (--as, else ACCOUNTCTL_USER), or None; not an email address: exit 2."""
    chosen = meta("as_") or os.environ.get("ACCOUNTCTL_USER")
    if not chosen:
        return None
    from accountctl import model

    return model.email(chosen, "--as" if meta("as_") else "ACCOUNTCTL_USER")


def interactive() -> bool:
    """Whether we may prompt: only on a terminal, so scripts and pipes never hang."""
    return output.isatty_stdin()


def passphrase_source(who: str | None) -> Callable[[], str]:
    """The passphrase from ACCOUNTCTL_PASSPHRASE, else a hidden prompt on a terminal.

    A typed passphrase is remembered for the rest of the command, so one that unlocks twice (to
    check what it was given before asking for a secret, then to save) asks once.
    """

    def get() -> str:
        env = os.environ.get("ACCOUNTCTL_PASSPHRASE")
        if env:
            return text_or_refuse(env, "ACCOUNTCTL_PASSPHRASE")
        ctx = click.get_current_context(silent=True)
        key = f"{META}passphrase:{who}"
        if ctx is not None and key in ctx.meta:
            return ctx.meta[key]
        if interactive():
            typed = text_or_refuse(
                click.prompt(f"Passphrase{' for ' + who if who else ''}", hide_input=True, err=True), "the passphrase"
            )
            if ctx is not None:
                ctx.meta[key] = typed
            return typed
        raise AccessError("no passphrase: run 'accountctl login', set ACCOUNTCTL_PASSPHRASE, or run in a terminal")

    return get


def text_or_refuse(text: str, what: str) -> str:
    """`text`, or InputError when it is not valid UTF-8 (undecodable bytes arrive as lone surrogates)."""
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        raise InputError(f"{what} is not valid UTF-8 text")
    return text


NEW_PASSPHRASE_TRIES = 5


def new_passphrase(whose: str = "the new passphrase", context: tuple[str, ...] = ()) -> str:
    """A new passphrase from ACCOUNTCTL_NEW_PASSPHRASE, else a hidden prompt asked twice.

    It must be at least 10 characters and hard to guess (zxcvbn score 3 or more; `context` are words
    an attacker would try first, such as the person's email and name). From the environment a weak
    one is refused; at the prompt it is asked again.
    """
    from accountctl.core.access import check_new_passphrase
    from accountctl.core.quality import passphrase_problem

    words = [w for c in context for w in (c or "").replace("@", " ").replace(".", " ").split()]

    def problem(candidate: str) -> str | None:
        try:
            check_new_passphrase(text_or_refuse(candidate, "the passphrase"))
        except InputError as exc:
            return str(exc)
        return passphrase_problem(candidate, words)

    env = os.environ.get("ACCOUNTCTL_NEW_PASSPHRASE")
    if env:
        why = problem(env)
        if why:
            raise InputError(f"ACCOUNTCTL_NEW_PASSPHRASE is refused: {why}")
        return env
    if not interactive():
        raise InputError("no new passphrase: set ACCOUNTCTL_NEW_PASSPHRASE or run in a terminal")
    for _ in range(NEW_PASSPHRASE_TRIES):
        first = click.prompt(f"Enter {whose}", hide_input=True, err=True)
        why = problem(first)
        if why:
            output.message(f"That passphrase is refused: {why.rstrip('.')}. Try again.")
            continue
        if click.prompt(f"Repeat {whose}", hide_input=True, err=True) == first:
            return first
        output.message("The two entries did not match. Try again.")
    raise InputError(f"no acceptable passphrase after {NEW_PASSPHRASE_TRIES} tries; nothing was changed")


@contextmanager
def session(
    write: bool = False, history: bool | dict = False, check: bool = True, focus: tuple[str, str] | None = None
) -> Iterator:
    """Unlock the register as the actor; with `write`, save under the lock when the block succeeds.

    With `history`, the history archive is decrypted as well (only log, verify, export, report read it);
    a dict (`account`, `last`) says which events the command reads, which a register with a key per
    school may load alone. `check=False` is `verify`'s alone: it opens history that does not verify,
    to say what is wrong.
    """
    from accountctl.store.register import open_register

    who = actor_hint()
    with open_register(
        register_path(),
        actor=who,
        passphrase_source=passphrase_source(who),
        write=write,
        history=history,
        check=check,
        focus=focus,
    ) as reg:
        if write:
            from accountctl.core.access import require_may_act

            require_may_act(reg)
        _require_school_opens(reg)
        try:
            yield reg
        except click.exceptions.Exit:  # a result (an audit's findings), not a failure
            _say_scope(reg)
            raise
        _say_scope(reg)


# Commands about staff alone, for which a central school is open to every key holder: the central
# team's staff are the trust's rows (file-format.md F4), its accounts and incidents are not.
_STAFF_ONLY = {("staff", "list")}


def _require_school_opens(reg) -> None:
    """A `--school S` this person's key does not open is refused (exit 3), not answered with nothing."""
    covered = getattr(reg, "schools", None)
    ctx = click.get_current_context(silent=True)
    if covered is None or ctx is None:
        return
    if ctx.parent is not None and (ctx.parent.info_name, ctx.info_name) in _STAFF_ONLY:
        covered = covered | {row[0] for row in reg.db.execute("SELECT id FROM schools WHERE central")}
    for name in ("school", "school_id"):
        value = ctx.params.get(name)
        if isinstance(value, str) and value.strip().lower() in reg.all_schools - covered:
            raise AccessError(f"your key does not open {value.strip().lower()}: ask a custodian if you need it")


def _say_scope(reg) -> None:
    """A school-scoped person's command says, in one line on stderr once it has succeeded, what it covered."""
    scoped = getattr(reg, "scoped_line", None)
    line = scoped() if scoped is not None else None
    if line:
        output.message(line)


def _with_register(
    result_exit: bool = False, focus: str | None = None, events: Callable | None = None, **opening
) -> Callable[[Callable], Callable]:
    """A decorator that opens the register (`session(**opening)`) and passes it as the first argument.

    `events(kwargs)`: the history a command reads (`session`'s `history` as a dict), from its options.

    With `result_exit`, the command's own `ctx.exit(1)` (an audit's findings, an offboarding's
    outstanding steps) is its result, not a failure: the open still counts as succeeded, so this
    machine keeps what it learnt (its rollback witness, the history it checked). Otherwise a machine
    that only ever audits would never record a newer copy, and would read an older one put back.
    """

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            finished = None
            about = ("account", kwargs[focus]) if focus and kwargs.get(focus) else None
            history = {"history": events(kwargs)} if events is not None else {}
            with session(**opening, **history, focus=about) as reg:
                try:
                    return func(reg, *args, **kwargs)
                except click.exceptions.Exit as done:
                    if not result_exit:
                        raise
                    finished = done
            raise finished

        return wrapper

    return decorate


reads = _with_register(write=False)
# audit, offboard: exit 1 reports what they found in the accounts (verify's exit 1 is about the register: not this)
reads_findings = _with_register(write=False, result_exit=True)
reads_history = _with_register(write=False, history=True)  # export, report: the archive too
# log: the events of one account, or the last N (format 5 loads only those: 2.4 s to 0.6 s at the large trust)
reads_events = _with_register(write=False, events=lambda kw: {"account": kw.get("account"), "last": kw.get("limit")})


def _verified_events(_options: dict) -> dict:
    """The events `verify` reads (core.verification): decisions, breach decisions, the membership records'."""
    from accountctl.chain import DECISION_ACTIONS
    from accountctl.core.breaches import ACTION  # imported when verify runs, not by every command

    return {"actions": (*DECISION_ACTIONS, ACTION), "members": True}


# verify: it checks, and reports; of the history (format 5) it reads only the events it checks against
# records, and checks every other one as the open does.
reads_unchecked = _with_register(write=False, check=False, events=_verified_events)
writes = _with_register(write=True)
# A write about one account (its argument `account_id`) that nothing of another school bears on: in a
# register with a key per school, only that account's school is decrypted (F4's lookup).
writes_one = _with_register(write=True, focus="account_id")
