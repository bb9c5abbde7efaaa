"""Format 5's index and segments: a key per scope, each part encrypted on its own (file-format.md F1, F5).

Not wired into the register yet: this is the layer a format-5 open and save will stand on. The index
is clear and signed (through the header's digest of it); each segment is AES-256-GCM under its
scope's key of the current epoch, bound by its AAD to this register, its place, kind, scope, epoch
and version. Parsing raises DamagedError and nothing else, and checks every count and length before
any work, as `fileformat` does for format 4.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field

from accountctl.crypto import (
    KEY_LEN,
    NONCE_LEN,
    TAG_LEN,
    CryptoFailure,
    decrypt_with_nonce,
    encrypt_with_nonce,
    random_bytes,
)
from accountctl.errors import DamagedError

SCOPE_LEN = 16
SEGMENT_ID_LEN = 16
SLOT_ID_LEN = 16
TRUST = bytes(SCOPE_LEN)  # the trust's own scope id; a school's is 16 random bytes

KEY_K = 1  # a scope's records key
KEY_V = 2  # a scope's vault key

TRUST_RECORDS = 1
TRUST_JOURNAL = 2
TRUST_BATCH = 3
SCHOOL_RECORDS = 4
SCHOOL_CREDENTIALS = 5
SCHOOL_BATCH = 6
TRUST_LOOKUP = 7
KIND_NAMES = {
    TRUST_RECORDS: "trust records",
    TRUST_JOURNAL: "trust journal",
    TRUST_BATCH: "trust history",
    SCHOOL_RECORDS: "school records",
    SCHOOL_CREDENTIALS: "school credentials",
    SCHOOL_BATCH: "school history",
    TRUST_LOOKUP: "trust lookup",
}
TRUST_KINDS = frozenset({TRUST_RECORDS, TRUST_JOURNAL, TRUST_BATCH, TRUST_LOOKUP})
SCHOOL_KINDS = frozenset({SCHOOL_RECORDS, SCHOOL_CREDENTIALS, SCHOOL_BATCH})
ONE_PER_SCOPE = {TRUST_RECORDS, TRUST_JOURNAL, TRUST_LOOKUP, SCHOOL_RECORDS, SCHOOL_CREDENTIALS}

MIN_INDEX = 64
MAX_INDEX = 64 << 20
MAX_SEGMENTS = 65536
MAX_SCOPES = 65535
MAX_SEGMENT = 1 << 31
MAX_SEALED_KEYRING = 1 << 20

LABEL_INDEX = b"accountctl/v5/index"
LABEL_SEGMENT = b"accountctl/v5/segment"
LABEL_KEY_ID = b"accountctl/v5/key-id"

_SCOPE = struct.Struct(">16sI32s32s")  # scope id, epoch, key id of K, key id of V (zeros: none)
_KEYRING = struct.Struct(">16sQI")  # slot id, version, sealed length (the sealed bytes follow)
_SEGMENT = struct.Struct(">16sB16sIQ12sQ32s")  # id, kind, scope, epoch, version, nonce, length, digest
assert _SCOPE.size == 84 and _SEGMENT.size == 97


@dataclass(frozen=True)
class Reach:
    """What one key slot may read and write, in scope ids: its grant's schools (None: all) and vault access.

    Vault access always reaches every school (F3); the recovery key is `Reach(None, vault=True, seals=True)`.
    `seals` is who may write keyrings and the `scope` and `school` records: custodians and the recovery key.
    """

    scopes: frozenset[bytes] | None
    vault: bool = False
    seals: bool = False

    def reads(self, scope: bytes) -> bool:
        return scope == TRUST or self.scopes is None or scope in self.scopes


def key_id(file_id: bytes, scope: bytes, epoch: int, kind: int, key: bytes) -> bytes:
    """The index's name of a key: says nothing of the key, but whoever holds one can check it is this one."""
    return hashlib.sha256(LABEL_KEY_ID + file_id + scope + struct.pack(">IB", epoch, kind) + key).digest()


@dataclass(frozen=True)
class ScopeEntry:
    """One scope of the index: its current epoch and the ids of its keys of that epoch."""

    scope: bytes
    epoch: int
    k_id: bytes
    v_id: bytes = bytes(32)


@dataclass(frozen=True)
class KeyringEntry:
    """One slot's keyring, sealed to its public key (see `register.keyrings`)."""

    slot_id: bytes
    version: int
    sealed: bytes


@dataclass(frozen=True)
class SegmentEntry:
    """Where a segment is, what it is, and the digest of its ciphertext."""

    seg_id: bytes
    kind: int
    scope: bytes
    epoch: int
    version: int
    nonce: bytes
    length: int
    digest: bytes

    @property
    def key_kind(self) -> int:
        return KEY_V if self.kind == SCHOOL_CREDENTIALS else KEY_K

    def name(self) -> str:
        return f"segment {self.seg_id.hex()[:8]} ({KIND_NAMES.get(self.kind, 'unknown')})"


@dataclass
class Index:
    """The clear, signed table of a format-5 register: scopes, keyrings and segments, in file order."""

    generation: int
    scopes: list[ScopeEntry] = field(default_factory=list)
    keyrings: list[KeyringEntry] = field(default_factory=list)
    segments: list[SegmentEntry] = field(default_factory=list)

    def scope(self, scope: bytes) -> ScopeEntry:
        for entry in self.scopes:
            if entry.scope == scope:
                return entry
        raise DamagedError(f"register damaged: the index names no scope {scope.hex()[:8]}")

    def keyring(self, slot_id: bytes) -> KeyringEntry | None:
        return next((k for k in self.keyrings if k.slot_id == slot_id), None)

    def offsets(self) -> dict[bytes, int]:
        """Each segment's offset from the first segment's first byte."""
        out, at = {}, 0
        for entry in self.segments:
            out[entry.seg_id] = at
            at += entry.length
        return out

    def segments_length(self) -> int:
        return sum(entry.length for entry in self.segments)


def encode_index(index: Index) -> bytes:
    """The index's bytes, in a canonical order: scopes and keyrings sorted, segments as listed."""
    parts = [LABEL_INDEX, struct.pack(">QH", index.generation, len(index.scopes))]
    parts += [_SCOPE.pack(s.scope, s.epoch, s.k_id, s.v_id) for s in sorted(index.scopes, key=lambda s: s.scope)]
    keyrings = sorted(index.keyrings, key=lambda k: k.slot_id)
    parts.append(struct.pack(">H", len(keyrings)))
    for k in keyrings:
        parts += [_KEYRING.pack(k.slot_id, k.version, len(k.sealed)), k.sealed]
    parts.append(struct.pack(">I", len(index.segments)))
    parts += [
        _SEGMENT.pack(e.seg_id, e.kind, e.scope, e.epoch, e.version, e.nonce, e.length, e.digest)
        for e in index.segments
    ]
    return b"".join(parts)


def parse_index(data: bytes, generation: int, available: int, slot_ids: set[bytes] | None = None) -> Index:
    """Parse and check an index before any key is used (F5); raises DamagedError only.

    `generation` is the header's; `available` is how many bytes of the file follow the index (the
    segments, then the tail); `slot_ids` are the header's slots, when known.
    """
    if not MIN_INDEX <= len(data) <= MAX_INDEX:
        raise DamagedError("register damaged: index length out of range")
    reader = _Reader(data)
    if reader.take(len(LABEL_INDEX)) != LABEL_INDEX:
        raise DamagedError("register damaged: the index does not start as an index")
    gen, n_scopes = reader.unpack(struct.Struct(">QH"))
    if gen != generation:
        raise DamagedError(f"register damaged: the index is of save {gen}, the header of save {generation}")
    scopes = [ScopeEntry(*reader.unpack(_SCOPE)) for _ in range(n_scopes)]
    (n_keyrings,) = reader.unpack(struct.Struct(">H"))
    keyrings = []
    for _ in range(n_keyrings):
        slot_id, version, length = reader.unpack(_KEYRING)
        if length > MAX_SEALED_KEYRING:
            raise DamagedError("register damaged: a keyring's length is out of range")
        keyrings.append(KeyringEntry(slot_id, version, reader.take(length)))
    (n_segments,) = reader.unpack(struct.Struct(">I"))
    if n_segments > MAX_SEGMENTS:
        raise DamagedError("register damaged: the index lists too many segments")
    if reader.left() != n_segments * _SEGMENT.size:
        raise DamagedError("register damaged: the index's length does not match its segment count")
    segments = [SegmentEntry(*reader.unpack(_SEGMENT)) for _ in range(n_segments)]
    index = Index(gen, scopes, keyrings, segments)
    check_index(index, available, slot_ids)
    return index


def check_index(index: Index, available: int, slot_ids: set[bytes] | None = None) -> None:
    """Everything F5 asks of an index's entries, each alone and together; raises DamagedError."""
    scope_ids = [s.scope for s in index.scopes]
    if scope_ids != sorted(set(scope_ids)):
        raise DamagedError("register damaged: the index's scopes are repeated or out of order")
    if TRUST not in scope_ids:
        raise DamagedError("register damaged: the index has no trust scope")
    for s in index.scopes:
        if s.epoch < 1:
            raise DamagedError("register damaged: a scope's epoch is out of range")
        if s.v_id == bytes(32):
            # every school holds credentials, and the trust's vault key keys the vault MAC
            raise DamagedError("register damaged: a scope has no vault key")
    slots = [k.slot_id for k in index.keyrings]
    if slots != sorted(set(slots)):
        raise DamagedError("register damaged: the index's keyrings are repeated or out of order")
    for k in index.keyrings:
        if not 1 <= k.version <= index.generation:
            raise DamagedError("register damaged: a keyring's version is out of range")
        if slot_ids is not None and k.slot_id not in slot_ids:
            raise DamagedError(f"register damaged: keyring {k.slot_id.hex()[:8]} is for no key slot")
    epochs = {s.scope: s.epoch for s in index.scopes}
    seen_ids: set[bytes] = set()
    counts: dict[tuple[int, bytes], int] = {}
    for e in index.segments:
        if e.seg_id in seen_ids:
            raise DamagedError(f"register damaged: {e.name()} is listed twice")
        seen_ids.add(e.seg_id)
        if e.kind not in KIND_NAMES:
            raise DamagedError(f"register damaged: segment {e.seg_id.hex()[:8]} is of unknown kind {e.kind}")
        if e.scope not in epochs:
            raise DamagedError(f"register damaged: {e.name()} belongs to no scope of the index")
        if (e.kind in TRUST_KINDS) != (e.scope == TRUST):
            raise DamagedError(f"register damaged: {e.name()} is in the wrong scope for its kind")
        if e.epoch != epochs[e.scope]:
            raise DamagedError(f"register damaged: {e.name()} is under a key its scope no longer uses")
        if not 1 <= e.version <= index.generation:
            raise DamagedError(f"register damaged: {e.name()} has a version out of range")
        if not TAG_LEN <= e.length <= MAX_SEGMENT:
            raise DamagedError(f"register damaged: {e.name()} has a length out of range")
        counts[(e.kind, e.scope)] = counts.get((e.kind, e.scope), 0) + 1
    for s in index.scopes:
        kinds = (
            (TRUST_RECORDS, TRUST_JOURNAL, TRUST_LOOKUP) if s.scope == TRUST else (SCHOOL_RECORDS, SCHOOL_CREDENTIALS)
        )
        for kind in kinds:
            if counts.get((kind, s.scope), 0) != 1:
                raise DamagedError(
                    f"register damaged: scope {s.scope.hex()[:8]} must have exactly one {KIND_NAMES[kind]} segment"
                )
    if index.segments_length() > available:
        raise DamagedError("register damaged: the file is shorter than its index says (truncated?)")


def segment_aad(file_id: bytes, seg_id: bytes, kind: int, scope: bytes, epoch: int, version: int) -> bytes:
    """What a segment's GCM tag binds it to: this register, its id, kind, scope, key epoch and version."""
    return LABEL_SEGMENT + file_id + seg_id + struct.pack(">B", kind) + scope + struct.pack(">IQ", epoch, version)


def seal_segment(
    key: bytes, file_id: bytes, seg_id: bytes, kind: int, scope: bytes, epoch: int, version: int, plaintext: bytes
) -> tuple[SegmentEntry, bytes]:
    """Encrypt one segment with a fresh nonce; returns its index entry and its ciphertext."""
    if len(key) != KEY_LEN:
        raise ValueError("a segment key is 32 bytes")
    nonce = random_bytes(NONCE_LEN)
    ciphertext = encrypt_with_nonce(key, nonce, plaintext, segment_aad(file_id, seg_id, kind, scope, epoch, version))
    digest = hashlib.sha256(ciphertext).digest()
    return SegmentEntry(seg_id, kind, scope, epoch, version, nonce, len(ciphertext), digest), ciphertext


def check_digest(entry: SegmentEntry, ciphertext: bytes) -> None:
    """The ciphertext is the one the signed index names (needs no key: `verify` does it for everyone)."""
    if len(ciphertext) != entry.length or hashlib.sha256(ciphertext).digest() != entry.digest:
        raise DamagedError(f"register altered: {entry.name()} is not the one its index names")


def open_segment(key: bytes, file_id: bytes, entry: SegmentEntry, ciphertext: bytes) -> bytes:
    """Check a segment's digest, then decrypt it; raises DamagedError when either fails."""
    check_digest(entry, ciphertext)
    aad = segment_aad(file_id, entry.seg_id, entry.kind, entry.scope, entry.epoch, entry.version)
    try:
        return decrypt_with_nonce(key, entry.nonce, ciphertext, aad)
    except CryptoFailure:
        raise DamagedError(f"register damaged or altered: {entry.name()} does not authenticate") from None


def slice_segment(index: Index, segments: bytes, seg_id: bytes) -> tuple[SegmentEntry, bytes]:
    """One segment's entry and ciphertext, from the bytes that follow the index."""
    at = 0
    for entry in index.segments:
        if entry.seg_id == seg_id:
            return entry, segments[at : at + entry.length]
        at += entry.length
    raise DamagedError(f"register damaged: the index lists no segment {seg_id.hex()[:8]}")


KEYRING = 0  # the kind a keyring has in `wrote`; its id there is its slot id


@dataclass(frozen=True)
class Wrote:
    """One entry of a save's `wrote` (F6): a segment or keyring it wrote, or removed (version 0)."""

    part_id: bytes
    kind: int
    scope: bytes
    version: int
    digest: bytes

    def name(self) -> str:
        what = "keyring" if self.kind == KEYRING else KIND_NAMES.get(self.kind, "unknown")
        return f"{'keyring' if self.kind == KEYRING else 'segment'} {self.part_id.hex()[:8]} ({what})"


Known = dict[bytes, Wrote]  # what the history last wrote of each part, as a machine keeps it


def _parts(index: Index) -> Known:
    parts = {
        e.seg_id: Wrote(e.seg_id, e.kind, e.scope, e.version, e.digest)
        for e in index.segments
        if e.kind != TRUST_JOURNAL  # it holds the save's event itself: its rollback is the chain's
    }
    for k in index.keyrings:
        parts[k.slot_id] = Wrote(k.slot_id, KEYRING, TRUST, k.version, hashlib.sha256(k.sealed).digest())
    return parts


def wrote_of_save(before: Index | None, after: Index) -> list[Wrote]:
    """What a save wrote, from the index it read and the one it makes: new or changed parts, and removals."""
    old = _parts(before) if before is not None else {}
    new = _parts(after)
    out = [part for pid, part in sorted(new.items()) if old.get(pid) != part]
    out += [Wrote(pid, part.kind, part.scope, 0, b"") for pid, part in sorted(old.items()) if pid not in new]
    return out


def check_writes(wrote: list[Wrote], reach: Reach, known: Known, who: str) -> None:
    """A save wrote only what its saver may write (F6); raises DamagedError naming the part and `who`.

    Keyrings: custodians and the recovery key. The trust's parts: anyone holding a slot. A school's
    records and history: a grant that reads the school. Its credentials: vault access.
    """
    for part in wrote:
        earlier = known.get(part.part_id)
        if part.kind == TRUST_JOURNAL or (part.kind != KEYRING and part.kind not in KIND_NAMES):
            raise DamagedError(f"register altered: a save lists {part.name()} among what it wrote")
        if earlier is not None and (earlier.kind, earlier.scope) != (part.kind, part.scope):
            raise DamagedError(f"register altered: {part.name()} changed its kind or school")
        if part.kind in (TRUST_BATCH, SCHOOL_BATCH) and earlier is not None and not reach.seals:
            raise DamagedError(
                f"register altered: {part.name()} was rewritten by {who}; a history batch is written once "
                "(only a custodian's key rotation encrypts it again)"
            )
        if part.kind == KEYRING:
            allowed = reach.seals
        elif part.kind == SCHOOL_CREDENTIALS:
            allowed = reach.vault
        elif part.kind in SCHOOL_KINDS:
            allowed = reach.reads(part.scope)
        else:
            allowed = True
        if not allowed:
            raise DamagedError(f"register altered: {part.name()} was written by {who}, who may not write it")


def apply_wrote(known: Known, wrote: list[Wrote]) -> Known:
    """The map after a checked save: what it wrote replaces what was there; removals leave it."""
    out = dict(known)
    for part in wrote:
        if part.version == 0:
            out.pop(part.part_id, None)
        else:
            out[part.part_id] = part
    return out


def check_against(known: Known, index: Index) -> None:
    """The index holds exactly what the signed history last wrote (F7 step 13c): no part replayed, swapped or dropped."""
    held = _parts(index)
    for pid, part in sorted(held.items()):
        last = known.get(pid)
        if last is None:
            raise DamagedError(f"register altered: {part.name()} was never written by a signed save")
        if (last.version, last.digest) != (part.version, part.digest):
            raise DamagedError(
                f"register altered: {part.name()} is not the one its history last wrote "
                f"(version {part.version}, not {last.version})"
            )
    for pid, last in sorted(known.items()):
        if pid not in held:
            raise DamagedError(f"register altered: {last.name()} is missing")


class _Reader:
    """Bounds-checked reads over a byte string: running off its end is damage, never an IndexError."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise DamagedError("register damaged: the index is truncated")
        out = self.data[self.at : self.at + n]
        self.at += n
        return out

    def unpack(self, fmt: struct.Struct) -> tuple:
        return fmt.unpack(self.take(fmt.size))

    def left(self) -> int:
        return len(self.data) - self.at
