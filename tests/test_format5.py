"""A format-5 register made whole from the demo trust and opened by each person (store/format5.py).

The issue's attacks, played by Oakfield's headteacher with the store module, their own key slot and
passphrase, and the file's bytes: they read only ciphertext of Brookside; they cannot write
Brookside's segments unnoticed; a segment replayed from an earlier save, or dropped, is caught on open.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from dataclasses import dataclass, replace

import pytest

from accountctl import chain, crypto, membership
from accountctl.errors import DamagedError
from accountctl.store import db, fileformat as ff, fileformat5 as ff5, format5, opening5, segments as sg, split
from conftest import demo_format_4

OAK, BROOK = "oakfield", "brookside"


@dataclass
class Trust:
    body: bytes  # the demo's format-4 body, with the format-5 membership records added
    file_id: bytes
    slots: list[ff.Slot]  # format-5 slots: no sealed keys
    private: dict[str, tuple[ff.Slot, bytes, bytes]]  # email -> (slot, X25519 private, Ed25519 private)
    custodian: str
    events: list[tuple[dict, list[bytes]]]
    legacy: list[dict]  # the demo's format-4 history, oldest first


_TRUST: list[Trust] = []


@pytest.fixture
def trust(run, tmp_path) -> Trust:
    if not _TRUST:
        _TRUST.append(_build(run, tmp_path))
    return _TRUST[0]


def _build(run, tmp_path) -> Trust:
    from accountctl.core import demo
    from accountctl.store.register import open_register

    path = demo_format_4(tmp_path / "demo")
    private = {}
    for email in (demo.CUSTODIAN, demo.HEADS[OAK], demo.HEADS[BROOK], demo.CEO):
        history = email == demo.CUSTODIAN
        unlock = dict(passphrase_source=lambda: demo.PASSPHRASE, use_keyring=False, history=history)
        with open_register(path, actor=email, **unlock) as reg:
            private[email] = (reg.slot, reg.keys.x25519_private, reg.keys.signing_private)
            if email == demo.CUSTODIAN:
                legacy = [dict(row) for row in reg.db.execute("SELECT * FROM all_events ORDER BY seq")]
                for event in legacy:
                    event["details"] = json.loads(event["details"])
                body = db.deserialize(reg.db.serialize(name="main"))
                file_id, slots = (
                    reg.file_id,
                    [replace(s, sealed_register=b"", sealed_vault=b"") for s in reg.header.slots],
                )
    signing = private[demo.CUSTODIAN][2]
    events = []

    def record(action: str, **fields) -> None:
        event = chain.record(body, demo.CUSTODIAN, action, details={k: v for k, v in fields.items() if k != "member"})
        membership.append(
            body,
            file_id,
            fields.pop("kind"),
            demo.CUSTODIAN,
            signing,
            event["seq"],
            event["at"],
            event["at_real"],
            **fields,
        )
        events.append((event, [sg.TRUST]))

    for school in sorted(r[0] for r in body.execute("SELECT id FROM schools")):
        record("school.scope", kind="school", school=school, scope=os.urandom(16).hex())
    state = membership.derive(body)
    for school in (OAK, BROOK):
        head = demo.HEADS[school]
        slot = private[head][0]
        record("person.schools", kind="scope", slot=slot.slot_id.hex(), email=head, schools=[school], reason="upgrade")
    assert state.school_scopes
    return Trust(body.serialize(), file_id, slots, private, demo.CUSTODIAN, events, legacy)


def first(trust: Trust) -> format5.Image:
    body = db.deserialize(trust.body)
    slot, _x, signing = trust.private[trust.custodian]
    return format5.save(body, trust.slots, slot, signing, trust.events, file_id=trust.file_id, legacy=trust.legacy)


def open_as(trust: Trust, email: str, data: bytes) -> opening5.Opened:
    slot, x_private, _ = trust.private[email]
    return opening5.open_image(data, slot.slot_id, x_private)


def heads():
    from accountctl.core import demo

    return demo.HEADS


def test_the_custodian_opens_every_school_row_for_row(trust):
    image = first(trust)
    opened = open_as(trust, trust.custodian, image.data)
    assert opened.schools == opened.all_schools
    source = db.deserialize(trust.body)
    for table in ("accounts", "staff", "incidents", "account_people", "texts", "credentials", "dpias"):
        want = sorted(map(tuple, source.execute(f"SELECT * FROM {table}").fetchall()), key=repr)
        got = sorted(map(tuple, opened.conn.execute(f"SELECT * FROM {table}").fetchall()), key=repr)
        assert got == want, table


def test_a_head_sees_their_school_and_not_the_other_schools_incident(trust):
    """The demo's incidents (a safeguarding concern, an allegation, breaches) are all Oakfield's."""
    image = first(trust)
    source = db.deserialize(trust.body)
    oak_incidents = sorted(
        r[0]
        for r in source.execute(
            "SELECT i.id FROM incidents i JOIN accounts a ON a.id = i.account WHERE a.school = ?", (OAK,)
        )
    )
    assert len(oak_incidents) >= 3
    brook = open_as(trust, heads()[BROOK], image.data)
    assert brook.schools == {BROOK}
    assert brook.conn.execute("SELECT count(*) FROM incidents").fetchone()[0] == 0
    assert brook.conn.execute("SELECT count(*) FROM texts").fetchone()[0] == 0  # nor their erasable texts
    assert brook.conn.execute("SELECT count(*) FROM breach_decisions").fetchone()[0] == 0
    opened = open_as(trust, heads()[OAK], image.data)
    assert opened.schools == {OAK}
    assert sorted(r[0] for r in opened.conn.execute("SELECT id FROM incidents")) == oak_incidents
    assert opened.conn.execute("SELECT count(*) FROM accounts WHERE school != ?", (OAK,)).fetchone()[0] == 0
    assert opened.conn.execute("SELECT count(*) FROM staff WHERE school = ?", (BROOK,)).fetchone()[0] == 0
    # SLT see that passwords are held, never what they are
    assert {
        bytes(r[0]) for r in opened.conn.execute("SELECT password FROM credentials WHERE password IS NOT NULL")
    } <= {b""}
    # the CEO reads both schools, without the vault
    ceo = open_as(trust, _ceo(), image.data)
    assert {OAK, BROOK} <= ceo.schools
    assert {bytes(r[0]) for r in ceo.conn.execute("SELECT password FROM credentials WHERE password IS NOT NULL")} <= {
        b""
    }


def _ceo() -> str:
    from accountctl.core import demo

    return demo.CEO


def test_nothing_of_the_other_school_is_in_the_file_in_the_clear(trust):
    image = first(trust)
    source = db.deserialize(trust.body)
    for (email,) in source.execute("SELECT email FROM staff WHERE school = ?", (BROOK,)):
        assert email.encode() not in image.data
    for (handle,) in source.execute("SELECT handle FROM accounts WHERE school = ?", (BROOK,)):
        assert handle.encode() not in image.data


def test_a_head_with_their_own_keys_gets_only_ciphertext_of_the_other_school(trust):
    from accountctl.store.register import keyrings as kr

    image = first(trust)
    slot, x_private, _ = trust.private[heads()[OAK]]
    ring = kr.open_keyring(x_private, trust.file_id, image.index.keyring(slot.slot_id))
    blobs = image.blobs()
    for entry in image.index.segments:
        if entry.scope in (sg.TRUST, bytes.fromhex(_scope(trust, OAK))):
            continue
        for _epoch, key in ring.values():
            with pytest.raises(DamagedError, match="does not authenticate"):
                sg.open_segment(key, trust.file_id, entry, blobs[entry.seg_id])


def _scope(trust: Trust, school: str) -> str:
    return membership.derive(db.deserialize(trust.body)).school_scopes[school]


def second(trust: Trust, image: format5.Image, school: str) -> tuple[format5.Image, bytes]:
    """A custodian's save that changes one account of `school`: only that school is re-encrypted."""
    body = open_as(trust, trust.custodian, image.data).conn  # the custodian's open, as a command would have it
    account = body.execute("SELECT id FROM accounts WHERE school = ? ORDER BY id", (school,)).fetchone()[0]
    body.execute("UPDATE accounts SET reviewed_on = '2026-12-07' WHERE id = ?", (account,))
    event = chain.record(body, trust.custodian, "account.review", account=account)
    slot, _x, signing = trust.private[trust.custodian]
    scope = bytes.fromhex(_scope(trust, school))
    later = format5.save(body, trust.slots, slot, signing, [(event, [scope])], previous=image, dirty=split.dirty(body))
    return later, body.serialize()


def test_a_save_re_encrypts_only_the_school_that_changed(trust):
    image = first(trust)
    later, _ = second(trust, image, BROOK)
    before = {e.seg_id: e for e in image.index.segments}
    changed = {e.seg_id for e in later.index.segments if before[e.seg_id] != e}
    names = {v: k for k, v in later.seg_ids.items()}
    assert {names[s] for s in changed} == {
        (sg.SCHOOL_RECORDS, bytes.fromhex(_scope(trust, BROOK))),
        (sg.SCHOOL_CREDENTIALS, bytes.fromhex(_scope(trust, BROOK))),
        (sg.TRUST_JOURNAL, sg.TRUST),
    }  # the trust's records did not change: the chain's head is the journal's
    unchanged = image.blobs()
    for seg_id, blob in later.blobs().items():
        if seg_id not in changed:
            assert blob == unchanged[seg_id]  # copied, byte for byte
    opened = open_as(trust, heads()[BROOK], later.data)
    assert opened.conn.execute("SELECT count(*) FROM accounts WHERE reviewed_on = '2026-12-07'").fetchone()[0] == 1
    open_as(trust, heads()[OAK], later.data)  # Oakfield's head checks the whole chain too


def _forge(
    trust: Trust,
    image: format5.Image,
    email: str,
    segments: dict[bytes, tuple[sg.SegmentEntry, bytes]],
    event: dict | None,
    skeletons: list[dict] | None = None,
) -> bytes:
    """What an insider with a slot can write: new segments, a journal re-encrypted under the trust key, a save signed by them."""
    from accountctl.store.register import keyrings as kr

    slot, x_private, signing = trust.private[email]
    ring = kr.open_keyring(x_private, trust.file_id, image.index.keyring(slot.slot_id))
    k_trust = kr.keys_of(ring, sg.TRUST, sg.KEY_K)
    generation = image.header.generation + 1
    blobs = image.blobs()
    entries = []
    for e in image.index.segments:
        if e.seg_id in segments:
            entry, blob = segments[e.seg_id]
            entries.append(entry)
            blobs[e.seg_id] = blob
        else:
            entries.append(e)
    if event is not None:
        skeletons = list(skeletons if skeletons is not None else image.skeletons)
        prev = skeletons[-1]["hash"]
        skeleton, _body = chain.split_event(event, [], os.urandom(16).hex())
        skeleton["wrote"] = [
            [s.hex(), e.kind, e.scope.hex(), e.version, e.digest.hex()] for s, (e, _b) in segments.items()
        ]
        skeleton["prev_hash"] = prev
        skeleton["hash"] = chain.skeleton_hash(skeleton, prev)
        skeleton["signature"] = crypto.sign(signing, chain.skeleton_message(trust.file_id, skeleton["hash"])).hex()
        journal_id = image.seg_ids[(sg.TRUST_JOURNAL, sg.TRUST)]
        entry, blob = sg.seal_segment(
            k_trust,
            trust.file_id,
            journal_id,
            sg.TRUST_JOURNAL,
            sg.TRUST,
            1,
            generation,
            chain.canonical(skeletons + [skeleton]),
        )
        entries = [entry if e.seg_id == journal_id else e for e in entries]
        blobs[journal_id] = blob
    index = sg.Index(generation, image.index.scopes, image.index.keyrings, entries)
    index_bytes = sg.encode_index(index)
    header = replace(
        image.header,
        generation=generation,
        index_len=len(index_bytes),
        index_digest=hashlib.sha256(index_bytes).digest(),
        saved_by=slot.slot_id,
    )
    header.save_signature = crypto.sign(signing, ff5.signed_part(header))
    return ff5.encode_header(header) + index_bytes + b"".join(blobs[e.seg_id] for e in entries)


def _event(trust: Trust, email: str, seq: int) -> dict:
    return {
        "seq": seq,
        "at": "2026-12-07",
        "actor": email,
        "action": "account.review",
        "target": None,
        "account": None,
        "details": {},
        "at_real": "2026-12-07",
    }


def _replayed(trust: Trust, image: format5.Image | None = None) -> tuple[format5.Image, format5.Image, dict, str]:
    """Save 1, save 2 (Brookside changed), and save 1's Brookside records as Oakfield's head would put them back."""
    image = image or first(trust)
    later, _ = second(trust, image, BROOK)
    brook = image.seg_ids[(sg.SCHOOL_RECORDS, bytes.fromhex(_scope(trust, BROOK)))]
    old_entry = next(e for e in image.index.segments if e.seg_id == brook)
    return image, later, {brook: (old_entry, image.blobs()[brook])}, heads()[OAK]


def test_a_head_who_replays_the_other_schools_old_segment_is_caught_by_everyone(trust):
    """Brookside changed at save 2; Oakfield's head puts save 1's Brookside records back and signs the save."""
    image, later, replay, head = _replayed(trust)
    # (1) leaving it out of the history: the index no longer matches what the history last wrote
    quiet = _forge(trust, later, head, replay, None)
    for reader in (trust.custodian, head, heads()[BROOK]):
        with pytest.raises(DamagedError, match="not the one its history last wrote"):
            open_as(trust, reader, quiet)
    # (2) listing it, as a save must: the history says they may not write it
    loud = _forge(trust, later, head, replay, _event(trust, head, later.skeletons[-1]["seq"] + 1))
    for reader in (trust.custodian, head, heads()[BROOK]):
        with pytest.raises(DamagedError, match=f"written by {head}, who may not write it"):
            open_as(trust, reader, loud)


def test_without_its_two_checks_the_replay_would_open(trust, monkeypatch):
    """The attack succeeds when the checks that stop it are taken away: the index against what the
    history last wrote, and (for the replayed school's readers) each event's record against its
    skeleton. Either alone catches this replay: the record of Brookside's review is not in the old segment."""
    image, later, replay, head = _replayed(trust)
    quiet = _forge(trust, later, head, replay, None)
    with monkeypatch.context() as patched:
        patched.setattr(sg, "check_against", lambda known, index: None)
        with pytest.raises(DamagedError, match="record is missing from the school it names"):
            open_as(trust, heads()[BROOK], quiet)
        patched.setattr(chain, "body_problems", lambda *args: [])
        opened = open_as(trust, heads()[BROOK], quiet)
        assert opened.conn.execute("SELECT count(*) FROM accounts WHERE reviewed_on = '2026-12-07'").fetchone()[0] == 0


def test_a_dropped_segment_is_caught(trust):
    image = first(trust)
    creds = image.seg_ids[(sg.SCHOOL_CREDENTIALS, bytes.fromhex(_scope(trust, BROOK)))]
    data = bytearray(image.data)
    header, raw = ff5.parse_header(bytes(data))
    index = replace(image.index, segments=[e for e in image.index.segments if e.seg_id != creds])
    index_bytes = sg.encode_index(index)
    header = replace(header, index_len=len(index_bytes), index_digest=hashlib.sha256(index_bytes).digest())
    blobs = image.blobs()
    forged = ff5.encode_header(header) + index_bytes + b"".join(blobs[e.seg_id] for e in index.segments)
    with pytest.raises(DamagedError, match="exactly one school credentials"):
        open_as(trust, heads()[OAK], forged)


def test_a_save_signed_by_someone_other_than_its_named_saver_is_caught(trust):
    image = first(trust)
    _slot, _x, signing = trust.private[heads()[OAK]]
    header = replace(image.header)
    header.save_signature = crypto.sign(signing, ff5.signed_part(header))  # still names the custodian
    data = ff5.encode_header(header) + image.data[len(ff5.encode_header(image.header)) :]
    with pytest.raises(DamagedError, match="not signed by the key slot it names"):
        open_as(trust, heads()[BROOK], data)


def test_any_flipped_byte_after_the_header_is_caught(trust):
    image = first(trust)
    start = len(ff5.encode_header(image.header))
    for at in (start + 5, start + image.header.index_len + 3, len(image.data) - 1):
        data = bytearray(image.data)
        data[at] ^= 0x40
        with pytest.raises(DamagedError):
            open_as(trust, heads()[OAK], bytes(data))


def test_the_journal_holds_no_school_details(trust):
    image = first(trust)
    later, _ = second(trust, image, BROOK)
    for skeleton in later.skeletons:
        assert set(skeleton) <= {*chain.SKELETON_FIELDS, "prev_hash", "hash", "signature", "format4"}
        assert "account" not in json.dumps(skeleton)


def test_a_head_who_rewrites_an_earlier_event_in_the_journal_is_caught(trust):
    """They hold the trust's key, so they can re-encrypt the journal; they cannot keep the chain whole."""
    image = first(trust)
    later, _ = second(trust, image, BROOK)
    head = heads()[OAK]

    def rewrite(skeletons):
        n = next(i for i, s in enumerate(skeletons) if not s.get("format4") and not s["legacy"])
        skeletons[n]["actor"] = head  # an earlier event, said to be theirs

    forged = _rewrite_journal(trust, later, head, rewrite)
    with pytest.raises(DamagedError, match="history does not verify: event .* was altered"):
        open_as(trust, heads()[BROOK], forged)


def test_a_slot_the_header_does_not_hold_opens_nothing(trust):
    image = first(trust)
    _slot, x_private, _ = trust.private[heads()[OAK]]
    with pytest.raises(DamagedError, match="has no keyring"):
        opening5.open_image(image.data, os.urandom(16), x_private)


def test_a_save_by_a_head_that_changes_only_their_school_is_accepted(trust):
    """What a head may do, they can: the rules refuse only what their grant does not give."""
    from accountctl.store.register import keyrings as kr

    image = first(trust)
    head = heads()[OAK]
    slot, x_private, _signing = trust.private[head]
    ring = kr.open_keyring(x_private, trust.file_id, image.index.keyring(slot.slot_id))
    oak = bytes.fromhex(_scope(trust, OAK))
    seg_id = image.seg_ids[(sg.SCHOOL_RECORDS, oak)]
    old = next(e for e in image.index.segments if e.seg_id == seg_id)
    records = sg.open_segment(kr.keys_of(ring, oak, sg.KEY_K), trust.file_id, old, image.blobs()[seg_id])
    entry, blob = sg.seal_segment(
        kr.keys_of(ring, oak, sg.KEY_K), trust.file_id, seg_id, sg.SCHOOL_RECORDS, oak, 1, 2, records
    )
    event = _event(trust, head, image.skeletons[-1]["seq"] + 1)
    data = _forge(trust, image, head, {seg_id: (entry, blob)}, event)
    assert open_as(trust, heads()[BROOK], data).schools == {BROOK}


def test_an_agent_swaps_in_only_the_school_another_process_changed(trust):
    """After someone else's save changed Brookside, the held database takes Brookside's new segment
    and then equals a fresh open, row for row; nothing is left to save."""
    from accountctl.store.register import keyrings as kr

    image = first(trust)
    held = open_as(trust, trust.custodian, image.data)
    later, _ = second(trust, image, BROOK)
    scope = bytes.fromhex(_scope(trust, BROOK))
    slot, x_private, _ = trust.private[trust.custodian]
    ring = kr.open_keyring(x_private, trust.file_id, later.index.keyring(slot.slot_id))
    parts = []
    for kind in (sg.SCHOOL_RECORDS, sg.SCHOOL_CREDENTIALS):
        entry = next(e for e in later.index.segments if e.kind == kind and e.scope == scope)
        parts.append(
            sg.open_segment(kr.keys_of(ring, scope, entry.key_kind), trust.file_id, entry, later.blobs()[entry.seg_id])
        )
    split.replace_school(held.conn, BROOK, *parts)
    fresh = open_as(trust, trust.custodian, later.data)
    for table in split.ROUTES:
        want = sorted(map(tuple, fresh.conn.execute(f"SELECT * FROM {table}").fetchall()), key=repr)
        got = sorted(map(tuple, held.conn.execute(f"SELECT * FROM {table}").fetchall()), key=repr)
        assert got == want, table
    assert split.dirty(held.conn) == set()


def test_a_move_reseals_the_moved_heads_keyring_at_the_next_save(trust):
    """Oakfield's head moves to Brookside: their next open reads Brookside, not Oakfield; nobody
    else's keyring changes. (Without a rotation, the key of Oakfield they held still works: below.)"""
    image = first(trust)
    later, _kept = _move_head_out(trust, image, rotate=set())
    head, other = trust.private[heads()[OAK]][0].slot_id, trust.private[heads()[BROOK]][0].slot_id
    assert later.index.keyring(head) != image.index.keyring(head)
    assert later.index.keyring(other) == image.index.keyring(other)
    assert open_as(trust, heads()[OAK], later.data).schools == {BROOK}
    assert open_as(trust, heads()[BROOK], later.data).schools == {BROOK}


def _move_head_out(trust: Trust, image: format5.Image, rotate: set[bytes]) -> tuple[format5.Image, bytes]:
    """Oakfield's head moves to Brookside; Oakfield then changes. Returns the save, and the Oakfield
    key the head held before the move (anyone can copy their keys while they have them)."""
    from accountctl.store.register import keyrings as kr

    head = heads()[OAK]
    oak = bytes.fromhex(_scope(trust, OAK))
    slot_h, x_h, _ = trust.private[head]
    kept = kr.keys_of(kr.open_keyring(x_h, trust.file_id, image.index.keyring(slot_h.slot_id)), oak, sg.KEY_K)
    body = open_as(trust, trust.custodian, image.data).conn
    slot, _x, signing = trust.private[trust.custodian]
    event = chain.record(body, trust.custodian, "person.schools", head)
    membership.append(
        body,
        trust.file_id,
        "scope",
        trust.custodian,
        signing,
        event["seq"],
        event["at"],
        event["at_real"],
        slot=slot_h.slot_id.hex(),
        email=head,
        schools=[BROOK],
        reason="move",
    )
    account = body.execute("SELECT id FROM accounts WHERE school = ? ORDER BY id", (OAK,)).fetchone()[0]
    body.execute("UPDATE accounts SET reviewed_on = '2026-12-08' WHERE id = ?", (account,))
    review = chain.record(body, trust.custodian, "account.review", account=account)
    later = format5.save(
        body,
        trust.slots,
        slot,
        signing,
        [(event, [sg.TRUST]), (review, [oak])],
        previous=image,
        dirty=split.dirty(body),
        rotate=rotate,
    )
    return later, kept


def test_a_head_moved_away_keeps_reading_their_old_school_unless_its_key_is_rotated(trust):
    """The attack first: without a rotation, the Oakfield key they kept opens what Oakfield writes next."""
    image = first(trust)
    oak = bytes.fromhex(_scope(trust, OAK))
    later, kept = _move_head_out(trust, image, rotate=set())
    entry = next(e for e in later.index.segments if e.kind == sg.SCHOOL_RECORDS and e.scope == oak)
    assert b"2026-12-08" in sg.open_segment(kept, trust.file_id, entry, later.blobs()[entry.seg_id])


def test_rotating_the_old_school_shuts_out_the_key_they_kept(trust):
    from accountctl.store.register import keyrings as kr

    image = first(trust)
    oak = bytes.fromhex(_scope(trust, OAK))
    later, kept = _move_head_out(trust, image, rotate={oak})
    for entry in later.index.segments:
        if entry.scope == oak:
            assert entry.epoch == 2
            with pytest.raises(DamagedError, match="does not authenticate"):
                sg.open_segment(kept, trust.file_id, entry, later.blobs()[entry.seg_id])
    with pytest.raises(DamagedError, match="does not use"):
        kr.check_key_ids({(oak, sg.KEY_K): (1, kept)}, later.index, trust.file_id, bytes(16))
    # everyone who still reads Oakfield does, and the moved head reads Brookside
    custodian = open_as(trust, trust.custodian, later.data)
    assert custodian.conn.execute("SELECT count(*) FROM accounts WHERE reviewed_on = '2026-12-08'").fetchone()[0] == 1
    assert open_as(trust, heads()[OAK], later.data).schools == {BROOK}
    assert open_as(trust, _ceo(), later.data).schools >= {OAK, BROOK}
    # other schools' segments were copied as they were
    brook = bytes.fromhex(_scope(trust, BROOK))
    before = {e.seg_id: e for e in image.index.segments}
    assert all(before[e.seg_id] == e for e in later.index.segments if e.scope == brook)


def test_the_format_4_history_is_carried_over_and_checked_by_each_school(trust):
    image = first(trust)
    assert len(trust.legacy) > 100
    assert [s["seq"] for s in image.skeletons[: len(trust.legacy)]] == [e["seq"] for e in trust.legacy]
    assert image.skeletons[len(trust.legacy)]["legacy"] == chain.legacy_root(image.skeletons)
    open_as(trust, trust.custodian, image.data)  # every body against its format-4 hash, every signature
    brook = open_as(trust, heads()[BROOK], image.data)
    mine = format5._bodies_in(brook.plain[bytes.fromhex(_scope(trust, BROOK))][0])
    assert len(mine) > 0  # Brookside's own history, checked by Brookside's head
    source = db.deserialize(trust.body)
    oak_accounts = {r[0] for r in source.execute("SELECT id FROM accounts WHERE school = ?", (OAK,))}
    for text in brook.texts().values():
        assert json.loads(text)["account"] not in oak_accounts  # none of Oakfield's history


def _rewrite_journal(trust: Trust, image: format5.Image, email: str, change) -> bytes:
    from accountctl.store.register import keyrings as kr

    slot, x_private, _ = trust.private[email]
    ring = kr.open_keyring(x_private, trust.file_id, image.index.keyring(slot.slot_id))
    skeletons = json.loads(chain.canonical(image.skeletons))
    change(skeletons)
    journal_id = image.seg_ids[(sg.TRUST_JOURNAL, sg.TRUST)]
    old = next(e for e in image.index.segments if e.seg_id == journal_id)
    key = kr.keys_of(ring, sg.TRUST, sg.KEY_K)
    entry, blob = sg.seal_segment(
        key, trust.file_id, journal_id, sg.TRUST_JOURNAL, sg.TRUST, old.epoch, old.version, chain.canonical(skeletons)
    )
    return _forge(trust, image, email, {journal_id: (entry, blob)}, None)


def test_a_head_who_hides_an_old_event_from_its_school_is_caught(trust):
    """Oakfield's head re-files one of Brookside's format-4 events under the trust, so Brookside's
    readers would not look for its record: the upgrade's commitment to the old events breaks."""
    image = first(trust)
    brook = _scope(trust, BROOK)
    n = next(i for i, s in enumerate(image.skeletons) if s.get("format4") and s["scopes"] == [brook])

    def hide(skeletons):
        skeletons[n]["scopes"] = [sg.TRUST.hex()]

    forged = _rewrite_journal(trust, image, heads()[OAK], hide)
    with pytest.raises(DamagedError, match="events from before the upgrade were changed"):
        open_as(trust, heads()[BROOK], forged)


def _rewrite_own_records(trust: Trust, image: format5.Image, school: str, change) -> tuple[bytes, tuple, int]:
    """What a school's head can do to their own school's records segment: `change(conn)` returns the event it touched."""
    from accountctl.store.register import keyrings as kr

    scope = bytes.fromhex(_scope(trust, school))
    slot, x_private, _ = trust.private[heads()[school]]
    key = kr.keys_of(kr.open_keyring(x_private, trust.file_id, image.index.keyring(slot.slot_id)), scope, sg.KEY_K)
    seg_id = image.seg_ids[(sg.SCHOOL_RECORDS, scope)]
    old = next(e for e in image.index.segments if e.seg_id == seg_id)
    conn = sqlite3.connect(":memory:")
    conn.deserialize(sg.open_segment(key, trust.file_id, old, image.blobs()[seg_id]))
    seq = change(conn)
    conn.commit()
    gen = image.header.generation + 1
    sealed = sg.seal_segment(key, trust.file_id, seg_id, sg.SCHOOL_RECORDS, scope, old.epoch, gen, conn.serialize())
    return seg_id, sealed, seq


def test_an_old_event_whose_record_was_altered_is_caught_by_its_school(trust):
    """Brookside's head (who may write Brookside) changes an old event's record in their own school:
    it no longer hashes to the format-4 hash the chain keeps."""
    image = first(trust)
    head = heads()[BROOK]

    def alter(conn):
        seq, text = conn.execute("SELECT seq, body FROM event_bodies ORDER BY seq LIMIT 1").fetchone()
        changed = json.loads(text)
        changed["details"] = {"note": "nothing happened"}
        conn.execute("UPDATE event_bodies SET body = ? WHERE seq = ?", (json.dumps(changed), seq))
        return seq

    seg_id, sealed, seq = _rewrite_own_records(trust, image, BROOK, alter)
    forged = _forge(trust, image, head, {seg_id: sealed}, _event(trust, head, image.skeletons[-1]["seq"] + 1))
    with pytest.raises(DamagedError, match=f"event {seq}'s record was altered"):
        open_as(trust, trust.custodian, forged)


def test_a_head_who_erases_an_old_event_of_their_own_school_is_caught(trust, monkeypatch):
    """Brookside's head may write Brookside: they delete an old event's record there and file its
    skeleton under no school, so no reader would look for it. Only the upgrade's commitment to the
    format-4 events catches it, and without that check it opens: the attack is real."""
    image = first(trust)
    head = heads()[BROOK]

    def erase(conn):
        (seq,) = conn.execute("SELECT min(seq) FROM event_bodies").fetchone()
        conn.execute("DELETE FROM event_bodies WHERE seq = ?", (seq,))
        return seq

    seg_id, sealed, seq = _rewrite_own_records(trust, image, BROOK, erase)
    skeletons = json.loads(chain.canonical(image.skeletons))
    next(s for s in skeletons if s["seq"] == seq)["scopes"] = []
    event = _event(trust, head, image.skeletons[-1]["seq"] + 1)
    forged = _forge(trust, image, head, {seg_id: sealed}, event, skeletons)
    for reader in (trust.custodian, head, heads()[OAK]):
        with pytest.raises(DamagedError, match="events from before the upgrade were changed"):
            open_as(trust, reader, forged)
    monkeypatch.setattr(chain, "legacy_root", lambda skeletons: image.skeletons[len(trust.legacy)]["legacy"])
    assert open_as(trust, trust.custodian, forged).schools


def test_a_machine_checks_only_what_is_new_since_its_last_open(trust, monkeypatch):
    """Once checked, an open verifies no old signature again (42 ms of a head's open at the large trust)."""
    image = first(trust)
    slot, x_private, _ = trust.private[heads()[BROOK]]
    before = opening5.open_image(image.data, slot.slot_id, x_private)
    later, _ = second(trust, image, BROOK)
    calls = []
    real = crypto.verify_signature
    monkeypatch.setattr(crypto, "verify_signature", lambda *a: calls.append(1) or real(*a))
    after = opening5.open_image(later.data, slot.slot_id, x_private, before.checked)
    assert len(calls) == 2  # the save's header and its one new event; no membership record again
    assert after.checked.seq == later.skeletons[-1]["seq"]
    assert after.conn.execute("SELECT count(*) FROM accounts WHERE reviewed_on = '2026-12-07'").fetchone()[0] == 1
    calls.clear()
    opening5.open_image(later.data, slot.slot_id, x_private)
    assert len(calls) > 20  # from nothing: every membership record and every save (30 on the demo)


def test_history_rewritten_before_what_a_machine_checked_is_caught(trust):
    """A head rewrites an early event and rehashes everything after it, signing it all as theirs:
    a machine that checked the history before finds the event it stopped at changed."""
    image = first(trust)
    later, _ = second(trust, image, BROOK)
    reader_slot, reader_x, _ = trust.private[heads()[BROOK]]
    seen = opening5.open_image(later.data, reader_slot.slot_id, reader_x)

    def rewrite(skeletons):
        n = len(trust.legacy) + 1
        skeletons[n]["at_real"] = "2026-01-01T00:00:00Z"
        prev = skeletons[n - 1]["hash"]
        for skeleton in skeletons[n:]:
            skeleton["prev_hash"] = prev
            skeleton["hash"] = prev = chain.skeleton_hash(skeleton, prev)

    forged = _rewrite_journal(trust, later, heads()[OAK], rewrite)
    with pytest.raises(DamagedError, match="not the one this machine checked"):
        opening5.open_image(forged, reader_slot.slot_id, reader_x, seen.checked)
    with pytest.raises(DamagedError, match="not signed by them|does not verify"):
        opening5.open_image(forged, reader_slot.slot_id, reader_x)  # and from nothing, the signatures fail


def test_a_replay_after_what_a_machine_checked_is_still_caught(trust):
    image = first(trust)
    slot, x_private, _ = trust.private[heads()[BROOK]]
    seen = opening5.open_image(image.data, slot.slot_id, x_private)
    _, later, replay, head = _replayed(trust, image)
    quiet = _forge(trust, later, head, replay, None)
    with pytest.raises(DamagedError, match="not the one its history last wrote"):
        opening5.open_image(quiet, slot.slot_id, x_private, seen.checked)


def test_a_read_only_open_refuses_every_write(trust):
    image = first(trust)
    slot, x_private, _ = trust.private[heads()[OAK]]
    opened = opening5.open_image(image.data, slot.slot_id, x_private, write=False)
    assert opened.conn.execute("SELECT count(*) FROM accounts").fetchone()[0] > 0
    with pytest.raises(sqlite3.OperationalError, match="readonly|read-only|query_only"):
        opened.conn.execute("UPDATE accounts SET reviewed_on = '2026-12-10'")


def _account(trust: Trust, school: str) -> str:
    source = db.deserialize(trust.body)
    return source.execute(
        "SELECT a.id FROM accounts a JOIN credentials c ON c.account = a.id WHERE a.school = ? ORDER BY a.id DESC",
        (school,),
    ).fetchone()[0]


def test_the_lookup_finds_an_accounts_school_so_only_that_school_is_opened(trust):
    """What `otp ID` and `cred show ID` need: one school's segments, not every school's."""
    image = first(trust)
    slot, x_private, _ = trust.private[trust.custodian]
    account = _account(trust, BROOK)
    opened = opening5.open_image(image.data, slot.slot_id, x_private, find=("account", account))
    assert opened.schools == {BROOK}
    assert opened.conn.execute("SELECT count(*) FROM credentials WHERE account = ?", (account,)).fetchone()[0] == 1
    # a head's key makes no tag of another school's ids: they get their own school, as without a hint
    head = trust.private[heads()[OAK]]
    assert opening5.open_image(image.data, head[0].slot_id, head[1], find=("account", account)).schools == {OAK}
    # an id nobody holds: every school the person reads
    assert opening5.open_image(image.data, slot.slot_id, x_private, find=("account", "no-such")).schools >= {OAK, BROOK}


def test_a_new_account_reaches_the_lookup_at_the_next_save_and_nothing_else_rewrites_it(trust):
    image = first(trust)
    later, _ = second(trust, image, BROOK)  # a review: no id added
    lookup = image.seg_ids[(sg.TRUST_LOOKUP, sg.TRUST)]
    assert next(e for e in later.index.segments if e.seg_id == lookup).version == 1
    body = open_as(trust, trust.custodian, later.data).conn
    body.execute(
        "INSERT INTO accounts (id, school, platform, handle, category, status, requested_at) "
        "VALUES ('brookside-x-new', ?, 'x', 'new', 'school', 'requested', '2026-12-07')",
        (BROOK,),
    )
    event = chain.record(body, trust.custodian, "account.request", account="brookside-x-new")
    slot, x_private, signing = trust.private[trust.custodian]
    scope = bytes.fromhex(_scope(trust, BROOK))
    third = format5.save(body, trust.slots, slot, signing, [(event, [scope])], previous=later, dirty=split.dirty(body))
    assert next(e for e in third.index.segments if e.seg_id == lookup).version == third.header.generation
    assert opening5.open_image(third.data, slot.slot_id, x_private, find=("account", "brookside-x-new")).schools == {
        BROOK
    }


def _reveal(trust: Trust, image: format5.Image, school: str, seq_shift: int = 0) -> bytes:
    """A custodian's `cred show` of one of `school`'s accounts, appended as a tail record (F9)."""
    from accountctl.store import fileformat as ff, tail5
    from accountctl.store.register import keyrings as kr

    slot, x_private, signing = trust.private[trust.custodian]
    ring = kr.open_keyring(x_private, trust.file_id, image.index.keyring(slot.slot_id))
    scope = bytes.fromhex(_scope(trust, school))
    last = image.skeletons[-1]
    event = {
        "seq": last["seq"] + 1 + seq_shift,
        "at": "2026-12-07T12:00:00Z",
        "actor": trust.custodian,
        "action": "credential.reveal",
        "target": None,
        "account": _account(trust, school),
        "details": {},
        "at_real": "2026-12-07T12:00:00Z",
    }
    skeleton, body = chain.split_event(event, [scope.hex()], os.urandom(16).hex())
    skeleton["prev_hash"] = last["hash"]
    skeleton["hash"] = chain.skeleton_hash(skeleton, last["hash"])
    skeleton["signature"] = crypto.sign(signing, chain.skeleton_message(trust.file_id, skeleton["hash"])).hex()
    raw_header = ff5.encode_header(image.header)
    record = tail5.seal(
        raw_header,
        0,
        kr.keys_of(ring, sg.TRUST, sg.KEY_K),
        scope,
        kr.keys_of(ring, scope, sg.KEY_K),
        [skeleton],
        [body],
    )
    return image.data + ff.tail_record(record)


def test_a_reveal_is_recorded_without_a_save_and_checked_by_each_reader(trust):
    image = first(trust)
    data = _reveal(trust, image, BROOK)
    brook = open_as(trust, heads()[BROOK], data)
    assert brook.tail.bodies and not brook.tail.unread  # Brookside's head checked the record of the reveal
    oak = open_as(trust, heads()[OAK], data)
    assert oak.tail.skeletons and oak.tail.unread == {bytes.fromhex(_scope(trust, BROOK))}
    assert [s["seq"] for s in brook.tail.skeletons] == [image.skeletons[-1]["seq"] + 1]
    assert brook.checked.seq == image.skeletons[-1]["seq"]  # what a machine keeps is the saved history


def test_a_reveal_moved_to_another_save_or_out_of_the_chain_is_caught(trust):
    from accountctl.store import fileformat as ff

    image = first(trust)
    later, _ = second(trust, image, BROOK)
    record = _reveal(trust, image, BROOK)[len(image.data) :]
    with pytest.raises(DamagedError, match="does not open"):
        open_as(trust, heads()[BROOK], later.data + record)  # bound to the header it followed
    gap = _reveal(trust, image, BROOK, seq_shift=1)
    with pytest.raises(DamagedError, match="history does not verify"):
        open_as(trust, heads()[OAK], gap)
    assert ff.split_tail(record)[0]  # the record itself is whole


def test_the_next_save_folds_the_reveal_in(trust):
    image = first(trust)
    data = _reveal(trust, image, BROOK)
    opened = open_as(trust, trust.custodian, data)
    conn = opened.conn
    account = conn.execute("SELECT id FROM accounts WHERE school = ? ORDER BY id", (OAK,)).fetchone()[0]
    conn.execute("UPDATE accounts SET reviewed_on = '2026-12-11' WHERE id = ?", (account,))
    event = chain.record(conn, trust.custodian, "account.review", account=account)
    slot, _x, signing = trust.private[trust.custodian]
    oak = bytes.fromhex(_scope(trust, OAK))
    later = format5.save(
        conn, trust.slots, slot, signing, [(event, [oak])], previous=image, dirty=split.dirty(conn), tail=opened.tail
    )
    reveal_seq = opened.tail.skeletons[0]["seq"]
    assert [s["seq"] for s in later.skeletons[-2:]] == [reveal_seq, reveal_seq + 1]
    brook = open_as(trust, heads()[BROOK], later.data)  # the reveal's record is now in Brookside's segment
    assert brook.tail.skeletons == []
    assert reveal_seq in brook.texts()


def _oak_saves_after_brookside_reveal(trust: Trust, change=None) -> tuple[format5.Image, int]:
    """Oakfield's head saves (as the store does, or with `change(tail)` first) after a reveal of Brookside's."""
    image = first(trust)
    data = _reveal(trust, image, BROOK)
    opened = open_as(trust, heads()[OAK], data)
    if change is not None:
        change(opened.tail)
    slot, _x, signing = trust.private[heads()[OAK]]
    event = chain.record(opened.conn, heads()[OAK], "account.review")
    later = format5.save(
        opened.conn,
        trust.slots,
        slot,
        signing,
        [(event, [sg.TRUST])],
        previous=opened.as_image(data),
        dirty=split.dirty(opened.conn),
        state=opened.membership,
        dirty_vault=set(),
        tail=opened.tail,
        loaded=opened.schools,
    )
    return later, opened.tail.skeletons[0]["seq"]


def test_a_reveal_another_school_cannot_read_is_carried_forward_sealed_until_its_school_folds_it(trust):
    """F9's way out: Oakfield's head saves after a Brookside reveal; its record stays sealed for Brookside."""
    later, reveal_seq = _oak_saves_after_brookside_reveal(trust)
    assert [s["seq"] for s in later.skeletons[-2:]] == [reveal_seq, reveal_seq + 1]
    brook = open_as(trust, heads()[BROOK], later.data)  # Brookside's head checks the carried record's body
    assert reveal_seq in brook.texts() and brook.tail.skeletons == []
    assert reveal_seq not in open_as(trust, heads()[OAK], later.data).texts()
    # A custodian's save (every school loaded) folds it into Brookside's records segment.
    custodian = open_as(trust, trust.custodian, later.data)
    slot, _x, signing = trust.private[trust.custodian]
    event = chain.record(custodian.conn, trust.custodian, "account.review")
    folded = format5.save(
        custodian.conn,
        trust.slots,
        slot,
        signing,
        [(event, [sg.TRUST])],
        previous=custodian.as_image(later.data),
        dirty=split.dirty(custodian.conn),
        state=custodian.membership,
        dirty_vault=set(),
    )
    assert opening5.pending(open_as(trust, trust.custodian, folded.data).conn) == []
    assert opening5.pending(open_as(trust, heads()[OAK], later.data).conn)  # before: carried in the trust's records
    brook = open_as(trust, heads()[BROOK], folded.data)
    scope = bytes.fromhex(_scope(trust, BROOK))
    assert reveal_seq in format5._bodies_in(brook.plain[scope][0])  # now in Brookside's own segment


def test_a_carried_record_moved_to_another_school_or_altered_is_caught(trust):
    def move(tail):
        tail.sealed[0] = (tail.sealed[0][0], tail.sealed[0][1], 1, *tail.sealed[0][3:])  # another place `k`

    later, _ = _oak_saves_after_brookside_reveal(trust, move)
    with pytest.raises(DamagedError, match="carried forward does not open"):
        open_as(trust, heads()[BROOK], later.data)


@pytest.mark.parametrize("cut", [0, 10, 17, 40, -1])
def test_a_damaged_tail_record_is_damage_not_a_crash(trust, cut):
    from accountctl.store import fileformat as ff

    image = first(trust)
    record = _reveal(trust, image, BROOK)[len(image.data) + 4 :]
    damaged = record[:cut] if cut >= 0 else record[:-1] + bytes([record[-1] ^ 1])
    if len(damaged) < 28:
        damaged = damaged + bytes(28 - len(damaged))  # the framing's smallest record
    with pytest.raises(DamagedError, match="does not open"):
        open_as(trust, heads()[BROOK], image.data + ff.tail_record(damaged))


def test_a_head_saves_their_own_school_with_their_own_keys_only(trust):
    """The save a command will make: opened with the head's slot, saved with the keys in their keyring."""
    image = first(trust)
    opened = open_as(trust, heads()[OAK], image.data)
    conn = opened.conn
    account = conn.execute("SELECT id FROM accounts WHERE school = ? ORDER BY id", (OAK,)).fetchone()[0]
    conn.execute("UPDATE accounts SET reviewed_on = '2026-12-12' WHERE id = ?", (account,))
    event = chain.record(conn, heads()[OAK], "account.review", account=account)
    slot, _x, signing = trust.private[heads()[OAK]]
    oak = bytes.fromhex(_scope(trust, OAK))
    previous = opened.as_image(image.data)
    assert (bytes.fromhex(_scope(trust, BROOK)), sg.KEY_K) not in previous.keys
    later = format5.save(
        conn,
        trust.slots,
        slot,
        signing,
        [(event, [oak])],
        previous=previous,
        dirty=split.dirty(conn),
        base=opened.plain,
        state=opened.membership,
        dirty_vault=split.dirty_vaults(conn),
    )
    custodian = open_as(trust, trust.custodian, later.data)  # the vault MAC carried over; every check holds
    assert custodian.conn.execute("SELECT count(*) FROM accounts WHERE reviewed_on = '2026-12-12'").fetchone()[0] == 1
    brook = bytes.fromhex(_scope(trust, BROOK))
    before = {e.seg_id: e for e in image.index.segments}
    assert all(before[e.seg_id] == e for e in later.index.segments if e.scope == brook)
    assert later.header.vault_mac == image.header.vault_mac


def test_a_heads_save_that_would_write_another_school_is_refused(trust):
    from accountctl.errors import AccessError

    image = first(trust)
    opened = open_as(trust, heads()[OAK], image.data)
    slot, _x, signing = trust.private[heads()[OAK]]
    event = chain.record(opened.conn, heads()[OAK], "account.review")
    brook = bytes.fromhex(_scope(trust, BROOK))
    with pytest.raises(AccessError, match="your key does not open brookside"):
        format5.save(
            opened.conn,
            trust.slots,
            slot,
            signing,
            [(event, [sg.TRUST])],
            previous=opened.as_image(image.data),
            dirty={BROOK},
            state=opened.membership,
            dirty_vault=set(),
        )
    with pytest.raises(AccessError, match="your key does not open"):  # a rotation needs every key
        format5.save(
            opened.conn,
            trust.slots,
            slot,
            signing,
            [(event, [sg.TRUST])],
            previous=opened.as_image(image.data),
            dirty=set(),
            rotate={brook},
            state=opened.membership,
        )


def test_a_machine_that_checked_a_register_with_a_reveal_opens_it_again(trust):
    """What it checked is the saved history; the reveal after it is checked again on every open."""
    image = first(trust)
    data = _reveal(trust, image, BROOK)
    slot, x_private, _ = trust.private[heads()[BROOK]]
    seen = opening5.open_image(data, slot.slot_id, x_private)
    again = opening5.open_image(data, slot.slot_id, x_private, seen.checked)
    assert again.tail.bodies and again.checked == seen.checked


def test_a_head_who_drops_another_schools_carried_reveal_is_caught_by_that_school(trust):
    """Oakfield's head can rewrite the trust's records, list and all: the reveal's skeleton stays in the signed
    chain, so Brookside's readers find its record missing."""
    later, _ = _oak_saves_after_brookside_reveal(trust, lambda tail: tail.sealed.clear())  # not carried forward
    with pytest.raises(DamagedError, match="missing"):
        open_as(trust, heads()[BROOK], later.data)
    open_as(trust, heads()[OAK], later.data)  # Oakfield's readers cannot tell: it is not theirs to check


def _rows(conn) -> dict[str, list]:
    return {t: sorted(map(tuple, conn.execute(f"SELECT * FROM {t}").fetchall()), key=repr) for t in split.tables(conn)}


def _opened_scopes(monkeypatch) -> list[tuple[int, bytes]]:
    """Every segment decrypted from now on: (kind, scope)."""
    seen, real = [], sg.open_segment

    def counting(key, file_id, entry, blob):
        seen.append((entry.kind, entry.scope))
        return real(key, file_id, entry, blob)

    monkeypatch.setattr(sg, "open_segment", counting)
    return seen


def test_a_reopen_after_another_save_decrypts_only_the_school_that_changed(trust, monkeypatch):
    """The agent's case: its held open takes the new generation by swapping in Brookside alone, and
    then equals a fresh open, table for table."""
    image = first(trust)
    slot, x_private, _ = trust.private[trust.custodian]
    held = opening5.open_image(image.data, slot.slot_id, x_private, write=False)
    later, _ = second(trust, image, BROOK)
    seen = _opened_scopes(monkeypatch)
    again = opening5.open_image(later.data, slot.slot_id, x_private, write=False, reuse=held)
    schools = {scope for kind, scope in seen if kind in (sg.SCHOOL_RECORDS, sg.SCHOOL_CREDENTIALS)}
    assert schools == {bytes.fromhex(_scope(trust, BROOK))}
    assert (sg.TRUST_RECORDS, sg.TRUST) not in seen
    assert again.conn is held.conn
    fresh = opening5.open_image(later.data, slot.slot_id, x_private, write=False)
    assert _rows(again.conn) == _rows(fresh.conn)
    assert again.conn.execute("SELECT count(*) FROM accounts WHERE reviewed_on = '2026-12-07'").fetchone()[0] == 1
    with pytest.raises(sqlite3.OperationalError, match="readonly"):  # read-only again, as any reader's open
        again.conn.execute("DELETE FROM accounts")


def test_a_reopen_after_the_trusts_records_changed_reads_everything_again(trust, monkeypatch):
    image = first(trust)
    slot, x_private, signing = trust.private[trust.custodian]
    held = opening5.open_image(image.data, slot.slot_id, x_private, write=False)
    body = open_as(trust, trust.custodian, image.data).conn
    body.execute("UPDATE schools SET name = 'Brookside Academy Trust School' WHERE id = ?", (BROOK,))
    event = chain.record(body, trust.custodian, "school.update", target=BROOK)
    later = format5.save(
        body, trust.slots, slot, signing, [(event, [sg.TRUST])], previous=image, dirty=split.dirty(body)
    )
    seen = _opened_scopes(monkeypatch)
    again = opening5.open_image(later.data, slot.slot_id, x_private, write=False, reuse=held)
    assert again.conn is not held.conn and (sg.TRUST_RECORDS, sg.TRUST) in seen
    assert again.conn.execute("SELECT name FROM schools WHERE id = ?", (BROOK,)).fetchone()[0].endswith("Trust School")


def test_a_reopen_still_catches_a_replayed_segment(trust):
    """Oakfield's head puts save 1's Brookside records back: the reopen runs every check a fresh open
    does, from the event the held open checked, and refuses it."""
    image, later, replay, head = _replayed(trust)
    quiet = _forge(trust, later, head, replay, None)
    loud = _forge(trust, later, head, replay, _event(trust, head, later.skeletons[-1]["seq"] + 1))
    for reader in (trust.custodian, heads()[BROOK]):
        slot, x_private, _ = trust.private[reader]
        for forged, match in ((quiet, "not the one its history last wrote"), (loud, "who may not write it")):
            held = opening5.open_image(image.data, slot.slot_id, x_private, write=False)
            with pytest.raises(DamagedError, match=match):
                opening5.open_image(forged, slot.slot_id, x_private, write=False, reuse=held)


def test_a_reopen_from_an_open_of_one_account_reads_every_school(trust):
    """An open that loaded one school (`find`) has only that school to keep: the reopen loads the others."""
    image = first(trust)
    slot, x_private, _ = trust.private[trust.custodian]
    checked = opening5.open_image(image.data, slot.slot_id, x_private, write=False).checked  # checked here before
    one = ("account", _account(trust, OAK))
    held = opening5.open_image(image.data, slot.slot_id, x_private, checked, write=False, find=one)
    assert held.schools == {OAK} and held.checked == checked
    later, _ = second(trust, image, BROOK)
    again = opening5.open_image(later.data, slot.slot_id, x_private, write=False, reuse=held)
    fresh = opening5.open_image(later.data, slot.slot_id, x_private, write=False)
    assert _rows(again.conn) == _rows(fresh.conn)


def test_a_reopen_of_an_older_copy_is_caught_as_a_rollback(trust):
    image = first(trust)
    later, _ = second(trust, image, BROOK)
    slot, x_private, _ = trust.private[heads()[BROOK]]
    held = opening5.open_image(later.data, slot.slot_id, x_private, write=False)
    with pytest.raises(DamagedError, match="rolled back"):
        opening5.open_image(image.data, slot.slot_id, x_private, write=False, reuse=held)


def test_the_first_save_after_an_open_rewrites_the_lookup_only_if_an_id_changed(trust):
    """A command is a process of its own: its save starts from an open, which knows no digests of ids.
    A review keeps the megabyte-sized lookup as it was; a new account rewrites it."""
    image = first(trust)
    slot, x_private, signing = trust.private[trust.custodian]
    scope = bytes.fromhex(_scope(trust, BROOK))
    lookup = image.seg_ids[(sg.TRUST_LOOKUP, sg.TRUST)]

    def save(change) -> format5.Image:
        opened = opening5.open_image(image.data, slot.slot_id, x_private)
        event = change(opened.conn)
        return format5.save(
            opened.conn,
            trust.slots,
            slot,
            signing,
            [(event, [scope])],
            previous=opened.as_image(image.data),
            dirty=split.dirty(opened.conn),
            base=opened.plain,
        )

    def review(body):
        account = body.execute("SELECT id FROM accounts WHERE school = ? ORDER BY id", (BROOK,)).fetchone()[0]
        body.execute("UPDATE accounts SET reviewed_on = '2026-12-07' WHERE id = ?", (account,))
        return chain.record(body, trust.custodian, "account.review", account=account)

    def request(body):
        body.execute(
            "INSERT INTO accounts (id, school, platform, handle, category, status, requested_at) "
            "VALUES ('brookside-x-new', ?, 'x', 'new', 'school', 'requested', '2026-12-07')",
            (BROOK,),
        )
        return chain.record(body, trust.custodian, "account.request", account="brookside-x-new")

    reviewed = save(review)
    assert next(e for e in reviewed.index.segments if e.seg_id == lookup).version == 1
    requested = save(request)
    assert next(e for e in requested.index.segments if e.seg_id == lookup).version == requested.header.generation
    found = opening5.open_image(requested.data, slot.slot_id, x_private, find=("account", "brookside-x-new"))
    assert found.schools == {BROOK}


def test_a_reader_that_keeps_no_plaintext_has_the_same_rows_and_every_record_when_asked(trust):
    """A command that neither saves nor reads history merges each school as it is decrypted and keeps
    none of their plaintext; the records of its events are decrypted again if a check asks for them."""
    image = first(trust)
    slot, x_private, _ = trust.private[trust.custodian]
    kept = opening5.open_image(image.data, slot.slot_id, x_private, write=False)
    lean = opening5.open_image(image.data, slot.slot_id, x_private, write=False, keep=False)
    assert set(lean.plain) == {sg.TRUST} and set(kept.plain) > {sg.TRUST}
    assert _rows(lean.conn) == _rows(kept.conn)
    assert lean.texts() == kept.texts() and lean.texts()


def _smuggle_into_oakfield(trust: Trust, image: format5.Image, rows) -> bytes:
    """Oakfield's head writes, in their own school's records segment, rows that belong to Brookside."""
    head = heads()[OAK]

    def smuggle(conn):
        rows(conn)
        return 0

    seg_id, sealed, _ = _rewrite_own_records(trust, image, OAK, smuggle)
    return _forge(trust, image, head, {seg_id: sealed}, _event(trust, head, image.skeletons[-1]["seq"] + 1))


def _brookside_account(trust: Trust) -> str:
    body = db.deserialize(trust.body)
    return body.execute("SELECT id FROM accounts WHERE school = ? ORDER BY id", (BROOK,)).fetchone()[0]


@pytest.mark.parametrize("what", ["attestation", "staff", "account"])
def test_a_head_who_smuggles_another_schools_rows_into_their_own_segment_is_caught(trust, what):
    """Oakfield's head may write Oakfield's segment, not Brookside's. Rows for Brookside hidden in
    Oakfield's segment (an attestation that Brookside's admins are in control, a Brookside SLT member,
    an account of Brookside) would merge into Brookside for every reader who opens both: caught on open."""
    image = first(trust)
    brook_account = _brookside_account(trust)

    def rows(conn):
        if what == "attestation":
            conn.execute(
                "INSERT INTO attestations (campaign, account, at, attested_by, admins, mfa) VALUES "
                "('', ?, '2026-12-07', ?, '[]', 'passkey')",
                (brook_account, heads()[OAK]),
            )
        elif what == "staff":
            conn.execute(
                "INSERT INTO staff (email, name, school, roles, created_at) VALUES "
                "('ghost@brookside.sch.uk', 'Ghost', ?, '[\"slt\"]', '2026-12-07')",
                (BROOK,),
            )
        else:
            conn.execute(
                "INSERT INTO accounts (id, school, platform, handle, category, status, requested_at) VALUES "
                "('ghost-account', ?, 'x', 'ghost', 'faculty', 'active', '2026-12-07')",
                (BROOK,),
            )

    forged = _smuggle_into_oakfield(trust, image, rows)
    for reader in (trust.custodian, heads()[OAK]):
        with pytest.raises(DamagedError, match="oakfield's records hold a row of another school"):
            open_as(trust, reader, forged)


def test_a_head_who_smuggles_a_schools_rows_into_the_trusts_records_is_caught(trust):
    """Any key holder may write the trust's records; a row of Brookside put there by Oakfield's head
    (an attestation of Brookside's account) is refused on open, by every reader."""
    from accountctl.store.register import keyrings as kr

    image = first(trust)
    head = heads()[OAK]
    slot, x_private, _ = trust.private[head]
    key = kr.keys_of(kr.open_keyring(x_private, trust.file_id, image.index.keyring(slot.slot_id)), sg.TRUST, sg.KEY_K)
    seg_id = image.seg_ids[(sg.TRUST_RECORDS, sg.TRUST)]
    old = next(e for e in image.index.segments if e.seg_id == seg_id)
    conn = sqlite3.connect(":memory:")
    conn.deserialize(sg.open_segment(key, trust.file_id, old, image.blobs()[seg_id]))
    conn.execute(
        "INSERT INTO attestations (campaign, account, at, attested_by, admins, mfa) VALUES ('', ?, '2026-12-07', ?, '[]', 'passkey')",
        (_brookside_account(trust), head),
    )
    conn.commit()
    gen = image.header.generation + 1
    sealed = sg.seal_segment(key, trust.file_id, seg_id, sg.TRUST_RECORDS, sg.TRUST, old.epoch, gen, conn.serialize())
    forged = _forge(trust, image, head, {seg_id: sealed}, _event(trust, head, image.skeletons[-1]["seq"] + 1))
    for reader in (trust.custodian, head, heads()[BROOK]):
        with pytest.raises(DamagedError, match="the trust's records hold a row of a school"):
            open_as(trust, reader, forged)


def test_a_segments_rows_are_checked_once_per_machine_and_again_when_it_or_the_trust_changes(trust, monkeypatch):
    """The check that a segment holds only its school's rows costs 0.8 ms a segment: a machine skips a
    segment it found sound before, by digest, under the same trust records; a changed one, a machine
    that never saw it, and every segment after the trust's records changed are checked."""
    image = first(trust)
    custodian = trust.private[trust.custodian]
    checked_schools = []
    real = split.foreign
    monkeypatch.setattr(
        split, "foreign", lambda conn, schema, school: checked_schools.append(school) or real(conn, schema, school)
    )
    before = opening5.open_image(image.data, custodian[0].slot_id, custodian[1])
    everyone = set(checked_schools)
    assert {OAK, BROOK, split.TRUST} <= everyone
    checked_schools.clear()
    opening5.open_image(image.data, custodian[0].slot_id, custodian[1], before.checked)
    assert checked_schools == [split.TRUST]  # the trust's records, always
    later, _ = second(trust, image, BROOK)  # Brookside's records changed
    checked_schools.clear()
    again = opening5.open_image(later.data, custodian[0].slot_id, custodian[1], before.checked)
    assert sorted(checked_schools) == sorted([split.TRUST, BROOK])
    checked_schools.clear()
    head = trust.private[heads()[OAK]]
    opening5.open_image(later.data, head[0].slot_id, head[1], None)  # a machine that never checked
    assert sorted(checked_schools) == sorted([split.TRUST, OAK])
    # The trust's records changed (a trust-level row): every school is checked again.
    stale = replace(
        again.checked,
        sound=again.checked.sound - {next(e.digest for e in later.index.segments if e.kind == sg.TRUST_RECORDS)},
    )
    checked_schools.clear()
    opening5.open_image(later.data, custodian[0].slot_id, custodian[1], stale)
    assert set(checked_schools) == everyone
