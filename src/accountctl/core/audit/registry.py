"""The rule registry: what a rule is, and the one list of them, `RULES`.

A theme's module registers each of its rules with the `rule` decorator, so a rule's id, severity,
what it checks, its principle in plain words and the published policies it is drawn from (`sources`,
short names from `POLICIES`) sit beside its code. A check yields (account id or None, school id or
None, message, fix); wrapped in `UPCOMING` or `ESCALATED`, the finding is reported one severity lower
or higher (`run`, in engine.py, does that).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable

if TYPE_CHECKING:
    from accountctl.core.audit.snapshot import Snapshot

SEVERITIES = ("error", "warning", "info")
# The published policies the rules are drawn from, by the short name `sources` use.
POLICIES = {
    "Connect": "Connect Academy Trust, Social Media Policy (2023)",
    "Huxley": "Huxley CE Primary School, Social Media Policy (2022)",
    "Agora": "Agora Learning Partnership, Social media policy (2021)",
    "Dartmoor": "Dartmoor Multi Academy Trust, Social Media Policy for Staff (2021)",
    "Preston": "Preston Primary Academy Trust, Social Media Policy (2025)",
}


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    description: str  # when it is reported, in the register's terms
    sources: str  # the published policies and clauses it is drawn from (short names: see POLICIES)
    check: Callable[["Snapshot"], Iterable[tuple]]
    needs_vault: bool = False
    name: str = ""  # a plain name for governors
    principle: str = ""  # the principle in plain words, no organisation named


RULES: dict[str, Rule] = {}


def rule(
    id: str, severity: str, description: str, sources: str, needs_vault: bool = False, *, name: str, principle: str
):
    """Register an audit rule."""

    def register(fn):
        RULES[id] = Rule(id, severity, description, sources, fn, needs_vault, name, principle)
        return fn

    return register


class UPCOMING(tuple):
    """A finding reported one severity lower: the leaving date is still ahead."""

    def __new__(cls, *items):
        return super().__new__(cls, items)


class ESCALATED(tuple):
    """A finding reported one severity higher: the person it is about has left."""

    def __new__(cls, *items):
        return super().__new__(cls, items)


# The order the rules are listed in wherever they are listed (`accountctl rules`, docs/rules.md, the
# governors' report, the audit's summary): the order they were written in, before they were grouped by
# theme, with the module each is in. A new rule need not be added here: one missing from ORDER is
# listed after these, in the order the package imports the themes.
ORDER = (
    "TWO_ADMINS",  # people
    "ADMIN_NOT_ELIGIBLE",  # people
    "SCHOOL_EMAIL",  # people
    "APPROVAL_MISSING",  # approval
    "APPROVAL_INVALID",  # approval
    "CHANGED_SINCE_APPROVAL",  # approval
    "HEAD_NOT_NOTIFIED",  # approval
    "CREDENTIALS_NOT_HELD",  # credentials
    "MFA_NOT_HELD",  # credentials
    "LEAVER_OWNER",  # leavers
    "LEAVER_ADMIN",  # leavers
    "ROTATE_AFTER_LEAVER",  # leavers
    "ONE_FACULTY_ONE_STAFF",  # people
    "TRAINING_MISSING",  # people
    "REVIEW_OVERDUE",  # approval
    "POLICY_REVIEW_OVERDUE",  # trust
    "CASE_INCOMPLETE",  # approval
    "PUPILS_UNDER_PLATFORM_AGE",  # approval
    "PARENTS_NOT_INFORMED",  # approval
    "LINKED_EMAIL_PERSONAL",  # people
    "REQUEST_STALE",  # approval
    "SUSPENDED_TOO_LONG",  # incidents
    "CLOSED_NOT_GONE",  # incidents
    "UNCLAIMED_ACCOUNT",  # incidents
    "SINGLE_CUSTODIAN",  # trust
    "INCIDENT_OPEN",  # incidents
    "BREACH_NOT_REPORTED",  # incidents
    "ATTESTATION_OVERDUE",  # platforms
    "UNKNOWN_PLATFORM_ADMIN",  # platforms
    "PLATFORM_ADMIN_MISSING",  # platforms
    "MFA_WEAK",  # platforms
    "PASSWORD_WEAK",  # credentials
    "PASSWORD_REUSED",  # credentials
    "CUSTODIAN_LEFT",  # leavers
    "MONITORING_LAPSED",  # platforms
)


def arrange() -> None:
    """Put `RULES` in `ORDER`, any rule it does not name after those (in the order they registered).

    The package calls this once, after importing every theme. `RULES` stays the same dict.
    """
    unknown = [rule_id for rule_id in ORDER if rule_id not in RULES]
    if unknown:
        raise RuntimeError(f"audit ORDER names rules no theme registers: {', '.join(unknown)}")
    rank = {rule_id: i for i, rule_id in enumerate(ORDER)}
    ordered = sorted(RULES.values(), key=lambda r: rank.get(r.id, len(ORDER)))  # stable: the rest keep theirs
    RULES.clear()
    RULES.update((r.id, r) for r in ordered)
