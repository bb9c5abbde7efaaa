"""Saving a format-5 register (file-format.md F5, F6, F8, F10): its pieces made from one database.

`save` makes a register's first generation from a body (one SQLite database, as format 4 holds it),
its key slots and the events of the save, and every later one re-encrypting only the schools that
changed (patched with the rows that changed) and copying the rest; it rotates a school's keys when
asked, and folds in the tail's reveals. `opening5` opens what it writes; `store/register/five.py`
is the register's door to both.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from dataclasses import dataclass, field
from collections.abc import Iterable
from typing import TYPE_CHECKING

from accountctl import chain, crypto, membership
from accountctl.errors import AccessError, DamagedError
from accountctl.model import set_meta
from accountctl.store import fileformat as ff, fileformat5 as ff5, lookup5, patching, segments as sg, split
from accountctl.store.register import keyrings as kr

if TYPE_CHECKING:
    from accountctl.store.opening5 import Tail

LABEL_VAULT_SLOTS = b"accountctl/v5/vault-slots"
CHAIN_START = "v5_chain_start"  # meta: "SEQ PREV_HASH" of the first skeleton
PENDING = "v5_pending"  # meta: reveals' records carried forward sealed, for a reader of their school to fold (F9)


@dataclass
class Image:
    """A register as its pieces (header, index, segments in order), with what its writer knows.

    `pieces` are what a store writes: the file store in order (`writelines`), PostgreSQL the changed
    segments only. `data` joins them, for a reader of the whole file.
    """

    pieces: list
    header: ff5.Header
    index: sg.Index
    keys: dict[tuple[bytes, int], bytes]
    seg_ids: dict[tuple[int, bytes], bytes]  # (kind, scope) -> segment id
    skeletons: list[dict] = field(default_factory=list)
    rings: dict[bytes, frozenset] = field(default_factory=dict)  # slot id -> the (scope, kind) keys sealed to it
    members_head: str = ""  # the membership chain's head when the keyrings were sealed
    epochs: dict[bytes, int] = field(default_factory=dict)  # scope -> its keys' epoch (1 when made)
    ids: dict[bytes, str] = field(default_factory=dict)  # scope -> digest of its ids in the lookup

    @property
    def data(self) -> bytes:
        joined = getattr(self, "_joined", None)
        if joined is None:
            joined = self._joined = b"".join(self.pieces)
        return joined

    def blobs(self) -> dict[bytes, memoryview]:
        """Each segment's ciphertext, without copying (copying 58 MB cost 33 ms a save).

        In PostgreSQL a segment nobody read is a placeholder that fetches its row when read (`_raw`).
        """
        return {
            entry.seg_id: piece if hasattr(piece, "load") else memoryview(piece)
            for entry, piece in zip(self.index.segments, self.pieces[2:])
        }


def _raw(blob):
    """A segment's bytes: fetched now if it is a placeholder for a row not read yet (PostgreSQL)."""
    return blob.load() if hasattr(blob, "load") else blob


def vault_mac(v_trust: bytes, header: ff5.Header) -> bytes:
    """HMAC-SHA256 over every vault slot (as format 4's, section 2a), keyed from the trust's vault key."""
    subkey = crypto.hkdf(v_trust, header.file_id, LABEL_VAULT_SLOTS)
    message = b"".join(
        s.slot_id + bytes([s.kind]) + s.tag + s.public
        for s in sorted(header.slots, key=lambda s: s.slot_id)
        if s.access == ff.ACCESS_VAULT
    )
    return hmac.new(subkey, message, hashlib.sha256).digest()


def _reach(state: membership.Membership, slot: ff.Slot, seq: int) -> sg.Reach:
    """What a slot may read and write, from the signed membership at event `seq`."""
    if slot.kind == ff.KIND_RECOVERY:
        return sg.Reach(None, vault=True, seals=True)
    member = state.members.get(slot.slot_id)
    if member is None:
        raise DamagedError(f"register altered: key slot {slot.slot_id.hex()[:8]} has no membership record")
    scopes = state.scopes_of(member.email, seq)
    vault = member.access == "vault"
    return sg.Reach(None if scopes is None else frozenset(bytes.fromhex(s) for s in scopes), vault=vault, seals=vault)


def _with_bodies(records: bytes, bodies: list[tuple[int, str]]) -> bytes:
    """A scope's records segment with the bodies of its events (F6: number, canonical JSON), as a table of its own."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.deserialize(records)
        conn.execute("CREATE TABLE IF NOT EXISTS event_bodies (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        conn.executemany("INSERT INTO event_bodies VALUES (?, ?)", bodies)
        conn.commit()
        return conn.serialize()
    finally:
        conn.close()  # as `_bodies_in`'s


BATCH = 250  # skeletons per trust history batch; the journal keeps fewer than twice as many (F8 step 3)
SCHOOL_BATCH_AT = 256  # event records a school's records segment holds before they move into a history batch


def _batch_out(records: bytes) -> tuple[bytes, bytes | None]:
    """F8 step 3: a school's records segment holding SCHOOL_BATCH_AT or more event records gives them all
    to a new history batch (a database of `event_bodies` only, written once); (records, batch or None).
    """
    conn = sqlite3.connect(":memory:")
    try:
        conn.deserialize(records)
        (count,) = conn.execute("SELECT count(*) FROM event_bodies").fetchone()
        if count < SCHOOL_BATCH_AT:
            return records, None
        rows = conn.execute("SELECT seq, body FROM event_bodies ORDER BY seq").fetchall()
        conn.execute("DELETE FROM event_bodies")
        conn.commit()
        conn.execute("VACUUM")  # or the moved records' pages stay in the segment, empty
        return conn.serialize(), _with_bodies(_empty_database(), rows)
    finally:
        conn.close()


def _empty_database() -> bytes:
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("PRAGMA page_size = 1024")  # as a school's segments (bench/README.md): small batches
        conn.execute("VACUUM")
        return conn.serialize()
    finally:
        conn.close()


def _earlier(previous: Image | None, scope: bytes, old_keys: dict) -> list[tuple[int, str]]:
    """The bodies a scope's records segment held, decrypted from `previous` (a school rebuilt whole keeps them).

    `old_keys`: the keys `previous` was written under (a `_Keys`: one the saver lacks is an access error).
    """
    kind = sg.TRUST_RECORDS if scope == sg.TRUST else sg.SCHOOL_RECORDS
    if previous is None or (kind, scope) not in previous.seg_ids:  # a school added since: nothing earlier
        return []
    return _bodies_of(previous, scope, old_keys[(scope, sg.KEY_K)])


def save(
    body: sqlite3.Connection,
    slots: list[ff.Slot],
    saver: ff.Slot,
    signing_private: bytes,
    events: list[tuple[dict, list[bytes]]],
    *,
    previous: Image | None = None,
    file_id: bytes | None = None,
    dirty: set[str] | None = None,
    saved_at: int = 0,
    state: membership.Membership | None = None,
    rotate: set[bytes] = frozenset(),
    rotate_vault: set[bytes] = frozenset(),
    legacy: Iterable[dict] = (),
    base: dict[bytes, tuple[bytes, bytes | None]] | None = None,
    tail: Tail | None = None,
    dirty_vault: set[str] | None = None,
    first_generation: int = 1,
    fresh: dict[tuple[bytes, int], bytes] | None = None,
    loaded: set[str] | None = None,
) -> Image:
    """A new generation of the register: re-encrypt the scopes in `dirty` (every one when None), copy the rest.

    `events` are the save's events (as `chain.record` makes them) with the scope ids each names; the
    last carries the save's `wrote` and its signature. Without `previous` it is the first generation:
    new keys for every scope. `dirty` holds school ids and split.TRUST (`split.dirty` of the open).
    The journal is rewritten by every save; the trust's records when they changed or an event names
    the trust. `state`: the membership, when the caller has it (deriving it again costs 10 ms).

    `rotate` (F10): scopes whose records key is replaced (`rotate_vault`: and vault key), at the next
    epoch; every segment of such a scope is encrypted again and every keyring sealed again, so a key
    someone kept opens nothing written from now on. Only a saver who reads every school can do it.

    `loaded`: the schools whose rows the body holds (None: every school); a reveal's record of any other
    school is carried forward sealed (F9), never folded into a segment rebuilt without its rows.
    The upgrade from format 4 gives `first_generation` (the format-4 generation after, so no machine
    takes it for a rollback) and, in `fresh`, keys it made for the first generation (the trust's vault
    key, which keys the password fingerprints it computes before the save).
    """
    state = state or membership.derive(body)
    file_id = previous.header.file_id if previous else file_id
    generation = previous.header.generation + 1 if previous else first_generation
    school_scopes = {school: bytes.fromhex(scope) for school, scope in state.school_scopes.items()}
    keys = _Keys(previous.keys if previous else {}, state)
    old_keys = _Keys(previous.keys if previous else {}, state)
    epochs = dict(previous.epochs) if previous else {}
    existing = {e.scope for e in previous.index.scopes} if previous else set()
    for scope in [sg.TRUST, *school_scopes.values()]:
        epochs.setdefault(scope, 1)
        if scope not in existing:  # a new school (or the first save): its keys are made here
            for kind in (sg.KEY_K, sg.KEY_V):
                keys[(scope, kind)] = (fresh or {}).get((scope, kind)) or crypto.random_bytes(32)
    for scope in set(rotate) | set(rotate_vault):
        epochs[scope] += 1
        keys[(scope, sg.KEY_K)] = crypto.random_bytes(32)
        if scope in rotate_vault:
            keys[(scope, sg.KEY_V)] = (fresh or {}).get((scope, sg.KEY_V)) or crypto.random_bytes(32)
    rotated = set(rotate) | set(rotate_vault)
    same = previous is not None and not rotated and {e.scope for e in previous.index.scopes} == set(epochs)
    scopes = (
        list(previous.index.scopes)
        if same
        else [
            sg.ScopeEntry(
                s,
                epochs[s],
                sg.key_id(file_id, s, epochs[s], sg.KEY_K, keys[(s, sg.KEY_K)]),
                sg.key_id(file_id, s, epochs[s], sg.KEY_V, keys[(s, sg.KEY_V)]),
            )
            for s in sorted({sg.TRUST, *school_scopes.values()})
        ]
    )
    seg_ids = dict(previous.seg_ids) if previous else {}
    old = {e.seg_id: e for e in previous.index.segments} if previous else {}
    old_blobs = previous.blobs() if previous else {}

    # the events: skeletons chained to the journal, bodies to the schools they name
    skeletons = list(previous.skeletons) if previous else []
    bodies: dict[bytes, list[tuple[int, str]]] = {}
    first = None  # format 4's first event: `legacy` may be an iterator (the upgrade's reads them as it goes)
    for event in legacy if previous is None else ():
        first = first or event
        scopes_of = [sg.TRUST if s == split.TRUST else school_scopes[s] for s in split.event_schools(body, event)]
        skeleton, event_body = chain.legacy_split(event, [scope.hex() for scope in scopes_of])
        skeletons.append(skeleton)
        for scope in scopes_of:
            bodies.setdefault(scope, []).append((event_body["seq"], chain.canonical(event_body).decode()))
    # F9: a reveal's record is folded into its school's records by a save that rewrites that school
    # (it reads it); any other save carries it forward as it was sealed, in the trust's records.
    carried, was_carried = _carry(body, tail, loaded, old_keys, school_scopes, bodies)
    if tail is not None and tail.skeletons:
        skeletons += tail.skeletons
    prev_hash = skeletons[-1]["hash"] if skeletons else events[0][0]["prev_hash"]
    made = []
    for event, scope_ids in events:
        skeleton, event_body = chain.split_event(event, [s.hex() for s in scope_ids], crypto.random_bytes(16).hex())
        made.append(skeleton)
        for scope in scope_ids:
            bodies.setdefault(scope, []).append((event_body["seq"], chain.canonical(event_body).decode()))

    if previous is None:
        # Where this register's skeleton chain starts: its first format-4 event, or without them the
        # body's last event before this save.
        start = first or events[0][0]
        set_meta(body, CHAIN_START, f"{start['seq']} {start['prev_hash']}")
    legacy_root = chain.legacy_root(skeletons) if previous is None and first is not None else None
    entries, blobs = [], {}

    def put(kind: int, scope: bytes, plaintext: bytes, seg_id: bytes | None = None) -> None:
        seg_id = seg_id or seg_ids.setdefault((kind, scope), crypto.random_bytes(16))
        key = keys[(scope, sg.KEY_V if kind == sg.SCHOOL_CREDENTIALS else sg.KEY_K)]
        entry, blob = sg.seal_segment(key, file_id, seg_id, kind, scope, epochs[scope], generation, plaintext)
        entries.append(entry)
        blobs[seg_id] = blob

    def keep(kind: int, scope: bytes) -> None:
        seg_id = seg_ids[(kind, scope)]
        entries.append(old[seg_id])
        blobs[seg_id] = old_blobs[seg_id]

    # F8 step 3: the oldest skeletons go into write-once batches, so that the journal every save
    # rewrites and every open parses stays short, as do a school's oldest event records; a rotation
    # of a scope re-encrypts its batches.
    for entry in previous.index.segments if previous else ():
        if entry.kind not in (sg.TRUST_BATCH, sg.SCHOOL_BATCH):
            continue
        if entry.scope in rotated:
            old_key = previous.keys[(entry.scope, sg.KEY_K)]
            put(
                entry.kind,
                entry.scope,
                sg.open_segment(old_key, file_id, entry, _raw(old_blobs[entry.seg_id])),
                entry.seg_id,
            )
        else:
            entries.append(entry)
            blobs[entry.seg_id] = old_blobs[entry.seg_id]
    while len(skeletons) >= 2 * BATCH:
        put(sg.TRUST_BATCH, sg.TRUST, chain.canonical(skeletons[:BATCH]), crypto.random_bytes(16))
        skeletons = skeletons[BATCH:]
    if carried != was_carried:
        set_meta(body, PENDING, json.dumps([[s.hex(), d.hex(), k, b.hex(), q] for s, d, k, b, q in carried]))
    if (
        previous is None
        or dirty is None
        or split.TRUST in dirty
        or sg.TRUST in bodies
        or sg.TRUST in rotated
        or carried != was_carried
    ):
        trust_records, _ = split.extract(body, split.TRUST)
        earlier = _earlier(previous, sg.TRUST, old_keys)
        put(sg.TRUST_RECORDS, sg.TRUST, _with_bodies(trust_records, earlier + bodies.get(sg.TRUST, [])))
    else:
        keep(sg.TRUST_RECORDS, sg.TRUST)
    touched = set()
    for school, scope in sorted(school_scopes.items()):
        if (
            previous is None
            or dirty is None
            or school in dirty
            or scope in bodies
            or scope in rotated
            or (sg.SCHOOL_RECORDS, scope) not in seg_ids
        ):
            if base and scope in base and base[scope][1] is not None and school not in patching.whole(body):
                records, secrets = patching.patch(body, school, *base[scope])
                records = _with_bodies(records, bodies.get(scope, []))
            else:
                records, secrets = split.extract(body, school)
                records = _with_bodies(records, _earlier(previous, scope, old_keys) + bodies.get(scope, []))
            records, batch = _batch_out(records)
            if batch is not None:
                put(sg.SCHOOL_BATCH, scope, batch, crypto.random_bytes(16))
            put(sg.SCHOOL_RECORDS, scope, records)
            if (
                previous is None
                or dirty_vault is None
                or school in dirty_vault
                or scope in rotated
                or (sg.SCHOOL_CREDENTIALS, scope) not in seg_ids  # a school added since
            ):
                put(sg.SCHOOL_CREDENTIALS, scope, secrets)
            else:
                keep(sg.SCHOOL_CREDENTIALS, scope)
            touched.add(school)
        else:
            keep(sg.SCHOOL_RECORDS, scope)
            keep(sg.SCHOOL_CREDENTIALS, scope)
    ids = _put_lookup(body, previous, school_scopes, keys, touched, rotated, put, keep, base)

    # keyrings: sealed afresh by the first generation, kept after (a rotation would reseal them)
    keyrings, rings = [], {}
    unchanged = previous is not None and previous.members_head == state.head and previous.index.scopes == scopes
    for slot in slots if not unchanged else []:
        wanted = frozenset(kr.keys_for(_reach(state, slot, 1 << 62), sg.Index(generation, scopes)))
        rings[slot.slot_id] = wanted
        kept = previous.index.keyring(slot.slot_id) if previous else None
        if kept is not None and previous.rings.get(slot.slot_id) == wanted and not rotated & {sk[0] for sk in wanted}:
            keyrings.append(kept)
            continue
        keyrings.append(
            kr.seal_keyring(
                slot.public, file_id, slot.slot_id, generation, {sk: (epochs[sk[0]], keys[sk]) for sk in wanted}
            )
        )
    if unchanged:  # nobody's grant changed: every keyring stays as it was (4 ms at 100 schools)
        keyrings, rings = list(previous.index.keyrings), dict(previous.rings)
    index = sg.Index(generation, scopes, sorted(keyrings, key=lambda k: k.slot_id), entries)
    # the journal last: the save's last skeleton lists what it wrote, and is signed
    if legacy_root is not None:
        made[0]["legacy"] = legacy_root
    made[-1]["wrote"] = [
        [w.part_id.hex(), w.kind, w.scope.hex(), w.version, w.digest.hex()]
        for w in sg.wrote_of_save(previous.index if previous else None, index)
    ]
    for skeleton in made:
        skeleton["prev_hash"] = prev_hash
        skeleton["hash"] = prev_hash = chain.skeleton_hash(skeleton, prev_hash)
    made[-1]["signature"] = crypto.sign(signing_private, chain.skeleton_message(file_id, prev_hash)).hex()
    skeletons += made
    put(sg.TRUST_JOURNAL, sg.TRUST, chain.canonical(skeletons))
    index = sg.Index(generation, scopes, index.keyrings, entries)
    index_bytes = sg.encode_index(index)
    header = ff5.Header(file_id, generation, len(index_bytes), hashlib.sha256(index_bytes).digest(), list(slots))
    header.saved_by, header.saved_at = saver.slot_id, saved_at
    if (sg.TRUST, sg.KEY_V) in keys:
        header.vault_mac = vault_mac(keys[(sg.TRUST, sg.KEY_V)], header)
    elif previous is not None and _vault_slots(previous.header) == _vault_slots(header):
        header.vault_mac = previous.header.vault_mac  # as format 4: only a custodian changes custodian slots
    else:
        raise AccessError("only a custodian can change who holds vault access")
    header.save_signature = crypto.sign(signing_private, ff5.signed_part(header))
    pieces = [ff5.encode_header(header), index_bytes, *(blobs[e.seg_id] for e in entries)]
    return Image(pieces, header, index, dict(keys), seg_ids, skeletons, rings, state.head, epochs, ids)


def pending(conn: sqlite3.Connection) -> list[tuple]:
    """The trust records' list of reveals' records carried forward sealed: (scope, header digest, k, bytes, seqs)."""
    from accountctl.model import get_meta

    try:
        items = json.loads(get_meta(conn, PENDING) or "[]")
        return [(bytes.fromhex(s), bytes.fromhex(h), int(k), bytes.fromhex(b), list(q)) for s, h, k, b, q in items]
    except (ValueError, TypeError):
        raise DamagedError("register damaged: its list of records carried forward is not readable") from None


def _carry(body, tail, loaded, old_keys, school_scopes, bodies) -> tuple[list, list]:
    """F9: which reveals' records this save folds (into `bodies`) and which it carries forward sealed.

    Returns the list to carry in the trust's records and the one they held (`pending`'s tuples). A
    record is folded by a save that loaded its school and holds its key (the key it was sealed under).
    """
    from accountctl.store import tail5

    was = pending(body)
    names = {scope: school for school, scope in school_scopes.items()}
    carried = []
    for scope, digest, k, sealed, seqs in was + (list(tail.sealed) if tail is not None else []):
        school = names.get(scope)
        if school is not None and (loaded is None or school in loaded) and (scope, sg.KEY_K) in old_keys:
            found = tail5.open_bodies(digest, k, scope, old_keys[(scope, sg.KEY_K)], sealed)
            bodies.setdefault(scope, []).extend((b["seq"], chain.canonical(b).decode()) for b in found)
        else:
            carried.append((scope, digest, k, sealed, list(seqs)))
    return carried, was


class _Keys(dict):
    """The scope keys a saver holds: asking for one it does not hold is an access error, not a crash."""

    def __init__(self, held: dict, state: membership.Membership):
        super().__init__(held)
        self.names = {bytes.fromhex(scope): school for school, scope in state.school_scopes.items()}

    def __missing__(self, key):
        scope, kind = key
        what = "the trust's vault" if scope == sg.TRUST else self.names.get(scope, scope.hex()[:8])
        raise AccessError(f"your key does not open {what}: this save would have to write it")


def _vault_slots(header: ff5.Header) -> list:
    return sorted((s.slot_id, s.kind, s.tag, s.public) for s in header.slots if s.access == ff.ACCESS_VAULT)


def _put_lookup(body, previous, school_scopes, keys, touched, rotated, put, keep, base=None) -> dict[bytes, str]:
    """The trust lookup (F4): rewritten with the entries of each school whose ids changed; else kept.

    Returns each school's digest of its ids, which the next save compares (the lookup itself is a
    megabyte at the large trust, and reading it costs more than the rest of a one-account save).
    The first save after an open has no digests yet: it takes a touched school's from its records as
    opened (`base`), so a command that changes no id does not rewrite the lookup.
    """
    ids = dict(previous.ids) if previous is not None else {}
    changed = {scope for scope in rotated if scope != sg.TRUST}
    for school in touched:
        scope = school_scopes[school]
        digest = lookup5.ids_digest(body, school)
        if scope not in ids and base and scope in base:
            ids[scope] = lookup5.ids_digest_of(base[scope][0], school)
        if ids.get(scope) != digest:
            changed.add(scope)
        ids[scope] = digest
    if (
        previous is not None
        and not changed
        and sg.TRUST not in rotated
        and (sg.TRUST_LOOKUP, sg.TRUST) in previous.seg_ids
    ):
        keep(sg.TRUST_LOOKUP, sg.TRUST)
        return ids
    old = b""
    if previous is not None and (sg.TRUST_LOOKUP, sg.TRUST) in previous.seg_ids:
        seg_id = previous.seg_ids[(sg.TRUST_LOOKUP, sg.TRUST)]
        entry = next(e for e in previous.index.segments if e.seg_id == seg_id)
        old = sg.open_segment(
            previous.keys[(sg.TRUST, sg.KEY_K)], previous.header.file_id, entry, _raw(previous.blobs()[seg_id])
        )
    every = previous is None or not old or sg.TRUST in rotated
    rebuilt = {
        scope: lookup5.entries_of(body, school, scope, keys[(scope, sg.KEY_K)])
        for school, scope in school_scopes.items()
        if every or scope in changed
    }
    put(sg.TRUST_LOOKUP, sg.TRUST, lookup5.update(old, rebuilt))
    return ids


def _bodies_of(image: Image, scope: bytes, key: bytes) -> list[tuple[int, str]]:
    """The event bodies a scope's records segment holds (the writer re-encrypting it keeps them)."""
    seg_id = image.seg_ids[(sg.TRUST_RECORDS if scope == sg.TRUST else sg.SCHOOL_RECORDS, scope)]
    entry = next(e for e in image.index.segments if e.seg_id == seg_id)
    plain = sg.open_segment(key, image.header.file_id, entry, _raw(image.blobs()[seg_id]))
    return sorted(_bodies_in(plain).items())


def _bodies_in(records: bytes, since: int = -1) -> dict[int, str]:
    """The event bodies a records segment holds (after event `since`)."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.deserialize(records)
        return {row[0]: row[1] for row in conn.execute("SELECT seq, body FROM event_bodies WHERE seq > ?", (since,))}
    except sqlite3.DatabaseError:
        raise DamagedError("register damaged: a records segment's event records are not readable") from None
    finally:
        # Closed now: a connection sits in a reference cycle (its statement cache), and a command runs
        # with the cyclic collector off (cli.main), so each would keep its segment's copy until exit.
        conn.close()
