"""A format-5 register as one open (file-format.md F7, F8): a file read by ranges, or PostgreSQL's rows.

Every open reads the header, the index and then only the segments it opens. A writer's save
fetches a segment it keeps only if it reads it or copies it (`_Lazy`): a file's from the file as
opened, PostgreSQL's row (which stays where it is).
"""

from __future__ import annotations

import hashlib

from accountctl.errors import DamagedError
from accountctl.store import fileformat as ff, fileformat5 as ff5, files, opening5, segments as sg, stores


def read_header(store: stores.Store) -> ff5.Header:
    """The header alone (to find the KEK before the lock, and for `vault status`)."""
    if getattr(store, "url", None):
        from accountctl.store import pgstore5

        with pgstore5.reading(store):
            return pgstore5.read(store)[0]
    data, _ = store.read(upto=lambda prefix: int.from_bytes(prefix[12:16], "big"))
    return ff5.parse_header(data)[0]


def size(store: stores.Store) -> int:
    """The register's size in bytes (header, index, segments; a file's tail too)."""
    if getattr(store, "url", None):
        from accountctl.store import pgstore5

        with pgstore5.reading(store):
            header, index, raw, index_bytes = pgstore5.read(store)
        return len(raw) + len(index_bytes) + index.segments_length()
    return store.path.stat().st_size


def lock(store: stores.Store):
    """The writers' lock: the file's lock file, or the register row in PostgreSQL."""
    if getattr(store, "url", None):
        from accountctl.store import pgstore5

        return pgstore5.lock(store)
    return store.lock()


class _Opening:
    """What a file's open and PostgreSQL's share once the header, the index and `fetch` are read."""

    header: ff5.Header
    index: sg.Index
    raw: bytes
    index_bytes: bytes
    fetch: object  # SegmentEntry -> its ciphertext

    def _parts(self, tail, slot_id, x25519_private, kept, write, focus, reuse, keep) -> opening5.Opened:
        return opening5.open_parts(
            self.header,
            self.index,
            self.fetch,
            slot_id,
            x25519_private,
            kept,
            write,
            focus,
            tail,
            self.raw,
            reuse,
            keep,
        )

    def previous(self, opened: opening5.Opened):
        """What the writer's save starts from: each segment a placeholder (`_Lazy`), fetched only if the save reads it."""
        from accountctl.store.format5 import Image

        index = self.index
        return Image(
            [self.raw, self.index_bytes, *(_Lazy(self.fetch, e) for e in index.segments)],
            self.header,
            index,
            {scope_kind: key for scope_kind, (_epoch, key) in opened.ring.items()},
            {(e.kind, e.scope): e.seg_id for e in index.segments if e.kind in sg.ONE_PER_SCOPE},
            list(opened.journal),
            {},
            opened.membership.head,
            {e.scope: e.epoch for e in index.scopes},
        )


def _digest_problems(index: sg.Index, fetch) -> list[str]:
    return [
        f"{e.name()} is not the one the index names"
        for e in index.segments
        if hashlib.sha256(fetch(e)).digest() != e.digest
    ]


def open_image(store: stores.Store):
    """The register as one open: a file, or PostgreSQL's rows."""
    return _PgImage(store) if getattr(store, "url", None) else _Image(store)


class _PgImage(_Opening):
    """A register in PostgreSQL (F8): the row's header and index, then segment rows by need, one snapshot."""

    def __init__(self, store: stores.Store):
        from accountctl.store import pgstore5

        self.pg, self.store = pgstore5, store
        self.reading = pgstore5.reading(store)  # ended by `done` once the open has read what it needs
        self.reading.__enter__()
        self.header, self.index, self.raw, self.index_bytes = pgstore5.read(store)
        self.fetch = pgstore5.fetcher(store)
        self.data = None

    def open(self, slot_id, x25519_private, kept, write: bool, focus, reuse=None, keep=True) -> opening5.Opened:
        tail = self.pg.tail(self.store, self.header.generation)
        opened = self._parts(tail, slot_id, x25519_private, kept, write, focus, reuse, keep)
        opened.tail_count = len(tail)
        return opened

    def digest_problems(self) -> list[str]:
        """Each segment that is not the one the index names (`verify`): the rows as they are now."""
        from accountctl.store import pgstore5

        with pgstore5.reading(self.store):
            _header, index, _raw, _bytes = pgstore5.read(self.store)
            return _digest_problems(index, pgstore5.fetcher(self.store))

    def done(self) -> None:
        self.reading.__exit__(None, None, None)


class _Lazy:
    """A segment a save keeps: its row (PostgreSQL) or its bytes in the file as opened, fetched only if read."""

    def __init__(self, fetch, entry):
        self.fetch, self.entry, self.data = fetch, entry, None

    def load(self) -> bytes:
        if self.data is None:
            self.data = self.fetch(self.entry)
        return self.data

    def peek(self) -> bytes:
        """Its bytes without keeping them (a file writer copies every kept segment once: 60 MB at the large trust)."""
        return self.data if self.data is not None else self.fetch(self.entry)


class _Image(_Opening):
    """The file as one open: its header and index, then segments by ranges of the one open file.

    A writer too: its save copies the segments it keeps from the same open file (`_Lazy`), so
    neither a reveal nor a one-account save holds the whole file in memory.
    """

    def done(self) -> None:
        return None

    def __init__(self, store: stores.Store):
        self.snapshot = snap = store.snapshot()
        prefix = snap.read(0, min(snap.size, files.PREFIX_LEN))
        length = int.from_bytes(prefix[12:16], "big") if len(prefix) >= 16 else 0
        self.header, self.raw = ff5.parse_header(prefix if length <= len(prefix) else snap.read(0, length))
        header, raw = self.header, self.raw
        self.start = start = len(raw) + header.index_len
        if snap.size < start:
            raise DamagedError("register damaged: the file is truncated inside its index")
        self.index_bytes = snap.read(len(raw), header.index_len)
        if hashlib.sha256(self.index_bytes).digest() != header.index_digest:
            raise DamagedError("register damaged or altered: its index is not the one its header names")
        slot_ids = {s.slot_id for s in header.slots}
        self.index = sg.parse_index(self.index_bytes, header.generation, snap.size - start, slot_ids)
        offsets = self.index.offsets()

        def fetch(entry: sg.SegmentEntry) -> bytes:
            return snap.read(start + offsets[entry.seg_id], entry.length)

        self.fetch = fetch

    def digest_problems(self) -> list[str]:
        """Each segment that is not the one the index names (`verify`), reading one segment at a time."""
        return _digest_problems(self.index, self.fetch)

    def open(self, slot_id, x25519_private, kept, write: bool, focus, reuse=None, keep=True) -> opening5.Opened:
        end = self.start + self.index.segments_length()
        records, used = ff.split_tail(self.snapshot.rest(end))
        tail = [bytes(r) for r in records]
        opened = self._parts(tail, slot_id, x25519_private, kept, write, focus, reuse, keep)
        opened.tail_end, opened.tail_count = end + used, len(records)
        return opened


def read_all(store: stores.Store) -> tuple[list[bytes], list[bytes]]:
    """Every piece (header, index, segments in index order) and the tail's records, as stored (`vault copy`)."""
    if getattr(store, "url", None):
        from accountctl.store import pgstore5

        with pgstore5.reading(store):
            header, index, raw, index_bytes = pgstore5.read(store)
            fetch = pgstore5.fetcher(store)
            return [raw, index_bytes, *(fetch(e) for e in index.segments)], pgstore5.tail(store, header.generation)
    data = store.snapshot().read(0, store.path.stat().st_size)
    header, raw = ff5.parse_header(data)
    index, index_bytes = ff5.read_index(data, header, raw)
    start, offsets = len(raw) + header.index_len, index.offsets()
    segments = [data[start + offsets[e.seg_id] : start + offsets[e.seg_id] + e.length] for e in index.segments]
    records, _ = ff.split_tail(memoryview(data)[start + index.segments_length() :])
    return [raw, index_bytes, *segments], [bytes(r) for r in records]


def write_new(store: stores.Store, pieces: list[bytes], tail: list[bytes]) -> None:
    """Those pieces and records where there is no register yet: a file, or PostgreSQL's three tables."""
    header, raw = ff5.parse_header(pieces[0])
    index = sg.parse_index(
        pieces[1], header.generation, sum(len(p) for p in pieces[2:]), {s.slot_id for s in header.slots}
    )
    with store.creating():
        if getattr(store, "url", None):
            from accountctl.store import pgstore5

            pgstore5.create(store, pieces, index, tail)
        else:
            files.atomic_write(store.path, lambda handle: handle.writelines([*pieces, *map(ff.tail_record, tail)]))
