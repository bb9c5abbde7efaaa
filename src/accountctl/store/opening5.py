"""Opening a format-5 register (file-format.md F7): from its bytes, or by need from a file's ranges or PostgreSQL's rows.

What an open does with one person's key slot: check the header, the index, the keyring, the signed
membership, the save signature, the skeleton chain and every save's `wrote` (only what this
machine has not checked before), the tail's reveals, then decrypt and merge only the schools that
person reads, and check their events' records. Saving is `format5`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass, field

from accountctl import chain, crypto, membership
from accountctl.errors import DamagedError
from accountctl.model import get_meta, set_meta
from accountctl.store import fileformat as ff, fileformat5 as ff5, lookup5, patching, segments as sg, split, tail5
from accountctl.store.format5 import CHAIN_START, Image, _bodies_in, _reach, pending, vault_mac
from accountctl.store.register import keyrings as kr


# Inside the agent: every open keeps its schools' plaintext, which `reuse` takes over after another save.
KEEP_PLAIN = False


@dataclass(frozen=True)
class Checked:
    """What this machine has checked of a register (F6, section 8c): up to which event, and what it found."""

    seq: int
    hash: str
    known: dict  # the `wrote` map at that event
    members_head: str  # the membership chain's head whose signatures were checked
    # Digests of the records segments whose rows this slot found to be their own school's (split.foreign),
    # the trust's among them: under the same trust records, a segment with one of them is not checked again.
    sound: frozenset[bytes] = frozenset()


@dataclass
class Opened:
    """What one person's open gives: the merged database of what they read, and what was checked."""

    header: ff5.Header
    index: sg.Index
    conn: sqlite3.Connection
    membership: membership.Membership
    schools: set[str]  # the schools loaded
    all_schools: set[str]
    plain: dict[bytes, tuple[bytes, bytes | None]] = field(default_factory=dict)  # scope -> its segments as read
    checked: Checked | None = None  # for the machine to keep: the next open checks only what is newer
    tail: "Tail | None" = None  # the reveals after the last save, for the next save to fold in
    ring: dict = field(default_factory=dict)  # this person's keys: (scope, kind) -> (epoch, key)
    journal: list[dict] = field(default_factory=list)  # the saved skeletons (the tail's not among them)
    older: object = list  # () -> the skeletons in the trust's history batches, before the journal (read when asked)
    readable: set[str] = field(default_factory=set)  # the schools the key opens (`schools` may be fewer: `find`)
    tail_end: int = 0  # a file's: where its last whole tail record ends (a reveal appends there)
    tail_count: int = 0  # the tail's records (a file's) or rows (PostgreSQL's) after this generation
    carried: dict = field(default_factory=dict)  # seq -> body of reveals carried forward sealed (F9) that it opened
    reread: object = None  # () -> every body again, a segment at a time, for an open that kept no plaintext (`keep`)
    legacy: set = field(default_factory=set)  # central schools whose segment holds their staff (`split.holds_staff`)
    batch_texts: object = tuple  # () -> the bodies in the history batches of the schools loaded, a batch at a time

    def texts(self, batches: bool = True) -> dict[int, str]:
        """Every event body this person reads, by event (decrypted at the open; read out only when asked).

        Without `batches`, not those in the schools' history batches (`batch_texts`).
        """
        out: dict[int, str] = {}
        for part in self.each_text(batches):
            out.update(part)
        return out

    def each_text(self, batches: bool = True):
        """`texts` a segment at a time (a later one's record of an event wins), so that a reader that keeps
        only some of them never holds them all."""
        if self.reread is not None:  # an open that kept no plaintext: decrypt the schools again
            yield from self.reread()
        else:
            for records, _ in self.plain.values():
                yield _bodies_in(records)
        if batches:
            yield from self.batch_texts()
        yield self.carried

    def as_image(self, data: bytes) -> Image:
        """What this person's next save needs of the register they opened (from the file's bytes).

        Only their own keys: a save that would write a school they do not read is refused.
        """
        raw_header = ff5.encode_header(self.header)
        index_bytes = sg.encode_index(self.index)
        view = memoryview(data)
        start = len(raw_header) + len(index_bytes)
        if view[: len(raw_header)] != raw_header or view[len(raw_header) : start] != index_bytes:
            raise DamagedError("register changed since it was opened")
        blobs, at = [], start
        for entry in self.index.segments:
            blobs.append(view[at : at + entry.length])
            at += entry.length
        return Image(
            [raw_header, index_bytes, *blobs],
            self.header,
            self.index,
            {scope_kind: key for scope_kind, (_epoch, key) in self.ring.items()},
            {(e.kind, e.scope): e.seg_id for e in self.index.segments if e.kind in sg.ONE_PER_SCOPE},
            list(self.journal),
            {},
            self.membership.head,
            {e.scope: e.epoch for e in self.index.scopes},
        )


def open_image(
    data: bytes,
    slot_id: bytes,
    x25519_private: bytes,
    checked: Checked | None = None,
    write: bool = True,
    find: tuple[str, str] | None = None,
    reuse: Opened | None = None,
    keep: bool = True,
) -> Opened:
    """Open a format-5 register's bytes with one key slot's private key (F7); raises DamagedError."""
    header, raw_header = ff5.parse_header(data)
    index, _ = ff5.read_index(data, header, raw_header)
    view = memoryview(data)[len(raw_header) + header.index_len :]
    offsets = index.offsets()
    records, used = ff.split_tail(view[index.segments_length() :])

    def fetch(entry: sg.SegmentEntry) -> memoryview:
        return view[offsets[entry.seg_id] : offsets[entry.seg_id] + entry.length]

    tail = [bytes(r) for r in records]
    opened = open_parts(
        header, index, fetch, slot_id, x25519_private, checked, write, find, tail, raw_header, reuse, keep
    )
    opened.tail_end = len(raw_header) + header.index_len + index.segments_length() + used
    opened.tail_count = len(records)
    return opened


def open_parts(
    header: ff5.Header,
    index: sg.Index,
    fetch,
    slot_id: bytes,
    x25519_private: bytes,
    checked: Checked | None = None,
    write: bool = True,
    find: tuple[str, str] | None = None,
    tail: list[bytes] = (),
    raw_header: bytes = b"",
    reuse: Opened | None = None,
    keep: bool = True,
) -> Opened:
    """Open a register whose header and index are read and checked, fetching only the segments it needs.

    `fetch(entry)` gives a segment's ciphertext (from the file, or one row from PostgreSQL); each is
    checked against the index's digest before it is decrypted. `checked`: what this machine checked
    before; then only newer events are checked, and the event it stopped at must still be the same
    one (the chain pins every event before it), as section 8c does for format 4. Without `write`
    (a command that only reads), no triggers are set: a read-only open has nothing to guard or track,
    and the database is made read-only instead. `find` ("account", ID): load only the school the trust
    lookup names for that id (all the schools the person reads when it names none of them). `tail`:
    the records after the segments (F9, reveals), bound to `raw_header`; their events are checked as
    the journal's, and their records by the readers of their school.

    `reuse`: this slot's read-only open of an earlier generation (the agent's, after another process
    saved). When the trust's records and every key are as they were, its database is taken over and
    only the schools whose segments changed are decrypted and swapped in (`split.replace_school`);
    every check above still runs, from the event that open checked. `reuse` must not be used after.
    Without `keep`, the schools' plaintext is not kept after the merge (a command that reads neither
    history nor saves): `Opened.texts` then decrypts them again, while the segments can be fetched.
    """
    slot = next((s for s in header.slots if s.slot_id == slot_id), None)
    entry = index.keyring(slot_id)
    if slot is None or entry is None:
        raise DamagedError("register damaged: your key slot has no keyring")
    ring = kr.open_keyring(x25519_private, header.file_id, entry)  # F7 step 9
    kr.check_key_ids(ring, index, header.file_id, slot_id)  # 9a

    def plain(kind: int, scope: bytes) -> tuple[sg.SegmentEntry, bytes]:
        entry = next(e for e in index.segments if e.kind == kind and e.scope == scope)
        key = kr.keys_of(ring, scope, entry.key_kind)
        if key is None:
            raise DamagedError(f"register damaged: your keyring lacks the key of {entry.name()}")
        return entry, sg.open_segment(key, header.file_id, entry, fetch(entry))

    reuse = reuse if _reusable(reuse, index, write) else None
    if reuse is not None:  # the same trust records (their digest is in the signed index): the same rows
        checked, trust_plain, conn = reuse.checked, reuse.plain[sg.TRUST][0], reuse.conn
        conn.execute("PRAGMA query_only = OFF")
    else:
        _, trust_plain = plain(sg.TRUST_RECORDS, sg.TRUST)  # 10
        conn = split.load(trust_plain)
    trust_digest = next(e.digest for e in index.segments if e.kind == sg.TRUST_RECORDS)
    # Whose a staff row is depends on the trust's `schools` (central): other trust records, all checked again.
    sound = checked.sound if checked is not None and trust_digest in checked.sound else frozenset()
    state = membership.load(conn, header.file_id, verified_head=checked.members_head if checked else None)  # 13
    saver = next((s for s in header.slots if s.slot_id == header.saved_by), None)
    saver_keys = _signing_keys(state, saver)
    if not any(crypto.verify_signature(k, header.save_signature, ff5.signed_part(header)) for k in saver_keys):  # 13a
        raise DamagedError("register altered: the last save is not signed by the key slot it names")
    _, journal = plain(sg.TRUST_JOURNAL, sg.TRUST)
    skeletons = _skeletons(journal)
    older = _Older(index, header.file_id, fetch, kr.keys_of(ring, sg.TRUST, sg.KEY_K))
    if checked is None or not any(s.get("seq") == checked.seq for s in skeletons):
        skeletons = older() + skeletons  # a machine that has not checked the journal's start reads the batches
    start = (get_meta(conn, CHAIN_START) or "").split(" ")
    if len(start) != 2 or not start[0].isdigit():
        raise DamagedError("register damaged: where its history starts is not recorded")
    first_seq, prev, known, new = int(start[0]), start[1], {}, skeletons
    if checked is not None:
        at = next((n for n, s in enumerate(skeletons) if s.get("seq") == checked.seq), None)
        if at is None or skeletons[at].get("hash") != checked.hash:
            raise DamagedError(
                f"register altered: its history does not verify: event {checked.seq} is not the one this "
                "machine checked (rolled back, or rewritten since)"
            )
        first_seq, prev, known, new = checked.seq + 1, checked.hash, dict(checked.known), skeletons[at + 1 :]
    known = _check_history(new, state, header, index, first_seq, prev, known)  # 13b, 13c
    reveals = _read_tail(tail, raw_header, ring, skeletons, state, header, index, known)  # 14a
    journal = skeletons[len(older.found) :]  # what the next save rewrites: the journal, without the batches
    skeletons, new = skeletons + reveals.skeletons, new + reveals.skeletons
    reach = _reach(state, slot, 1 << 62)
    kr.check_reach(ring, reach, index, slot_id)  # 13d
    if slot.access == ff.ACCESS_VAULT and not hmac.compare_digest(  # 14
        vault_mac(kr.keys_of(ring, sg.TRUST, sg.KEY_V), header), header.vault_mac
    ):
        raise DamagedError("register altered: its custodian key slots are not the ones the vault key vouches for")
    schools = {school for school, scope in state.school_scopes.items() if reach.reads(bytes.fromhex(scope))}
    readable = set(schools)
    if find is not None:
        held = {
            bytes.fromhex(state.school_scopes[s]): kr.keys_of(ring, bytes.fromhex(state.school_scopes[s]), sg.KEY_K)
            for s in schools
        }
        found = lookup5.find(plain(sg.TRUST_LOOKUP, sg.TRUST)[1], held, *find)
        if found is not None:
            schools = {s for s in schools if state.school_scopes[s] == found.hex()}
    opened_scopes = {sg.TRUST.hex()} | {state.school_scopes[s] for s in schools}
    since = checked.seq if checked is not None else -1  # the bodies of events checked before were checked then
    texts = {sg.TRUST: _bodies_in(trust_plain, since)}
    plain_parts = {}
    same = _same_segments(reuse, index) if reuse is not None else set()
    batches: dict[bytes, list[sg.SegmentEntry]] = {}
    for entry in index.segments:
        if entry.kind == sg.SCHOOL_BATCH:
            batches.setdefault(entry.scope, []).append(entry)

    def batch_bodies(entry: sg.SegmentEntry, after: int = -1) -> dict[int, str]:
        key = kr.keys_of(ring, entry.scope, sg.KEY_K)
        if key is None:
            raise DamagedError(f"register damaged: your keyring lacks the key of {entry.name()}")
        return _bodies_in(sg.open_segment(key, header.file_id, entry, fetch(entry)), after)

    # A batch that was in the index this machine checked holds no record newer than it checked.
    checked_parts = checked.known if checked is not None else {}
    # Each school is merged as soon as it is decrypted: without `keep`, no more than a batch of
    # schools' plaintext is held at once.
    merged = {trust_digest}
    central = {row[0] for row in conn.execute("SELECT id FROM main.schools WHERE central")}
    legacy = set()  # central schools whose segment holds their staff rows (`split.holds_staff`)
    with split.merging(conn) if reuse is None and len(schools) > 1 else _one_by_one(conn) as add:
        for school in sorted(schools):  # 15
            scope = bytes.fromhex(state.school_scopes[school])
            if scope in same:  # as that open decrypted it, and checked every body and row in it
                plain_parts[scope] = reuse.plain[scope]
                legacy |= reuse.legacy & {school}
                merged.add(next(e.digest for e in index.segments if e.kind == sg.SCHOOL_RECORDS and e.scope == scope))
                continue
            entry, records = plain(sg.SCHOOL_RECORDS, scope)
            secrets = plain(sg.SCHOOL_CREDENTIALS, scope)[1] if reach.vault else None
            if school in central and split.holds_staff(records):
                legacy.add(school)
            if reuse is not None:
                split.replace_school(conn, school, records, secrets)
            else:
                add(school, records, secrets, entry.digest not in sound)
            merged.add(entry.digest)
            if keep:
                plain_parts[scope] = (records, secrets)
            texts[scope] = _bodies_in(records, since)
            for entry in batches.get(scope, ()):
                before = checked_parts.get(entry.seg_id)
                if before is None or (before.version, before.digest) != (entry.version, entry.digest):
                    texts[scope].update(batch_bodies(entry, since))
            del records, secrets
    carried = {
        b["seq"]: chain.canonical(b).decode()
        for found in pending_bodies(conn, ring, {bytes.fromhex(h) for h in opened_scopes}).values()
        for b in found
    }
    texts[b"carried"] = {seq: text for seq, text in carried.items() if seq > since}
    readable_scopes = {bytes.fromhex(h) for h in opened_scopes}
    bodies = _Bodies({seq: text for found in texts.values() for seq, text in found.items() if seq > since})
    bodies.parsed.update(
        {b["seq"]: b for scope, found in reveals.bodies.items() if scope in readable_scopes for b in found}
    )
    problems = chain.body_problems(new, bodies, opened_scopes)  # 16a
    del bodies
    if problems:
        raise DamagedError(f"register altered: its history does not verify: {problems[0]}")
    # The chain's head is the journal's, not the trust records' (which a save need not rewrite).
    set_meta(conn, chain.HEAD_KEY, f"{skeletons[-1]['seq']} {skeletons[-1]['hash']}")
    if write:
        split.guard(conn, schools)
        patching.track(conn)
    else:
        conn.execute("PRAGMA query_only = ON")
    # What this machine has checked is the saved history: the tail's reveals, which the next save
    # folds in, are checked again by every open until then.
    last = journal[-1]
    now = Checked(last["seq"], last["hash"], known, state.head, frozenset(merged))
    if schools != readable:  # bodies of the schools not loaded were not checked: the next full open checks them
        now = checked
    plain_parts[sg.TRUST] = (trust_plain, None)
    opened = Opened(
        header,
        index,
        conn,
        state,
        schools,
        set(state.school_scopes),
        plain_parts,
        now,
        reveals,
        ring,
        journal,
        older,
        readable,
    )
    opened.carried = carried
    opened.legacy = legacy
    if not keep:

        def reread():
            yield _bodies_in(trust_plain)
            for school in schools:
                yield _bodies_in(plain(sg.SCHOOL_RECORDS, bytes.fromhex(state.school_scopes[school]))[1])

        opened.reread = reread

    def batch_texts():
        for school in schools:
            for entry in batches.get(bytes.fromhex(state.school_scopes[school]), ()):
                yield batch_bodies(entry)

    opened.batch_texts = batch_texts
    return opened


class _Bodies:
    """Event records by number, each parsed when `chain.body_problems` checks it and not kept: a machine's
    first open of the large trust checks 72,000, which parsed at once took 123 MiB more."""

    def __init__(self, texts: dict[int, str]):
        self.texts, self.parsed = texts, {}  # `parsed`: records that come parsed (the tail's), which win

    def get(self, seq: int) -> dict | None:
        if seq in self.parsed:
            return self.parsed[seq]
        text = self.texts.get(seq)
        if text is None:
            return None
        try:
            return json.loads(text)
        except ValueError:
            raise DamagedError("register damaged: a records segment's event records are not readable") from None

    def __iter__(self):
        return iter(self.texts.keys() | self.parsed.keys())


@contextmanager
def _one_by_one(conn: sqlite3.Connection):
    """`split.merging`'s shape for one school, or for swaps (`reuse`): nothing batched, no indexes rebuilt."""
    yield lambda school, records, secrets, check=True: split.merge(conn, school, records, secrets, check)


def _reusable(reuse: Opened | None, index: sg.Index, write: bool) -> bool:
    """Whether an earlier open's database can be brought up to this index by swapping schools (`open_parts`)."""
    if reuse is None or write or reuse.checked is None:
        return False
    trust = [(e.seg_id, e.digest) for e in index.segments if e.kind == sg.TRUST_RECORDS]
    before = [(e.seg_id, e.digest) for e in reuse.index.segments if e.kind == sg.TRUST_RECORDS]
    return trust == before and index.scopes == reuse.index.scopes and sg.TRUST in reuse.plain


def _same_segments(reuse: Opened, index: sg.Index) -> set[bytes]:
    """The school scopes whose records and credentials segments are the very ones `reuse` read (same digests)."""

    def parts(of: sg.Index) -> dict[bytes, set]:
        out: dict[bytes, set] = {}
        for e in of.segments:
            if e.kind in (sg.SCHOOL_RECORDS, sg.SCHOOL_CREDENTIALS):
                out.setdefault(e.scope, set()).add((e.kind, e.seg_id, e.digest))
        return out

    now, before = parts(index), parts(reuse.index)
    return {scope for scope, found in now.items() if before.get(scope) == found and scope in reuse.plain}


def pending_bodies(conn: sqlite3.Connection, ring: dict, scopes: set[bytes]) -> dict[bytes, list[dict]]:
    """The reveals' records carried forward sealed (F9), opened for the scopes in `scopes` this keyring opens."""
    out: dict[bytes, list[dict]] = {}
    for scope, digest, k, sealed, _seqs in pending(conn):
        key = kr.keys_of(ring, scope, sg.KEY_K)
        if scope in scopes and key is not None:
            out.setdefault(scope, []).extend(tail5.open_bodies(digest, k, scope, key, sealed))
    return out


_SHARED = ("actor", "at_real", "prev_hash", "hash")  # values many skeletons repeat (a hash: its next's prev_hash)


def _skeletons(plaintext: bytes) -> list[dict]:
    try:
        found = json.loads(plaintext)
    except ValueError:
        raise DamagedError("register damaged: its history's skeletons are not readable") from None
    if not isinstance(found, list) or not all(isinstance(s, dict) and isinstance(s.get("seq"), int) for s in found):
        raise DamagedError("register damaged: its history's skeletons are not readable")
    # One object per repeated text (an actor, a school's scope id, a hash and the next one's prev_hash):
    # 72,000 skeletons took 59 MB at the large trust, held by `verify` and a machine's first open.
    one = {}.setdefault
    for skeleton in found:
        for key in _SHARED:
            value = skeleton.get(key)
            if type(value) is str:
                skeleton[key] = one(value, value)
        scopes = skeleton.get("scopes")
        if type(scopes) is list:
            skeleton["scopes"] = [one(x, x) if type(x) is str else x for x in scopes]
    return found


class _Older:
    """The trust's history batches (F8 step 3): the skeletons before the journal, read once and only when asked."""

    def __init__(self, index: sg.Index, file_id: bytes, fetch, key: bytes | None):
        self.entries = [e for e in index.segments if e.kind == sg.TRUST_BATCH]
        self.file_id, self.fetch, self.key = file_id, fetch, key
        self.found: list[dict] = []
        self.read = False

    def _batches(self):
        """Each batch's skeletons, decrypted and parsed as they are asked for."""
        for entry in self.entries:
            if self.key is None:
                raise DamagedError("register damaged: your keyring lacks the trust's key")
            yield _skeletons(sg.open_segment(self.key, self.file_id, entry, self.fetch(entry)))

    def __call__(self) -> list[dict]:
        if not self.read:
            self.found = sorted((s for batch in self._batches() for s in batch), key=lambda s: s["seq"])
            self.read = True
        return self.found

    def each(self):
        """Every skeleton among them, a batch at a time and not kept (unless they were read already)."""
        if self.read:
            yield from self.found
            return
        for batch in self._batches():
            yield from batch

    def only(self, seqs: set[int]) -> list[dict]:
        """The skeletons of events `seqs` among them, oldest first; without keeping the others (a filtered
        history at the large trust holds a few, not 72,000)."""
        if self.read or not seqs:
            return [s for s in self.found if s["seq"] in seqs]
        return sorted((s for s in self.each() if s["seq"] in seqs), key=lambda s: s["seq"])


@dataclass
class Tail:
    """The reveals recorded after the last save (F9): their skeletons, and the bodies this reader opened."""

    skeletons: list[dict] = field(default_factory=list)
    bodies: dict[bytes, list[dict]] = field(default_factory=dict)  # scope -> bodies (only those opened)
    unread: set[bytes] = field(default_factory=set)  # scopes whose bodies this reader could not open
    # every record's bodies as sealed, for a save that carries them forward: (scope, header digest, k, bytes, seqs)
    sealed: list[tuple] = field(default_factory=list)


def _read_tail(records, raw_header, ring, skeletons, state, header, index, known) -> Tail:
    """Open and check the tail's records: each continues the chain and is signed by its actor, and writes nothing."""
    out = Tail()
    if not records:
        return out
    k_trust = kr.keys_of(ring, sg.TRUST, sg.KEY_K)
    school_keys = {scope: key for (scope, kind), (_e, key) in ring.items() if kind == sg.KEY_K and scope != sg.TRUST}
    digest = hashlib.sha256(raw_header).digest()
    for k, record in enumerate(records):
        scope, found, bodies = tail5.open_record(raw_header, k, record, k_trust, school_keys)
        out.skeletons += found
        out.sealed.append((scope, digest, k, tail5.bodies_part(record), [s["seq"] for s in found]))
        if bodies is None:
            out.unread.add(scope)
        else:
            out.bodies.setdefault(scope, []).extend(bodies)
    last = skeletons[-1]
    if any(s.get("wrote") for s in out.skeletons):
        raise DamagedError("register altered: a record at the end of the register says it wrote segments")
    _check_history(out.skeletons, state, header, index, last["seq"] + 1, last["hash"], known)
    return out


def _signing_keys(state: membership.Membership, slot: ff.Slot | None) -> list[bytes]:
    if slot is None:
        return []
    if slot.kind == ff.KIND_RECOVERY:
        return [state.recovery_signing_key]
    member = state.members.get(slot.slot_id)
    return [member.signing_key] if member else []


def _check_history(
    skeletons: list[dict],
    state: membership.Membership,
    header,
    index: sg.Index,
    first_seq: int,
    prev: str,
    known: sg.Known,
) -> sg.Known:
    """The chain, every save's signature and what each save wrote, then the index against it (F7 13b, 13c).

    The caller passes only the skeletons this machine has not checked, with the `known` map it kept (F6).
    """
    if not isinstance(skeletons, list) or (not skeletons and not known):
        raise DamagedError("register altered: its history does not verify: it has no events")
    problems, _, _ = chain.skeleton_problems(skeletons, prev, first_seq)
    # Events from before a format-2 register's upgrade were written before anyone held a grant (as `_check_saves`).
    problems += chain.scope_problems(
        skeletons, lambda actor, seq: None if seq <= state.upgraded_at else state.scopes_of(actor, seq)
    )
    if problems:
        raise DamagedError(f"register altered: its history does not verify: {problems[0]}")
    try:
        return _check_saves(skeletons, state, header, index, known)
    except (ValueError, TypeError, KeyError, AttributeError):
        raise DamagedError("register altered: its history does not verify: an event is not readable") from None


def _check_saves(skeletons: list[dict], state: membership.Membership, header, index: sg.Index, known) -> sg.Known:
    known = dict(known)
    pending: set[str] = set()
    for skeleton in skeletons:
        actor, seq = skeleton["actor"], skeleton["seq"]
        if skeleton.get("format4") and seq <= state.upgraded_at:
            continue  # written before format 3 signed events
        pending.add(actor)
        if "signature" not in skeleton:
            continue
        if pending != {actor}:  # a save signs only its saver's own events
            raise DamagedError(f"register altered: events before event {seq} are not signed by whoever wrote them")
        pending = set()
        if skeleton.get("format4"):  # signed as format 4 signed it; it wrote no segments
            message = chain.event_message(header.file_id, skeleton["hash"])
            if not any(
                crypto.verify_signature(k, bytes.fromhex(skeleton["signature"]), message)
                for k in state.keys_of(actor, seq)
            ):
                raise DamagedError(f"register altered: event {seq} names {actor} but is not signed by them")
            continue
        message = chain.skeleton_message(header.file_id, skeleton["hash"])
        if not any(
            crypto.verify_signature(k, bytes.fromhex(skeleton["signature"]), message) for k in state.keys_of(actor, seq)
        ):
            raise DamagedError(f"register altered: event {seq} names {actor} but is not signed by them")
        member = state.by_email(actor)
        scopes = state.scopes_of(actor, seq)
        vault = actor == membership.RECOVERY or (member is not None and member.access == "vault")
        reach = sg.Reach(
            None if scopes is None else frozenset(bytes.fromhex(s) for s in scopes), vault=vault, seals=vault
        )
        wrote = [
            sg.Wrote(bytes.fromhex(p), k, bytes.fromhex(s), v, bytes.fromhex(d)) for p, k, s, v, d in skeleton["wrote"]
        ]
        sg.check_writes(wrote, reach, known, actor)
        known = sg.apply_wrote(known, wrote)
    if skeletons and "signature" not in skeletons[-1]:
        raise DamagedError("register altered: its last events are not signed")
    sg.check_against(known, index)
    return known
