"""Rules about the ways into an account other than a password: temporary access past its date, the
mailbox its password resets go to, and an account nobody posts to any more (SPEC "Ways in").
"""

from __future__ import annotations

from accountctl.core.audit.helpers import _active, _attested, _days_before, _live, _who, _window
from accountctl.core.audit.registry import rule
from accountctl.core.audit.snapshot import Snapshot


@rule(
    "ACCESS_EXPIRED",
    "error",
    "an admin or contributor given temporary access (`--until DATE`) is still listed after DATE",
    "Preston (roles): administrators 'control the process for managing an account after the lead staff member has "
    "left'; Connect §6: administration 'involving at least two members of staff'",
    name="Temporary access ends on time",
    principle="Access given for a while (supply staff, a platform's temporary access) is taken away on the day it "
    "was meant to end.",
)
def access_expired(snap: Snapshot):
    day, live = snap.day, _accounts(snap)
    for account_id, email, role, until in snap.temporary:
        a = live.get(account_id)
        if a is not None and until < day:
            yield (
                a["id"],
                a["school"],
                f"{role} {_who(snap, email)} had access until {until}",
                f"remove their role on {a['platform']}, then: accountctl account {role} remove {a['id']} {email}",
            )


def _accounts(snap: Snapshot) -> dict[str, dict]:
    """The audited accounts by id (built once per audit, for the few rows the ways-in queries return)."""
    by_id = snap.__dict__.get("_by_id")
    if by_id is None:
        by_id = snap.__dict__["_by_id"] = {a["id"]: a for a in snap.accounts}
    return by_id


@rule(
    "MAILBOX_MEMBER_LEFT",
    "error",
    "a leaver is still a member of a mailbox an account is linked to (they can reset its password)",
    "Huxley 6.3(a): 'linked to an official school email account'; Preston (roles): administrators 'control the "
    "process for managing an account after the lead staff member has left'",
    name="Leavers are out of the linked mailbox",
    principle="Whoever reads the mailbox an account is linked to can take the account back with a password reset, "
    "so people who leave are taken out of it.",
)
def mailbox_member_left(snap: Snapshot):
    live = _accounts(snap)
    for account_id, mailbox, email in snap.mailbox_left:
        a = live.get(account_id)
        if a is None:
            continue
        yield (
            a["id"],
            a["school"],
            f"{_who(snap, email)}, who left on {snap.staff[email]['left_on']}, is still a member of {mailbox}",
            f"remove them from the mailbox in Microsoft 365 or Google Workspace, then: accountctl mailbox member "
            f"remove {mailbox} {email}",
        )


@rule(
    "MAILBOX_SIGN_IN",
    "warning",
    "a `shared` mailbox an account is linked to is not recorded as sign-in blocked",
    "Huxley 6.3(a): 'linked to an official school email account'",
    name="No direct sign-in to shared mailboxes",
    principle="A shared mailbox is read by its members through their own sign-in; nobody signs in to it with a "
    "password of its own, which could be shared and never changed.",
)
def mailbox_sign_in(snap: Snapshot):
    live = _accounts(snap)
    for account_id, mailbox, sign_in, school in snap.mailbox_open:
        a = live.get(account_id)
        if a is None:
            continue
        state = "allowed" if sign_in == "allowed" else "not recorded"
        yield (
            a["id"],
            a["school"],
            f"linked to shared mailbox {mailbox}, whose sign-in is {state}",
            f"block sign-in for it in the Microsoft 365 admin centre, then: accountctl mailbox add {mailbox} "
            f"--kind shared --school {school} --sign-in blocked",
        )


@rule(
    "LINKED_MAILBOX_UNKNOWN",
    "info",
    "an account's linked email is not a registered mailbox (nobody knows who reads it)",
    "Huxley 6.3(a): 'linked to an official school email account'",
    name="Who reads the linked mailbox is known",
    principle="The register knows who reads each mailbox accounts are linked to, because they can reset the "
    "accounts' passwords.",
)
def linked_mailbox_unknown(snap: Snapshot):
    unknown = snap.mailbox_unknown
    if not unknown:
        return
    for a in _live(snap):
        if a["id"] in unknown:  # no email: SCHOOL_EMAIL; one person's own: LINKED_EMAIL_PERSONAL
            yield (
                a["id"],
                a["school"],
                f"linked email {a['email']} is not a registered mailbox",
                f"accountctl mailbox add {a['email']} --kind shared --school {a['school']} --member EMAIL",
            )


@rule(
    "DORMANT",
    "warning",
    "an active account's last recorded post (or, with none recorded, its activation) is older than window.DORMANT "
    "days (default 180)",
    "Connect §5 (monitoring): 'School accounts must be monitored regularly and frequently'",
    name="No forgotten accounts",
    principle="An account nobody posts to is an account nobody watches: the commonest way a school's page is "
    "hijacked. It is used, or closed.",
)
def dormant(snap: Snapshot):
    window = _window(snap, "DORMANT")
    cutoff = _days_before(snap, window)
    for a in _active(snap):
        last = a.get("last_post_on") or (a.get("activated_on") or "")[:10]
        if last and last < cutoff:
            what = (
                f"last post recorded {last}"
                if a.get("last_post_on")
                else f"no post recorded since it went live on {last}"
            )
            yield (
                a["id"],
                a["school"],
                f"{what} ({snap.days_since(last)} days ago; window {window} days)",
                f"close it (accountctl account close {a['id']} --reason T) or record a post: accountctl monitor "
                f"{a['id']} --last-post DATE",
            )


@rule(
    "SAFETY_SETTINGS",
    "warning",
    "an attested account aimed at pupils with messages from pupils `on`, follows pupils `yes` or tagging `on`",
    "Huxley 6.3(i): staff 'should not engage with any direct messaging of students through social media'; Huxley "
    "6.3(j): staff 'should not \"follow back\" those who follow'; Connect (images): 'Consider turning off tagging "
    "people in images where possible'",
    name="Safety settings protect pupils",
    principle="An account pupils can see takes no private messages from them, does not follow them back, and has "
    "tags reviewed before they show.",
)
def safety_settings(snap: Snapshot):
    unsafe = {"messages-from-pupils": "on", "follows-pupils": "yes", "tagging": "on"}
    for a, seen in _attested(snap):
        if a.get("pupils") in (None, "none"):
            continue
        wrong = [f"{k}={v}" for k, v in seen.get("safety", {}).items() if unsafe.get(k) == v]
        if wrong:
            yield (
                a["id"],
                a["school"],
                f"aimed at pupils from age {a['pupils']}, and {a['platform']} shows {', '.join(wrong)} (attested "
                f"{seen['at'][:10]})",
                f"change them in {a['platform']}'s settings, then: accountctl attest record {a['id']} --admins LIST "
                "--mfa METHOD --safety messages-from-pupils=off,follows-pupils=no,tagging=review",
            )


@rule(
    "HOUSE_RULES_MISSING",
    "warning",
    "the last attestation shows comments are not `off`, and no --house-rules-url says where parents are told the rules",
    "Connect (parents): 'Parents/Carers are encouraged to comment or post appropriately about the school'; Connect: "
    "'The school should effectively respond to social media comments made by others according to a defined policy "
    "or process'",
    name="Parents are told the house rules",
    principle="Where parents can comment, the school tells them the rules for comments in one place they can find.",
)
def house_rules_missing(snap: Snapshot):
    for a, seen in _attested(snap):
        comments = seen.get("safety", {}).get("comments")
        if comments in ("on", "filtered") and not a.get("house_rules_url"):
            yield (
                a["id"],
                a["school"],
                f"comments are {comments} on {a['platform']} (attested {seen['at'][:10]}) and no house rules are "
                "recorded",
                f"publish the rules for comments, then: accountctl account update {a['id']} --house-rules-url URL",
            )
