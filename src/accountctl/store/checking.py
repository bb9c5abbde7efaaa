"""What every open checks of the history, once per machine: the events since this machine last
checked, and the decisions they record.

`verify` (core/verification.py) checks everything from scratch and reports each problem; an open
checks only what this machine has not checked before, and refuses (DamagedError, exit 4) history
that does not verify: events altered, removed, reordered or inserted, events not signed by their
actor with a key the signed membership says they held then, or membership records with no event
beside them. So an insider who rewrites and re-chains the history, or records events in another
person's name, is stopped at the first command on any machine, not only by `verify`.

Each decision (an approval or rejection) an event records is checked too: the approver signed
exactly that row with a key they held at that event, in their own signed save. Its digest
(chain.decision_digest) is remembered; the audit, `account activate` and everything else that counts
a decision ask the SQL function `checked_decision(id)`, which answers that digest (or NULL), and count
the decision only while its row still hashes to it. A decision row written or changed behind the
history's back is therefore never counted, however its other columns look.

How far this machine has checked, and the digests, are kept in the user's state folder
(store/witness.py `load_checked`), written only when the command succeeds.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field

from accountctl import membership as grants  # the module; `membership` is the state it derives
from accountctl import chain
from accountctl.model import APPROVER_ROLES
from accountctl.errors import DamagedError
from accountctl import crypto
from accountctl.store import db as dbmod

EVENT_COLUMNS = "seq, at, actor, action, target, account, details, prev_hash, hash, at_real, signature"


@dataclass
class Checked:
    """How far this machine has checked a register's history, and what it found of each decision.

    `decisions` maps a decision's id to the digest of the row that verified, or "" for one that did not.
    """

    seq: int = 0
    hash: str = chain.GENESIS
    decisions: dict[int, str] = field(default_factory=dict)
    changed: bool = False

    @classmethod
    def parse(cls, data: dict | None) -> "Checked":
        if not data:
            return cls()
        decisions = {}
        for item in filter(None, data.get("decisions", "").split(";")):
            number, _, digest = item.partition("=")
            if number.isdigit():
                decisions[int(number)] = digest
        return cls(data["seq"], data["hash"], decisions)

    def dump(self) -> dict:
        text = ";".join(f"{k}={v}" for k, v in sorted(self.decisions.items()))
        return {"seq": self.seq, "hash": self.hash, "decisions": text}


def check_history(reg, checked: Checked) -> Checked:
    """Check the events after `checked` (and the decisions they record); the new state, or DamagedError.

    `reg` is an open Register (store/register/): its database, membership and history archive.
    Starts from the first event when what was checked is no longer in the file (a restored copy).
    """
    conn = reg.db
    head = dbmod.get_meta(conn, "events_head")
    head_seq, head_hash = (int(head.split(" ", 1)[0]), head.split(" ", 1)[1]) if head else (0, chain.GENESIS)
    if (checked.seq, checked.hash) == (head_seq, head_hash):
        return checked
    if checked.seq and not _holds(reg, checked.seq, checked.hash, head_seq):
        checked = Checked()
    oldest = conn.execute("SELECT min(seq) FROM main.events").fetchone()[0]
    if oldest is None or oldest > checked.seq + 1:
        reg.load_history()  # older events than the main database holds: read the archive (once)
    table = dbmod.ALL_EVENTS if dbmod.history_attached(conn) else "main.events"
    membership = reg.membership
    record_seqs = {r["seq"]: r for r in membership.records if r["seq"] > checked.seq}
    decisions: list[dict] = []  # the events that record a decision (few), kept to check their rows
    walk = chain.ChainWalk(checked.hash, checked.seq + 1)
    runs = chain.SignatureWalk(
        membership.keys_of,
        crypto.verify_signature,
        reg.file_id,
        membership.upgraded_at,
        keep=lambda seq: seq in wanted,
    )
    wanted: set[int] = set()
    problems = []
    # One pass over a cursor, one event at a time: a first open checks tens of thousands.
    for row in conn.execute(f"SELECT {EVENT_COLUMNS} FROM {table} WHERE seq > ? ORDER BY seq", (checked.seq,)):
        event = _event(row)
        walk.step(event)
        if event["action"] in chain.DECISION_ACTIONS and isinstance((event["details"] or {}).get("decision"), int):
            decisions.append(event)
            wanted.add(event["seq"])
        runs.step(event["seq"], event["actor"], event["hash"], event["signature"])
        record = record_seqs.pop(event["seq"], None)
        if record is not None and (
            event["action"] != grants.RECORD_ACTIONS[record["kind"]] or event["actor"] != record["by"]
        ):
            problems.append(f"the {record['kind']} record by {record['by']} has no matching event {record['seq']}")
    problems = walk.problems + problems
    if (walk.expected - 1, walk.prev) != (head_seq, head_hash):
        problems.append(f"the history ends at event {walk.expected - 1} but event {head_seq} was recorded last")
    covered, unsigned = runs.finish()
    problems += unsigned
    problems += [f"the {r['kind']} record by {r['by']} has no matching event {r['seq']}" for r in record_seqs.values()]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise DamagedError(
            f"register altered: its history does not verify: {problems[0]}{more}; nothing was read or written "
            "('accountctl verify' lists every problem)"
        )
    result = Checked(head_seq, head_hash, dict(checked.decisions), changed=True)
    owners = membership.key_owners()
    for event in decisions:
        number = event["details"]["decision"]
        result.decisions[number] = _decision(conn, number, event, covered.get(event["seq"]), membership, owners)
    if not checked.seq and membership.upgraded_at:
        _decisions_before_upgrade(conn, membership, owners, result)
    return result


def _holds(reg, seq: int, digest: str, head_seq: int) -> bool:
    """Whether event `seq` with hash `digest` is still in the register (it is not after a restore)."""
    if seq > head_seq:
        return False
    conn = reg.db
    row = conn.execute("SELECT hash FROM main.events WHERE seq = ?", (seq,)).fetchone()
    if row is None:
        following = conn.execute("SELECT prev_hash FROM main.events WHERE seq = ?", (seq + 1,)).fetchone()
        if following is not None:
            # The next event names it, and the walk from there checks that link: no need to read the
            # archive (at 10,000 accounts, a save after an archiving one peaked at 155 MB reading it).
            return following[0] == digest
        reg.load_history()
        row = conn.execute(f"SELECT hash FROM {dbmod.ALL_EVENTS} WHERE seq = ?", (seq,)).fetchone()
    return row is not None and row[0] == digest


def _event(row: sqlite3.Row) -> dict:
    event = dict(zip(EVENT_COLUMNS.split(", "), row))
    try:
        event["details"] = json.loads(event["details"])
    except (TypeError, ValueError):
        event["details"] = None  # its hash cannot match: chain_problems reports it
    return event


def _decision(
    conn: sqlite3.Connection,
    number: int,
    event: dict,
    signed_with: bytes | None,
    membership: grants.Membership,
    owners: dict[bytes, str],
) -> str:
    """The digest of decision `number` when the event that recorded it vouches for it; "" when not."""
    row = conn.execute("SELECT * FROM approvals WHERE id = ?", (number,)).fetchone()
    where = conn.execute(
        "SELECT a.school, s.central FROM accounts a JOIN schools s ON s.id = a.school WHERE a.id = ?",
        (row["account"],) if row else ("",),
    ).fetchone()
    if row is None or where is None:
        return ""
    approval = dict(row)
    key = bytes(approval["public_key"])
    recorded = "approved" if event["action"] == "account.approve" else "rejected"
    if (
        approval["approver"] != event["actor"]
        or approval["decision"] != recorded
        or approval["case_hash"] != event["details"].get("case_hash")
        or key not in membership.keys_of(approval["approver"], event["seq"])
        or (signed_with is not None and signed_with != key)
        or chain.decision_problems(approval, owners.get(key), crypto.verify_signature)
        or (recorded == "approved" and chain.authority_problems(approval, where[0], bool(where[1]), APPROVER_ROLES))
    ):
        return ""
    return chain.decision_digest(approval)


def _decisions_before_upgrade(
    conn: sqlite3.Connection, membership: grants.Membership, owners: dict[bytes, str], result: Checked
) -> None:
    """Decisions made before a format-2 register was upgraded have no signed event: their key must be one
    the upgrade carried over as the approver's."""
    last = int(membership.records[0].get("last_decision", 0))
    for row in conn.execute(
        "SELECT ap.*, a.school AS account_school, s.central FROM approvals ap JOIN accounts a ON a.id = ap.account "
        "JOIN schools s ON s.id = a.school WHERE ap.id <= ? ORDER BY ap.id",
        (last,),
    ):
        approval = dict(row)
        key = bytes(approval["public_key"])
        spans = {s.key for s in membership.spans if s.email == approval["approver"]}
        ok = (
            key in spans
            and not chain.decision_problems(approval, owners.get(key), crypto.verify_signature)
            and not (
                approval["decision"] == "approved"
                and chain.authority_problems(approval, row["account_school"], bool(row["central"]), APPROVER_ROLES)
            )
        )
        result.decisions[approval["id"]] = chain.decision_digest(approval) if ok else ""


class DecisionLookup:
    """The SQL function `checked_decision(id)`: the digest of a decision as checked, or NULL.

    A decision made by this very command (its event is not signed until the save) is checked here
    against the actor's own key; it is remembered once the next open has checked its signed event.
    """

    def __init__(self, reg, checked: Checked):
        self.reg = reg
        self.checked = checked
        self.since = dbmod.events_head_seq(reg.db)  # events after this one are this command's own
        self.unsaved: dict[int, str] = {}

    def __call__(self, number) -> str | None:
        if not isinstance(number, int):
            return None
        digest = self.checked.decisions.get(number)
        if digest is None:
            digest = self.unsaved.get(number) or self._made_here(number)
            if digest:  # only a found one: a decision may yet be made under a number asked about before
                self.unsaved[number] = digest
        return digest or None

    def _made_here(self, number: int) -> str:
        reg = self.reg
        for row in reg.db.execute(
            f"SELECT {EVENT_COLUMNS} FROM main.events WHERE seq > ? AND actor = ? AND action IN (?, ?) ORDER BY seq",
            (self.since, reg.actor, *chain.DECISION_ACTIONS),
        ):
            event = _event(row)
            if isinstance(event["details"], dict) and event["details"].get("decision") == number:
                membership = grants.derive(reg.db)
                return _decision(reg.db, number, event, None, membership, membership.key_owners())
        return ""


def install(reg, checked: Checked) -> DecisionLookup:
    """Give the register's database the SQL function `checked_decision(id)` over what was checked."""
    lookup = DecisionLookup(reg, checked)
    reg.db.create_function("checked_decision", 1, lookup)
    return lookup
