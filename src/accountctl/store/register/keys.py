"""Key slots and the keys they hold: make, seal, unwrap; which KEK opens a slot; the recovery key.

Key hierarchy (docs/file-format.md): passphrase -Argon2id-> KEK -AES-GCM-> the person's X25519 and
Ed25519 private keys; the register key (and for custodians the vault key) is sealed to each slot's
X25519 public key. Sealing to public keys is what lets a revoke rotate the register key and re-seal
it for everyone left without knowing their passphrases. `Slots` is the part of a `Register` that
changes its slots and reads and writes its credentials.
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys
from dataclasses import dataclass
from typing import Callable

from accountctl import crypto
from accountctl import membership as grants  # the module; `membership` is the state it derives
from accountctl.crypto import CryptoFailure, KdfParams
from accountctl.errors import AccessError, DamagedError, InputError
from accountctl.store import fileformat as ff, keyring_cache


PassphraseSource = Callable[[], str]

# Columns encrypted under the vault key: table -> (row key column, encrypted columns).
ENCRYPTED_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "credentials": ("account", ("username", "password", "totp", "recovery")),
    "password_history": ("id", ("password",)),
}
LABEL_FIELD = b"accountctl/v1/field/"
LABEL_FINGERPRINT = b"accountctl/v1/password-fingerprint/"
RECOVERY_KEY_BYTES = 20


ACCESS_CODES = {name: code for code, name in grants.ACCESS.items()}  # "register" -> ff.ACCESS_REGISTER


def kdf_params() -> KdfParams:
    """Argon2id cost for new slots: ACCOUNTCTL_KDF ("m=KIB,t=N,p=N") if set, else the default.

    Tests and slow machines may lower it, never below OWASP's floor (19 MiB, 2 iterations, 1 lane).
    """
    text = os.environ.get("ACCOUNTCTL_KDF")
    if not text:
        return ff.KDF_DEFAULT
    values = {}
    for part in text.split(","):
        key, _, value = part.partition("=")
        if key.strip() not in ("m", "t", "p") or not value.strip().isdigit():
            raise InputError("ACCOUNTCTL_KDF must look like m=65536,t=3,p=4")
        values[key.strip()] = int(value)
    params = KdfParams(
        values.get("m", ff.KDF_DEFAULT.memory_kib),
        values.get("t", ff.KDF_DEFAULT.iterations),
        values.get("p", ff.KDF_DEFAULT.lanes),
    )
    if not ff.kdf_within_limits(params):
        raise InputError(
            f"ACCOUNTCTL_KDF is outside the allowed range (memory {ff.KDF_FLOOR.memory_kib}.."
            f"{ff.KDF_CAP.memory_kib} KiB, iterations {ff.KDF_FLOOR.iterations}..{ff.KDF_CAP.iterations}, "
            f"lanes {ff.KDF_FLOOR.lanes}..{ff.KDF_CAP.lanes})"
        )
    return params


@dataclass
class Keys:
    register_key: bytes
    vault_key: bytes | None
    x25519_private: bytes
    signing_private: bytes | None


class Slots:
    """A register's key slots and credentials (mixed into `Register`): who may open it, and field encryption."""

    # -- field encryption ---------------------------------------------------------------------
    def encrypt_field(self, table: str, row: str, column: str, plaintext: bytes) -> bytes:
        """Encrypt a secret under the vault key, bound to its table, row and column."""
        return crypto.seal(self._vault_key(), plaintext, _field_aad(table, row, column))

    def decrypt_field(self, table: str, row: str, column: str, blob: bytes) -> bytes:
        """Decrypt a secret; a ciphertext moved to another row or column fails as damage."""
        try:
            return crypto.open_sealed(self._vault_key(), blob, _field_aad(table, row, column))
        except CryptoFailure:
            raise DamagedError(f"register damaged or altered: {table}.{column} of {row} does not decrypt") from None

    def fingerprint(self, value: bytes) -> str:
        """A keyed fingerprint of a secret: equal secrets match, and only vault-key holders can compute it."""
        return _fingerprint(self._vault_key(), value)

    def _vault_key(self) -> bytes:
        if self.keys.vault_key is None:
            raise AccessError("only an IT custodian can read or write credentials")
        return self.keys.vault_key

    # -- slots --------------------------------------------------------------------------------
    def slot_for(self, email: str) -> ff.Slot | None:
        """The header slot that `email`'s grant names (not whichever slot carries their tag)."""
        member = self.membership.by_email(email)
        if member is None:
            return None
        return next((s for s in self.header.slots if s.slot_id == member.slot_id), None)

    def add_person_slot(
        self, email: str, access_name: str, passphrase: str, kdf: KdfParams | None = None
    ) -> tuple[ff.Slot, bytes]:
        """Add a slot for a person (`register` or `vault` access); returns it and their new Ed25519 public key."""
        access = ACCESS_CODES[access_name]
        kdf = kdf or kdf_params()
        if access == ff.ACCESS_VAULT and self.keys.vault_key is None:
            raise AccessError("only an IT custodian can grant vault access")
        if len(self.header.slots) >= ff.MAX_SLOTS:
            raise InputError(f"a register holds at most {ff.MAX_SLOTS} key slots")
        slot, _, signing_public = _make_person_slot(self.file_id, email, access, passphrase, kdf, self.keys)
        self.header.slots.append(slot)
        self.header_changed = True
        return slot, signing_public

    def replace_person_slot(
        self, email: str, passphrase: str, kdf: KdfParams | None = None, *, new_keys: bool
    ) -> tuple[ff.Slot, bytes, bytes | None]:
        """Re-wrap a person's slot under a new passphrase; with `new_keys`, also new key pairs.

        Returns the new slot, its KEK and (with new_keys) the new Ed25519 public key. `passwd`
        keeps the keys; recovery makes new ones because the old private keys cannot be unwrapped.
        """
        old = self.slot_for(email)
        if old is None:
            raise AccessError(f"{email} has no key slot in this register")
        kdf = kdf or kdf_params()
        if new_keys:
            slot, kek, signing_public = _make_person_slot(
                self.file_id, email, old.access, passphrase, kdf, self.keys, slot_id=old.slot_id
            )
        else:
            salt = crypto.random_bytes(crypto.SALT_LEN)
            kek = crypto.argon2id(passphrase, salt, kdf)
            inner = self.keys.x25519_private + (self.keys.signing_private or b"")
            wrapped = crypto.seal(kek, inner, ff.LABEL_SLOT_KEYS + ff.slot_aad(self.file_id, old.slot_id))
            slot = ff.Slot(
                old.slot_id,
                old.kind,
                old.access,
                old.tag,
                ff.KDF_ARGON2ID,
                salt,
                kdf,
                old.public,
                wrapped,
                old.sealed_register,
                old.sealed_vault,
            )
            signing_public = None
        self.header.slots = [slot if s.slot_id == old.slot_id else s for s in self.header.slots]
        if old.slot_id == self.slot.slot_id:
            self.slot, self.kek = slot, kek
        self.header_changed = True
        return slot, kek, signing_public

    def remove_slot_and_rotate(self, slot_id: bytes) -> ff.Slot:
        """Remove a slot, then rotate the register key (and the vault key for a custodian's).

        The new keys are sealed to the remaining slots, every one of which open has checked against its grant.
        """
        victim = next((s for s in self.header.slots if s.slot_id == slot_id), None)
        if victim is None:
            raise InputError("that key slot is not in this register")
        self.header.slots = [s for s in self.header.slots if s.slot_id != victim.slot_id]
        self.rotate(vault=victim.is_custodian)
        self.forget_previous = True
        return victim

    def rotate(self, *, vault: bool) -> None:
        """New register key (and vault key), re-sealed to every remaining slot's public key."""
        self.keys.register_key = crypto.random_bytes(crypto.KEY_LEN)
        if vault:
            old_vault = self._vault_key()
            new_vault = crypto.random_bytes(crypto.KEY_LEN)
            self._reencrypt_fields(old_vault, new_vault)
            self.keys.vault_key = new_vault
        for slot in self.header.slots:
            _seal_keys_into(slot, self.file_id, self.keys)
        self.header_changed = True

    def _reencrypt_fields(self, old: bytes, new: bytes) -> None:
        for row in self.db.execute("SELECT account, password FROM credentials WHERE password IS NOT NULL").fetchall():
            plain = crypto.open_sealed(old, row["password"], _field_aad("credentials", row["account"], "password"))
            self.db.execute(
                "UPDATE credentials SET password_fp = ? WHERE account = ?", (_fingerprint(new, plain), row["account"])
            )
        # An earlier password's fingerprint too, or a rotation back to it would no longer be recognised.
        for row in self.db.execute(
            "SELECT id, password FROM password_history WHERE password_fp IS NOT NULL"
        ).fetchall():
            plain = crypto.open_sealed(old, row["password"], _field_aad("password_history", str(row["id"]), "password"))
            self.db.execute(
                "UPDATE password_history SET password_fp = ? WHERE id = ?", (_fingerprint(new, plain), row["id"])
            )
        for table, (key_col, columns) in ENCRYPTED_COLUMNS.items():
            rows = self.db.execute(f"SELECT {key_col}, {', '.join(columns)} FROM {table}").fetchall()
            for row in rows:
                updates = {}
                for col in columns:
                    if row[col] is not None:
                        aad = _field_aad(table, str(row[key_col]), col)
                        updates[col] = crypto.seal(new, crypto.open_sealed(old, row[col], aad), aad)
                if updates:
                    sets = ", ".join(f"{c} = ?" for c in updates)
                    self.db.execute(f"UPDATE {table} SET {sets} WHERE {key_col} = ?", (*updates.values(), row[key_col]))


def _fingerprint(vault_key: bytes, value: bytes) -> str:
    import hmac

    subkey = crypto.hkdf(vault_key, b"", LABEL_FINGERPRINT)  # never the encryption key itself
    return hmac.new(subkey, value, hashlib.sha256).hexdigest()


def vault_slots_mac(vault_key: bytes, header: ff.Header) -> bytes:
    """HMAC-SHA256 over every vault-access slot's id, kind, tag and public key."""
    import hmac

    subkey = crypto.hkdf(vault_key, header.file_id, ff.LABEL_VAULT_SLOTS)
    message = b"".join(
        s.slot_id + bytes([s.kind]) + s.tag + s.public
        for s in sorted(header.slots, key=lambda s: s.slot_id)
        if s.access == ff.ACCESS_VAULT
    )
    return hmac.new(subkey, message, hashlib.sha256).digest()


def _field_aad(table: str, row: str, column: str) -> bytes:
    return LABEL_FIELD + f"{table}/{row}/{column}".encode("utf-8")


def _make_person_slot(
    file_id: bytes, email: str, access: int, passphrase: str, kdf: KdfParams, keys: Keys, slot_id: bytes | None = None
) -> tuple[ff.Slot, bytes, bytes]:
    slot_id = slot_id or crypto.random_bytes(16)
    salt = crypto.random_bytes(crypto.SALT_LEN)
    kek = crypto.argon2id(passphrase, salt, kdf)
    x_private, x_public = crypto.x25519_keypair()
    s_private, s_public = crypto.ed25519_keypair()
    wrapped = crypto.seal(kek, x_private + s_private, ff.LABEL_SLOT_KEYS + ff.slot_aad(file_id, slot_id))
    slot = ff.Slot(
        slot_id,
        ff.KIND_PERSON,
        access,
        ff.person_tag(file_id, email),
        ff.KDF_ARGON2ID,
        salt,
        kdf,
        x_public,
        wrapped,
        b"",
        b"",
    )
    _seal_keys_into(slot, file_id, keys)
    return slot, kek, s_public


def _seal_keys_into(slot: ff.Slot, file_id: bytes, keys: Keys) -> None:
    aad = ff.slot_aad(file_id, slot.slot_id)
    slot.sealed_register = crypto.seal_to(slot.public, keys.register_key, ff.LABEL_REGISTER_KEY, aad)
    if slot.access == ff.ACCESS_VAULT:
        assert keys.vault_key is not None
        slot.sealed_vault = crypto.seal_to(slot.public, keys.vault_key, ff.LABEL_VAULT_KEY, aad)
    else:
        slot.sealed_vault = b""


_hardened: list[bool] = []


def no_core_dumps() -> None:
    """No core file of this process, which is about to hold keys: RLIMIT_CORE 0 and, on Linux, not dumpable.

    PR_SET_DUMPABLE also stops other processes of the same user from attaching a debugger (ptrace).
    """
    if _hardened:
        return
    _hardened.append(True)
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):
        pass  # Windows has no core dumps to switch off
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
        except (OSError, AttributeError):
            pass


def _unwrap(header: ff.Header, slot: ff.Slot, kek: bytes) -> Keys:
    """Open a slot with its KEK. A wrong KEK raises CryptoFailure; a right KEK on a bad slot, DamagedError."""
    no_core_dumps()
    aad = ff.slot_aad(header.file_id, slot.slot_id)
    inner = crypto.open_sealed(kek, slot.wrapped, ff.LABEL_SLOT_KEYS + aad)
    x_private = inner[:32]
    try:
        if crypto.x25519_public_of(x_private) != slot.public:
            raise CryptoFailure("public key mismatch")
        register_key = crypto.open_sealed_to(x_private, slot.sealed_register, ff.LABEL_REGISTER_KEY, aad)
        vault_key = (
            crypto.open_sealed_to(x_private, slot.sealed_vault, ff.LABEL_VAULT_KEY, aad)
            if slot.access == ff.ACCESS_VAULT
            else None
        )
    except CryptoFailure:
        raise DamagedError("register damaged or altered: a key slot opens but its keys do not") from None
    return Keys(register_key, vault_key, x_private, inner[32:] or None)


def _unwrap_own(header, slot: ff.Slot, kek: bytes) -> Keys:
    """A format-5 slot's own keys: its X25519 and signing keys (the scope keys are in its keyring, F2)."""
    no_core_dumps()
    aad = ff.slot_aad(header.file_id, slot.slot_id)
    inner = crypto.open_sealed(kek, slot.wrapped, ff.LABEL_SLOT_KEYS + aad)
    if crypto.x25519_public_of(inner[:32]) != slot.public:
        raise DamagedError("register damaged or altered: a key slot opens but its keys do not")
    return Keys(b"", None, inner[:32], inner[32:] or None)


def _kek_from_passphrase(slot: ff.Slot, passphrase: str) -> bytes:
    return crypto.argon2id(passphrase, slot.salt, slot.kdf)


def recovery_kek(slot: ff.Slot, recovery_key: bytes) -> bytes:
    return crypto.hkdf(recovery_key, slot.salt, ff.LABEL_RECOVERY)


def choose_slot(header: ff.Header, actor: str | None) -> ff.Slot:
    if actor:
        tag = ff.person_tag(header.file_id, actor)
        for slot in header.slots:
            if slot.kind == ff.KIND_PERSON and slot.tag == tag:
                return slot
        raise AccessError(f"{actor} has no key slot in this register")
    people = [s for s in header.slots if s.kind == ff.KIND_PERSON]
    if len(people) == 1:
        return people[0]
    raise AccessError("several people can open this register: say who you are with --as EMAIL or ACCOUNTCTL_USER")


def keyring_name(header: ff.Header, slot: ff.Slot) -> str:
    return slot.tag.hex()


def unlock_kek(
    header: ff.Header,
    slot: ff.Slot,
    passphrase_source: PassphraseSource,
    *,
    use_keyring: bool = True,
    known: bytes | None = None,
) -> tuple[bytes, Keys]:
    """Find the KEK that opens `slot`: the agent's, then the keyring's cached one, then the passphrase.

    An agent that is gone (stopped, or killed) simply answers nothing, and the next source is tried.
    A format-5 slot holds no sealed register key: its keys are in its keyring (`_unwrap_own`).
    """
    opener = _unwrap_own if header.version == 5 else _unwrap
    if known is not None:  # `login`: the KEK it derived, checked by a full open before it is cached anywhere
        try:
            return known, opener(header, slot, known)
        except CryptoFailure:
            raise AccessError("your passphrase changed while this command ran; run it again") from None
    if use_keyring:
        from accountctl.agent import client as agent_client

        for source in (agent_client.get_kek, keyring_cache.get):
            cached = source(header.file_id, keyring_name(header, slot))
            if cached is None:
                continue
            try:
                return cached, opener(header, slot, cached)
            except CryptoFailure:
                pass  # stale cache (passphrase changed): fall back to the next source
    passphrase = passphrase_source()
    kek = _kek_from_passphrase(slot, passphrase)
    try:
        return kek, opener(header, slot, kek)
    except CryptoFailure:
        raise AccessError("wrong passphrase") from None


def _make_recovery_slot(file_id: bytes, recovery_key: bytes, keys: Keys) -> ff.Slot:
    slot_id = crypto.random_bytes(16)
    salt = crypto.random_bytes(crypto.SALT_LEN)
    x_private, x_public = crypto.x25519_keypair()
    slot = ff.Slot(
        slot_id,
        ff.KIND_RECOVERY,
        ff.ACCESS_VAULT,
        bytes(ff.TAG_LEN_PERSON),
        ff.KDF_HKDF,
        salt,
        KdfParams(0, 0, 0),
        x_public,
        b"",
        b"",
        b"",
    )
    slot.wrapped = crypto.seal(
        crypto.hkdf(recovery_key, salt, ff.LABEL_RECOVERY),
        x_private,
        ff.LABEL_SLOT_KEYS + ff.slot_aad(file_id, slot_id),
    )
    _seal_keys_into(slot, file_id, keys)
    return slot


def format_recovery_key(key: bytes) -> str:
    """The recovery key as base32 in dash-separated groups of four, for printing and typing."""
    text = base64.b32encode(key).decode("ascii").rstrip("=")
    return "-".join(text[i : i + 4] for i in range(0, len(text), 4))


def parse_recovery_key(text: str) -> bytes:
    """Inverse of `format_recovery_key`, tolerant of case, spaces and dashes."""
    cleaned = "".join(ch for ch in text.upper() if ch.isalnum())
    try:
        key = base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except ValueError:
        raise InputError("that is not a recovery key (expected groups of letters A-Z and digits 2-7)") from None
    if len(key) != RECOVERY_KEY_BYTES:
        raise InputError("that is not a recovery key (wrong length)")
    return key
