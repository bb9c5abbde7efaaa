"""Record lookups the hot paths need, kept apart so `otp` and `cred show` import nothing more."""

from __future__ import annotations

import sqlite3

from accountctl.errors import InputError


def get_account(conn: sqlite3.Connection, account_id: str) -> dict:
    """One account row as plain data, or InputError naming the unknown id and the nearest known ones."""
    wanted = (account_id or "").strip().lower()
    row = conn.execute("SELECT * FROM accounts WHERE id = ?", (wanted,)).fetchone()
    if row is None:
        from accountctl.errors import shown

        raise InputError(
            f"unknown account {shown(account_id or '')}" + nearest(conn, wanted, "SELECT id FROM accounts")
        )
    return dict(row)


def nearest(conn: sqlite3.Connection, wanted: str, known_sql: str) -> str:
    """' (did you mean X or Y?)' with the ids `known_sql` lists that are nearest to `wanted`, or ''."""
    from accountctl.model import did_you_mean

    return did_you_mean(wanted, [r[0] for r in conn.execute(known_sql)])
