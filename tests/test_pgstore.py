"""The register in PostgreSQL: a real server the suite starts itself (tests/pgserver.py).

Every test gets its own schema, owned by the `app` role as docs/shared-register.md sets it up, and
reaches it through `options=-csearch_path=...` in the URL. Skipped, saying why, only when no server
can be started (no PostgreSQL installed, or no driver).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from contextlib import contextmanager
from itertools import count
from pathlib import Path
from typing import Iterator

import pytest

from conftest import CUSTODIAN, HEAD, PASSPHRASE, build_oak, error_line, ok

psycopg = pytest.importorskip("psycopg", reason="the PostgreSQL driver is not installed: pip install '.[postgres]'")
import pgserver  # noqa: E402

from accountctl.store import register as store, stores  # noqa: E402

DOCS = Path(__file__).resolve().parent.parent / "docs" / "shared-register.md"
FORK = multiprocessing.get_context("fork")
WORKERS, WRITES = 8, 25
_schemas = count(1)
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses fork and a local PostgreSQL cluster")


def docs_sql(marker: str) -> str:
    """The SQL block of docs/shared-register.md after `<!-- sql:MARKER -->`: the tests run what the docs say."""
    text = DOCS.read_text(encoding="utf-8")
    found = re.search(rf"<!-- sql:{marker} -->\n```sql\n(.*?)```", text, re.S)
    assert found, f"docs/shared-register.md lost its sql:{marker} block"
    return found.group(1)


def with_schema(url: str, schema: str) -> str:
    return f"{url}?options=-csearch_path%3D{schema}"


def app_url(cluster, schema: str) -> str:
    """The schema's URL for the app role, without a password (PGPASSWORD gives it)."""
    return with_schema(f"postgresql://{pgserver.APP}@127.0.0.1:{cluster.port}/{pgserver.DATABASE}", schema)


@pytest.fixture
def schema(cluster):
    """A fresh schema owned by `app` (the docs' owner set-up); dropped afterwards."""
    name = f"reg{next(_schemas)}"
    cluster.admin_sql(f"CREATE SCHEMA {name} AUTHORIZATION {pgserver.APP}")
    yield name
    cluster.admin_sql(f"DROP SCHEMA {name} CASCADE")


@pytest.fixture
def pg_url(cluster, schema, monkeypatch) -> str:
    """ACCOUNTCTL_REGISTER points at the schema, as the app role (the password from PGPASSWORD, as the docs advise)."""
    url = app_url(cluster, schema)
    monkeypatch.setenv("PGPASSWORD", pgserver.APP_PASSWORD)
    monkeypatch.setenv("ACCOUNTCTL_REGISTER", url)
    return url


@pytest.fixture
def pg_oak(pg_url, request) -> str:
    """The conftest `oak` trust, built in PostgreSQL."""
    request.getfixturevalue("oak")
    return pg_url


def row(cluster, schema: str, sql: str):
    return cluster.admin_sql(sql, fetch=True, schema=schema)


def stored(cluster, schema: str) -> tuple[int, bytes, bytes]:
    generation, header, body = row(cluster, schema, "SELECT generation, header, body FROM accountctl_register")[0]
    return generation, bytes(header), bytes(body)


def image(url: str) -> bytes:
    with stores.open_store(url) as st:
        return st.read()[0]


def child_env(**extra) -> dict:
    env = dict(os.environ)
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    env.update(extra)
    return env


def staff_emails(run) -> set[str]:
    return {s["email"] for s in json.loads(ok(run("staff list --json")).stdout)}


# -- every command the same ---------------------------------------------------------------------------
SCRIPT = [
    f"person grant {HEAD} --access register",
    "account request --school oak --platform facebook --handle OakPrimary --url https://www.facebook.com/OakPrimary "
    "--category faculty --email office@oak.sch.uk --owner t.one@oak.sch.uk --admin t.two@oak.sch.uk "
    "--aim News --audience Parents --promotion Newsletter --visibility open --pupils none",
    f"--as {HEAD} approve oak-facebook-oakprimary --note Agreed",
    f"--as {CUSTODIAN} account notify-head oak-facebook-oakprimary",
    f"--as {CUSTODIAN} cred totp oak-facebook-oakprimary",
    f"--as {CUSTODIAN} staff leave t.one@oak.sch.uk --on 2026-12-01",
    f"--as {CUSTODIAN} config set review_period_days 200",
]
READS = [
    "account show oak-facebook-oakprimary --json",
    "account list --json",
    "staff list --json",
    "audit --json",
    "offboard t.one@oak.sch.uk --json",
    "person list --json",
    "config show --json",
    "rules --json",
    "export",
]


def _normalised(text: str) -> str:
    # Times of the real clock and the keys' own bytes differ between any two registers; nothing else may.
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?", "T", text)
    text = re.sub(r'"[A-Za-z0-9+/]{40,}={0,2}"', '"K"', text)  # public keys and signatures, base64
    return re.sub(r"\b[0-9a-f]{32,}\b", "H", text)


def _play(run) -> list[str]:
    out = []
    for args in SCRIPT:
        stdin = "JBSWY3DPEHPK3PXP\n" if "cred totp" in args else None
        said = ok(run(f"--as {CUSTODIAN} {args}" if not args.startswith("--as") else args, input=stdin)).stdout
        if "cred totp" in args:  # it prints the current code, which moves on every 30 seconds
            assert re.fullmatch(r"\d{6}\n", said), said
            said = "CODE\n"
        out.append(said)
    for args in READS:
        result = run(f"--as {CUSTODIAN} {args}")
        assert result.exit_code in (0, 1), result.stderr  # audit and offboard say 1 when they find something
        out.append(f"exit {result.exit_code}\n{result.stdout}")
    ok(run(f"--as {CUSTODIAN} verify"))
    return [_normalised(o) for o in out]


def test_every_command_gives_the_same_answers_on_a_file_and_in_postgresql(run, oak, cluster, schema, monkeypatch):
    monkeypatch.setenv("ACCOUNTCTL_TODAY", "2026-11-20")
    on_file = _play(run)
    monkeypatch.setenv("PGPASSWORD", pgserver.APP_PASSWORD)
    url = app_url(cluster, schema)
    monkeypatch.setenv("ACCOUNTCTL_REGISTER", url)
    monkeypatch.setenv("XDG_STATE_HOME", str(oak.parent / "state-pg"))
    monkeypatch.delenv("ACCOUNTCTL_TODAY")
    build_oak(run)
    monkeypatch.setenv("ACCOUNTCTL_TODAY", "2026-11-20")
    in_postgres = _play(run)
    import difflib

    for command, file_out, pg_out in zip(SCRIPT + READS, on_file, in_postgres):
        assert pg_out == file_out, f"{command}:\n" + "\n".join(
            difflib.unified_diff(file_out.splitlines(), pg_out.splitlines(), "file", "postgresql", lineterm="", n=0)
        )
    status = json.loads(ok(run("vault status --json")).stdout)
    assert status["file"] == url and status["generation"] == store.read_header(url)[0].generation
    assert store.read_header(oak)[0].generation == status["generation"]


def test_init_creates_the_tables_and_refuses_a_second_register(run, pg_url, cluster, schema):
    ok(run(f'init --trust "Oak Trust" --email {CUSTODIAN} --name "Ira Tech"'))
    tables = {
        r[0]
        for r in row(
            cluster, schema, f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{schema}'"
        )
    }
    assert tables == {"accountctl_register", "accountctl_archive", "accountctl_archive_segment"}
    before = stored(cluster, schema)
    error_line(run(f"init --trust Other --email {CUSTODIAN} --name Ira"), 2, "already exists")
    assert stored(cluster, schema) == before


def test_a_url_password_never_shows(run, pg_oak, cluster, schema, monkeypatch):
    monkeypatch.delenv("PGPASSWORD")
    url = with_schema(cluster.url(), schema)
    status = ok(run(f"--register {url} vault status --json")).stdout
    assert pgserver.APP_PASSWORD not in status and "app:***@" in json.loads(status)["file"]
    line = error_line(
        run(f"--register {url.replace(pgserver.APP_PASSWORD, 'wrong-one')} staff list"),
        2,
        "password authentication failed",
    )
    assert "wrong-one" not in line


# -- errors -----------------------------------------------------------------------------------------------
def test_an_unreachable_server_is_one_line_and_exit_2(run, pg_url):
    port = pgserver.free_port()  # nothing listens there
    line = error_line(
        run(f"--register postgresql://app@127.0.0.1:{port}/trust staff list"), 2, "cannot open the register"
    )
    assert "refused" in line.lower()


def test_a_refused_login_is_one_line_and_exit_2(run, pg_oak, monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "not-the-password")
    error_line(run("staff list"), 2, "password authentication failed", "app")
    error_line(run("staff add x@oak.sch.uk --name X --school oak"), 2, "password authentication failed")


def test_no_register_there_is_exit_2_naming_init(run, pg_url):
    error_line(
        run("staff list"), 2, "no register at", "'accountctl init --trust NAME --email E --name N --register URL'"
    )


def test_a_role_without_grants_is_told_which_table(run, pg_oak, cluster, schema, monkeypatch):
    cluster.admin_sql("DROP ROLE IF EXISTS nobody_much")
    cluster.admin_sql("CREATE ROLE nobody_much LOGIN PASSWORD 'x'")
    cluster.admin_sql(f"GRANT USAGE ON SCHEMA {schema} TO nobody_much")  # sees the tables, may not read them
    try:
        url = with_schema(f"postgresql://nobody_much:x@127.0.0.1:{cluster.port}/trust", schema)
        error_line(run(f"--register {url} staff list"), 2, "permission denied", "shared-register.md")
    finally:
        cluster.admin_sql("DROP OWNED BY nobody_much; DROP ROLE nobody_much")


def _hold_row(url: str, held, release) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("BEGIN")
        conn.execute("SELECT 1 FROM accountctl_register FOR UPDATE")
        held.set()
        release.wait(30)
        conn.execute("ROLLBACK")


@contextmanager
def row_held(cluster, schema: str) -> Iterator:
    """Another process holds the register's row lock (a writer mid-command); yields its release event."""
    held, release = FORK.Event(), FORK.Event()
    holder = FORK.Process(target=_hold_row, args=(with_schema(cluster.url(), schema), held, release))
    holder.start()
    try:
        assert held.wait(10)
        yield release
    finally:
        release.set()
        holder.join(10)


def test_a_writer_holding_the_row_makes_another_exit_5_busy_and_readers_still_read(
    run, pg_oak, cluster, schema, monkeypatch
):
    monkeypatch.setenv("ACCOUNTCTL_LOCK_TIMEOUT", "0.5")
    with row_held(cluster, schema):
        before = stored(cluster, schema)
        started = time.monotonic()
        error_line(run("staff add x@oak.sch.uk --name X --school oak"), 5, "register busy")
        assert 0.4 <= time.monotonic() - started < 5
        assert stored(cluster, schema) == before
        ok(run("staff list"))
        ok(run("vault status"))
    ok(run("staff add x@oak.sch.uk --name X --school oak"))


def test_a_writer_waits_for_the_row_released_in_time(run, pg_oak, cluster, schema, monkeypatch):
    monkeypatch.setenv("ACCOUNTCTL_LOCK_TIMEOUT", "10")
    with row_held(cluster, schema) as release:
        import threading

        threading.Timer(0.5, release.set).start()
        started = time.monotonic()
        ok(run("staff add x@oak.sch.uk --name X --school oak"))
        assert time.monotonic() - started >= 0.4
    assert "x@oak.sch.uk" in staff_emails(run)


NO_DRIVER = textwrap.dedent("""
    import sys
    sys.modules["psycopg"] = None  # as if the extra were not installed
    sys.argv = ["accountctl", "staff", "list"]
    from accountctl.cli import cli
    sys.exit(cli.main(standalone_mode=False))
""")
FILE_ONLY = textwrap.dedent("""
    import sys
    from accountctl.cli import cli
    for argv in (["staff", "list"], ["staff", "add", "f@oak.sch.uk", "--name", "F", "--school", "oak"],
                 ["vault", "status"], ["verify"]):
        assert cli.main(args=argv, standalone_mode=False) == 0, argv
    assert not [m for m in sys.modules if m.split(".")[0] in ("psycopg", "psycopg_binary")], "psycopg was imported"
    assert "accountctl.store.pgstore" not in sys.modules
""")


def test_without_the_driver_the_error_names_the_extra(pg_oak):
    proc = subprocess.run(
        [sys.executable, "-c", NO_DRIVER], env=child_env(), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2, proc.stderr
    assert (
        proc.stderr.strip() == "Error: a postgresql:// register needs the PostgreSQL driver: "
        "pip install 'accountctl[postgres]'"
    )


def test_a_register_file_never_imports_the_driver(oak):
    proc = subprocess.run(
        [sys.executable, "-c", FILE_ONLY], env=child_env(), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr


# -- many writers -------------------------------------------------------------------------------------
def _writer(url: str, worker: int, writes: int) -> None:
    from accountctl.core import directory

    for i in range(writes):
        with store.open_register(
            url, actor=CUSTODIAN, passphrase_source=lambda: PASSPHRASE, write=True, use_keyring=False
        ) as reg:
            directory.add_staff(
                reg.db, reg.actor, f"w{worker}.n{i}@oak.sch.uk", f"Worker {worker} #{i}", "oak", ["staff"]
            )


def _reader(url: str, stop, failures) -> None:
    from accountctl.errors import AccountctlError

    reads = 0
    while not stop.is_set() or reads == 0:
        try:
            with store.open_register(
                url, actor=CUSTODIAN, passphrase_source=lambda: PASSPHRASE, use_keyring=False
            ) as reg:
                reg.db.execute("SELECT count(*) FROM staff").fetchone()
        except AccountctlError as exc:
            failures.put(str(exc))
        reads += 1
    failures.put(f"reads={reads}")


def test_eight_processes_writing_25_times_lose_nothing(run, pg_oak, monkeypatch):
    monkeypatch.setenv("ACCOUNTCTL_LOCK_TIMEOUT", "60")
    start_generation = store.read_header(pg_oak)[0].generation
    stop, failures = FORK.Event(), FORK.Queue()
    reader = FORK.Process(target=_reader, args=(pg_oak, stop, failures))
    reader.start()
    writers = [FORK.Process(target=_writer, args=(pg_oak, w, WRITES)) for w in range(WORKERS)]
    for p in writers:
        p.start()
    for p in writers:
        p.join(timeout=300)
    stop.set()
    reader.join(timeout=60)
    assert [p.exitcode for p in writers] == [0] * WORKERS
    assert reader.exitcode == 0
    messages = []
    while True:
        item = failures.get(timeout=10)
        if item.startswith("reads="):
            break
        messages.append(item)
    assert messages == [], "a reader saw a half-saved register"
    written = {e for e in staff_emails(run) if e.startswith("w")}
    assert written == {f"w{w}.n{i}@oak.sch.uk" for w in range(WORKERS) for i in range(WRITES)}
    assert store.read_header(pg_oak)[0].generation == start_generation + WORKERS * WRITES
    assert "0 problem(s)" in ok(run("verify")).stderr


# -- kill -9 in the middle of a save ------------------------------------------------------------------
CRASH = textwrap.dedent("""
    import os, sys
    import psycopg

    real_execute = psycopg.Connection.execute
    saving = []

    def dying_execute(self, query, *args, **kwargs):
        if isinstance(query, str) and query.startswith("UPDATE accountctl_register"):
            saving.append(query)
        if query == "COMMIT" and saving and os.environ.get("DIE_AT_COMMIT") == "1":
            os.kill(os.getpid(), 9)  # the row is updated, not yet committed
        return real_execute(self, query, *args, **kwargs)

    psycopg.Connection.execute = dying_execute
    sys.argv = ["accountctl", "staff", "add", "ghost@oak.sch.uk", "--name", "Ghost", "--school", "oak"]
    from accountctl.cli import main
    main()
""")


def test_a_writer_killed_before_its_commit_leaves_the_register_as_it_was(run, pg_oak, cluster, schema, monkeypatch):
    before = stored(cluster, schema)
    proc = subprocess.run(
        [sys.executable, "-c", CRASH], env=child_env(DIE_AT_COMMIT="1"), capture_output=True, timeout=60
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    assert stored(cluster, schema) == before
    assert "ghost@oak.sch.uk" not in staff_emails(run)
    assert "0 problem(s)" in ok(run("verify")).stderr
    # The server rolled the dead writer's transaction back and let go of the row: the next writer does not wait.
    monkeypatch.setenv("ACCOUNTCTL_LOCK_TIMEOUT", "3")
    ok(run("staff add ghost@oak.sch.uk --name Ghost --school oak"))
    assert stored(cluster, schema)[0] == before[0] + 1
    assert "ghost@oak.sch.uk" in staff_emails(run)


def test_the_crash_script_really_saves_without_the_kill(run, pg_oak):
    proc = subprocess.run(
        [sys.executable, "-c", CRASH], env=child_env(DIE_AT_COMMIT="0"), capture_output=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert "ghost@oak.sch.uk" in staff_emails(run)


LOOP = textwrap.dedent("""
    import sys
    from accountctl.core import directory
    from accountctl.store import register as store

    for i in range(1000):
        with store.open_register(sys.argv[1], actor="it@oak.sch.uk", passphrase_source=lambda: sys.argv[2],
                                 write=True, use_keyring=False) as reg:
            directory.add_staff(reg.db, reg.actor, f"k{sys.argv[3]}.{i}@oak.sch.uk", "K", "oak", ["staff"])
        print(i, flush=True)
""")


def test_writers_killed_at_random_moments_never_leave_a_half_save(run, pg_oak, monkeypatch):
    import random

    monkeypatch.setenv("ACCOUNTCTL_LOCK_TIMEOUT", "5")
    rng = random.Random(17)
    for round_ in range(5):
        proc = subprocess.Popen(
            [sys.executable, "-c", LOOP, pg_oak, PASSPHRASE, str(round_)],
            env=child_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        time.sleep(1.0 + rng.random() * 1.5)
        proc.kill()
        out, err = proc.communicate(timeout=30)
        done = {int(x) for x in out.split()}
        mine = {e for e in staff_emails(run) if e.startswith(f"k{round_}.")}
        # Every save it reported is there; at most the one it was in the middle of is there unreported.
        assert {f"k{round_}.{i}@oak.sch.uk" for i in done} <= mine, err.decode()
        assert len(mine) - len(done) in (0, 1)
        assert "0 problem(s)" in ok(run("verify")).stderr
    ok(run("staff add after@oak.sch.uk --name After --school oak"))


# -- the rollback witness ------------------------------------------------------------------------------
def test_a_restored_older_dump_is_refused_until_a_custodian_accepts_it(run, pg_oak, cluster, schema, tmp_path):
    dump = cluster.tool("pg_dump", "-Fc", "-n", schema, pgserver.DATABASE)
    ok(run("staff add later@oak.sch.uk --name Later --school oak"))
    seen = stored(cluster, schema)
    cluster.tool("pg_restore", "--clean", "-d", pgserver.DATABASE, stdin=dump)
    assert stored(cluster, schema)[0] == seen[0] - 1
    line = error_line(run("staff list"), 4, "rolled back", "accept-rollback")
    assert f"generation {seen[0]}" in line
    error_line(run("staff add x@oak.sch.uk --name X --school oak"), 4, "rolled back")
    # Another machine that never saw the newer one reads it as it is.
    other = ok(run("staff list --json", env={"XDG_STATE_HOME": str(tmp_path / "elsewhere")}))
    assert "later@oak.sch.uk" not in other.stdout
    ok(run(f"--as {CUSTODIAN} vault accept-rollback --reason 'Restored the dump on purpose'"))
    emails = staff_emails(run)
    assert "later@oak.sch.uk" not in emails and CUSTODIAN in emails
    assert "0 problem(s)" in ok(run("verify")).stderr


# -- vault copy ---------------------------------------------------------------------------------------
def test_vault_copy_from_a_file_to_postgresql_and_back_changes_no_byte(
    run, oak, cluster, schema, monkeypatch, tmp_path, small_archive
):
    ok(run(f"person grant {HEAD} --access register"))
    monkeypatch.setenv("ACCOUNTCTL_USER", CUSTODIAN)
    for i in range(6):  # past the (lowered) archive threshold: the copy carries a history archive
        ok(run(f"staff add c{i}@oak.sch.uk --name C{i} --school oak"))
    original = oak.read_bytes()
    assert store.read_header(oak)[0].history_len > 0
    monkeypatch.setenv("PGPASSWORD", pgserver.APP_PASSWORD)
    url = app_url(cluster, schema)
    ok(run(f"vault copy --to {url}"))
    assert image(url) == original
    assert oak.read_bytes() == original
    segments = row(cluster, schema, "SELECT count(*) FROM accountctl_archive_segment")[0][0]
    assert segments >= 1
    log_file = ok(run("log --json")).stdout
    ok(run(f"--register {url} verify"))
    assert ok(run(f"--register {url} log --json")).stdout == log_file
    ok(run(f"--register {url} --as {HEAD} staff list"))  # every key slot opens as before
    ok(run(f"--register {url} staff add pg@oak.sch.uk --name Pg --school oak"))
    moved = image(url)
    back = tmp_path / "back" / "oak.accountctl"
    ok(run(f"--register {url} vault copy --to {back}"))
    assert back.read_bytes() == moved
    assert "pg@oak.sch.uk" in ok(run(f"--register {back} staff list")).stdout
    assert "0 problem(s)" in ok(run(f"--register {back} verify")).stderr
    # Neither way overwrites a register that is there.
    error_line(run(f"vault copy --to {url}"), 2, "already exists")
    error_line(run(f"--register {url} vault copy --to {back}"), 2, f"a register already exists at {back};")
    assert image(url) == moved and back.read_bytes() == moved


@pytest.fixture
def small_archive(monkeypatch):
    monkeypatch.setattr(store.state, "ARCHIVE_AT", 5)


def test_only_a_custodian_copies(run, oak, cluster, schema, monkeypatch):
    ok(run(f"person grant {HEAD} --access register"))
    monkeypatch.setenv("PGPASSWORD", pgserver.APP_PASSWORD)
    url = app_url(cluster, schema)
    error_line(run(f"--as {HEAD} vault copy --to {url}"), 3, "custodian")
    assert row(cluster, schema, "SELECT to_regclass('accountctl_register')")[0][0] is None
    assert not store.exists(url)


def test_a_save_sends_the_archive_only_when_it_changes(run, pg_oak, cluster, schema, small_archive):
    for i in range(6):
        ok(run(f"staff add a{i}@oak.sch.uk --name A{i} --school oak"))
    archive = row(cluster, schema, "SELECT digest, xmin::text FROM accountctl_archive")
    segments = row(cluster, schema, "SELECT digest, n, xmin::text FROM accountctl_archive_segment ORDER BY n")
    assert len(archive) == 1 and segments
    ok(run("staff add b0@oak.sch.uk --name B0 --school oak"))  # below the next batch: the archive stays
    assert row(cluster, schema, "SELECT digest, xmin::text FROM accountctl_archive") == archive
    assert row(cluster, schema, "SELECT digest, n, xmin::text FROM accountctl_archive_segment ORDER BY n") == segments
    for i in range(1, 6):
        ok(run(f"staff add b{i}@oak.sch.uk --name B{i} --school oak"))
    # A new batch wrote a new archive, and the one it replaced is gone with its segments.
    now = row(cluster, schema, "SELECT digest FROM accountctl_archive")
    assert len(now) == 1 and now[0][0] != archive[0][0]
    assert {r[0] for r in row(cluster, schema, "SELECT DISTINCT digest FROM accountctl_archive_segment")} == {now[0][0]}
    assert "0 problem(s)" in ok(run("verify")).stderr
    assert len([e for e in json.loads(ok(run("log --json")).stdout) if e["action"] == "staff.add"]) == 4 + 12


def test_an_altered_archive_segment_stops_a_writer_and_fails_readers(run, pg_oak, cluster, schema, small_archive):
    for i in range(6):
        ok(run(f"staff add a{i}@oak.sch.uk --name A{i} --school oak"))
    before = stored(cluster, schema)
    row(
        cluster,
        schema,
        "UPDATE accountctl_archive_segment SET bytes = set_byte(bytes, 0, get_byte(bytes, 0) # 1) "
        "WHERE n = 0 RETURNING n",
    )
    error_line(run("staff add z@oak.sch.uk --name Z --school oak"), 4, "history archive")
    assert stored(cluster, schema) == before
    error_line(run("log"), 4, "history archive")


def test_the_docs_least_privilege_role_is_enough(run, pg_oak, cluster, schema, monkeypatch):
    """The docs' grants, for a role that can read and write rows but not change the tables."""
    sql = (
        docs_sql("app")
        .replace("accountctl_app", "leastpriv")
        .replace("SCHEMA accountctl", f"SCHEMA {schema}")
        .replace("accountctl.accountctl_", f"{schema}.accountctl_")
        .replace("search_path = accountctl", f"search_path = {schema}")
    )
    sql = sql.replace("DATABASE trust", f"DATABASE {pgserver.DATABASE}")
    cluster.admin_sql("DROP ROLE IF EXISTS leastpriv")
    try:
        cluster.admin_sql(sql)
        cluster.admin_sql("ALTER ROLE leastpriv PASSWORD 'lp'")
        url = f"postgresql://leastpriv:lp@127.0.0.1:{cluster.port}/{pgserver.DATABASE}"  # search_path from the role
        ok(run(f"--register {url} staff add lp@oak.sch.uk --name Lp --school oak"))
        assert "lp@oak.sch.uk" in ok(run(f"--register {url} staff list")).stdout
        assert "0 problem(s)" in ok(run(f"--register {url} verify")).stderr
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("DROP TABLE accountctl_register CASCADE")
    finally:
        cluster.admin_sql("DROP OWNED BY leastpriv; DROP ROLE leastpriv")


def test_the_docs_owner_setup_lets_init_create_its_tables(run, cluster, monkeypatch):
    sql = docs_sql("owner").replace("DATABASE trust", f"DATABASE {pgserver.DATABASE}")
    cluster.admin_sql("DROP SCHEMA IF EXISTS accountctl CASCADE; DROP ROLE IF EXISTS accountctl")
    try:
        cluster.admin_sql(sql.replace("choose-a-long-random-one", "owner-pw"))
        url = f"postgresql://accountctl:owner-pw@127.0.0.1:{cluster.port}/{pgserver.DATABASE}"
        ok(run(f"--register {url} init --trust Oak --email {CUSTODIAN} --name Ira"))
        ok(run(f"--register {url} school add oak --name Oak --domain oak.sch.uk"))
        tables = cluster.admin_sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'accountctl'", fetch=True
        )
        assert {t[0] for t in tables} == {"accountctl_register", "accountctl_archive", "accountctl_archive_segment"}
    finally:
        cluster.admin_sql("DROP SCHEMA IF EXISTS accountctl CASCADE; DROP OWNED BY accountctl; DROP ROLE accountctl")


# -- what the server sees -----------------------------------------------------------------------------
SECRETS_PASSWORD = "Tr0ub4dor&3-oak-facebook"


def test_no_table_holds_a_name_an_email_or_a_password(run, pg_oak, cluster, schema, small_archive, monkeypatch):
    ok(run(f"person grant {HEAD} --access register"))
    monkeypatch.setenv("ACCOUNTCTL_USER", CUSTODIAN)
    ok(
        run(
            "account request --school oak --platform facebook --handle OakPrimary "
            "--url https://www.facebook.com/OakPrimary --category faculty --email office@oak.sch.uk "
            "--owner t.one@oak.sch.uk --admin t.two@oak.sch.uk --aim 'News for parents' --audience Parents "
            "--promotion Newsletter --visibility open --pupils none"
        )
    )
    ok(run("cred set oak-facebook-oakprimary --username office.login@oak.sch.uk", input=SECRETS_PASSWORD + "\n"))
    ok(run("cred totp oak-facebook-oakprimary", input="JBSWY3DPEHPK3PXP\n"))
    for i in range(6):
        ok(run(f"staff add s{i}@oak.sch.uk --name 'Sasha Secretname{i}' --school oak"))
    assert store.read_header(pg_oak)[0].history_len > 0  # the archive is in the tables too
    needles = [
        "Ira Tech",
        "Hana Head",
        "Tom One",
        "Tia Two",
        "Sasha Secretname",
        "Oak Trust",
        "Oak Primary",
        CUSTODIAN,
        HEAD,
        "t.one@oak.sch.uk",
        "office@oak.sch.uk",
        "office.login@oak.sch.uk",
        "oak.sch.uk",
        "OakPrimary",
        "News for parents",
        SECRETS_PASSWORD,
        "JBSWY3DPEHPK3PXP",
    ]
    tables = [
        r[0]
        for r in row(
            cluster, schema, f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{schema}'"
        )
    ]
    assert len(tables) == 3
    blobs = []
    for table in tables:
        for values in row(cluster, schema, f"SELECT * FROM {table}"):
            for value in values:
                blobs.append(bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode())
    blobs.append(cluster.tool("pg_dump", "-n", schema, pgserver.DATABASE))  # and a plain-text backup of it
    haystack = b"\n".join(blobs)
    assert stored(cluster, schema)[1] in haystack  # the scan sees what the tables hold: it can find things
    for needle in needles:
        for form in {needle, needle.lower()}:
            for encoded in (form.encode("utf-8"), form.encode("utf-16-le"), form.encode().hex().encode()):
                assert encoded not in haystack, f"{form!r} is readable in the tables"


def test_a_dba_serving_another_register_under_the_same_url_is_refused(
    run, pg_oak, cluster, schema, monkeypatch, tmp_path
):
    """The DBA copies the rows of another register the custodian also holds a slot in (a test trust, say) over
    this one's: the same URL, another register. A machine that knew the URL refuses it, naming both."""
    ok(run("staff list"))
    mine = stored(cluster, schema)
    other_schema = f"reg{next(_schemas)}"
    cluster.admin_sql(f"CREATE SCHEMA {other_schema} AUTHORIZATION {pgserver.APP}")
    try:
        monkeypatch.setenv("ACCOUNTCTL_REGISTER", app_url(cluster, other_schema))
        ok(run(f'init --trust "Test Trust" --email {CUSTODIAN} --name "Ira Tech"'))
        theirs = row(cluster, other_schema, "SELECT header FROM accountctl_register")[0][0]
        monkeypatch.setenv("ACCOUNTCTL_REGISTER", pg_oak)
        cluster.admin_sql(
            f"DELETE FROM {schema}.accountctl_register; "
            f"INSERT INTO {schema}.accountctl_register SELECT * FROM {other_schema}.accountctl_register"
        )
        from accountctl.store import fileformat as ff

        line = error_line(run("staff list"), 4, "register replaced")
        assert ff.parse_header(mine[1])[0].file_id.hex()[:8] in line
        assert ff.parse_header(bytes(theirs))[0].file_id.hex()[:8] in line
    finally:
        cluster.admin_sql(f"DROP SCHEMA {other_schema} CASCADE")


def test_a_driver_message_becomes_one_line_without_its_labels():
    from accountctl.store.pgstore import _one_line

    error = psycopg.Error(
        'ERROR:  relation "accountctl_register" does not exist.\nLINE 1: SELECT body FROM accountctl_register\n'
    )
    assert (
        _one_line(error)
        == 'relation "accountctl_register" does not exist. LINE 1: SELECT body FROM accountctl_register'
    )
    gone = psycopg.OperationalError('connection failed: FATAL:  database "trust" does not exist\n')
    assert _one_line(gone) == 'database "trust" does not exist'


def test_a_server_that_refuses_the_archive_is_named_in_one_line(run, pg_oak, cluster, schema, small_archive):
    for i in range(6):
        ok(run(f"staff add a{i}@oak.sch.uk --name A{i} --school oak"))
    cluster.admin_sql(f"REVOKE SELECT ON {schema}.accountctl_archive_segment FROM {pgserver.APP}")
    error_line(run("log"), 2, "PostgreSQL refused reading the register at")  # the archive comes with the body
    error_line(run("staff add late@oak.sch.uk --name Late --school oak"), 2, "refused reading the history archive")


@pytest.mark.parametrize(
    "url, environ, expected",
    [
        ("postgresql://app@db.example/trust", {}, {"connect_timeout": 10, "application_name": "accountctl"}),
        ("postgresql://app@db.example/trust?connect_timeout=3&application_name=mine", {}, {}),
        ("postgresql://app@db.example/trust", {"PGCONNECT_TIMEOUT": "4", "PGAPPNAME": "cron"}, {}),
    ],
)
def test_a_connection_waits_ten_seconds_and_names_itself_unless_told_otherwise(monkeypatch, url, environ, expected):
    from accountctl.store.pgstore import PgStore

    for name in ("PGCONNECT_TIMEOUT", "PGAPPNAME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    calls = []
    monkeypatch.setattr(psycopg, "connect", lambda url, **options: calls.append(options) or object())
    PgStore(url)._connection()
    assert calls == [{"autocommit": True, **expected}]


def test_a_connection_lost_at_the_commit_says_the_outcome_is_unknown(cluster, schema, monkeypatch):
    """Every save and reveal commits through `PgStore.commit`: a COMMIT that fails leaves it unknown whether
    the change was made, and the error says so (exit 2), not that nothing was saved."""
    from accountctl.errors import InputError
    from accountctl.store.pgstore import PgStore

    monkeypatch.setenv("PGPASSWORD", pgserver.APP_PASSWORD)
    pg = PgStore(app_url(cluster, schema))
    real = pg._connection()

    class Lost:
        def execute(self, sql, *args):
            if sql == "COMMIT":
                raise psycopg.OperationalError("server closed the connection unexpectedly")
            return real.execute(sql, *args)

    monkeypatch.setattr(pg, "_connection", lambda: Lost())
    with pytest.raises(InputError, match="may or may not have been saved") as raised:
        pg.commit("saving the register", lambda conn: conn.execute("SELECT 1"))
    assert raised.value.exit_code == 2 and pg._conn is None and not pg._locked
