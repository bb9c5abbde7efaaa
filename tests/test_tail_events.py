"""`chain.append_signed`: what a tail record's events must be before they join the history (a plain function)."""

from __future__ import annotations

import json

import pytest

from accountctl import chain
from accountctl.core import events
from accountctl import crypto
from accountctl.store import db as dbmod, trust

FILE = bytes(range(16))
IT, IT2 = "it@oak.sch.uk", "it2@oak.sch.uk"
PRIVATE, PUBLIC = crypto.ed25519_keypair()


class Members:
    """Who held which key: here IT holds PUBLIC for every event."""

    def keys_of(self, email, seq):
        return [PUBLIC] if email == IT else []


def _items(*actors: str, details=None) -> list[dict]:
    """Events as a tail record carries them: recorded in a scratch history, the last one signed."""
    scratch = dbmod.new_database()
    items = [
        events.record(scratch, who, "cred.show", "acct", account="acct", details=details or {"reason": "r"})
        for who in actors
    ]
    items[-1]["signature"] = trust.sign_event(FILE, items[-1]["hash"], PRIVATE).hex()
    return items


def _append(items):
    conn = dbmod.new_database()
    chain.append_signed(conn, items, Members(), FILE, crypto.verify_signature)
    return conn


def test_signed_events_join_the_history_as_they_were():
    conn = _append(_items(IT, IT, details={"reason": "r", "fields": ["password"]}))
    rows = conn.execute("SELECT seq, actor, details, signature IS NOT NULL FROM events ORDER BY seq").fetchall()
    assert [tuple(r) for r in rows] == [
        (1, IT, '{"fields": ["password"], "reason": "r"}', 0),
        (2, IT, '{"fields": ["password"], "reason": "r"}', 1),
    ]
    assert events.head(conn) == (2, rows and conn.execute("SELECT hash FROM events WHERE seq = 2").fetchone()[0])
    assert events.verify_chain(conn) == []


def _refused(items, message):
    with pytest.raises(ValueError) as caught:
        _append(items)
    assert str(caught.value) == message


def test_events_of_two_people_in_one_record():
    _refused(_items(IT, IT2), "events of more than one person")


def test_a_gap_in_the_numbers():
    items = _items(IT, IT)
    items[1]["seq"] = 3
    _refused(items, "event 3 does not follow event 1")


def test_the_wrong_event_before():
    items = _items(IT)
    items[0]["prev_hash"] = "f" * 64
    _refused(items, "event 1 does not follow event 0")


def test_changed_details():
    items = _items(IT)
    items[0]["details"] = {"reason": "another"}
    _refused(items, "event 1 does not match its hash")


def test_details_that_are_not_an_object_even_with_their_hash():
    items = _items(IT)
    items[0]["details"] = ["reason"]
    items[0]["hash"] = events.event_hash(items[0], items[0]["prev_hash"])
    items[0]["signature"] = trust.sign_event(FILE, items[0]["hash"], PRIVATE).hex()
    _refused(items, "event 1 does not match its hash")


def test_a_signature_by_a_key_the_actor_never_held():
    other, _ = crypto.ed25519_keypair()
    items = _items(IT)
    items[0]["signature"] = trust.sign_event(FILE, items[0]["hash"], other).hex()
    _refused(items, f"event 1 names {IT} but is not signed with a key {IT} held at the time")


def test_a_signature_for_another_register():
    items = _items(IT)
    items[0]["signature"] = trust.sign_event(bytes(16), items[0]["hash"], PRIVATE).hex()
    _refused(items, f"event 1 names {IT} but is not signed with a key {IT} held at the time")


def test_nothing_is_added_when_a_record_is_refused():
    conn = dbmod.new_database()
    items = _items(IT, IT)
    items[1]["details"] = {"reason": "changed"}
    with pytest.raises(ValueError):
        chain.append_signed(conn, items, Members(), FILE, crypto.verify_signature)
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 0 and events.head(conn)[0] == 0


def test_details_are_stored_with_sorted_keys_as_record_stores_them():
    items = _items(IT, details={"reason": "r", "fields": []})
    items[0]["details"] = dict(reversed(list(items[0]["details"].items())))
    conn = _append(items)
    assert json.loads(conn.execute("SELECT details FROM events").fetchone()[0]) == {"fields": [], "reason": "r"}
    assert conn.execute("SELECT details FROM events").fetchone()[0] == '{"fields": [], "reason": "r"}'
