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


GLOBAL_OPTIONS = [
    click.option("--register", "register", metavar="PATH|URL", expose_value=False, callback=_remember,
                 help="Register file, or a postgresql:// URL (default: ACCOUNTCTL_REGISTER, else your data folder)."),
    click.option("--as", "as_", metavar="EMAIL", expose_value=False, callback=_remember,
                 help="Whose key slot to unlock (default: ACCOUNTCTL_USER; may be omitted with one slot)."),
    click.option("--debug", is_flag=True, expose_value=False, callback=_remember, help="Show tracebacks."),
]
FORMAT_OPTIONS = [
    click.option("--format", "format", type=click.Choice(output.FORMATS), expose_value=False, callback=_remember,
                 help="Output format."),
    click.option("--json", "json_", is_flag=True, expose_value=False, callback=_remember_json,
                 help="Same as --format json."),
]


def global_options(func: Callable) -> Callable:
    """Add --register, --as and --debug to a command."""
    for option in reversed(GLOBAL_OPTIONS):
        func = option(func)
    return func


def format_options(func: Callable) -> Callable:
    """Add --format and --json to a command that prints records."""
    for option in reversed(FORMAT_OPTIONS):
        func = option(func)
    return global_options(func)


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
    chosen = meta("as_") or os.environ.get("ACCOUNTCTL_USER")
    return chosen.strip().lower() if chosen else None


def interactive() -> bool:
    """Whether we may prompt: only on a terminal, so scripts and pipes never hang."""
    return output.isatty_stdin()


def passphrase_source(who: str | None) -> Callable[[], str]:
    """The passphrase from ACCOUNTCTL_PASSPHRASE, else a hidden prompt on a terminal."""
    def get() -> str:
        env = os.environ.get("ACCOUNTCTL_PASSPHRASE")
        if env:
            return env
        if interactive():
            return click.prompt(f"Passphrase{' for ' + who if who else ''}", hide_input=True, err=True)
        raise AccessError("no passphrase: run 'accountctl login', set ACCOUNTCTL_PASSPHRASE, or run in a terminal")
    return get


def new_passphrase(whose: str = "the new passphrase") -> str:
    """A new passphrase from ACCOUNTCTL_NEW_PASSPHRASE, else a hidden prompt asked twice."""
    from accountctl.core.access import check_new_passphrase

    env = os.environ.get("ACCOUNTCTL_NEW_PASSPHRASE")
    if env:
        return check_new_passphrase(env)
    if not interactive():
        raise InputError("no new passphrase: set ACCOUNTCTL_NEW_PASSPHRASE or run in a terminal")
    first = click.prompt(f"Enter {whose}", hide_input=True, err=True)
    check_new_passphrase(first)
    second = click.prompt(f"Repeat {whose}", hide_input=True, err=True)
    if first != second:
        raise InputError("the two passphrases did not match; nothing was changed")
    return first


@contextmanager
def session(write: bool = False, history: bool = False) -> Iterator:
    """Unlock the register as the actor; with `write`, save under the lock when the block succeeds.

    With `history`, the history archive is decrypted as well (only log, verify, export, report read it).
    """
    from accountctl.store.register import open_register

    who = actor_hint()
    with open_register(register_path(), actor=who, passphrase_source=passphrase_source(who), write=write,
                       history=history) as reg:
        if write:
            from accountctl.core.access import require_may_act

            require_may_act(reg)
        yield reg


def _with_register(**opening) -> Callable[[Callable], Callable]:
    """A decorator that opens the register (`session(**opening)`) and passes it as the first argument."""
    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with session(**opening) as reg:
                return func(reg, *args, **kwargs)
        return wrapper
    return decorate


reads = _with_register(write=False)
reads_history = _with_register(write=False, history=True)  # log, verify, export: the archive too
writes = _with_register(write=True)
