"""Schools and staff: add, import, train, list. Functions over a sqlite3 connection; events recorded."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from accountctl import clock, model
from accountctl.core import events
from accountctl.core.lookup import nearest
from accountctl.errors import InputError, shown

STAFF_CSV_COLUMNS = ("email", "name", "school", "roles", "trained_on", "policy_ack")


# -- schools --------------------------------------------------------------------------------------
def add_school(
    conn: sqlite3.Connection, actor: str, school_id: str, name: str, domains: list[str], central: bool = False
) -> dict:
    """Add a school (or a trust's central team, `central`)."""
    school_id = model.slug(school_id, "school id")
    name = model.nonempty(name, "school name", 200)
    if not domains:
        raise InputError("a school needs at least one email domain (--domain)")
    clean = list(dict.fromkeys(model.domain(d) for d in domains))
    if conn.execute("SELECT 1 FROM schools WHERE id = ?", (school_id,)).fetchone():
        raise InputError(f"school {school_id} already exists")
    row = {"id": school_id, "name": name, "domains": clean, "central": bool(central), "created_at": clock.now_iso()}
    conn.execute(
        "INSERT INTO schools(id, name, domains, central, created_at) VALUES (?,?,?,?,?)",
        (school_id, name, json.dumps(clean), int(central), row["created_at"]),
    )
    events.record(
        conn, actor, "school.add", school_id, details={"name": name, "domains": clean, "central": bool(central)}
    )
    return row


def _school_row(row: sqlite3.Row) -> dict:
    return {
        "id": row["id"],
        "name": row["name"],
        "domains": json.loads(row["domains"]),
        "central": bool(row["central"]),
        "created_at": row["created_at"],
    }


def list_schools(conn: sqlite3.Connection) -> list[dict]:
    return [_school_row(r) for r in conn.execute("SELECT * FROM schools ORDER BY id")]


def central_schools(conn: sqlite3.Connection) -> frozenset[str]:
    """The ids of the trust's central teams (their staff may run any school's accounts)."""
    return frozenset(r[0] for r in conn.execute("SELECT id FROM schools WHERE central"))


def get_school(conn: sqlite3.Connection, school_id: str) -> dict:
    """A school by id, or InputError naming it."""
    row = conn.execute("SELECT * FROM schools WHERE id = ?", ((school_id or "").strip().lower(),)).fetchone()
    if row is None:
        raise InputError(
            f"unknown school {shown(school_id or '')}"
            + nearest(conn, (school_id or "").strip().lower(), "SELECT id FROM schools")
        )
    return _school_row(row)


# -- staff ----------------------------------------------------------------------------------------
@dataclass
class StaffInput:
    """One validated staff record ready to insert."""

    email: str
    name: str
    school: str
    roles: list[str]
    trained_on: str | None = None
    policy_ack: str | None = None


def validate_staff(
    conn: sqlite3.Connection,
    email: str,
    name: str,
    school: str,
    roles,
    trained_on: str | None,
    policy_ack: str | None,
    school_ids: set[str] | None = None,
    dates: str | None = None,
) -> StaffInput:
    """Check one staff record against the spec; raises InputError naming the problem."""
    address = model.email(email)
    clean_name = model.nonempty(name, "name", 200)
    school_id = (school or "").strip().lower()
    known = school_ids if school_ids is not None else {r[0] for r in conn.execute("SELECT id FROM schools")}
    if school_id not in known:
        raise InputError(f"unknown school {shown(school or '')}{model.did_you_mean(school_id, known)}")
    chosen = model.roles(roles) or ["staff"]
    trained = clock.past_date(trained_on, "trained_on", dates).isoformat() if (trained_on or "").strip() else None
    ack = model.optional_text(policy_ack, "policy_ack", 50)
    return StaffInput(address, clean_name, school_id, chosen, trained, ack)


def _insert_staff(conn: sqlite3.Connection, items: list[StaffInput]) -> None:
    created = clock.now_iso()
    conn.executemany(
        "INSERT INTO staff(email, name, school, roles, trained_on, policy_ack, status, created_at) VALUES (?,?,?,?,?,?,'active',?)",
        [(s.email, s.name, s.school, json.dumps(s.roles), s.trained_on, s.policy_ack, created) for s in items],
    )


def _staff_event_details(s: StaffInput) -> dict:
    return {
        "name": s.name,
        "school": s.school,
        "roles": s.roles,
        "trained_on": s.trained_on,
        "policy_ack": s.policy_ack,
    }


def add_staff(
    conn: sqlite3.Connection, actor: str, email: str, name: str, school: str, roles, trained_on=None, policy_ack=None
) -> dict:
    """Add one member of staff."""
    item = validate_staff(conn, email, name, school, roles, trained_on, policy_ack)
    if conn.execute("SELECT 1 FROM staff WHERE email = ?", (item.email,)).fetchone():
        raise InputError(f"staff {item.email} already exists")
    _insert_staff(conn, [item])
    events.record(conn, actor, "staff.add", item.email, details=_staff_event_details(item))
    return get_staff(conn, item.email)


def parse_staff_csv(text: str) -> list[dict]:
    """Rows of a staff CSV as dicts with their line numbers; InputError for a bad header or empty file."""
    from accountctl.core import csvrows

    return csvrows.read(text, "staff CSV", STAFF_CSV_COLUMNS)[1]


def validate_staff_rows(
    conn: sqlite3.Connection, rows: list[dict], *, progress=None, dates: str = "iso"
) -> list[StaffInput]:
    """Validate every row (all or nothing); the error names the line. `progress(done, total)` is told as it goes."""
    school_ids = {r[0] for r in conn.execute("SELECT id FROM schools")}
    existing = {r[0] for r in conn.execute("SELECT email FROM staff")}
    seen: dict[str, int] = {}
    items = []
    for row in rows:
        line = row["_line"]
        try:
            item = validate_staff(
                conn,
                row.get("email"),
                row.get("name"),
                row.get("school"),
                [r for r in (row.get("roles") or "").split(";") if r.strip()],
                row.get("trained_on"),
                row.get("policy_ack"),
                school_ids,
                dates,
            )
        except InputError as exc:
            raise InputError(f"line {line}: {exc}") from None
        if item.email in seen:
            raise InputError(f"line {line}: {item.email} is already on line {seen[item.email]}")
        if item.email in existing:
            raise InputError(f"line {line}: staff {item.email} already exists (use 'staff sync' to update a roster)")
        seen[item.email] = line
        items.append(item)
        if progress and len(items) % 200 == 0:
            progress(len(items), len(rows))
    return items


def import_staff(conn: sqlite3.Connection, actor: str, text: str, progress=None) -> list[StaffInput]:
    """Import a staff CSV: every row valid or nothing imported."""
    return import_staff_rows(conn, actor, parse_staff_csv(text), progress)


def import_staff_rows(
    conn: sqlite3.Connection, actor: str, rows: list[dict], progress=None, dates: str = "iso"
) -> list[StaffInput]:
    """Import the rows of a parsed staff CSV (`parse_staff_csv`): every row valid or nothing imported.

    `dates`: "uk" reads trained_on as day/month/year (`clock.parse_date`).
    """
    items = validate_staff_rows(conn, rows, progress=progress, dates=dates)
    _insert_staff(conn, items)
    events.record_many(conn, actor, [("staff.add", s.email, None, _staff_event_details(s)) for s in items])
    return items


def staff_row(row: sqlite3.Row) -> dict:
    """A staff row as plain data; status is derived from left_on, so an upcoming leaver is still active."""
    out = dict(row)
    out["roles"] = json.loads(out["roles"])
    out["status"] = "left" if out["left_on"] and out["left_on"] <= clock.today().isoformat() else "active"
    return out


def get_staff(conn: sqlite3.Connection, email: str) -> dict:
    """One member of staff by email (case-insensitive), or InputError."""
    address = model.email(email)
    row = conn.execute("SELECT * FROM staff WHERE email = ?", (address,)).fetchone()
    if row is None:
        raise InputError(f"unknown staff {address}" + nearest(conn, address, "SELECT email FROM staff"))
    return staff_row(row)


def find_staff(conn: sqlite3.Connection, email: str) -> dict | None:
    row = conn.execute("SELECT * FROM staff WHERE email = ?", (email.strip().lower(),)).fetchone()
    return staff_row(row) if row else None


def list_staff(conn: sqlite3.Connection, school: str | None = None) -> list[dict]:
    if school:
        get_school(conn, school)
        rows = conn.execute("SELECT * FROM staff WHERE school = ? ORDER BY email", (school.strip().lower(),))
    else:
        rows = conn.execute("SELECT * FROM staff ORDER BY email")
    return [staff_row(r) for r in rows]


def train_staff(
    conn: sqlite3.Connection, actor: str, email: str, on: str, policy_ack: str | None = None, kind: str = "social-media"
) -> dict:
    """Record training (and optionally the policy version acknowledged); `kind` cyber is the annual cyber-security
    training the DfE's standards ask of everyone with access."""
    person = get_staff(conn, email)
    trained = clock.past_date(on, "--on").isoformat()  # a date ahead would count as training not yet had
    if model.choice(kind, ("social-media", "cyber"), "--kind") == "cyber":
        if policy_ack:
            raise InputError("--policy-ack goes with social-media training, not cyber")
        conn.execute("UPDATE staff SET cyber_trained_on = ? WHERE email = ?", (trained, person["email"]))
        events.record(conn, actor, "staff.train", person["email"], details={"cyber_trained_on": trained})
        return get_staff(conn, person["email"])
    ack = model.optional_text(policy_ack, "--policy-ack", 50) or person["policy_ack"]
    conn.execute("UPDATE staff SET trained_on = ?, policy_ack = ? WHERE email = ?", (trained, ack, person["email"]))
    events.record(conn, actor, "staff.train", person["email"], details={"trained_on": trained, "policy_ack": ack})
    return get_staff(conn, person["email"])


def is_active(person: dict | None, on) -> bool:
    """Whether a staff record is active on date `on` (a leaver has left from left_on, that day included)."""
    if person is None:
        return False
    left_on = person.get("left_on")
    return not (left_on and left_on <= on.isoformat())


def leave(conn: sqlite3.Connection, actor: str, email: str, on: str) -> dict:
    """Mark a leaver from a date (past, today, or ahead: an upcoming leaver)."""
    person = get_staff(conn, email)
    day = clock.parse_date(on, "--on").isoformat()
    keeps_a_custodian(conn, person["email"])
    conn.execute("UPDATE staff SET status = 'left', left_on = ? WHERE email = ?", (day, person["email"]))
    events.record(conn, actor, "staff.leave", person["email"], details={"on": day, "previous": person["left_on"]})
    return get_staff(conn, person["email"])


def keeps_a_custodian(conn: sqlite3.Connection, email: str) -> None:
    """Refuse a leaving date that would leave no IT custodian who can still write the register.

    A leaver can no longer change the register, and only a custodian can grant a new custodian: the
    last one recorded as leaving would lock everyone out for good (the recovery key opens their slot,
    not a new one). Another custodian with no leaving date keeps it writable (one with a later date
    would only put the lock off until then).
    """
    custodians = [r[0] for r in conn.execute("SELECT email FROM people WHERE access = 'vault'")]
    if email not in custodians:
        return
    for other in custodians:
        row = conn.execute("SELECT left_on FROM staff WHERE email = ?", (other,)).fetchone()
        if other != email and (row is None or not row[0]):
            return
    raise InputError(
        f"{email} holds the last IT custodian key slot: once they have left nobody could change the register; "
        "first grant another custodian (accountctl person grant EMAIL --access vault), then record this leaving"
    )


def move(conn: sqlite3.Connection, actor: str, email: str, school: str, on: str | None = None) -> dict:
    """Move a member of staff to another school; their roles at the old one become outstanding."""
    person = get_staff(conn, email)
    target = get_school(conn, school)["id"]
    if person["school"] == target:
        raise InputError(f"{person['email']} is already staff of {target}")
    if person["left_on"] and person["left_on"] <= clock.today().isoformat():
        raise InputError(f"{person['email']} has left; a leaver cannot move")
    day = clock.parse_date(on, "--on").isoformat() if on else clock.today().isoformat()
    conn.execute(
        "UPDATE staff SET school = ?, moved_from = ?, moved_on = ? WHERE email = ?",
        (target, person["school"], day, person["email"]),
    )
    events.record(
        conn, actor, "staff.move", person["email"], details={"from": person["school"], "to": target, "on": day}
    )
    return get_staff(conn, person["email"])


# -- many schools at once -------------------------------------------------------------------------
SCHOOL_CSV_COLUMNS = ("id", "name", "domains", "central")
_YES, _NO = {"yes", "true", "y", "1"}, {"no", "false", "n", "0", ""}


def import_schools(conn: sqlite3.Connection, actor: str, text: str) -> list[dict]:
    """Add every school of a CSV (`id,name,domains,central`): every row valid, or none added.

    `domains` are separated by `;`; `central` is yes or no (empty: no). The error names the line.
    """
    from accountctl.core import csvrows

    _, rows = csvrows.read(text, "school CSV", ("id", "name", "domains"))
    existing = {r[0] for r in conn.execute("SELECT id FROM schools")}
    seen: dict[str, int] = {}
    checked = []
    for row in rows:
        line = row["_line"]
        try:
            school_id = model.slug(row.get("id"), "school id")
            name = model.nonempty(row.get("name"), "school name", 200)
            domains = [d for d in (row.get("domains") or "").split(";") if d.strip()]
            if not domains:
                raise InputError("a school needs at least one email domain (domains, separated by ';')")
            domains = list(dict.fromkeys(model.domain(d) for d in domains))
            central = (row.get("central") or "").strip().lower()
            if central not in _YES | _NO:
                raise InputError(f"central must be yes or no, not {shown(row.get('central') or '')}")
        except InputError as exc:
            raise InputError(f"line {line}: {exc}") from None
        if school_id in seen:
            raise InputError(f"line {line}: school {school_id} is already on line {seen[school_id]}")
        if school_id in existing:
            raise InputError(f"line {line}: school {school_id} already exists")
        seen[school_id] = line
        checked.append((school_id, name, domains, central in _YES))
    return [add_school(conn, actor, *school) for school in checked]


def update_school(
    conn: sqlite3.Connection,
    actor: str,
    school_id: str,
    add_domains: tuple[str, ...] = (),
    remove_domains: tuple[str, ...] = (),
    name: str | None = None,
) -> dict:
    """Add or remove a school's email domains, or rename it.

    A domain a live account's linked email (or a registered mailbox) still uses stays: removing it would
    turn those into SCHOOL_EMAIL breaches without anything on the platform having changed.
    """
    school = get_school(conn, school_id)
    added = [d for d in dict.fromkeys(model.domain(d) for d in add_domains) if d not in school["domains"]]
    removed = list(dict.fromkeys(model.domain(d) for d in remove_domains))
    for domain in removed:
        if domain not in school["domains"]:
            raise InputError(f"{school['id']} has no domain {domain} (it has {', '.join(school['domains'])})")
        # a central team's domain serves every school of the trust (trust mailboxes): any school's may use it
        every = 1 if school["central"] else 0
        users = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM accounts WHERE (school = ? OR ?) AND status IN ('requested', 'approved', 'active', "
                "'suspended') AND lower(email) LIKE ? ORDER BY id",
                (school["id"], every, f"%@{domain}"),
            )
        ]
        users += [
            r[0]
            for r in conn.execute(
                "SELECT email FROM mailboxes WHERE (school = ? OR ?) AND email LIKE ? ORDER BY email",
                (school["id"], every, f"%@{domain}"),
            )
        ]
        if users:
            raise InputError(f"{domain} is still the domain of the linked email or mailbox of {', '.join(users[:5])}")
    domains = [d for d in school["domains"] if d not in removed] + added
    if not domains:
        raise InputError(f"{school['id']} needs at least one email domain")
    new_name = model.nonempty(name, "--name", 200) if name is not None else school["name"]
    if domains == school["domains"] and new_name == school["name"]:
        raise InputError(
            f"nothing to change: give --add-domain, --remove-domain or --name (not what {school['id']} has)"
        )
    conn.execute("UPDATE schools SET domains = ?, name = ? WHERE id = ?", (json.dumps(domains), new_name, school["id"]))
    events.record(
        conn,
        actor,
        "school.update",
        school["id"],
        details={"added": added, "removed": removed, "name": new_name if new_name != school["name"] else None},
    )
    return get_school(conn, school["id"])
