"""Format 5's header (store/fileformat5.py): every refusal, and no other exception on any damaged header."""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import replace

import pytest
from hypothesis import given, settings, strategies as st

from accountctl import crypto
from accountctl.errors import DamagedError
from accountctl.store import fileformat as ff, fileformat5 as ff5, segments as sg


def slot(access=ff.ACCESS_VAULT, slot_id=None) -> ff.Slot:
    return ff.Slot(
        slot_id or os.urandom(16),
        ff.KIND_PERSON,
        access,
        os.urandom(16),
        ff.KDF_ARGON2ID,
        os.urandom(16),
        ff.KDF_FLOOR,
        os.urandom(32),
        os.urandom(ff.WRAPPED_PERSON_LEN),
        b"",
        b"",
    )


def header(**changes) -> ff5.Header:
    made = ff5.Header(os.urandom(16), 3, 100, os.urandom(32), [slot(), slot(ff.ACCESS_REGISTER)])
    return replace(made, **changes)


def test_a_header_round_trips_and_its_signature_covers_every_field():
    h = header(saved_by=os.urandom(16), saved_at=1_765_000_000, vault_mac=os.urandom(32))
    raw = ff5.encode_header(h)
    parsed, exact = ff5.parse_header(raw + b"more bytes after")
    assert parsed == h and exact == raw
    private, public = crypto.ed25519_keypair()
    h.save_signature = crypto.sign(private, ff5.signed_part(h))
    assert crypto.verify_signature(public, h.save_signature, ff5.signed_part(h))
    for change in (
        {"generation": 4},
        {"index_len": 101},
        {"index_digest": bytes(32)},
        {"saved_at": 1},
        {"vault_mac": bytes(32)},
    ):
        assert not crypto.verify_signature(public, h.save_signature, ff5.signed_part(replace(h, **change)))
    assert ff5.signed_part(h).startswith(ff5.LABEL_SAVE)


def _patched(raw: bytes, offset: int, fmt: str, value) -> bytes:
    data = bytearray(raw[: -ff.CHECKSUM_LEN])
    struct.pack_into(fmt, data, offset, value)
    return bytes(data) + hashlib.sha256(data).digest()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda raw: b"not a register at all", "wrong magic"),
        (lambda raw: raw[:100], "truncated inside its header"),
        (lambda raw: raw[:-1], "truncated inside its header"),
        (lambda raw: _patched(raw, 8, ">H", 4), "is not format 5"),
        (lambda raw: _patched(raw, 10, ">H", 1), "unknown header flags"),
        (lambda raw: _patched(raw, 12, ">I", 10), "header length out of range"),
        (lambda raw: _patched(raw, 12, ">I", ff.MAX_HEADER + 1), "header length out of range"),
        (lambda raw: raw[:-1] + bytes([raw[-1] ^ 1]), "checksum does not match"),
        (lambda raw: _patched(raw, 200, ">H", 0), "key slot count out of range"),
        (lambda raw: _patched(raw, 200, ">H", ff.MAX_SLOTS + 1), "key slot count out of range"),
        (lambda raw: _patched(raw, 200, ">H", 1), "trailing bytes in header"),
        (lambda raw: _patched(raw, 40, ">Q", sg.MIN_INDEX - 1), "index length out of range"),
        (lambda raw: _patched(raw, 40, ">Q", sg.MAX_INDEX + 1), "index length out of range"),
    ],
)
def test_each_damaged_header_is_refused_with_its_reason(make, message):
    with pytest.raises(DamagedError, match=message):
        ff5.parse_header(make(ff5.encode_header(header())))


def test_the_smallest_and_largest_index_lengths_are_accepted():
    for n in (sg.MIN_INDEX, sg.MAX_INDEX):
        assert ff5.parse_header(ff5.encode_header(header(index_len=n)))[0].index_len == n


def test_slots_must_be_distinct_hold_no_sealed_keys_and_include_a_custodian():
    twice = slot()
    with pytest.raises(DamagedError, match="duplicate key slot"):
        ff5.parse_header(ff5.encode_header(header(slots=[twice, replace(twice)])))
    with pytest.raises(DamagedError, match="no custodian key slot"):
        ff5.parse_header(ff5.encode_header(header(slots=[slot(ff.ACCESS_REGISTER)])))
    sealed = replace(slot(), sealed_register=os.urandom(ff.SEALED_KEY_LEN), sealed_vault=os.urandom(ff.SEALED_KEY_LEN))
    with pytest.raises(DamagedError, match="invalid fields"):
        ff5.parse_header(ff5.encode_header(header(slots=[sealed])))


def test_format_4_slots_still_need_their_sealed_keys():
    raw = ff5.encode_header(header())
    with pytest.raises(DamagedError, match="invalid fields"):
        ff._parse_slot(raw, ff5.FIXED_LEN, len(raw) - ff.CHECKSUM_LEN)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_damage_to_a_header_is_refused_as_damage_only(data):
    raw = bytearray(ff5.encode_header(_SHARED))
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    else:
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] ^= data.draw(st.integers(1, 255))
    with pytest.raises(DamagedError):
        ff5.parse_header(bytes(raw))


_SHARED = header()


def test_the_index_must_be_the_one_the_header_names_and_whole():
    index = sg.Index(3)
    index_bytes = sg.encode_index(index) + bytes(64)  # any bytes of the right length: the digest decides
    h = header(index_len=len(index_bytes), index_digest=hashlib.sha256(index_bytes).digest())
    raw = ff5.encode_header(h)
    with pytest.raises(DamagedError, match="truncated inside its index"):
        ff5.read_index(raw + index_bytes[:-1], h, raw)
    other = bytearray(index_bytes)
    other[-1] ^= 1
    with pytest.raises(DamagedError, match="not the one its header names"):
        ff5.read_index(raw + bytes(other), h, raw)
    with pytest.raises(DamagedError, match="does not match its segment count"):  # right digest: parsed and judged
        ff5.read_index(raw + index_bytes, h, raw)
