"""`verify`: the history's chain, every signature on it, every decision, and the last save.

What open already checked (the membership records against the header) is the ground this stands
on: the membership says which signing keys each person held, and from which event to which, so a
key planted in the body, or retired by anything but a signed revoke or recovery, signs nothing.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta

from accountctl import membership as grants  # the module; `membership` is the state it derives
from accountctl import chain
from accountctl.core import approvals, breaches, events, texts
from accountctl import crypto
from accountctl.model import ALL_EVENTS

CLOCK_SLACK = timedelta(days=1)


def verify(
    conn: sqlite3.Connection,
    membership: grants.Membership,
    file_id: bytes,
    save_problems: list[str] | None = None,
    history: tuple[list[str], dict[int, bytes]] | None = None,
) -> list[str]:
    """Every problem found, as one sentence each; empty when the register checks out.

    `save_problems` are the last save's (see `trust.verify_save`), checked by the caller that has the file.
    `history`: the chain's problems and which key signed each event, when the store checked the chain
    itself (format 5, whose chain is of skeletons: file-format.md F6).
    """
    if history is None:
        problems = events.verify_chain(conn)
        signed_by, event_problems = event_signatures(conn, membership, file_id)
        problems += event_problems
    else:
        problems, signed_by = list(history[0]), history[1]
    problems += _records_match_events(conn, membership, readable_only=history is not None)
    problems += approvals.verify_all(conn)
    problems += _decisions_signed_in_time(conn, membership, signed_by)
    problems += breaches.verify_all(conn, membership, signed_by)
    problems += texts.problems(conn)
    return problems + list(save_problems or [])


def event_signatures(
    conn: sqlite3.Connection, membership: grants.Membership, file_id: bytes
) -> tuple[dict[int, bytes], list[str]]:
    """Which key covers each event, and the problems: events their actor did not sign, real time going back.

    A save signs only its last event; the chain makes that signature cover the saver's earlier events
    in the same save (chain.signature_runs).
    """
    rows = conn.execute(f"SELECT seq, actor, hash, signature, at_real FROM {ALL_EVENTS} ORDER BY seq").fetchall()
    covered, problems = chain.signature_runs(
        (r[:4] for r in rows), membership.keys_of, crypto.verify_signature, file_id, membership.upgraded_at
    )
    return covered, _real_time_problems(
        (seq, at_real) for seq, *_, at_real in rows if seq > membership.upgraded_at
    ) + problems


def _real_time_problems(rows) -> list[str]:
    """Real times that go back by more than a day: a clock went backwards, or events were made to look older."""
    problems = []
    latest: datetime | None = None
    for seq, at_real in rows:
        if not at_real:
            continue
        real = _parse(at_real)
        if real is None:
            problems.append(f"event {seq} has an unreadable real time {at_real!r}")
        elif latest is not None and real < latest - CLOCK_SLACK:
            problems.append(
                f"event {seq} was recorded at {at_real}, more than a day before an earlier event: "
                "a clock went backwards, or events were made to look older"
            )
        else:
            latest = max(latest or real, real)
    return problems


def _parse(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, TypeError, AttributeError):
        return None


def _records_match_events(
    conn: sqlite3.Connection, membership: grants.Membership, readable_only: bool = False
) -> list[str]:
    """Each membership record stands beside the event that recorded it, by the same person.

    `readable_only`: only the events this person can read (format 5; the store matched every record's
    person against the event's skeleton, which everyone reads).
    """
    problems = []
    for record in membership.records:
        row = conn.execute(f"SELECT action, actor FROM {ALL_EVENTS} WHERE seq = ?", (record["seq"],)).fetchone()
        if row is None and readable_only:
            continue
        if row is None or row[0] != grants.RECORD_ACTIONS[record["kind"]] or row[1] != record["by"]:
            problems.append(f"the {record['kind']} record by {record['by']} has no matching event {record['seq']}")
    return problems


def _decisions_signed_in_time(
    conn: sqlite3.Connection, membership: grants.Membership, signed_by: dict[int, bytes]
) -> list[str]:
    """Each decision was made, in a signed event, with the key its approver held then."""
    made_in: dict[int, int] = {}
    for seq, details in conn.execute(
        f"SELECT seq, details FROM {ALL_EVENTS} WHERE action IN ('account.approve', 'account.reject')"
    ):
        decision = json.loads(details).get("decision")
        if isinstance(decision, int):
            made_in.setdefault(decision, seq)
    problems = []
    for row in conn.execute("SELECT id, account, approver, public_key FROM approvals ORDER BY id"):
        where = f"decision {row['id']} on {row['account']} by {row['approver']}"
        seq = made_in.get(row["id"])
        if seq is None:
            if membership.upgraded_at and row["id"] <= _last_decision_before_upgrade(conn, membership):
                # Made before signed events existed: the key must at least be one the upgrade carried over
                # as the approver's (their current key, or one a recovery had retired).
                if bytes(row["public_key"]) not in {s.key for s in membership.spans if s.email == row["approver"]}:
                    problems.append(f"{where} is signed with a key that was never theirs")
                continue
            problems.append(f"{where} has no signed event that made it")
            continue
        key = bytes(row["public_key"])
        if key not in membership.keys_of(row["approver"], seq):
            problems.append(f"{where} is signed with a key that was not theirs when it was made (event {seq})")
        elif signed_by.get(seq) != key:
            problems.append(f"{where} was not recorded by {row['approver']}'s own signed save")
    return problems


def _last_decision_before_upgrade(conn: sqlite3.Connection, membership: grants.Membership) -> int:
    record = membership.records[0]
    return int(record.get("last_decision", 0))
