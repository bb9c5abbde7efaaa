"""Rules about the people who run an account, and the address it is linked to.

Two eligible admins, only staff running it, everyone who runs or contributes to it trained, no more
accounts than the guideline allows on one platform, and its linked email on the school's domains and
a shared mailbox rather than one person's own.
"""

from __future__ import annotations

from accountctl.core import config
from accountctl.core.eligibility import additional_admin
from accountctl.core.audit.helpers import _live, _runners, _some, _who
from accountctl.core.audit.registry import ESCALATED, UPCOMING, rule
from accountctl.core.audit.snapshot import NEVER, Snapshot


@rule(
    "TWO_ADMINS",
    "error",
    "fewer than two eligible admins (current staff of the school, not only volunteers)",
    "Connect §6: administration and monitoring 'involving at least two members of staff'; Preston (process for "
    "creating accounts): 'at least two staff members should be named'",
    name="Two members of staff run every account",
    principle="Every account is run by at least two current members of staff, so it never depends on one person.",
)
def two_admins(snap: Snapshot):
    ineligible, current = snap.ineligible, snap._current
    for a in _live(snap):
        school = a["school"]
        eligible = [
            m.email for m in current.get(a["id"], ()) if m.role == "admin" and ineligible(m.email, school) is None
        ]
        if len(eligible) < 2:
            yield (
                a["id"],
                a["school"],
                f"{len(eligible)} eligible admin(s): {', '.join(eligible) or 'none'}",
                f"accountctl account admin add {a['id']} EMAIL",
            )


@rule(
    "ADMIN_NOT_ELIGIBLE",
    "error",
    "an owner or admin who is not staff of the account's school (or the central team); a volunteer as owner, or as "
    "an admin while untrained (a trained one is an additional admin who does not count)",
    "Connect §6: administration 'involving at least two members of staff'; Preston (process for creating "
    "accounts): 'at least two staff members should be named' to run it, while others may 'contribute content'",
    name="Only staff run accounts",
    principle="Only current staff of the school (or of the trust's central team) own or run its accounts; a trained "
    "volunteer may help as an extra admin but never owns one or counts as one of its two, and other schools' staff "
    "may only contribute.",
)
def admin_not_eligible(snap: Snapshot):
    ineligible = snap.ineligible
    for a in _live(snap):
        school = a["school"]
        for role, email in _runners(snap, a):
            reason = ineligible(email, school)
            if reason is None:
                continue
            if role == "admin" and additional_admin(snap.staff.get(email), school, snap.central, snap.as_of):
                continue  # a trained volunteer: an additional admin, who TWO_ADMINS does not count
            gone = snap.gone_on(email, a["school"])
            if gone is None or gone == NEVER:  # leavers and movers were staff: the LEAVER rules report them
                fix = (
                    f"accountctl account transfer {a['id']} --to EMAIL --remove-old"
                    if role == "owner"
                    else f"accountctl account admin remove {a['id']} {email} (then, if they still help: "
                    f"accountctl account contributor add {a['id']} {email})"
                )
                yield a["id"], a["school"], f"{role} {_who(snap, email)} {reason}", fix


@rule(
    "SCHOOL_EMAIL",
    "error",
    "linked email missing, or not on one of the school's domains (or the central team's: a trust mailbox)",
    "Huxley 6.3(a): 'linked to an official school email account'",
    name="Linked to a school email",
    principle="Every account is linked to an official school email address, so the school can always recover it.",
)
def school_email(snap: Snapshot):
    trust = [d for s in snap.schools.values() if s["central"] for d in s["domains"]]  # a trust mailbox serves all
    for a in _live(snap):
        domains = snap.schools[a["school"]]["domains"]
        email = a["email"]
        if not email:
            yield (
                a["id"],
                a["school"],
                "no linked email",
                f"link it to an official school email on the platform, then: accountctl account update {a['id']} --email EMAIL",
            )
        elif email.rsplit("@", 1)[-1].lower() not in domains and email.rsplit("@", 1)[-1].lower() not in trust:
            yield (
                a["id"],
                a["school"],
                f"linked email {email} is not on {', '.join(domains)}",
                f"move its login to an address @{domains[0]} on the platform, then: "
                f"accountctl account update {a['id']} --email EMAIL",
            )


@rule(
    "ONE_FACULTY_ONE_STAFF",
    "warning",
    "more than one faculty, or more than one staff, account on one platform in one school (limits configurable)",
    "Huxley 6.2: 'limited to one \"faculty\" account and one individual staff member account per social media provider'",
    name="No more accounts than needed",
    principle="A school keeps to one faculty account and one staff account on each platform unless senior leaders "
    "accept another: every extra account is one more that can be hacked.",
)
def one_faculty_one_staff(snap: Snapshot):
    for (school, platform, category), members in snap.group.items():
        allowed = config.limit(snap.settings, platform, category)
        if len(members) <= allowed:
            continue
        # A waived account is SLT's accepted exception: it does not count towards the limit for the others.
        waived = {m for m in members if (m, "ONE_FACULTY_ONE_STAFF") in snap.waivers}
        within = len(members) - len(waived) <= allowed  # then only the waived accounts are reported
        message = f"{len(members)} {category} accounts on {platform} at {school} (guideline: {allowed}): " + _some(
            members
        )
        for account_id in members:
            if within and account_id not in waived:
                continue
            yield account_id, school, message, "close or merge the extra accounts, or have SLT waive this finding"


@rule(
    "TRAINING_MISSING",
    "warning",
    "an owner, admin or contributor has no training date, training older than training.valid_days (when set), or "
    "has not acknowledged the current policy version",
    "Preston (process for creating accounts): SLT 'must be satisfied that anyone running a social media account ... "
    "has read and understood this policy and received appropriate training', volunteers and parents too; Connect §6: "
    "'a clear understanding of this policy by all users of the account'",
    name="Everyone who runs it is trained",
    principle="Everyone who runs or contributes to an account, volunteers too, has been trained and has read the "
    "current policy.",
)
def training_missing(snap: Snapshot):
    version = snap.settings.get("policy_version") or ""
    ack = f" --policy-ack {version}" if version else ""
    staff, current, has_left, training_gaps = snap.staff, snap._current, snap.has_left, snap.training_gaps
    # Each person's gaps, once: None when not on the staff list, none when they have left (leaver rules).
    gaps_of: dict[str, list[str] | None] = {}
    for a in _live(snap):
        for m in current.get(a["id"], ()):
            gaps = gaps_of.get(m.email, ())
            if gaps == ():
                gaps = gaps_of[m.email] = (
                    None if staff.get(m.email) is None else [] if has_left(m.email) else training_gaps(m.email)
                )
            if gaps is None:
                if m.role == "contributor":  # an unknown admin is ADMIN_NOT_ELIGIBLE
                    yield (
                        a["id"],
                        a["school"],
                        f"contributor {m.email} is not in the register: no training on record",
                        f"accountctl staff add {m.email} --name NAME --school SCHOOL --role volunteer --trained-on DATE"
                        f" (or remove them: accountctl account contributor remove {a['id']} {m.email})",
                    )
                continue
            if gaps:
                role = "owner" if m.email == a["owner"] else m.role
                yield (
                    a["id"],
                    a["school"],
                    f"{role} {_who(snap, m.email)}: {' and '.join(gaps)}",
                    f"accountctl staff train {m.email} --on DATE{ack}",
                )


@rule(
    "LINKED_EMAIL_PERSONAL",
    "warning",
    "the linked email is one person's own mailbox (a staff member's address) rather than a shared one; error once "
    "that person has left; info (advice) on a staff-category account",
    "Huxley 6.3(a): an account 'entirely separate from any personal social media accounts held by that member of "
    "staff ... linked to an official school email account'; Preston (roles): administrators control the account "
    "'after the lead staff member has left'",
    name="Linked to a shared school mailbox",
    principle="An account is linked to a shared school mailbox, not one person's own, which closes when they leave.",
)
def linked_email_personal(snap: Snapshot):
    for a in _live(snap):
        person = snap.staff.get(a["email"] or "")
        if person is None:
            continue
        fix = (
            f"link it to a shared school mailbox on the platform, then: accountctl account update {a['id']} "
            "--email EMAIL"
        )
        if snap.has_left(a["email"]):
            yield ESCALATED(
                a["id"],
                a["school"],
                f"linked to the mailbox of {_who(snap, a['email'])}, who left on {person['left_on']}",
                fix,
            )
        elif a["category"] == "staff":
            # One member of staff's own account on their own school mailbox: advice (one severity lower), and
            # a school mailbox is never "personal".
            yield UPCOMING(
                a["id"],
                a["school"],
                f"linked to the school mailbox of {_who(snap, a['email'])}: when they leave, its password resets "
                "go with them",
                fix,
            )
        else:
            yield a["id"], a["school"], f"linked to the personal mailbox of {_who(snap, a['email'])}", fix
