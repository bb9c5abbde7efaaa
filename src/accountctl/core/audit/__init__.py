"""The audit: every policy rule, as a small function over a snapshot of plain data, one module per theme.

Adding a rule is adding one decorated function to its theme's module, and its tests. Each rule yields
(account id or None, school id or None, message, fix); `run` attaches id, severity, the trust's own
clause reference and waivers. Each rule states its principle in plain words and names the published
school policies it is drawn from (`sources`): those appear in `rules --sources` and docs/rules.md
(regenerate it with `python tools/gen_rules_doc.py > docs/rules.md`), never in an audit or report,
which cite only the trust's own clauses. A new rule is listed after the others unless its id is
placed in `registry.ORDER`. The snapshot is read with a fixed number of set-based queries, never one
per account: a rule that needs more of the register gets it from `load`, never by querying on its own.

The package (each theme's module imports only the registry, the snapshot and the helpers):

    registry.py     Rule, RULES, the `rule` decorator, SEVERITIES, POLICIES, UPCOMING and ESCALATED,
                    ORDER (the order rules are listed in)
    snapshot.py     Snapshot (what the rules read), Membership, `load` and its queries
    helpers.py      small helpers the rules of several themes share (_live, _active, _who, _some, ...)
    engine.py       run, summarize, waivers_in_force, rules_table, as_of_from
    people.py       TWO_ADMINS, ADMIN_NOT_ELIGIBLE, SCHOOL_EMAIL, ONE_FACULTY_ONE_STAFF,
                    TRAINING_MISSING, LINKED_EMAIL_PERSONAL
    approval.py     APPROVAL_MISSING, APPROVAL_INVALID, CHANGED_SINCE_APPROVAL, HEAD_NOT_NOTIFIED,
                    REVIEW_OVERDUE, CASE_INCOMPLETE, PUPILS_UNDER_PLATFORM_AGE, PARENTS_NOT_INFORMED,
                    REQUEST_STALE
    credentials.py  CREDENTIALS_NOT_HELD, MFA_NOT_HELD, PASSWORD_WEAK, PASSWORD_REUSED
    leavers.py      LEAVER_OWNER, LEAVER_ADMIN, ROTATE_AFTER_LEAVER, CUSTODIAN_LEFT
    trust.py        POLICY_REVIEW_OVERDUE, SINGLE_CUSTODIAN
    incidents.py    SUSPENDED_TOO_LONG, CLOSED_NOT_GONE, UNCLAIMED_ACCOUNT, INCIDENT_OPEN,
                    BREACH_NOT_REPORTED
    platforms.py    ATTESTATION_OVERDUE, UNKNOWN_PLATFORM_ADMIN, PLATFORM_ADMIN_MISSING, MFA_WEAK,
                    MONITORING_LAPSED
    ways.py         ACCESS_EXPIRED, MAILBOX_MEMBER_LEFT, MAILBOX_SIGN_IN, LINKED_MAILBOX_UNKNOWN, DORMANT,
                    SAFETY_SETTINGS, HOUSE_RULES_MISSING
    dataprotection.py  DPIA_MISSING, DPIA_REVIEW_DUE, CONSENT_CHECK_LAPSED

Rules that could sit in two themes, and why each is where it is:
- SCHOOL_EMAIL, LINKED_EMAIL_PERSONAL: people, not credentials: whose mailbox can recover the account
  (LINKED_EMAIL_PERSONAL's error once that person has left stays with it, not in leavers).
- ONE_FACULTY_ONE_STAFF: people: the guideline limits the accounts a school's staff run on a platform.
- ROTATE_AFTER_LEAVER, CUSTODIAN_LEFT: leavers, not credentials or trust: someone leaving is what
  they are about (ROTATE_AFTER_LEAVER's half for a custodian who left stays beside it).
- MFA_WEAK: platforms, as it reads the attestation of what the platform shows; MFA_NOT_HELD, what IT
  holds, is in credentials.
- MONITORING_LAPSED: platforms: the live account watched where it lives, beside the termly check.
- PUPILS_UNDER_PLATFORM_AGE, PARENTS_NOT_INFORMED: approval: the business case says whom it is for.
- REVIEW_OVERDUE, REQUEST_STALE: approval: the decision, made promptly and renewed every year.
- SUSPENDED_TOO_LONG, CLOSED_NOT_GONE: incidents: accounts in trouble or at the end of their life,
  beside the found ones of UNCLAIMED_ACCOUNT.
- SINGLE_CUSTODIAN: trust: the vault is the trust's, not one account's (CUSTODIAN_LEFT: leavers).

This module is the package's public face: callers use `from accountctl.core import audit` and
audit.run, audit.RULES, audit.load, audit.Snapshot and the other names below, wherever they live.
"""

from __future__ import annotations

# The themes, in a fixed order: importing one registers its rules (ORDER then sets the order they are
# listed in; a rule it does not name is listed after the rest, in this order).
from accountctl.core.audit import people  # noqa: F401
from accountctl.core.audit import approval  # noqa: F401
from accountctl.core.audit import credentials  # noqa: F401
from accountctl.core.audit import leavers  # noqa: F401
from accountctl.core.audit import trust  # noqa: F401
from accountctl.core.audit import incidents  # noqa: F401
from accountctl.core.audit import platforms  # noqa: F401
from accountctl.core.audit import ways  # noqa: F401
from accountctl.core.audit import dataprotection  # noqa: F401

# What callers use as audit.NAME.
from accountctl.core.audit.engine import as_of_from, rules_table, run, summarize, waivers_in_force
from accountctl.core.audit.overview import overview, select
from accountctl.core.audit.registry import ESCALATED, POLICIES, RULES, SEVERITIES, UPCOMING, Rule, arrange, rule
from accountctl.core.audit.snapshot import ACCOUNT_COLUMNS, LIVE, NEVER, Membership, Snapshot, load

# Reached for by name: core/accounts.py borrows _some; tests/test_audit_rules.py calls these directly.
from accountctl.core.audit.helpers import _gone_text, _some
from accountctl.core.audit.leavers import _departed_custodians, _rotate_after_custodian, rotate_after_leaver
from accountctl.core.audit.people import one_faculty_one_staff, school_email, two_admins

arrange()  # the rules in their published order, whichever module registered them (see registry.ORDER)

__all__ = [
    "overview",
    "select",
    "ACCOUNT_COLUMNS",
    "ESCALATED",
    "LIVE",
    "NEVER",
    "POLICIES",
    "RULES",
    "SEVERITIES",
    "UPCOMING",
    "Membership",
    "Rule",
    "Snapshot",
    "as_of_from",
    "load",
    "rule",
    "rules_table",
    "run",
    "summarize",
    "waivers_in_force",
    # reached for by name (see above)
    "_departed_custodians",
    "_gone_text",
    "_rotate_after_custodian",
    "_some",
    "one_faculty_one_staff",
    "rotate_after_leaver",
    "school_email",
    "two_admins",
]
