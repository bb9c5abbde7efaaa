"""A changed school's segment made from the one it was opened with, and only the rows that changed (F8).

`split.extract` rebuilds a school's segment from the merged database: 8 ms at the large trust,
most of a one-account save. Here an open keeps each school's segment as it read it, TEMP triggers
note the key of every row that changes, and a save applies just those rows to the old segment. When
a row that others hang from moves to another school (an account, an incident, a mailbox), its
dependants move with it without changing themselves, so both schools are rebuilt whole instead.
"""

from __future__ import annotations

import json
import sqlite3

from accountctl.store import split

# Rows whose school the rows naming them follow: a change of their school moves those too.
OWNERS = {
    "accounts": "school",
    "incidents": "account",
    "mailboxes": "school",
}


def key_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    """A table's primary key columns, in key order."""
    rows = [row for row in conn.execute(f"PRAGMA main.table_info({table})") if row[5]]
    return [row[1] for row in sorted(rows, key=lambda row: row[5])]


def track(conn: sqlite3.Connection) -> None:
    """Note, for this open, the key of every row of a school that changes, and the schools rows moved between."""
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS changed_rows (tbl TEXT NOT NULL, k TEXT NOT NULL, PRIMARY KEY (tbl, k))"
    )
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS whole_schools (school TEXT PRIMARY KEY)")
    for table in split.tables(conn):
        if table not in split.ROUTES:
            continue
        keys = key_columns(conn, table)
        for op, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("UPDATE", "OLD"), ("DELETE", "OLD")):
            k = f"json_array({', '.join(f'{row}.{c}' for c in keys)})"
            conn.execute(
                f"CREATE TEMP TRIGGER track_{op.lower()}_{row.lower()}_{table} AFTER {op} ON main.{table} BEGIN "
                f"INSERT INTO changed_rows SELECT '{table}', {k} WHERE NOT EXISTS "
                f"(SELECT 1 FROM temp.changed_rows WHERE tbl = '{table}' AND k = {k}); END"
            )
        if table in OWNERS:
            column = OWNERS[table]
            old, new = split.ROUTES[table].format(r="OLD"), split.ROUTES[table].format(r="NEW")
            # BEFORE: the old school is read while the rows it comes from still say so
            note = (
                "INSERT INTO whole_schools SELECT s FROM (SELECT {old} AS s UNION SELECT {new}) "
                "WHERE s IS NOT NULL AND s NOT IN (SELECT school FROM temp.whole_schools);"
            )
            conn.execute(
                f"CREATE TEMP TRIGGER track_move_{table} BEFORE UPDATE OF {column} ON main.{table} "
                f"WHEN OLD.{column} IS NOT NEW.{column} BEGIN " + note.format(old=old, new=new) + " END"
            )


def whole(conn: sqlite3.Connection) -> set[str]:
    """The schools to rebuild whole: a row others hang from moved into or out of them."""
    return {row[0] for row in conn.execute("SELECT school FROM temp.whole_schools")}


def patch(conn: sqlite3.Connection, school: str, records: bytes, vault: bytes | None) -> tuple[bytes, bytes | None]:
    """`school`'s records (and credentials) segments with the changed rows applied to the ones it was opened with.

    Equal, row for row, to `split.extract(conn, school)` (tested), but costs what changed; not for a
    school in `whole(conn)`, whose rows moved without changing themselves. Tables the base holds beside
    the body's (the events' records) are kept as they were.
    """
    changed = conn.execute("SELECT tbl, k FROM temp.changed_rows ORDER BY tbl").fetchall()
    out_records = _apply(conn, records, changed, school, secrets=False)
    out_vault = _apply(conn, vault, changed, school, secrets=True) if vault is not None else None
    return out_records, out_vault


def _apply(conn: sqlite3.Connection, base: bytes, changed: list, school: str, secrets: bool) -> bytes:
    conn.execute("ATTACH ':memory:' AS patched")
    try:
        conn.deserialize(base, name="patched")
        for table, k in changed:
            if secrets and table not in split.VAULT_COLUMNS:
                continue
            values = json.loads(k)
            keys = key_columns(conn, table)
            if secrets:
                key, secret = split.VAULT_COLUMNS[table]
                target, cols, select = f"vault_{table}", [key, *secret], ", ".join(f"r.{c}" for c in (key, *secret))
            else:
                target, cols = table, split._columns(conn, table, "patched")
                hidden = split.VAULT_COLUMNS.get(table, ("", ()))[1]
                select = ", ".join(
                    f"CASE WHEN r.{c} IS NULL THEN NULL ELSE X'' END" if c in hidden else f"r.{c}" for c in cols
                )
            match = " AND ".join(f"r.{c} IS :k{i}" for i, c in enumerate(keys))
            params = {**{f"k{i}": v for i, v in enumerate(values)}, "school": school}
            conn.execute(f"DELETE FROM patched.{target} AS r WHERE {match}", params)
            conn.execute(
                f"INSERT INTO patched.{target} ({', '.join(cols)}) SELECT {select} FROM main.{table} AS r "
                f"WHERE {match} AND {split.MEMBERS[table].format(r='r')}",
                params,
            )
        return conn.serialize(name="patched")
    finally:
        conn.execute("DETACH patched")
