"""Format 5 in PostgreSQL (file-format.md F8, F9): one row per segment, written once, read by need.

A save inserts only the segments that changed, then moves the register row to the new generation
with a compare-and-set, then deletes what the new index no longer names; a reader fetches the
header and index, then only the segments it opens, in one REPEATABLE READ transaction; a reveal
appends one tail row, and only to the generation it read (`pgstore5` runs these in the store's
transaction); `psycopg` is imported by the caller's connection.
"""

from __future__ import annotations

import hashlib

from accountctl.errors import BusyError, DamagedError
from accountctl.store import fileformat5 as ff5, segments as sg

SCHEMA = """
CREATE TABLE IF NOT EXISTS accountctl5_register (
    one boolean PRIMARY KEY DEFAULT true CHECK (one), file_id bytea NOT NULL, generation bigint NOT NULL,
    header bytea NOT NULL, index_bytes bytea NOT NULL, saved_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS accountctl5_segment (
    id bytea NOT NULL, version bigint NOT NULL, bytes bytea NOT NULL, PRIMARY KEY (id, version));
ALTER TABLE accountctl5_segment ALTER COLUMN bytes SET STORAGE EXTERNAL;
CREATE TABLE IF NOT EXISTS accountctl5_tail (
    generation bigint NOT NULL, k integer NOT NULL, bytes bytea NOT NULL, PRIMARY KEY (generation, k));
"""
BUSY = "register busy: someone else saved it meanwhile; run the command again"


def create_schema(conn) -> None:
    """The three tables (F8), in the connection's schema."""
    with conn.transaction():
        conn.execute(SCHEMA)


def save(conn, pieces: list, index: sg.Index, read_generation: int | None) -> int:
    """Write a new generation: only segments whose (id, version) are new; the register row by compare-and-set.

    `pieces` are an Image's (header, index, then segments in index order); `read_generation` is the
    generation the saver read (None: the register is new). Returns the bytes sent for segments.
    Raises BusyError when someone else saved first.
    """
    header, index_bytes, blobs = bytes(pieces[0]), bytes(pieces[1]), pieces[2:]
    parsed, _ = ff5.parse_header(header + index_bytes)
    sent = 0
    with conn.transaction():
        row = conn.execute("SELECT generation FROM accountctl5_register FOR UPDATE").fetchone()
        if (row[0] if row else None) != read_generation:
            raise BusyError(BUSY)
        have = {
            (bytes(i), v)
            for i, v in conn.execute(
                "SELECT id, version FROM accountctl5_segment WHERE id = ANY(%s)", ([e.seg_id for e in index.segments],)
            )
        }
        new = [(e, blob) for e, blob in zip(index.segments, blobs) if (e.seg_id, e.version) not in have]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO accountctl5_segment (id, version, bytes) VALUES (%s, %s, %s)",
                [(e.seg_id, e.version, bytes(blob)) for e, blob in new],
            )
        sent = sum(e.length for e, _ in new)
        if row is None:
            conn.execute(
                "INSERT INTO accountctl5_register (file_id, generation, header, index_bytes) VALUES (%s, %s, %s, %s)",
                (parsed.file_id, parsed.generation, header, index_bytes),
            )
        else:
            conn.execute(
                "UPDATE accountctl5_register SET generation = %s, header = %s, index_bytes = %s, saved_at = now() "
                "WHERE generation = %s",
                (parsed.generation, header, index_bytes, read_generation),
            )
        # what the new index does not name: older versions, removed segments, the old tail
        conn.execute(
            "DELETE FROM accountctl5_segment s WHERE NOT EXISTS "
            "(SELECT 1 FROM unnest(%s::bytea[], %s::bigint[]) AS k(id, version) WHERE k.id = s.id AND k.version = s.version)",
            ([e.seg_id for e in index.segments], [e.version for e in index.segments]),
        )
        conn.execute("DELETE FROM accountctl5_tail WHERE generation < %s", (parsed.generation,))
    return sent


def read_index(conn) -> tuple[ff5.Header, sg.Index, int]:
    """The register row: its header and index, checked as a file's are (F7 steps 1-5)."""
    row = conn.execute("SELECT header, index_bytes, generation FROM accountctl5_register").fetchone()
    if row is None:
        raise DamagedError("no register in this database")
    header_bytes, index_bytes, generation = bytes(row[0]), bytes(row[1]), row[2]
    header, raw = ff5.parse_header(header_bytes)
    if header.generation != generation or raw != header_bytes:
        raise DamagedError("register damaged: its row's generation is not its header's")
    if hashlib.sha256(index_bytes).digest() != header.index_digest or len(index_bytes) != header.index_len:
        raise DamagedError("register damaged or altered: its index is not the one its header names")
    index = sg.parse_index(index_bytes, header.generation, 1 << 62, {s.slot_id for s in header.slots})
    return header, index, generation


def fetcher(conn):
    """A `fetch(entry)` for format5.open_parts: one row per segment asked for, exactly the version the index names."""

    def fetch(entry: sg.SegmentEntry) -> bytes:
        row = conn.execute(
            "SELECT bytes FROM accountctl5_segment WHERE id = %s AND version = %s", (entry.seg_id, entry.version)
        ).fetchone()
        if row is None:
            raise DamagedError(f"register damaged: {entry.name()} is missing from the database")
        return bytes(row[0])

    return fetch


REVEAL = (
    "INSERT INTO accountctl5_tail (generation, k, bytes) "
    "SELECT %(generation)s, %(k)s, %(record)s FROM accountctl5_register WHERE generation = %(generation)s FOR SHARE"
)


def reveal(conn, generation: int, k: int, record: bytes) -> bool:
    """Append one tail record (F9) to the generation read; False when someone saved meanwhile (read again)."""
    with conn.transaction():
        cur = conn.execute(REVEAL, {"generation": generation, "k": k, "record": record})
        return cur.rowcount == 1
