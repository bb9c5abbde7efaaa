"""Format 5 in PostgreSQL (store/pg5.py): one row per segment, written once, read by need (F8, F9).

On a real server the suite starts itself (tests/pgserver.py), with the demo trust of test_format5.
"""

from __future__ import annotations

import sys
from itertools import count

import pytest

psycopg = pytest.importorskip("psycopg", reason="the PostgreSQL driver is not installed: pip install '.[postgres]'")
import pgserver  # noqa: E402
from test_format5 import BROOK, OAK, _scope, first, heads, second, trust  # noqa: E402,F401 (the fixture)

from accountctl.errors import BusyError  # noqa: E402
from accountctl.store import opening5, pg5, segments as sg  # noqa: E402

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses a local PostgreSQL cluster")
_schemas = count(1)


@pytest.fixture
def db(cluster):
    name = f"f5_{next(_schemas)}"
    cluster.admin_sql(f"CREATE SCHEMA {name} AUTHORIZATION {pgserver.APP}")
    url = f"{cluster.url()}?options=-csearch_path%3D{name}"
    with psycopg.connect(url, autocommit=True) as conn:
        pg5.create_schema(conn)
        yield conn
    cluster.admin_sql(f"DROP SCHEMA {name} CASCADE")


def _open(conn, trust, email: str, asked: list | None = None) -> opening5.Opened:
    header, index, _ = pg5.read_index(conn)
    fetch = pg5.fetcher(conn)

    def recording(entry):
        if asked is not None:
            asked.append(entry)
        return fetch(entry)

    slot, x_private, _ = trust.private[email]
    return opening5.open_parts(header, index, recording, slot.slot_id, x_private)


def test_a_register_in_postgresql_opens_as_its_file_does(db, trust):
    image = first(trust)
    sent = pg5.save(db, image.pieces, image.index, None)
    assert sent == sum(e.length for e in image.index.segments)
    from_db = _open(db, trust, trust.custodian)
    from_file = opening5.open_image(
        image.data, trust.private[trust.custodian][0].slot_id, trust.private[trust.custodian][1]
    )
    for table in ("accounts", "staff", "incidents", "credentials"):
        assert sorted(map(tuple, from_db.conn.execute(f"SELECT * FROM {table}")), key=repr) == sorted(
            map(tuple, from_file.conn.execute(f"SELECT * FROM {table}")), key=repr
        )


def test_a_one_account_save_sends_only_what_changed_and_keeps_one_version(db, trust):
    image = first(trust)
    pg5.save(db, image.pieces, image.index, None)
    later, _ = second(trust, image, BROOK)
    sent = pg5.save(db, later.pieces, later.index, image.header.generation)
    before = {e.seg_id: e for e in image.index.segments}
    changed = [e for e in later.index.segments if before.get(e.seg_id) != e]
    assert {sg.KIND_NAMES[e.kind] for e in changed} == {"school records", "school credentials", "trust journal"}
    assert sent == sum(e.length for e in changed) < sum(e.length for e in later.index.segments) / 3
    rows = db.execute("SELECT count(*), count(DISTINCT id) FROM accountctl5_segment").fetchone()
    assert rows == (len(later.index.segments), len(later.index.segments))  # the old versions are gone
    assert (
        _open(db, trust, heads()[BROOK])
        .conn.execute("SELECT count(*) FROM accounts WHERE reviewed_on = '2026-12-07'")
        .fetchone()[0]
        == 1
    )


def test_a_head_fetches_the_trust_and_their_school_only(db, trust):
    image = first(trust)
    pg5.save(db, image.pieces, image.index, None)
    asked: list = []
    _open(db, trust, heads()[OAK], asked)
    oak = bytes.fromhex(_scope(trust, OAK))
    assert {(e.kind, e.scope) for e in asked} == {
        (sg.TRUST_RECORDS, sg.TRUST),
        (sg.TRUST_JOURNAL, sg.TRUST),
        (sg.SCHOOL_RECORDS, oak),
    }


def test_a_save_on_top_of_a_generation_someone_else_replaced_is_refused(db, trust):
    image = first(trust)
    pg5.save(db, image.pieces, image.index, None)
    later, _ = second(trust, image, BROOK)
    pg5.save(db, later.pieces, later.index, image.header.generation)
    stale, _ = second(trust, image, OAK)  # made from generation 1 too
    with pytest.raises(BusyError, match="register busy"):
        pg5.save(db, stale.pieces, stale.index, image.header.generation)
    assert pg5.read_index(db)[2] == later.header.generation
    assert (
        _open(db, trust, trust.custodian)
        .conn.execute("SELECT count(*) FROM accounts WHERE reviewed_on = '2026-12-07'")
        .fetchone()[0]
        == 1
    )  # Brookside's change, not the refused Oakfield one


def test_a_reveal_joins_only_the_generation_it_read_and_one_per_place(db, trust):
    image = first(trust)
    pg5.save(db, image.pieces, image.index, None)
    assert pg5.reveal(db, 1, 0, b"record one")
    with pytest.raises(psycopg.errors.UniqueViolation):
        pg5.reveal(db, 1, 0, b"a second record at the same place")
    later, _ = second(trust, image, BROOK)
    pg5.save(db, later.pieces, later.index, 1)
    assert not pg5.reveal(db, 1, 1, b"too late: generation 2 is saved")
    assert db.execute("SELECT count(*) FROM accountctl5_tail").fetchone()[0] == 0  # folded away by the save
