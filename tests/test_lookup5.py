"""The trust lookup's entries (store/lookup5.py): tags only a school's readers can make, and a hint at most."""

from __future__ import annotations

import os

import pytest

from accountctl.store import lookup5

A, B = os.urandom(16), os.urandom(16)
KA, KB = os.urandom(32), os.urandom(32)


def entries(scope: bytes, key: bytes, ids: list[str]) -> list[bytes]:
    tag_key = lookup5.lookup_key(key)
    return [lookup5.tag(tag_key, "account", i) + scope for i in ids]


def test_each_school_finds_its_ids_and_no_one_elses():
    lookup = lookup5.update(b"", {A: entries(A, KA, ["a1", "a2"]), B: entries(B, KB, ["b1"])})
    assert lookup5.find(lookup, {A: KA, B: KB}, "account", "b1") == B
    assert lookup5.find(lookup, {A: KA}, "account", "b1") is None  # without B's key there is no tag to match
    assert lookup5.find(lookup, {A: KA}, "account", "a2") == A
    assert lookup5.find(lookup, {A: KA}, "incident", "a2") is None  # kinds do not mix


def test_a_hint_pointing_at_another_school_is_not_taken():
    """A head of A writes their own tag with B's scope beside it: the tag must be B's to count for B."""
    forged = [e[: lookup5.TAG_LEN] + B for e in entries(A, KA, ["a1"])]
    lookup = lookup5.update(b"", {B: forged})
    assert lookup5.find(lookup, {A: KA, B: KB}, "account", "a1") is None


def test_an_update_replaces_only_the_schools_it_names():
    lookup = lookup5.update(b"", {A: entries(A, KA, ["a1"]), B: entries(B, KB, ["b1"])})
    lookup = lookup5.update(lookup, {A: entries(A, KA, ["a2"])})
    assert lookup5.find(lookup, {A: KA, B: KB}, "account", "a1") is None
    assert lookup5.find(lookup, {A: KA, B: KB}, "account", "a2") == A
    assert lookup5.find(lookup, {A: KA, B: KB}, "account", "b1") == B
    assert len(lookup) == 2 * lookup5.ENTRY_LEN
    with pytest.raises(ValueError):
        lookup5.update(lookup[:-1], {})


def test_the_tag_key_is_not_the_schools_key():
    assert lookup5.lookup_key(KA) != KA and len(lookup5.lookup_key(KA)) == 32
