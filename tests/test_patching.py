"""A changed school's segment patched with the rows that changed equals one rebuilt whole (store/patching.py)."""

from __future__ import annotations

import sqlite3

from hypothesis import HealthCheck, example, given, settings, strategies as st
from test_format5 import BROOK, OAK, first, open_as, trust  # noqa: F401 (the fixture)

from accountctl import chain
from accountctl.store import format5, patching, segments as sg, split

CHANGES = ["review", "drop_people", "waive", "unwaive", "password", "staff", "step", "move", "new_account"]


def _rows(data: bytes, tables) -> dict:
    conn = sqlite3.connect(":memory:")
    conn.deserialize(data)
    have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return {t: sorted(map(tuple, conn.execute(f"SELECT * FROM {t}")), key=repr) for t in tables if t in have}


def _change(conn, what: str, n: int) -> None:
    accounts = [r[0] for r in conn.execute("SELECT id FROM accounts WHERE school IN (?, ?) ORDER BY id", (OAK, BROOK))]
    account = accounts[n % len(accounts)]
    if what == "review":
        conn.execute("UPDATE accounts SET reviewed_on = ? WHERE id = ?", (f"2026-12-{n % 28 + 1:02}", account))
    elif what == "drop_people":
        conn.execute("DELETE FROM account_people WHERE account = ?", (account,))
    elif what == "waive":
        conn.execute(
            "INSERT INTO waivers (account, rule, reason, until, waived_by, at) VALUES (?, 'R', 'r', 'u', 'w', 'a')",
            (account,),
        )
    elif what == "unwaive":
        conn.execute("DELETE FROM waivers WHERE id = (SELECT max(id) FROM waivers)")
    elif what == "password":
        conn.execute(
            "INSERT INTO credentials (account, password) VALUES (?, ?) "
            "ON CONFLICT (account) DO UPDATE SET password = excluded.password",
            (account, f"secret {n}".encode()),
        )
    elif what == "staff":
        conn.execute(
            "UPDATE staff SET trained_on = ? WHERE school = ? AND rowid = (SELECT min(rowid) FROM staff WHERE school = ?)",
            (f"2026-0{n % 9 + 1}-01", OAK, OAK),
        )
    elif what == "step":
        incident = conn.execute("SELECT id FROM incidents ORDER BY id LIMIT 1").fetchone()
        if incident:
            conn.execute(
                "INSERT OR REPLACE INTO incident_steps (incident, step, done_at, done_by) VALUES (?, ?, 'a', 'b')",
                (incident[0], f"step-{n % 3}"),
            )
    elif what == "move":
        school = conn.execute("SELECT school FROM accounts WHERE id = ?", (account,)).fetchone()[0]
        conn.execute("UPDATE accounts SET school = ? WHERE id = ?", (BROOK if school == OAK else OAK, account))
    else:
        conn.execute(
            "INSERT OR IGNORE INTO accounts (id, school, platform, handle, category, status, requested_at) "
            "VALUES (?, ?, 'x', ?, 'school', 'requested', '2026')",
            (f"{OAK}-x-new{n}", OAK, f"new{n}"),
        )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(CHANGES), st.integers(0, 60)), min_size=1, max_size=6))
@example([("password", 3)])
@example([("review", 1), ("password", 2)])  # a table before `credentials` among the changed rows
@example([("drop_people", 5), ("waive", 2), ("password", 7), ("step", 1)])
def test_patching_the_changed_rows_equals_rebuilding_the_school(trust, changes):
    image = first_image(trust)
    opened = open_as(trust, trust.custodian, image.data)
    conn = opened.conn
    for what, n in changes:
        _change(conn, what, n)
    state = opened.membership
    whole = patching.whole(conn)
    for school in split.dirty(conn) - {split.TRUST}:
        scope = bytes.fromhex(state.school_scopes[school])
        rebuilt = split.extract(conn, school)
        if school in whole:
            assert any(what == "move" for what, _ in changes)
            continue
        patched = patching.patch(conn, school, *opened.plain[scope])
        assert _rows(patched[0], split.ROUTES) == _rows(rebuilt[0], split.ROUTES), school
        vault = [f"vault_{t}" for t in split.VAULT_COLUMNS]
        assert _rows(patched[1], vault) == _rows(rebuilt[1], vault), school


_IMAGE: list = []


def first_image(trust):
    if not _IMAGE:
        _IMAGE.append(first(trust))
    return _IMAGE[0]


def test_a_save_with_the_opened_segments_writes_what_a_whole_rebuild_writes(trust):
    image = first_image(trust)
    opened = open_as(trust, trust.custodian, image.data)
    conn = opened.conn
    account = conn.execute("SELECT id FROM accounts WHERE school = ? ORDER BY id", (BROOK,)).fetchone()[0]
    conn.execute("UPDATE accounts SET reviewed_on = '2026-12-09' WHERE id = ?", (account,))
    event = chain.record(conn, trust.custodian, "account.review", account=account)
    slot, _x, signing = trust.private[trust.custodian]
    scope = bytes.fromhex(opened.membership.school_scopes[BROOK])
    later = format5.save(
        conn, trust.slots, slot, signing, [(event, [scope])], previous=image, dirty=split.dirty(conn), base=opened.plain
    )
    again = open_as(trust, trust.custodian, later.data)  # checks every record against its event, too
    assert again.conn.execute("SELECT count(*) FROM accounts WHERE reviewed_on = '2026-12-09'").fetchone()[0] == 1
    assert open_as(trust, trust.custodian, later.data).schools >= {OAK, BROOK}
    assert {sg.KIND_NAMES[e.kind] for e in later.index.segments if e.version == later.header.generation} == {
        "school records",
        "school credentials",
        "trust journal",
    }
