"""The register without secrets, as plain data for `export` (schemas/register-export.schema.json)."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterator

from accountctl import __version__, clock
from accountctl.core import directory, events
from accountctl.model import get_meta

EXPORT_FORMAT = "accountctl-register-export"
EXPORT_VERSION = 1


def _b64(value: bytes | None) -> str | None:
    return base64.b64encode(value).decode("ascii") if value is not None else None


def export(conn: sqlite3.Connection) -> dict:
    """Everything in the register but the credentials' values (only when and by whom they were set).

    Its staff, accounts, approvals and events are iterators, read as they are written (the large trust's
    took 83 MB as lists), over a register that must stay open, its history attached, until then.
    """
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "generator": f"accountctl {__version__}",
        "exported_at": clock.now_iso(),
        "trust": get_meta(conn, "trust"),
        "schools": directory.list_schools(conn),
        "staff": (directory.staff_row(r) for r in conn.execute("SELECT * FROM staff ORDER BY email")),
        "people": [
            dict(r)
            for r in conn.execute("SELECT email, name, access, granted_at, granted_by FROM people ORDER BY email")
        ],
        "accounts": _accounts(conn),
        "approvals": _approvals(conn),
        "waivers": [dict(r) for r in conn.execute("SELECT * FROM waivers ORDER BY id")],
        "mailboxes": _mailboxes(conn),
        "events": events.each_event(conn),
    }


def _accounts(conn: sqlite3.Connection) -> Iterator[dict]:
    people_by_account: dict[str, dict[str, list[str]]] = {}
    for row in conn.execute(
        "SELECT account, email, role FROM account_people WHERE removed_at IS NULL ORDER BY account, role, email"
    ):
        people_by_account.setdefault(row["account"], {"admin": [], "contributor": []})[row["role"]].append(row["email"])
    creds = {
        r["account"]: r
        for r in conn.execute(
            "SELECT account, username IS NOT NULL AS u, password IS NOT NULL AS p, password_set_at, password_set_by, "
            "totp IS NOT NULL AS t, totp_set_at, recovery IS NOT NULL AS r, recovery_set_at FROM credentials"
        )
    }
    via: dict[str, list[str]] = {}
    for account, record in conn.execute(
        "SELECT account, via FROM account_via WHERE removed_at IS NULL ORDER BY account, via"
    ):
        via.setdefault(account, []).append(record)
    for row in conn.execute("SELECT * FROM accounts ORDER BY id"):
        item = dict(row)
        item["via"] = via.get(row["id"], [])
        item["legacy"] = bool(item["legacy"])
        named = people_by_account.get(row["id"], {"admin": [], "contributor": []})
        item["admins"] = named["admin"]
        item["contributors"] = named["contributor"]
        c = creds.get(row["id"])
        item["credentials"] = {
            "username_held": bool(c["u"]) if c else False,
            "password_held": bool(c["p"]) if c else False,
            "password_set_at": c["password_set_at"] if c else None,
            "password_set_by": c["password_set_by"] if c else None,
            "totp_held": bool(c["t"]) if c else False,
            "totp_set_at": c["totp_set_at"] if c else None,
            "recovery_codes_held": bool(c["r"]) if c else False,
            "recovery_set_at": c["recovery_set_at"] if c else None,
        }
        yield item


def _approvals(conn: sqlite3.Connection) -> Iterator[dict]:
    for row in conn.execute(
        "SELECT id, account, decision, approver, at, note, case_hash, payload, public_key, signature "
        "FROM approvals ORDER BY id"
    ):
        item = dict(row)
        item["payload"] = json.loads(item["payload"])
        item["public_key"] = _b64(item["public_key"])
        item["signature"] = _b64(item["signature"])
        yield item


def _mailboxes(conn: sqlite3.Connection) -> list[dict]:
    """The mailboxes accounts are linked to, each with who reads it now."""
    members: dict[str, list[str]] = {}
    for mailbox, email in conn.execute(
        "SELECT mailbox, email FROM mailbox_members WHERE removed_at IS NULL ORDER BY mailbox, email"
    ):
        members.setdefault(mailbox, []).append(email)
    return [
        {**dict(r), "members": members.get(r["email"], [])}
        for r in conn.execute("SELECT email, school, kind, sign_in, created_at FROM mailboxes ORDER BY email")
    ]
