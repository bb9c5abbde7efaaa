"""Format 5's foundation: the index, segments, keyrings and the `wrote` map (file-format.md F1-F7).

A small two-school register image is built from the store's own modules, and the attacks are played
as an insider would: a headteacher with their own key slot and passphrase, the store module in hand,
and the file's bytes to read and rewrite.
"""

from __future__ import annotations

import hashlib
import dataclasses
import os
from dataclasses import dataclass, replace

import pytest
from hypothesis import given, settings, strategies as st

from accountctl import crypto
from accountctl.errors import DamagedError
from accountctl.store import fileformat as ff, segments as sg
from accountctl.store.register import keyrings as kr
from accountctl.store.register.keys import Keys as SlotKeys, _make_person_slot

PASS = "a head's own passphrase, long enough"
KDF = crypto.KdfParams(19456, 2, 1)
SECRET_B = b"Beech: incident about a pupil, safeguarding lead told"
VAULT_B = b"beech-facebook password: Tr0ub4dor&3-beech"


@dataclass
class Image:
    """A format-5 register's parts, as a file would hold them after the header."""

    file_id: bytes
    index: sg.Index
    blobs: dict[bytes, bytes]  # segment id -> ciphertext
    keys: dict[tuple[bytes, int], bytes]  # (scope, K|V) -> key
    a: bytes
    b: bytes
    seg: dict[tuple[int, bytes], bytes]  # (kind, scope) -> segment id
    slots: dict[str, tuple[ff.Slot, bytes]]  # who -> (slot, X25519 private key)

    def segments_bytes(self) -> bytes:
        return b"".join(self.blobs[e.seg_id] for e in self.index.segments)

    def entry(self, kind: int, scope: bytes) -> sg.SegmentEntry:
        return next(e for e in self.index.segments if e.seg_id == self.seg[(kind, scope)])


def _slot(file_id: bytes, email: str, access: int) -> tuple[ff.Slot, bytes]:
    """A real key slot made by the store; its private key recovered with the passphrase, as its holder would."""
    slot, _kek, _ = _make_person_slot(
        file_id, email, access, PASS, KDF, SlotKeys(os.urandom(32), os.urandom(32), None, None)
    )
    kek = crypto.argon2id(PASS, slot.salt, slot.kdf)
    inner = crypto.open_sealed(kek, slot.wrapped, ff.LABEL_SLOT_KEYS + ff.slot_aad(file_id, slot.slot_id))
    return slot, inner[:32]


REACH = {
    "custodian": lambda a, b: sg.Reach(None, vault=True, seals=True),
    "ceo": lambda a, b: sg.Reach(None),
    "head_a": lambda a, b: sg.Reach(frozenset({a})),
    "head_b": lambda a, b: sg.Reach(frozenset({b})),
}


FILE_ID = os.urandom(16)  # one register throughout: its slots are made once (Argon2id is the slow part)
_SLOTS: dict[str, tuple[ff.Slot, bytes]] = {}


def build(generation: int = 1) -> Image:
    file_id, a, b = FILE_ID, os.urandom(16), os.urandom(16)
    keys = {(scope, kind): os.urandom(32) for scope in (sg.TRUST, a, b) for kind in (sg.KEY_K, sg.KEY_V)}
    scopes = [
        sg.ScopeEntry(
            s,
            1,
            sg.key_id(file_id, s, 1, sg.KEY_K, keys[(s, sg.KEY_K)]),
            sg.key_id(file_id, s, 1, sg.KEY_V, keys[(s, sg.KEY_V)]),
        )
        for s in sorted((sg.TRUST, a, b))
    ]
    plain = {
        (sg.TRUST_RECORDS, sg.TRUST): b"trust: schools Oak, Beech",
        (sg.TRUST_JOURNAL, sg.TRUST): b"skeletons",
        (sg.TRUST_LOOKUP, sg.TRUST): b"lookup",
        (sg.SCHOOL_RECORDS, a): b"Oak: accounts and staff",
        (sg.SCHOOL_CREDENTIALS, a): b"oak-facebook password",
        (sg.SCHOOL_RECORDS, b): SECRET_B,
        (sg.SCHOOL_CREDENTIALS, b): VAULT_B,
        (sg.SCHOOL_BATCH, b): b"Beech: older events",
    }
    entries, blobs, seg = [], {}, {}
    for (kind, scope), text in plain.items():
        seg_id = os.urandom(16)
        key_kind = sg.KEY_V if kind == sg.SCHOOL_CREDENTIALS else sg.KEY_K
        entry, blob = sg.seal_segment(keys[(scope, key_kind)], file_id, seg_id, kind, scope, 1, generation, text)
        entries.append(entry)
        blobs[seg_id] = blob
        seg[(kind, scope)] = seg_id
    index = sg.Index(generation, scopes, [], entries)
    if not _SLOTS:
        _SLOTS.update(
            {who: _slot(file_id, who, ff.ACCESS_VAULT if who == "custodian" else ff.ACCESS_REGISTER) for who in REACH}
        )
    slots = _SLOTS
    for who, (slot, _private) in slots.items():
        wanted = kr.keys_for(REACH[who](a, b), index)
        ring = {sk: (1, keys[sk]) for sk in wanted}
        index.keyrings.append(kr.seal_keyring(slot.public, file_id, slot.slot_id, generation, ring))
    index.keyrings.sort(key=lambda k: k.slot_id)
    return Image(file_id, index, blobs, keys, a, b, seg, slots)


def reparse(img: Image, index: sg.Index | None = None) -> sg.Index:
    index = index or img.index
    return sg.parse_index(
        sg.encode_index(index), index.generation, index.segments_length(), {s.slot_id for s, _ in img.slots.values()}
    )


def open_own(img: Image, who: str, index: sg.Index | None = None) -> kr.Keys:
    """What a slot's holder does on open: their keyring, its key ids, and that it matches their grant."""
    index = index or img.index
    slot, private = img.slots[who]
    ring = kr.open_keyring(private, img.file_id, index.keyring(slot.slot_id))
    kr.check_key_ids(ring, index, img.file_id, slot.slot_id)
    kr.check_reach(ring, REACH[who](img.a, img.b), index, slot.slot_id)
    return ring


# --- the index: layout and checks -------------------------------------------------------------------


def test_index_round_trips_and_every_part_opens_for_its_readers():
    img = build()
    assert reparse(img) == img.index
    custodian = open_own(img, "custodian")
    for entry in img.index.segments:
        key = kr.keys_of(custodian, entry.scope, entry.key_kind)
        assert sg.open_segment(key, img.file_id, entry, img.blobs[entry.seg_id])


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda ix: ix.segments.pop(0), "exactly one trust records"),
        (lambda ix: ix.segments.append(ix.segments[0]), "listed twice"),
        (lambda ix: ix.scopes.pop(0), "no trust scope"),
        (lambda ix: ix.segments.__setitem__(0, replace(ix.segments[0], version=ix.generation + 1)), "version"),
        (lambda ix: ix.segments.__setitem__(0, replace(ix.segments[0], epoch=2)), "no longer uses"),
        (lambda ix: ix.segments.__setitem__(0, replace(ix.segments[0], kind=9)), "unknown kind"),
        (lambda ix: ix.segments.__setitem__(0, replace(ix.segments[0], length=3)), "length"),
        (lambda ix: ix.segments.__setitem__(0, replace(ix.segments[0], scope=os.urandom(16))), "no scope"),
        (lambda ix: ix.keyrings.__setitem__(0, replace(ix.keyrings[0], version=0)), "keyring's version"),
        (lambda ix: ix.keyrings.__setitem__(0, replace(ix.keyrings[0], slot_id=bytes(16))), "for no key slot"),
    ],
)
def test_an_index_that_breaks_a_rule_is_damage(change, message):
    img = build()
    index = replace(
        img.index, scopes=list(img.index.scopes), segments=list(img.index.segments), keyrings=list(img.index.keyrings)
    )
    change(index)
    index.keyrings.sort(key=lambda k: k.slot_id)
    with pytest.raises(DamagedError, match=message):
        reparse(img, index)


def test_a_school_segment_in_the_trust_scope_and_a_trust_segment_in_a_school_are_damage():
    img = build()
    for kind, scope in ((sg.SCHOOL_BATCH, sg.TRUST), (sg.TRUST_BATCH, img.a)):
        index = replace(
            img.index,
            segments=[
                *img.index.segments,
                replace(img.index.segments[0], seg_id=os.urandom(16), kind=kind, scope=scope),
            ],
        )
        with pytest.raises(DamagedError, match="wrong scope"):
            reparse(img, index)


def test_a_file_shorter_than_its_index_says_is_truncated():
    img = build()
    data = sg.encode_index(img.index)
    with pytest.raises(DamagedError, match="truncated"):
        sg.parse_index(data, 1, img.index.segments_length() - 1)
    with pytest.raises(DamagedError, match="save 1, the header of save 2"):
        sg.parse_index(data, 2, img.index.segments_length())


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_truncation_or_byte_change_of_the_index_is_damage_or_another_index(data):
    """Never another exception: a hostile index cannot crash or hang a reader (the header's digest catches the rest)."""
    img = _SHARED
    raw = bytearray(sg.encode_index(img.index))
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    else:
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] ^= data.draw(st.integers(1, 255))
    try:
        parsed = sg.parse_index(bytes(raw), 1, img.index.segments_length())
    except DamagedError:
        return
    assert sg.encode_index(parsed) == bytes(raw)
    assert hashlib.sha256(bytes(raw)).digest() != hashlib.sha256(sg.encode_index(img.index)).digest()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_as_an_index_give_damage_only(blob):
    try:
        sg.parse_index(sg.LABEL_INDEX + blob, 1, 1 << 20)
    except DamagedError:
        pass


_SHARED = build()


# --- what a school-scoped head can and cannot read ---------------------------------------------------


def test_a_head_with_their_own_passphrase_gets_only_ciphertext_for_another_school():
    img = build()
    ring = open_own(img, "head_a")
    assert set(ring) == {(sg.TRUST, sg.KEY_K), (img.a, sg.KEY_K)}
    trust = img.entry(sg.TRUST_RECORDS, sg.TRUST)
    assert sg.open_segment(kr.keys_of(ring, sg.TRUST, sg.KEY_K), img.file_id, trust, img.blobs[trust.seg_id])
    own = img.entry(sg.SCHOOL_RECORDS, img.a)
    assert sg.open_segment(kr.keys_of(ring, img.a, sg.KEY_K), img.file_id, own, img.blobs[own.seg_id])
    # Every key they hold, on every part of Beech: nothing opens, and the words are not in the bytes.
    for kind in (sg.SCHOOL_RECORDS, sg.SCHOOL_CREDENTIALS, sg.SCHOOL_BATCH):
        entry = img.entry(kind, img.b)
        for _epoch, key in ring.values():
            with pytest.raises(DamagedError, match="does not authenticate"):
                sg.open_segment(key, img.file_id, entry, img.blobs[entry.seg_id])
    whole = sg.encode_index(img.index) + img.segments_bytes()
    assert b"Beech" not in whole and b"Tr0ub4dor" not in whole and b"safeguarding" not in whole


def test_a_head_cannot_open_anyone_elses_keyring():
    img = build()
    _slot_a, private = img.slots["head_a"]
    for who in ("custodian", "ceo", "head_b"):
        with pytest.raises(DamagedError, match="keyring does not"):
            kr.open_keyring(private, img.file_id, img.index.keyring(img.slots[who][0].slot_id))


def test_only_a_custodian_holds_vault_keys_and_the_ceo_reads_every_school():
    img = build()
    assert kr.keys_of(open_own(img, "ceo"), img.b, sg.KEY_K) == img.keys[(img.b, sg.KEY_K)]
    assert kr.keys_of(open_own(img, "ceo"), img.b, sg.KEY_V) is None
    assert kr.keys_of(open_own(img, "custodian"), img.b, sg.KEY_V) == img.keys[(img.b, sg.KEY_V)]
    assert kr.keys_of(open_own(img, "head_b"), img.a, sg.KEY_K) is None


def test_a_head_who_seals_themselves_a_made_up_key_for_another_school_is_caught():
    """They can seal anything to their own public key; the index's key ids say which keys are real."""
    img = build()
    slot, _ = img.slots["head_a"]
    forged = {
        (sg.TRUST, sg.KEY_K): (1, img.keys[(sg.TRUST, sg.KEY_K)]),
        (img.a, sg.KEY_K): (1, img.keys[(img.a, sg.KEY_K)]),
    }
    forged[(img.b, sg.KEY_K)] = (1, os.urandom(32))
    ring = kr.open_keyring(
        img.slots["head_a"][1], img.file_id, kr.seal_keyring(slot.public, img.file_id, slot.slot_id, 1, forged)
    )
    with pytest.raises(DamagedError, match="holds a key the register does not use"):
        kr.check_key_ids(ring, img.index, img.file_id, slot.slot_id)


def test_a_keyring_with_more_or_fewer_schools_than_the_grant_is_caught():
    img = build()
    custodian_ring = open_own(img, "custodian")
    head = img.slots["head_a"][0].slot_id
    more = {sk: v for sk, v in custodian_ring.items() if sk[1] == sg.KEY_K}
    kr.check_key_ids(more, img.index, img.file_id, head)  # real keys, so only the grant check can catch it
    with pytest.raises(DamagedError, match="grant does not give"):
        kr.check_reach(more, REACH["head_a"](img.a, img.b), img.index, head)
    fewer = {(sg.TRUST, sg.KEY_K): custodian_ring[(sg.TRUST, sg.KEY_K)]}
    with pytest.raises(DamagedError, match="lacks keys"):
        kr.check_reach(fewer, REACH["head_a"](img.a, img.b), img.index, head)


def test_a_keyring_moved_to_another_slot_or_save_does_not_open():
    img = build()
    slot, private = img.slots["head_a"]
    entry = img.index.keyring(slot.slot_id)
    for moved in (replace(entry, version=2), replace(entry, slot_id=os.urandom(16))):
        with pytest.raises(DamagedError, match="keyring does not"):
            kr.open_keyring(private, img.file_id, moved)
    with pytest.raises(DamagedError, match="keyring does not"):
        kr.open_keyring(private, os.urandom(16), entry)


def test_a_key_left_with_someone_after_a_rotation_opens_nothing_new():
    """A rotation gives the scope a new epoch's key: the old one fails its key id and every new segment."""
    img = build()
    old = open_own(img, "head_b")
    new_key = os.urandom(32)
    scopes = [
        replace(s, epoch=2, k_id=sg.key_id(img.file_id, s.scope, 2, sg.KEY_K, new_key)) if s.scope == img.b else s
        for s in img.index.scopes
    ]
    entry, blob = sg.seal_segment(
        new_key,
        img.file_id,
        img.seg[(sg.SCHOOL_RECORDS, img.b)],
        sg.SCHOOL_RECORDS,
        img.b,
        2,
        1,
        b"what Beech writes next",
    )
    with pytest.raises(DamagedError, match="does not authenticate"):
        sg.open_segment(kr.keys_of(old, img.b, sg.KEY_K), img.file_id, entry, blob)
    with pytest.raises(DamagedError, match="does not use"):
        kr.check_key_ids(old, replace(img.index, scopes=scopes), img.file_id, img.slots["head_b"][0].slot_id)


# --- segments moved, swapped, replayed ----------------------------------------------------------------


def test_a_segment_moved_to_another_school_kind_save_or_register_does_not_authenticate():
    img = build()
    entry = img.entry(sg.SCHOOL_RECORDS, img.b)
    blob = img.blobs[entry.seg_id]
    key = img.keys[(img.b, sg.KEY_K)]
    assert sg.open_segment(key, img.file_id, entry, blob) == SECRET_B
    for moved in (
        replace(entry, scope=img.a),
        replace(entry, kind=sg.SCHOOL_BATCH),
        replace(entry, version=2),
        replace(entry, seg_id=img.seg[(sg.SCHOOL_RECORDS, img.a)]),
    ):
        with pytest.raises(DamagedError, match="does not authenticate"):
            sg.open_segment(key, img.file_id, moved, blob)
    with pytest.raises(DamagedError, match="does not authenticate"):
        sg.open_segment(key, os.urandom(16), entry, blob)


def test_a_segment_whose_bytes_are_not_the_indexed_ones_is_caught_without_a_key():
    img = build()
    entry = img.entry(sg.SCHOOL_CREDENTIALS, img.b)
    blob = bytearray(img.blobs[entry.seg_id])
    blob[5] ^= 1
    with pytest.raises(DamagedError, match="not the one its index names"):
        sg.check_digest(entry, bytes(blob))
    other = img.entry(sg.SCHOOL_CREDENTIALS, img.a)
    with pytest.raises(DamagedError, match="not the one its index names"):
        sg.check_digest(entry, img.blobs[other.seg_id])


def test_slice_segment_finds_each_segment_in_the_file_order():
    img = build()
    blob = img.segments_bytes()
    for entry in img.index.segments:
        found, ciphertext = sg.slice_segment(img.index, blob, entry.seg_id)
        assert found == entry and ciphertext == img.blobs[entry.seg_id]
    assert img.index.offsets()[img.index.segments[1].seg_id] == img.index.segments[0].length


# --- the `wrote` map: who wrote each part, and the index against it ---------------------------------------


def _save(img: Image, reach: sg.Reach, change) -> tuple[sg.Index, list[sg.Wrote]]:
    """A save: the index it makes from the one it read, and what it lists as written."""
    after = replace(
        img.index,
        generation=img.index.generation + 1,
        segments=list(img.index.segments),
        keyrings=list(img.index.keyrings),
    )
    change(after)
    return after, sg.wrote_of_save(img.index, after)


def test_a_head_cannot_write_another_schools_segment_unnoticed():
    """Head A replays an old copy of Beech's records (they cannot encrypt a new one): every way of hiding it is caught."""
    old = build()
    img = build()  # pretend both saves are of one register: Beech's records of save 1 replayed at save 3
    known = sg.apply_wrote({}, sg.wrote_of_save(None, img.index))
    sg.check_against(known, img.index)
    beech = img.seg[(sg.SCHOOL_RECORDS, img.b)]
    stale = replace(old.entry(sg.SCHOOL_RECORDS, old.b), seg_id=beech, scope=img.b)

    def replay(ix):
        ix.segments[[e.seg_id for e in ix.segments].index(beech)] = stale

    after, wrote = _save(img, REACH["head_a"](img.a, img.b), replay)
    # (1) If their save lists what it wrote, as every save must, the rules refuse it.
    with pytest.raises(DamagedError, match="written by head@oak, who may not write it"):
        sg.check_writes(wrote, REACH["head_a"](img.a, img.b), known, "head@oak")
    # (2) If it leaves it out, the index no longer matches what the history last wrote.
    with pytest.raises(DamagedError, match="not the one its history last wrote"):
        sg.check_against(known, after)
    # The same save by Beech's own head would be allowed (what they write, their school's readers check).
    sg.check_writes(wrote, REACH["head_b"](img.a, img.b), known, "head@beech")


def test_a_dropped_or_invented_segment_is_caught():
    img = build()
    known = sg.apply_wrote({}, sg.wrote_of_save(None, img.index))
    batch = img.seg[(sg.SCHOOL_BATCH, img.b)]
    dropped = replace(img.index, segments=[e for e in img.index.segments if e.seg_id != batch])
    with pytest.raises(DamagedError, match="is missing"):
        sg.check_against(known, dropped)
    invented = replace(
        img.index, segments=[*img.index.segments, replace(img.entry(sg.SCHOOL_BATCH, img.b), seg_id=os.urandom(16))]
    )
    with pytest.raises(DamagedError, match="never written by a signed save"):
        sg.check_against(known, invented)
    no_creds = replace(
        img.index, segments=[e for e in img.index.segments if e.seg_id != img.seg[(sg.SCHOOL_CREDENTIALS, img.b)]]
    )
    with pytest.raises(DamagedError, match="exactly one school credentials"):
        reparse(img, no_creds)


@pytest.mark.parametrize(
    "who, kind, allowed",
    [
        ("custodian", sg.KEYRING, True),
        ("ceo", sg.KEYRING, False),
        ("head_a", sg.KEYRING, False),
        ("custodian", sg.SCHOOL_CREDENTIALS, True),
        ("ceo", sg.SCHOOL_CREDENTIALS, False),
        ("ceo", sg.SCHOOL_RECORDS, True),
        ("head_a", sg.SCHOOL_RECORDS, False),
        ("head_b", sg.SCHOOL_RECORDS, True),
        ("head_b", sg.SCHOOL_BATCH, True),
        ("head_a", sg.SCHOOL_BATCH, False),
        ("head_a", sg.TRUST_RECORDS, True),
        ("head_a", sg.TRUST_BATCH, True),
    ],
)
def test_who_may_write_what(who, kind, allowed):
    img = build()
    scope = sg.TRUST if kind in sg.TRUST_KINDS or kind == sg.KEYRING else img.b
    for version in (5, 0):  # a removal obeys the same rule as a write
        wrote = [sg.Wrote(os.urandom(16), kind, scope, version, b"")]
        if allowed:
            sg.check_writes(wrote, REACH[who](img.a, img.b), {}, who)
        else:
            with pytest.raises(DamagedError, match="who may not write it"):
                sg.check_writes(wrote, REACH[who](img.a, img.b), {}, who)


def test_a_save_may_not_list_the_journal_or_change_a_parts_school():
    img = build()
    known = sg.apply_wrote({}, sg.wrote_of_save(None, img.index))
    custodian = REACH["custodian"](img.a, img.b)
    with pytest.raises(DamagedError, match="among what it wrote"):
        sg.check_writes([sg.Wrote(os.urandom(16), sg.TRUST_JOURNAL, sg.TRUST, 2, b"")], custodian, known, "it")
    beech = img.seg[(sg.SCHOOL_RECORDS, img.b)]
    with pytest.raises(DamagedError, match="changed its kind or school"):
        sg.check_writes([sg.Wrote(beech, sg.SCHOOL_RECORDS, img.a, 2, b"")], custodian, known, "it")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "credentials", "batch", "drop_batch", "keyring"]), max_size=6))
def test_honest_saves_keep_the_index_equal_to_the_map(steps):
    """Whatever a run of allowed saves does, the map each machine keeps matches every index it sees."""
    img = build()
    known = sg.apply_wrote({}, sg.wrote_of_save(None, img.index))
    index = img.index
    for step in steps:
        gen = index.generation + 1
        segments, keyrings = list(index.segments), list(index.keyrings)
        if step in ("a", "b", "credentials"):
            scope = img.a if step == "a" else img.b
            kind = sg.SCHOOL_CREDENTIALS if step == "credentials" else sg.SCHOOL_RECORDS
            key = img.keys[(scope, sg.KEY_V if step == "credentials" else sg.KEY_K)]
            at = [e.seg_id for e in segments].index(img.seg[(kind, scope)])
            segments[at], _ = sg.seal_segment(key, img.file_id, segments[at].seg_id, kind, scope, 1, gen, b"new")
        elif step == "batch":
            segments.append(
                sg.seal_segment(
                    img.keys[(img.a, sg.KEY_K)], img.file_id, os.urandom(16), sg.SCHOOL_BATCH, img.a, 1, gen, b"b"
                )[0]
            )
        elif step == "drop_batch":
            segments = [e for e in segments if e.kind != sg.SCHOOL_BATCH] or segments
        else:
            slot, _ = img.slots["ceo"]
            keyrings = sorted(
                [k for k in keyrings if k.slot_id != slot.slot_id]
                + [kr.seal_keyring(slot.public, img.file_id, slot.slot_id, gen, {})],
                key=lambda k: k.slot_id,
            )
        after = sg.Index(gen, index.scopes, keyrings, segments)
        wrote = sg.wrote_of_save(index, after)
        sg.check_writes(wrote, REACH["custodian"](img.a, img.b), known, "it")
        known = sg.apply_wrote(known, wrote)
        sg.check_against(known, after)
        index = after


# --- every refusal of the parsers, on its own ------------------------------------------------------


def _raw(index: sg.Index) -> bytes:
    return sg.encode_index(index)


@pytest.mark.parametrize(
    "mangle, message",
    [
        (lambda raw, ix: raw[:63], "index length out of range"),
        (lambda raw, ix: b"accountctl/v9/index" + raw[19:], "does not start as an index"),
        (lambda raw, ix: raw + b"\0" * 97, "does not match its segment count"),
        (lambda raw, ix: raw[:-1], "does not match its segment count"),
        (lambda raw, ix: raw[:200], "the index is truncated"),
    ],
)
def test_an_index_whose_bytes_are_wrong_is_refused_with_its_reason(mangle, message):
    img = build()
    with pytest.raises(DamagedError, match=message):
        sg.parse_index(mangle(_raw(img.index), img.index), 1, img.index.segments_length())


def test_an_index_of_exactly_the_smallest_length_is_read_far_enough_to_judge():
    with pytest.raises(DamagedError, match="does not match its segment count"):
        sg.parse_index(sg.LABEL_INDEX + bytes(64 - len(sg.LABEL_INDEX)), 0, 0)


def test_counts_and_lengths_past_their_caps_are_refused_before_reading_on():
    img = build()
    head = sg.LABEL_INDEX + (1).to_bytes(8, "big") + (0).to_bytes(2, "big") + (1).to_bytes(2, "big")
    keyring = bytes(16) + (1).to_bytes(8, "big") + (sg.MAX_SEALED_KEYRING + 1).to_bytes(4, "big")
    with pytest.raises(DamagedError, match="keyring's length is out of range"):
        sg.parse_index(head + keyring + bytes(64), 1, 0)
    at_cap = keyring[:-4] + sg.MAX_SEALED_KEYRING.to_bytes(4, "big")
    with pytest.raises(DamagedError, match="truncated"):  # at the cap: accepted, then found missing
        sg.parse_index(head + at_cap + bytes(64), 1, 0)
    too_many = sg.LABEL_INDEX + (1).to_bytes(8, "big") + bytes(4) + (sg.MAX_SEGMENTS + 1).to_bytes(4, "big") + bytes(40)
    with pytest.raises(DamagedError, match="too many segments"):
        sg.parse_index(too_many, 1, 0)
    at_max = too_many[:-44] + sg.MAX_SEGMENTS.to_bytes(4, "big") + bytes(40)
    with pytest.raises(DamagedError, match="does not match its segment count"):
        sg.parse_index(at_max, 1, 0)
    assert img  # the image is only for the module's slots


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda img, ix: ix.scopes.reverse(), "scopes are repeated or out of order"),
        (lambda img, ix: ix.scopes.__setitem__(0, replace(ix.scopes[0], epoch=0)), "epoch is out of range"),
        (lambda img, ix: ix.scopes.__setitem__(1, replace(ix.scopes[1], v_id=bytes(32))), "has no vault key"),
        (lambda img, ix: ix.keyrings.append(ix.keyrings[0]), "keyrings are repeated or out of order"),
        (
            lambda img, ix: ix.segments.append(replace(img.entry(sg.SCHOOL_RECORDS, img.b), seg_id=os.urandom(16))),
            "exactly one school records",
        ),
        (lambda img, ix: ix.segments.__setitem__(0, replace(ix.segments[0], length=15)), "length out of range"),
        (
            lambda img, ix: ix.segments.__setitem__(0, replace(ix.segments[0], length=sg.MAX_SEGMENT + 1)),
            "length out of range",
        ),
    ],
)
def test_each_rule_of_an_index_is_refused_on_its_own(change, message):
    img = build()
    index = replace(
        img.index, scopes=list(img.index.scopes), segments=list(img.index.segments), keyrings=list(img.index.keyrings)
    )
    change(img, index)
    with pytest.raises(DamagedError, match=message):
        sg.check_index(index, 1 << 40, None)


def test_the_shortest_and_longest_segment_lengths_are_allowed():
    img = build()
    for length in (16, sg.MAX_SEGMENT):
        index = replace(img.index, segments=[replace(img.index.segments[0], length=length), *img.index.segments[1:]])
        sg.check_index(index, 1 << 40, None)


def test_offsets_run_through_the_file_order():
    img = build()
    offsets, at = img.index.offsets(), 0
    for entry in img.index.segments:
        assert offsets[entry.seg_id] == at
        at += entry.length
    with pytest.raises(DamagedError, match="lists no segment"):
        sg.slice_segment(img.index, img.segments_bytes(), os.urandom(16))
    assert img.index.keyring(os.urandom(16)) is None


def test_a_save_lists_exactly_what_it_wrote_and_removed():
    img = build()
    beech = img.seg[(sg.SCHOOL_RECORDS, img.b)]
    batch = img.seg[(sg.SCHOOL_BATCH, img.b)]
    slot = img.slots["ceo"][0]
    entry, _ = sg.seal_segment(img.keys[(img.b, sg.KEY_K)], img.file_id, beech, sg.SCHOOL_RECORDS, img.b, 1, 2, b"x")
    journal, _ = sg.seal_segment(
        img.keys[(sg.TRUST, sg.KEY_K)],
        img.file_id,
        img.seg[(sg.TRUST_JOURNAL, sg.TRUST)],
        sg.TRUST_JOURNAL,
        sg.TRUST,
        1,
        2,
        b"j",
    )
    ring = kr.seal_keyring(slot.public, img.file_id, slot.slot_id, 2, {})
    segments = [
        entry if e.seg_id == beech else journal if e.kind == sg.TRUST_JOURNAL else e
        for e in img.index.segments
        if e.seg_id != batch
    ]
    keyrings = sorted([ring, *[k for k in img.index.keyrings if k.slot_id != slot.slot_id]], key=lambda k: k.slot_id)
    wrote = sg.wrote_of_save(img.index, sg.Index(2, img.index.scopes, keyrings, segments))
    assert sorted(wrote, key=lambda w: w.part_id) == sorted(
        [
            sg.Wrote(beech, sg.SCHOOL_RECORDS, img.b, 2, entry.digest),
            sg.Wrote(slot.slot_id, sg.KEYRING, sg.TRUST, 2, hashlib.sha256(ring.sealed).digest()),
            sg.Wrote(batch, sg.SCHOOL_BATCH, img.b, 0, b""),
        ],
        key=lambda w: w.part_id,
    )  # the journal is not listed: it holds the save's own event
    assert sg.apply_wrote({}, [sg.Wrote(batch, sg.SCHOOL_BATCH, img.b, 0, b"")]) == {}


# --- keyrings' plaintext -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "keys",
    [
        {(bytes(15), sg.KEY_K): (1, bytes(32))},
        {(bytes(16), 3): (1, bytes(32))},
        {(bytes(16), sg.KEY_K): (1, bytes(31))},
    ],
)
def test_a_keyring_entry_of_the_wrong_shape_is_not_written(keys):
    with pytest.raises(ValueError):
        kr.encode_keys(keys)


def test_a_keyring_plaintext_that_is_not_whole_sorted_known_entries_is_damage():
    a, b = bytes(16), b"\x01" * 16
    good = kr.encode_keys({(a, sg.KEY_K): (1, bytes(32)), (a, sg.KEY_V): (1, bytes(32)), (b, sg.KEY_K): (2, bytes(32))})
    assert kr.decode_keys(good) == {
        (a, sg.KEY_K): (1, bytes(32)),
        (a, sg.KEY_V): (1, bytes(32)),
        (b, sg.KEY_K): (2, bytes(32)),
    }
    entry = 53
    with pytest.raises(DamagedError, match="key slot's keyring is not whole entries"):
        kr.decode_keys(good[:-1])
    with pytest.raises(DamagedError, match="repeated, unknown or out of order"):
        kr.decode_keys(good[entry : 2 * entry] + good[:entry])  # out of order
    with pytest.raises(DamagedError, match="repeated, unknown or out of order"):
        kr.decode_keys(good[:entry] + good[:entry])  # repeated
    unknown = bytearray(good[:entry])
    unknown[20] = 3
    with pytest.raises(DamagedError, match="repeated, unknown or out of order"):
        kr.decode_keys(bytes(unknown))
    for k in (0, 1):  # an unknown kind is refused wherever it stands
        rows = [good[i * entry : (i + 1) * entry] for i in range(3)]
        bad = bytearray(rows[k + 1])
        bad[20] = 9
        rows[k + 1] = bytes(bad)
        with pytest.raises(DamagedError, match="unknown"):
            kr.decode_keys(b"".join(rows))


def test_a_key_for_a_scope_the_index_does_not_have_is_refused():
    img = build()
    with pytest.raises(DamagedError, match="does not use"):
        kr.check_key_ids({(os.urandom(16), sg.KEY_K): (1, os.urandom(32))}, img.index, img.file_id, bytes(16))


def test_a_history_batch_is_written_once_and_only_a_custodian_encrypts_it_again():
    """A head holds the trust's key: they could rewrite (or drop) an old batch and sign their save. A machine
    that checked the history before would not read the batch again, so the save itself is refused."""
    batch = sg.Wrote(os.urandom(16), sg.TRUST_BATCH, sg.TRUST, 3, b"\1" * 32)
    known = {batch.part_id: batch}
    rewritten = dataclasses.replace(batch, version=7, digest=b"\2" * 32)
    dropped = dataclasses.replace(batch, version=0, digest=b"")
    for who in ("head_a", "ceo"):
        for change in (rewritten, dropped):
            with pytest.raises(DamagedError, match="written once"):
                sg.check_writes([change], REACH[who](b"a" * 16, b"b" * 16), known, who)
    sg.check_writes([rewritten], REACH["custodian"](b"a" * 16, b"b" * 16), known, "it")  # a rotation
    new = sg.Wrote(os.urandom(16), sg.TRUST_BATCH, sg.TRUST, 7, b"\3" * 32)
    sg.check_writes([new], REACH["head_a"](b"a" * 16, b"b" * 16), known, "head")  # a new batch: anyone's save
