"""The history's hash chain: how an event is written, hashed and signed, and how a run of them is
checked. Shared by the core, which records events and runs `verify`, and the store, which checks the
history on every open, appends a tail record's events and records its own upgrade event.

It imports nothing of the store or the core. The checks are pure functions over plain data; the
one cryptographic call they make (an Ed25519 check) is passed in. No secret is ever written here.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from typing import Callable, Iterable

from accountctl import clock
from accountctl.model import get_meta, set_meta

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
    """Append one event, chained to the last one; returns it. The save signs it (store/register/state.py)."""
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


def append_signed(
    conn: sqlite3.Connection,
    items: list[dict],
    membership,
    file_id: bytes,
    verify: Callable[[bytes, bytes, bytes], bool],
) -> None:
    """Add events read from a register's tail: they must continue the chain and end in their actor's signature.

    All are one person's, as a save's are; the last carries the signature that covers them all
    (store/register/state.py signs a save the same way). Raises ValueError, naming what is wrong.
    """

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
    if not any(verify(k, signature, message) for k in membership.keys_of(actor, seq)):
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


def head(conn: sqlite3.Connection) -> tuple[int, str]:
    """The last event's number and hash."""
    return _head(conn)


class ChainWalk:
    """Checks events one at a time, oldest first, from a known point: altered, removed, reordered or inserted.

    `prev` and `first_seq` are the hash and number the first event must follow. One pass over a
    cursor holds one event at a time (a first open checks the whole history: tens of thousands).
    """

    def __init__(self, prev: str, first_seq: int):
        self.prev, self.expected, self.problems = prev, first_seq, []

    def step(self, event: dict) -> None:
        if event["seq"] != self.expected:
            self.problems.append(f"event {self.expected} is missing (next is {event['seq']})")
            self.expected = event["seq"]
        if event["prev_hash"] != self.prev:
            self.problems.append(f"event {event['seq']} does not follow the event before it")
        try:
            altered = not isinstance(event["details"], dict) or event_hash(event, event["prev_hash"]) != event["hash"]
        except (TypeError, ValueError, AttributeError, KeyError):  # a value of a type no event is written with
            altered = True
        if altered:
            self.problems.append(f"event {event['seq']} was altered after it was written")
        self.prev = event["hash"]
        self.expected += 1


def chain_problems(rows: Iterable[dict], prev: str, first_seq: int) -> tuple[list[str], str, int]:
    """Altered, removed, reordered or inserted events among `rows` (oldest first), from a known point.

    Returns the problems, the last hash and the next number expected (see `ChainWalk`).
    """
    walk = ChainWalk(prev, first_seq)
    for event in rows:
        walk.step(event)
    return walk.problems, walk.prev, walk.expected


class SignatureWalk:
    """Which key covers each event, and the events their actor did not sign, one event at a time.

    Events come oldest first, starting after a signed event (or at the first). A save signs only its
    last event; the chain makes that signature cover the saver's earlier events in the same save, so
    an unsigned event must be followed, with nobody else in between, by a signed event of the same
    actor, with a key that actor held at that event. `keep` says which events' keys to remember in
    `covered` (all, by default).
    """

    def __init__(
        self,
        keys_of: Callable[[str, int], list[bytes]],
        verify: Callable[[bytes, bytes, bytes], bool],
        file_id: bytes,
        upgraded_at: int = 0,
        keep: Callable[[int], bool] | None = None,
    ):
        self.keys_of, self.verify, self.file_id, self.upgraded_at, self.keep = (
            keys_of,
            verify,
            file_id,
            upgraded_at,
            keep,
        )
        self.problems: list[str] = []
        self.covered: dict[int, bytes] = {}
        self.pending: list[tuple[int, str]] = []

    def step(self, seq: int, actor: str, digest: str, signature) -> None:
        if seq <= self.upgraded_at:
            return  # written before signed events existed (format 2)
        pending = self.pending
        if pending and pending[-1][1] != actor:
            self.problems.append(_unsigned(pending))
            pending.clear()
        pending.append((seq, actor))
        if signature is None:
            return
        try:
            message = event_message(self.file_id, digest)
        except (TypeError, ValueError):
            self.problems.append(f"event {seq} has an unreadable hash")
            pending.clear()
            return
        key = next((k for k in self.keys_of(actor, seq) if self.verify(k, bytes(signature), message)), None)
        if key is None:
            self.problems.append(f"event {seq} names {actor} but is not signed with a key {actor} held at the time")
        else:
            self.covered.update((s, key) for s, _ in pending if self.keep is None or self.keep(s))
        pending.clear()

    def finish(self) -> tuple[dict[int, bytes], list[str]]:
        if self.pending:
            self.problems.append(_unsigned(self.pending))
            self.pending = []
        return self.covered, self.problems


def signature_runs(
    rows: Iterable[tuple],
    keys_of: Callable[[str, int], list[bytes]],
    verify: Callable[[bytes, bytes, bytes], bool],
    file_id: bytes,
    upgraded_at: int = 0,
) -> tuple[dict[int, bytes], list[str]]:
    """Which key covers each event, and the events their actor did not sign (see `SignatureWalk`).

    `rows` are (seq, actor, hash, signature) oldest first.
    """
    walk = SignatureWalk(keys_of, verify, file_id, upgraded_at)
    for seq, actor, digest, signature in rows:
        walk.step(seq, actor, digest, signature)
    return walk.finish()


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


# -- format 5: events in two layers (docs/file-format.md F6) -------------------------------------------
# A skeleton (trust-level: every key holder checks the chain and signatures) commits to a body that is
# stored only in the scopes the event names. The salt keeps someone who cannot read a body from
# confirming a guess of it against its commitment.
LABEL_EVENT_BODY = b"accountctl/v5/event-body"
LABEL_EVENT_V5 = b"accountctl/v5/event"
BODY_FIELDS = ("seq", "salt", "at", "action", "target", "account", "details")
SKELETON_FIELDS = ("seq", "scopes", "actor", "at_real", "body", "wrote", "legacy")
# A format-4 event carried into format 5 (F11) keeps its own hash, which only its body can recompute;
# the upgrade's first skeleton commits, in its `legacy`, to every one of them, so none can be changed
# (say, its scopes, to hide its body from its school) without breaking the chain after it.
LEGACY_BODY_FIELDS = ("seq", "at", "action", "target", "account", "details")


def body_commitment(body: dict) -> str:
    """SHA-256 (hex) of a body under its label: what its skeleton holds."""
    return hashlib.sha256(LABEL_EVENT_BODY + canonical({k: body[k] for k in BODY_FIELDS})).hexdigest()


def skeleton_hash(skeleton: dict, prev_hash: str) -> str:
    """The chain's hash of a format-5 event: the previous hash and the skeleton's canonical JSON."""
    return hashlib.sha256(prev_hash.encode("ascii") + canonical({k: skeleton[k] for k in SKELETON_FIELDS})).hexdigest()


def split_event(event: dict, scopes: list[str], salt: str, wrote: list | None = None) -> tuple[dict, dict]:
    """An event (as `record` makes it) as its skeleton and its body; `scopes` are hex scope ids."""
    body = {k: event[k] for k in ("seq", "at", "action", "target", "account", "details")}
    body["salt"] = salt
    skeleton = {
        "seq": event["seq"],
        "scopes": sorted(set(scopes)),
        "actor": event["actor"],
        "at_real": event["at_real"],
        "body": body_commitment(body),
        "wrote": wrote or [],
        "legacy": "",
    }
    return skeleton, body


def legacy_split(event: dict, scopes: list[str]) -> tuple[dict, dict]:
    """A format-4 event (a row of its history) as a skeleton that keeps its hash and signature, and its body."""
    body = {k: event[k] for k in LEGACY_BODY_FIELDS}
    skeleton = {
        "seq": event["seq"],
        "scopes": sorted(set(scopes)),
        "actor": event["actor"],
        "at_real": event.get("at_real"),
        "format4": True,
        "prev_hash": event["prev_hash"],
        "hash": event["hash"],
    }
    if event.get("signature") is not None:
        skeleton["signature"] = bytes(event["signature"]).hex()
    return skeleton, body


def legacy_root(skeletons: list[dict]) -> str:
    """What the upgrade's first skeleton commits to: every format-4 skeleton before it, as it stands."""
    return hashlib.sha256(canonical([s for s in skeletons if s.get("format4")])).hexdigest()


def skeleton_message(file_id: bytes, digest: str) -> bytes:
    """What a format-5 save signs for its last event (its own label: a format-4 signature is no format-5 one)."""
    return LABEL_EVENT_V5 + file_id + bytes.fromhex(digest)


def skeleton_problems(skeletons: Iterable[dict], prev: str, first_seq: int) -> tuple[list[str], str, int]:
    """Skeletons altered, removed, reordered or inserted (oldest first), checkable by every key holder.

    Each skeleton carries `prev_hash` and `hash` beside its fields. Returns the problems, the last
    hash and the next number expected, as `chain_problems` does.
    """
    problems, expected, seen = [], first_seq, []
    for skeleton in skeletons:
        if not isinstance(skeleton["seq"], int) or isinstance(skeleton["seq"], bool):
            problems.append(f"event {expected} was altered after it was written")
            prev, expected = skeleton["hash"], expected + 1
            continue
        if skeleton["seq"] != expected:
            problems.append(f"event {expected} is missing (next is {skeleton['seq']})")
            expected = skeleton["seq"]
        if skeleton["prev_hash"] != prev:
            problems.append(f"event {skeleton['seq']} does not follow the event before it")
        try:
            if skeleton.get("format4"):  # its hash needs its body: its readers check it (body_problems)
                altered = not (isinstance(skeleton["hash"], str) and len(skeleton["hash"]) == 64)
            else:
                altered = skeleton_hash(skeleton, skeleton["prev_hash"]) != skeleton["hash"]
                if skeleton["legacy"] and skeleton["legacy"] != legacy_root(seen):
                    problems.append(f"event {skeleton['seq']}: the events from before the upgrade were changed")
        except (TypeError, ValueError, AttributeError, KeyError):
            altered = True
        if altered:
            problems.append(f"event {skeleton['seq']} was altered after it was written")
        seen.append(skeleton)
        prev = skeleton["hash"]
        expected += 1
    if any(s.get("format4") for s in seen) and not any(s.get("legacy") for s in seen if not s.get("format4")):
        problems.append("the events from before the upgrade are not committed to by the upgrade")
    return problems, prev, expected


def body_problems(skeletons: Iterable[dict], bodies: dict[int, dict], readable: set[str]) -> list[str]:
    """For a scope's readers: every skeleton naming a scope they read has its body, and it is that body.

    `bodies` are the bodies found in the segments opened, by number. A body dropped, altered, or put
    where no skeleton of a readable scope names it is a problem.
    """
    problems, named = [], set()
    for skeleton in skeletons:
        if not readable.intersection(skeleton["scopes"]):
            continue
        seq = skeleton["seq"]
        named.add(seq)
        body = bodies.get(seq)
        if body is None:
            problems.append(f"event {seq}'s record is missing from the school it names")
            continue
        try:
            if skeleton.get("format4"):
                event = {**{k: body[k] for k in LEGACY_BODY_FIELDS}, "actor": skeleton["actor"]}
                event["at_real"] = skeleton["at_real"]
                differs = body["seq"] != seq or event_hash(event, skeleton["prev_hash"]) != skeleton["hash"]
            else:
                differs = body["seq"] != seq or body_commitment(body) != skeleton["body"]
        except (TypeError, ValueError, AttributeError, KeyError):
            differs = True
        if differs:
            problems.append(f"event {seq}'s record was altered after it was written")
    problems += [f"a record of event {seq} is there but no event names it" for seq in sorted(set(bodies) - named)]
    return problems


def scope_problems(skeletons: Iterable[dict], may_name: Callable[[str, int], set[str] | None]) -> list[str]:
    """Events that name a school their actor's grant did not include at the time (F6).

    `may_name(actor, seq)` gives the hex scope ids the actor may name then (None: every school). The
    trust's scope (all zeros) is everyone's.
    """
    trust = "00" * 16
    problems = []
    for skeleton in skeletons:
        allowed = may_name(skeleton["actor"], skeleton["seq"])
        if allowed is None:
            continue
        outside = [s for s in skeleton["scopes"] if s != trust and s not in allowed]
        if outside:
            problems.append(f"event {skeleton['seq']} names a school {skeleton['actor']} could not read")
    return problems
