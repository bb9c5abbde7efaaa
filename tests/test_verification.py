"""`core/verification.event_signatures` and `verify`, called directly over a table of events.

test_trust.py shows these checks catching insiders through the store; here each rule of the
signature walk gets the one input that only it refuses (the mutation audit, docs/mutation.md).
"""

from __future__ import annotations

import sqlite3

import pytest

from accountctl.core import verification
from accountctl import crypto
from accountctl.store import trust as records
from test_trust import trust  # noqa: F401

FILE = bytes(range(16))
ANN, BOB = "ann@oak.sch.uk", "bob@oak.sch.uk"
KEYS = {who: crypto.ed25519_keypair() for who in (ANN, BOB)}  # (private, public)


class Members:
    """The little of membership.Membership the walk asks: each person's key, valid from event 1."""

    def __init__(self, upgraded_at: int = 0):
        self.upgraded_at = upgraded_at

    def keys_of(self, email: str, seq: int) -> list[bytes]:
        return [KEYS[email][1]] if email in KEYS else []


def history(*rows) -> sqlite3.Connection:
    """rows: (actor, signed, at_real); each event gets a hash, and a signature when `signed` (True or a signer)."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE all_events(seq INTEGER, actor TEXT, hash TEXT, signature BLOB, at_real TEXT)")
    for seq, (actor, signed, at_real) in enumerate(rows, start=1):
        digest = f"{seq:064x}"
        signature = None
        if signed:
            signer = actor if signed is True else signed
            signature = records.sign_event(FILE, digest, KEYS[signer][0])
        conn.execute("INSERT INTO all_events VALUES (?, ?, ?, ?, ?)", (seq, actor, digest, signature, at_real))
    return conn


T = "2026-11-30T10:00:00Z"


def walk(conn, members=None):
    return verification.event_signatures(conn, members or Members(), FILE)


def test_a_run_of_one_persons_events_is_covered_by_its_last_signed_event():
    covered, problems = walk(history((ANN, False, T), (ANN, False, T), (ANN, True, T), (BOB, True, T)))
    assert problems == []
    assert covered == {1: KEYS[ANN][1], 2: KEYS[ANN][1], 3: KEYS[ANN][1], 4: KEYS[BOB][1]}


def test_a_run_cut_short_by_someone_else_is_unsigned():
    covered, problems = walk(history((ANN, False, T), (ANN, False, T), (BOB, True, T)))
    assert problems == [f"events 1 to 2 in the name of {ANN} are not signed by {ANN}"]
    assert covered == {3: KEYS[BOB][1]}


def test_one_unsigned_event_at_the_end_is_named_alone():
    _, problems = walk(history((ANN, True, T), (BOB, False, T)))
    assert problems == [f"event 2 in the name of {BOB} are not signed by {BOB}"]


def test_an_event_signed_by_someone_else_is_refused_and_the_walk_goes_on():
    _, problems = walk(history((ANN, BOB, T), (BOB, False, T), (BOB, True, T)))
    assert problems == [f"event 1 names {ANN} but is not signed with a key {ANN} held at the time"]


def test_an_unreadable_hash_is_reported_and_the_walk_goes_on():
    conn = history((ANN, True, T), (BOB, True, T), (ANN, False, T), (ANN, True, T))
    conn.execute("UPDATE all_events SET hash = 'not hex' WHERE seq = 1")
    covered, problems = walk(conn)
    assert problems == ["event 1 has an unreadable hash"]
    assert covered == {2: KEYS[BOB][1], 3: KEYS[ANN][1], 4: KEYS[ANN][1]}


def test_events_before_the_format_3_upgrade_need_no_signature():
    conn = history((ANN, False, T), (BOB, False, T), (ANN, False, T), (BOB, True, T))
    assert walk(conn, Members(upgraded_at=3))[1] == []
    assert walk(conn, Members(upgraded_at=2))[1] == [f"event 3 in the name of {ANN} are not signed by {ANN}"]


@pytest.mark.parametrize(
    "second, problem",
    [
        ("2026-11-29T10:00:00Z", None),  # exactly a day back: clocks differ, that is allowed
        ("2026-11-29T09:59:59Z", "event 2 was recorded at 2026-11-29T09:59:59Z, more than a day before"),
        ("2026-11-29T09:59:59+00:00", "event 2 was recorded at 2026-11-29T09:59:59+00:00, more than a day before"),
        ("yesterday", "event 2 has an unreadable real time 'yesterday'"),
    ],
)
def test_real_time_may_not_go_back_more_than_a_day(second, problem):
    _, problems = walk(history((ANN, True, T), (BOB, True, second)))
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problems[0].startswith(problem)
        if "more than a day" in problem:
            assert problems[0].endswith(": a clock went backwards, or events were made to look older")


def test_real_time_is_compared_with_the_latest_seen_not_the_last():
    rows = ((ANN, True, T), (BOB, True, "2026-11-29T12:00:00Z"), (ANN, True, "2026-11-29T09:00:00Z"))
    _, problems = walk(history(*rows))
    assert [p.split(" was ")[0] for p in problems] == ["event 3"]


def test_a_z_time_is_utc():
    assert verification._parse("2026-11-30T10:00:00Z").utcoffset().total_seconds() == 0
    assert verification._parse(None) is None


def test_verify_ends_with_the_last_saves_problems(trust):
    from accountctl.store.register import open_register
    from conftest import CUSTODIAN, PASSPHRASE

    with open_register(trust, actor=CUSTODIAN, passphrase_source=lambda: PASSPHRASE, history=True) as reg:
        assert verification.verify(reg.db, reg.membership, reg.file_id) == []
        assert verification.verify(reg.db, reg.membership, reg.file_id, ["the last save is not signed"]) == [
            "the last save is not signed"
        ]


# -- decisions and membership records against the events that made them -----------------------------------
def _opened(path):
    from accountctl.store.register import open_register
    from conftest import CUSTODIAN, PASSPHRASE

    return open_register(path, actor=CUSTODIAN, passphrase_source=lambda: PASSPHRASE, history=True)


def test_a_record_needs_its_own_kind_of_event_at_its_number(trust):
    with _opened(trust) as reg:
        grant = next(r for r in reg.membership.records if r["kind"] == "grant")
        assert verification._records_match_events(reg.db, reg.membership) == []
        reg.db.execute("UPDATE events SET action = 'staff.add' WHERE seq = ?", (grant["seq"],))
        assert verification._records_match_events(reg.db, reg.membership) == [
            f"the grant record by {grant['by']} has no matching event {grant['seq']}"
        ]


def test_every_decision_needs_the_signed_event_that_made_it(run, trust):
    from conftest import HEAD, ok
    from test_trust import _request

    first = _request(run)
    ok(run(f"--as {HEAD} approve {first}"))
    second = ok(
        run(
            "account request --school oak --platform instagram --handle oakpe --url https://instagram.com/oakpe "
            "--category faculty --email office@oak.sch.uk --owner t.one@oak.sch.uk --admin t.two@oak.sch.uk "
            "--aim News --audience Parents --promotion Newsletter --visibility open --pupils none"
        )
    ).stdout.strip()
    ok(run(f"--as {HEAD} approve {second}"))
    with _opened(trust) as reg:
        signed_by, _ = verification.event_signatures(reg.db, reg.membership, reg.file_id)
        assert verification._decisions_signed_in_time(reg.db, reg.membership, signed_by) == []
        reg.db.execute("UPDATE events SET details = '{}' WHERE action = 'account.approve'")
        assert verification._decisions_signed_in_time(reg.db, reg.membership, signed_by) == [
            f"decision 1 on {first} by {HEAD} has no signed event that made it",
            f"decision 2 on {second} by {HEAD} has no signed event that made it",
        ]
