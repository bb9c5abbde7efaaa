"""The one source of "today" and "now"; honours ACCOUNTCTL_TODAY so every date rule is testable."""

from __future__ import annotations

import os
from datetime import date, datetime, timezone

from accountctl.errors import InputError

ENV = "ACCOUNTCTL_TODAY"
_override: list[date] = []  # innermost `as_of` date first


def parse_date(text: str, what: str = "date") -> date:
    """Parse a strict `YYYY-MM-DD` date or raise InputError naming `what`."""
    text = (text or "").strip()
    if len(text) != 10 or text[4] != "-" or text[7] != "-" or not (text[:4] + text[5:7] + text[8:]).isdigit():
        raise InputError(f"{what} must be a date as YYYY-MM-DD, not {text!r}")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{what} is not a real date: {text!r}") from None


class as_of:
    """Act as if today were `day` inside a `with` block (the demo builds months of history)."""

    def __init__(self, day: date):
        self.day = day

    def __enter__(self) -> date:
        _override.insert(0, self.day)
        return self.day

    def __exit__(self, *exc) -> None:
        _override.remove(self.day)


def today() -> date:
    """Today's date: an `as_of` block's, else ACCOUNTCTL_TODAY's when set, else the real one."""
    if _override:
        return _override[0]
    override = os.environ.get(ENV)
    if override:
        return parse_date(override, ENV)
    return datetime.now(timezone.utc).date()


def now() -> datetime:
    """The current UTC time; with ACCOUNTCTL_TODAY, that date at the current time of day."""
    real = datetime.now(timezone.utc).replace(microsecond=0)
    if _override or os.environ.get(ENV):
        return datetime.combine(today(), real.timetz())
    return real


def now_iso() -> str:
    """`now()` as an ISO 8601 string with a Z suffix, the form every record stores."""
    return now().strftime("%Y-%m-%dT%H:%M:%SZ")


def real_today() -> date:
    """The real UTC date, whatever ACCOUNTCTL_TODAY says: it decides who may act (a leaver cannot backdate)."""
    return datetime.now(timezone.utc).date()


def real_now_iso() -> str:
    """The real UTC time as ISO 8601 with a Z suffix; every event records it beside its effective `at`."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
