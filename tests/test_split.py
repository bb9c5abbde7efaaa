"""Format 5's split of the body by school and its merge back (store/split.py), on the demo's real trust.

The attack: a school's head, whose open loaded only their school, writes rows for the other school
through the database the core uses. The guard refuses it; without the guard the row would have
been saved under a segment their key opens, where that school's readers would never see it.
"""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from accountctl.errors import AccessError, DamagedError
from accountctl.store import db, split
from conftest import demo_format_4

_BODY: list[bytes] = []


@pytest.fixture
def body(run, tmp_path, monkeypatch) -> bytes:
    """The demo trust's body (two schools, incidents, credentials, a trust-wide DPIA), built once."""
    if not _BODY:
        from accountctl.core import demo
        from accountctl.store.register import open_register

        with open_register(
            demo_format_4(tmp_path / "demo"),
            actor=demo.CUSTODIAN,
            passphrase_source=lambda: demo.PASSPHRASE,
            use_keyring=False,
        ) as reg:
            _BODY.append(reg.db.serialize(name="main"))
    return _BODY[0]


def rows(conn: sqlite3.Connection) -> dict[str, list]:
    out = {}
    for table in split.tables(conn):
        if table in split.HISTORY_TABLES:
            continue
        out[table] = sorted(map(tuple, conn.execute(f"SELECT * FROM main.{table}").fetchall()), key=repr)
    return out


def whole(body: bytes) -> sqlite3.Connection:
    return db.deserialize(body)


def schools(conn) -> list[str]:
    return [r[0] for r in conn.execute("SELECT id FROM schools ORDER BY id")]


def two(conn) -> tuple[str, str]:
    """Two schools that have accounts (the demo also has a central team with none)."""
    first, second = [
        r[0] for r in conn.execute("SELECT school FROM accounts GROUP BY school ORDER BY count(*) DESC LIMIT 2")
    ]
    return first, second


def reopen(body: bytes, only: list[str] | None = None, vault: bool = True) -> sqlite3.Connection:
    """Split the body, then load the trust and the chosen schools as a format-5 open would."""
    source = whole(body)
    trust, _ = split.extract(source, split.TRUST)
    conn = split.load(trust)
    for school in only if only is not None else schools(source):
        records, secrets = split.extract(source, school)
        split.merge(conn, school, records, secrets if vault else None)
    return conn


def test_every_table_has_an_owner(body):
    split.check_routes(whole(body))


def test_splitting_every_school_and_merging_them_back_gives_the_body_row_for_row(body):
    conn = whole(body)
    assert split.schools_of_rows(conn) >= set(schools(conn))
    assert rows(reopen(body)) == rows(conn)
    assert conn.execute("SELECT count(*) FROM incidents").fetchone()[0] >= 2  # the demo's incidents came through


def test_a_heads_open_holds_their_school_and_nothing_of_the_other(body):
    conn = whole(body)
    first, second = two(conn)
    head = reopen(body, [first], vault=False)
    for table in split.ROUTES:
        for (school,) in head.execute(f"SELECT DISTINCT {split._route(table, 'r')} FROM main.{table} AS r"):
            assert school in (first, split.TRUST), (table, school)
    assert head.execute("SELECT count(*) FROM accounts WHERE school = ?", (second,)).fetchone()[0] == 0
    assert head.execute("SELECT count(*) FROM accounts").fetchone()[0] > 0
    assert head.execute("SELECT count(*) FROM schools").fetchone()[0] == len(schools(conn))  # the list is the trust's


def test_secrets_travel_only_in_the_credentials_segment(body):
    conn = whole(body)
    held = conn.execute("SELECT account, password FROM credentials WHERE password IS NOT NULL").fetchall()
    assert held
    school = conn.execute("SELECT school FROM accounts WHERE id = ?", (held[0][0],)).fetchone()[0]
    records, secrets = split.extract(conn, school)
    for _account, password in held:
        assert bytes(password) not in records
    assert any(bytes(p) in secrets for _a, p in held)
    slt = reopen(body, [school], vault=False)
    # SLT still see that a password is held (an empty blob), never what it is
    shown = dict(slt.execute("SELECT account, password FROM credentials").fetchall())
    for account, _password in held:
        if account in shown:
            assert shown[account] == b""
    custodian = reopen(body, [school])
    assert dict(custodian.execute("SELECT account, password FROM credentials").fetchall())[held[0][0]] == held[0][1]


def test_a_head_cannot_write_into_a_school_they_did_not_load(body):
    conn = whole(body)
    first, second = two(conn)
    other_account = conn.execute("SELECT id FROM accounts WHERE school = ?", (second,)).fetchone()[0]
    head = reopen(body, [first], vault=False)
    split.guard(head, {first})
    attempts = [
        (
            "INSERT INTO staff (email, name, school, roles, created_at) VALUES ('x@b.sch.uk', 'X', ?, '[]', '2026')",
            (second,),
        ),
        (
            "INSERT INTO accounts (id, school, platform, handle, category, status, requested_at) "
            "VALUES ('b-x', ?, 'x', 'h', 'school', 'active', '2026')",
            (second,),
        ),
        (
            "INSERT INTO account_people (account, email, role, added_at) VALUES (?, 'me@a.sch.uk', 'admin', '2026')",
            (other_account,),
        ),
        ("UPDATE staff SET school = ? WHERE rowid = (SELECT min(rowid) FROM staff)", (second,)),
        ("INSERT INTO dpias VALUES ('x', ?, 'r', '2026-01-01', 365, 'me', '2026')", (second,)),
    ]
    for sql, args in attempts:
        with pytest.raises(sqlite3.IntegrityError) as caught:
            head.execute(sql, args)
        assert isinstance(split.refusal(caught.value), AccessError)
    assert split.dirty(head) == set()
    # Their own school, and the trust's rows, they may write.
    head.execute("UPDATE accounts SET reviewed_on = '2026-12-01' WHERE school = ?", (first,))
    head.execute("INSERT INTO dpias VALUES ('x', '', 'r', '2026-01-01', 365, 'me', '2026')")
    assert split.dirty(head) == {first, split.TRUST}


def test_the_guard_is_what_stops_it(body):
    """Without the guard the same write lands, and the save would file it under the head's own key."""
    conn = whole(body)
    first, second = two(conn)
    head = reopen(body, [first], vault=False)
    head.execute(
        "INSERT INTO staff (email, name, school, roles, created_at) VALUES ('x@b.sch.uk', 'X', ?, '[]', '2026')",
        (second,),
    )
    assert head.execute("SELECT count(*) FROM staff WHERE school = ?", (second,)).fetchone()[0] == 1


def test_a_row_naming_an_account_the_head_cannot_see_is_refused_not_orphaned(body):
    conn = whole(body)
    first, _second = two(conn)
    head = reopen(body, [first], vault=False)
    split.guard(head, {first})
    with pytest.raises(sqlite3.IntegrityError, match="school not open"):
        head.execute(
            "INSERT INTO waivers (account, rule, reason, until, waived_by, at) VALUES ('nope', 'R', 'r', 'u', 'w', 'a')"
        )


def test_an_orphan_row_is_damage_when_splitting(body):
    conn = whole(body)
    conn.execute(
        "INSERT INTO waivers (account, rule, reason, until, waived_by, at) VALUES ('nope', 'R', 'r', 'u', 'w', 'a')"
    )
    with pytest.raises(DamagedError, match="belongs to no school"):
        split.schools_of_rows(conn)


def test_moving_an_account_marks_both_schools(body):
    conn = whole(body)
    first, second = two(conn)
    custodian = reopen(body)
    split.guard(custodian, {first, second})
    account = custodian.execute("SELECT id FROM accounts WHERE school = ?", (first,)).fetchone()[0]
    custodian.execute("UPDATE accounts SET school = ? WHERE id = ?", (second, account))
    assert split.dirty(custodian) == {first, second}
    # and the account's people, approvals and credentials now go with it
    records, _ = split.extract(custodian, second)
    moved = sqlite3.connect(":memory:")
    moved.deserialize(records)
    assert (
        moved.execute("SELECT count(*) FROM account_people WHERE account = ?", (account,)).fetchone()[0]
        == (conn.execute("SELECT count(*) FROM account_people WHERE account = ?", (account,)).fetchone()[0])
    )


def test_a_segment_that_is_not_a_database_is_damage(body):
    conn = split.load(split.extract(whole(body), split.TRUST)[0])
    with pytest.raises(DamagedError, match="does not load"):
        split.merge(conn, "oakfield", b"not a database at all" * 100)
    assert [r[1] for r in conn.execute("PRAGMA database_list")] == ["main"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.tuples(st.sampled_from(["review", "delete_people", "add_waiver", "trust"]), st.integers(0, 50)), max_size=6
    )
)
def test_dirty_lists_exactly_the_schools_whose_rows_changed(body, changes):
    custodian = reopen(body)
    every = set(schools(custodian))
    split.guard(custodian, every)
    before = {s: split.extract(custodian, s) for s in [split.TRUST, *sorted(every)]}
    accounts = custodian.execute("SELECT id, school FROM accounts ORDER BY id").fetchall()
    touched = set()
    for what, n in changes:
        account, school = accounts[n % len(accounts)]
        touched.add(split.TRUST if what == "trust" else school)
        if what == "review":
            custodian.execute("UPDATE accounts SET reviewed_on = '2026-12-0' || ? WHERE id = ?", (n % 9 + 1, account))
        elif what == "delete_people":
            custodian.execute("DELETE FROM account_people WHERE account = ?", (account,))
        elif what == "add_waiver":
            custodian.execute(
                "INSERT INTO waivers (account, rule, reason, until, waived_by, at) VALUES (?, 'R', 'r', 'u', 'w', 'a')",
                (account,),
            )
        else:
            custodian.execute("INSERT OR REPLACE INTO meta VALUES ('note', ?)", (str(n),))
    changed = {s for s in before if _rows_of(split.extract(custodian, s)[0]) != _rows_of(before[s][0])}
    # never a changed school missed; never a school marked that no change touched (one may be marked
    # and be equal: a value written again as it was)
    assert changed <= split.dirty(custodian) <= touched


def _rows_of(data: bytes) -> dict:
    conn = sqlite3.connect(":memory:")
    conn.deserialize(data)
    return rows(conn)


def test_a_new_table_must_say_whose_it_is(body):
    conn = whole(body)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    with pytest.raises(AssertionError, match="notes"):
        split.check_routes(conn)


def test_only_the_guards_refusal_is_an_access_error(body):
    conn = whole(body)
    account = conn.execute("SELECT id FROM accounts LIMIT 1").fetchone()[0]
    with pytest.raises(sqlite3.IntegrityError) as caught:
        conn.execute(
            "INSERT INTO accounts (id, school, platform, handle, category, status, requested_at) SELECT id, school, platform, handle, category, status, requested_at FROM accounts WHERE id = ?",
            (account,),
        )
    assert split.refusal(caught.value) is None
    assert split.refusal(ValueError(split.REFUSED)) is None


def test_changes_made_the_way_the_core_makes_them_are_noted_again_and_again(body):
    """The core's upserts (set_meta) and repeated changes to one school: found by the large-trust bench."""
    from accountctl.model import set_meta

    conn = whole(body)
    first, _second = two(conn)
    custodian = reopen(body)
    split.guard(custodian, set(schools(conn)))
    set_meta(custodian, "events_head", "1 x")  # the chain's head alone: the journal holds it in format 5
    assert split.dirty(custodian) == set()
    for n in range(3):
        set_meta(custodian, "policy.reviewed_on", f"2026-12-0{n + 1}")
        custodian.execute("UPDATE accounts SET reviewed_on = ? WHERE school = ?", (f"2026-12-0{n + 1}", first))
        custodian.execute(
            "INSERT INTO waivers (account, rule, reason, until, waived_by, at) "
            "SELECT id, 'R', 'r', 'u', 'w', 'a' FROM accounts WHERE school = ? LIMIT 1 "
            "ON CONFLICT DO NOTHING",
            (first,),
        )
    assert split.dirty(custodian) == {first, split.TRUST}


@pytest.mark.parametrize("batch", [1, 2, 9])
def test_merging_many_at_once_gives_the_same_rows_as_one_by_one(body, monkeypatch, batch):
    monkeypatch.setattr(split, "BATCH", batch)
    source = whole(body)
    trust, _ = split.extract(source, split.TRUST)
    parts = [(school, *split.extract(source, school)) for school in schools(source)]
    at_once = split.load(trust)
    split.merge_many(at_once, parts)
    assert rows(at_once) == rows(reopen(body)) == rows(source)
    indexes = "SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name"
    assert at_once.execute(indexes).fetchall() == source.execute(indexes).fetchall()  # built again after
    slt = split.load(trust)
    split.merge_many(slt, [(school, records, None) for school, records, _ in parts])
    assert rows(slt) == rows(reopen(body, vault=False))


def test_a_bad_segment_among_many_is_damage_and_leaves_nothing_attached(body):
    source = whole(body)
    trust, _ = split.extract(source, split.TRUST)
    parts = [(school, *split.extract(source, school)) for school in schools(source)]
    conn = split.load(trust)
    with pytest.raises(DamagedError, match="does not load"):
        split.merge_many(conn, [*parts, ("oakfield", b"garbage" * 200, None)])
    assert [r[1] for r in conn.execute("PRAGMA database_list")] == ["main"]


def test_an_event_belongs_to_its_account_or_staff_members_school_and_a_move_to_both(body):
    conn = whole(body)
    first, second = two(conn)
    account = conn.execute("SELECT id FROM accounts WHERE school = ?", (first,)).fetchone()[0]
    email = conn.execute("SELECT email FROM staff WHERE school = ?", (second,)).fetchone()[0]
    assert split.event_schools(conn, {"action": "account.review", "account": account}) == [first]
    assert split.event_schools(conn, {"action": "staff.train", "target": email}) == [second]
    assert split.event_schools(conn, {"action": "config.set", "target": "window.DORMANT"}) == [split.TRUST]
    move = {"action": "staff.move", "target": email, "details": {"from": second, "to": first, "on": "2026-12-07"}}
    assert split.event_schools(conn, move) == sorted([first, second])
    assert split.event_schools(conn, dict(move, details={"from": "gone", "to": "nowhere"})) == [second]
