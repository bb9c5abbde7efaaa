"""Format 5's tail records (file-format.md F9): a reveal recorded without saving the register.

A record holds the reveal's skeleton under the trust's key, which every key holder opens and checks,
and its body under the key of the school it names, which only that school's readers open. Both are
bound to the header they follow (so to one save), to their place in the tail and to their part.
Layout: scope id (16), then per part u32 length ‖ nonce ‖ ciphertext ‖ tag.
"""

from __future__ import annotations

import hashlib
import json
import struct

from accountctl import chain, crypto
from accountctl.crypto import CryptoFailure
from accountctl.errors import DamagedError

LABEL_TAIL = b"accountctl/v5/tail"
_LEN = struct.Struct(">I")
SKELETONS, BODIES = 0, 1


def _aad(raw_header: bytes, k: int, part: int, scope: bytes) -> bytes:
    return LABEL_TAIL + hashlib.sha256(raw_header).digest() + struct.pack(">IB", k, part) + scope


def seal(
    raw_header: bytes, k: int, k_trust: bytes, scope: bytes, school_key: bytes, skeletons: list, bodies: list
) -> bytes:
    """The `k`-th record after this header: the skeletons for everyone, the bodies for `scope`'s readers."""
    out = [scope]
    for part, key, payload in ((SKELETONS, k_trust, skeletons), (BODIES, school_key, bodies)):
        sealed = crypto.seal(key, chain.canonical(payload), _aad(raw_header, k, part, scope))
        out += [_LEN.pack(len(sealed)), sealed]
    return b"".join(out)


def open_bodies(header_digest: bytes, k: int, scope: bytes, key: bytes, sealed: bytes) -> list:
    """A record's bodies part, carried forward sealed (F9): its AAD names the header it was appended after."""
    try:
        aad = LABEL_TAIL + header_digest + struct.pack(">IB", k, BODIES) + scope
        found = json.loads(crypto.open_sealed(key, sealed, aad))
    except (ValueError, CryptoFailure):
        raise DamagedError("register damaged or altered: a reveal's record carried forward does not open") from None
    if not isinstance(found, list):
        raise DamagedError("register damaged or altered: a reveal's record carried forward does not open")
    return found


def bodies_part(record: bytes) -> bytes:
    """The sealed bodies part of a record (for a save that cannot open it to carry it forward as it is)."""
    (n,) = _LEN.unpack_from(record, 16)
    at = 16 + 4 + n
    (m,) = _LEN.unpack_from(record, at)
    return record[at + 4 : at + 4 + m]


def open_record(raw_header: bytes, k: int, record: bytes, k_trust: bytes, school_keys: dict[bytes, bytes]):
    """A record's scope, skeletons, and bodies (None when this reader holds no key of its school)."""
    try:
        scope, at, parts = record[:16], 16, []
        for _ in (SKELETONS, BODIES):
            (n,) = _LEN.unpack_from(record, at)
            parts.append(record[at + 4 : at + 4 + n])
            at += 4 + n
        if at != len(record) or len(scope) != 16:
            raise ValueError("trailing bytes")
        skeletons = json.loads(crypto.open_sealed(k_trust, parts[0], _aad(raw_header, k, SKELETONS, scope)))
        key = school_keys.get(scope)
        bodies = (
            None if key is None else json.loads(crypto.open_sealed(key, parts[1], _aad(raw_header, k, BODIES, scope)))
        )
    except (struct.error, ValueError, CryptoFailure):
        raise DamagedError(
            f"register damaged or altered: record {k + 1} at the end of the register does not open"
        ) from None
    return scope, skeletons, bodies
