"""Format 5's membership: the schools each member reads, and which scope holds each school (membership.py, F3).

Records are written with the module itself and signed with real keys, as an insider's code would.
"""

from __future__ import annotations

import os
import sqlite3

import pytest

from accountctl import crypto, membership
from accountctl.errors import DamagedError

FILE_ID = os.urandom(16)
IT, HEAD, CEO = "it@trust.org.uk", "head@oak.sch.uk", "ceo@trust.org.uk"
OAK_SCOPE, BEECH_SCOPE = "aa" * 16, "bb" * 16


class Trust:
    """A grants table with a custodian (root), and the keys of everyone in it."""

    def __init__(self):
        self.conn = sqlite3.connect(":memory:")
        self.conn.execute(
            "CREATE TABLE grants (id INTEGER PRIMARY KEY, payload TEXT NOT NULL, signature BLOB NOT NULL)"
        )
        self.keys: dict[str, bytes] = {}
        self.seq = 0
        recovery_private, recovery_public = crypto.ed25519_keypair()
        self.keys[membership.RECOVERY] = recovery_private
        self.append(
            "root",
            IT,
            signer=None,
            member=self.member(IT, "vault").describe(),
            recovery={
                "slot": os.urandom(16).hex(),
                "public": os.urandom(32).hex(),
                "signing_key": recovery_public.hex(),
                "sealed_signing_key": "",
            },
        )

    def member(self, email: str, access: str, schools="*") -> membership.Member:
        private, public = crypto.ed25519_keypair()
        self.keys[email] = private
        return membership.Member(
            os.urandom(16), email, membership.person_tag(FILE_ID, email), os.urandom(32), public, access, schools
        )

    def append(self, kind: str, by: str, signer: str | None = "", **fields) -> None:
        self.seq += 1
        key = self.keys[by if signer == "" else signer] if signer is not None else self.keys[by]
        membership.append(self.conn, FILE_ID, kind, by, key, self.seq, "2026-12-07", "2026-12-07", **fields)

    def load(self) -> membership.Membership:
        return membership.load(self.conn, FILE_ID)

    def slot_of(self, email: str) -> str:
        return next(m for m in self.load().members.values() if m.email == email).slot_id.hex()


@pytest.fixture
def trust() -> Trust:
    t = Trust()
    t.append("school", IT, school="oak", scope=OAK_SCOPE)
    t.append("school", IT, school="beech", scope=BEECH_SCOPE)
    t.append("grant", IT, member=t.member(HEAD, "register", ["oak"]).describe())
    t.append("grant", IT, member=t.member(CEO, "register").describe())
    return t


def test_each_member_reads_the_schools_their_signed_grant_names(trust):
    state = trust.load()
    assert state.school_scopes == {"oak": OAK_SCOPE, "beech": BEECH_SCOPE}
    assert state.schools_of(HEAD, 99) == ["oak"] and state.scopes_of(HEAD, 99) == {OAK_SCOPE}
    assert state.schools_of(CEO, 99) == "*" and state.scopes_of(CEO, 99) is None
    assert state.schools_of(IT, 99) == "*" and state.schools_of(membership.RECOVERY, 1) == "*"
    assert state.schools_of("nobody@x.org", 99) is None


def test_a_format_4_member_reads_everything_and_signs_no_schools_field():
    member = membership.Member(b"\0" * 16, IT, b"\0" * 16, b"\0" * 32, b"\0" * 32, "vault")
    assert "schools" not in member.describe()
    assert membership.Member.parse(member.describe()).schools == "*"


def test_a_move_changes_a_members_schools_from_that_event_on(trust):
    trust.append("scope", IT, slot=trust.slot_of(HEAD), email=HEAD, schools=["beech"], reason="move")
    state = trust.load()
    moved_at = trust.seq
    assert state.schools_of(HEAD, moved_at - 1) == ["oak"]
    assert state.schools_of(HEAD, moved_at) == ["beech"]
    assert state.scopes_of(HEAD, moved_at) == {BEECH_SCOPE}


def test_a_revoked_member_reads_nothing_after_and_a_recovered_one_keeps_their_schools(trust):
    old = next(m for m in trust.load().members.values() if m.email == HEAD)
    new = membership.Member(
        old.slot_id, HEAD, old.tag, os.urandom(32), crypto.ed25519_keypair()[1], "register", ["oak"]
    )
    trust.append("recover", membership.RECOVERY, member=new.describe())
    assert trust.load().schools_of(HEAD, trust.seq) == ["oak"]
    trust.append("revoke", IT, slot=old.slot_id.hex(), email=HEAD)
    assert trust.load().schools_of(HEAD, trust.seq) is None


def test_a_recovery_that_widens_someones_schools_is_refused(trust):
    old = next(m for m in trust.load().members.values() if m.email == HEAD)
    wider = membership.Member(old.slot_id, HEAD, old.tag, os.urandom(32), crypto.ed25519_keypair()[1], "register", "*")
    trust.append("recover", membership.RECOVERY, member=wider.describe())
    with pytest.raises(DamagedError, match="may change only the keys"):
        trust.load()


def test_a_head_who_widens_their_own_schools_is_refused(trust):
    """The head signs a scope record with their own real key: only a custodian's (or the recovery key's) counts."""
    trust.append("scope", HEAD, slot=trust.slot_of(HEAD), email=HEAD, schools=["beech", "oak"], reason="grant")
    with pytest.raises(DamagedError, match="not signed by a custodian"):
        trust.load()


def test_a_head_who_rebinds_a_school_to_their_own_scope_is_refused(trust):
    trust.append("school", HEAD, school="beech", scope=OAK_SCOPE)
    with pytest.raises(DamagedError, match="not signed by a custodian"):
        trust.load()


def test_even_a_custodian_cannot_point_a_school_at_another_schools_segments(trust):
    trust.append("school", IT, school="beech", scope="cc" * 16)
    with pytest.raises(DamagedError, match="bound already"):
        trust.load()


@pytest.mark.parametrize(
    "fields",
    [
        {"school": "elm", "scope": OAK_SCOPE},  # a second school on Oak's segments
        {"school": "elm", "scope": "00" * 16},  # the trust's own scope
        {"school": "elm", "scope": "abcd"},
        {"school": "", "scope": "dd" * 16},
    ],
)
def test_a_school_record_that_binds_nothing_valid_is_refused(trust, fields):
    trust.append("school", IT, **fields)
    with pytest.raises(DamagedError, match="does not apply"):
        trust.load()


@pytest.mark.parametrize(
    "schools",
    [["oak", "oak"], ["oak", "beech"], "all", [""], [3], "oak"],
)
def test_a_list_of_schools_that_is_not_sorted_unique_ids_is_refused(trust, schools):
    trust.append("scope", IT, slot=trust.slot_of(HEAD), email=HEAD, schools=schools, reason="move")
    with pytest.raises(DamagedError, match="does not apply"):
        trust.load()


def test_a_custodian_limited_to_some_schools_is_refused(trust):
    trust.append("scope", IT, slot=trust.slot_of(IT), email=IT, schools=["oak"], reason="move")
    with pytest.raises(DamagedError, match="vault access reads every school"):
        trust.load()
    fresh = Trust()
    fresh.append("grant", IT, member=fresh.member("it2@trust.org.uk", "vault", ["oak"]).describe())
    with pytest.raises(DamagedError, match="vault access reads every school"):
        fresh.load()


def test_a_scope_record_for_someone_else_or_with_no_known_reason_is_refused(trust):
    trust.append("scope", IT, slot=trust.slot_of(HEAD), email=CEO, schools=["oak"], reason="move")
    with pytest.raises(DamagedError, match="another person"):
        trust.load()
    other = Trust()
    other.append("grant", IT, member=other.member(HEAD, "register", ["oak"]).describe())
    other.append("scope", IT, slot=other.slot_of(HEAD), email=HEAD, schools=["oak"], reason="because")
    with pytest.raises(DamagedError, match="no reason it knows"):
        other.load()


def test_a_move_touches_only_the_person_moved(trust):
    trust.append("scope", IT, slot=trust.slot_of(HEAD), email=HEAD, schools=["beech"], reason="move")
    state = trust.load()
    assert state.schools_of(CEO, trust.seq) == "*" and state.schools_of(IT, trust.seq) == "*"


def test_after_a_move_a_recovery_keeps_the_new_schools(trust):
    trust.append("scope", IT, slot=trust.slot_of(HEAD), email=HEAD, schools=["beech"], reason="move")
    old = next(m for m in trust.load().members.values() if m.email == HEAD)
    assert old.schools == ["beech"]
    new = membership.Member(
        old.slot_id, HEAD, old.tag, os.urandom(32), crypto.ed25519_keypair()[1], "register", ["beech"]
    )
    trust.append("recover", membership.RECOVERY, member=new.describe())
    assert trust.load().schools_of(HEAD, trust.seq) == ["beech"]
