"""Byte layout of the register file: header, key slots, body, history. See docs/file-format.md.

Every field is checked against exact lengths and caps before any key derivation, so a hostile file
cannot make us spin or allocate. Parsing raises DamagedError and nothing else.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field, replace

from accountctl.errors import DamagedError
from accountctl.membership import LABEL_PERSON_TAG, TAG_LEN as TAG_LEN_PERSON, person_tag  # noqa: F401 (a slot's tag)
from accountctl.crypto import KEY_LEN, NONCE_LEN, SALT_LEN, TAG_LEN, KdfParams

MAGIC = b"\x89ACR\r\n\x1a\n"  # PNG-style: high bit and CRLF/^Z catch text-mode mangling
VERSION = 4  # 4: events appended after the archive (the tail, §5e); 3: signed saves and the archive's digest
SAME_LAYOUT = 3  # a format-3 header is laid out as 4's, and its file has no tail: read as it is, saved as 4
UPGRADABLE = 2  # read once, to upgrade in place (docs/file-format.md §8); 2 added the history archive
FIXED_LEN = 234  # magic .. slot count
FIXED_LEN_V2 = 114
CHECKSUM_LEN = 32
MAX_SLOTS = 256
MAX_HEADER = 1 << 20
MAX_BODY = 1 << 31

KIND_PERSON = 1
KIND_RECOVERY = 2
ACCESS_REGISTER = 1
ACCESS_VAULT = 2
KDF_ARGON2ID = 1
KDF_HKDF = 2  # the recovery key is already high-entropy: no stretching needed

# Argon2id bounds: the floor is OWASP's minimum, the caps stop a hostile file's work factor.
KDF_FLOOR = KdfParams(memory_kib=19 * 1024, iterations=2, lanes=1)
KDF_CAP = KdfParams(memory_kib=1024 * 1024, iterations=10, lanes=16)
KDF_DEFAULT = KdfParams(memory_kib=64 * 1024, iterations=3, lanes=4)

SEALED_KEY_LEN = 32 + NONCE_LEN + KEY_LEN + TAG_LEN  # ephemeral X25519 public, nonce, key, tag
WRAPPED_PERSON_LEN = NONCE_LEN + 64 + TAG_LEN  # X25519 private || Ed25519 private
WRAPPED_RECOVERY_LEN = NONCE_LEN + 32 + TAG_LEN  # X25519 private only: the recovery key signs nothing

# Versioned constant labels, as age does: a key wrapped for one purpose opens for no other.
LABEL_SLOT_KEYS = b"accountctl/v1/slot/keys"
LABEL_REGISTER_KEY = b"accountctl/v1/register-key"
LABEL_VAULT_KEY = b"accountctl/v1/vault-key"
LABEL_RECOVERY = b"accountctl/v1/recovery"
LABEL_VAULT_SLOTS = b"accountctl/v1/vault-slots"
LABEL_HISTORY = b"accountctl/v2/history"
LABEL_SAVE = b"accountctl/v3/save"
LABEL_TAIL = b"accountctl/v4/tail"
SIGNATURE_LEN = 64

# v3 appends, after v2's vault MAC: the history archive's SHA-256, the slot that saved, when (Unix
# seconds, real time) and its Ed25519 signature (see `signed_part`).
_FIXED = struct.Struct(">8sHHI16sQ12sQ12sQ32s32s16sQ64sH")
_FIXED_V2 = struct.Struct(">8sHHI16sQ12sQ12sQ32sH")
_LENGTHS = struct.Struct(">Q12sQ")  # body length, history nonce, history length (at offset 52)
_SLOT_FIXED = struct.Struct(">16sBB16sB16sIII32s")
assert _FIXED.size == FIXED_LEN and _FIXED_V2.size == FIXED_LEN_V2


@dataclass
class Slot:
    """One key slot: who it is for (a tag, not the email), how to derive its key, what it unwraps."""

    slot_id: bytes
    kind: int
    access: int
    tag: bytes
    kdf_alg: int
    salt: bytes
    kdf: KdfParams
    public: bytes
    wrapped: bytes
    sealed_register: bytes
    sealed_vault: bytes = b""

    @property
    def is_custodian(self) -> bool:
        return self.access == ACCESS_VAULT


@dataclass
class Header:
    """The authenticated header: the body's AES-GCM associated data is these exact bytes."""

    file_id: bytes
    generation: int
    body_nonce: bytes
    body_len: int
    slots: list[Slot] = field(default_factory=list)
    # The history archive: older events, encrypted on their own so that commands which do not read
    # history neither read nor decrypt them, and saves copy them unchanged. Length 0: no archive.
    history_nonce: bytes = bytes(12)
    history_len: int = 0
    # HMAC over the vault-access slots, keyed from the vault key: someone with only the register key
    # can rewrite the header, but cannot add a custodian slot that the next rotation would seal to.
    vault_mac: bytes = bytes(32)
    version: int = VERSION
    flags: int = 0
    # SHA-256 of the archive's ciphertext: a save checks the bytes it copies against it, and the save
    # signature covers it, so nobody can swap the archive without signing for it.
    history_digest: bytes = bytes(32)
    saved_by: bytes = bytes(16)  # the slot id of whoever saved last
    saved_at: int = 0  # real UTC time of that save, Unix seconds
    save_signature: bytes = bytes(SIGNATURE_LEN)

    def copy(self) -> "Header":
        return replace(self, slots=[replace(s) for s in self.slots])


def encode_header(header: Header) -> bytes:
    """Serialize a header (always in the current version), checksum included."""
    parts = [
        _FIXED.pack(
            MAGIC,
            VERSION,
            header.flags,
            0,  # header length, patched below
            header.file_id,
            header.generation,
            header.body_nonce,
            header.body_len,
            header.history_nonce,
            header.history_len,
            header.vault_mac,
            header.history_digest,
            header.saved_by,
            header.saved_at,
            header.save_signature,
            len(header.slots),
        )
    ]
    for slot in header.slots:
        parts.append(_encode_slot(slot))
    raw = bytearray(b"".join(parts))
    total = len(raw) + CHECKSUM_LEN
    struct.pack_into(">I", raw, 12, total)
    raw += hashlib.sha256(raw).digest()
    return bytes(raw)


def _encode_slot(slot: Slot) -> bytes:
    fixed = _SLOT_FIXED.pack(
        slot.slot_id,
        slot.kind,
        slot.access,
        slot.tag,
        slot.kdf_alg,
        slot.salt,
        slot.kdf.memory_kib,
        slot.kdf.iterations,
        slot.kdf.lanes,
        slot.public,
    )
    body = b"".join(struct.pack(">H", len(b)) + b for b in (slot.wrapped, slot.sealed_register, slot.sealed_vault))
    return struct.pack(">H", len(fixed) + len(body)) + fixed + body


def signed_part(header: Header) -> bytes:
    """What a save signs of the header: all of it with the signature zeroed, without the checksum."""
    return encode_header(replace(header, save_signature=bytes(SIGNATURE_LEN)))[:-CHECKSUM_LEN]


def header_length(prefix: bytes) -> int:
    """The total header length announced by a file's first bytes, after checking magic and version."""
    if len(prefix) < len(MAGIC) or prefix[: len(MAGIC)] != MAGIC:
        raise DamagedError("not an accountctl register (wrong magic bytes)")
    if len(prefix) < FIXED_LEN_V2:
        raise DamagedError("register damaged: the file is truncated inside its header")
    version, flags, total = struct.unpack_from(">HHI", prefix, 8)
    if version not in (VERSION, SAME_LAYOUT, UPGRADABLE):
        raise DamagedError(
            f"register format version {version} is not supported by this accountctl (it reads {VERSION} and 5)"
        )
    if flags != 0:
        raise DamagedError("register damaged: unknown header flags")
    fixed = FIXED_LEN_V2 if version == UPGRADABLE else FIXED_LEN
    if len(prefix) < fixed:
        raise DamagedError("register damaged: the file is truncated inside its header")
    if not fixed + CHECKSUM_LEN <= total <= MAX_HEADER:
        raise DamagedError("register damaged: header length out of range")
    return total


def file_lengths(prefix: bytes) -> tuple[int, int, int]:
    """Header, body and history lengths as a file's fixed part announces them (checked again by parse_header).

    Lets a reader fetch the header and body without reading the history archive.
    """
    total = header_length(prefix)
    body_len, _, history_len = _LENGTHS.unpack_from(prefix, 52)
    return total, body_len, history_len


def parse_header(data: bytes) -> tuple[Header, bytes]:
    """Parse and check a file's header; returns it and its exact bytes. Raises DamagedError only."""
    total = header_length(data)
    if len(data) < total:
        raise DamagedError("register damaged: the file is truncated inside its header")
    raw = bytes(data[:total])
    if hashlib.sha256(raw[:-CHECKSUM_LEN]).digest() != raw[-CHECKSUM_LEN:]:
        raise DamagedError("register damaged or altered: header checksum does not match")
    version = struct.unpack_from(">H", raw, 8)[0]
    if version != UPGRADABLE:
        (
            _,
            version,
            flags,
            _,
            file_id,
            generation,
            nonce,
            body_len,
            history_nonce,
            history_len,
            vault_mac,
            history_digest,
            saved_by,
            saved_at,
            save_signature,
            count,
        ) = _FIXED.unpack_from(raw, 0)
        offset = FIXED_LEN
    else:
        (_, version, flags, _, file_id, generation, nonce, body_len, history_nonce, history_len, vault_mac, count) = (
            _FIXED_V2.unpack_from(raw, 0)
        )
        history_digest, saved_by, saved_at, save_signature = bytes(32), bytes(16), 0, bytes(SIGNATURE_LEN)
        offset = FIXED_LEN_V2
    if not 1 <= count <= MAX_SLOTS:
        raise DamagedError("register damaged: key slot count out of range")
    if not TAG_LEN <= body_len <= MAX_BODY:
        raise DamagedError("register damaged: body length out of range")
    if not (history_len == 0 and history_nonce == bytes(NONCE_LEN) or TAG_LEN <= history_len <= MAX_BODY):
        raise DamagedError("register damaged: history length out of range")
    slots = parse_slots(raw, offset, total - CHECKSUM_LEN, count)
    header = Header(
        file_id=file_id,
        generation=generation,
        body_nonce=nonce,
        body_len=body_len,
        slots=slots,
        version=version,
        flags=flags,
        vault_mac=vault_mac,
        history_nonce=history_nonce,
        history_len=history_len,
        history_digest=history_digest,
        saved_by=saved_by,
        saved_at=saved_at,
        save_signature=save_signature,
    )
    return header, raw


def parse_slots(raw: bytes, offset: int, end: int, count: int, sealed: bool = True) -> list[Slot]:
    """The header's `count` key slots from `offset` to exactly `end`: distinct, and one a custodian's.

    `sealed`: each slot holds the register (and vault) keys, as in format 4 (format 5: keyrings do).
    """
    slots, seen = [], set()
    for _ in range(count):
        slot, offset = _parse_slot(raw, offset, end, sealed)
        if slot.slot_id in seen:
            raise DamagedError("register damaged: duplicate key slot")
        seen.add(slot.slot_id)
        slots.append(slot)
    if offset != end:
        raise DamagedError("register damaged: trailing bytes in header")
    if not any(s.kind == KIND_PERSON and s.access == ACCESS_VAULT for s in slots):
        raise DamagedError("register damaged: no custodian key slot")
    return slots


def _parse_slot(raw: bytes, offset: int, end: int, sealed: bool = True) -> tuple[Slot, int]:
    """One key slot; `sealed`: it holds the register (and vault) keys, as in format 4 (format 5: keyrings do)."""
    if offset + 2 > end:
        raise DamagedError("register damaged: key slot truncated")
    (length,) = struct.unpack_from(">H", raw, offset)
    offset += 2
    slot_end = offset + length
    if slot_end > end or length < _SLOT_FIXED.size:
        raise DamagedError("register damaged: key slot length out of range")
    slot_id, kind, access, tag, kdf_alg, salt, mem, its, lanes, public = _SLOT_FIXED.unpack_from(raw, offset)
    offset += _SLOT_FIXED.size
    blobs = []
    for _ in range(3):
        if offset + 2 > slot_end:
            raise DamagedError("register damaged: key slot truncated")
        (n,) = struct.unpack_from(">H", raw, offset)
        offset += 2
        if offset + n > slot_end:
            raise DamagedError("register damaged: key slot truncated")
        blobs.append(raw[offset : offset + n])
        offset += n
    if offset != slot_end:
        raise DamagedError("register damaged: key slot has trailing bytes")
    wrapped, sealed_register, sealed_vault = blobs
    kdf = KdfParams(mem, its, lanes)
    if kind == KIND_PERSON:
        ok = kdf_alg == KDF_ARGON2ID and kdf_within_limits(kdf) and len(wrapped) == WRAPPED_PERSON_LEN
    elif kind == KIND_RECOVERY:
        ok = (
            kdf_alg == KDF_HKDF
            and kdf == KdfParams(0, 0, 0)
            and access == ACCESS_VAULT
            and tag == bytes(TAG_LEN_PERSON)
            and len(wrapped) == WRAPPED_RECOVERY_LEN
        )
    else:
        ok = False
    ok = ok and access in (ACCESS_REGISTER, ACCESS_VAULT)
    if sealed:
        ok = ok and len(sealed_register) == SEALED_KEY_LEN
        ok = ok and len(sealed_vault) == (SEALED_KEY_LEN if access == ACCESS_VAULT else 0)
    else:
        ok = ok and sealed_register == b"" and sealed_vault == b""
    if not ok:
        raise DamagedError("register damaged: a key slot has invalid fields")
    return Slot(
        slot_id, kind, access, tag, kdf_alg, salt, kdf, public, wrapped, sealed_register, sealed_vault
    ), slot_end


# -- the tail (§5e) ---------------------------------------------------------------------------------
# After the archive, a format-4 file may end in records that each add events: a command that only
# records an event (a `cred show` reveal) appends one instead of rewriting the whole file. Each is
# its length and then AES-256-GCM under the register key, bound to this very header and to its place.
_TAIL_LEN = struct.Struct(">I")
MAX_TAIL_RECORD = 1 << 20


def tail_aad(raw_header: bytes, index: int) -> bytes:
    """What a tail record is bound to: the header it follows (so this save only) and its place in the tail."""
    return LABEL_TAIL + hashlib.sha256(raw_header).digest() + _TAIL_LEN.pack(index)


def tail_record(sealed: bytes) -> bytes:
    """A sealed record as it is appended: its length, then nonce || ciphertext || tag."""
    return _TAIL_LEN.pack(len(sealed)) + sealed


def split_tail(data: bytes | memoryview) -> tuple[list[memoryview], int]:
    """The whole records of a tail, and how many bytes they take.

    A last record with fewer bytes than its length says is left out: it is being appended now, or a
    crash cut it short, and nothing has acted on it (an append is answered only once it is written).
    """
    view = memoryview(data)
    records, offset = [], 0
    while len(view) - offset >= _TAIL_LEN.size:
        (length,) = _TAIL_LEN.unpack_from(view, offset)
        if not NONCE_LEN + TAG_LEN <= length <= MAX_TAIL_RECORD:
            raise DamagedError(
                f"register damaged: record {len(records) + 1} at the end of the file has an impossible length"
            )
        if offset + _TAIL_LEN.size + length > len(view):
            break
        records.append(view[offset + _TAIL_LEN.size : offset + _TAIL_LEN.size + length])
        offset += _TAIL_LEN.size + length
    return records, offset


def kdf_within_limits(kdf: KdfParams) -> bool:
    """True when Argon2id parameters are between OWASP's floor and our caps."""
    return (
        KDF_FLOOR.memory_kib <= kdf.memory_kib <= KDF_CAP.memory_kib
        and KDF_FLOOR.iterations <= kdf.iterations <= KDF_CAP.iterations
        and KDF_FLOOR.lanes <= kdf.lanes <= KDF_CAP.lanes
        and kdf.memory_kib >= 8 * kdf.lanes
    )


def slot_aad(file_id: bytes, slot_id: bytes) -> bytes:
    """Associated data binding a slot's ciphertexts to this file and this slot."""
    return file_id + slot_id


assert SALT_LEN == 16 and NONCE_LEN == 12
