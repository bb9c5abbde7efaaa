"""`staff sync`: compare a school's full roster (MIS staff CSV, a Google Workspace GAM export or a
Microsoft Entra "Download users" export) with the register, and optionally apply joiners, leavers
and changes. Never deletes anyone; a second run with the same file changes nothing.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field

from accountctl import clock, model
from accountctl.core import directory, eligibility, events
from accountctl.errors import InputError, shown

GAM_COLUMNS = ("primaryemail", "name.fullname", "suspended")
# Microsoft Entra admin centre, Users > All users > Download users: these among some 25 columns.
ENTRA_COLUMNS = ("userprincipalname", "displayname", "accountenabled")
# The Microsoft 365 admin centre, Users > Active users > Export users: these among some 30 columns.
M365_COLUMNS = ("user principal name", "display name", "block credential")
DIRECTORY_EXPORTS = ("gam", "entra", "m365")  # whole-tenant exports: users on other schools' domains are left out
TRUE = {"true", "yes", "1", "y"}
NON_EMPLOYEES = {"volunteer", "governor", "chair"}  # roles of people no roster of employees lists
FALSE = {"false", "no", "0", "n", ""}


@dataclass
class RosterEntry:
    email: str
    name: str
    line: int
    roles: list[str] | None = None  # None: the file does not say (GAM)
    trained_on: str | None = None
    policy_ack: str | None = None
    suspended: bool = False


@dataclass
class Change:
    change: str  # join, leave, rejoin, move, update
    email: str
    name: str
    detail: str
    fields: dict = field(default_factory=dict)


def parse(text: str, school: str, dates: str = "iso") -> tuple[str, list[RosterEntry]]:
    """The roster's format ('staff-csv', 'gam' or 'entra') and its entries; a bad row refuses the whole file.

    `dates`: "uk" reads the staff CSV's trained_on as day/month/year (`clock.parse_date`).
    """
    from accountctl.core import csvrows

    header, rows = csvrows.read(text, "roster file")
    if all(c in header for c in GAM_COLUMNS):
        kind = "gam"
    elif all(c in header for c in ENTRA_COLUMNS):
        kind = "entra"
    elif all(c in header for c in M365_COLUMNS):
        kind = "m365"
    elif all(c in header for c in directory.STAFF_CSV_COLUMNS):
        kind = "staff-csv"
    else:
        raise InputError(
            "unrecognised roster: expected the staff CSV header "
            f"({','.join(directory.STAFF_CSV_COLUMNS)}), a GAM export (primaryEmail,name.fullName,suspended) "
            "a Microsoft Entra user download (userPrincipalName,displayName,accountEnabled) or a Microsoft 365 admin "
            "centre export (User principal name,Display name,Block credential)"
        )
    entries: list[RosterEntry] = []
    seen: dict[str, int] = {}
    for row in rows:
        line = row.pop("_line")
        try:
            entry = _entry(kind, row, line, school, dates)
        except InputError as exc:
            raise InputError(f"line {line}: {exc}") from None
        if entry.email in seen:
            raise InputError(f"line {line}: {entry.email} is already on line {seen[entry.email]}")
        seen[entry.email] = line
        entries.append(entry)
    return kind, entries


def _entry(kind: str, row: dict, line: int, school: str, dates: str = "iso") -> RosterEntry:
    if kind == "gam":
        suspended = row["suspended"].lower()
        if suspended not in TRUE | FALSE:
            raise InputError(f"suspended must be True or False, not {shown(row['suspended'])}")
        return RosterEntry(
            model.email(row["primaryemail"]),
            model.nonempty(row["name.fullname"], "name", 200),
            line,
            suspended=suspended in TRUE,
        )
    if kind == "entra":
        enabled = row["accountenabled"].lower()
        if enabled not in (TRUE | FALSE) - {""}:  # Entra always writes True or False: a blank is a damaged file
            raise InputError(f"accountEnabled must be True or False, not {shown(row['accountenabled'])}")
        return RosterEntry(
            model.email(row["userprincipalname"], "userPrincipalName"),
            model.nonempty(row["displayname"], "displayName", 200),
            line,
            suspended=enabled in FALSE,
        )
    if kind == "m365":
        blocked = row["block credential"].lower()
        if blocked not in (TRUE | FALSE) - {""}:  # the admin centre always writes True or False
            raise InputError(f"Block credential must be True or False, not {shown(row['block credential'])}")
        return RosterEntry(
            model.email(row["user principal name"], "User principal name"),
            model.nonempty(row["display name"], "Display name", 200),
            line,
            suspended=blocked in TRUE,
        )
    if row["school"] and row["school"].lower() != school:
        raise InputError(f"school {shown(row['school'])} is not {school} (a roster covers one school)")
    roles = [r for r in row["roles"].split(";") if r.strip()]
    trained = clock.past_date(row["trained_on"], "trained_on", dates).isoformat() if row["trained_on"] else None
    return RosterEntry(
        model.email(row["email"]),
        model.nonempty(row["name"], "name", 200),
        line,
        roles=model.roles(roles) or ["staff"],
        trained_on=trained,
        policy_ack=model.optional_text(row["policy_ack"], "policy_ack", 50),
    )


def on_school_domains(entries: list[RosterEntry], domains: list[str]) -> tuple[list[RosterEntry], int]:
    """A GAM or Entra export may cover a whole trust's tenant: keep the users on this school's domains."""
    kept = [e for e in entries if e.email.rsplit("@", 1)[1] in domains]
    return kept, len(entries) - len(kept)


def plan(
    conn: sqlite3.Connection, school: str, entries: list[RosterEntry], left_on: str, progress=None
) -> list[Change]:
    """What applying the roster would change, in a stable order.

    A "rejoin" (someone recorded as left who is on the roster again) is planned like the rest, but
    `apply` only carries it out when asked: a lagging MIS export must not quietly undo a leaver.
    """
    today = clock.today()
    current = {r["email"]: directory.staff_row(r) for r in conn.execute("SELECT * FROM staff")}
    listed = {e.email for e in entries if not e.suspended}
    changes: list[Change] = []
    for n, e in enumerate(entries, 1):
        if progress and n % 200 == 0:
            progress(n, len(entries))
        person = current.get(e.email)
        gone = person is not None and person["left_on"] and person["left_on"] <= today.isoformat()
        if e.suspended:
            # SPEC: never a leaver by the roster if their only roles are volunteer, governor or chair, blocked or not
            if (
                person
                and person["school"] == school
                and not person["left_on"]
                and not eligibility.volunteer_only(person["roles"])
            ):
                changes.append(
                    Change(
                        "leave",
                        e.email,
                        person["name"],
                        f"suspended or disabled in the directory; leaves {left_on}",
                        {"left_on": left_on},
                    )
                )
            continue
        if person is None:
            changes.append(
                Change(
                    "join",
                    e.email,
                    e.name,
                    f"joins {school}" + (f" as {', '.join(e.roles)}" if e.roles else ""),
                    {
                        "name": e.name,
                        "roles": e.roles or ["staff"],
                        "trained_on": e.trained_on,
                        "policy_ack": e.policy_ack,
                    },
                )
            )
            continue
        if person["school"] != school:
            if gone:
                changes.append(Change("rejoin", e.email, e.name, f"rejoins at {school}", {"school": school}))
            else:
                changes.append(
                    Change("move", e.email, e.name, f"moves from {person['school']} to {school}", {"school": school})
                )
            continue
        if gone:  # an upcoming leaver is still on the roster until their date: no change
            changes.append(Change("rejoin", e.email, e.name, f"back on the roster (had left {person['left_on']})", {}))
        updates = {}
        if e.name != person["name"]:
            updates["name"] = e.name
        if e.roles is not None and e.roles != person["roles"]:
            updates["roles"] = e.roles
        if e.trained_on and e.trained_on != person["trained_on"]:
            updates["trained_on"] = e.trained_on
        if e.policy_ack and e.policy_ack != person["policy_ack"]:
            updates["policy_ack"] = e.policy_ack
        if updates:
            changes.append(
                Change(
                    "update",
                    e.email,
                    e.name,
                    "; ".join(f"{k}: {person[k]!r} -> {v!r}" for k, v in updates.items()),
                    updates,
                )
            )
    # Only people the roster could list can be missing from it: not volunteers, governors or the chair (no
    # employee record in the MIS or the directory), nor anyone on a domain the file does not cover.
    covered = {e.email.rsplit("@", 1)[1] for e in entries}
    for email, person in sorted(current.items()):
        if set(person["roles"] or ()) <= NON_EMPLOYEES or email.rsplit("@", 1)[1] not in covered:
            continue
        if (
            person["school"] == school
            and not person["left_on"]
            and email not in listed
            # governors, chairs and volunteers are on no staff roster: their absence says nothing
            and not eligibility.volunteer_only(person["roles"])
            and not any(c.email == email for c in changes)
        ):
            changes.append(
                Change("leave", email, person["name"], f"not on the roster; leaves {left_on}", {"left_on": left_on})
            )
    order = {"join": 0, "rejoin": 1, "move": 2, "update": 3, "leave": 4}
    changes.sort(key=lambda c: (order[c.change], c.email))
    return changes


def apply(
    conn: sqlite3.Connection, actor: str, school: str, changes: list[Change], *, rejoin: bool = False
) -> list[Change]:
    """Record the planned changes, each as an event; returns those applied (rejoins only with `rejoin`)."""
    changes = [c for c in changes if rejoin or c.change != "rejoin"]
    now = clock.now_iso()
    for c in changes:
        if c.change == "join":
            conn.execute(
                "INSERT INTO staff(email, name, school, roles, trained_on, policy_ack, status, created_at) "
                "VALUES (?,?,?,?,?,?,'active',?)",
                (
                    c.email,
                    c.fields["name"],
                    school,
                    json.dumps(c.fields["roles"]),
                    c.fields["trained_on"],
                    c.fields["policy_ack"],
                    now,
                ),
            )
        elif c.change == "leave":
            directory.keeps_a_custodian(conn, c.email)
            conn.execute(
                "UPDATE staff SET status = 'left', left_on = ? WHERE email = ?", (c.fields["left_on"], c.email)
            )
        elif c.change == "rejoin":
            conn.execute(
                "UPDATE staff SET status = 'active', left_on = NULL, school = ? WHERE email = ?",
                (c.fields.get("school", school), c.email),
            )
        elif c.change == "move":
            old = conn.execute("SELECT school FROM staff WHERE email = ?", (c.email,)).fetchone()[0]
            conn.execute(
                "UPDATE staff SET school = ?, moved_from = ?, moved_on = ? WHERE email = ?",
                (school, old, clock.today().isoformat(), c.email),
            )
        elif c.change == "update":
            for key, value in c.fields.items():
                conn.execute(
                    f"UPDATE staff SET {key} = ? WHERE email = ?",
                    (json.dumps(value) if key == "roles" else value, c.email),
                )
    events.record_many(
        conn, actor, [(f"staff.sync.{c.change}", c.email, None, {"school": school, **c.fields}) for c in changes]
    )
    return changes
