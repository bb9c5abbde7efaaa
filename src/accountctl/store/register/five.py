"""A format-5 register through the register's door (file-format.md F7, F8): open, check, save.

`open_file` opens a register file in format 5 with one person's key slot and gives a `Register5`:
the merged database of the schools that person reads (`opening5`), which the core queries as it
queries format 4. Its `save` writes a new generation (`format5.save`: only the schools that changed
re-encrypted) under the lock, every copied segment checked against the index first (F8, choice a).
What differs from format 4 is here and nowhere above the store: credentials are plain inside the
credentials segment (no field encryption), history is the journal's skeletons with the bodies this
person may read, and the decisions are checked against those bodies on every open.
"""

from __future__ import annotations

import hashlib
import time

from accountctl import chain, crypto, model
from accountctl.crypto import CryptoFailure
from accountctl.errors import AccessError, DamagedError, InputError
from accountctl.store import checking, db as dbmod, fileformat as ff, fileformat5 as ff5, files, opening5
from accountctl.store import segments as sg, split, stores, witness
from accountctl.store.register.keys import PassphraseSource, choose_slot, unlock_kek
from accountctl.store.register.seen import _check_witness, _refuse_before_unlocking
from accountctl.store.register import checked5, images, reveals
from accountctl.store.register.history5 import History5
from accountctl.store.register.images import lock, read_header, size  # noqa: F401 (opening.py asks five for them)
from accountctl.store.register.state import Register

LABEL_FINGERPRINT = b"accountctl/v5/password-fingerprint"
SCOPED = "format 5 does not do this yet"  # the commands not built for format 5 say so (issue 27)


class Register5(History5, Register):
    """An open format-5 register: the schools this person reads, merged into one database."""

    opened: opening5.Opened
    previous: object  # format5.Image: what the next save starts from
    image: object  # the register as opened (images.py): a file, or PostgreSQL's rows
    checked_key: bytes = b""  # where this machine keeps what it checked of the register, for this key slot
    _rotate: set = frozenset()  # scopes whose keys the next save replaces (F10)
    _rotate_vault: set = frozenset()
    _fresh_vault: bytes | None = None
    _patchable = True  # the segments as opened are the base a save patches (until the first save)

    @property
    def schools(self) -> set[str]:
        """The schools this person's key opens (a command about one account may load only its own)."""
        return self.opened.readable

    @property
    def all_schools(self) -> set[str]:
        return self.opened.all_schools

    def scoped_line(self) -> str | None:
        """The one line a school-scoped person's command prints: what it covers (SPEC "Each school sees its own")."""
        if self.schools == self.all_schools:
            return None
        names = dict(self.db.execute("SELECT id, name FROM schools").fetchall())
        shown = " and ".join(sorted(names.get(s, s) for s in self.schools)) or "no school"
        total = len(self.all_schools)
        return f"Showing {shown} only: your key opens {len(self.schools)} of {total} school{'s' * (total != 1)}."

    # -- credentials: plain inside the credentials segment, which only vault keys open ------------------
    def encrypt_field(self, table: str, row: str, column: str, plaintext: bytes) -> bytes:
        self._vault_key()
        return bytes(plaintext)

    def decrypt_field(self, table: str, row: str, column: str, blob: bytes) -> bytes:
        self._vault_key()
        return bytes(blob)

    def fingerprint(self, value: bytes) -> str:
        return fingerprint(self._vault_key(), value)

    # -- slots (F10): keyrings are sealed by the save, from the signed membership ------------------------
    per_school = True  # the core asks: grants name schools, movers' slots follow them

    def add_person_slot(self, email: str, access_name: str, passphrase: str, kdf=None):
        """A new slot with its own keys only; the save seals its keyring (the granting custodian holds every key)."""
        from accountctl.store.register.keys import ACCESS_CODES, kdf_params

        if not self.is_custodian:
            raise AccessError("only an IT custodian can grant access")
        if len(self.header.slots) >= ff.MAX_SLOTS:
            raise InputError(f"a register holds at most {ff.MAX_SLOTS} key slots")
        slot, _, signing_public = new_slot(
            self.file_id, email, ACCESS_CODES[access_name], passphrase, kdf or kdf_params()
        )
        self.header.slots.append(slot)
        self.header_changed = True
        return slot, signing_public

    def replace_person_slot(self, email: str, passphrase: str, kdf=None, *, new_keys: bool):
        """A new passphrase on a slot; with `new_keys` (recovery), new key pairs too, and the save seals its keyring again.

        The slot keeps its id, so its membership record, its schools and what this machine checked for
        it stay its own; its keyring, sealed to the old X25519 key, is sealed to the new one at the save.
        """
        if not new_keys:
            return super().replace_person_slot(email, passphrase, kdf, new_keys=False)  # its keyring stays as sealed
        from accountctl.store.register.keys import kdf_params

        old = self.slot_for(email)
        if old is None:
            raise AccessError(f"{email} has no key slot in this register")
        slot, kek, signing_public = new_slot(
            self.file_id, email, old.access, passphrase, kdf or kdf_params(), slot_id=old.slot_id
        )
        self.header.slots = [slot if s.slot_id == old.slot_id else s for s in self.header.slots]
        self.header_changed = True
        return slot, kek, signing_public

    def remove_slot_and_rotate(self, slot_id: bytes) -> ff.Slot:
        """Remove a slot and rotate what it could open: the trust and its schools (`K`); for a custodian, all (F10)."""
        from accountctl import membership

        victim = next((s for s in self.header.slots if s.slot_id == slot_id), None)
        member = self.membership.members.get(slot_id)
        if victim is None or member is None:
            raise InputError("that key slot is not in this register")
        self.header.slots = [s for s in self.header.slots if s.slot_id != slot_id]
        every = set(self.membership.school_scopes)
        read = every if member.schools == membership.ALL_SCHOOLS else set(member.schools) & every
        self.rotate_schools(read, trust=True, vault=member.access == "vault")
        return victim

    def rotate_schools(self, schools: set[str], *, trust: bool = False, vault: bool = False) -> None:
        """Give these schools (and the trust) new keys at the save, re-encrypting all they hold (F10).

        With `vault`, their vault keys too, and the password fingerprints are keyed afresh from the
        trust's new vault key. PATH.bak is then made the new file: the generation before opens with the old keys.
        """
        if not self.is_custodian:
            raise AccessError("only an IT custodian can rotate a school's keys")
        scopes = {bytes.fromhex(self.membership.school_scopes[s]) for s in schools} | ({sg.TRUST} if trust else set())
        self._rotate |= scopes
        if vault:
            self._rotate_vault |= scopes
            self._fresh_vault = crypto.random_bytes(32)
            for table, key_col in (("credentials", "account"), ("password_history", "id")):
                rows = self.db.execute(f"SELECT {key_col}, password FROM {table} WHERE password_fp IS NOT NULL")
                for key, password in rows.fetchall():
                    self.db.execute(
                        f"UPDATE {table} SET password_fp = ? WHERE {key_col} = ?",
                        (fingerprint(self._fresh_vault, password), key),
                    )
        self.forget_previous = True
        self.header_changed = True

    def rotate(self, *, vault: bool) -> None:
        raise InputError(f"key rotation: {SCOPED}")

    def check_archive(self) -> None:
        return None  # every segment is checked against the index when it is read or copied

    def save_problems(self) -> list[str]:
        return []  # the open checked the save signature, the chain and every segment it read

    def apply_tail(self, tail) -> None:
        return None

    # -- saving ---------------------------------------------------------------------------------------
    def save(self) -> None:
        """A new generation with the schools that changed re-encrypted; the file replaced under the lock."""
        from accountctl.store import format5

        self._bind_new_schools()
        rows = [
            checking._event(row)
            for row in self.db.execute(
                f"SELECT {checking.EVENT_COLUMNS} FROM main.events WHERE seq > ? ORDER BY seq", (self._seq_at_open,)
            )
        ]
        if not rows:
            if split.dirty(self.db) or split.dirty_vaults(self.db):
                raise DamagedError("a change to the register records no event; nothing was written")
            return
        strangers = sorted({r["actor"] for r in rows if r["actor"] != self.actor})
        if strangers:
            raise AccessError(f"{self.actor} cannot record events in the name of {', '.join(strangers)}")
        if self.keys.signing_private is None:
            raise AccessError("this key slot has no signing key, so it cannot change the register")
        if self.events_only and reveals.append(self, rows):  # a reveal: a record at the end, no whole save
            self.events_only = False
            return
        self.events_only = False
        dbmod.check(self.db)
        self._move_central_staff()
        scopes = {school: bytes.fromhex(s) for school, s in self.membership.school_scopes.items()}
        self.reload_membership()
        scopes.update({school: bytes.fromhex(s) for school, s in self.membership.school_scopes.items()})
        events = [
            (event, [sg.TRUST if s == split.TRUST else scopes[s] for s in split.event_schools(self.db, event)])
            for event in rows
        ]
        image = format5.save(
            self.db,
            self.header.slots,
            self.slot,
            self.keys.signing_private,
            events,
            previous=self.previous,
            dirty=split.dirty(self.db),
            saved_at=int(time.time()),
            state=self.membership,
            tail=self.opened.tail,
            base=self.opened.plain if self._patchable else None,
            dirty_vault=split.dirty_vaults(self.db),
            loaded=self.opened.schools,
            rotate=self._rotate,
            rotate_vault=self._rotate_vault,
            fresh={(sg.TRUST, sg.KEY_V): self._fresh_vault} if self._fresh_vault else None,
        )
        expected = self.header.generation
        if getattr(self.store, "url", None):  # PostgreSQL: only the new segments are sent; nothing is copied
            from accountctl.store import pgstore5

            pgstore5.save(self.store, image.pieces, image.index, expected)
            self.forget_previous = False  # the rows of older versions went with the save
        else:
            self._write_file(image, expected)
        self._after_save(image)

    def _move_central_staff(self) -> None:
        """A register whose central school's segment still holds its staff (before they were the trust's
        rows): this save rewrites that segment whole and the trust's records, which then hold them."""
        for school in self.opened.legacy & self.opened.schools:
            self.db.execute("INSERT OR IGNORE INTO temp.whole_schools VALUES (?)", (school,))
            for moved in (school, split.TRUST):
                self.db.execute("INSERT OR IGNORE INTO temp.dirty_schools VALUES (?)", (moved,))
        self.opened.legacy = set()

    def _write_file(self, image, expected: int) -> None:
        """The new file under the lock: every copied segment checked against the index (F8, choice (a)).

        A kept segment is read from the file as opened just as it is copied, one at a time; a damaged
        one stops the write before the new file replaces the old (nothing damaged is carried on).
        """
        if self.store.read(upto=lambda prefix: ff5.FIXED_LEN)[0][: ff5.FIXED_LEN] != self.raw[: ff5.FIXED_LEN]:
            raise DamagedError(f"the register changed while this command held its lock (generation {expected})")

        def write(handle) -> None:
            handle.writelines(image.pieces[:2])
            for entry, blob in zip(image.index.segments, image.pieces[2:]):
                blob = blob.peek() if hasattr(blob, "peek") else blob
                if hashlib.sha256(blob).digest() != entry.digest:
                    raise DamagedError(
                        f"register damaged: {entry.name()} does not match its index; nothing was written"
                    )
                handle.write(blob)

        files.atomic_write(self.store.path, write)
        if self.forget_previous:
            self.store.forget_previous()
            self.forget_previous = False

    def _bind_new_schools(self) -> None:
        """A school added since the open gets its scope (a `school` record), its keys and its range of ids (F3)."""
        from accountctl import membership

        unbound = [
            school
            for (school,) in self.db.execute("SELECT id FROM schools ORDER BY id")
            if school not in self.membership.school_scopes
        ]
        if not unbound:
            return
        if not self.is_custodian:
            raise AccessError("only an IT custodian can add a school to a register with a key per school")
        bases = [int(v) for (v,) in self.db.execute("SELECT value FROM meta WHERE key LIKE 'ids.base.%'")]
        for n, school in enumerate(unbound, max(bases, default=0) + 1):
            model.set_meta(self.db, f"ids.base.{school}", str(n))
            scope = crypto.random_bytes(16).hex()
            event = chain.record(
                self.db, self.actor, membership.RECORD_ACTIONS["school"], details={"school": school, "scope": scope}
            )
            membership.append(
                self.db,
                self.file_id,
                "school",
                self.actor,
                self.keys.signing_private,
                event["seq"],
                event["at"],
                event["at_real"],
                school=school,
                scope=scope,
            )
        self.reload_membership()
        self.db.executemany("INSERT OR IGNORE INTO temp.open_schools VALUES (?)", [(s,) for s in unbound])
        self.opened.schools |= set(unbound)
        self.opened.all_schools |= set(unbound)

    def _after_save(self, image) -> None:
        """What the register knows once saved: the new header, the journal, what this machine checked."""
        self.previous = image
        self._rotate, self._rotate_vault, self._fresh_vault = frozenset(), frozenset(), None
        if self.is_custodian:
            self.keys.vault_key = image.keys[(sg.TRUST, sg.KEY_V)]
        self.header, self.raw = image.header, image.pieces[0]
        last = image.skeletons[-1]
        model.set_meta(self.db, chain.HEAD_KEY, f"{last['seq']} {last['hash']}")
        self.opened.journal = list(image.skeletons)
        self.opened.tail = None
        self._patchable = False  # the next save (rare in one command) rebuilds what changed, not patches
        for table in ("dirty_schools", "dirty_vaults", "changed_rows", "whole_schools"):
            self.db.execute(f"DELETE FROM temp.{table}")
        self.db.execute(f"DELETE FROM main.events WHERE seq <= {int(last['seq'])}")
        if self.history_loaded:
            self.db.execute(f"DELETE FROM {dbmod.HISTORY}.events")
            self.db.execute(f"DETACH {dbmod.HISTORY}")
        self._seq_at_open = last["seq"]
        known = sg.apply_wrote(
            self.opened.checked.known if self.opened.checked else {},
            [sg.Wrote(bytes.fromhex(p), k, bytes.fromhex(s), v, bytes.fromhex(d)) for p, k, s, v, d in last["wrote"]],
        )
        before = self.opened.checked.sound if self.opened.checked else frozenset()
        self.opened.checked = opening5.Checked(last["seq"], last["hash"], known, self.membership.head, before)
        self.checked.changed = True
        self._changes_at_open = self.db.total_changes
        self.header_changed = False
        self._witness_due = True
        self.commit_local_state()

    def commit_local_state(self) -> None:
        if self._witness_due:
            from accountctl.store.register.seen import _remember

            _remember(self)
        if self.checked.changed and self.opened.checked is not None:
            self.checked.changed = False
            witness.save_checked(self.checked_key, checked5.dump_checked(self.opened.checked, self.checked.decisions))


def new_slot(
    file_id: bytes, email: str, access: int, passphrase: str, kdf, slot_id: bytes | None = None
) -> tuple[ff.Slot, bytes, bytes]:
    """A person's format-5 slot: their own key pairs wrapped under their passphrase's KEK, nothing sealed (F2)."""
    slot_id, salt = slot_id or crypto.random_bytes(16), crypto.random_bytes(crypto.SALT_LEN)
    kek = crypto.argon2id(passphrase, salt, kdf)
    x_private, x_public = crypto.x25519_keypair()
    s_private, s_public = crypto.ed25519_keypair()
    wrapped = crypto.seal(kek, x_private + s_private, ff.LABEL_SLOT_KEYS + ff.slot_aad(file_id, slot_id))
    tag = ff.person_tag(file_id, email)
    slot = ff.Slot(slot_id, ff.KIND_PERSON, access, tag, ff.KDF_ARGON2ID, salt, kdf, x_public, wrapped, b"", b"")
    return slot, kek, s_public


def fingerprint(v_trust: bytes, value: bytes) -> str:
    """F4: one key for the trust, so a password shared across schools is still found."""
    import hmac

    key = crypto.hkdf(v_trust, b"", LABEL_FINGERPRINT)
    return hmac.new(key, bytes(value), hashlib.sha256).hexdigest()


def open_file(
    store: stores.Store,
    *,
    actor: str | None,
    passphrase_source: PassphraseSource,
    write: bool,
    use_keyring: bool,
    history: bool,
    accepting_rollback: bool,
    kek: bytes | None,
    focus: tuple[str, str] | None = None,
    recovery_key: bytes | None = None,
    reuse: Register5 | None = None,
    from_start: bool = False,
) -> Register5:
    """Open a format-5 file (the caller holds the lock for a writer); every check of F7, then the witness.

    Every open reads the header, the index and then only the segments it opens, by ranges of the one
    open file; a writer's save copies the segments it keeps from that same file. With `recovery_key`,
    the recovery slot is opened (it reads every school) and signs with the recovery key's signing key.
    `reuse`: a reader's open of an earlier generation, whose database this open takes over, re-reading
    only the segments that changed (opening5.open_parts); it must not be used after. `from_start`
    (`verify`): check everything as a machine that never saw the register, and if that finds it
    damaged, open it as this machine checked it before and say so in `Register5.from_start`.
    """
    seen_all = witness.load_all()
    image = images.open_image(store)
    try:
        header, raw = image.header, image.raw
        address = _refuse_before_unlocking(store, header, seen_all)
        seen = seen_all.get(header.file_id.hex())
        if recovery_key is not None:
            slot, kek, keys = _recovery_slot(header, recovery_key)
        else:
            slot = choose_slot(header, actor)
            kek, keys = unlock_kek(header, slot, passphrase_source, use_keyring=use_keyring, known=kek)
        # What this machine checked is kept per key slot: a head's open checks only their school's records,
        # so it must not let a custodian's open on the same machine skip the other schools' (file-format.md F7).
        checked_key = hashlib.sha256(header.file_id + slot.slot_id).digest()[:16]
        saved = witness.load_checked(checked_key)
        kept = checked5.parse_checked(saved)
        opened, found_wrong = None, None
        if from_start and kept is not None:
            try:  # as a machine that never saw the register: nothing checked here before is taken as checked
                opened = image.open(slot.slot_id, keys.x25519_private, None, write, focus, None, write)
                kept = saved = None
            except DamagedError as exc:
                found_wrong = str(exc)  # `verify` says so, and reads the register as this machine checked it
        if opened is None:
            opened = _open_checked(image, slot, keys, kept, write, focus, reuse, history, from_start)
        keys.vault_key = opened.ring.get((sg.TRUST, sg.KEY_V), (0, None))[1] if slot.access == ff.ACCESS_VAULT else None
        reg = Register5(store, header, keys, opened.conn, slot, _actor(opened, slot), kek, 0, opened.membership)
        reg.opened, reg.raw, reg.address, reg.seen, reg.image = opened, raw, address, seen, image
        reg.checked_key = checked_key
        if write:
            reg.previous = image.previous(opened)
        _check_witness(reg, seen, accepting_rollback)
        reg.checked = checked5.decisions(reg, checking.Checked.parse(saved).decisions if kept is not None else {})
        reg.checked.changed = reg.checked.changed or kept != opened.checked
        reg.decisions = checking.install(reg, reg.checked)
        reg.from_start = (from_start and found_wrong is None, found_wrong)
        if history:
            reg.load_history(**history) if isinstance(history, dict) else reg.load_history()
        if recovery_key is not None:
            from accountctl.store import trust

            try:
                keys.signing_private = trust.recovery_signing_private(
                    reg.membership, header.file_id, keys.x25519_private
                )
            except CryptoFailure:
                raise DamagedError(
                    "register damaged or altered: the recovery key's signing key does not open"
                ) from None
        return reg
    finally:
        image.done()


def _open_checked(image, slot, keys, kept, write, focus, reuse, history, from_start) -> opening5.Opened:
    """The open from what this machine checked before (`kept`), or from the start if it checked nothing."""
    try:
        reuse = reuse.opened if reuse is not None and reuse.slot.slot_id == slot.slot_id else None
        # The schools' plaintext is kept for a save (its base), the whole history (not the few events a
        # filtered one reads again) and the agent (`reuse`). A first open here, which checks every decision
        # against its event's record, decrypts them again for it: 229 MB, not 257, at the large trust.
        keep = write or history is True or opening5.KEEP_PLAIN
        return image.open(slot.slot_id, keys.x25519_private, kept, write, focus, reuse, keep)
    except DamagedError as first:
        if kept is None or reuse is not None:
            raise
        try:  # a restored copy no longer holds what this machine checked: check it all (the witness decides)
            return image.open(slot.slot_id, keys.x25519_private, None, write, focus)
        except DamagedError:
            raise first from None


def _recovery_slot(header: ff5.Header, recovery_key: bytes):
    """The recovery slot, its KEK and its own keys (an X25519 key only: it signs with a key sealed to it)."""
    from accountctl.store.register.keys import _unwrap_own, recovery_kek

    slot = next((s for s in header.slots if s.kind == ff.KIND_RECOVERY), None)
    if slot is None:
        raise AccessError("this register has no recovery key slot")
    kek = recovery_kek(slot, recovery_key)
    try:
        return slot, kek, _unwrap_own(header, slot, kek)
    except CryptoFailure:
        raise AccessError("wrong recovery key") from None


def _actor(opened: opening5.Opened, slot: ff.Slot) -> str:
    if slot.kind == ff.KIND_RECOVERY:
        from accountctl import membership

        return membership.RECOVERY
    return opened.membership.members[slot.slot_id].email
