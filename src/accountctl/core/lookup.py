"""Record lookups the hot paths need, kept apart so `otp` and `cred show` import nothing more."""

from __future__ import annotations

import sqlite3

from accountctl.errors import InputError


def get_account(conn: sqlite3.Connection, account_id: str) -> dict:
    """One account row as plain data, or InputError naming the unknown id."""
    row = conn.execute("SELECT * FROM accounts WHERE id = ?", ((account_id or "").strip().lower(),)).fetchone()
    if row is None:
        raise InputError(f"unknown account {account_id!r}")
    return dict(row)
