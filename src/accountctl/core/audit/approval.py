"""Rules about the decision to have an account: its business case and the approval of it.

A complete case (whom the account is for, pupils and their parents included), approved by someone
entitled to and approved again when it changes, the headteacher told, requests decided promptly and
live accounts reviewed every year.
"""

from __future__ import annotations

from accountctl import model

from accountctl.core import config, waysin
from accountctl.core.audit.helpers import _active, _days_before, _live, _window
from accountctl.core.audit.registry import UPCOMING, rule
from accountctl.core.audit.snapshot import Snapshot

REQUEST_DAYS = model.WINDOWS["REQUEST_STALE"]  # REQUEST_STALE: a request undecided for longer


@rule(
    "APPROVAL_MISSING",
    "error",
    "account active or approved with no valid approval on record",
    "Connect §6: 'a process for approval by senior leaders'; Preston (roles): SLT 'approve account creation'; "
    "Agora 3.4: only 'through the appropriate approved social media channels'",
    name="Approved by senior leaders",
    principle="No account is used until the school's senior leaders (or the CEO, for the central team) have "
    "approved it.",
)
def approval_missing(snap: Snapshot):
    for a in _live(snap):
        if a["status"] in ("active", "approved") and snap.approval[a["id"]][0] is None:
            yield (
                a["id"],
                a["school"],
                f"{a['status']} with no SLT approval on record",
                f"accountctl approve {a['id']} (by SLT or the headteacher of {a['school']})",
            )


@rule(
    "APPROVAL_INVALID",
    "error",
    "approver was not SLT/headteacher of that school (or CEO), approved their own request, or the signature does not verify",
    "Preston (process for creating accounts): the business case goes to the school's SLT or, for the central team, "
    "to the Chief Executive Officer",
    name="Approved by someone entitled to",
    principle="An approval counts only when the school's senior leaders (or the CEO) gave it, not the person who "
    "asked for the account, and its signature is intact.",
)
def approval_invalid(snap: Snapshot):
    for a in _live(snap):
        decision, problems, _ = snap.approval[a["id"]]
        if decision is not None and problems:
            yield (
                a["id"],
                a["school"],
                "; ".join(problems),
                f"a new decision by someone entitled: accountctl approve {a['id']}",
            )


@rule(
    "CHANGED_SINCE_APPROVAL",
    "warning",
    "business case or named people changed after the approval",
    "Preston (process for creating accounts): the business case names the aim, audience, promotion, who runs it "
    "and who contributes",
    name="Approved as it is now",
    principle="When the business case or the people running an account change, senior leaders approve it again.",
)
def changed_since_approval(snap: Snapshot):
    for a in _live(snap):
        decision, problems, changed = snap.approval[a["id"]]
        if decision is not None and not problems and changed:
            yield (
                a["id"],
                a["school"],
                f"changed since {decision['approver']} approved it on {decision['at'][:10]}",
                f"ask SLT to approve the current business case: accountctl approve {a['id']}",
            )


@rule(
    "HEAD_NOT_NOTIFIED",
    "error",
    "active but the headteacher was never notified of URL and identity",
    "Huxley 6.3(b): 'URL and identity ... notified to the Headteacher before any account is activated'",
    name="The headteacher knows about it",
    principle="The headteacher is told each account's address and identity before it goes live.",
)
def head_not_notified(snap: Snapshot):
    for a in _active(snap):
        if not a["head_notified_on"]:
            yield (
                a["id"],
                a["school"],
                "headteacher never notified of its URL and identity",
                f"accountctl account notify-head {a['id']}",
            )


@rule(
    "REVIEW_OVERDUE",
    "warning",
    "not reviewed for more than 365 days (review period configurable)",
    "Connect §6: use of social media for professional purposes 'will be checked regularly by the senior staff'; "
    "Huxley 6.2: 'There must be a strong pedagogical or business reason for creating official school social media "
    "sites'",
    name="Reviewed every year",
    principle="Senior leaders review every live account at least once a year: is it still needed, and still run "
    "as approved?",
)
def review_overdue(snap: Snapshot):
    period = int(snap.settings["review_period_days"])
    cutoff = _days_before(snap, period)
    for a in _active(snap):
        decision = snap.approval[a["id"]][0]
        reviewed, approved = a["reviewed_on"], decision["at"][:10] if decision else None
        # the later of the last review and the approval; with neither, when it went live
        base = max(reviewed, approved) if reviewed and approved else reviewed or approved
        base = base or a["activated_on"] or a["requested_at"][:10]
        if base and base < cutoff:
            days = snap.days_since(base)
            yield (
                a["id"],
                a["school"],
                f"last reviewed or approved {base} ({days} days ago; period {period})",
                f"accountctl review {a['id']} (SLT)",
            )


@rule(
    "CASE_INCOMPLETE",
    "warning",
    "a requested or live account whose business case lacks its aim, audience, promotion, visibility or the answer "
    "to whether it is aimed at pupils (too few eligible admins is TWO_ADMINS)",
    "Preston (process for creating accounts): the business case covers the aim, the intended audience, how it will "
    "be promoted, who runs it and whether it is open or closed; Dartmoor 7: 'clear educational or community "
    "engagement objectives'",
    name="A complete business case",
    principle="Every account has a complete business case: what it is for, who it is for, how it will be promoted, "
    "whether it is open or closed, and whether it is aimed at pupils.",
)
def case_incomplete(snap: Snapshot):
    from accountctl.core.accounts import CASE_PARTS, case_gaps

    for a in _live(snap):
        gaps = case_gaps(a)
        if gaps:
            yield (
                a["id"],
                a["school"],
                "its business case lacks " + ", ".join(CASE_PARTS[g][0] for g in gaps),
                f"accountctl account update {a['id']} "
                + " ".join(CASE_PARTS[g][1] for g in gaps)
                + " (then SLT approves the complete case)",
            )


def _aimed_at_pupils(a: dict) -> bool:
    return bool(a["pupils"]) and a["pupils"] != "none"


@rule(
    "PUPILS_UNDER_PLATFORM_AGE",
    "error",
    "the account is aimed at pupils younger than the platform's minimum age (min_age.PLATFORM; 13 by default, "
    "LinkedIn and Vimeo 16, none for other): an error when pupils join with accounts of their own "
    "(--pupils-join yes), a warning when they only watch",
    "Dartmoor 6.1: 'many popular social media sites state that they are not for children under the age of 13, "
    "therefore we will not create accounts specifically for pupils under this age'",
    name="No pupils under the platform's age",
    principle="No pupil is asked to join a platform younger than it allows (13 on most); content they only watch "
    "without an account of their own is checked, not forbidden.",
)
def pupils_under_platform_age(snap: Snapshot):
    for a in _live(snap):
        if not _aimed_at_pupils(a):
            continue
        minimum = config.min_age(snap.settings, a["platform"])
        if minimum is not None and int(a["pupils"]) < minimum:
            join = waysin.pupils_join(a, a["access"])
            item = (
                a["id"],
                a["school"],
                f"aimed at pupils from age {a['pupils']}; {a['platform']} is for {minimum} and over"
                + (
                    ", and pupils are expected to join with accounts of their own"
                    if join
                    else " (pupils watch without accounts of their own: check nothing asks them to join)"
                ),
                f"close it: accountctl account close {a['id']} --reason T (or, if it is not for those pupils: "
                f"accountctl account update {a['id']} --pupils none|AGE)"
                if join
                else f"if pupils will join or comment with their own accounts: accountctl account update {a['id']} "
                "--pupils-join yes (then close it)",
            )
            yield item if join else UPCOMING(*item)


@rule(
    "PARENTS_NOT_INFORMED",
    "warning",
    "a live account aimed at pupils and no date on which parents were informed",
    "Dartmoor 7.2: 'Parents and carers will be informed of any official social media use with pupils'; Preston "
    "(safeguarding): make clear to parents 'what platforms they will be asked to access'",
    name="Parents told about accounts for pupils",
    principle="Parents and carers are told about every account aimed at their children.",
)
def parents_not_informed(snap: Snapshot):
    for a in _live(snap):
        if a["status"] == "requested" or not _aimed_at_pupils(a):
            continue
        informed = a["parents_informed_on"]
        if not informed or informed > snap.as_of.isoformat():
            yield (
                a["id"],
                a["school"],
                f"aimed at pupils from age {a['pupils']}; no record that parents were informed",
                f"tell parents and carers, then: accountctl account update {a['id']} --parents-informed-on DATE",
            )


@rule(
    "REQUEST_STALE",
    "warning",
    f"a request undecided for more than {REQUEST_DAYS} days (window.REQUEST_STALE)",
    "Preston (process for creating accounts): 'Following consideration by the SLT an application will be approved "
    "or rejected'",
    name="Requests are decided promptly",
    principle="Senior leaders approve or reject every request for an account within a month.",
)
def request_stale(snap: Snapshot):
    limit = _window(snap, "REQUEST_STALE")
    for a in _live(snap):
        days = snap.days_since(a["requested_at"]) if a["status"] == "requested" else None
        if days is not None and days > limit:
            yield (
                a["id"],
                a["school"],
                f"requested on {a['requested_at'][:10]}, {days} days ago, and not yet decided",
                f"SLT decides: accountctl approve {a['id']} (or reject {a['id']} --reason T)",
            )
