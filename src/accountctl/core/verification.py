"""`verify`: the history's hash chain and every approval's signature."""

from __future__ import annotations

import sqlite3

from accountctl.core import approvals, events


def verify(conn: sqlite3.Connection) -> list[str]:
    """Every problem found, as one sentence each; empty when the register checks out."""
    return events.verify_chain(conn) + approvals.verify_all(conn)
