"""Format 5's per-slot keyrings: the scope keys one key slot holds, sealed to its X25519 key (F2).

Not the OS keyring (`keyring_cache`): a *keyring* here is the list of the trust's and the schools'
keys a slot may use, which is what keeps one school's head out of another school's segments. It is
sealed to the slot's public key, so a custodian can hand keys to every slot without their
passphrases, and only that slot's private key (behind its passphrase) opens it. Not wired into the
register yet; see docs/file-format.md F2, F7 steps 9, 9a and 13d, and F10.
"""

from __future__ import annotations

import struct

from accountctl import crypto
from accountctl.crypto import KEY_LEN, CryptoFailure
from accountctl.errors import DamagedError
from accountctl.store import segments as sg

LABEL_KEYRING = b"accountctl/v5/keyring"
_ENTRY = struct.Struct(">16sIB32s")  # scope id, epoch, kind (K or V), key
assert _ENTRY.size == 53

Keys = dict[tuple[bytes, int], tuple[int, bytes]]  # (scope id, KEY_K | KEY_V) -> (epoch, key)


def keyring_aad(file_id: bytes, slot_id: bytes, version: int) -> bytes:
    """A keyring is bound to its register, its slot and the save that sealed it."""
    return file_id + slot_id + struct.pack(">Q", version)


def encode_keys(keys: Keys) -> bytes:
    """The plaintext of a keyring: 53-byte entries, sorted."""
    for (scope, kind), (_epoch, key) in keys.items():
        if len(scope) != sg.SCOPE_LEN or kind not in (sg.KEY_K, sg.KEY_V) or len(key) != KEY_LEN:
            raise ValueError("a keyring entry is a 16-byte scope, K or V, and a 32-byte key")
    return b"".join(_ENTRY.pack(scope, epoch, kind, key) for (scope, kind), (epoch, key) in sorted(keys.items()))


def decode_keys(plaintext: bytes, where: str = "a key slot") -> Keys:
    """Inverse of `encode_keys`; entries out of order, repeated or of an unknown kind are damage."""
    if len(plaintext) % _ENTRY.size:
        raise DamagedError(f"register damaged: {where}'s keyring is not whole entries")
    keys: Keys = {}
    previous = None
    for at in range(0, len(plaintext), _ENTRY.size):
        scope, epoch, kind, key = _ENTRY.unpack_from(plaintext, at)
        if kind not in (sg.KEY_K, sg.KEY_V) or (previous is not None and (scope, kind) <= previous):
            raise DamagedError(f"register damaged: {where}'s keyring has entries repeated, unknown or out of order")
        previous = (scope, kind)
        keys[(scope, kind)] = (epoch, key)
    return keys


def seal_keyring(public: bytes, file_id: bytes, slot_id: bytes, version: int, keys: Keys) -> sg.KeyringEntry:
    """Seal a slot's keys to its X25519 public key, for the save of generation `version`."""
    sealed = crypto.seal_to(public, encode_keys(keys), LABEL_KEYRING, keyring_aad(file_id, slot_id, version))
    return sg.KeyringEntry(slot_id, version, sealed)


def open_keyring(private: bytes, file_id: bytes, entry: sg.KeyringEntry) -> Keys:
    """Open one's own keyring with one's slot's X25519 private key (F7 step 9)."""
    where = f"key slot {entry.slot_id.hex()[:8]}"
    try:
        plaintext = crypto.open_sealed_to(
            private, entry.sealed, LABEL_KEYRING, keyring_aad(file_id, entry.slot_id, entry.version)
        )
    except CryptoFailure:
        raise DamagedError(f"register damaged or altered: {where} opens but its keyring does not") from None
    return decode_keys(plaintext, where)


def check_key_ids(keys: Keys, index: sg.Index, file_id: bytes, slot_id: bytes) -> None:
    """Every key held is the one the index names for its scope's current epoch (F7 step 9a).

    A keyring that hands someone a substituted key (one a segment was never written under, or an old
    epoch's) is caught here, before the key decrypts anything.
    """
    epochs = {s.scope: s for s in index.scopes}
    for (scope, kind), (epoch, key) in keys.items():
        entry = epochs.get(scope)
        expected = None if entry is None else (entry.k_id if kind == sg.KEY_K else entry.v_id)
        if entry is None or epoch != entry.epoch or sg.key_id(file_id, scope, epoch, kind, key) != expected:
            raise DamagedError(f"register altered: key slot {slot_id.hex()[:8]} holds a key the register does not use")


def keys_for(reach: sg.Reach, index: sg.Index) -> set[tuple[bytes, int]]:
    """Which (scope, kind) keys a slot with this reach must hold, no more and no fewer (F1)."""
    wanted = set()
    for s in index.scopes:
        if reach.vault or reach.reads(s.scope):
            wanted.add((s.scope, sg.KEY_K))
        if reach.vault:
            wanted.add((s.scope, sg.KEY_V))
    return wanted


def check_reach(keys: Keys, reach: sg.Reach, index: sg.Index, slot_id: bytes) -> None:
    """The keyring gives exactly what the signed grant gives (F7 step 13d)."""
    held, wanted = set(keys), keys_for(reach, index)
    if held - wanted:
        raise DamagedError(
            f"register altered: key slot {slot_id.hex()[:8]} holds keys for a scope its grant does not give"
        )
    if wanted - held:
        raise DamagedError(f"register damaged: key slot {slot_id.hex()[:8]} lacks keys its grant gives")


def keys_of(keys: Keys, scope: bytes, kind: int) -> bytes | None:
    """The key of one scope and kind, or None when this keyring does not hold it."""
    held = keys.get((scope, kind))
    return None if held is None else held[1]
