"""Opening a register: read, unlock a slot, decrypt, check everything, and (for a writer) save under the
lock; creating one; copying one between stores.
"""

from __future__ import annotations

import hashlib
import sqlite3
import sys
from contextlib import contextmanager
from typing import Callable, Iterator, NamedTuple

from accountctl import crypto
from accountctl import membership as grants  # the module; `membership` is the state it derives
from accountctl.crypto import CryptoFailure, KdfParams
from accountctl.errors import AccessError, DamagedError, InputError
from accountctl.store import checking, db as dbmod, fileformat as ff, stores, trust, witness
from accountctl.store.register.keys import (
    RECOVERY_KEY_BYTES,
    Keys,
    PassphraseSource,
    _make_person_slot,
    _make_recovery_slot,
    _unwrap,
    choose_slot,
    format_recovery_key,
    kdf_params,
    recovery_kek,
    unlock_kek,
    vault_slots_mac,
)
from accountctl.store.register.seen import _address, _check_witness, _refuse_before_unlocking
from accountctl.store.register.state import Register
from accountctl.store.stores import describe


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
    focus: tuple[str, str] | None = None,
) -> Iterator[Register]:
    """Unlock and open the register; with `write`, hold the lock and save on success if changed.

    `where` is a path, a postgresql:// URL or an open store (store/stores.py). With `history`, the
    history archive is decrypted too (`all_events`); otherwise only the main database is, which is
    all that most commands read. The costly key derivation runs before the lock is taken; under the
    lock the register is re-read and re-opened with the same KEK, so a writer never applies its
    change to a stale copy. `accepting_rollback` lets `vault accept-rollback` open a register older
    than this machine has seen; `check=False` lets `verify` open history that does not verify, to
    report it. What the open taught this machine (its witness) is written only when the block succeeds.
    `focus` ("account", ID): a command about one account; a register with a key per school then loads
    only the school that holds it (the trust lookup, file-format.md F4).
    """
    with stores.open_store(where) as store:
        _warn_conflict_copies(store)
        opening = (actor, passphrase_source, write, use_keyring, history, accepting_rollback, check, kek, focus)
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
def _open(
    store: stores.Store,
    actor,
    passphrase_source,
    write,
    use_keyring,
    history,
    accepting_rollback,
    check,
    kek,
    focus=None,
):
    if not write and not history and cached_reader is not None and not accepting_rollback and check:
        reg = cached_reader(store, actor)  # inside the agent: its register, already open and checked (either format)
        if reg is not None:
            yield reg
            return
    if is_five(store):
        opening = dict(actor=actor, passphrase_source=passphrase_source, use_keyring=use_keyring, history=history)
        with _open_five(store, write, accepting_rollback, kek, focus=focus, from_start=not check, **opening) as reg:
            yield reg
        return
    if not write:
        seen_all = witness.load_all()  # before the register is read: see `_finish_open`
        # A machine that never checked this register's history reads the archive with the body, from the
        # same read (checking.check_history needs it; read later, a writer could have replaced it).
        if not history and check:
            history = witness.load_checked(read_header(store)[0].file_id) is None
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


def reopen(where: stores.Address, reg: Register, actor: str | None) -> Register | None:
    """The agent's: a newer generation of a register it holds open, reading only the segments that changed.

    Format 5 only (None for format 4: open it again whole). A reader's open with every check, from
    the event the held one checked; the held register's database becomes the new one's, so the held
    register must not be used again, whatever happens (an error included).
    """
    from accountctl.store.register.five import Register5

    if not isinstance(reg, Register5) or reg.dirty:
        return None

    def no_passphrase() -> str:
        raise AccessError("the register's key changed: open it again")

    with stores.open_store(where) as store:
        if not is_five(store):
            return None
        from accountctl.store.register import five

        opening = dict(actor=actor, passphrase_source=no_passphrase, use_keyring=False, history=False)
        new = five.open_file(store, write=False, accepting_rollback=False, kek=reg.kek, reuse=reg, **opening)
    new.commit_local_state()
    return new


FORMAT5 = 5  # fileformat5.VERSION, without importing format 5 on format 4's paths


def is_five(store: stores.Store) -> bool:
    """Whether the store holds a format-5 register: a file's version field, or PostgreSQL's format-5 tables."""
    if getattr(store, "url", None):
        from accountctl.store import pgstore5

        return pgstore5.present(store)
    path = getattr(store, "path", None)
    if path is None or not path.is_file():
        return False
    prefix, _ = store.read(upto=lambda prefix: 10)
    return prefix[:8] == ff.MAGIC and prefix[8:10] == FORMAT5.to_bytes(2, "big")


@contextmanager
def _open_five(store: stores.Store, write: bool, accepting_rollback: bool, kek, **opening):
    """Format 5 (register/five.py): the KEK found before the lock, the file read and checked under it.

    `opening`: `five.open_file`'s (actor, passphrase_source, use_keyring, history, focus, and `verify`'s
    from_start, which checks it all as a machine that never saw it).
    """
    from accountctl.store.register import five  # not on format 4's paths: it imports all of format 5

    if not write:
        yield five.open_file(store, write=False, accepting_rollback=accepting_rollback, kek=kek, **opening)
        return
    if kek is None:
        header = five.read_header(store)
        _refuse_before_unlocking(store, header, witness.load_all())
        slot = choose_slot(header, opening["actor"])
        kek, _ = unlock_kek(header, slot, opening["passphrase_source"], use_keyring=opening["use_keyring"])
    with five.lock(store):
        try:
            reg = five.open_file(store, write=True, accepting_rollback=accepting_rollback, kek=kek, **opening)
        except CryptoFailure:
            raise AccessError("your passphrase changed while this command ran; run it again") from None
        yield reg
        if reg.dirty:
            reg.save()


@contextmanager
def open_with_recovery_key(where: stores.Address, recovery_key: bytes) -> Iterator[Register]:
    """Open for writing with the recovery key (held in its own slot); it signs with a key derived from it."""
    with stores.open_store(where) as store:
        if is_five(store):
            from accountctl.store.register import five

            with five.lock(store):
                reg = five.open_file(
                    store,
                    actor=None,
                    passphrase_source=None,
                    write=True,
                    use_keyring=False,
                    history=False,
                    accepting_rollback=False,
                    kek=None,
                    recovery_key=recovery_key,
                )
                yield reg
                if reg.dirty:
                    reg.save()
                reg.commit_local_state()
            return
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
        if is_five(src):
            with _copy_five(src, dst, actor, passphrase_source, use_keyring) as reg:
                yield reg
            return
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


@contextmanager
def _copy_five(src: stores.Store, dst: stores.Store, actor, passphrase_source, use_keyring) -> Iterator[Register]:
    """Format 5: under the source's writers' lock (nothing changes it meanwhile), open it with every check, then
    copy its header, index, segments and tail records as they are, and read them back (file-format.md F8)."""
    from accountctl.store.register import five, images

    with five.lock(src):
        unlock = dict(actor=actor, passphrase_source=passphrase_source, use_keyring=use_keyring)
        with open_register(src, **unlock) as reg:
            yield reg
        pieces, tail = images.read_all(src)
    images.write_new(dst, pieces, tail)
    if images.read_all(dst) != ([bytes(p) for p in pieces], tail):
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


def read_header(where: stores.Address) -> tuple[ff.Header, int]:
    """The parsed header and register size, without unlocking (for `vault status` and `--as` checks)."""
    with stores.open_store(where) as store:
        if is_five(store):
            from accountctl.store.register import five

            return five.read_header(store), five.size(store)
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
