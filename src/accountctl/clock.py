"""The one source of "today" and "now"; honours ACCOUNTCTL_TODAY so every date rule is testable."""

from __future__ import annotations

import os
import re
from datetime import date, datetime, timezone

from accountctl.errors import InputError, shown

ENV = "ACCOUNTCTL_TODAY"
_override: list[date] = []  # innermost `as_of` date first


DATES = ("iso", "uk")  # how an imported file writes its dates: `--dates iso|uk`
_UK = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})")


YEARS = (1900, 9000)  # the dates accepted anywhere: a school's records, with room for windows of days either side


def parse_date(text: str, what: str = "date", dates: str | None = None) -> date:
    """Parse a strict `YYYY-MM-DD` date or raise InputError naming `what`.

    `dates` says where the text comes from: None an option, "iso" a file read as `YYYY-MM-DD`,
    "uk" a file whose dates are day/month/year as Excel writes them in the UK (`07/12/2026`; a
    `YYYY-MM-DD` date in it is read too). A day/month/year date anywhere else is refused with a hint
    naming `--dates uk`.
    """
    text = (text or "").strip()
    uk = _UK.fullmatch(text)
    if uk and dates == "uk":
        day, month, year = uk.groups()
        if len(year) == 2:
            raise InputError(f"{what} {shown(text)} has a two-digit year; write the year in full (DD/MM/YYYY)")
        try:
            return _in_range(date(int(year), int(month), int(day)), what, text)
        except ValueError:
            raise InputError(f"{what} is not a real date as day/month/year: {text!r}") from None
    if len(text) != 10 or text[4] != "-" or text[7] != "-" or not (text[:4] + text[5:7] + text[8:]).isdigit():
        hint = ""
        if uk and dates is None:
            hint = "; write day/month/year as YYYY-MM-DD (--dates uk reads it in imported files)"
        elif uk:
            hint = "; if the file's dates are day/month/year, as Excel writes them in the UK, import it with --dates uk"
        raise InputError(f"{what} must be a date as YYYY-MM-DD, not {shown(text)}{hint}")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{what} is not a real date: {text!r}") from None
    return _in_range(day, what, text)


def _in_range(day: date, what: str, text: str) -> date:
    if not YEARS[0] <= day.year <= YEARS[1]:  # windows of days counted back or on from it must stay dates
        raise InputError(f"{what} {text} is out of range: give a year from {YEARS[0]} to {YEARS[1]}")
    return day


def past_date(text: str, what: str = "date", dates: str | None = None) -> date:
    """`parse_date` of something that has happened: refused (InputError) when after today."""
    day = parse_date(text, what, dates)
    if day > today():
        raise InputError(f"{what} {day.isoformat()} is in the future")
    return day


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
