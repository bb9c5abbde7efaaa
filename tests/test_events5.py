"""Format 5's events in two layers (chain.py, file-format.md F6): a skeleton everyone checks, a body only its school reads.

Played as insiders: a head of one school who holds the trust's key (every skeleton) and their own
school's key, and rewrites what they can.
"""

from __future__ import annotations

import copy
import os

import pytest
from hypothesis import given, settings, strategies as st

from accountctl import chain, crypto

TRUST, OAK, BEECH = "00" * 16, "aa" * 16, "bb" * 16
FILE_ID = os.urandom(16)


def history(n: int = 6) -> tuple[list[dict], dict[str, dict[int, dict]], bytes]:
    """`n` events alternating between Oak and Beech, the last signed: skeletons, bodies by school, signing public key."""
    signing, public = crypto.ed25519_keypair()
    skeletons, bodies, prev = [], {OAK: {}, BEECH: {}, TRUST: {}}, chain.GENESIS
    for seq in range(1, n + 1):
        school = OAK if seq % 2 else BEECH
        event = {
            "seq": seq,
            "at": "2026-12-07T10:00:00+00:00",
            "actor": "it@trust.org.uk",
            "action": "incident.open",
            "target": None,
            "account": f"{'oak' if school == OAK else 'beech'}-facebook",
            "details": {"summary_sha256": "ab" * 32, "kind": "safeguarding"},
            "at_real": "2026-12-07T10:00:00+00:00",
        }
        skeleton, body = chain.split_event(event, [school], os.urandom(16).hex())
        skeleton["prev_hash"] = prev
        skeleton["hash"] = prev = chain.skeleton_hash(skeleton, prev)
        skeletons.append(skeleton)
        bodies[school][seq] = body
    skeletons[-1]["signature"] = crypto.sign(signing, chain.skeleton_message(FILE_ID, prev))
    return skeletons, bodies, public


def signed(skeletons: list[dict], public: bytes) -> bool:
    last = skeletons[-1]
    return crypto.verify_signature(public, last["signature"], chain.skeleton_message(FILE_ID, last["hash"]))


def test_everyone_checks_the_whole_chain_and_its_signature_without_reading_a_body():
    skeletons, _bodies, public = history()
    problems, last, following = chain.skeleton_problems(skeletons, chain.GENESIS, 1)
    assert problems == [] and last == skeletons[-1]["hash"] and following == len(skeletons) + 1
    assert signed(skeletons, public)
    for skeleton in skeletons:  # nothing of what happened is in a skeleton
        assert "safeguarding" not in str(skeleton) and "facebook" not in str(skeleton)


def test_each_school_checks_its_own_bodies_and_needs_no_other():
    skeletons, bodies, _ = history()
    assert chain.body_problems(skeletons, bodies[OAK], {TRUST, OAK}) == []
    assert chain.body_problems(skeletons, bodies[BEECH], {TRUST, BEECH}) == []


def test_a_head_who_drops_another_schools_record_is_caught_by_that_schools_readers():
    skeletons, bodies, _ = history()
    beech = dict(bodies[BEECH])
    beech.pop(4)
    assert chain.body_problems(skeletons, beech, {BEECH}) == ["event 4's record is missing from the school it names"]


def test_a_record_altered_after_it_was_written_is_caught():
    skeletons, bodies, _ = history()
    oak = copy.deepcopy(bodies[OAK])
    oak[3]["details"]["kind"] = "complaint"
    assert chain.body_problems(skeletons, oak, {OAK}) == ["event 3's record was altered after it was written"]
    oak = copy.deepcopy(bodies[OAK])
    oak[3]["seq"] = 5
    assert chain.body_problems(skeletons, oak, {OAK}) == ["event 3's record was altered after it was written"]
    oak = copy.deepcopy(bodies[OAK])
    oak[3] = "not a record"
    assert chain.body_problems(skeletons, oak, {OAK}) == ["event 3's record was altered after it was written"]


def test_a_record_slipped_into_a_school_that_no_event_names_is_caught():
    skeletons, bodies, _ = history()
    oak = dict(bodies[OAK])
    oak[2] = bodies[BEECH][2]  # Beech's record copied into Oak's segment
    assert chain.body_problems(skeletons, oak, {OAK}) == ["a record of event 2 is there but no event names it"]


def test_changing_a_skeleton_to_match_a_changed_record_breaks_the_chain():
    skeletons, bodies, public = history()
    forged = copy.deepcopy(skeletons)
    body = dict(bodies[OAK][3], details={"kind": "complaint"})
    forged[2]["body"] = chain.body_commitment(body)
    problems, _, _ = chain.skeleton_problems(forged, chain.GENESIS, 1)
    assert problems == ["event 3 was altered after it was written"]
    # and rehashing from there on needs a new signature, which only a key holder can give in their own name
    prev = forged[1]["hash"]
    for skeleton in forged[2:]:
        skeleton["prev_hash"] = prev
        skeleton["hash"] = prev = chain.skeleton_hash(skeleton, prev)
    assert chain.skeleton_problems(forged, chain.GENESIS, 1)[0] == []
    assert not signed(forged, public)


def test_a_guess_at_another_schools_record_cannot_be_confirmed_without_its_salt():
    skeletons, bodies, _ = history()
    truth = bodies[BEECH][2]
    guess = dict(truth, salt="00" * 16)  # everything right but the salt they cannot read
    assert chain.body_commitment(guess) != skeletons[1]["body"]
    assert chain.body_commitment(truth) == skeletons[1]["body"]


def test_an_event_naming_a_school_its_actor_could_not_read_is_caught():
    skeletons, _bodies, _ = history()
    may = {"head@oak.sch.uk": {OAK}, "it@trust.org.uk": None}
    forged = copy.deepcopy(skeletons)
    forged[1]["actor"] = "head@oak.sch.uk"  # an Oak head's event filed under Beech
    assert chain.scope_problems(forged, lambda actor, seq: may[actor]) == [
        "event 2 names a school head@oak.sch.uk could not read"
    ]
    forged[1]["scopes"] = [TRUST, OAK]
    assert chain.scope_problems(forged, lambda actor, seq: may[actor]) == []


def test_a_missing_or_reordered_skeleton_is_caught():
    skeletons, _bodies, _ = history()
    assert chain.skeleton_problems(skeletons[:2] + skeletons[3:], chain.GENESIS, 1)[0] == [
        "event 3 is missing (next is 4)",
        "event 4 does not follow the event before it",
    ]


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 5), st.sampled_from(chain.SKELETON_FIELDS), st.sampled_from(["x", 7, None, [], {"a": 1}]))
def test_any_change_to_any_skeleton_field_is_caught(index, field, value):
    skeletons, _bodies, _ = history()
    forged = copy.deepcopy(skeletons)
    if forged[index][field] == value:
        return
    forged[index][field] = value
    problems, _, _ = chain.skeleton_problems(forged, chain.GENESIS, 1)
    assert problems, (index, field, value)


def test_a_skeleton_of_the_wrong_shape_is_altered_not_a_crash():
    skeletons, _bodies, _ = history()
    broken = copy.deepcopy(skeletons)
    del broken[0]["wrote"]
    assert chain.skeleton_problems(broken, chain.GENESIS, 1)[0] == ["event 1 was altered after it was written"]
    with pytest.raises(KeyError):  # a skeleton with no number is not a skeleton at all: the caller's parse refuses it
        chain.skeleton_problems([{}], chain.GENESIS, 1)
