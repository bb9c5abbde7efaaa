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
