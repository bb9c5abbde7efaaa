"""The append-only, hash-chained history. No secret is ever written here."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator

# Writing events is the chain's (the store appends its own too); the core's history reads and lists them.
from accountctl.chain import (  # noqa: F401 (the core writes events through these names)
    GENESIS,
    HEAD_KEY,
    canonical,
    chain_problems,
    event_hash,
    head,
    record,
    record_many,
)
from accountctl.errors import DamagedError
from accountctl.model import ALL_EVENTS, get_meta


def _row_to_event(row: sqlite3.Row) -> dict:
    event = dict(row)
    try:
        event["details"] = json.loads(event["details"])
    except (TypeError, ValueError):
        raise DamagedError(
            f"register damaged or altered: the details of event {event['seq']} are not readable"
        ) from None
    event.pop("signature", None)  # bytes: verify reads it from the row; log and export show events, not signatures
    return event


def history(conn: sqlite3.Connection, account: str | None = None, limit: int | None = None) -> list[dict]:
    """Events oldest first, optionally for one account, optionally only the last `limit`.

    Needs the history archive attached (a register opened with `history=True`).
    """
    return list(each_event(conn, account, limit))


def each_event(conn: sqlite3.Connection, account: str | None = None, limit: int | None = None) -> Iterator[dict]:
    """`history`, one event at a time (`export` and `log --json` write 72,000 at the large trust)."""
    sql = f"SELECT * FROM {ALL_EVENTS}"
    args: list = []
    if account:
        sql += " WHERE account = ?"
        args.append(account.strip().lower())  # account ids are lower-case slugs, as `account show` accepts
    if limit:
        sql = f"SELECT * FROM ({sql} ORDER BY seq DESC LIMIT ?) ORDER BY seq"
        args.append(limit)
    else:
        sql += " ORDER BY seq"
    from accountctl.core import texts

    # Free text lives outside the history (core/texts.py): each reference is read, or says it was erased.
    for r in conn.execute(sql, args):
        event = _row_to_event(r)
        if "text:" in r["details"]:
            event["details"] = texts.resolve(conn, event["details"])
        yield event


def verify_chain(conn: sqlite3.Connection) -> list[str]:
    """Problems with the chain (empty when intact): altered, removed, reordered or inserted events."""
    rows = []
    for row in conn.execute(f"SELECT * FROM {ALL_EVENTS} ORDER BY seq"):
        try:
            rows.append(_row_to_event(row))
        except DamagedError:
            rows.append(dict(row, details=None))  # details no longer JSON: its hash cannot match, reported below
    problems, prev, expected_seq = chain_problems(rows, GENESIS, 1)
    last_seq = expected_seq - 1
    recorded = get_meta(conn, HEAD_KEY)
    if recorded is None:
        problems.append("the history's last event is not recorded: events may have been removed")
    elif recorded != f"{last_seq} {prev}":
        recorded = recorded.split(" ", 1)[0]
        problems.append(
            f"the history ends at event {last_seq} but event {recorded} was recorded last: "
            "events were removed or replaced at its end"
        )
    return problems
