"""`verify`: the history's hash chain and every approval's signature."""

from __future__ import annotations

import sqlite3

from accountctl.core import approvals, events


def verify(conn: sqlite3.Connection, actor: str | None = None, own_public_key: bytes | None = None) -> list[str]:
    """Every problem found, as one sentence each; empty when the register checks out.

    With the actor's own public key (derived from the private key in their slot), decisions in their
    name must carry that key: the key table lives in the body, where any key holder could plant a key
    under someone else's name, but only the real approver holds their private key.
    """
    problems = events.verify_chain(conn) + approvals.verify_all(conn)
    if actor and own_public_key:
        retired = {bytes(r[0]) for r in conn.execute(
            "SELECT public_key FROM signing_keys WHERE email = ? AND retired_at IS NOT NULL", (actor,))}
        for row in conn.execute("SELECT id, account, public_key FROM approvals WHERE approver = ?", (actor,)):
            key = bytes(row["public_key"])
            if key != own_public_key and key not in retired:
                problems.append(f"decision {row['id']} on {row['account']} is in your name but was not signed "
                                "with your key")
    return problems
