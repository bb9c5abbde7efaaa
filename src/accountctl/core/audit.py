"""The audit: every policy rule, in one place, as a small function over a snapshot of plain data.

Adding a rule is adding one decorated function here (and its tests). Each rule yields
(account id or None, school id, message, fix); `run` attaches id, severity and waivers.
The snapshot is read with a fixed number of set-based queries, never one per account.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import date
from typing import Callable, Iterable, Iterator

from accountctl.core import approvals, config, quality

SEVERITIES = ("error", "warning", "info")
LIVE = ("requested", "approved", "active", "suspended")
NEVER = date.min  # "gone since always": named on an account but never staff of its school


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    description: str
    clause: str
    check: Callable[["Snapshot"], Iterable[tuple]]
    needs_vault: bool = False


RULES: dict[str, Rule] = {}


def rule(id: str, severity: str, description: str, clause: str, needs_vault: bool = False):
    """Register an audit rule."""
    def register(fn):
        RULES[id] = Rule(id, severity, description, clause, fn, needs_vault)
        return fn
    return register


@dataclass(slots=True)
class Membership:
    email: str
    role: str
    added_at: str
    removed_at: str | None


_UNSET = object()


@dataclass
class Snapshot:
    """What the rules read: plain data, loaded once."""

    as_of: date
    settings: dict[str, str]
    schools: dict[str, dict]
    staff: dict[str, dict]
    accounts: list[dict]
    memberships: dict[str, list[Membership]]
    approval: dict[str, tuple[dict | None, list[str], bool]]
    credentials: dict[str, dict]  # of every live account, in any school (password reuse crosses schools)
    slot_holders: list[dict]
    vault: bool
    school_filter: str | None = None
    group: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    vault_slots: list[tuple[str, str | None]] = field(default_factory=list)  # (email, revoked_at) of every vault slot ever
    _gone: dict = field(default_factory=dict)
    _current: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Several rules ask for each account's current people: sort them out once.
        self._current = {account_id: [m for m in people if m.removed_at is None]
                         for account_id, people in self.memberships.items()}

    def current(self, account_id: str, role: str | None = None) -> list[Membership]:
        people = self._current.get(account_id, ())
        return list(people) if role is None else [m for m in people if m.role == role]

    def gone_on(self, email: str | None, school: str) -> date | None:
        """The day from which `email` is no longer active staff of `school`, or None while they are."""
        gone = self._gone.get((email, school), _UNSET)
        if gone is _UNSET:
            gone = self._gone[(email, school)] = self._gone_on(email, school)
        return gone

    def _gone_on(self, email: str | None, school: str) -> date | None:
        person = self.staff.get(email or "")
        if person is None:
            return NEVER
        if person["left_on"]:
            return date.fromisoformat(person["left_on"])
        if person["school"] != school:
            return date.fromisoformat(person["moved_on"]) if person["moved_on"] else NEVER
        return None

    def has_gone(self, email: str | None, school: str) -> bool:
        gone = self._gone.get((email, school), _UNSET)
        if gone is _UNSET:
            gone = self.gone_on(email, school)
        return gone is not None and gone <= self.as_of

    def days_since(self, iso: str | None) -> int | None:
        return None if not iso else (self.as_of - date.fromisoformat(iso[:10])).days


class UPCOMING(tuple):
    """A finding reported one severity lower: the leaving date is still ahead."""

    def __new__(cls, *items):
        return super().__new__(cls, items)


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
    return (a for a in snap.accounts if a["status"] == "active")


def _days_before(snap: Snapshot, days: int) -> str:
    """The ISO date `days` before the audit date: an ISO date before it is more than `days` days old."""
    from datetime import timedelta

    return (snap.as_of - timedelta(days=days)).isoformat()


def _who(snap: Snapshot, email: str | None) -> str:
    person = snap.staff.get(email or "")
    return f"{person['name']} <{email}>" if person else (email or "(nobody)")


# -- the rules ------------------------------------------------------------------------------------
@rule("TWO_ADMINS", "error", "fewer than two active admins (staff who have not left)",
      "Connect: administration and monitoring 'involving at least two members of staff'; Preston: "
      "'at least two staff members should be named'")
def two_admins(snap: Snapshot):
    for a in _live(snap):
        active = [m.email for m in snap.current(a["id"], "admin") if not snap.has_gone(m.email, a["school"])]
        if len(active) < 2:
            yield (a["id"], a["school"], f"{len(active)} active admin(s): {', '.join(active) or 'none'}",
                   f"accountctl account admin add {a['id']} EMAIL")


@rule("SCHOOL_EMAIL", "error", "linked email missing, or not on one of the school's domains",
      "Huxley 6.3(a): 'linked to an official school email account'")
def school_email(snap: Snapshot):
    for a in _live(snap):
        domains = snap.schools[a["school"]]["domains"]
        email = a["email"]
        if not email:
            yield (a["id"], a["school"], "no linked email",
                   f"link it to an official school email on the platform, then: accountctl account update {a['id']} --email EMAIL")
        elif email.rsplit("@", 1)[-1].lower() not in domains:
            yield (a["id"], a["school"], f"linked email {email} is not on {', '.join(domains)}",
                   f"move its login to an address @{domains[0]} on the platform, then: "
                   f"accountctl account update {a['id']} --email EMAIL")


@rule("APPROVAL_MISSING", "error", "account active or approved with no valid approval on record",
      "Connect: 'a process for approval by senior leaders'; Preston: SLT 'approve account creation'")
def approval_missing(snap: Snapshot):
    for a in _live(snap):
        if a["status"] in ("active", "approved") and snap.approval[a["id"]][0] is None:
            yield (a["id"], a["school"], f"{a['status']} with no SLT approval on record",
                   f"accountctl approve {a['id']} (by SLT or the headteacher of {a['school']})")


@rule("APPROVAL_INVALID", "error",
      "approver was not SLT/headteacher of that school (or CEO), approved their own request, or the signature does not verify",
      "Preston: applications go to the school's SLT, or to the CEO for the central team")
def approval_invalid(snap: Snapshot):
    for a in _live(snap):
        decision, problems, _ = snap.approval[a["id"]]
        if decision is not None and problems:
            yield a["id"], a["school"], "; ".join(problems), f"a new decision by someone entitled: accountctl approve {a['id']}"


@rule("CHANGED_SINCE_APPROVAL", "warning", "business case or named people changed after the approval",
      "Preston: the business case names the aim, audience, promotion, who runs it and who contributes")
def changed_since_approval(snap: Snapshot):
    for a in _live(snap):
        decision, problems, changed = snap.approval[a["id"]]
        if decision is not None and not problems and changed:
            yield (a["id"], a["school"], f"changed since {decision['approver']} approved it on {decision['at'][:10]}",
                   f"ask SLT to approve the current business case: accountctl approve {a['id']}")


@rule("HEAD_NOT_NOTIFIED", "error", "active but the headteacher was never notified of URL and identity",
      "Huxley 6.3(b): 'URL and identity ... notified to the Headteacher before any account is activated'")
def head_not_notified(snap: Snapshot):
    for a in _active(snap):
        if not a["head_notified_on"]:
            yield a["id"], a["school"], "headteacher never notified of its URL and identity", f"accountctl account notify-head {a['id']}"


@rule("CREDENTIALS_NOT_HELD", "error", "active and IT holds no password",
      "Huxley 6.3(c): 'password or login details ... must be provided to IT who will retain a record'")
def credentials_not_held(snap: Snapshot):
    for a in _active(snap):
        if not snap.credentials.get(a["id"], {}).get("password"):
            yield a["id"], a["school"], "IT holds no password for it", f"accountctl cred set {a['id']}"


@rule("MFA_NOT_HELD", "warning", "active and IT holds no TOTP secret",
      "Preston: administrators 'store account details, including passwords securely'")
def mfa_not_held(snap: Snapshot):
    for a in _active(snap):
        if not snap.credentials.get(a["id"], {}).get("totp"):
            yield a["id"], a["school"], "IT holds no 2FA (TOTP) seed for it", f"enable 2FA on the platform, then: accountctl cred totp {a['id']}"


@rule("LEAVER_OWNER", "error", "owner has left (warning while the leaving date is still ahead, within 30 days)",
      "Preston: administrators 'control the process for managing an account after the lead staff member has left "
      "the organisation (closing or transferring)'")
def leaver_owner(snap: Snapshot):
    # The upcoming-leaver case is reported one severity lower by `run` (see UPCOMING).
    ahead = int(snap.settings["upcoming_leaver_days"])
    for a in _live(snap):
        gone = snap.gone_on(a["owner"], a["school"])
        if gone is None:
            continue
        fix = f"accountctl account transfer {a['id']} --to EMAIL (or close it)"
        if not a["owner"]:  # a legacy account recorded without one
            yield a["id"], a["school"], "no owner (lead member of staff) recorded", fix
        elif gone <= snap.as_of:
            yield a["id"], a["school"], f"owner {_who(snap, a['owner'])} {_gone_text(snap, a['owner'], gone)}", fix
        elif (gone - snap.as_of).days <= ahead:
            yield UPCOMING(a["id"], a["school"], f"owner {_who(snap, a['owner'])} leaves on {gone.isoformat()}", fix)


@rule("LEAVER_ADMIN", "error", "an admin or contributor has left and is still listed",
      "Preston: administrators control the process after staff leave; NCSC: remove access when staff leave")
def leaver_admin(snap: Snapshot):
    for a in _live(snap):
        for m in snap.current(a["id"]):
            if snap.has_gone(m.email, a["school"]):
                gone = snap.gone_on(m.email, a["school"])
                yield (a["id"], a["school"], f"{m.role} {_who(snap, m.email)} {_gone_text(snap, m.email, gone)}",
                       f"accountctl account {m.role} remove {a['id']} {m.email}"
                       + (" (transfer ownership first)" if m.email == a["owner"] else ""))


@rule("ROTATE_AFTER_LEAVER", "error",
      "password last set before the leaving date of someone who was an admin or owner while it was in force; for "
      "a custodian who left, any credential set before their vault key slot was removed",
      "Preston: administrators 'store account details, including passwords securely' and control the account after "
      "the lead has left")
def rotate_after_leaver(snap: Snapshot):
    for a in _live(snap):
        cred = snap.credentials.get(a["id"])
        if not cred or not cred["password"]:
            continue
        set_at = cred["password_set_at"]
        set_day = None  # parsed only for the few accounts with a leaver among their admins
        seen = set()
        for m in snap.memberships.get(a["id"], ()):
            if m.role != "admin" or m.email in seen:
                continue
            gone = snap.gone_on(m.email, a["school"])
            if gone is None or gone == NEVER or gone > snap.as_of:
                continue
            set_day = set_day or date.fromisoformat(set_at[:10])
            if set_day >= gone:
                continue
            if m.removed_at is not None and m.removed_at <= set_at:
                continue  # removed before this password was set: they never knew it
            seen.add(m.email)
            yield (a["id"], a["school"],
                   f"password set {set_day.isoformat()}, before {_who(snap, m.email)} left on {gone.isoformat()}",
                   f"change the password on the platform, then: accountctl cred set {a['id']} (or cred generate)")
    yield from _rotate_after_custodian(snap)


CREDENTIAL_FIELDS = (("password", "password", "cred generate"), ("totp", "2FA seed", "cred totp"),
                     ("recovery", "recovery codes", "cred recovery"))


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
            message = (f"{what} set before custodian {_who(snap, email)} (left on {gone.isoformat()}) lost vault "
                       f"access on {end[:10]}")
        if len(readers) > 1:
            message += f" (and {len(readers) - 1} other departed custodian(s))"
        yield (a["id"], a["school"], message,
               f"{first}change them on the platform and store the new ones: "
               + "; ".join(f"accountctl {command} {a['id']}" for _, command in stale))


@rule("ONE_FACULTY_ONE_STAFF", "warning",
      "more than one faculty, or more than one staff, account on one platform in one school (limits configurable)",
      "Huxley 6.2: 'limited to one \"faculty\" account and one individual staff member account per social media provider'")
def one_faculty_one_staff(snap: Snapshot):
    for (school, platform, category), members in snap.group.items():
        allowed = config.limit(snap.settings, platform, category)
        if len(members) > allowed:
            for account_id in members:
                yield (account_id, school,
                       f"{len(members)} {category} accounts on {platform} at {school} (guideline: {allowed}): "
                       + _some(members),
                       "close or merge the extra accounts, or have SLT waive this finding")


@rule("TRAINING_MISSING", "warning",
      "an admin has no training date or has not acknowledged the current policy version",
      "Preston: SLT 'must be satisfied that anyone running a social media account ... has read and understood this "
      "policy and received appropriate training'")
def training_missing(snap: Snapshot):
    version = snap.settings.get("policy_version") or ""
    for a in _live(snap):
        for m in snap.current(a["id"], "admin"):
            person = snap.staff.get(m.email)
            if person is None or snap.has_gone(m.email, a["school"]):
                continue  # leaver rules cover them
            gaps = []
            if not person["trained_on"]:
                gaps.append("no training recorded")
            if version and person["policy_ack"] != version:
                gaps.append(f"has not acknowledged policy {version}")
            if gaps:
                yield (a["id"], a["school"], f"admin {_who(snap, m.email)}: {' and '.join(gaps)}",
                       f"accountctl staff train {m.email} --on DATE" + (f" --policy-ack {version}" if version else ""))


@rule("REVIEW_OVERDUE", "warning", "not reviewed for more than 365 days (review period configurable)",
      "Dartmoor 1.7: reviewed annually 'to reflect the rapidly changing nature of social media'")
def review_overdue(snap: Snapshot):
    period = int(snap.settings["review_period_days"])
    cutoff = _days_before(snap, period)
    for a in _active(snap):
        decision = snap.approval[a["id"]][0]
        dates = [d for d in (a["reviewed_on"], decision["at"][:10] if decision else None) if d]
        base = max(dates) if dates else (a["activated_on"] or a["requested_at"][:10])
        if base and base < cutoff:
            days = snap.days_since(base)
            yield (a["id"], a["school"], f"last reviewed or approved {base} ({days} days ago; period {period})",
                   f"accountctl review {a['id']} (SLT)")


@rule("PASSWORD_WEAK", "warning", "weak password (needs vault access; skipped otherwise)",
      "Preston: administrators 'store account details, including passwords securely'", needs_vault=True)
def password_weak(snap: Snapshot):
    for a in _live(snap):
        cred = snap.credentials.get(a["id"])
        if cred and cred["password"] and cred["password_weak"]:
            yield (a["id"], a["school"], f"weak password: {cred['password_weak']}",
                   f"change it on the platform to a generated one: accountctl cred generate {a['id']}")


@rule("PASSWORD_REUSED", "warning", "same password on two accounts (needs vault access; skipped otherwise)",
      "Preston: administrators 'store account details, including passwords securely'", needs_vault=True)
def password_reused(snap: Snapshot):
    ids = {a["id"]: a for a in _live(snap)}
    # snap.credentials covers every live account (any school), so reuse across schools is found under --school too
    shared = quality.reused({k: c["password_fp"] for k, c in snap.credentials.items()
                             if c["password"] and c["password_fp"]})
    for account_id, others in shared.items():
        if account_id not in ids:
            continue
        a = ids[account_id]
        yield (a["id"], a["school"], f"same password as {_some(others)}",
               f"give each account its own password: accountctl cred generate {a['id']}")


@rule("CUSTODIAN_LEFT", "error", "a person who left still has a key slot",
      "NCSC: revoke access when staff leave; Preston: administrators control access after staff leave")
def custodian_left(snap: Snapshot):
    for person in snap.slot_holders:
        staff = snap.staff.get(person["email"])
        if staff and staff["left_on"] and date.fromisoformat(staff["left_on"]) <= snap.as_of:
            if snap.school_filter and staff["school"] != snap.school_filter:
                continue
            yield (None, staff["school"], f"{_who(snap, person['email'])} left on {staff['left_on']} but still has "
                   f"{person['access']} access to the register", f"accountctl person revoke {person['email']}")


@rule("MONITORING_LAPSED", "info", "active account with no monitoring check recorded in the monitoring period (default 7 days)",
      "Connect: accounts 'monitored regularly and frequently (preferably 5 days a week during term time)'")
def monitoring_lapsed(snap: Snapshot):
    period = int(snap.settings["monitoring_period_days"])
    cutoff = _days_before(snap, period)
    for a in _active(snap):
        if not a["monitored_on"] or a["monitored_on"] < cutoff:
            days = snap.days_since(a["monitored_on"])
            seen = "never" if days is None else f"last {a['monitored_on']} ({days} days ago)"
            yield a["id"], a["school"], f"monitoring check {seen}; period {period} days", f"accountctl monitor {a['id']}"


# -- loading and running --------------------------------------------------------------------------
ACCOUNT_COLUMNS = ("id", "school", "platform", "category", "email", "owner", "status", "requested_by", "requested_at",
                   "head_notified_on", "activated_on", "reviewed_on", "monitored_on", "case_hash")


def _tuples(conn: sqlite3.Connection) -> sqlite3.Cursor:
    """A cursor yielding plain tuples: cheaper than sqlite3.Row over tens of thousands of rows."""
    cursor = conn.cursor()
    cursor.row_factory = None
    return cursor


def load(conn: sqlite3.Connection, as_of: date, *, school: str | None = None, vault: bool = False) -> Snapshot:
    """Read everything the rules need with set-based queries."""
    where, args = ("AND a.school = ?", [school]) if school else ("", [])
    live = f"a.status IN ({','.join('?' * len(LIVE))}) {where}"
    accounts = [dict(zip(ACCOUNT_COLUMNS, r)) for r in _tuples(conn).execute(
        f"SELECT {', '.join('a.' + c for c in ACCOUNT_COLUMNS)} FROM accounts a WHERE {live} ORDER BY a.id",
        [*LIVE, *args])]
    memberships: dict[str, list[Membership]] = {a["id"]: [] for a in accounts}
    # Every membership, kept when its account is audited: one scan beats a join per row.
    for account_id, email, role, added_at, removed_at in _tuples(conn).execute(
            "SELECT account, email, role, added_at, removed_at FROM account_people ORDER BY id"):
        people = memberships.get(account_id)
        if people is not None:
            people.append(Membership(email, role, added_at, removed_at))
    staff = {r[0]: {"email": r[0], "name": r[1], "school": r[2], "trained_on": r[3], "policy_ack": r[4],
                    "left_on": r[5], "moved_on": r[6]}
             for r in _tuples(conn).execute(
                 "SELECT email, name, school, trained_on, policy_ack, left_on, moved_on FROM staff")}
    schools = {r[0]: {"id": r[0], "domains": json.loads(r[1]), "central": bool(r[2])}
               for r in _tuples(conn).execute("SELECT id, domains, central FROM schools")}
    owners = approvals.key_owners(conn)
    columns = ("id", "account", "decision", "approver", "at", "note", "case_hash", "payload", "public_key", "signature",
               "verified_digest")
    latest = {r[1]: dict(zip(columns, r)) for r in _tuples(conn).execute(
        f"SELECT {', '.join('ap.' + c for c in columns)} FROM approvals ap JOIN accounts a ON a.id = ap.account "
        f"WHERE {live} AND ap.id = (SELECT max(id) FROM approvals WHERE account = a.id)", [*LIVE, *args])}
    state: dict[str, tuple[dict | None, list[str], bool]] = {}
    for a in accounts:
        decision = latest.pop(a["id"], None)
        if decision is None or decision["decision"] != "approved":
            state[a["id"]] = (None, [], False)
            continue
        problems = approvals.audit_problems(decision, owners.get(bytes(decision["public_key"])), a,
                                            schools[a["school"]]["central"])
        for heavy in ("payload", "signature", "public_key"):  # checked: the rules need none of them
            del decision[heavy]
        state[a["id"]] = (decision, problems, a["case_hash"] != decision["case_hash"])
    # Every live account's credentials, whatever the school filter: a password reused across schools is
    # still a finding on the filtered school's account.
    credentials = {r[0]: {"password": bool(r[1]), "password_set_at": r[2], "totp": bool(r[3]), "password_weak": r[4],
                          "password_fp": r[5], "totp_set_at": r[6], "recovery": bool(r[7]), "recovery_set_at": r[8]}
                   for r in _tuples(conn).execute(
                       "SELECT c.account, c.password IS NOT NULL, c.password_set_at, c.totp IS NOT NULL, c.password_weak, "
                       "c.password_fp, c.totp_set_at, c.recovery IS NOT NULL, c.recovery_set_at "
                       f"FROM credentials c JOIN accounts a ON a.id = c.account "
                       f"WHERE a.status IN ({','.join('?' * len(LIVE))})", LIVE)}
    group: dict[tuple[str, str, str], list[str]] = {}
    for a in accounts:
        group.setdefault((a["school"], a["platform"], a["category"]), []).append(a["id"])
    slot_holders = [dict(r) for r in conn.execute("SELECT email, access FROM people ORDER BY email")]
    vault_slots = list(_tuples(conn).execute("SELECT email, revoked_at FROM slot_history WHERE access = 'vault'"))
    return Snapshot(as_of, config.load(conn), schools, staff, accounts, memberships, state, credentials, slot_holders,
                    vault, school, group, vault_slots=vault_slots)


def waivers_in_force(conn: sqlite3.Connection, as_of: date) -> dict[tuple[str, str], dict]:
    """Waivers granted by `as_of` whose date has not passed, by (account, rule); the latest wins."""
    out = {}
    day = as_of.isoformat()
    for r in conn.execute("SELECT * FROM waivers WHERE until >= ? AND substr(at, 1, 10) <= ? ORDER BY id", (day, day)):
        out[(r["account"], r["rule"])] = dict(r)
    return out


def run(snap: Snapshot, waivers: dict[tuple[str, str], dict], rules: list[str] | None = None) -> tuple[list[dict], list[dict]]:
    """Apply the rules; returns (findings, skipped rules with why)."""
    findings, skipped = [], []
    order = {s: i for i, s in enumerate(SEVERITIES)}
    for rule_id in rules or list(RULES):
        r = RULES[rule_id]
        if r.needs_vault and not snap.vault:
            skipped.append({"rule": r.id, "reason": "needs vault access (an IT custodian's key slot)"})
            continue
        lower = SEVERITIES[min(order[r.severity] + 1, len(SEVERITIES) - 1)]
        for item in r.check(snap):
            account_id, school, message, fix = item
            waiver = waivers.get((account_id, r.id)) if waivers and account_id else None
            findings.append({"rule": r.id, "severity": lower if type(item) is UPCOMING else r.severity,
                             "account": account_id, "school": school, "message": message, "fix": fix,
                             "waived": waiver is not None, "waived_until": waiver["until"] if waiver else None})
    findings.sort(key=lambda f: (order[f["severity"]], f["account"] or "", f["rule"]))
    return findings, skipped


def summarize(findings: list[dict], snap: Snapshot, skipped: list[dict], fail_on: str, rules: list[str]) -> dict:
    """Counts by severity (all and unwaived), what was audited, and whether the run fails."""
    counts = {s: 0 for s in SEVERITIES}
    unwaived = {s: 0 for s in SEVERITIES}
    for f in findings:
        counts[f["severity"]] += 1
        if not f["waived"]:
            unwaived[f["severity"]] += 1
    threshold = SEVERITIES.index(fail_on)
    failed = any(unwaived[s] for s in SEVERITIES[: threshold + 1])
    return {"as_of": snap.as_of.isoformat(), "school": snap.school_filter, "accounts_audited": len(snap.accounts),
            "findings": len(findings), "counts": counts, "unwaived": unwaived,
            "waived": sum(1 for f in findings if f["waived"]), "rules": rules, "skipped": skipped,
            "fail_on": fail_on, "failed": failed}


def rules_table() -> list[dict]:
    """Every rule: id, severity, what it checks, the policy clause."""
    return [{"id": r.id, "severity": r.severity, "checks": r.description, "clause": r.clause,
             "needs_vault": r.needs_vault} for r in RULES.values()]


def as_of_from(text: str | None) -> date:
    from accountctl import clock

    return clock.parse_date(text, "--as-of") if text is not None else clock.today()  # --as-of "" is bad input

