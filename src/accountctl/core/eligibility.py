"""Who may run an account: which people are eligible admins, and whose training is in order.

Plain functions over plain staff records (dicts with `school`, `roles`, `left_on`, `moved_from`,
`moved_on`, `trained_on`, `policy_ack`), so the audit, the activation gate, `request`, `admin add`,
`transfer`, `account list` and `account import` all judge people the same way.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

from accountctl import model


def volunteer_only(roles) -> bool:
    """Whether a person's roles (a list, or its JSON text as stored) are only `volunteer`, `governor` or `chair`."""
    if isinstance(roles, str):  # as stored: parse only the few that name a non-staff role at all
        if not any(r in roles for r in model.NON_STAFF_ROLES):
            return False
        roles = json.loads(roles)
    return bool(roles) and set(roles) <= set(model.NON_STAFF_ROLES)


def _non_staff_texts() -> tuple[str, ...]:
    """Every stored roles text made only of non-staff roles (roles are stored in the spec's order)."""
    from itertools import combinations

    ordered = [r for r in model.ROLES if r in model.NON_STAFF_ROLES]
    return tuple(json.dumps(list(chosen)) for n in range(1, len(ordered) + 1) for chosen in combinations(ordered, n))


def staff_of(person: dict, school: str, central: set[str] | frozenset[str], on: date) -> bool:
    """Whether `person` is, on `on`, staff of `school` or of the trust's central team (leaving aside whether they left).

    A mover still counts for the school they move from until the day of the move.
    """
    if person["school"] == school or person["school"] in central:
        return True
    return person.get("moved_from") == school and bool(person.get("moved_on")) and person["moved_on"] > on.isoformat()


NOT_STAFF_MAY = (
    "may contribute, or once trained be an additional admin, but never own an account or count as one of its two admins"
)


def ineligible(person: dict | None, school: str, central: set[str] | frozenset[str], on: date) -> str | None:
    """Why `person` may not be an owner or admin of an account of `school` on `on`, or None when they may.

    An eligible admin is current staff of the account's school (or of the central team) with a role
    other than only `volunteer`: volunteers, governors and other schools' staff may only contribute.
    """
    if person is None:
        return "is not staff in this register"
    if person.get("left_on") and person["left_on"] <= on.isoformat():
        return f"left on {person['left_on']}"
    if not staff_of(person, school, central, on):
        return f"is staff of {person['school']}, not {school}"
    if volunteer_only(person["roles"]):
        roles = person["roles"] if isinstance(person["roles"], list) else json.loads(person["roles"])
        # The same words for every role that is not staff: each may contribute, and once trained help run an
        # account as an additional admin (additional_admin), never owning it or counting as one of its two.
        return f"is only a {' and '.join(roles)} ({NOT_STAFF_MAY})"
    return None


def additional_admin(person: dict | None, school: str, central: set[str] | frozenset[str], on: date) -> bool:
    """Whether a volunteer (a parent helper running the PTA page) may be an additional admin on `on`.

    A trained volunteer of the school, named in the business case, may hold admin rights beside the
    staff who run the account: never its owner, and never counted towards its two eligible admins.
    """
    return bool(
        person is not None
        and volunteer_only(person["roles"])
        and person.get("trained_on")
        and not (person.get("left_on") and person["left_on"] <= on.isoformat())
        and staff_of(person, school, central, on)
    )


# `ineligible(...) is None` as SQL, for counting eligible admins over many accounts at once (`account list`):
# `s` is the person's staff row (joined on email: NULL when unknown), `a` the account's row; both `?` are
# the date as YYYY-MM-DD. Roles are stored as a JSON list in the spec's order, so only-volunteer is one text.
# tests/test_policy.py checks that the two agree on every case `ineligible` distinguishes.
ELIGIBLE_SQL = (
    "(s.email IS NOT NULL AND (s.left_on IS NULL OR s.left_on = '' OR s.left_on > ?) "
    "AND (s.school = a.school OR s.school IN (SELECT id FROM schools WHERE central) "
    "OR (s.moved_from = a.school AND s.moved_on > ?)) "
    "AND s.roles NOT IN (" + ", ".join("'" + t.replace("'", "''") + "'" for t in _non_staff_texts()) + "))"
)


def training_gaps(person: dict, settings: dict[str, str], on: date) -> list[str]:
    """What is missing from a person's training on `on`: none recorded, too old, or the policy not acknowledged."""
    gaps = []
    trained = person.get("trained_on")
    valid_days = settings.get("training.valid_days") or ""
    if not trained:
        gaps.append("no training recorded")
    elif valid_days and date.fromisoformat(trained) + timedelta(days=int(valid_days)) < on:
        gaps.append(f"training of {trained} is older than {valid_days} days")
    version = settings.get("policy_version") or ""
    if version and person.get("policy_ack") != version:
        gaps.append(f"has not acknowledged policy {version}")
    return gaps
