"""Format 5 in PostgreSQL through the commands: `vault upgrade` there, then every command (file-format.md F8).

A format-4 demo register is copied into a fresh schema (`vault copy`), upgraded, and used by a
headteacher and the custodian; a one-account save writes only the rows of what changed.
"""

from __future__ import annotations

import json
import sys

import pytest

psycopg = pytest.importorskip("psycopg", reason="the PostgreSQL driver is not installed: pip install '.[postgres]'")
import pgserver  # noqa: E402
from conftest import demo_format_4, error_line, ok  # noqa: E402
from test_pgstore import app_url, schema  # noqa: E402,F401 (the fixture)

from accountctl.core import demo  # noqa: E402

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses a local PostgreSQL cluster")
CUSTODIAN, OAK_HEAD, BROOK_HEAD = demo.CUSTODIAN, demo.HEADS["oakfield"], demo.HEADS["brookside"]
BROOK_ACCOUNT = "brookside-x-brooksidehead"


@pytest.fixture
def pg5(run, cluster, schema, tmp_path, monkeypatch):
    url = app_url(cluster, schema)
    monkeypatch.setenv("PGPASSWORD", pgserver.APP_PASSWORD)
    monkeypatch.setenv("ACCOUNTCTL_PASSPHRASE", demo.PASSPHRASE)
    four = demo_format_4(tmp_path / "d")
    ok(run(["--register", str(four), "--as", CUSTODIAN, "vault", "copy", "--to", url]))
    monkeypatch.setenv("ACCOUNTCTL_REGISTER", url)
    return url, cluster, schema


def rows(cluster, schema: str, sql: str) -> list:
    with psycopg.connect(cluster.url() + f"?options=-csearch_path%3D{schema}", autocommit=True) as conn:
        cur = conn.execute(sql)
        return cur.fetchall() if cur.description else []


def test_a_register_in_postgresql_upgrades_and_each_school_sees_its_own(run, pg5):
    url, cluster, schema = pg5
    ok(run(["--as", CUSTODIAN, "vault", "upgrade", "--yes"]))
    assert json.loads(ok(run(["vault", "status", "--json"])).stdout)["format_version"] == 5
    assert rows(cluster, schema, "SELECT count(*) FROM accountctl_register") == [(0,)]  # no format-4 copy left
    listed = ok(run(["--as", BROOK_HEAD, "incident", "list", "--json"]))
    assert json.loads(listed.stdout) == [] and "Showing Brookside Academy only" in listed.stderr
    assert json.loads(ok(run(["--as", OAK_HEAD, "incident", "list", "--json"])).stdout)
    ok(run(["--as", BROOK_HEAD, "review", "brookside-facebook-brooksideacademy"]))
    ok(run(["--as", CUSTODIAN, "cred", "set", BROOK_ACCOUNT], input="A-Long-Password-In-Postgres-1!\n"))
    shown = ok(run(["--as", CUSTODIAN, "cred", "show", BROOK_ACCOUNT, "--field", "password", "--reason", "t"]))
    assert shown.stdout == "A-Long-Password-In-Postgres-1!\n"
    for who in (CUSTODIAN, OAK_HEAD, BROOK_HEAD):
        assert json.loads(ok(run(["--as", who, "verify", "--json"])).stdout)["ok"], who
    error_line(run(["--as", BROOK_HEAD, "audit", "--school", "oakfield"]), 3, "oakfield")


def test_a_one_account_save_writes_only_the_rows_that_changed(run, pg5):
    url, cluster, schema = pg5
    ok(run(["--as", CUSTODIAN, "vault", "upgrade", "--yes"]))
    before = dict(rows(cluster, schema, "SELECT id, version FROM accountctl5_segment"))
    ok(run(["--as", CUSTODIAN, "monitor", BROOK_ACCOUNT]))
    after = dict(rows(cluster, schema, "SELECT id, version FROM accountctl5_segment"))
    changed = [i for i in after if before.get(i) != after[i]]
    assert set(after) == set(before) and 1 <= len(changed) <= 3, changed  # the school's records and the journal
    assert len(after) > 8


def test_a_machine_that_saw_format_5_in_postgresql_refuses_format_4_put_back(run, pg5):
    """The DBA (or a custodian who kept a dump) puts format 4's rows back, which every key holder could read."""
    url, cluster, schema = pg5
    for table in ("accountctl_register", "accountctl_archive", "accountctl_archive_segment"):
        rows(cluster, schema, f"CREATE TABLE kept_{table} AS SELECT * FROM {table}")
    ok(run(["--as", CUSTODIAN, "vault", "upgrade", "--yes"]))
    ok(run(["--as", OAK_HEAD, "account", "list"]))
    rows(cluster, schema, "DELETE FROM accountctl5_register")
    for table in ("accountctl_archive", "accountctl_archive_segment", "accountctl_register"):
        rows(cluster, schema, f"INSERT INTO {table} SELECT * FROM kept_{table}")
    error_line(run(["--as", OAK_HEAD, "account", "list"]), 4, "format 4", "format 5")


def test_a_reveal_appends_one_row_and_no_save(run, pg5):
    url, cluster, schema = pg5
    ok(run(["--as", CUSTODIAN, "vault", "upgrade", "--yes"]))
    ok(run(["--as", CUSTODIAN, "cred", "set", BROOK_ACCOUNT], input="Revealed-In-Postgres-Number-9!\n"))
    generation = rows(cluster, schema, "SELECT generation FROM accountctl5_register")
    shown = ok(run(["--as", CUSTODIAN, "cred", "show", BROOK_ACCOUNT, "--field", "password", "--reason", "r"]))
    assert shown.stdout == "Revealed-In-Postgres-Number-9!\n"
    assert rows(cluster, schema, "SELECT generation FROM accountctl5_register") == generation
    tail = rows(cluster, schema, "SELECT k, length(bytes) FROM accountctl5_tail")
    assert len(tail) == 1 and tail[0][1] < 4096
    ok(run(["--as", OAK_HEAD, "review", "oakfield-facebook-oakfieldprimary"]))
    assert rows(cluster, schema, "SELECT count(*) FROM accountctl5_tail") == [(0,)]  # folded or carried by that save
    for who in (CUSTODIAN, OAK_HEAD, BROOK_HEAD):
        assert json.loads(ok(run(["--as", who, "verify", "--json"])).stdout)["ok"], who


def test_vault_copy_moves_a_format_5_register_between_a_file_and_postgresql(run, pg5, tmp_path, monkeypatch):
    url, cluster, schema = pg5
    ok(run(["--as", CUSTODIAN, "vault", "upgrade", "--yes"]))
    ok(run(["--as", CUSTODIAN, "cred", "show", BROOK_ACCOUNT, "--field", "password", "--reason", "r"]))  # a tail row
    out = tmp_path / "out" / "from-pg.accountctl"
    ok(run(["--as", CUSTODIAN, "vault", "copy", "--to", str(out)]))
    status = json.loads(ok(run(["--register", str(out), "vault", "status", "--json"])).stdout)
    assert status["format_version"] == 5
    cluster.admin_sql(f"CREATE SCHEMA {schema}b AUTHORIZATION {pgserver.APP}")
    back = app_url(cluster, f"{schema}b")
    ok(run(["--register", str(out), "--as", CUSTODIAN, "vault", "copy", "--to", back]))
    for who in (CUSTODIAN, BROOK_HEAD):
        assert json.loads(ok(run(["--register", back, "--as", who, "verify", "--json"])).stdout)["ok"], who
    assert rows(cluster, f"{schema}b", "SELECT count(*) FROM accountctl5_tail") == [(1,)]
    cluster.admin_sql(f"DROP SCHEMA {schema}b CASCADE")


def test_vault_recover_in_postgresql_gives_new_keys_and_keeps_the_school(run, cluster, schema, monkeypatch):
    from test_format5_cli import build_recoverable

    monkeypatch.setenv("PGPASSWORD", pgserver.APP_PASSWORD)
    monkeypatch.setenv("ACCOUNTCTL_REGISTER", app_url(cluster, schema))
    key = build_recoverable(run, monkeypatch)
    new = "a brand new passphrase 2026"
    monkeypatch.setenv("ACCOUNTCTL_RECOVERY_KEY", key)
    ok(run(["vault", "recover", "h@elm.sch.uk"], env={"ACCOUNTCTL_NEW_PASSPHRASE": new}))
    monkeypatch.delenv("ACCOUNTCTL_RECOVERY_KEY")
    error_line(run(["--as", "h@elm.sch.uk", "staff", "list"]), 3, "wrong passphrase")
    shown = ok(run(["--as", "h@elm.sch.uk", "staff", "list", "--json"], env={"ACCOUNTCTL_PASSPHRASE": new}))
    assert {s["email"] for s in json.loads(shown.stdout)} == {"h@elm.sch.uk", "e@elm.sch.uk"}
    assert json.loads(ok(run(["--as", "it@two.org.uk", "verify", "--json"])).stdout)["ok"]


def test_verify_by_a_head_finds_a_row_the_dba_altered_in_a_school_they_cannot_read(run, pg5):
    """The DBA flips a byte of Oakfield's records row: Brookside's head never fetches it, but their
    `verify` checks every segment row against the signed index, one row at a time."""
    from accountctl.store import segments as sg
    from accountctl.store.register import open_register

    url, cluster, schema = pg5
    ok(run(["--as", CUSTODIAN, "vault", "upgrade", "--yes"]))
    with open_register(url, actor=CUSTODIAN, passphrase_source=lambda: demo.PASSPHRASE, use_keyring=False) as reg:
        oak = bytes.fromhex(reg.membership.school_scopes["oakfield"])
        entry = next(e for e in reg.opened.index.segments if e.kind == sg.SCHOOL_RECORDS and e.scope == oak)
    with psycopg.connect(cluster.url() + f"?options=-csearch_path%3D{schema}", autocommit=True) as conn:
        conn.execute(
            "UPDATE accountctl5_segment SET bytes = set_byte(bytes, 200, get_byte(bytes, 200) # 1) "
            "WHERE id = %s AND version = %s",
            (entry.seg_id, entry.version),
        )
    ok(run(["--as", BROOK_HEAD, "account", "list"]))  # what they read is whole
    result = run(["--as", BROOK_HEAD, "verify", "--json"])
    assert result.exit_code == 1
    assert [p for p in json.loads(result.stdout)["problems"] if "is not the one the index names" in p]
    error_line(run(["--as", CUSTODIAN, "account", "list"]), 4)
