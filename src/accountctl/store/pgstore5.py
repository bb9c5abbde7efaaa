"""Format 5 in PostgreSQL through the store (file-format.md F8): `pg5`'s three tables over a PgStore's connection.

A reader reads the register row, then only the segment rows it opens, in one REPEATABLE READ
transaction; a writer locks the register row (a bounded wait, then *register busy*), reads in that
transaction, and its save inserts only the segments whose (id, version) are new and moves the row
to the new generation (compare-and-set), then commits. `vault upgrade` moves a format-4 register
here into these tables and deletes format 4's rows in the same transaction.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from accountctl.errors import BusyError, DamagedError
from accountctl.store import fileformat5 as ff5, pg5, segments as sg
from accountctl.store.pgstore import ARCHIVE, REGISTER, PgStore

TABLE = "accountctl5_register"


def present(store: PgStore) -> bool:
    """Whether this database holds a format-5 register."""
    with store._errors("reading the register"):
        conn = store._connection()
        if conn.execute("SELECT to_regclass(%s)", (TABLE,)).fetchone()[0] is None:
            return False
        return conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0] > 0


@contextmanager
def reading(store: PgStore) -> Iterator[None]:
    """One snapshot for a reader (or the writer's own transaction, when it holds the lock)."""
    with store._errors("reading the register"):
        conn = store._connection()
        if store._locked:
            yield
            return
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            yield
        finally:
            if conn.info.transaction_status != 0:  # still in the transaction: end it
                conn.execute("COMMIT")


def lock(store: PgStore):
    """Lock the register row for this writer: wait boundedly, then 'register busy' (exit 5)."""
    return store.lock(TABLE)


def read(store: PgStore) -> tuple[ff5.Header, sg.Index, bytes, bytes]:
    """The register row: header, index, and their bytes (checked as a file's, F7 steps 1-5)."""
    conn = store._connection()
    header, index, _ = pg5.read_index(conn)
    row = conn.execute(f"SELECT header, index_bytes FROM {TABLE}").fetchone()
    return header, index, bytes(row[0]), bytes(row[1])


def fetcher(store: PgStore):
    return pg5.fetcher(store._connection())


def tail(store: PgStore, generation: int) -> list[bytes]:
    """The reveals appended to this generation, in order (F9)."""
    rows = store._connection().execute(
        "SELECT k, bytes FROM accountctl5_tail WHERE generation = %s ORDER BY k", (generation,)
    )
    found = [(k, bytes(b)) for k, b in rows]
    if [k for k, _ in found] != list(range(len(found))):
        raise DamagedError("register damaged: a record at the end of the register is missing")
    return [b for _, b in found]


def save(store: PgStore, pieces: list, index: sg.Index, read_generation: int | None) -> int:
    """In the writer's transaction: the new generation (pg5.save), then commit. Returns the bytes sent."""
    return store.commit("saving the register", lambda conn: pg5.save(conn, pieces, index, read_generation))


def reveal(store: PgStore, generation: int, k: int, record: bytes) -> None:
    """In the writer's transaction: one tail row for the generation it read (F9), then commit; no whole save."""

    def append(conn) -> None:
        if not pg5.reveal(conn, generation, k, record):
            raise BusyError("register busy: someone else saved it meanwhile; nothing was recorded, run it again")

    store.commit("recording the reveal", append)


def create(store: PgStore, pieces: list, index: sg.Index, tail: list[bytes]) -> None:
    """`vault copy` to PostgreSQL: format 5's tables, the register's rows and its tail's, in one transaction."""

    def put(conn) -> None:
        conn.execute(pg5.SCHEMA)
        generation = ff5.parse_header(bytes(pieces[0]))[0].generation
        pg5.save(conn, pieces, index, None)
        for k, record in enumerate(tail):
            conn.execute(
                "INSERT INTO accountctl5_tail (generation, k, bytes) VALUES (%s, %s, %s)", (generation, k, record)
            )

    store.commit("copying the register", put)


def install(store: PgStore, pieces: list, index: sg.Index) -> None:
    """The upgrade (under format 4's lock): format 5's tables and rows, format 4's rows gone, one commit."""

    def move(conn) -> None:
        conn.execute(pg5.SCHEMA)
        pg5.save(conn, pieces, index, None)
        conn.execute(f"DELETE FROM {REGISTER}")
        conn.execute(f"DELETE FROM {ARCHIVE}")  # and, by cascade, the archive's segments

    store.commit("upgrading the register", move)
