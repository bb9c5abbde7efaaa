"""Rules about people who leave or move school: taken off the accounts they ran or contributed to,
the passwords they could know changed, and no longer able to open the register.
"""

from __future__ import annotations

from datetime import date

from accountctl.core.audit.helpers import _gone_text, _live, _login, _who
from accountctl.core.audit.registry import UPCOMING, rule
from accountctl.core.audit.snapshot import NEVER, Snapshot


@rule(
    "LEAVER_OWNER",
    "error",
    "owner has left (warning while the leaving date is still ahead, within 30 days)",
    "Preston (roles): administrators 'control the process for managing an account after the lead staff member has "
    "left the organisation (closing or transferring)'",
    name="Its lead is still on the staff",
    principle="When the lead member of staff leaves, the account is transferred to someone who stays, or closed.",
)
def leaver_owner(snap: Snapshot):
    # The upcoming-leaver case is reported one severity lower by `run` (see UPCOMING).
    ahead = int(snap.settings["upcoming_leaver_days"])
    gone_on = snap.gone_on
    for a in _live(snap):
        gone = gone_on(a["owner"], a["school"])
        if gone is None:
            continue
        fix = f"accountctl account transfer {a['id']} --to EMAIL (or close it)"
        if not a["owner"]:  # a legacy account recorded without one
            yield a["id"], a["school"], "no owner (lead member of staff) recorded", fix
        elif gone == NEVER:
            continue  # never staff of the school: ADMIN_NOT_ELIGIBLE
        elif gone <= snap.as_of:
            yield a["id"], a["school"], f"owner {_who(snap, a['owner'])} {_gone_text(snap, a['owner'], gone)}", fix
        elif (gone - snap.as_of).days <= ahead:
            yield UPCOMING(a["id"], a["school"], f"owner {_who(snap, a['owner'])} leaves on {gone.isoformat()}", fix)


@rule(
    "LEAVER_ADMIN",
    "error",
    "an admin or contributor has left and is still listed",
    "Preston (roles): administrators 'control the process for managing an account after the lead staff member has "
    "left'; Preston (process for creating accounts): the case names 'who will run the account' and 'who will be able "
    "to contribute content'",
    name="Leavers are taken off",
    principle="People who have left are taken off the accounts they helped run or contributed to.",
)
def leaver_admin(snap: Snapshot):
    gone_on, current, as_of = snap.gone_on, snap._current, snap.as_of
    for a in _live(snap):
        school = a["school"]
        for m in current.get(a["id"], ()):
            gone = gone_on(m.email, school)
            # Never staff of the school: an admin is ADMIN_NOT_ELIGIBLE; a contributor from elsewhere may contribute.
            if gone is None or gone == NEVER or gone > as_of:
                continue
            yield (
                a["id"],
                a["school"],
                f"{m.role} {_who(snap, m.email)} {_gone_text(snap, m.email, gone)}",
                f"accountctl account {m.role} remove {a['id']} {m.email}"
                + (" (transfer ownership first)" if m.email == a["owner"] else ""),
            )


@rule(
    "ROTATE_AFTER_LEAVER",
    "error",
    "password last set before the leaving date of someone who was an admin or owner while it was in force; for "
    "a custodian who left, any credential set before their vault key slot was removed",
    "Preston: administrators 'store account details, including passwords securely' and control the account after "
    "the lead has left",
    name="Passwords changed after a leaver",
    principle="When someone who could know an account's password leaves, the password is changed.",
)
def rotate_after_leaver(snap: Snapshot):
    gone_on, credentials, memberships, as_of = snap.gone_on, snap.credentials, snap.memberships, snap.as_of
    for a in _live(snap):
        cred = credentials.get(a["id"])
        if not cred or not cred["password"] or not _login(a):
            continue
        set_at = cred["password_set_at"]
        set_day = None  # parsed only for the few accounts with a leaver among their admins
        seen = set()
        school = a["school"]
        for m in memberships.get(a["id"], ()):
            if m.role != "admin" or m.email in seen:
                continue
            gone = gone_on(m.email, school)
            if gone is None or gone == NEVER or gone > as_of:
                continue
            set_day = set_day or date.fromisoformat(set_at[:10])
            if set_day >= gone:
                continue
            if m.removed_at is not None and m.removed_at <= set_at:
                continue  # removed before this password was set: they never knew it
            seen.add(m.email)
            yield (
                a["id"],
                a["school"],
                f"password set {set_day.isoformat()}, before {_who(snap, m.email)} left on {gone.isoformat()}",
                f"change the password on the platform, then: accountctl cred set {a['id']} (or cred generate)",
            )
    yield from _rotate_after_custodian(snap)


CREDENTIAL_FIELDS = (
    ("password", "password", "cred generate"),
    ("totp", "2FA seed", "cred totp"),
    ("recovery", "recovery codes", "cred recovery"),
)


def _departed_custodians(snap: Snapshot) -> list[tuple[str, date, str | None]]:
    """Custodians who have left by the audit date: (email, left on, when their vault access ended or None).

    A custodian could read every credential while a vault key slot of theirs existed. Someone not on
    the staff list counts as gone from the day their last slot was removed.
    """
    ends: dict[str, list[str | None]] = {}
    for email, revoked_at in snap.vault_slots:
        still = revoked_at is None or revoked_at[:10] > snap.as_of.isoformat()  # revoked after the audit date
        ends.setdefault(email, []).append(None if still else revoked_at)
    out = []
    for email, revoked in ends.items():
        end = None if None in revoked else max(revoked)
        person = snap.staff.get(email)
        if person is not None and person["left_on"]:
            gone = date.fromisoformat(person["left_on"])
        elif person is None and end is not None:
            gone = date.fromisoformat(end[:10])
        else:
            continue
        if gone <= snap.as_of:
            out.append((email, gone, end))
    return out


def _rotate_after_custodian(snap: Snapshot):
    custodians = _departed_custodians(snap)
    if not custodians:
        return
    for a in _live(snap):
        cred = snap.credentials.get(a["id"])
        if not cred:
            continue
        stale, readers = [], {}
        for name, label, command in CREDENTIAL_FIELDS:
            set_at = cred.get(f"{name}_set_at") if cred.get(name) else None
            if set_at is None:
                continue
            by = [c for c in custodians if c[2] is None or set_at < c[2]]
            if by:
                stale.append((label, command))
                readers.update((c[0], c) for c in by)
        if not stale:
            continue
        email, gone, end = max(readers.values(), key=lambda c: (c[2] is None, c[2] or ""))
        labels = [label for label, _ in stale]
        what = ", ".join(labels[:-1]) + " and " + labels[-1] if len(labels) > 1 else labels[0]
        first = "" if end is not None else f"accountctl person revoke {email}, then "
        if end is None:
            message = f"{what} readable by custodian {_who(snap, email)}, who left on {gone.isoformat()} and still holds a vault key slot"
        else:
            message = (
                f"{what} set before custodian {_who(snap, email)} (left on {gone.isoformat()}) lost vault "
                f"access on {end[:10]}"
            )
        if len(readers) > 1:
            message += f" (and {len(readers) - 1} other departed custodian(s))"
        yield (
            a["id"],
            a["school"],
            message,
            f"{first}change them on the platform and store the new ones: "
            + "; ".join(f"accountctl {command} {a['id']}" for _, command in stale),
        )


@rule(
    "CUSTODIAN_LEFT",
    "error",
    "a person who left still has a key slot",
    "Preston (roles): administrators 'store account details, including passwords securely'; Huxley 6.3(c): login "
    "details are provided to IT 'who will retain a record'",
    name="Leavers can no longer open the register",
    principle="Someone who has left can no longer open the register of accounts and their passwords.",
)
def custodian_left(snap: Snapshot):
    for person in snap.slot_holders:
        staff = snap.staff.get(person["email"])
        if staff and staff["left_on"] and date.fromisoformat(staff["left_on"]) <= snap.as_of:
            if snap.school_filter and staff["school"] != snap.school_filter:
                continue
            yield (
                None,
                staff["school"],
                f"{_who(snap, person['email'])} left on {staff['left_on']} but still has "
                f"{person['access']} access to the register",
                f"accountctl person revoke {person['email']}",
            )
