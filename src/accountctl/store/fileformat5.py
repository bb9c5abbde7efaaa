"""Format 5's header: format 4's key slots, then the index's length and digest instead of a body (F5).

Parsing raises DamagedError and nothing else, and checks every length before anything is used, as
`fileformat` does for format 4. Not yet read or written by any command.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field, replace

from accountctl.errors import DamagedError
from accountctl.store import fileformat as ff
from accountctl.store import segments as sg

VERSION = 5
FIXED_LEN = 202
LABEL_SAVE = b"accountctl/v5/save"
_FIXED = struct.Struct(">8sHHI16sQQ32s32s16sQ64sH")
assert _FIXED.size == FIXED_LEN


@dataclass
class Header:
    """A format-5 header: who saved, when, the index's length and digest, the vault MAC, the slots."""

    file_id: bytes
    generation: int
    index_len: int
    index_digest: bytes
    slots: list[ff.Slot] = field(default_factory=list)
    vault_mac: bytes = bytes(32)
    saved_by: bytes = bytes(16)
    saved_at: int = 0
    save_signature: bytes = bytes(ff.SIGNATURE_LEN)
    flags: int = 0

    @property
    def version(self) -> int:
        return VERSION

    def copy(self) -> "Header":
        return replace(self, slots=[replace(s) for s in self.slots])


def encode_header(header: Header) -> bytes:
    """A header's bytes, checksum included."""
    raw = bytearray(
        _FIXED.pack(
            ff.MAGIC,
            VERSION,
            header.flags,
            0,  # the header's length, patched below
            header.file_id,
            header.generation,
            header.index_len,
            header.index_digest,
            header.vault_mac,
            header.saved_by,
            header.saved_at,
            header.save_signature,
            len(header.slots),
        )
    )
    for slot in header.slots:
        raw += ff._encode_slot(slot)
    struct.pack_into(">I", raw, 12, len(raw) + ff.CHECKSUM_LEN)
    raw += hashlib.sha256(raw).digest()
    return bytes(raw)


def signed_part(header: Header) -> bytes:
    """What a save signs: its label and the whole header with the signature zeroed, without the checksum.

    The header holds the index's digest and the index every segment's, so this covers every byte.
    """
    return LABEL_SAVE + encode_header(replace(header, save_signature=bytes(ff.SIGNATURE_LEN)))[: -ff.CHECKSUM_LEN]


def parse_header(data: bytes) -> tuple[Header, bytes]:
    """Parse and check a format-5 header; returns it and its exact bytes. Raises DamagedError only."""
    if len(data) < len(ff.MAGIC) or data[: len(ff.MAGIC)] != ff.MAGIC:
        raise DamagedError("not an accountctl register (wrong magic bytes)")
    if len(data) < FIXED_LEN:
        raise DamagedError("register damaged: the file is truncated inside its header")
    version, flags, total = struct.unpack_from(">HHI", data, 8)
    if version != VERSION:
        raise DamagedError(f"register format version {version} is not format {VERSION}")
    if flags != 0:
        raise DamagedError("register damaged: unknown header flags")
    if not FIXED_LEN + ff.CHECKSUM_LEN <= total <= ff.MAX_HEADER:
        raise DamagedError("register damaged: header length out of range")
    if len(data) < total:
        raise DamagedError("register damaged: the file is truncated inside its header")
    raw = bytes(data[:total])
    if hashlib.sha256(raw[: -ff.CHECKSUM_LEN]).digest() != raw[-ff.CHECKSUM_LEN :]:
        raise DamagedError("register damaged or altered: header checksum does not match")
    (_, _, _, _, file_id, generation, index_len, index_digest, vault_mac, saved_by, saved_at, signature, count) = (
        _FIXED.unpack_from(raw, 0)
    )
    if not 1 <= count <= ff.MAX_SLOTS:
        raise DamagedError("register damaged: key slot count out of range")
    if not sg.MIN_INDEX <= index_len <= sg.MAX_INDEX:
        raise DamagedError("register damaged: index length out of range")
    slots = ff.parse_slots(raw, FIXED_LEN, total - ff.CHECKSUM_LEN, count, sealed=False)
    header = Header(
        file_id, generation, index_len, index_digest, slots, vault_mac, saved_by, saved_at, signature, flags
    )
    return header, raw


def read_index(data: bytes, header: Header, raw_header: bytes) -> tuple[sg.Index, bytes]:
    """The index that follows the header, checked against the header's digest before it is parsed."""
    start, end = len(raw_header), len(raw_header) + header.index_len
    if len(data) < end:
        raise DamagedError("register damaged: the file is truncated inside its index")
    index_bytes = bytes(data[start:end])
    if hashlib.sha256(index_bytes).digest() != header.index_digest:
        raise DamagedError("register damaged or altered: its index is not the one its header names")
    index = sg.parse_index(index_bytes, header.generation, len(data) - end, {s.slot_id for s in header.slots})
    return index, index_bytes
