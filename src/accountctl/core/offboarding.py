"""What a person still holds, and for a leaver or mover what is outstanding, with the command that
closes each item. Plain data in, plain data out; `offboard`, `staff leave` and HR scripts use it.

A credential counts while the person could read it: an account's owner and admins could read its
credentials until they were removed from it; a custodian could read every credential while their
vault slot existed. A credential set after that access ended is done. An account linked to the
person's own mailbox is a holding too: its login and recovery mail go to them. So are admin rights on
the platform that an account's last attestation still shows them holding.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date

from accountctl import clock, model
from accountctl.core import directory
from accountctl.core.lookup import nearest
from accountctl.errors import InputError

LIVE = ("requested", "approved", "active", "suspended")
CREDENTIAL_STEPS = {
    "password": ("rotate the password (change it on the platform first)", "accountctl cred generate {id}"),
    "totp": ("re-seed 2FA (reset it on the platform first)", "accountctl cred totp {id}"),
    "recovery": ("replace the recovery codes (regenerate them on the platform first)", "accountctl cred recovery {id}"),
}


def _status(person: dict | None, today: date) -> str:
    if person is None:
        return "not staff"
    if person.get("left_on"):
        return "left" if person["left_on"] <= today.isoformat() else "leaving"
    if person.get("moved_from"):
        return "moved"
    return "active"


def offboard(
    conn: sqlite3.Connection,
    email: str,
    today: date | None = None,
    platform_admins_by_email: dict[str, list[dict]] | None = None,
) -> dict:
    """Everything `email` holds; for a leaver (past or upcoming) or mover, what is outstanding.

    `platform_admins_by_email` is `platform_admins(conn)`, read once by a caller that offboards many.
    """
    today = today or clock.today()
    address = model.email(email)
    person = directory.find_staff(conn, address)
    slot = _row(conn.execute("SELECT email, access, granted_at FROM people WHERE email = ?", (address,)).fetchone())
    memberships = _rows(
        conn.execute(
            "SELECT p.account, p.role, p.added_at, p.removed_at, a.school, a.status, a.owner FROM account_people p "
            "JOIN accounts a ON a.id = p.account WHERE p.email = ? ORDER BY p.account, p.role, p.id",
            (address,),
        )
    )
    if person is None and slot is None and not memberships:
        raise InputError(
            f"unknown staff {address}: not in the register, on no account and with no key slot"
            + nearest(conn, address, "SELECT email FROM staff")
        )
    status = _status(person, today)
    leaver = status in ("left", "leaving")
    mover = status == "moved"

    def outstanding_for(school: str) -> bool:
        # A leaver's every holding is outstanding; a mover's only at the schools they left.
        return leaver or (mover and school != person["school"])

    items = []
    owned = _rows(
        conn.execute(
            f"SELECT id, school FROM accounts WHERE owner = ? AND status IN ({','.join('?' * len(LIVE))}) ORDER BY id",
            (address, *LIVE),
        )
    )
    for acc in owned:
        items.append(
            {
                "kind": "owner",
                "account": acc["id"],
                "school": acc["school"],
                "role": "owner",
                "field": None,
                "set_at": None,
                "outstanding": outstanding_for(acc["school"]),
                "step": "transfer ownership (or close the account)",
                "command": f"accountctl account transfer {acc['id']} --to EMAIL --remove-old",
            }
        )
    could_read: dict[str, str | None] = {}  # account -> when their access to its credentials ended (None: not yet)
    # In the order they were made, so a person's current membership of an account comes after the ended ones.
    for m in memberships:
        if m["status"] not in LIVE:
            continue
        if m["role"] == "admin":
            end = m["removed_at"]
            prev = could_read.get(m["account"], "")
            could_read[m["account"]] = None if (end is None or prev is None) else max(end, prev or end)
        if m["removed_at"] is None:
            items.append(
                {
                    "kind": m["role"],
                    "account": m["account"],
                    "school": m["school"],
                    "role": m["role"],
                    "field": None,
                    "set_at": None,
                    "outstanding": outstanding_for(m["school"]),
                    "step": f"remove as {m['role']}"
                    + (" (after the transfer; its --remove-old does this)" if m["owner"] == address else ""),
                    "command": f"accountctl account {m['role']} remove {m['account']} {address}",
                }
            )
    vault_access = _vault_access(conn, address)
    # A custodian could read every credential; anyone else only those of the accounts they were an admin of:
    # read just those (one person's few, not the trust's 10,000 for each of the summer's 600 leavers).
    only = "" if vault_access else "AND c.account IN (SELECT value FROM json_each(?)) "
    cred_rows = (
        _rows(
            conn.execute(
                f"SELECT c.account, a.school, c.password_set_at, c.totp_set_at, c.recovery_set_at, c.password IS NOT NULL AS p, "
                f"c.totp IS NOT NULL AS t, c.recovery IS NOT NULL AS r FROM credentials c JOIN accounts a ON a.id = c.account "
                f"WHERE a.status IN ({','.join('?' * len(LIVE))}) {only}ORDER BY c.account",
                LIVE + (() if vault_access else (json.dumps(sorted(could_read)),)),
            )
        )
        if vault_access or could_read
        else []
    )
    for c in cred_rows:
        ends = []
        if c["account"] in could_read:
            ends.append(could_read[c["account"]])
        ends += vault_access
        if not ends:
            continue
        end = None if None in ends else max(ends)
        for field, present in (("password", c["p"]), ("totp", c["t"]), ("recovery", c["r"])):
            set_at = c[f"{field}_set_at"]
            if not present or (end is not None and set_at >= end):
                continue
            outstanding = outstanding_for(c["school"])
            if outstanding and not leaver:
                # A mover keeps their key slot (a custodian still reads every credential through it, and rightly):
                # only what they could read through their roles on the old school's account must be rotated,
                # else rotating could never close the item.
                role_end = could_read.get(c["account"], "")
                outstanding = c["account"] in could_read and (role_end is None or set_at < role_end)
            step, command = CREDENTIAL_STEPS[field]
            items.append(
                {
                    "kind": "credential",
                    "account": c["account"],
                    "school": c["school"],
                    "role": None,
                    "field": field,
                    "set_at": set_at,
                    "outstanding": outstanding,
                    "step": step,
                    "command": command.format(id=c["account"]),
                }
            )
    # An account linked to their own mailbox (LINKED_EMAIL_PERSONAL): recovery mail goes where the school cannot follow.
    for acc in _rows(
        conn.execute(
            f"SELECT id, school FROM accounts WHERE email = ? AND status IN ({','.join('?' * len(LIVE))}) ORDER BY id",
            (address, *LIVE),
        )
    ):
        items.append(
            {
                "kind": "linked_email",
                "account": acc["id"],
                "school": acc["school"],
                "role": None,
                "field": None,
                "set_at": None,
                "outstanding": outstanding_for(acc["school"]),
                "step": "link the account to a shared school mailbox (change it on the platform first)",
                "command": f"accountctl account update {acc['id']} --email EMAIL",
            }
        )
    # Admin rights on the platform itself that the account's last attestation still shows them holding
    # (a personal profile given a role): the register cannot remove those.
    attested = platform_admins(conn, address) if platform_admins_by_email is None else platform_admins_by_email
    for acc in attested.get(address, ()):
        items.append(
            {
                "kind": "platform_admin",
                "account": acc["id"],
                "school": acc["school"],
                "role": "admin",
                "field": None,
                "set_at": acc["at"],
                "outstanding": outstanding_for(acc["school"]),
                "step": f"remove their admin rights on {acc['platform']} (attested {acc['at'][:10]}), then record "
                "what it shows",
                "command": f"accountctl attest record {acc['id']} --admins LIST --mfa METHOD",
            }
        )
    _ways_in(conn, address, items, outstanding_for)
    if slot is not None:
        # First in the list: a custodian reads every credential through their slot until it is revoked,
        # so a password rotated before the revoke would have to be rotated again.
        step = (
            f"revoke their {slot['access']} key slot first (credentials changed before it must be changed again)"
            if slot["access"] == "vault"
            else f"revoke their {slot['access']} key slot"
        )
        items.insert(
            0,
            {
                "kind": "key_slot",
                "account": None,
                "school": person["school"] if person else None,
                "role": slot["access"],
                "field": None,
                "set_at": slot["granted_at"],
                "outstanding": leaver,
                "step": step,
                "command": f"accountctl person revoke {address}",
            },
        )
    for item in items:
        item.setdefault("reaches", [])
        item.setdefault("mailbox", None)
    outstanding = sum(1 for i in items if i["outstanding"])
    return {
        "email": address,
        "name": person["name"] if person else (slot["email"] if slot else None),
        "school": person["school"] if person else None,
        "status": status,
        "left_on": person.get("left_on") if person else None,
        "moved_from": person.get("moved_from") if person else None,
        "leaver": leaver,
        "mover": mover,
        "holdings": len(items),
        "outstanding": outstanding,
        "items": items,
    }


def _ways_in(conn: sqlite3.Connection, address: str, items: list[dict], outstanding_for) -> None:
    """The ways in besides a role on the account itself (SPEC "Ways in").

    A seat in a management tool or business portfolio reaches every account connected to it: the
    item for that seat names them. A mailbox an account is linked to resets its password: each
    mailbox the person still reads is an item of its own.
    """
    held = sorted({i["account"] for i in items if i["kind"] in ("owner", "admin", "contributor")})
    marks = ",".join("?" * len(held))
    platforms = dict(
        conn.execute(f"SELECT id, platform FROM accounts WHERE category = 'service' AND id IN ({marks})", held)
    )
    reached: dict[str, list[str]] = {}
    for via, account in conn.execute(
        f"SELECT v.via, v.account FROM account_via v JOIN accounts a ON a.id = v.account "
        f"WHERE v.removed_at IS NULL AND v.via IN ({','.join('?' * len(platforms))}) "
        f"AND a.status IN ({','.join('?' * len(LIVE))}) ORDER BY v.account",
        [*platforms, *LIVE],
    ):
        reached.setdefault(via, []).append(account)
    for item in items:
        if item["kind"] in ("owner", "admin", "contributor") and item["account"] in platforms:
            item["reaches"] = reached.get(item["account"], [])
            if item["reaches"]:
                item["step"] = (
                    f"remove their seat in {platforms[item['account']]} first (it reaches "
                    f"{', '.join(item['reaches'])}), then: {item['step']}"
                )
    from accountctl.core import mailboxes

    for box in mailboxes.memberships(conn, address):
        linked = box["accounts"]
        items.append(
            {
                "kind": "mailbox",
                "account": linked[0] if linked else None,
                "school": box["school"],
                "role": None,
                "field": None,
                "set_at": None,
                "outstanding": outstanding_for(box["school"]),
                "step": f"take them out of the {box['kind']} mailbox {box['mailbox']} in Microsoft 365 or Google "
                "Workspace" + (f" (password resets for {', '.join(linked)} go there)" if linked else ""),
                "command": f"accountctl mailbox member remove {box['mailbox']} {address}",
                "reaches": linked,
                "mailbox": box["mailbox"],
            }
        )


def _rows(cursor) -> list[dict]:
    """Rows as plain dicts, whose keys are exact (a `sqlite3.Row` would also answer to "ID" for "id")."""
    return [dict(r) for r in cursor]


def _row(row) -> dict | None:
    return dict(row) if row is not None else None


def _vault_access(conn: sqlite3.Connection, email: str) -> list[str | None]:
    """When each of the person's vault slots ended (None: still there)."""
    return [
        r[0] for r in conn.execute("SELECT revoked_at FROM slot_history WHERE email = ? AND access = 'vault'", (email,))
    ]


def leaving_before(conn: sqlite3.Connection, day: str, school: str | None = None) -> dict:
    """One checklist for everyone leaving on or before `day` (the summer handover), grouped by person."""
    last = clock.parse_date(day, "--leaving-before").isoformat()
    sql, args = "SELECT email FROM staff WHERE left_on IS NOT NULL AND left_on <= ?", [last]
    school_id = None
    if school:
        school_id = directory.get_school(conn, school)["id"]
        sql += " AND school = ?"
        args.append(school_id)
    attested = platform_admins(conn)
    people = [
        offboard(conn, r[0], platform_admins_by_email=attested)
        for r in conn.execute(sql + " ORDER BY left_on, email", args).fetchall()
    ]
    return {
        "leaving_before": last,
        "school": school_id,
        "people": people,
        "outstanding": sum(p["outstanding"] for p in people),
    }


def platform_admins(conn: sqlite3.Connection, email: str | None = None) -> dict[str, list[dict]]:
    """email -> the live accounts whose last attestation shows them with admin rights on the platform.

    With `email`, only that person's (the attestations that do not name them are skipped in SQL).
    """
    sql = (
        "SELECT a.id, a.school, a.platform, t.at, t.admins FROM attestations t JOIN accounts a ON a.id = t.account "
        f"WHERE a.status IN ({','.join('?' * len(LIVE))}) "
        "AND t.id = (SELECT max(id) FROM attestations WHERE account = a.id)"
    )
    args: list = list(LIVE)
    if email is not None:
        sql += " AND instr(t.admins, ?)"  # a cheap first sieve; the exact match is below
        args.append(json.dumps(email))
    found: dict[str, list[dict]] = {}
    for acc in _rows(conn.execute(sql + " ORDER BY a.id", args)):
        for who in dict.fromkeys(seen["email"] for seen in json.loads(acc["admins"]) if seen.get("email")):
            if email is None or who == email:
                found.setdefault(who, []).append(acc)
    return found
