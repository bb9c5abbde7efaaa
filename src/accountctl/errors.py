"""One exception type per exit code of the spec; the CLI maps them to `Error: ...` lines."""

from __future__ import annotations


SHOWN_CHARS = 80  # an error shows at most this much of a value it quotes


def shown(value: object) -> str:
    """A value quoted for an error message: repr-escaped, and at most SHOWN_CHARS characters of it."""
    text = str(value)
    return repr(text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…")


class AccountctlError(Exception):
    """Base of every error a user may see; `exit_code` is the spec's code."""

    exit_code = 2


class InputError(AccountctlError):
    """Bad input or a refused operation (exit 2)."""

    exit_code = 2


class AccessError(AccountctlError):
    """Authentication or permission failure: wrong passphrase, no slot, role not allowed (exit 3)."""

    exit_code = 3


class DamagedError(AccountctlError):
    """The register is damaged, altered, truncated or not a register at all (exit 4)."""

    exit_code = 4


class BusyError(AccountctlError):
    """Another process holds the register's lock for longer than we wait (exit 5)."""

    exit_code = 5


class CheckFailed(AccountctlError):
    """A check ran and found problems (exit 1); raised only where output has already been written."""

    exit_code = 1


def not_utf8(argv: list[str]) -> str | None:
    """The refusal for the first argument that is not UTF-8 text, or None when every one is.

    Bytes that are not UTF-8 (a Latin-1 terminal, a mangled paste) reach Python as lone surrogates,
    which no database, file or answer can hold: without this check they ended as an internal error.
    """
    for arg in argv:
        if not arg.isascii() and any("\udc80" <= ch <= "\udcff" for ch in arg):
            shown = arg.encode("utf-8", "surrogateescape").decode("ascii", "backslashreplace")
            return f"Error: argument {shown} is not UTF-8 text: type it again, or set your terminal to UTF-8"
    return None
