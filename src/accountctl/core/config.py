"""Register settings: guideline limits, current policy version, review and monitoring periods."""

from __future__ import annotations

import sqlite3

from accountctl import model
from accountctl.core import events
from accountctl.errors import InputError
from accountctl.model import get_meta, set_meta

DEFAULTS: dict[str, str] = {
    "policy_version": "",
    "review_period_days": "365",
    "monitoring_period_days": "7",
    "upcoming_leaver_days": "30",
    "limit.faculty": "1",
    "limit.staff": "1",
}
DESCRIPTIONS = {
    "policy_version": "current social-media policy version staff must acknowledge (TRAINING_MISSING); empty: not checked",
    "review_period_days": "days after approval or the last review before REVIEW_OVERDUE",
    "monitoring_period_days": "days without a monitoring check before MONITORING_LAPSED",
    "upcoming_leaver_days": "days ahead that an owner's leaving date raises the LEAVER_OWNER warning",
    "limit.faculty": "faculty accounts per platform per school (ONE_FACULTY_ONE_STAFF); limit.PLATFORM.faculty overrides",
    "limit.staff": "staff accounts per platform per school (ONE_FACULTY_ONE_STAFF); limit.PLATFORM.staff overrides",
}
_INTEGER_KEYS = {"review_period_days", "monitoring_period_days", "upcoming_leaver_days"}
PREFIX = "config."


def _check(key: str, value: str) -> tuple[str, str]:
    key = key.strip().lower()
    value = value.strip()
    parts = key.split(".")
    if parts[0] == "limit" and len(parts) == 3:
        model.platform(parts[1])
        if parts[2] not in model.CATEGORIES:
            raise InputError(f"unknown setting {key!r}: limit.PLATFORM.faculty or limit.PLATFORM.staff")
        parts = ["limit", model.platform(parts[1]), parts[2]]
        key = ".".join(parts)
    elif key not in DEFAULTS:
        raise InputError(f"unknown setting {key!r}; settings are {', '.join(DEFAULTS)} and limit.PLATFORM.CATEGORY")
    if key in _INTEGER_KEYS or key.startswith("limit."):
        if not value.isdigit() or not 0 < int(value) <= 100000:
            raise InputError(f"{key} must be a whole number of at least 1")
        value = str(int(value))
    elif len(value) > 50:
        raise InputError(f"{key} is longer than 50 characters")
    return key, value


def load(conn: sqlite3.Connection) -> dict[str, str]:
    """Every setting, defaults filled in (per-platform limits only where set)."""
    out = dict(DEFAULTS)
    for row in conn.execute("SELECT key, value FROM meta WHERE key LIKE 'config.%'"):
        out[row[0][len(PREFIX):]] = row[1]
    return out


def set_value(conn: sqlite3.Connection, actor: str, key: str, value: str) -> tuple[str, str]:
    """Change one setting; records an event."""
    key, value = _check(key, value)
    old = get_meta(conn, PREFIX + key, DEFAULTS.get(key))
    set_meta(conn, PREFIX + key, value)
    events.record(conn, actor, "config.set", key, details={"key": key, "old": old, "new": value})
    return key, value


def limit(settings: dict[str, str], platform: str, category: str) -> int:
    """The guideline limit for one platform and category."""
    return int(settings.get(f"limit.{platform}.{category}", settings[f"limit.{category}"]))
