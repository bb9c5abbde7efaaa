"""An open, unlocked register (`Register`): its header, keys and database; saving it, signed.

Its key slots and credentials are `Slots` (keys.py), its file's tail `Tail` (tail.py); opening it is
opening.py, and what this machine remembers of it seen.py.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time

from accountctl import crypto
from accountctl import membership as grants  # the module; `membership` is the state it derives
from accountctl.crypto import CryptoFailure
from accountctl.errors import AccessError, DamagedError
from accountctl.store import checking, db as dbmod, fileformat as ff, stores, trust, witness
from accountctl.store.register.keys import Keys, vault_slots_mac
from accountctl.store.register.seen import _remember

from accountctl.store.register.keys import Slots
from accountctl.store.register.tail import Tail

# A save moves the main database's events into the history archive once there are this many: the
# archive is re-encrypted once per batch, and in between every save copies its bytes unchanged.
ARCHIVE_AT = 1000


class Register(Slots, Tail):
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

    def count_events(self) -> int:
        """How many events this person reads in the history (`verify` says so)."""
        return self.db.execute(f"SELECT count(*) FROM {dbmod.ALL_EVENTS}").fetchone()[0]

    def load_history(self, blob: bytes | memoryview | None = None, **_filters) -> None:
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
            blob = None  # likewise a copy of them: peak memory is two archives, not three
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
        """Re-derive the membership after a record was added (grant, revoke, recovery, rollback).

        When no record was added, the chain still ends at the head this open verified: the records'
        signatures are not checked again (303 of them, 50 ms of a one-account save at the large trust).
        """
        head = getattr(self.membership, "head", None)
        self.membership = grants.load(self.db, self.file_id, verified_head=head)

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
        dbmod.drop_retired_indexes(self.db)
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


def _history_aad(header: ff.Header) -> bytes:
    # Stable across saves (the archive's bytes are copied unchanged); the header, which the body
    # authenticates, pins the archive's nonce and length, so an older archive cannot be put back.
    return ff.LABEL_HISTORY + header.file_id
