"""`verify`: the history's hash chain and (once approvals exist) every approval's signature."""

from __future__ import annotations

import sqlite3

from accountctl.core import events


def verify(conn: sqlite3.Connection) -> list[str]:
    """Every problem found, as one sentence each; empty when the register checks out."""
    problems = events.verify_chain(conn)
    try:
        from accountctl.core import approvals
    except ImportError:  # approvals arrive with the accounts issue
        return problems
    return problems + approvals.verify_all(conn)
