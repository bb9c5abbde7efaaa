"""Whether the password IT holds secures an account after a hijack (SPEC: a hijack's `password-rotated`
ticks only for a strong password not used on another account), from the credentials' plain columns:
SLT, who hold no vault key, record incident steps too."""

from __future__ import annotations

import sqlite3


def rotation_unsafe(conn: sqlite3.Connection, incident: dict) -> str | None:
    """Why the password IT holds does not secure a hijacked account, or None (also when IT holds none).

    A page people run through their own profiles has no password of its own: its admins change theirs,
    and the step is ticked by hand. Where IT holds one, the step stands for a password stored since
    the incident opened, strong, used on no other account and not one this account had before: what
    `cred set` ticks it by.
    """
    row = conn.execute(
        "SELECT password IS NOT NULL, password_set_at, password_weak, password_fp FROM credentials WHERE account = ?",
        (incident["account"],),
    ).fetchone()
    if row is None or not row[0]:
        return None
    if (row[1] or "") < incident["opened_at"]:
        return f"the password IT holds was stored on {(row[1] or '?')[:10]}, before the incident opened"
    if row[2]:
        return f"the password IT holds is weak ({row[2]})"
    also_on = reused_on(conn, incident["account"], row[3])
    if also_on:
        return f"the password IT holds is also used on {', '.join(also_on)}"
    before = conn.execute(
        "SELECT set_at FROM password_history WHERE account = ? AND password_fp = ? ORDER BY id DESC LIMIT 1",
        (incident["account"], row[3]),
    ).fetchone()
    if before:
        return f"the password IT holds is one this account had before (stored on {(before[0] or '?')[:10]})"
    return None


def reused_on(conn: sqlite3.Connection, account_id: str, fingerprint: str | None) -> list[str]:
    """The other live accounts whose stored password has this fingerprint (the same password)."""
    if not fingerprint:
        return []
    return [
        r[0]
        for r in conn.execute(
            "SELECT c.account FROM credentials c JOIN accounts a ON a.id = c.account WHERE c.password_fp = ? "
            "AND c.account <> ? AND c.password IS NOT NULL AND a.status NOT IN ('gone')",
            (fingerprint, account_id),
        )
    ]
