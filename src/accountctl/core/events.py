"""The append-only, hash-chained history. No secret is ever written here."""

from __future__ import annotations

import json
import sqlite3

from accountctl import clock
from accountctl.chain import GENESIS, canonical, chain_problems, event_hash, event_message  # noqa: F401 (one JSON for all)
from accountctl.errors import DamagedError
from accountctl.model import ALL_EVENTS, get_meta, set_meta

HEAD_KEY = "events_head"  # "SEQ HASH" of the last event: without it, deleting the newest events went unnoticed


def _head(conn: sqlite3.Connection) -> tuple[int, str]:
    """The last event's number and hash, from meta: appending never reads the (archived) history."""
    head = get_meta(conn, HEAD_KEY)
    if head is None:
        return 0, GENESIS
    seq, digest = head.split(" ", 1)
    return int(seq), digest


INSERT = (
    "INSERT INTO events(seq, at, actor, action, target, account, details, prev_hash, hash, at_real) "
    "VALUES (?,?,?,?,?,?,?,?,?,?)"
)

INSERT_SIGNED = (
    "INSERT INTO events(seq, at, actor, action, target, account, details, prev_hash, hash, at_real, signature) "
    "VALUES (?,?,?,?,?,?,?,?,?,?,?)"
)


def record(
    conn: sqlite3.Connection,
    actor: str,
    action: str,
    target: str | None = None,
    *,
    account: str | None = None,
    details: dict | None = None,
    at: str | None = None,
    at_real: str | None = None,
) -> dict:
    """Append one event, chained to the last one; returns it. The save signs it (store/register.py)."""
    seq, prev = _head(conn)
    seq += 1
    event = {
        "seq": seq,
        "at": at or clock.now_iso(),
        "actor": actor,
        "action": action,
        "target": target,
        "account": account,
        "details": details or {},
        "at_real": at_real or clock.real_now_iso(),
    }
    event["prev_hash"] = prev
    event["hash"] = event_hash(event, prev)
    conn.execute(
        INSERT,
        (
            seq,
            event["at"],
            actor,
            action,
            target,
            account,
            json.dumps(event["details"], sort_keys=True),
            prev,
            event["hash"],
            event["at_real"],
        ),
    )
    set_meta(conn, HEAD_KEY, f"{seq} {event['hash']}")
    return event


def append_signed(conn: sqlite3.Connection, items: list[dict], membership, file_id: bytes) -> None:
    """Add events read from a register's tail: they must continue the chain and end in their actor's signature.

    All are one person's, as a save's are; the last carries the signature that covers them all
    (store/register.py signs a save the same way). Raises ValueError, naming what is wrong.
    """
    from accountctl import crypto

    seq, prev = _head(conn)
    actors = {item["actor"] for item in items}
    if len(actors) != 1:
        raise ValueError("events of more than one person")
    rows = []
    for item in items:
        seq += 1
        if item["seq"] != seq or item["prev_hash"] != prev:
            raise ValueError(f"event {item['seq']} does not follow event {seq - 1}")
        if not isinstance(item["details"], dict) or event_hash(item, prev) != item["hash"]:
            raise ValueError(f"event {seq} does not match its hash")
        prev = item["hash"]
        rows.append(
            (
                seq,
                item["at"],
                item["actor"],
                item["action"],
                item["target"],
                item["account"],
                json.dumps(item["details"], sort_keys=True),
                item["prev_hash"],
                prev,
                item["at_real"],
                None,
            )
        )
    actor, signature = items[-1]["actor"], bytes.fromhex(items[-1]["signature"])
    message = event_message(file_id, prev)
    if not any(crypto.verify_signature(k, signature, message) for k in membership.keys_of(actor, seq)):
        raise ValueError(f"event {seq} names {actor} but is not signed with a key {actor} held at the time")
    rows[-1] = rows[-1][:-1] + (signature,)
    conn.executemany(INSERT_SIGNED, rows)
    set_meta(conn, HEAD_KEY, f"{seq} {prev}")


def record_many(conn: sqlite3.Connection, actor: str, items: list[tuple[str, str | None, str | None, dict]]) -> None:
    """Append many events (action, target, account, details) in one pass, for imports."""
    seq, prev = _head(conn)
    at, at_real = clock.now_iso(), clock.real_now_iso()
    rows = []
    for action, target, account, details in items:
        seq += 1
        event = {
            "seq": seq,
            "at": at,
            "actor": actor,
            "action": action,
            "target": target,
            "account": account,
            "details": details,
            "at_real": at_real,
        }
        digest = event_hash(event, prev)
        rows.append(
            (seq, at, actor, action, target, account, json.dumps(details, sort_keys=True), prev, digest, at_real)
        )
        prev = digest
    conn.executemany(INSERT, rows)
    if rows:
        set_meta(conn, HEAD_KEY, f"{seq} {prev}")


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


def head(conn: sqlite3.Connection) -> tuple[int, str]:
    """The last event's number and hash."""
    return _head(conn)


def history(conn: sqlite3.Connection, account: str | None = None, limit: int | None = None) -> list[dict]:
    """Events oldest first, optionally for one account, optionally only the last `limit`.

    Needs the history archive attached (a register opened with `history=True`).
    """
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
    return [_row_to_event(r) for r in conn.execute(sql, args)]


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
    head = get_meta(conn, HEAD_KEY)
    if head is None:
        problems.append("the history's last event is not recorded: events may have been removed")
    elif head != f"{last_seq} {prev}":
        recorded = head.split(" ", 1)[0]
        problems.append(
            f"the history ends at event {last_seq} but event {recorded} was recorded last: "
            "events were removed or replaced at its end"
        )
    return problems
