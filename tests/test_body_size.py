"""The body holds no index that no query needs: an open holds the decrypted body twice, so each
megabyte of it is two at the peak of every command."""

from __future__ import annotations

import pytest

from accountctl.store import db as dbmod, fileformat as ff, register as store
from conftest import CUSTODIAN, PASSPHRASE, ok


def body(path) -> tuple[ff.Header, set[str], int]:
    """The header, the body's index names and its free pages, as the custodian decrypts them."""
    with store.open_register(path, actor=CUSTODIAN, passphrase_source=lambda: PASSPHRASE, use_keyring=False) as reg:
        names = {r[0] for r in reg.db.execute("SELECT name FROM main.sqlite_master WHERE type = 'index'")}
        (free,) = reg.db.execute("PRAGMA main.freelist_count").fetchone()
        return reg.header, names, free


def test_a_new_register_has_none_of_the_retired_indexes(oak):
    _, names, _ = body(oak)
    assert "account_people_current" in names  # what the reads by account use instead
    assert not names & set(dbmod.RETIRED_INDEXES)


OLDER = {"account_people_account", "accounts_school", "credentials_fp"}  # what builds before ec35ac3 wrote


def test_the_first_save_drops_the_retired_indexes_of_an_older_register_and_compacts_it(run, oak, monkeypatch):
    with monkeypatch.context() as older:  # a register as a build before this change saved it
        older.setattr(dbmod, "drop_retired_indexes", lambda conn: False)
        with store.open_register(
            oak, actor=CUSTODIAN, passphrase_source=lambda: PASSPHRASE, use_keyring=False, write=True
        ) as reg:
            reg.db.execute("CREATE INDEX account_people_account ON account_people(account)")
            reg.db.execute("CREATE INDEX accounts_school ON accounts(school, platform)")
            reg.db.execute("CREATE INDEX credentials_fp ON credentials(password_fp)")
            reg.db.execute("UPDATE meta SET value = value WHERE key = 'schema_version'")
    before, names, _ = body(oak)
    assert OLDER <= names
    monkeypatch.setenv("ACCOUNTCTL_USER", CUSTODIAN)
    ok(run('staff add new.teacher@oak.sch.uk --name "New Teacher" --school oak --role staff'))
    after, names, free = body(oak)
    assert not names & OLDER
    assert free == 0  # the indexes' pages left the file, not just the schema
    assert after.body_len < before.body_len
    assert dbmod.drop_retired_indexes(dbmod.new_database()) is False


@pytest.mark.parametrize(
    ("sql", "index"),
    [  # the reads each retired index used to serve, as core/ writes them
        ("SELECT email, role FROM account_people WHERE account = ? AND removed_at IS NULL ORDER BY email", "current"),
        ("SELECT email FROM account_people WHERE account = ? AND role = 'admin' AND removed_at IS NULL", "current"),
        ("SELECT id, handle FROM accounts WHERE school = ? AND platform = ?", "autoindex_accounts"),
        (
            "SELECT * FROM accounts WHERE school = ? AND status = 'active' AND category != 'service' "
            "ORDER BY platform, handle",
            "autoindex_accounts",
        ),
    ],
)
def test_the_reads_the_retired_indexes_served_still_search_an_index(sql, index):
    conn = dbmod.new_database()
    plan = " ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, ("x",) * sql.count("?")))
    assert plan.startswith("SEARCH") and index in plan, plan
