"""The history's hash chain and what its signatures cover: shared by the store, which checks it on
every open, and the core, which writes events and runs `verify`.

Pure functions over plain data; the one cryptographic call (an Ed25519 check) is passed in, so this
module imports nothing of the store or the core.
"""

from __future__ import annotations

import hashlib
import json
from typing import Callable, Iterable

GENESIS = "0" * 64
LABEL_EVENT = b"accountctl/v3/event"
# The decisions an event records (its details name the decision's id): verify and the open match them.
DECISION_ACTIONS = ("account.approve", "account.reject")


def canonical(obj) -> bytes:
    """Canonical JSON bytes: sorted keys, no spaces, UTF-8 (what every hash and signature here covers)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def event_hash(event: dict, prev_hash: str) -> str:
    """SHA-256 over the event's canonical JSON and the previous event's hash.

    The real time is covered when the event has one (events from before format 3 do not).
    """
    body = {k: event[k] for k in ("seq", "at", "actor", "action", "target", "account", "details")}
    if event.get("at_real") is not None:
        body["at_real"] = event["at_real"]
    return hashlib.sha256(prev_hash.encode("ascii") + canonical(body)).hexdigest()


def event_message(file_id: bytes, digest: str) -> bytes:
    """What a save signs for its last event: the chain makes it cover every event before."""
    return LABEL_EVENT + file_id + bytes.fromhex(digest)


def chain_problems(rows: Iterable[dict], prev: str, first_seq: int) -> tuple[list[str], str, int]:
    """Altered, removed, reordered or inserted events among `rows` (oldest first), from a known point.

    `prev` and `first_seq` are the hash and number the first row must follow; returns the problems,
    the last hash and the next number expected.
    """
    problems = []
    expected = first_seq
    for event in rows:
        if event["seq"] != expected:
            problems.append(f"event {expected} is missing (next is {event['seq']})")
            expected = event["seq"]
        if event["prev_hash"] != prev:
            problems.append(f"event {event['seq']} does not follow the event before it")
        try:
            altered = not isinstance(event["details"], dict) or event_hash(event, event["prev_hash"]) != event["hash"]
        except (TypeError, ValueError, AttributeError, KeyError):  # a value of a type no event is written with
            altered = True
        if altered:
            problems.append(f"event {event['seq']} was altered after it was written")
        prev = event["hash"]
        expected += 1
    return problems, prev, expected


def signature_runs(
    rows: Iterable[tuple],
    keys_of: Callable[[str, int], list[bytes]],
    verify: Callable[[bytes, bytes, bytes], bool],
    file_id: bytes,
    upgraded_at: int = 0,
) -> tuple[dict[int, bytes], list[str]]:
    """Which key covers each event, and the events their actor did not sign.

    `rows` are (seq, actor, hash, signature) oldest first, starting after a signed event (or at the
    first). A save signs only its last event; the chain makes that signature cover the saver's
    earlier events in the same save, so an unsigned event must be followed, with nobody else in
    between, by a signed event of the same actor, with a key that actor held at that event.
    """
    problems: list[str] = []
    covered: dict[int, bytes] = {}
    pending: list[tuple[int, str]] = []
    for seq, actor, digest, signature in rows:
        if seq <= upgraded_at:
            continue  # written before signed events existed (format 2)
        if pending and pending[-1][1] != actor:
            problems.append(_unsigned(pending))
            pending = []
        pending.append((seq, actor))
        if signature is None:
            continue
        try:
            message = event_message(file_id, digest)
        except (TypeError, ValueError):
            problems.append(f"event {seq} has an unreadable hash")
            pending = []
            continue
        key = next((k for k in keys_of(actor, seq) if verify(k, bytes(signature), message)), None)
        if key is None:
            problems.append(f"event {seq} names {actor} but is not signed with a key {actor} held at the time")
        else:
            covered.update((s, key) for s, _ in pending)
        pending = []
    if pending:
        problems.append(_unsigned(pending))
    return covered, problems


def _unsigned(pending: list[tuple[int, str]]) -> str:
    first, last, actor = pending[0][0], pending[-1][0], pending[0][1]
    which = f"event {first}" if first == last else f"events {first} to {last}"
    return f"{which} in the name of {actor} are not signed by {actor}"


# -- decisions ----------------------------------------------------------------------------------
# The columns of a decision a check reads beside its signed payload (schemas: the approvals table).
DECISION_COLUMNS = ("account", "decision", "approver", "at", "note", "case_hash")


def decision_digest(approval: dict) -> str:
    """SHA-256 over everything a check of a decision reads: payload, signature, key and its columns.

    Decisions are never changed once made, so a machine that checked one remembers this digest and
    need not check its signature again while the row still hashes to it.
    """
    parts = [approval["payload"].encode("utf-8"), bytes(approval["signature"]), bytes(approval["public_key"])]
    parts += [str(approval[c]).encode("utf-8") for c in DECISION_COLUMNS]
    # Each part length-prefixed, so no two different rows hash the same bytes.
    return hashlib.sha256(b"".join(len(p).to_bytes(4, "big") + p for p in parts)).hexdigest()


def decision_problems(
    approval: dict, key_owner: str | None, verify: Callable[[bytes, bytes, bytes], bool]
) -> list[str]:
    """Whether a stored decision is what its approver signed, with a key that is theirs.

    `key_owner` is whose signing key `approval["public_key"]` is; `verify` checks an Ed25519 signature.
    """
    where = f"decision {approval['id']} on {approval['account']}"
    try:
        payload = json.loads(approval["payload"])
    except (TypeError, ValueError):
        return [f"{where}: its signed payload is not readable"]
    if not isinstance(payload, dict):
        return [f"{where}: its signed payload is not readable"]
    problems = []
    if not verify(bytes(approval["public_key"]), bytes(approval["signature"]), approval["payload"].encode("utf-8")):
        problems.append(f"{where}: the signature does not verify")
    if key_owner != approval["approver"]:
        problems.append(f"{where}: signed with a key that is not {approval['approver']}'s")
    for name in DECISION_COLUMNS:
        if payload.get(name) != approval[name]:
            problems.append(f"{where}: the stored {name} differs from what was signed")
    if isinstance(payload.get("case"), dict) and isinstance(payload.get("people"), dict):
        case = {"case": payload["case"], "people": payload["people"]}
        if hashlib.sha256(canonical(case)).hexdigest() != payload.get("case_hash"):
            problems.append(f"{where}: the signed business case does not match its hash")
    else:
        problems.append(f"{where}: the signed payload has no business case")
    return problems


def authority_problems(
    approval: dict, account_school: str, central: bool, approver_roles: tuple[str, ...]
) -> list[str]:
    """Whether the signer could decide on an account of `account_school`, as their signed payload says.

    SLT or headteacher (`approver_roles`) of that school, or the CEO; only the CEO for a central team.
    """
    try:
        payload = json.loads(approval["payload"])
    except (TypeError, ValueError):
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    roles = set(payload.get("approver_roles") or [])
    if "ceo" in roles:
        return []
    if central or payload.get("approver_school") != account_school or not roles & set(approver_roles):
        return [f"{approval['approver']} was not {'the CEO' if central else 'SLT or headteacher of ' + account_school}"]
    return []
