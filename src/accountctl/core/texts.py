"""Free text about people, kept outside the signed history so that it can be erased.

An incident's summary, its step notes, its outcome and the DPO's reason are each stored in `texts`,
encrypted under a key of their own; records and events hold only a reference (`text:` and 16 hex
digits) and the history holds the text's SHA-256. Erasing destroys the key and the ciphertext
(with SQLite's secure delete, so no freed page keeps them): every reader then shows "erased on DATE
by EMAIL: REASON", and the history's hash chain is untouched, so `verify` still passes.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3

from accountctl import clock, crypto

REF = re.compile(r"^text:[0-9a-f]{16}$")


def new_ref() -> str:
    """A reference for a text stored after the record that names it (format 5 files a text under its subject's school)."""
    return "text:" + crypto.random_bytes(8).hex()


def put(
    conn: sqlite3.Connection, text: str | None, subject: str, ref: str | None = None
) -> tuple[str | None, str | None]:
    """Store `text` under a new key of its own; returns (its reference, its SHA-256), or (None, None)."""
    if text is None:
        return None, None
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    ref = ref or new_ref()
    key = crypto.random_bytes(32)
    body = crypto.seal(key, text.encode("utf-8"), ref.encode("ascii"))
    conn.execute(
        "INSERT INTO texts(id, subject, key, body, sha256, at) VALUES (?,?,?,?,?,?)",
        (ref, subject, key, body, digest, clock.now_iso()),
    )
    return ref, digest


def read(conn: sqlite3.Connection, value):
    """The text a reference stands for, or what says it was erased; anything else is returned as it is."""
    if not isinstance(value, str) or not REF.match(value):
        return value
    row = conn.execute("SELECT * FROM texts WHERE id = ?", (value,)).fetchone()
    if row is None:
        return "(text missing)"
    if row["erased_at"]:
        return f"erased on {row['erased_at'][:10]} by {row['erased_by']}: {row['erase_reason']}"
    return crypto.open_sealed(bytes(row["key"]), bytes(row["body"]), value.encode("ascii")).decode("utf-8")


def resolve(conn: sqlite3.Connection, data):
    """`data` (an event's details, a record) with every text reference in it read."""
    if isinstance(data, dict):
        return {k: resolve(conn, v) for k, v in data.items()}
    if isinstance(data, list):
        return [resolve(conn, v) for v in data]
    return read(conn, data)


def erasable(conn: sqlite3.Connection, subject: str) -> int:
    """How many texts of `subject` are still readable."""
    return conn.execute("SELECT count(*) FROM texts WHERE subject = ? AND erased_at IS NULL", (subject,)).fetchone()[0]


def erase(conn: sqlite3.Connection, actor: str, subject: str, reason: str) -> int:
    """Destroy the keys (and ciphertexts) of every text of `subject`; returns how many."""
    conn.execute("PRAGMA secure_delete = ON")  # freed space is overwritten, not left in the body's pages
    cursor = conn.execute(
        "UPDATE texts SET key = NULL, body = NULL, erased_at = ?, erased_by = ?, erase_reason = ? "
        "WHERE subject = ? AND erased_at IS NULL",
        (clock.now_iso(), actor, reason, subject),
    )
    return cursor.rowcount


def problems(conn: sqlite3.Connection) -> list[str]:
    """`verify`'s check: each text not erased still hashes to what was recorded."""
    out = []
    for row in conn.execute("SELECT * FROM texts WHERE erased_at IS NULL ORDER BY id"):
        try:
            plain = crypto.open_sealed(bytes(row["key"]), bytes(row["body"]), row["id"].encode("ascii"))
        except Exception:  # noqa: BLE001 - any failure to open is the same finding
            out.append(f"text {row['id']} of {row['subject']} cannot be read")
            continue
        if hashlib.sha256(plain).hexdigest() != row["sha256"]:
            out.append(f"text {row['id']} of {row['subject']} differs from what was recorded")
    return out
