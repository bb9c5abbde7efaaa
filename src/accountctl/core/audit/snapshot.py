"""The snapshot the rules read: plain data, loaded once by `load`.

`load` reads the register with a fixed number of set-based queries, never one per account (the audit
is timed at 10,000 accounts: see bench/). A rule that needs something more from the register gets it
here, as one more query in `load` and a `Snapshot` field, never by querying on its own.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone

from accountctl import model
from accountctl.core import approvals, config, dataprotection, eligibility

LIVE = ("requested", "approved", "active", "suspended")
NEVER = date.min  # "gone since always": named on an account but never staff of its school


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
    closed: list[dict] = field(default_factory=list)  # closed accounts (in the chosen school): CLOSED_NOT_GONE
    found: list[dict] = field(default_factory=list)  # found and reported accounts: UNCLAIMED_ACCOUNT
    incidents: list[dict] = field(default_factory=list)  # open incidents, each with the steps done
    campaign_due: dict[str, tuple[str, str, bool]] = field(
        default_factory=dict
    )  # live account -> (its latest campaign, due, attested in it by the audit date)
    # live account -> its last attestation; its "admins" are (email or None, as shown on the platform) pairs
    attested: dict[str, dict] = field(default_factory=dict)
    now: datetime | None = None  # the moment the audit is as of (BREACH_NOT_REPORTED counts hours)
    waivers: dict[tuple[str, str], dict] = field(default_factory=dict)  # in force; `run` sets them
    vault_slots: list[tuple[str, str | None]] = field(
        default_factory=list
    )  # (email, revoked_at) of every vault slot ever
    # Ways in, each read by one query that returns only what a rule reports on (most accounts have none):
    temporary: list[tuple] = field(default_factory=list)  # (account, email, role, until) of access given --until
    mailbox_left: list[tuple] = field(default_factory=list)  # (account, mailbox, member) whose member has left
    mailbox_open: list[tuple] = field(default_factory=list)  # (account, mailbox, sign_in, school): shared, not blocked
    mailbox_unknown: set[str] = field(default_factory=set)  # accounts whose linked email is no mailbox nor anyone's
    dpias: dict[tuple[str, str], dict] = field(default_factory=dict)  # (platform, school or '') -> its DPIA
    school_days: list | None = None  # every school day in the trust's terms, or None when no terms are set
    erasable: list[dict] = field(default_factory=list)  # closed incidents whose text is not erased (RETENTION_DUE)
    _gone: dict = field(default_factory=dict)
    _current: dict = field(default_factory=dict)
    _ineligible: dict = field(default_factory=dict)
    _training: dict = field(default_factory=dict)
    central: frozenset[str] = field(init=False, default=frozenset())
    day: str = field(init=False, default="")  # the audit date as YYYY-MM-DD, the form stored dates compare with
    _staying: dict = field(init=False, default_factory=dict)  # email -> school, of staff with no leaving date
    _eligible: dict = field(init=False, default_factory=dict)  # the same, less those who are only volunteers

    def __post_init__(self) -> None:
        # Several rules ask for each account's current people: sort them out once.
        self._current = {
            account_id: [m for m in people if m.removed_at is None] for account_id, people in self.memberships.items()
        }
        self.central = frozenset(s["id"] for s in self.schools.values() if s["central"])
        self.day = self.as_of.isoformat()
        # Nearly everyone is staff of one school with no leaving date: one lookup answers gone_on and
        # ineligible for them, with no judgement to make or cache.
        not_only_staff: dict[str | None, bool] = {}  # a trust has a handful of distinct role lists: each judged once
        staying, eligible = self._staying, self._eligible
        for email, person in self.staff.items():
            if not person["left_on"]:
                staying[email] = school = person["school"]
                roles = person["roles"]
                other = not_only_staff.get(roles)
                if other is None:
                    other = not_only_staff[roles] = any(r in (roles or "") for r in model.NON_STAFF_ROLES)
                if not other:
                    eligible[email] = school

    def gone_on(self, email: str | None, school: str) -> date | None:
        """The day from which `email` is no longer active staff of `school`, or None while they are."""
        if self._staying.get(email) == school:
            return None  # the usual case (see _gone_on)
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
        if person["school"] == school or person["school"] in self.central:  # the central team serves every school
            return None
        if person["moved_on"] and person.get("moved_from") == school:
            return date.fromisoformat(person["moved_on"])
        return NEVER

    def ineligible(self, email: str | None, school: str) -> str | None:
        """Why `email` may not own or administer an account of `school` on the audit date (see eligibility)."""
        if self._eligible.get(email) == school:
            return None  # the usual case (see eligibility.ineligible)
        key = (email, school)
        reason = self._ineligible.get(key, _UNSET)
        if reason is _UNSET:  # people run several accounts: judge each once per school
            reason = self._ineligible[key] = eligibility.ineligible(
                self.staff.get(email or ""), school, self.central, self.as_of
            )
        return reason

    def training_gaps(self, email: str) -> list[str]:
        """What is missing from a staff member's training on the audit date (see eligibility)."""
        gaps = self._training.get(email)
        if gaps is None:
            gaps = self._training[email] = eligibility.training_gaps(self.staff[email], self.settings, self.as_of)
        return gaps

    def has_left(self, email: str | None) -> bool:
        """Whether `email` is staff who left on or before the audit date."""
        person = self.staff.get(email or "")
        return bool(person and person["left_on"] and person["left_on"] <= self.day)

    def days_since(self, iso: str | None) -> int | None:
        return None if not iso else (self.as_of - date.fromisoformat(iso[:10])).days


ACCOUNT_COLUMNS = (
    "id",
    "school",
    "platform",
    "category",
    "email",
    "owner",
    "status",
    "requested_by",
    "requested_at",
    "head_notified_on",
    "activated_on",
    "reviewed_on",
    "monitored_on",
    "case_hash",
    "aim",
    "audience",
    "promotion",
    "visibility",
    "pupils",
    "parents_informed_on",
    "suspended_on",
    "access",
    "last_post_on",
    "house_rules_url",
    "pupil_images",
    "pupils_join",
    "consent_checked_on",
)


# Account columns whose values are each account's own (ids, hashes, request times, free text): every other
# column's values repeat across accounts, and load keeps one object per value.
OWN_ACCOUNT_COLUMNS = frozenset({"id", "case_hash", "requested_at", "aim", "audience", "promotion", "house_rules_url"})


def _tuples(conn: sqlite3.Connection) -> sqlite3.Cursor:
    """A cursor yielding plain tuples: cheaper than sqlite3.Row over tens of thousands of rows."""
    cursor = conn.cursor()
    cursor.row_factory = None
    return cursor


def load(
    conn: sqlite3.Connection,
    as_of: date,
    *,
    school: str | None = None,
    vault: bool = False,
    now: datetime | None = None,
) -> Snapshot:
    """Read everything the rules need with set-based queries."""
    where, args = ("AND a.school = ?", [school]) if school else ("", [])
    live = f"a.status IN ({','.join('?' * len(LIVE))}) {where}"
    # sqlite3 makes a new string for every value it returns; one object per repeated value (a school id, a
    # platform, a date, a linked mailbox) kept the audit's peak 13 MB lower at 10,000 accounts (bench/README.md).
    one = {}.setdefault
    columns = list(
        zip(
            *_tuples(conn).execute(
                f"SELECT {', '.join('a.' + c for c in ACCOUNT_COLUMNS)} FROM accounts a WHERE {live} ORDER BY a.id",
                [*LIVE, *args],
            )
        )
    )
    for i, name in enumerate(ACCOUNT_COLUMNS if columns else ()):  # a column at a time: map runs in C
        if name not in OWN_ACCOUNT_COLUMNS:
            columns[i] = map(one, columns[i], columns[i])
    accounts = [dict(zip(ACCOUNT_COLUMNS, r)) for r in zip(*columns)]
    settings = config.load(conn)
    for a in accounts:  # an account recorded before access models has its platform's default
        a["access"] = a["access"] or settings.get(f"access.{a['platform']}") or "login"
    memberships: dict[str, list[Membership]] = {a["id"]: [] for a in accounts}
    # Every membership, kept when its account is audited: one scan beats a join per row.
    for account_id, email, role, added_at, removed_at in _tuples(conn).execute(
        "SELECT account, email, role, added_at, removed_at FROM account_people ORDER BY id"
    ):
        people = memberships.get(account_id)
        if people is not None:
            people.append(Membership(one(email, email), one(role, role), one(added_at, added_at), removed_at))
    staff = {
        r[0]: {
            "email": r[0],
            "name": r[1],
            "school": one(r[2], r[2]),
            "trained_on": one(r[3], r[3]),
            "policy_ack": one(r[4], r[4]),
            "left_on": r[5],
            "moved_on": r[6],
            "moved_from": r[7],
            "roles": one(r[8], r[8]),
            "cyber_trained_on": one(r[9], r[9]),
        }
        for r in _tuples(conn).execute(
            "SELECT email, name, school, trained_on, policy_ack, left_on, moved_on, moved_from, roles, cyber_trained_on "
            "FROM staff"
        )
    }
    schools = {
        r[0]: {"id": r[0], "domains": json.loads(r[1]), "central": bool(r[2])}
        for r in _tuples(conn).execute("SELECT id, domains, central FROM schools")
    }
    owners = approvals.key_owners(conn)
    columns = (
        "id",
        "account",
        "decision",
        "approver",
        "at",
        "note",
        "case_hash",
        "payload",
        "public_key",
        "signature",
        "checked_digest",
    )
    latest = {
        r[1]: dict(zip(columns, r))
        for r in _tuples(conn).execute(
            f"SELECT {', '.join('ap.' + c for c in columns[:-1])}, checked_decision(ap.id) "
            "FROM approvals ap JOIN accounts a ON a.id = ap.account "
            f"WHERE {live} AND ap.id = (SELECT max(id) FROM approvals WHERE account = a.id)",
            [*LIVE, *args],
        )
    }
    state: dict[str, tuple[dict | None, list[str], bool]] = {}
    for a in accounts:
        decision = latest.pop(a["id"], None)
        if decision is None or decision["decision"] != "approved":
            state[a["id"]] = (None, [], False)
            continue
        problems = approvals.audit_problems(
            decision, a, schools[a["school"]]["central"], owners.get(bytes(decision["public_key"]))
        )
        for heavy in ("payload", "signature", "public_key"):  # checked: the rules need none of them
            del decision[heavy]
        state[a["id"]] = (decision, problems, a["case_hash"] != decision["case_hash"])
    # Every live account's credentials, whatever the school filter: a password reused across schools is
    # still a finding on the filtered school's account.
    credentials = {
        r[0]: {
            "password": bool(r[1]),
            "password_set_at": r[2],
            "totp": bool(r[3]),
            "password_weak": r[4],
            "password_fp": r[5],
            "totp_set_at": r[6],
            "recovery": bool(r[7]),
            "recovery_set_at": r[8],
        }
        for r in _tuples(conn).execute(
            "SELECT c.account, c.password IS NOT NULL, c.password_set_at, c.totp IS NOT NULL, c.password_weak, "
            "c.password_fp, c.totp_set_at, c.recovery IS NOT NULL, c.recovery_set_at "
            f"FROM credentials c JOIN accounts a ON a.id = c.account "
            f"WHERE a.status IN ({','.join('?' * len(LIVE))})",
            LIVE,
        )
    }
    group: dict[tuple[str, str, str], list[str]] = {}
    for a in accounts:
        if a["category"] == "service":  # a business portfolio or tool is a way in, not a channel: never counted
            continue
        group.setdefault((a["school"], a["platform"], a["category"]), []).append(a["id"])
    slot_holders = [dict(r) for r in conn.execute("SELECT email, access FROM people ORDER BY email")]
    vault_slots = list(_tuples(conn).execute("SELECT email, revoked_at FROM slot_history WHERE access = 'vault'"))
    closed = [
        {
            "id": r[0],
            "school": r[1],
            "platform": r[2],
            "requested_at": r[3],
            "closed_on": r[4],
            "credentials_held": bool(r[5]),
        }
        for r in _tuples(conn).execute(
            "SELECT a.id, a.school, a.platform, a.requested_at, a.closed_on, EXISTS (SELECT 1 FROM credentials c "
            "WHERE c.account = a.id AND coalesce(c.username, c.password, c.totp, c.recovery) IS NOT NULL) "
            f"FROM accounts a WHERE a.status = 'closed' {where} ORDER BY a.id",
            args,
        )
    ]
    found_columns = (
        "id",
        "school",
        "platform",
        "url",
        "status",
        "requested_at",
        "found_on",
        "reported_on",
        "takedown_reference",
    )
    found = [
        dict(zip(found_columns, r))
        for r in _tuples(conn).execute(
            f"SELECT {', '.join('a.' + c for c in found_columns)} FROM accounts a "
            f"WHERE a.status IN ('found', 'reported') {where} ORDER BY a.id",
            args,
        )
    ]
    open_incidents = []
    incident_columns = ("id", "account", "school", "kind", "opened_at", "about_head", "discovered_at")
    for r in _tuples(conn).execute(
        "SELECT i.id, i.account, a.school, i.kind, i.opened_at, i.about_head, i.discovered_at FROM incidents i "
        "JOIN accounts a ON a.id = i.account "
        f"WHERE i.closed_at IS NULL AND substr(i.opened_at, 1, 10) <= ? {where} ORDER BY i.id",
        [as_of.isoformat(), *args],
    ):
        open_incidents.append(dict(zip(incident_columns, r)))
    if open_incidents:
        from accountctl.core import breaches
        from accountctl.core import incidents as incident_steps

        owners = approvals.key_owners(conn) if any(i["kind"] == "breach" for i in open_incidents) else {}

        for inc in open_incidents:
            done_at = dict(conn.execute("SELECT step, done_at FROM incident_steps WHERE incident = ?", (inc["id"],)))
            inc["done"] = set(done_at)
            inc["reported_at"] = done_at.get("ico-reported")  # BREACH_NOT_REPORTED: a late report is still late
            # a decision counts only as signed by its decider (core/breaches.py), as approvals do
            inc["decision"] = breaches.counted(conn, incident_steps.latest_decision(conn, inc["id"]), owners)
            inc["outstanding"] = [
                s.id for s in incident_steps.checklist(inc, inc["decision"]) if s.required and s.id not in inc["done"]
            ]
    live_ids = {a["id"] for a in accounts}
    day = as_of.isoformat()
    campaign_due: dict[str, tuple[str, str, bool]] = {}
    for account_id, campaign_id, due in _tuples(conn).execute(
        "SELECT ca.account, c.id, c.due FROM campaign_accounts ca JOIN campaigns c ON c.id = ca.campaign "
        "WHERE substr(c.started_at, 1, 10) <= ? ORDER BY c.rowid",
        (day,),
    ):
        if account_id in live_ids:  # a later campaign supersedes an earlier one
            campaign_due[account_id] = (campaign_id, due, False)
    last_seen: dict[str, tuple] = {}
    for row in _tuples(conn).execute(
        "SELECT campaign, account, at, admins, mfa, safety FROM attestations WHERE substr(at, 1, 10) <= ? ORDER BY id",
        (day,),
    ):
        campaign_id, account_id = row[0], row[1]
        if account_id not in live_ids:
            continue
        last_seen[account_id] = row
        due = campaign_due.get(account_id)
        if due and due[0] == campaign_id:  # attested in its latest campaign, even if attested again since
            campaign_due[account_id] = (campaign_id, due[1], True)
    attested: dict[str, dict] = {}
    # Only each account's last is parsed, all in one call (json.loads costs ~3 µs a call before it reads a byte).
    everyone = json.loads("[" + ",".join(row[3] for row in last_seen.values()) + "]")
    if len(everyone) != len(last_seen):  # a row that is not one JSON value ("[...], [...]") must not shift the rest
        everyone = [json.loads(row[3]) for row in last_seen.values()]  # raises on it, as a row alone would
    for (account_id, (campaign_id, _, at, _, mfa, safety)), admins in zip(last_seen.items(), everyone):
        attested[account_id] = {
            "campaign": campaign_id,
            "at": at,
            "admins": tuple(
                (one(p["email"], p["email"]), p["shown"] if p["shown"] != p["email"] else one(p["email"], p["email"]))
                for p in admins
            ),
            "mfa": mfa,
            "safety": json.loads(safety) if safety else {},
        }
    ways = _ways_in(conn, live, [*LIVE, *args], day)
    return Snapshot(
        as_of,
        settings,
        schools,
        staff,
        accounts,
        memberships,
        state,
        credentials,
        slot_holders,
        vault,
        school,
        group,
        closed,
        vault_slots=vault_slots,
        found=found,
        incidents=open_incidents,
        campaign_due=campaign_due,
        attested=attested,
        **ways,
        now=now if now is not None else _now_for(as_of),
        dpias=dataprotection.all_dpias(conn),
        school_days=config.school_days(config.load(conn)),
        erasable=[
            dict(zip(("id", "account", "school", "closed_at"), r))
            for r in _tuples(conn).execute(
                "SELECT i.id, i.account, a.school, i.closed_at FROM incidents i JOIN accounts a ON a.id = i.account "
                f"WHERE i.closed_at IS NOT NULL {where} AND EXISTS (SELECT 1 FROM texts t WHERE t.subject = i.id "
                "AND t.erased_at IS NULL) ORDER BY i.id",
                args,
            )
        ],
    )


def _ways_in(conn: sqlite3.Connection, live: str, args: list, day: str) -> dict:
    """What the ways-in rules report on, each as one query returning only its (few) rows."""
    temporary = list(
        _tuples(conn).execute(
            "SELECT p.account, p.email, p.role, p.until FROM account_people p INDEXED BY account_people_until "
            f"JOIN accounts a ON a.id = p.account WHERE p.until IS NOT NULL AND p.removed_at IS NULL AND {live} "
            "ORDER BY p.account, p.id",
            args,
        )
    )
    mailbox_left = list(
        _tuples(conn).execute(
            # From the few leavers outward (CROSS JOIN fixes that order), not from every account inward.
            "SELECT a.id, m.mailbox, m.email FROM staff s CROSS JOIN mailbox_members m ON m.email = s.email "
            "AND m.removed_at IS NULL CROSS JOIN accounts a ON a.email = m.mailbox "
            f"WHERE s.left_on IS NOT NULL AND s.left_on <> '' AND s.left_on <= ? AND {live} ORDER BY a.id, m.email",
            [day, *args],
        )
    )
    mailbox_open = list(
        _tuples(conn).execute(
            "SELECT a.id, b.email, b.sign_in, b.school FROM mailboxes b JOIN accounts a ON a.email = b.email "
            f"WHERE b.kind = 'shared' AND coalesce(b.sign_in, '') <> 'blocked' AND {live} ORDER BY a.id",
            args,
        )
    )
    mailbox_unknown = {
        r[0]
        for r in _tuples(conn).execute(
            f"SELECT a.id FROM accounts a WHERE {live} AND a.email IS NOT NULL AND a.email <> '' "
            "AND NOT EXISTS (SELECT 1 FROM mailboxes b WHERE b.email = a.email) "
            "AND NOT EXISTS (SELECT 1 FROM staff s WHERE s.email = a.email)",
            args,
        )
    }
    return {
        "temporary": temporary,
        "mailbox_left": mailbox_left,
        "mailbox_open": mailbox_open,
        "mailbox_unknown": mailbox_unknown,
    }


def _now_for(as_of: date) -> datetime:
    """The moment an audit as of `as_of` looks at: now for today, else the end of that day."""
    from accountctl import clock

    current = clock.now()
    return current if current.date() == as_of else datetime.combine(as_of, time.max, timezone.utc)
