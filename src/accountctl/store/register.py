"""An unlocked register: open (unlock a slot, decrypt, check), save (atomic, locked), slot changes.

Key hierarchy (docs/file-format.md): passphrase -Argon2id-> KEK -AES-GCM-> the person's X25519 and
Ed25519 private keys; the register key (and for custodians the vault key) is sealed to each slot's
X25519 public key. Sealing to public keys is what lets a revoke rotate the register key and re-seal
it for everyone left without knowing their passphrases.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, NamedTuple

from accountctl import membership as grants  # the module; `membership` is the state it derives
from accountctl.errors import AccessError, DamagedError, InputError
from accountctl import chain, crypto
from accountctl.store import checking, db as dbmod, fileformat as ff, keyring_cache, stores, trust, witness
from accountctl.crypto import CryptoFailure, KdfParams
from accountctl.store.stores import describe  # noqa: F401 (an address as messages show it: a URL without its password)

PassphraseSource = Callable[[], str]

# Columns encrypted under the vault key: table -> (row key column, encrypted columns).
ENCRYPTED_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "credentials": ("account", ("username", "password", "totp", "recovery")),
    "password_history": ("id", ("password",)),
}
LABEL_FIELD = b"accountctl/v1/field/"
LABEL_FINGERPRINT = b"accountctl/v1/password-fingerprint/"
RECOVERY_KEY_BYTES = 20
# A save moves the main database's events into the history archive once there are this many: the
# archive is re-encrypted once per batch, and in between every save copies its bytes unchanged.
ARCHIVE_AT = 1000
# Records a file's tail may hold before the next event-only save rewrites the file instead: each is
# checked at every open (a decryption and a signature, ~0.1 ms).
MAX_TAIL_RECORDS = 1000
# An event as a tail record carries it (schemas/tail-record.schema.json); the last one also has its signature.
TAIL_COLUMNS = ("seq", "at", "actor", "action", "target", "account", "details", "prev_hash", "hash", "at_real")


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


class Register:
    """An open, unlocked register: its header, keys, database and the actor who unlocked it."""

    def __init__(
        self,
        store: stores.Store,
        header: ff.Header,
        keys: Keys,
        conn: sqlite3.Connection,
        slot: ff.Slot,
        actor: str,
        kek: bytes,
        history_offset: int = 0,
        membership: grants.Membership | None = None,
    ):
        self.store = store  # where its bytes are kept: a file or PostgreSQL (store/stores.py)
        self.header = header
        self.keys = keys
        self.db = conn
        self.slot = slot
        self.actor = actor
        self.kek = kek
        self.membership = membership or grants.Membership()
        self.body_digest: bytes | None = None  # SHA-256 of the body as read (only readers of history compute it)
        self.rolled_back = False  # older than this machine had seen, and accepted: the witness may go back
        self.seen: dict | None = None  # what this machine's witness knew of the register when it was opened
        self.recovery: dict | None = None  # at `create` only: the recovery slot, for the root record
        self._seq_at_open = dbmod.events_head_seq(conn)
        self._changes_at_open = conn.total_changes
        self.header_changed = False
        # Where the history archive starts in the file on disk, and the key it is encrypted under there.
        self._history_offset = history_offset
        self._history_key = keys.register_key
        self._history_rewritten = False
        self._archive_digest: bytes | None = None
        # The tail (docs/file-format.md §5e): the header bytes its records are bound to, where the file's
        # last whole record ends, and how many there are. A command that only records events says so
        # (`events_only`), and its save appends them there instead of rewriting the file.
        self.raw = b""
        self._tail_end: int | None = None
        self._tail_count = 0
        self.events_only = False
        self.forget_previous = False  # the next save leaves no older generation beside the file (a revoke)
        # What this machine knows of the register, written to its state folder only when the command
        # succeeds (`commit_local_state`): an open that refuses the register writes nothing anywhere.
        self.address: str | None = None
        self.checked = checking.Checked()
        self.decisions: checking.DecisionLookup | None = None
        self._witness_due = False

    # -- the history archive ------------------------------------------------------------------
    @property
    def history_loaded(self) -> bool:
        return dbmod.history_attached(self.db)

    def load_history(self, blob: bytes | memoryview | None = None) -> None:
        """Decrypt the history archive and attach it, so `all_events` holds every event.

        `blob` is the archive as read with the body; without it the archive is read from the store,
        which only a writer (holding the lock, so the register cannot change) may do.
        """
        if self.history_loaded:
            return
        plain = None
        if self.header.history_len:
            if blob is None:
                blob = self.store.read_archive(self._archive_at())
            self._archive_digest = hashlib.sha256(blob).digest()
            try:
                plain = crypto.decrypt_with_nonce(
                    self._history_key, self.header.history_nonce, blob, _history_aad(self.header)
                )
            except CryptoFailure:
                raise DamagedError("register damaged or altered: the history archive does not authenticate") from None
            if isinstance(blob, memoryview):
                blob.release()  # the last view of the file's bytes: free them before SQLite copies the plaintext
        dbmod.attach_history(self.db, plain)

    def _archive_at(self) -> stores.ArchiveAt:
        """The archive the register as opened (or last saved) has: where, how long, its digest."""
        return stores.ArchiveAt(self._history_offset, self.header.history_len, self.header.history_digest)

    def _archive_if_due(self) -> None:
        if self.db.execute("SELECT count(*) FROM main.events").fetchone()[0] < ARCHIVE_AT:
            return
        self.load_history()
        self.db.execute(f"INSERT INTO {dbmod.HISTORY}.events SELECT * FROM main.events")
        self.db.execute("DELETE FROM main.events")
        self.db.execute("VACUUM main")  # or the moved events' pages stay in the file, empty
        self._history_rewritten = True

    # -- identity -----------------------------------------------------------------------------
    @property
    def is_custodian(self) -> bool:
        return self.keys.vault_key is not None

    @property
    def file_id(self) -> bytes:
        return self.header.file_id

    @property
    def dirty(self) -> bool:
        return self.header_changed or self.db.total_changes != self._changes_at_open

    def save_problems(self) -> list[str]:
        """Problems with the last save's signature and the archive it vouches for (needs `history`)."""
        if self.body_digest is None:
            raise ValueError("open the register with history=True to check its last save")
        problems = trust.verify_save(self.membership, self.header, self.body_digest)
        if self.header.history_len and self._archive_digest != self.header.history_digest:
            problems.append("the history archive is not the one the last save signed for")
        return problems

    def check_archive(self) -> None:
        """Before a writer changes anything: the archive on disk is the one the header vouches for.

        Every save copies the archive into the new file (and the old file becomes PATH.bak), so a
        damaged archive must stop the command before it starts, not after it has said what it did.
        """
        if self.header.history_len and not self.history_loaded:
            if self.store.archive_digest(self._archive_at()) != self.header.history_digest:
                raise stores.archive_mismatch()

    def reload_membership(self) -> None:
        """Re-derive the membership after a record was added (grant, revoke, recovery, rollback)."""
        self.membership = grants.load(self.db, self.file_id)

    def saved_by(self) -> str | None:
        """Who saved the register last, as its header says (`verify` checks the signature)."""
        return trust.saved_by(self.membership, self.header)

    def commit_local_state(self) -> None:
        """Write what this open taught the machine (witness, history checked), once the command has succeeded."""
        if self._witness_due:
            _remember(self)
        if self.checked.changed:
            self.checked.changed = False
            witness.save_checked(self.file_id, self.checked.dump())

    def _checked_own_save(self, checked_to_head: bool) -> None:
        """After a save, check its events too (a few, signed just now), so the next open has nothing to check.

        Only when this open had checked up to the head; if they do not verify (code of one's own that
        bypassed the store's signing), the next open finds them, and refuses.
        """
        if not checked_to_head:
            return
        try:
            self.checked = checking.check_history(self, self.checked)
        except DamagedError:
            return
        if self.decisions is not None:
            self.decisions.checked = self.checked
            self.decisions.unsaved.clear()
            self.decisions.since = self.checked.seq

    # -- the tail -----------------------------------------------------------------------------
    def apply_tail(self, data: bytes | memoryview) -> None:
        """Add the events of the tail's whole records (read from where the last one ended) to the database.

        Each record must decrypt under this header and at its place, continue the chain from the
        events before it, and end in an event its actor signed with a key they held then, as a save's
        last event is: an insider with the register key cannot add events in another's name.
        """
        records, used = ff.split_tail(data)
        for sealed in records:
            index = self._tail_count
            where = f"record {index + 1} at the end of the file"
            try:
                plain = crypto.open_sealed(self.keys.register_key, bytes(sealed), ff.tail_aad(self.raw, index))
                rows = json.loads(plain)["events"]
                if not isinstance(rows, list) or not rows:
                    raise ValueError("no events")
                chain.append_signed(self.db, rows, self.membership, self.file_id, crypto.verify_signature)
            except CryptoFailure:
                raise DamagedError(f"register damaged or altered: {where} does not authenticate") from None
            except (ValueError, KeyError, TypeError) as exc:
                raise DamagedError(
                    f"register damaged or altered: {where} does not continue the history ({exc})"
                ) from None
            self._tail_count += 1
        self._tail_end += used
        self._seq_at_open = dbmod.events_head_seq(self.db)
        self._changes_at_open = self.db.total_changes

    def refresh_tail(self) -> bool:
        """Add records appended since this register was read (the agent's cached copy); False when it cannot."""
        read_from = getattr(self.store, "read_from", None)
        if read_from is None or self._tail_end is None or self.dirty:
            return False
        self.apply_tail(read_from(self._tail_end))
        return True

    def _new_events_to_append(self) -> list[tuple] | None:
        """This save's events, when it may append them to the tail rather than rewrite the file.

        Only a command that said it records nothing but events (`events_only`), and only when the
        database agrees: each event is two changes (its row and the chain's head), nothing else was
        changed, and the header and archive stay as they are.
        """
        if (
            not self.events_only
            or not getattr(self.store, "appendable", lambda: False)()
            or self._tail_end is None
            or self.header.version != ff.VERSION
            or self.header_changed
            or self._history_rewritten
            or self._tail_count >= MAX_TAIL_RECORDS
        ):
            return None
        rows = self.db.execute(
            f"SELECT {', '.join(TAIL_COLUMNS)} FROM main.events WHERE seq > ? ORDER BY seq", (self._seq_at_open,)
        ).fetchall()
        if not rows or self.db.total_changes - self._changes_at_open != 2 * len(rows):
            return None
        return rows

    def _append(self, rows: list[tuple]) -> None:
        """Append this save's events as one tail record, signed like a save's last event; then note it everywhere."""
        self._sign_new_events()
        signature = self.db.execute("SELECT signature FROM main.events WHERE seq = ?", (rows[-1][0],)).fetchone()[0]
        items = [dict(zip(TAIL_COLUMNS, r)) for r in rows]
        for item in items:
            item["details"] = json.loads(item["details"])
        items[-1]["signature"] = bytes(signature).hex()
        sealed = crypto.seal(
            self.keys.register_key,
            json.dumps({"events": items}, sort_keys=True).encode("utf-8"),
            ff.tail_aad(self.raw, self._tail_count),
        )
        self._tail_end = self.store.append(self._tail_end, ff.tail_record(sealed))
        self._tail_count += 1
        self._seq_at_open = dbmod.events_head_seq(self.db)
        self._witness_due = True
        self._changes_at_open = self.db.total_changes

    # -- signing ------------------------------------------------------------------------------
    def _sign_new_events(self) -> None:
        """Sign the last event this save adds; the chain makes that signature cover every one before it.

        A save signs only in its own name: events that name anyone else are refused, as a forgery.
        """
        rows = self.db.execute(
            "SELECT seq, actor, hash FROM main.events WHERE seq > ? ORDER BY seq", (self._seq_at_open,)
        ).fetchall()
        if not rows:
            return
        strangers = sorted({r[1] for r in rows if r[1] != self.actor})
        if strangers:
            raise AccessError(f"{self.actor} cannot record events in the name of {', '.join(strangers)}")
        if self.keys.signing_private is None:
            raise AccessError("this key slot has no signing key, so it cannot change the register")
        seq, _, digest = rows[-1]
        self.db.execute(
            "UPDATE main.events SET signature = ? WHERE seq = ?",
            (trust.sign_event(self.file_id, digest, self.keys.signing_private), seq),
        )

    def _sign_save(self, body_digest: bytes) -> None:
        self.header.saved_by = self.slot.slot_id
        self.header.saved_at = int(time.time())
        self.header.save_signature = bytes(ff.SIGNATURE_LEN)
        if self.keys.signing_private is not None:
            self.header.save_signature = crypto.sign(
                self.keys.signing_private, trust.save_message(self.header, body_digest)
            )

    # -- saving -------------------------------------------------------------------------------
    def save(self) -> None:
        """Check the database, encrypt it under a fresh nonce and replace the register in one atomic step.

        The history archive is re-encrypted only when it changed or the register key did;
        otherwise the store keeps its bytes as they are (a file copies them into the new file).
        """
        appendable = self._new_events_to_append()
        self.events_only = False  # said of this save's changes only: the next ones say it again if it holds
        checked_to_head = self.checked.seq == self._seq_at_open
        if appendable:
            self._append(appendable)
            self._checked_own_save(checked_to_head)
            self.commit_local_state()
            return
        kept = self._archive_at()
        expected = self.header.generation  # 0: a new register, which the store refuses to put over one
        self._sign_new_events()
        self._archive_if_due()
        rekey = self.header.history_len and self._history_key != self.keys.register_key
        if rekey:
            self.load_history()  # with the old key, before it is re-encrypted under the new one
        dbmod.check(self.db)
        plain = dbmod.serialize(self.db)
        archive = None
        if self._history_rewritten or rekey:
            self.header.history_nonce = crypto.random_bytes(crypto.NONCE_LEN)
            archive = crypto.encrypt_with_nonce(
                self.keys.register_key,
                self.header.history_nonce,
                dbmod.serialize(self.db, dbmod.HISTORY),
                _history_aad(self.header),
            )
            self.header.history_len = len(archive)
            self.header.history_digest = hashlib.sha256(archive).digest()
        if self.keys.vault_key is not None:
            self.header.vault_mac = vault_slots_mac(self.keys.vault_key, self.header)
        self.header.generation += 1
        self.header.body_nonce = crypto.random_bytes(crypto.NONCE_LEN)
        self.header.body_len = len(plain) + crypto.TAG_LEN
        self.header.version = ff.VERSION
        self._sign_save(hashlib.sha256(plain).digest())
        raw = ff.encode_header(self.header)
        key, nonce = self.keys.register_key, self.header.body_nonce

        def write_body(handle) -> None:
            crypto.encrypt_to(handle, key, nonce, plain, raw)

        self.store.save(expected, self.header, raw, write_body, archive, None if archive is not None else kept)
        if self.forget_previous:
            # A revoked person's passphrase still opens the generation before: it must not stay beside the file.
            getattr(self.store, "forget_previous", lambda: None)()
            self.forget_previous = False
        self._seq_at_open = dbmod.events_head_seq(self.db)
        self._checked_own_save(checked_to_head)
        self._changes_at_open = self.db.total_changes
        self.header_changed = False
        self._history_offset = len(raw) + self.header.body_len
        self._history_key = self.keys.register_key
        self._history_rewritten = False
        self.raw, self._tail_end, self._tail_count = raw, self._history_offset + self.header.history_len, 0
        self._witness_due = True
        self.commit_local_state()

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
    import hashlib
    import hmac

    subkey = crypto.hkdf(vault_key, b"", LABEL_FINGERPRINT)  # never the encryption key itself
    return hmac.new(subkey, value, hashlib.sha256).hexdigest()


def vault_slots_mac(vault_key: bytes, header: ff.Header) -> bytes:
    """HMAC-SHA256 over every vault-access slot's id, kind, tag and public key."""
    import hashlib
    import hmac

    subkey = crypto.hkdf(vault_key, header.file_id, ff.LABEL_VAULT_SLOTS)
    message = b"".join(
        s.slot_id + bytes([s.kind]) + s.tag + s.public
        for s in sorted(header.slots, key=lambda s: s.slot_id)
        if s.access == ff.ACCESS_VAULT
    )
    return hmac.new(subkey, message, hashlib.sha256).digest()


def _history_aad(header: ff.Header) -> bytes:
    # Stable across saves (the archive's bytes are copied unchanged); the header, which the body
    # authenticates, pins the archive's nonce and length, so an older archive cannot be put back.
    return ff.LABEL_HISTORY + header.file_id


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


def _head_and_body(prefix: bytes) -> int:
    total, body_len, _ = ff.file_lengths(prefix)
    return total + min(body_len, ff.MAX_BODY)


def _tail_start(prefix: bytes) -> int:
    total, body_len, history_len = ff.file_lengths(prefix)
    return total + body_len + history_len


def _check_size(header: ff.Header, raw: bytes, size: int) -> None:
    """The file must be header, body and archive: no less, and more only as a format-4 tail (§5e)."""
    expected = len(raw) + header.body_len + header.history_len
    if size < expected or (size > expected and header.version != ff.VERSION):
        what = "truncated" if size < expected else "longer than its header says"
        raise DamagedError(f"register damaged: the file is {what}")


class Loaded(NamedTuple):
    header: ff.Header
    raw: bytes
    body: memoryview
    archive: memoryview | None
    tail: memoryview  # the records after the archive (§5e); empty for most files


def _load(store: stores.Store, with_history: bool = False) -> Loaded:
    """The header, its bytes, a view of the body and of the tail (and, `with_history`, of the archive), from one read.

    Without `with_history` the archive's bytes are not read at all. With it, the archive comes
    from the same read as the body, so a writer replacing the file in between cannot pair this
    header with another file's archive.
    """
    data, size = store.read(upto=None if with_history else _head_and_body, tail_at=_tail_start)
    header, raw = ff.parse_header(data)
    end = len(raw) + header.body_len
    _check_size(header, raw, size)
    tail_len = size - end - header.history_len
    if len(data) != (size if with_history else end + tail_len):  # the file changed while it was read
        raise DamagedError("register damaged: the file is truncated")
    view = memoryview(data)  # views: a large body is not copied
    archive = view[end : end + header.history_len] if with_history and header.history_len else None
    tail = memoryview(bytes(view[len(view) - tail_len :]))  # a copy: a view would keep the whole file's bytes alive
    return Loaded(header, raw, view[len(raw) : end], archive, tail)


def _decrypt_body(
    header: ff.Header, raw: bytes, body: memoryview, register_key: bytes, digest: bool = False
) -> tuple[sqlite3.Connection, bytes | None]:
    """The body's database, and with `digest` the SHA-256 of its plaintext (what a save signs)."""
    try:
        plain = crypto.decrypt_with_nonce(register_key, header.body_nonce, body, raw)
    except CryptoFailure:
        raise DamagedError("register damaged or altered: the body does not authenticate") from None
    body.release()  # drop the file's bytes before SQLite copies the plaintext: peak memory is two bodies, not three
    return dbmod.deserialize(plain), hashlib.sha256(plain).digest() if digest else None


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
    """
    if known is not None:  # `login`: the KEK it derived, checked by a full open before it is cached anywhere
        try:
            return known, _unwrap(header, slot, known)
        except CryptoFailure:
            raise AccessError("your passphrase changed while this command ran; run it again") from None
    if use_keyring:
        from accountctl.agent import client as agent_client

        for source in (agent_client.get_kek, keyring_cache.get):
            cached = source(header.file_id, keyring_name(header, slot))
            if cached is None:
                continue
            try:
                return cached, _unwrap(header, slot, cached)
            except CryptoFailure:
                pass  # stale cache (passphrase changed): fall back to the next source
    passphrase = passphrase_source()
    kek = _kek_from_passphrase(slot, passphrase)
    try:
        return kek, _unwrap(header, slot, kek)
    except CryptoFailure:
        raise AccessError("wrong passphrase") from None


def _finish_open(
    store: stores.Store,
    loaded: Loaded,
    slot: ff.Slot,
    keys: Keys,
    kek: bytes,
    history: bool = False,
    seen: dict | None = None,
    accepting_rollback: bool = False,
    check: bool = True,
    address: str | None = None,
) -> Register:
    """Decrypt the body, then check it against the header before anyone acts on it.

    In order: the vault MAC (custodians), the membership records against the header's slots (every
    slot must be granted), the people table against the membership, this machine's witness, and
    the history since this machine last checked it (store/checking.py; `check=False` only for
    `verify`, which checks everything itself and reports). `seen` is the witness as read before the
    file was, so a save by another process in between cannot look like a rollback. The tail's events
    are added after the membership is known, as each record's signature is checked against it.
    Nothing is written here: the command's success writes what the machine learnt.
    """
    header, raw, body, archive, tail = loaded
    offset = len(raw) + header.body_len
    conn, digest = _decrypt_body(header, raw, body, keys.register_key, digest=history)
    if dbmod.schema_version(conn) < dbmod.SCHEMA_VERSION:
        raise DamagedError("register altered: its database is older than its format; nothing was read or written")
    membership = grants.load(conn, header.file_id, verified_head=(seen or {}).get("members"))
    trust.check_header(membership, header)
    if keys.vault_key is not None:  # defence in depth: the grants above already bind every custodian slot
        import hmac

        if not hmac.compare_digest(header.vault_mac, vault_slots_mac(keys.vault_key, header)):
            raise DamagedError("register altered: its custodian key slots were changed without vault access")
    if slot.kind == ff.KIND_RECOVERY:
        actor = grants.RECOVERY
    else:
        actor = membership.members[slot.slot_id].email
    _check_people(conn, membership)
    reg = Register(store, header, keys, conn, slot, actor, kek, offset, membership)
    reg.body_digest = digest
    reg.seen = seen
    reg.raw = raw
    reg._tail_end = offset + header.history_len
    reg.address = address
    reg.apply_tail(tail)
    if history:
        reg.load_history(archive)
    _check_witness(reg, seen, accepting_rollback)
    checked = checking.Checked.parse(witness.load_checked(header.file_id))
    reg.checked = checking.check_history(reg, checked) if check else checked
    reg.decisions = checking.install(reg, reg.checked)
    return reg


def _check_people(conn: sqlite3.Connection, membership: grants.Membership) -> None:
    """The people table (names, grant dates) must list exactly the members, with their access."""
    rows = {(r[0], r[1], bytes(r[2])) for r in conn.execute("SELECT email, access, slot_id FROM people")}
    granted = {(m.email, m.access, m.slot_id) for m in membership.members.values()}
    if rows != granted:
        raise DamagedError("register altered: its list of people with key slots differs from their signed grants")


def _has_event(reg: Register, seq: int, digest: str) -> bool:
    if seq <= 0:
        return True
    head_seq, head_hash = dbmod.get_meta(reg.db, "events_head").split(" ", 1)
    if seq > int(head_seq):
        return False
    if seq == int(head_seq):  # the usual case, and the only one right after events were archived
        return head_hash == digest
    row = reg.db.execute("SELECT hash FROM main.events WHERE seq = ?", (seq,)).fetchone()
    if row is None:  # archived since: read the archive (once per batch of archived events on this machine)
        reg.load_history()
        row = reg.db.execute(f"SELECT hash FROM {dbmod.ALL_EVENTS} WHERE seq = ?", (seq,)).fetchone()
    return row is not None and row[0] == digest


def _check_witness(reg: Register, seen: dict | None, accepting: bool) -> None:
    """Refuse a register older than this machine has seen, unless a custodian signed for that very rollback."""
    reg._witness_due = True  # written once the command succeeds (`commit_local_state`)
    if seen is None:
        return
    membership = reg.membership
    if seen.get("root") != membership.root_key.hex():
        raise DamagedError(
            "register altered: it is not the register this machine knows by its id (another root "
            "of trust); nothing was read or written"
        )
    seq, digest = int(seen.get("seq", 0)), str(seen.get("hash", ""))
    generation = reg.header.generation
    older = generation < int(seen.get("generation", 0))
    if older or not _has_event(reg, seq, digest):
        reg.rolled_back = True
        if accepting:
            return  # `vault accept-rollback` records it, and its save updates the witness
        fresh = [
            r
            for r in membership.rollbacks
            if r["digest"] not in seen.get("accepted", [])
            and _abandons(r["abandoned"], seen)
            and r["signer"] not in seen.get("retired", [])
        ]
        if not fresh:
            what = (
                f"this machine has seen generation {seen.get('generation')} but the file is generation {generation}"
                if older
                else f"the file (generation {generation}) does not contain event {seq}, the last one this machine saw "
                f"in generation {seen.get('generation')}"
            )
            raise DamagedError(
                f"register rolled back: {what}. If a custodian restored it on purpose, they run "
                "'accountctl vault accept-rollback --reason TEXT'"
            )
        last = fresh[-1]
        print(
            f"Notice: accepting the restore of an older copy that {last['by']} recorded at {last['at_real']}: "
            f"{last['reason']}",
            file=sys.stderr,
        )


def _abandons(abandoned: dict, seen: dict) -> bool:
    """Whether a rollback record gives up exactly the register this machine saw last: its generation and header.

    A record names the one save it abandons, so it authorises that restore only: one signed ahead of
    time for a generation to come cannot name that save's header (records from before headers were
    named must match the last event instead).
    """
    try:
        if int(abandoned["generation"]) != int(seen.get("generation", -1)):
            return False
        if "header" in abandoned:
            return abandoned["header"] == seen.get("header")
        return int(abandoned["seq"]) == int(seen.get("seq", -1)) and abandoned["hash"] == seen.get("hash")
    except (KeyError, TypeError, ValueError):
        return False


def header_digest(raw: bytes) -> str:
    """What the witness and rollback records call a save: the SHA-256 of its header bytes."""
    return hashlib.sha256(raw).hexdigest()


def _remember(reg: Register) -> None:
    """Record in the witness what this machine now knows of the register.

    Never backwards (another process here may have seen a newer file meanwhile), except after a
    rollback a custodian signed for; the address it was opened at is added either way.
    """
    reg._witness_due = False
    current = witness.load_all().get(reg.file_id.hex())
    current = current if isinstance(current, dict) else {}
    entry = witness_entry(reg, current)
    if entry is None:
        if reg.address is None or reg.address in current.get("at", []):
            return
        entry = dict(current, at=sorted({*current.get("at", []), reg.address}))  # keep the newer file seen meanwhile
    if entry != current:
        witness.remember(reg.file_id, entry, claim=reg.address)


def witness_entry(reg: Register, current: dict) -> dict | None:
    """What this machine's witness should hold for `reg`, given what it holds (`current`); None: leave it be.

    None when it has seen a newer generation than `reg` (not going backwards), unless `reg` is a
    rollback a custodian signed for.
    """
    seq, digest = reg.db.execute("SELECT value FROM meta WHERE key = 'events_head'").fetchone()[0].split(" ", 1)
    membership = reg.membership
    entry = {
        "generation": reg.header.generation,
        "format": max(reg.header.version, _format_seen(current)),
        "header": header_digest(reg.raw),
        "seq": int(seq),
        "hash": digest,
        "root": membership.root_key.hex(),
        "retired": sorted({k.hex() for k in membership.retired_keys()} | set(current.get("retired", []))),
        "accepted": sorted({r["digest"] for r in membership.rollbacks} | set(current.get("accepted", []))),
        "members": membership.head,  # verified: the next open here need not check these signatures again
        "at": sorted(set(current.get("at", [])) | ({reg.address} if reg.address else set())),
    }
    if not reg.rolled_back and int(current.get("generation", -1)) > entry["generation"]:
        return None
    return entry


def witness_agrees(reg: Register, seen: dict | None) -> bool:
    """Whether this machine's witness entry `seen` is what `reg` itself records (None: it has seen no copy yet).

    The agent's cached register stands for the file only while this holds; otherwise (another copy
    seen here since, a rollback accepted) it is opened again, with every check.
    """
    return seen is None or witness_entry(reg, seen) == seen


def _format_seen(seen: dict | None) -> int:
    """The newest format this machine saw a register in; an entry from before formats were noted saw 3 or 4."""
    if not seen:
        return 0
    try:
        return int(seen.get("format", ff.SAME_LAYOUT))
    except (TypeError, ValueError):
        return ff.VERSION


def _address(store: stores.Store) -> str | None:
    """What the witness calls the place a register lives: its absolute path, or its URL (no password)."""
    path = getattr(store, "path", None)
    if path is not None:
        return os.path.abspath(path)
    return store.name if getattr(store, "url", None) else None


def _refuse_before_unlocking(store: stores.Store, header: ff.Header, seen_all: dict) -> str | None:
    """Checks that need no key: another register at a known address, or an older format than seen here.

    Returns the store's address. Raises DamagedError (exit 4), or InputError for a format-2 register
    this machine never saw: only `vault upgrade` reads one, and never without its custodian's say-so.
    """
    fid = header.file_id.hex()
    address = _address(store)
    holder = witness.holder_of(address, seen_all) if address else None
    if holder is not None and holder != fid:
        raise DamagedError(
            f"register replaced: {store.name} held register {holder[:8]} on this machine and now holds another, "
            f"{fid[:8]}; nothing was read or written. If that is deliberate, remove {holder[:8]}'s entry from "
            f"{witness.state_dir() / witness.FILE}"
        )
    seen = seen_all.get(fid)
    newest = _format_seen(seen if isinstance(seen, dict) else None)
    if header.version < newest:
        raise DamagedError(
            f"register altered: it is in format {header.version}, but this machine has seen it in format {newest}; "
            "an older format is never opened in place of a newer one (nothing was read or written)"
        )
    if header.version == ff.UPGRADABLE:
        raise InputError(
            f"this register is in format {ff.UPGRADABLE}: an IT custodian upgrades it once with "
            "'accountctl vault upgrade', which lists every key slot, person and signing key it will sign"
        )
    return address


@contextmanager
def open_register(
    where: stores.Address,
    *,
    actor: str | None,
    passphrase_source: PassphraseSource,
    write: bool = False,
    use_keyring: bool = True,
    history: bool = False,
    accepting_rollback: bool = False,
    check: bool = True,
    kek: bytes | None = None,
) -> Iterator[Register]:
    """Unlock and open the register; with `write`, hold the lock and save on success if changed.

    `where` is a path, a postgresql:// URL or an open store (store/stores.py). With `history`, the
    history archive is decrypted too (`all_events`); otherwise only the main database is, which is
    all that most commands read. The costly key derivation runs before the lock is taken; under the
    lock the register is re-read and re-opened with the same KEK, so a writer never applies its
    change to a stale copy. `accepting_rollback` lets `vault accept-rollback` open a register older
    than this machine has seen; `check=False` lets `verify` open history that does not verify, to
    report it. What the open taught this machine (its witness) is written only when the block succeeds.
    """
    with stores.open_store(where) as store:
        _warn_conflict_copies(store)
        opening = (actor, passphrase_source, write, use_keyring, history, accepting_rollback, check, kek)
        with _open(store, *opening) as reg:
            yield reg
        reg.commit_local_state()


# Inside the agent: a function (store, actor) -> the agent's already opened and checked Register for
# this file as it is on disk now, or None. Reads use it.
cached_reader: Callable[[stores.Store, str | None], "Register | None"] | None = None
# The same for a writer, asked under the lock: the cached register (a forked child's own copy, or the
# agent's for a reveal it runs itself) when the file is still the very one it was read from (device,
# inode, size, mtime); it is then saved like any writer's. Otherwise the writer re-reads the file.
cached_writer: Callable[[stores.Store, str | None], "Register | None"] | None = None


@contextmanager
def _open(store: stores.Store, actor, passphrase_source, write, use_keyring, history, accepting_rollback, check, kek):
    if not write and not history and cached_reader is not None and not accepting_rollback and check:
        reg = cached_reader(store, actor)
        if reg is not None:
            yield reg
            return
    if not write:
        seen_all = witness.load_all()  # before the register is read: see `_finish_open`
        loaded = _load(store, with_history=history)
        address = _refuse_before_unlocking(store, loaded.header, seen_all)
        seen = seen_all.get(loaded.header.file_id.hex())
        slot = choose_slot(loaded.header, actor)
        kek, keys = unlock_kek(loaded.header, slot, passphrase_source, use_keyring=use_keyring, known=kek)
        yield _finish_open(store, loaded, slot, keys, kek, history, seen, accepting_rollback, check, address)
        return
    if cached_writer is not None and not history and not accepting_rollback and check:
        with store.lock():
            reg = cached_writer(store, actor)
            if reg is not None:
                yield reg
                if reg.dirty:
                    reg.save()
                return
    header, _ = read_header(store)  # enough to find the KEK; the body is read once, under the lock
    _refuse_before_unlocking(store, header, witness.load_all())
    slot = choose_slot(header, actor)
    kek, _ = unlock_kek(header, slot, passphrase_source, use_keyring=use_keyring, known=kek)
    with store.lock():
        seen_all = witness.load_all()
        loaded = _load(store)
        address = _refuse_before_unlocking(store, loaded.header, seen_all)
        seen = seen_all.get(loaded.header.file_id.hex())
        slot = choose_slot(loaded.header, actor)
        try:
            keys = _unwrap(loaded.header, slot, kek)
        except CryptoFailure:
            raise AccessError("your passphrase changed while this command ran; run it again") from None
        reg = _finish_open(store, loaded, slot, keys, kek, history, seen, accepting_rollback, check, address)
        reg.check_archive()
        yield reg
        if reg.dirty:
            reg.save()


@contextmanager
def open_with_recovery_key(where: stores.Address, recovery_key: bytes) -> Iterator[Register]:
    """Open for writing with the recovery key (held in its own slot); it signs with a key derived from it."""
    with stores.open_store(where) as store, store.lock():
        seen_all = witness.load_all()
        loaded = _load(store)
        header = loaded.header
        address = _refuse_before_unlocking(store, header, seen_all)
        seen = seen_all.get(header.file_id.hex())
        slot = next((s for s in header.slots if s.kind == ff.KIND_RECOVERY), None)
        if slot is None:
            raise AccessError("this register has no recovery key slot")
        kek = recovery_kek(slot, recovery_key)
        try:
            keys = _unwrap(header, slot, kek)
        except CryptoFailure:
            raise AccessError("wrong recovery key") from None
        reg = _finish_open(store, loaded, slot, keys, kek, seen=seen, address=address)
        try:
            keys.signing_private = trust.recovery_signing_private(reg.membership, header.file_id, keys.x25519_private)
        except CryptoFailure:
            raise DamagedError("register damaged or altered: the recovery key's signing key does not open") from None
        yield reg
        if reg.dirty:
            reg.save()
        reg.commit_local_state()


@contextmanager
def copy_register(
    source: stores.Address,
    target: stores.Address,
    *,
    actor: str | None,
    passphrase_source: PassphraseSource,
    use_keyring: bool = True,
) -> Iterator[Register]:
    """Copy a register, byte for byte, to an address where there is none (a file or PostgreSQL, either way).

    The source is read once (header, body and archive from one snapshot) and that image is opened
    like any register, with every check (grants, signed save, archive digest, this machine's
    witness); the block may refuse (the custodian rule). Then exactly those bytes are saved at the
    target and read back: keys, signatures, generation and history are unchanged, so `verify`
    passes there and machines that knew the source accept the copy as the same register.
    """
    with stores.open_store(source) as src, stores.open_store(target) as dst:
        if dst.exists():
            raise InputError(f"a register already exists at {dst.name}; refusing to overwrite it")
        if src.read(upto=lambda prefix: 0, tail_at=_tail_start)[0]:
            # Records at the end of the file: saved whole first, so the copy is one header, body and archive
            # (a store in PostgreSQL has no tail).
            with open_register(
                src, actor=actor, passphrase_source=passphrase_source, use_keyring=use_keyring, write=True
            ) as reg:
                reg.header_changed = True
        image, _ = src.read()
        with open_register(
            stores.ImageStore(src.name, image),
            actor=actor,
            passphrase_source=passphrase_source,
            use_keyring=use_keyring,
            history=True,
        ) as reg:
            yield reg
        header, raw = ff.parse_header(image)
        end = len(raw) + header.body_len
        body = memoryview(image)[len(raw) : end]
        archive = image[end : end + header.history_len] if header.history_len else None
        with dst.creating():
            dst.save(0, header, raw, lambda handle: handle.write(body), archive, None)
        if dst.read()[0] != image:
            raise DamagedError(f"the copy at {dst.name} does not read back as it was written")


def _warn_conflict_copies(store: stores.Store) -> None:
    """Name the copies a sync service (OneDrive, Google Drive) made beside a register file; they are not merged."""
    find = getattr(store, "conflict_copies", None)
    names = find() if find else []
    if names:
        print(
            f"Warning: {len(names)} conflicting cop{'y' if len(names) == 1 else 'ies'} of this register beside "
            f"it, made by a sync service when two machines saved at once: {', '.join(names)}. Their changes are "
            "not in this register: make them again here, then delete the copies (a register shared by several "
            "machines belongs in PostgreSQL: docs/shared-register.md).",
            file=sys.stderr,
        )


@contextmanager
def create(
    where: stores.Address, email: str, passphrase: str, kdf: KdfParams | None = None
) -> Iterator[tuple[Register, str, bytes]]:
    """A new register with one custodian slot and a recovery slot, saved when the block succeeds.

    Yields the register, the recovery key to print once, and the custodian's Ed25519 public key;
    the caller fills the database. The save refuses to put it over a register that appeared meanwhile.
    """
    with stores.open_store(where) as store:
        if store.exists():
            raise InputError(f"a register already exists at {store.name}; refusing to overwrite it")
        reg, recovery_key, signing_public = _new_register(store, email, passphrase, kdf or kdf_params())
        reg.address = _address(store)  # a new register here: this machine forgets any other it knew at this address
        yield reg, recovery_key, signing_public
        with store.creating():
            reg.save()


def exists(where: stores.Address) -> bool:
    """Whether there is a register at this address (`init` asks before it prompts for a passphrase)."""
    with stores.open_store(where) as store:
        return store.exists()


def _new_register(store: stores.Store, email: str, passphrase: str, kdf: KdfParams) -> tuple[Register, str, bytes]:
    file_id = crypto.random_bytes(16)
    keys = Keys(crypto.random_bytes(32), crypto.random_bytes(32), b"", None)
    slot, kek, signing_public = _make_person_slot(file_id, email, ff.ACCESS_VAULT, passphrase, kdf, keys)
    recovery_key = crypto.random_bytes(RECOVERY_KEY_BYTES)
    recovery_slot = _make_recovery_slot(file_id, recovery_key, keys)
    header = ff.Header(file_id=file_id, generation=0, body_nonce=b"\0" * 12, body_len=0, slots=[slot, recovery_slot])
    own = _unwrap(header, slot, kek)
    conn = dbmod.new_database()
    reg = Register(store, header, own, conn, slot, email, kek)
    reg.header_changed = True
    reg.recovery = trust.new_recovery_signer(file_id, recovery_slot)
    return reg, format_recovery_key(recovery_key), signing_public


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


def read_header(where: stores.Address) -> tuple[ff.Header, int]:
    """The parsed header and register size, without unlocking (for `vault status` and `--as` checks)."""
    with stores.open_store(where) as store:
        data, size = store.read(upto=lambda prefix: ff.file_lengths(prefix)[0])
    header, raw = ff.parse_header(data)
    _check_size(header, raw, size)
    return header, size


def file_status(where: stores.Address) -> dict:
    """What `vault status` shows: read from the header alone, without unlocking."""
    header, size = read_header(where)
    slots = []
    for s in header.slots:
        slots.append(
            {
                "slot": s.slot_id.hex()[:8],
                "kind": "person" if s.kind == ff.KIND_PERSON else "recovery",
                "access": grants.ACCESS[s.access],
                "kdf": "argon2id" if s.kdf_alg == ff.KDF_ARGON2ID else "hkdf-sha256",
                "memory_kib": s.kdf.memory_kib,
                "iterations": s.kdf.iterations,
                "lanes": s.kdf.lanes,
            }
        )
    from datetime import datetime, timezone

    saved_at = datetime.fromtimestamp(header.saved_at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "file": describe(where),
        "format_version": header.version,
        "file_id": header.file_id.hex(),
        "generation": header.generation,
        "size_bytes": size,
        "saved_by_slot": header.saved_by.hex()[:8],
        "saved_at": saved_at if header.saved_at else None,
        "slots": slots,
        "custodian_slots": sum(1 for s in header.slots if s.kind == ff.KIND_PERSON and s.is_custodian),
        "person_slots": sum(1 for s in header.slots if s.kind == ff.KIND_PERSON),
    }
