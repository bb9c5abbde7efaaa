"""Register settings: guideline limits, the policy's version and last review, review, monitoring and training
periods, platforms' minimum ages, and the trust's own clause reference for each audit rule."""

from __future__ import annotations

import sqlite3

from accountctl import model
from accountctl.core import events
from accountctl.errors import InputError, shown
from accountctl.model import get_meta, set_meta

# The ages the platforms' own terms state where they are not 13: LinkedIn and Vimeo 16; none for `other`,
# the tools only staff sign in to, and the parent-school apps a school invites families to.
_MIN_AGES = {
    "linkedin": "16",
    "vimeo": "16",
    "other": "",
    **{p: "" for p in (*model.SERVICE_PLATFORMS, "classdojo", "seesaw", "tapestry")},
}
DEFAULTS: dict[str, str] = {
    "policy_version": "",
    "review_period_days": "365",
    "monitoring_period_days": "7",
    "upcoming_leaver_days": "30",
    "limit.faculty": "1",
    "limit.staff": "1",
    "policy.reviewed_on": "",
    "training.valid_days": "",
    "terms": "",
    "retention.incident": "",
    "retention.leaver": "",
    "retention.closed-account": "",
    # The minimum age the platforms' own terms set for an account holder (13 for most, LinkedIn 16);
    # `other` has none until the trust sets one.
    **{f"min_age.{p}": _MIN_AGES.get(p, "13") for p in model.PLATFORMS},
    # How people get into an account on each platform unless its request says otherwise (SPEC "Ways in").
    **{f"access.{p}": model.DEFAULT_ACCESS.get(p, "login") for p in model.PLATFORMS},
    # The days each time-bound rule allows (`config set window.RULE DAYS`): the trust's, not the tool's (issue 25).
    **{f"window.{rule}": str(days) for rule, days in model.WINDOWS.items()},
}
DESCRIPTIONS = {
    "policy_version": "current social-media policy version staff must acknowledge (TRAINING_MISSING); empty: not checked",
    "review_period_days": "days after approval or the last review before REVIEW_OVERDUE",
    "monitoring_period_days": "days without a monitoring check before MONITORING_LAPSED",
    "upcoming_leaver_days": "days ahead that an owner's leaving date raises the LEAVER_OWNER warning",
    "limit.faculty": "faculty accounts per platform per school (ONE_FACULTY_ONE_STAFF); limit.PLATFORM.faculty overrides",
    "limit.staff": "staff accounts per platform per school (ONE_FACULTY_ONE_STAFF); limit.PLATFORM.staff overrides",
    "policy.reviewed_on": "when the social-media policy itself was last reviewed (POLICY_REVIEW_OVERDUE); empty: never",
    "training.valid_days": "days a person's training stays valid (TRAINING_MISSING, activate); empty: it never expires",
    "terms": "term dates START:END,... : MONITORING_LAPSED then counts school days in term only; empty: every day",
    **{f"window.{rule}": f"days {rule} allows (default {days})" for rule, days in model.WINDOWS.items()},
    **{
        f"retention.{kind}": f"days a {what} is kept before RETENTION_DUE lists it (empty: not checked)"
        for kind, what in (
            ("incident", "closed incident's text"),
            ("leaver", "leaver's staff record"),
            ("closed-account", "closed account"),
        )
    },
}
_INTEGER_KEYS = {"review_period_days", "monitoring_period_days", "upcoming_leaver_days"} | {
    f"window.{rule}" for rule in model.WINDOWS
}
PREFIX = "config."
MAX_AGE = 21
CLAUSE_LIMIT = 200


def describe(key: str) -> str:
    """What a setting means, for `config show`."""
    if key in DESCRIPTIONS:
        return DESCRIPTIONS[key]
    kind, _, rest = key.partition(".")
    if kind == "min_age":
        return f"youngest pupils an account on {rest} may be aimed at (PUPILS_UNDER_PLATFORM_AGE); empty: no minimum"
    if kind == "access":
        return f"how people get into a new {rest} account: login, roles or group (account request --access)"
    if kind == "clause":
        return f"the trust's own policy clause for {rest}, shown by rules, audit and report"
    if kind == "contact":
        return f"where parents report a fake {rest} page (shown by publish)"
    if kind == "window":
        return f"days {rest} allows before it is raised"
    return "per-platform guideline limit"


def _whole_days(key: str, value: str) -> str:
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) <= 100000:
        raise InputError(f"{key} must be a whole number of at least 1")
    return str(int(value))


def _special(key: str, value: str) -> tuple[str, str] | None:
    """The settings whose key names a platform or a rule, or whose value is a date or may be emptied."""
    kind, _, rest = key.partition(".")
    if kind == "min_age" and rest:
        key = f"min_age.{model.platform(rest)}"
        if value.lower() in ("", "none"):
            return key, ""
        if not (value.isascii() and value.isdigit()) or int(value) > MAX_AGE:
            raise InputError(f"{key} must be an age from 0 to {MAX_AGE} (or 'none'), not {value!r}")
        return key, str(int(value))
    if kind == "window" and f"window.{rest.upper()}" in DEFAULTS:
        return f"window.{rest.upper()}", _whole_days(key, value)
    if kind == "access" and rest:
        return f"access.{model.platform(rest)}", model.choice(value, model.ACCESS_MODELS, "access model")
    if kind == "clause" and rest:
        from accountctl.core.audit import RULES

        rule_id = rest.strip().upper()
        if rule_id not in RULES:
            raise InputError(f"unknown rule {rest!r} in {key!r}; see 'accountctl rules'")
        return f"clause.{rule_id}", model.nonempty(value, key, CLAUSE_LIMIT) if value else ""
    if kind == "contact" and rest:
        return f"contact.{model.slug(rest, 'school id')}", model.email(value, key) if value else ""
    if kind == "retention" and key in DEFAULTS:
        return key, _whole_days(key, value) if value else ""
    if kind == "retention" and key in DEFAULTS:
        return key, _whole_days(key, value) if value else ""
    if kind == "window":
        rule_id = rest.strip().upper()
        if rule_id == "REVIEW_OVERDUE":  # SPEC names it a window; it was a setting of its own first
            return "review_period_days", _whole_days("window.REVIEW_OVERDUE", value)
        if rule_id not in model.WINDOWS:
            known = [*model.WINDOWS, "REVIEW_OVERDUE"]
            raise InputError(
                f"unknown window {shown(rule_id)}; windows are {', '.join(known)}" + model.did_you_mean(rule_id, known)
            )
        return f"window.{rule_id}", _whole_days(f"window.{rule_id}", value)
    if key == "terms":
        return key, _terms(value)
    if key == "policy.reviewed_on":
        if not value:
            return key, ""
        from accountctl import clock

        day = clock.parse_date(value, key)
        if day > clock.today():
            raise InputError(f"{key} {day.isoformat()} is in the future")
        return key, day.isoformat()
    if key == "training.valid_days":
        return key, _whole_days(key, value) if value else ""
    return None


def _check(key: str, value: str) -> tuple[str, str]:
    key = key.strip().lower()
    value = value.strip()
    special = _special(key, value)
    if special is not None:
        return special
    parts = key.split(".")
    if parts[0] == "limit" and len(parts) == 3:
        model.platform(parts[1])
        if parts[2] not in model.CATEGORIES:
            raise InputError(f"unknown setting {shown(key)}: limit.PLATFORM.faculty or limit.PLATFORM.staff")
        parts = ["limit", model.platform(parts[1]), parts[2]]
        key = ".".join(parts)
    elif key not in DEFAULTS:
        names = [k for k in DEFAULTS if not k.startswith("min_age.")]
        raise InputError(
            f"unknown setting {shown(key)}{model.did_you_mean(key, DEFAULTS)}; settings are "
            f"{', '.join(names)}, limit.PLATFORM.CATEGORY, min_age.PLATFORM, clause.RULE and contact.SCHOOL"
        )
    if key in _INTEGER_KEYS or key.startswith("limit."):
        value = _whole_days(key, value)
    elif len(value) > 50:
        raise InputError(f"{key} is longer than 50 characters")
    return key, model.plain_text(value, key)


def load(conn: sqlite3.Connection) -> dict[str, str]:
    """Every setting, defaults filled in (per-platform limits only where set)."""
    out = dict(DEFAULTS)
    for row in conn.execute("SELECT key, value FROM meta WHERE key LIKE 'config.%'"):
        out[row[0][len(PREFIX) :]] = row[1]
    return out


def set_value(conn: sqlite3.Connection, actor: str, key: str, value: str) -> tuple[str, str]:
    """Change one setting; records an event."""
    key, value = _check(key, value)
    old = get_meta(conn, PREFIX + key, DEFAULTS.get(key))
    if key.startswith(("clause.", "contact.")) and not value:  # cleared: the rule has no clause of the trust's again
        conn.execute("DELETE FROM meta WHERE key = ?", (PREFIX + key,))
    else:
        set_meta(conn, PREFIX + key, value)
    events.record(conn, actor, "config.set", key, details={"key": key, "old": old, "new": value})
    return key, value


def limit(settings: dict[str, str], platform: str, category: str) -> int:
    """The guideline limit for one platform and category."""
    return int(settings.get(f"limit.{platform}.{category}", settings[f"limit.{category}"]))


def min_age(settings: dict[str, str], platform: str) -> int | None:
    """The youngest pupils an account on `platform` may be aimed at, or None when there is no minimum."""
    value = settings.get(f"min_age.{platform}", "")
    return int(value) if value else None


def access(settings: dict[str, str], account: dict) -> str:
    """An account's access model: its own, or (an account recorded before access models) its platform's default."""
    return account.get("access") or settings.get(f"access.{account['platform']}") or "login"


def _terms(value: str) -> str:
    """Term dates as START:END,START:END (YYYY-MM-DD, in order, not overlapping); empty clears them."""
    from accountctl import clock

    if not value:
        return ""
    out, last = [], None
    for piece in value.split(","):
        start_text, sep, end_text = piece.strip().partition(":")
        if not sep:
            raise InputError(f"terms: {shown(piece.strip())} is not START:END (e.g. 2026-09-03:2026-10-23)")
        start, end = clock.parse_date(start_text, "a term's start"), clock.parse_date(end_text, "a term's end")
        if end < start:
            raise InputError(f"terms: {start_text.strip()}:{end_text.strip()} ends before it starts")
        if last is not None and start <= last:
            raise InputError(
                f"terms: {start.isoformat()} starts before the term before it has ended: give them in order"
            )
        out.append(f"{start.isoformat()}:{end.isoformat()}")
        last = end
    return ",".join(out)


def school_days(settings: dict[str, str]) -> list | None:
    """Every school day (Monday to Friday within a term) in order, or None when no terms are set."""
    from datetime import date, timedelta

    text = settings.get("terms") or ""
    if not text:
        return None
    days = []
    for piece in text.split(","):
        start, end = (date.fromisoformat(p) for p in piece.split(":"))
        day = start
        while day <= end:
            if day.weekday() < 5:
                days.append(day)
            day += timedelta(days=1)
    return days


def window(settings: dict[str, str], rule_id: str) -> int:
    """The days a time-bound rule allows: the trust's setting, else the spec's default."""
    return int(settings.get(f"window.{rule_id}") or model.WINDOWS[rule_id])


def clause(settings: dict[str, str], rule_id: str) -> str | None:
    """The trust's own clause reference for a rule, or None when it set none."""
    return settings.get(f"clause.{rule_id}") or None
