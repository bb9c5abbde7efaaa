"""Rules about the trust as a whole rather than one account: the policy's own annual review, and
enough people able to open the password vault.
"""

from __future__ import annotations

from accountctl import model

from accountctl.core.audit.helpers import _window
from accountctl.core.audit.registry import rule
from accountctl.core.audit.snapshot import Snapshot

POLICY_REVIEW_DAYS = model.WINDOWS["POLICY_REVIEW_OVERDUE"]  # POLICY_REVIEW_OVERDUE: the policy's own annual review


@rule(
    "POLICY_REVIEW_OVERDUE",
    "warning",
    "the social-media policy itself has no review date (policy.reviewed_on), or it is older than 365 days "
    "(window.POLICY_REVIEW_OVERDUE: a policy reviewed every 2 or 3 years sets 730 or 1095)",
    "Dartmoor 1.7: 'This policy will be reviewed annually'; Huxley 2.2: 'reviewing this policy annually'",
    name="The policy is reviewed every year",
    principle="The social-media policy itself is reviewed every year, because social media changes quickly.",
)
def policy_review_overdue(snap: Snapshot):
    reviewed = snap.settings.get("policy.reviewed_on") or ""
    fix = "review the policy, then record it: accountctl config set policy.reviewed_on DATE"
    if not reviewed or reviewed > snap.as_of.isoformat():
        yield None, None, "no review of the social-media policy on record", fix
    elif snap.days_since(reviewed) > (limit := _window(snap, "POLICY_REVIEW_OVERDUE")):
        yield (
            None,
            None,
            f"the social-media policy was last reviewed on {reviewed} ({snap.days_since(reviewed)} days "
            f"ago; at most {limit})",
            fix,
        )


@rule(
    "SINGLE_CUSTODIAN",
    "warning",
    "fewer than two current people hold vault access (the recovery key aside)",
    "Huxley 6.3(c): login details 'provided to IT who will retain a record'; Connect §6: administration "
    "'involving at least two members of staff'",
    name="Two people can open the password vault",
    principle="At least two current members of IT staff can open the password vault, so losing one never locks "
    "the school out of its accounts.",
)
def single_custodian(snap: Snapshot):
    current = [p["email"] for p in snap.slot_holders if p["access"] == "vault" and not snap.has_left(p["email"])]
    if len(current) < 2:
        yield (
            None,
            None,
            f"{len(current)} current custodian(s) hold vault access: {', '.join(current) or 'none'}",
            "grant a second IT custodian: accountctl person grant EMAIL --access vault",
        )
