"""Who runs an account: admins and contributors added and removed, ownership transferred."""

from __future__ import annotations

import sqlite3

from accountctl import clock, model
from accountctl.core import events
from accountctl.core.lookup import get_account  # get_account: the accounts API, apart for the hot paths
from accountctl.errors import InputError
from accountctl.core.accounts.case import (
    LIVE_STATUSES,
    _end_membership,
    _insert_people,
    _require_status,
    _touch_case,
    eligible_admins,
    eligible_staff,
    known_staff,
    people_of,
)


def _a(role: str) -> str:
    return f"an {role}" if role[0] in "aeiou" else f"a {role}"


def add_person(conn: sqlite3.Connection, actor: str, account_id: str, email: str, role: str) -> dict:
    """Add an admin or contributor (active staff of the account's school)."""
    account = get_account(conn, account_id)
    _require_status(account, LIVE_STATUSES, f"add {_a(role)} to")
    address = (
        eligible_staff(conn, account["school"], email, role) if role == "admin" else known_staff(conn, email, role)
    )
    current = people_of(conn, account["id"])
    if address in current[role]:
        raise InputError(f"{address} is already {_a(role)} of {account['id']}")
    if role == "contributor" and address in current["admin"]:
        raise InputError(f"{address} is already an admin of {account['id']}")
    if role == "admin" and address in current["contributor"]:
        _end_membership(conn, account["id"], address, "contributor")
    _insert_people(
        conn,
        account["id"],
        [address] if role == "admin" else [],
        [address] if role == "contributor" else [],
        clock.now_iso(),
    )
    _touch_case(conn, account["id"])
    events.record(conn, actor, f"account.{role}.add", address, account=account["id"], details={"email": address})
    return get_account(conn, account["id"])


def remove_person(conn: sqlite3.Connection, actor: str, account_id: str, email: str, role: str) -> dict:
    """Remove an admin or contributor; never the owner, never below two active admins."""
    account = get_account(conn, account_id)
    address = model.email(email)
    if address not in people_of(conn, account["id"])[role]:
        raise InputError(f"{address} is not {_a(role)} of {account['id']}")
    if role == "admin":
        if address == account["owner"]:
            raise InputError(
                f"{address} owns {account['id']}: transfer it first ('accountctl account transfer "
                f"{account['id']} --to EMAIL')"
            )
        active = eligible_admins(conn, account)
        if address in active and len(active) - 1 < 2 and account["status"] != "closed":
            raise InputError(
                f"removing {address} would leave {account['id']} with fewer than two eligible admins; "
                "add the replacement first"
            )
    _end_membership(conn, account["id"], address, role)
    _touch_case(conn, account["id"])
    events.record(conn, actor, f"account.{role}.remove", address, account=account["id"], details={"email": address})
    return get_account(conn, account["id"])


def transfer(
    conn: sqlite3.Connection, actor: str, account_id: str, to: str, reason: str | None = None, remove_old: bool = False
) -> dict:
    """Make `to` the owner (and an admin); with `remove_old`, drop the old owner as admin."""
    account = get_account(conn, account_id)
    _require_status(account, LIVE_STATUSES, "transfer")
    new_owner = eligible_staff(conn, account["school"], to, "new owner")
    old_owner = account["owner"]
    if new_owner == old_owner:
        raise InputError(f"{new_owner} already owns {account['id']}")
    people = people_of(conn, account["id"])
    if remove_old and old_owner:
        active = set(eligible_admins(conn, account)) | {new_owner}
        if old_owner in active and len(active) - 1 < 2:
            raise InputError(
                f"removing the old owner would leave {account['id']} with fewer than two eligible admins; "
                "add another admin first"
            )
    now = clock.now_iso()
    if new_owner in people["contributor"]:
        _end_membership(conn, account["id"], new_owner, "contributor")
    if new_owner not in people["admin"]:
        _insert_people(conn, account["id"], [new_owner], [], now)
    if remove_old and old_owner:
        _end_membership(conn, account["id"], old_owner, "admin")
    conn.execute("UPDATE accounts SET owner = ? WHERE id = ?", (new_owner, account["id"]))
    _touch_case(conn, account["id"])
    events.record(
        conn,
        actor,
        "account.transfer",
        new_owner,
        account=account["id"],
        details={
            "from": old_owner,
            "to": new_owner,
            "reason": model.optional_text(reason, "--reason"),
            "old_owner_removed": remove_old,
        },
    )
    return get_account(conn, account["id"])
