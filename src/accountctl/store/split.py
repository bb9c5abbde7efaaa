"""Format 5's split of the body by school, and its merge back into one database (file-format.md F4, F7, F8).

The core queries one database, as in format 4. An open loads the trust's records as `main` and copies
in the rows of each school the person may read; a save rebuilds the segments of the schools whose
rows changed. Every row's school comes from `ROUTES`: its own `school`, or the account, incident or
mailbox it names. While a register is open, TEMP triggers refuse a row for a school that was not
loaded (a head cannot write into a school they were never given: exit 3) and note every school whose
rows changed. Not wired into the register yet.

Credentials are split by column: the school's records keep every column but the secrets, which are
an empty blob where a value is held (so rules that ask "is a password held" still work for SLT);
the secrets themselves go to the school's credentials segment, which only vault keys open.
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import contextmanager

from accountctl.chain import HEAD_KEY
from accountctl.errors import AccessError, DamagedError
from accountctl.store import db

TRUST = ""  # the trust's rows, in routes and in `open_schools`

_ACCOUNT = "(SELECT school FROM main.accounts WHERE id = {r}.account)"


def _incident(column: str) -> str:
    return (
        f"(SELECT a.school FROM main.incidents i JOIN main.accounts a ON a.id = i.account WHERE i.id = {{r}}.{column})"
    )


# The central team's staff are the trust's rows: they may be owners and admins of any school's
# accounts, so a head who cannot read the central school must still see who they are (F4).
_STAFF = "(CASE WHEN {r}.school IN (SELECT id FROM main.schools WHERE central) THEN '' ELSE {r}.school END)"

# table -> SQL giving a row's school ({r}: the row, e.g. NEW, OLD or a table alias)
ROUTES: dict[str, str] = {
    "staff": _STAFF,
    "accounts": "{r}.school",
    "mailboxes": "{r}.school",
    "dpias": "{r}.school",  # '' is a trust-wide DPIA
    "campaigns": "coalesce({r}.school, '')",  # NULL is a trust-wide campaign
    "account_people": _ACCOUNT,
    "approvals": _ACCOUNT,
    "waivers": _ACCOUNT,
    "incidents": _ACCOUNT,
    "attestations": _ACCOUNT,
    "account_via": _ACCOUNT,
    "campaign_accounts": _ACCOUNT,
    "credentials": _ACCOUNT,
    "password_history": _ACCOUNT,
    "incident_steps": _incident("incident"),
    "breach_decisions": _incident("incident"),
    "texts": _incident("subject"),
    "mailbox_members": "(SELECT school FROM main.mailboxes WHERE email = {r}.mailbox)",
}
# The same, as a set of rows for one school (:school): how a save finds a school's rows without a
# lookup per row (7 times faster at 10,000 accounts than comparing each row's route).
_ACCOUNTS_OF = "{r}.account IN (SELECT id FROM main.accounts WHERE school = :school)"
_INCIDENTS_OF = "{r}.{column} IN (SELECT i.id FROM main.incidents i JOIN main.accounts a ON a.id = i.account WHERE a.school = :school)"
MEMBERS: dict[str, str] = {
    **{table: _ACCOUNTS_OF for table, route in ROUTES.items() if route == _ACCOUNT},
    "staff": _STAFF + " = :school",
    "accounts": "{r}.school = :school",
    "mailboxes": "{r}.school = :school",
    "dpias": "{r}.school = :school",
    "campaigns": "coalesce({r}.school, '') = :school",
    "incident_steps": _INCIDENTS_OF.replace("{column}", "incident"),
    "breach_decisions": _INCIDENTS_OF.replace("{column}", "incident"),
    "texts": _INCIDENTS_OF.replace("{column}", "subject"),
    "mailbox_members": "{r}.mailbox IN (SELECT email FROM main.mailboxes WHERE school = :school)",
}
assert MEMBERS.keys() == ROUTES.keys()
TRUST_TABLES = ("meta", "schools", "people", "slot_history", "grants", "trust_waivers")
HISTORY_TABLES = ("events", "event_bodies")  # the history: format 4's events, format 5's bodies (F6)
# Secrets, by table: (row key, columns). They travel in the credentials segment only.
VAULT_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "credentials": ("account", ("username", "password", "totp", "recovery")),
    "password_history": ("id", ("password",)),
}
REFUSED = "accountctl: school not open"


def event_school(conn: sqlite3.Connection, event: dict) -> str:
    """Whose an event is (F6): its account's school, else the school of the staff member it names, else the trust's."""
    if event.get("account"):
        row = conn.execute("SELECT school FROM main.accounts WHERE id = ?", (event["account"],)).fetchone()
        if row:
            return row[0]
    if event.get("target"):
        for sql in ("SELECT school FROM main.staff WHERE email = ?", "SELECT school FROM main.accounts WHERE id = ?"):
            row = conn.execute(sql, (event["target"],)).fetchone()
            if row:
                return row[0]
    return TRUST


def event_schools(conn: sqlite3.Connection, event: dict) -> list[str]:
    """Every school an event belongs to (F6): a staff move is both schools'; any other, `event_school`'s."""
    details = event.get("details") or {}
    if event.get("action") == "staff.move" and isinstance(details, dict):
        known = {row[0] for row in conn.execute("SELECT id FROM main.schools")}
        moved = sorted({details.get("from"), details.get("to")} & known)
        if moved:
            return moved
    return [event_school(conn, event)]


def tables(conn: sqlite3.Connection, schema: str = "main") -> list[str]:
    """The body's tables in `schema`, in creation order (so referenced tables come first)."""
    return [
        row[0]
        for row in conn.execute(
            f"SELECT name FROM {schema}.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
        )
    ]


_CREATE = re.compile(r"^(CREATE (?:UNIQUE )?(?:TABLE|INDEX) (?:IF NOT EXISTS )?)(\w+)")


def _schema_sql(conn: sqlite3.Connection, into: str, indexes: bool = True) -> list[str]:
    """The body's CREATE statements (tables, and indexes if asked; not the history's), made to create them in `into`."""
    rows = conn.execute(
        "SELECT sql FROM main.sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' "
        "AND tbl_name NOT IN ('events', 'event_bodies') AND (? OR type = 'table') ORDER BY rowid",
        (indexes,),
    )
    return [_CREATE.sub(rf"\1{into}.\2", row[0], count=1) for row in rows]


def _route(table: str, alias: str) -> str:
    return ROUTES[table].format(r=alias)


def _columns(conn: sqlite3.Connection, table: str, schema: str = "main") -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA {schema}.table_info({table})")]


def check_routes(conn: sqlite3.Connection) -> None:
    """Every table of the body is routed, the trust's, or the history's: a new table must say whose it is."""
    unknown = [t for t in tables(conn) if t not in ROUTES and t not in TRUST_TABLES and t not in HISTORY_TABLES]
    if unknown:
        raise AssertionError(f"tables with no route to a school or the trust: {unknown}")


def schools_of_rows(conn: sqlite3.Connection) -> set[str]:
    """Every school some row belongs to; a row that belongs to none (an orphan) is damage."""
    found: set[str] = set()
    for table in ROUTES:
        for (school,) in conn.execute(f"SELECT DISTINCT {_route(table, 'r')} FROM main.{table} AS r"):
            if school is None:
                raise DamagedError(f"register damaged: a row of {table} belongs to no school")
            found.add(school)
    return found


def extract(conn: sqlite3.Connection, school: str) -> tuple[bytes, bytes | None]:
    """One school's records and credentials segments' plaintexts (the trust's records for TRUST, and None).

    Secrets are an empty blob in the records and the values themselves in the credentials segment.
    Built in schemas attached for the moment, which `guard`'s triggers (on `main`) never see.
    """
    conn.execute("ATTACH ':memory:' AS out")
    try:
        if school != TRUST:
            # A school's segment holds rows only: the trust's holds the indexes, which its readers'
            # `main` keeps; small pages, as a school's 28 tables, most of them nearly empty, would
            # otherwise take 4 KB each (measured: 516 KB a school, 58 MB in all, against 30 MB).
            conn.execute("PRAGMA out.page_size = 1024")
        for sql in _schema_sql(conn, "out", indexes=school == TRUST):
            conn.execute(sql)
        for table in tables(conn):
            if table in HISTORY_TABLES:
                continue
            if table in TRUST_TABLES:
                where = "1" if school == TRUST else "0"
            else:
                where = MEMBERS[table].format(r="r")
            cols = _columns(conn, table)
            secret = VAULT_COLUMNS.get(table, ("", ()))[1]
            select = ", ".join(
                f"CASE WHEN r.{c} IS NULL THEN NULL ELSE X'' END" if c in secret else f"r.{c}" for c in cols
            )
            conn.execute(
                f"INSERT INTO out.{table} ({', '.join(cols)}) SELECT {select} FROM main.{table} AS r WHERE {where}",
                {"school": school},
            )
        records = conn.serialize(name="out")
    finally:
        conn.execute("DETACH out")
    if school == TRUST:
        return records, None
    conn.execute("ATTACH ':memory:' AS out")
    try:
        for table, (key, secret) in VAULT_COLUMNS.items():
            conn.execute(f"CREATE TABLE out.vault_{table} ({key} PRIMARY KEY, {', '.join(secret)})")
            conn.execute(
                f"INSERT INTO out.vault_{table} SELECT r.{key}, {', '.join('r.' + c for c in secret)} "
                f"FROM main.{table} AS r WHERE {MEMBERS[table].format(r='r')}",
                {"school": school},
            )
        vault = conn.serialize(name="out")
    finally:
        conn.execute("DETACH out")
    return records, vault


def _in_segment(table: str, key: str) -> str:
    return f"EXISTS (SELECT 1 FROM {{s}}.{table} AS o WHERE o.{key} = {{r}}.{{column}})"


# ROUTES judged inside one segment ({s}: its schema): a row that names an account (incident, mailbox)
# is the school's if that account is in the same segment, whose accounts are checked to be the
# school's. By primary key, not as MEMBERS does: no temporary index a table (0.9 ms a segment).
_OWN_ROWS: dict[str, str] = {
    **{
        table: _in_segment("accounts", "id").replace("{column}", "account")
        for table in MEMBERS
        if ROUTES[table] == _ACCOUNT
    },
    # A central school's own staff in its segment: how format 5 kept them before they became the trust's
    # (`holds_staff`; the next save by a reader of that school moves them).
    "staff": "(" + _STAFF.replace("{r}", "r") + " = :school OR r.school = :school AND r.school IN "
    "(SELECT id FROM main.schools WHERE central))",
    "accounts": "r.school = :school",
    "mailboxes": "r.school = :school",
    "dpias": "r.school = :school",
    "campaigns": "coalesce(r.school, '') = :school",
    "incident_steps": _in_segment("incidents", "id").replace("{column}", "incident"),
    "breach_decisions": _in_segment("incidents", "id").replace("{column}", "incident"),
    "texts": _in_segment("incidents", "id").replace("{column}", "subject"),
    "mailbox_members": _in_segment("mailboxes", "email").replace("{column}", "mailbox"),
}
assert _OWN_ROWS.keys() == ROUTES.keys()


def foreign(conn: sqlite3.Connection, schema: str, school: str) -> str | None:
    """The first table in `schema` with a row that is not `school`'s (TRUST: not the trust's), or None.

    Judged by the segment's own rows (an attestation by the account in the same segment), so a
    segment's writer cannot slip rows of a school they may not write into one they may: merged, they
    would be that other school's rows for every reader of both. Only the trust's `schools` are read
    from `main`.
    """
    have = set(tables(conn, schema))
    checks = [(table, own.format(s=schema, r="r")) for table, own in _OWN_ROWS.items() if table in have]
    sql = "SELECT " + ", ".join(
        f"(SELECT 1 FROM {schema}.{table} AS r WHERE NOT coalesce({own}, 0) LIMIT 1)" for table, own in checks
    )
    found = conn.execute(sql, {"school": school}).fetchone() if checks else ()
    return next((table for (table, _), hit in zip(checks, found) if hit), None)


def holds_staff(records: bytes) -> bool:
    """Whether a school's records segment holds staff rows: a central school's, written before they were
    the trust's rows (file-format.md F4), which its next save moves to the trust's records."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.deserialize(records)
        return conn.execute("SELECT 1 FROM staff LIMIT 1").fetchone() is not None
    except sqlite3.DatabaseError:
        return False  # `merge` says what is wrong with it
    finally:
        conn.close()


def _refuse_foreign(conn: sqlite3.Connection, schema: str, school: str) -> None:
    table = foreign(conn, schema, school)
    if table is not None:
        whose = (
            "the trust's records hold a row of a school"
            if school == TRUST
            else f"{school}'s records hold a row of another school"
        )
        raise DamagedError(f"register altered: {whose} ({table})")


def load(trust: bytes) -> sqlite3.Connection:
    """The trust's records as the body every school is merged into (db.deserialize's checks).

    With an empty `events` table: a command records its events there, and the save splits them (F6).
    Raises DamagedError if they hold a school's rows (`foreign`).
    """
    conn = db.deserialize(trust)
    _refuse_foreign(conn, "main", TRUST)
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'events'").fetchone():
        conn.executescript(db.EVENTS_SCHEMA.format(schema="main"))
    return conn


def merge(
    conn: sqlite3.Connection, school: str, records: bytes, vault: bytes | None = None, check: bool = True
) -> None:
    """Copy one school's records (and with a vault key, its secrets) into `main`; raises DamagedError.

    Rows of any other school in them are damage (`foreign`), not merged; `check=False` when this
    very segment (by digest) was found sound before.
    """
    try:
        conn.execute("ATTACH ':memory:' AS seg")
        conn.deserialize(records, name="seg")
        if check:
            _refuse_foreign(conn, "seg", school)
        have = set(tables(conn, "seg"))
        for table in tables(conn):
            if table in ROUTES and table in have:
                cols = ", ".join(_columns(conn, table, "seg"))
                conn.execute(f"INSERT INTO main.{table} ({cols}) SELECT {cols} FROM seg.{table}")
        if vault is not None:
            conn.execute("DETACH seg")
            conn.execute("ATTACH ':memory:' AS seg")
            conn.deserialize(vault, name="seg")
            for table, (key, secret) in VAULT_COLUMNS.items():
                sets = ", ".join(f"{c} = v.{c}" for c in secret)
                conn.execute(
                    f"UPDATE main.{table} SET {sets} FROM seg.vault_{table} AS v WHERE main.{table}.{key} = v.{key}"
                )
    except sqlite3.DatabaseError as exc:
        raise DamagedError(f"register damaged: a school's segment does not load ({exc})") from None
    finally:
        if any(row[1] == "seg" for row in conn.execute("PRAGMA database_list")):
            conn.execute("DETACH seg")


def replace_school(conn: sqlite3.Connection, school: str, records: bytes, vault: bytes | None = None) -> None:
    """Swap one school's rows in a merged database for those of a newer segment (F8: the agent).

    What an agent does after another process's save that changed one school: delete that school's
    rows and merge its new segment, instead of reading every school again. Raises DamagedError as
    `merge` does. In a database `guard` watches, the swap is not a change to save: the school is
    not left marked dirty by it.
    """
    was_dirty = school in _dirty_if_guarded(conn)
    # Rows that name another table's rows go first (account_people before accounts): the routes of
    # the dependent rows read the rows they name.
    order = [t for t in tables(conn) if t in ROUTES]
    dependent = [t for t in order if MEMBERS[t] not in (MEMBERS["accounts"], MEMBERS["mailboxes"])]
    owners = [t for t in order if t not in dependent]
    try:
        for table in [*reversed(dependent), *owners]:
            conn.execute(f"DELETE FROM main.{table} AS r WHERE {MEMBERS[table].format(r='r')}", {"school": school})
    except sqlite3.DatabaseError as exc:
        raise DamagedError(f"register damaged: {school}'s rows could not be replaced ({exc})") from None
    merge(conn, school, records, vault)
    if not was_dirty and _dirty_if_guarded(conn):
        conn.execute("DELETE FROM temp.dirty_schools WHERE school = ?", (school,))


def _dirty_if_guarded(conn: sqlite3.Connection) -> set[str]:
    if conn.execute("SELECT 1 FROM temp.sqlite_master WHERE name = 'dirty_schools'").fetchone():
        return dirty(conn)
    return set()


BATCH = 9  # segments attached at once: SQLite's limit is 10 schemas besides main and temp


def merge_many(conn: sqlite3.Connection, segments: list[tuple[str, bytes, bytes | None]]) -> None:
    """Merge many schools at once: the same rows as `merge` one by one, in 60% of the time at 100 schools.

    The body's own indexes are dropped first and built once at the end, and up to BATCH segments
    are attached together so each table takes one INSERT per batch (measured on the large trust:
    268 ms against 455 ms one by one). Raises DamagedError as `merge` does.
    """
    if len(segments) < 2:
        for school, records, vault in segments:
            merge(conn, school, records, vault)
        return
    with merging(conn) as add:
        for school, records, vault in segments:
            add(school, records, vault)


@contextmanager
def merging(conn: sqlite3.Connection):
    """`merge_many` one school at a time: yields add(school, records, vault, check=True); BATCH are merged together.

    A caller that decrypts each school just before adding it holds at most BATCH schools' plaintext
    at once, not every school's (a custodian's open at the large trust: about 50 MB less).
    """
    indexes = conn.execute(
        "SELECT name, sql FROM main.sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name != 'events'"
    ).fetchall()
    for name, _sql in indexes:
        conn.execute(f"DROP INDEX main.{name}")
    group: list[tuple[str, bytes, bytes | None]] = []
    unchecked: set[int] = set()  # positions in `group` of segments `merge`'s check may skip

    def add(school: str, records: bytes, vault: bytes | None, check: bool = True) -> None:
        if not check:
            unchecked.add(len(group))
        group.append((school, records, vault))
        if len(group) == BATCH:
            _merge_group(conn, group, unchecked)
            group.clear()
            unchecked.clear()

    try:
        yield add
        if group:
            _merge_group(conn, group, unchecked)
    except sqlite3.DatabaseError as exc:
        raise DamagedError(f"register damaged: a school's segment does not load ({exc})") from None
    finally:
        group.clear()
        for _name, sql in indexes:
            conn.execute(sql)


def _merge_group(conn: sqlite3.Connection, group: list[tuple[str, bytes, bytes | None]], unchecked=()) -> None:
    _attach_group(conn, [records for _, records, _ in group])
    try:
        for j, (school, _, _) in enumerate(group):
            if j not in unchecked:
                _refuse_foreign(conn, f"g{j}", school)
        for table in tables(conn):
            if table not in ROUTES:
                continue
            cols = ", ".join(_columns(conn, table, "g0"))
            union = " UNION ALL ".join(f"SELECT {cols} FROM g{j}.{table}" for j in range(len(group)))
            conn.execute(f"INSERT INTO main.{table} ({cols}) {union}")
    finally:
        _detach_group(conn, len(group))
    vaults = [vault for _, _, vault in group if vault is not None]
    if vaults:
        _attach_group(conn, vaults)
        try:
            for table, (key, secret) in VAULT_COLUMNS.items():
                union = " UNION ALL ".join(f"SELECT * FROM g{j}.vault_{table}" for j in range(len(vaults)))
                sets = ", ".join(f"{c} = v.{c}" for c in secret)
                conn.execute(f"UPDATE main.{table} SET {sets} FROM ({union}) AS v WHERE main.{table}.{key} = v.{key}")
        finally:
            _detach_group(conn, len(vaults))


def _attach_group(conn: sqlite3.Connection, blobs: list[bytes]) -> None:
    for j, blob in enumerate(blobs):
        conn.execute(f"ATTACH ':memory:' AS g{j}")
        conn.deserialize(blob, name=f"g{j}")


def _detach_group(conn: sqlite3.Connection, n: int) -> None:
    attached = {row[1] for row in conn.execute("PRAGMA database_list")}
    for j in range(n):
        if f"g{j}" in attached:
            conn.execute(f"DETACH g{j}")


def guard(conn: sqlite3.Connection, schools: set[str]) -> None:
    """Refuse rows for schools not loaded, and note each school whose rows change (TEMP, for this open only)."""
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS open_schools (school TEXT PRIMARY KEY)")
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS dirty_schools (school TEXT PRIMARY KEY)")
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS dirty_vaults (school TEXT PRIMARY KEY)")
    conn.executemany("INSERT OR IGNORE INTO temp.open_schools VALUES (?)", [(s,) for s in {TRUST, *schools}])
    for table in tables(conn):
        if table in HISTORY_TABLES:
            continue
        if table in TRUST_TABLES:
            for op in ("INSERT", "UPDATE", "DELETE"):
                # Every event moves the chain's head in `meta`: format 5 keeps it in the journal, so
                # that alone does not make the trust's records a segment to write again.
                row = "OLD" if op == "DELETE" else "NEW"
                when = f"WHEN {row}.key != '{HEAD_KEY}' " if table == "meta" else ""
                conn.execute(
                    f"CREATE TEMP TRIGGER dirty_{op.lower()}_{table} AFTER {op} ON main.{table} {when}BEGIN "
                    f"INSERT INTO dirty_schools SELECT '' WHERE NOT EXISTS "
                    f"(SELECT 1 FROM temp.dirty_schools WHERE school = ''); END"
                )
            continue
        refuse = (
            "SELECT RAISE(ABORT, '{msg}') WHERE coalesce({route}, '?') NOT IN (SELECT school FROM temp.open_schools);"
        )
        new, old = _route(table, "NEW"), _route(table, "OLD")
        conn.execute(
            f"CREATE TEMP TRIGGER guard_insert_{table} BEFORE INSERT ON main.{table} BEGIN "
            + refuse.format(msg=REFUSED, route=new)
            + " END"
        )
        conn.execute(
            f"CREATE TEMP TRIGGER guard_update_{table} BEFORE UPDATE ON main.{table} BEGIN "
            + refuse.format(msg=REFUSED, route=new)
            + " END"
        )
        # Not INSERT OR IGNORE: an outer statement's conflict clause (an upsert's) overrides a trigger's.
        note = (
            "INSERT INTO dirty_schools SELECT {route} WHERE {route} IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM temp.dirty_schools WHERE school = {route});"
        )
        if table in VAULT_COLUMNS:  # the school's credentials segment changes too (custodians only)
            note += (
                "INSERT INTO dirty_vaults SELECT {route} WHERE {route} IS NOT NULL "
                "AND NOT EXISTS (SELECT 1 FROM temp.dirty_vaults WHERE school = {route});"
            )
        conn.execute(
            f"CREATE TEMP TRIGGER dirty_insert_{table} AFTER INSERT ON main.{table} BEGIN "
            + note.format(route=new)
            + " END"
        )
        conn.execute(
            f"CREATE TEMP TRIGGER dirty_update_{table} AFTER UPDATE ON main.{table} BEGIN "
            + note.format(route=new)
            + note.format(route=old)
            + " END"
        )
        # A deleted row's school is found while the row it names is still there: BEFORE, not AFTER.
        conn.execute(
            f"CREATE TEMP TRIGGER dirty_delete_{table} BEFORE DELETE ON main.{table} BEGIN "
            + note.format(route=old)
            + " END"
        )


def dirty_vaults(conn: sqlite3.Connection) -> set[str]:
    """The schools whose credentials (the tables only vault keys open) changed since `guard`."""
    return {row[0] for row in conn.execute("SELECT school FROM temp.dirty_vaults")}


def dirty(conn: sqlite3.Connection) -> set[str]:
    """The schools (TRUST for the trust's records) whose rows changed since `guard`."""
    return {row[0] for row in conn.execute("SELECT school FROM temp.dirty_schools")}


def refusal(exc: BaseException) -> AccessError | None:
    """The access error a guard's refusal stands for, or None when `exc` is something else."""
    if isinstance(exc, sqlite3.IntegrityError) and REFUSED in str(exc):
        return AccessError("your key does not open that school: ask a custodian if you need it")
    return None
