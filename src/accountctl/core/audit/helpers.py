"""Small helpers the rules share: which accounts a rule looks at, how to name a person and say how
they stopped being staff, and a list short enough for one line.

A helper written for one theme's rules stays in that theme's module, beside them (`_aimed_at_pupils`
in approval.py, `_departed_custodians` in leavers.py).
"""

from __future__ import annotations

from datetime import date
from typing import Iterator

from accountctl.core import config

from accountctl.core.audit.snapshot import NEVER, Snapshot


def _some(items: list[str], most: int = 5) -> str:
    """A list short enough for one line: the first few, then how many more."""
    shown = ", ".join(items[:most])
    return shown + (f" and {len(items) - most} more" if len(items) > most else "")


def _gone_text(snap: Snapshot, email: str | None, gone: date) -> str:
    """How someone stopped being staff of an account's school: left, moved, or never was."""
    if gone == NEVER:
        return "is not staff of the school"
    person = snap.staff.get(email or "")
    if person and not person["left_on"]:
        return f"moved to {person['school']} on {gone.isoformat()}"
    return f"left on {gone.isoformat()}"


def _live(snap: Snapshot) -> Iterator[dict]:
    return iter(snap.accounts)


def _active(snap: Snapshot) -> Iterator[dict]:
    active = snap.__dict__.get("_active_accounts")
    if active is None:  # several rules walk the active accounts: pick them out once per audit
        active = snap.__dict__["_active_accounts"] = [a for a in snap.accounts if a["status"] == "active"]
    return iter(active)


def _days_before(snap: Snapshot, days: int) -> str:
    """The ISO date `days` before the audit date: an ISO date before it is more than `days` days old."""
    from datetime import timedelta

    return (snap.as_of - timedelta(days=days)).isoformat()


def _who(snap: Snapshot, email: str | None) -> str:
    person = snap.staff.get(email or "")
    return f"{person['name']} <{email}>" if person else (email or "(nobody)")


def _runners(snap: Snapshot, a: dict) -> list[tuple[str, str]]:
    """(role, email) of the account's owner and each other current admin, the owner first.

    Worked out once per account and audit: four rules ask it of every account.
    """
    cache = snap.__dict__.setdefault("_runners_of", {})
    runners = cache.get(a["id"])
    if runners is None:
        owner = a["owner"]
        runners = [("owner", owner)] if owner else []
        runners += [
            ("admin", m.email) for m in snap._current.get(a["id"], ()) if m.role == "admin" and m.email != owner
        ]
        cache[a["id"]] = runners
    return runners


def _attested(snap: Snapshot) -> Iterator[tuple[dict, dict]]:
    """(account, its last attestation) for each live account attested at least once."""
    pairs = snap.__dict__.get("_attested_pairs")
    if pairs is None:  # several rules read the attested accounts: pick them out once per audit
        attested = snap.attested
        pairs = snap.__dict__["_attested_pairs"] = [(a, attested[a["id"]]) for a in _live(snap) if a["id"] in attested]
    return iter(pairs)


def _login(a: dict) -> bool:
    """Whether the account has its own sign-in whose password IT holds (access model `login`)."""
    return a.get("access") in (None, "login")


def _window(snap: Snapshot, rule_id: str) -> int:
    """The days a time-bound rule allows: the trust's `window.RULE` setting, else the spec's default."""
    return config.window(snap.settings, rule_id)
