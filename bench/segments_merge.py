"""A cost MODEL for issue 27: how decrypted segments become the one database the core queries.

    python bench/segments_merge.py --body BODY.db --archive HIST.db [--runs 9] [--json F]

file-format.md F7 planned to ATTACH each school's segment as its own schema under TEMP views. SQLite
allows at most SQLITE_MAX_ATTACHED schemas per connection (10 unless SQLite was compiled otherwise,
and `setlimit` cannot raise it past that), so a custodian's 100 schools cannot be attached at once.
This measures the other way: each segment is deserialized into one scratch schema in turn and its
rows are copied into `main` (the tables the core already queries), then detached; a save copies a
dirty school's rows back out into a fresh database and serializes it. Not product code. Sizes and
routing come from bench/segments_model.py (`part`, `where_for`); the two files are made as its
docstring says.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from segments_model import columns, part, tables, timed, where_for  # noqa: E402

SKIP = ("events", "credentials", "password_history")  # history and credentials are their own segments


def merge(conn: sqlite3.Connection, segment: bytes) -> None:
    """Copy one school's records segment into `main` through a scratch schema."""
    conn.execute("ATTACH ':memory:' AS seg")
    conn.deserialize(segment, name="seg")
    for table in tables(conn, "seg"):
        if table not in SKIP:
            conn.execute(f"INSERT INTO main.{table} SELECT * FROM seg.{table}")
    conn.commit()
    conn.execute("DETACH seg")


def open_with(trust: bytes, segments: list[bytes], index_after: bool = False) -> sqlite3.Connection:
    """The trust segment as `main`, then each school's records merged in.

    `index_after`: drop the explicit indexes first and build them once every row is in.
    """
    conn = sqlite3.connect(":memory:")
    conn.deserialize(trust)
    mem = sqlite3.connect(":memory:")
    conn.backup(mem)  # a plain in-memory database, as the register's body is today
    conn.close()
    indexes = mem.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL").fetchall()
    if index_after:
        for name, _sql in indexes:
            mem.execute(f"DROP INDEX {name}")
    for segment in segments:
        merge(mem, segment)
    if index_after:
        for _name, sql in indexes:
            mem.execute(sql)
    return mem


def add_routing_indexes(conn: sqlite3.Connection) -> None:
    """Indexes by school and by account on every records table, so a school's rows are found, not scanned."""
    for table in tables(conn, "main"):
        cols = columns(conn, "main", table)
        for col in ("school", "account"):
            if col in cols and table not in SKIP:
                conn.execute(f"CREATE INDEX IF NOT EXISTS route_{table}_{col} ON {table}({col})")
    conn.commit()


def extract(conn: sqlite3.Connection, school: str) -> bytes:
    """A dirty school's records segment, rebuilt from `main` (what a save encrypts)."""
    conn.execute("ATTACH ':memory:' AS out")
    for table in tables(conn, "main"):
        if table in SKIP:
            continue
        sql = conn.execute("SELECT sql FROM main.sqlite_master WHERE name = ?", (table,)).fetchone()[0]
        conn.execute(sql.replace(f"CREATE TABLE {table}", f"CREATE TABLE out.{table}", 1))
        where = where_for(table, columns(conn, "main", table), school, src="main")
        conn.execute(f"INSERT INTO out.{table} SELECT * FROM main.{table} WHERE {where}", {"s": school})
    conn.commit()
    data = conn.serialize(name="out")
    conn.execute("DETACH out")
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--body", required=True)
    parser.add_argument("--archive", required=True)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--json")
    args = parser.parse_args()

    probe = sqlite3.connect(":memory:")
    limit_before = probe.getlimit(sqlite3.SQLITE_LIMIT_ATTACHED)
    probe.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 125)
    limit_after = probe.getlimit(sqlite3.SQLITE_LIMIT_ATTACHED)
    try:
        for i in range(limit_after + 1):
            probe.execute(f"ATTACH ':memory:' AS s{i}")
        attach_error = None
    except sqlite3.OperationalError as exc:
        attach_error = str(exc)

    source = sqlite3.connect(f"file:{args.body}?mode=ro", uri=True)
    schools = [row[0] for row in source.execute("SELECT id FROM schools ORDER BY id")]
    body = source.serialize()
    record_tables = [t for t in tables(source, "main") if t not in SKIP]
    whole_counts = {t: source.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in record_tables}
    trust = part(args.body, args.archive, None, "trust")
    routed = sqlite3.connect(":memory:")
    routed.deserialize(trust)
    plain = sqlite3.connect(":memory:")
    routed.backup(plain)
    add_routing_indexes(plain)
    trust_routed = plain.serialize()
    records = {school: part(args.body, None, school, "records") for school in schools}
    one = schools[len(schools) // 2]

    merged = open_with(trust, list(records.values()))
    merged_counts = {t: merged.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in record_tables}
    lost = {t: (whole_counts[t], merged_counts[t]) for t in record_tables if whole_counts[t] != merged_counts[t]}
    again = extract(merged, one)
    check = sqlite3.connect(":memory:")
    check.deserialize(again)
    round_trip = all(
        sorted(check.execute(f"SELECT * FROM {t}").fetchall(), key=repr) == sorted(_rows(records[one], t), key=repr)
        for t in record_tables
    )

    merged_routed = open_with(trust_routed, list(records.values()))
    runs = args.runs
    f = {
        "deserialize the whole body (format 4 open, baseline)": timed(
            lambda: sqlite3.connect(":memory:").deserialize(body), runs
        ),
        "trust + one school merged (a head's open)": timed(lambda: open_with(trust, [records[one]]).close(), runs),
        "trust + all schools merged (a custodian's open)": timed(
            lambda: open_with(trust, list(records.values())).close(), max(3, runs // 3)
        ),
        "trust + all schools merged, indexes built after": timed(
            lambda: open_with(trust_routed, list(records.values()), index_after=True).close(), max(3, runs // 3)
        ),
        "extract one school from the merged database (a save's dirty school)": timed(
            lambda: extract(merged, one), runs
        ),
        "the same, with indexes by school and by account": timed(lambda: extract(merged_routed, one), runs),
    }
    report = {
        "model": "issue 27: segments merged into one database (bench/segments_merge.py)",
        "machine": {
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "cpus": os.cpu_count(),
            "loadavg": [round(x, 2) for x in os.getloadavg()],
        },
        "attach limit": {
            "default": limit_before,
            "after setlimit(125)": limit_after,
            "attaching one more": attach_error,
        },
        "schools": len(schools),
        "rows lost or added by merging every school": lost,
        "one school extracted equals its segment": round_trip,
        "runs": runs,
        "timings": f,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")


def _rows(segment: bytes, table: str) -> list:
    conn = sqlite3.connect(":memory:")
    conn.deserialize(segment)
    return conn.execute(f"SELECT * FROM {table}").fetchall()


if __name__ == "__main__":
    main()
