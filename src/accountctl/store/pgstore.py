"""A register kept in PostgreSQL: the same ciphertext as a register file, in three tables.

- `accountctl_register`: one row, the header and the body (and, in the clear, what the header says
  in the clear anyway: the file id and generation), and the digest of the archive it goes with;
- `accountctl_archive` and `accountctl_archive_segment`: the history archive, written once in
  segments of at most SEGMENT bytes and never updated, so a save that does not change the archive
  sends only the header and the body. An archive no row refers to any more is deleted by the save
  that replaced it.

A reader reads in one REPEATABLE READ transaction, so it never pairs one save's header with another's
archive, and never sees half a save. A writer locks the row (`SELECT ... FOR UPDATE`, waiting at most
ACCOUNTCTL_LOCK_TIMEOUT seconds, then exit 5), reads, applies its change and saves in the same
transaction, with a compare-and-set on the generation as well. A writer killed part-way leaves the
transaction to be rolled back by the server. psycopg (3) is imported here and nowhere else: a
register file never needs it.
"""

from __future__ import annotations

import io
import os
import re
from contextlib import contextmanager
from typing import Callable, Iterator

from accountctl.errors import BusyError, DamagedError, InputError
from accountctl.store import files
from accountctl.store.stores import ArchiveAt, BodyWriter, archive_mismatch

EXTRA = "postgres"
SEGMENT = 1 << 20
REGISTER, ARCHIVE, SEGMENTS = "accountctl_register", "accountctl_archive", "accountctl_archive_segment"
# Ciphertext does not compress: STORAGE EXTERNAL keeps it out of line without PostgreSQL trying.
TABLES = f"""
CREATE TABLE {ARCHIVE} (
    digest bytea PRIMARY KEY,
    length bigint NOT NULL CHECK (length > 0),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE {SEGMENTS} (
    digest bytea NOT NULL REFERENCES {ARCHIVE}(digest) ON DELETE CASCADE,
    n integer NOT NULL CHECK (n >= 0),
    bytes bytea NOT NULL,
    PRIMARY KEY (digest, n)
);
ALTER TABLE {SEGMENTS} ALTER COLUMN bytes SET STORAGE EXTERNAL;
CREATE TABLE {REGISTER} (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    file_id bytea NOT NULL,
    generation bigint NOT NULL CHECK (generation > 0),
    header bytea NOT NULL,
    body bytea NOT NULL,
    archive_digest bytea REFERENCES {ARCHIVE}(digest),
    saved_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE {REGISTER} ALTER COLUMN body SET STORAGE EXTERNAL;
"""
_BUSY_TEXT = (
    "too many clients",
    "remaining connection slots",
    "starting up",
    "shutting down",
    "in recovery mode",
    "too many connections",
)


def driver():
    """psycopg, or a one-line error naming the extra that installs it."""
    try:
        import psycopg
    except ImportError:
        raise InputError(
            f"a postgresql:// register needs the PostgreSQL driver: pip install 'accountctl[{EXTRA}]'"
        ) from None
    return psycopg


def redact(url: str) -> str:
    """The URL without its password (in the user part or a password= parameter)."""
    url = re.sub(r"^([a-z]+://[^:@/?#]*):[^@/?#]*@", r"\1:***@", url, flags=re.IGNORECASE)
    return re.sub(r"([?&]password=)[^&]*", r"\1***", url, flags=re.IGNORECASE)


def _one_line(exc: Exception) -> str:
    """The driver's message (libpq's may span lines: the failure, then a hint) on one line."""
    text = " ".join(ln.strip().rstrip(".") + "." for ln in str(exc).splitlines() if ln.strip()) or type(exc).__name__
    text = re.sub(r"^connection failed: ", "", text.replace("FATAL:", "").replace("ERROR:", ""))
    return re.sub(r"\s+", " ", text).strip().rstrip(".")


class PgStore:
    """The store interface (stores.py) over one PostgreSQL connection, opened on first use."""

    def __init__(self, url: str):
        self.url = url
        self.name = redact(url)
        self._psycopg = driver()
        self._conn = None
        self._locked = False

    # -- connection and errors -------------------------------------------------------------------
    def _connection(self):
        if self._conn is None:
            psycopg = self._psycopg
            try:
                given = psycopg.conninfo.conninfo_to_dict(self.url)
            except psycopg.ProgrammingError as exc:
                raise InputError(f"not a PostgreSQL URL: {self.name} ({_one_line(exc)})") from None
            extra = {}
            if "connect_timeout" not in given and not os.environ.get("PGCONNECT_TIMEOUT"):
                extra["connect_timeout"] = 10  # libpq waits for the OS otherwise (minutes) on an unreachable host
            if "application_name" not in given and not os.environ.get("PGAPPNAME"):
                extra["application_name"] = "accountctl"  # what the DBA sees in pg_stat_activity
            try:
                self._conn = psycopg.connect(self.url, autocommit=True, **extra)
            except psycopg.OperationalError as exc:
                text = _one_line(exc)
                if any(t in text.lower() for t in _BUSY_TEXT):
                    raise BusyError(
                        f"register busy: the PostgreSQL server at {self.name} is busy ({text}); try again in a moment"
                    ) from None
                raise InputError(f"cannot open the register at {self.name}: {text}") from None
        return self._conn

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Turn the driver's errors into the tool's: one line, the exit code of its class."""
        psycopg = self._psycopg
        errors = psycopg.errors
        try:
            yield
        except (errors.LockNotAvailable, errors.QueryCanceled):
            raise BusyError(
                f"register busy: another accountctl is saving to {self.name}; try again in a moment"
            ) from None
        except (errors.SerializationFailure, errors.DeadlockDetected):
            raise BusyError(
                f"register busy: another accountctl saved to {self.name} at the same moment; try again"
            ) from None
        except errors.UndefinedTable:
            raise self._no_register() from None
        except errors.InsufficientPrivilege as exc:
            raise InputError(
                f"PostgreSQL refused {doing} at {self.name}: {_one_line(exc)} (the grants the "
                "application's role needs are in docs/shared-register.md)"
            ) from None
        except psycopg.OperationalError as exc:
            self._drop()
            raise InputError(f"lost the connection to {self.name} while {doing}: {_one_line(exc)}") from None
        except psycopg.Error as exc:
            self._drop()
            raise InputError(f"PostgreSQL refused {doing} at {self.name}: {_one_line(exc)}") from None

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
                self._locked = False

    def close(self) -> None:
        self._drop()

    # -- reading ----------------------------------------------------------------------------------
    def exists(self) -> bool:
        with self._errors("reading the register"):
            conn = self._connection()
            if conn.execute("SELECT to_regclass(%s)", (REGISTER,)).fetchone()[0] is None:
                return False
            return conn.execute(f"SELECT count(*) FROM {REGISTER}").fetchone()[0] > 0

    def _no_register(self) -> InputError:
        return InputError(
            f"no register at {self.name}; create one with 'accountctl init --trust NAME --email E "
            "--name N --register URL'"
        )

    def read(
        self, upto: Callable[[bytes], int] | None = None, tail_at: Callable[[bytes], int] | None = None
    ) -> tuple[bytes, int]:
        """Header and body (and, without `upto`, the archive), from one snapshot; the total size.

        `upto` sees the header and says how many bytes of the image are needed, as for a file: the
        body is fetched only when they go past the header. A register here has no tail (it has no
        `append`: every change is a whole save), so `tail_at` has nothing to add.
        """
        with self._errors("reading the register"):
            conn = self._connection()
            if not self._locked:
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                row = conn.execute(
                    f"SELECT r.header, length(r.body), r.archive_digest, coalesce(a.length, 0) "
                    f"FROM {REGISTER} r LEFT JOIN {ARCHIVE} a ON a.digest = r.archive_digest",
                    binary=True,
                ).fetchone()
                if row is None:
                    raise self._no_register()
                header, body_len, archive_digest, archive_len = bytes(row[0]), row[1], row[2], row[3]
                size = len(header) + body_len + archive_len
                want = size if upto is None else min(upto(header), size)
                parts = [header]
                if want > len(header):
                    parts.append(self._fetch(f"SELECT body FROM {REGISTER}")[0][0])
                if want > len(header) + body_len and archive_digest is not None:
                    parts.extend(self._segments(bytes(archive_digest)))
            finally:
                if not self._locked:
                    conn.execute("COMMIT")
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        del parts  # the fetched body goes before the caller decrypts: one copy of the ciphertext, not two
        return (data if len(data) == want else data[:want]), size

    def _fetch(self, sql: str, params: tuple = ()) -> list:
        """Rows in binary (bytea as bytes, not hex text: half the transfer, no decoding); the result freed at once."""
        with self._conn.cursor(binary=True) as cur:
            return cur.execute(sql, params).fetchall()

    def _segments(self, digest: bytes) -> list:
        return [r[0] for r in self._fetch(f"SELECT bytes FROM {SEGMENTS} WHERE digest = %s ORDER BY n", (digest,))]

    def read_archive(self, at: ArchiveAt) -> bytes:
        with self._errors("reading the history archive"):
            self._connection()
            data = b"".join(self._segments(at.digest))
            if len(data) != at.length and not self._locked:
                current = self._conn.execute(f"SELECT archive_digest FROM {REGISTER}").fetchone()
                if current is not None and current[0] is not None and bytes(current[0]) != at.digest:
                    # A reader without the lock, and a save replaced the archive since it read the header.
                    raise BusyError(f"register busy: {self.name} changed while this command read it; run it again")
        if len(data) != at.length:
            raise DamagedError("register damaged: its history archive is incomplete")
        return data

    def archive_digest(self, at: ArchiveAt) -> bytes:
        """The SHA-256 of the stored archive, computed by the server (its bytes are not sent)."""
        with self._errors("reading the history archive"):
            row = (
                self._connection()
                .execute(
                    f"SELECT sha256(string_agg(bytes, ''::bytea ORDER BY n)), sum(length(bytes)) FROM {SEGMENTS} "
                    "WHERE digest = %s",
                    (at.digest,),
                )
                .fetchone()
            )
        return bytes(row[0]) if row[0] is not None and row[1] == at.length else b""

    # -- writing ----------------------------------------------------------------------------------
    @contextmanager
    def lock(self, table: str = REGISTER) -> Iterator[None]:
        """Lock the register's row for this writer: wait boundedly, then 'register busy' (exit 5).

        `table`: format 5 keeps its register row in a table of its own (store/pgstore5.py).
        """
        timeout = float(os.environ.get("ACCOUNTCTL_LOCK_TIMEOUT", files.DEFAULT_LOCK_TIMEOUT))
        with self._errors("locking the register"):
            conn = self._connection()
            conn.execute("BEGIN")
            self._locked = True
            conn.execute(f"SET LOCAL lock_timeout = {max(1, int(timeout * 1000))}")
            row = conn.execute(f"SELECT generation FROM {table} FOR UPDATE").fetchone()
            if row is None:
                conn.execute("ROLLBACK")
                self._locked = False
                raise self._no_register()
        try:
            yield
        finally:
            if self._locked and self._conn is not None:
                self._locked = False
                try:
                    self._conn.execute("ROLLBACK")  # nothing saved (a refused command): release the row
                except self._psycopg.Error:
                    self._drop()

    @contextmanager
    def creating(self) -> Iterator[None]:
        """For `init` and `vault copy`: the tables (created if missing); the row is the compare-and-set."""
        with self._errors("creating the register's tables"):
            conn = self._connection()
            if conn.execute("SELECT to_regclass(%s)", (REGISTER,)).fetchone()[0] is None:
                conn.execute("BEGIN")
                try:
                    conn.execute(TABLES)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
        yield

    def save(
        self,
        expected_generation: int,
        header,
        raw: bytes,
        write_body: BodyWriter,
        archive: bytes | None,
        kept: ArchiveAt | None,
    ) -> None:
        """One transaction: the new row (compare-and-set on the generation), a new archive's segments."""
        buffer = io.BytesIO()
        write_body(buffer)
        body = buffer.getbuffer()
        digest = kept.digest if kept is not None and kept.length else None

        def work(conn) -> None:
            nonlocal digest
            if archive is not None:
                import hashlib

                digest = hashlib.sha256(archive).digest()
                if conn.execute(
                    f"INSERT INTO {ARCHIVE}(digest, length) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    (digest, len(archive)),
                ).rowcount:
                    with conn.cursor() as cur:
                        cur.executemany(
                            f"INSERT INTO {SEGMENTS}(digest, n, bytes) VALUES (%s, %s, %s)",
                            [
                                (digest, i, archive[start : start + SEGMENT])
                                for i, start in enumerate(range(0, len(archive), SEGMENT))
                            ],
                        )
            elif (
                digest is not None
                and conn.execute(f"SELECT 1 FROM {ARCHIVE} WHERE digest = %s", (digest,)).fetchone() is None
            ):
                raise archive_mismatch()
            values = (header.file_id, header.generation, raw, body, digest)
            if expected_generation == 0:
                done = conn.execute(
                    f"INSERT INTO {REGISTER}(file_id, generation, header, body, archive_digest) "
                    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    values,
                ).rowcount
                if not done:
                    raise InputError(f"a register already exists at {self.name}; refusing to overwrite it")
            else:
                done = conn.execute(
                    f"UPDATE {REGISTER} SET file_id = %s, generation = %s, header = %s, body = %s, "
                    "archive_digest = %s, saved_at = now() WHERE generation = %s",
                    (*values, expected_generation),
                ).rowcount
                if not done:
                    raise BusyError(
                        f"register busy: someone else saved {self.name} meanwhile; nothing was saved, "
                        "run the command again"
                    )
            conn.execute(
                f"DELETE FROM {ARCHIVE} a WHERE NOT EXISTS "
                f"(SELECT 1 FROM {REGISTER} r WHERE r.archive_digest = a.digest)"
            )

        self.commit("saving the register", work)

    def commit(self, doing: str, work) -> object:
        """`work(conn)` in one transaction (the writer's, or a new one), then COMMIT; its result.

        On any failure the transaction is rolled back and the lock let go. A connection lost at the
        COMMIT itself leaves the outcome unknown, and the error says so.
        """
        with self._errors(doing):
            conn = self._connection()
            if not self._locked:
                conn.execute("BEGIN")
                self._locked = True
            try:
                result = work(conn)
            except BaseException:
                self._locked = False
                try:
                    conn.execute("ROLLBACK")
                except self._psycopg.Error:
                    self._drop()
                raise
            self._locked = False
        try:
            conn.execute("COMMIT")
        except self._psycopg.Error as exc:
            self._drop()
            raise InputError(
                f"lost the connection to {self.name} while {doing} ({_one_line(exc)}): the change may or "
                "may not have been saved; run 'accountctl log' to see"
            ) from None
        return result
