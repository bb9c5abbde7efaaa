"""The mailboxes accounts are linked to, and who reads them: whoever reads one can reset the passwords of
the accounts linked to it, so it is a way in like any other (SPEC "Ways in").
"""

from __future__ import annotations

import sqlite3

from accountctl import clock, model
from accountctl.core import directory, events
from accountctl.core.lookup import nearest
from accountctl.errors import InputError, shown

LIVE = ("requested", "approved", "active", "suspended")


def get_mailbox(conn: sqlite3.Connection, address: str) -> dict:
    """One mailbox with its current members and the live accounts linked to it, or InputError."""
    email = model.email(address, "mailbox")
    row = conn.execute("SELECT * FROM mailboxes WHERE email = ?", (email,)).fetchone()
    if row is None:
        raise InputError(
            f"unknown mailbox {shown(email)}"
            + (nearest(conn, email, "SELECT email FROM mailboxes") or " (record it first: accountctl mailbox add)")
        )
    out = dict(row)
    out["members"] = members_of(conn, email)
    out["accounts"] = [
        r[0]
        for r in conn.execute(
            f"SELECT id FROM accounts WHERE email = ? AND status IN ({','.join('?' * len(LIVE))}) ORDER BY id",
            (email, *LIVE),
        )
    ]
    return out


def members_of(conn: sqlite3.Connection, mailbox: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT email FROM mailbox_members WHERE mailbox = ? AND removed_at IS NULL ORDER BY email", (mailbox,)
        )
    ]


def _school_address(conn: sqlite3.Connection, school: dict, email: str) -> None:
    """A mailbox is on its school's domains, or on the central team's (a trust mailbox serves every school)."""
    domains = set(school["domains"])
    for central in directory.central_schools(conn):
        domains |= set(directory.get_school(conn, central)["domains"])
    if model.email_domain(email) not in domains:
        raise InputError(
            f"mailbox {email} is not on {school['id']}'s domains or the trust's ({', '.join(sorted(domains))})"
        )


def add(
    conn: sqlite3.Connection,
    actor: str,
    address: str,
    kind: str,
    school: str,
    sign_in: str | None = None,
    members: tuple[str, ...] = (),
) -> dict:
    """Record a mailbox (or, for one already recorded, its kind and sign-in state) and its members."""
    email = model.email(address, "mailbox")
    the_kind = model.choice(kind, model.MAILBOX_KINDS, "mailbox kind")
    the_school = directory.get_school(conn, school)
    _school_address(conn, the_school, email)
    state = model.choice(sign_in, model.SIGN_IN_STATES, "--sign-in") if sign_in else None
    people = list(dict.fromkeys(model.email(m, "--member") for m in members))
    existing = conn.execute("SELECT * FROM mailboxes WHERE email = ?", (email,)).fetchone()
    if existing is None:
        conn.execute(
            "INSERT INTO mailboxes(email, school, kind, sign_in, created_at) VALUES (?,?,?,?,?)",
            (email, the_school["id"], the_kind, state, clock.now_iso()),
        )
    else:
        conn.execute(
            "UPDATE mailboxes SET school = ?, kind = ?, sign_in = coalesce(?, sign_in) WHERE email = ?",
            (the_school["id"], the_kind, state, email),
        )
    have = set(members_of(conn, email))
    new = [p for p in people if p not in have]
    now = clock.now_iso()
    ids = model.RowIds(conn, "mailbox_members")
    conn.executemany(
        "INSERT INTO mailbox_members(id, mailbox, email, added_at) VALUES (?,?,?,?)",
        [(ids.next(the_school["id"]), email, p, now) for p in new],
    )
    events.record(
        conn,
        actor,
        "mailbox.add" if existing is None else "mailbox.update",
        email,
        details={"school": the_school["id"], "kind": the_kind, "sign_in": state, "members_added": new},
    )
    return get_mailbox(conn, email)


def add_member(conn: sqlite3.Connection, actor: str, address: str, member: str) -> dict:
    box = get_mailbox(conn, address)
    who = model.email(member, "member")
    if who in box["members"]:
        raise InputError(f"{who} is already a member of {box['email']}")
    conn.execute(
        "INSERT INTO mailbox_members(id, mailbox, email, added_at) VALUES (?,?,?,?)",
        (model.new_id(conn, "mailbox_members", box["school"]), box["email"], who, clock.now_iso()),
    )
    events.record(conn, actor, "mailbox.member.add", who, details={"mailbox": box["email"], "email": who})
    return get_mailbox(conn, box["email"])


def remove_member(conn: sqlite3.Connection, actor: str, address: str, member: str) -> dict:
    box = get_mailbox(conn, address)
    who = model.email(member, "member")
    if who not in box["members"]:
        raise InputError(f"{who} is not a member of {box['email']}")
    conn.execute(
        "UPDATE mailbox_members SET removed_at = ? WHERE mailbox = ? AND email = ? AND removed_at IS NULL",
        (clock.now_iso(), box["email"], who),
    )
    events.record(conn, actor, "mailbox.member.remove", who, details={"mailbox": box["email"], "email": who})
    return get_mailbox(conn, box["email"])


def list_mailboxes(conn: sqlite3.Connection, school: str | None = None) -> list[dict]:
    sql, args = "SELECT email FROM mailboxes", []
    if school:
        sql += " WHERE school = ?"
        args.append(directory.get_school(conn, school)["id"])
    out = []
    for (email,) in conn.execute(sql + " ORDER BY email", args).fetchall():
        box = get_mailbox(conn, email)
        out.append({**box, "members": ";".join(box["members"]), "accounts": ";".join(box["accounts"])})
    return out


def sync(conn: sqlite3.Connection, actor: str, address: str, wanted: list[str]) -> dict:
    """Make the recorded members those a directory export lists: who joined, who was taken out."""
    box = get_mailbox(conn, address)
    have = set(box["members"])
    joined = [m for m in wanted if m not in have]
    left = sorted(have - set(wanted))
    now = clock.now_iso()
    ids = model.RowIds(conn, "mailbox_members")
    conn.executemany(
        "INSERT INTO mailbox_members(id, mailbox, email, added_at) VALUES (?,?,?,?)",
        [(ids.next(box["school"]), box["email"], m, now) for m in joined],
    )
    conn.executemany(
        "UPDATE mailbox_members SET removed_at = ? WHERE mailbox = ? AND email = ? AND removed_at IS NULL",
        [(now, box["email"], m) for m in left],
    )
    events.record(conn, actor, "mailbox.sync", box["email"], details={"added": joined, "removed": left})
    return {"mailbox": box["email"], "added": joined, "removed": left, "members": members_of(conn, box["email"])}


def memberships(conn: sqlite3.Connection, email: str) -> list[dict]:
    """The mailboxes a person reads now, each with the live accounts linked to it (offboard)."""
    out: dict[str, dict] = {}
    for mailbox, school, kind, account in conn.execute(
        "SELECT m.mailbox, b.school, b.kind, a.id FROM mailbox_members m JOIN mailboxes b ON b.email = m.mailbox "
        f"LEFT JOIN accounts a ON a.email = m.mailbox AND a.status IN ({','.join('?' * len(LIVE))}) "
        "WHERE m.email = ? AND m.removed_at IS NULL ORDER BY m.mailbox, a.id",
        (*LIVE, email),
    ):
        box = out.setdefault(mailbox, {"mailbox": mailbox, "school": school, "kind": kind, "accounts": []})
        if account is not None:
            box["accounts"].append(account)
    return list(out.values())


# A Google Workspace group's members (GAM: `gam print group-members group EMAIL`): group, type, role, id, email
# and status among its columns; an Exchange Online mailbox's permissions (`Get-MailboxPermission EMAIL |
# Export-Csv`): Identity, User, AccessRights, IsInherited and Deny among its columns.
GAM_MEMBERS = ("group", "email", "role")
EXO_PERMISSIONS = ("identity", "user", "accessrights", "isinherited", "deny")


def parse_members(text: str, mailbox: str) -> tuple[str, list[str]]:
    """The export's format ('gam' or 'exchange') and the people who read `mailbox` by it; a bad row refuses the file.

    GAM: every member, manager and owner of the group (a suspended one, status SUSPENDED, reads nothing).
    Exchange: every explicit FullAccess holder (inherited and deny entries are the system's, and a
    user shown as NT AUTHORITY\\SELF or a SID is not a person).
    """
    from accountctl.core import csvrows

    email = model.email(mailbox, "mailbox")
    lines = text.split("\n", 1)
    skipped = 0
    if lines[0].lstrip("\ufeff").startswith("#TYPE"):  # Export-Csv without -NoTypeInformation
        text, skipped = (lines[1] if len(lines) > 1 else ""), 1
    header, rows = csvrows.read(text, "mailbox export")
    if all(c in header for c in GAM_MEMBERS):
        kind = "gam"
    elif all(c in header for c in EXO_PERMISSIONS):
        kind = "exchange"
    else:
        raise InputError(
            "unrecognised mailbox export: expected GAM's print group-members (group,type,role,id,email,status) or "
            "Exchange Online's Get-MailboxPermission | Export-Csv (Identity,User,AccessRights,IsInherited,Deny)"
        )
    people: list[str] = []
    for row in rows:
        line = row["_line"] + skipped
        try:
            who = _member(kind, row, email)
        except InputError as exc:
            raise InputError(f"line {line}: {exc}") from None
        if who and who not in people:
            people.append(who)
    return kind, people


def _member(kind: str, row: dict, mailbox: str) -> str | None:
    if kind == "gam":
        group = model.email(row["group"], "group")
        if group != mailbox:
            raise InputError(f"the row is for group {group}, not {mailbox}")
        if (row.get("status") or "").upper() == "SUSPENDED" or (row.get("type") or "USER").upper() != "USER":
            return None  # a suspended account reads nothing; a nested group is listed by its own export
        return model.email(row["email"], "email")
    if row["isinherited"].lower() == "true" or row["deny"].lower() == "true":
        return None
    if "fullaccess" not in row["accessrights"].replace(" ", "").lower():
        return None
    user = row["user"]
    if "@" not in user:  # NT AUTHORITY\SELF, a SID left by a deleted user: not a person who reads it
        return None
    identity = row["identity"].lower()
    if "@" in identity and model.email(identity, "Identity") != mailbox:
        raise InputError(f"the row is for mailbox {identity}, not {mailbox}")
    return model.email(user, "User")
