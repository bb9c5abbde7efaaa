"""The register file's byte layout: every region, damaged, truncated or forged, is refused and nothing is written."""

from __future__ import annotations

import hashlib
import os
import shlex
import struct
from dataclasses import fields, replace
from pathlib import Path

import keyring
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from accountctl.cli import cli
from accountctl.errors import DamagedError
from accountctl.store import crypto, fileformat as ff, keyring_cache
from accountctl.store import register as store
from accountctl.store.crypto import KdfParams
from conftest import CUSTODIAN, HEAD, PASSPHRASE, TEST_KDF, MemoryKeyring, ok, error_line as refused

WRITE = "school add elm --name Elm --domain elm.sch.uk"  # a write: a refused one must leave the file alone


# -- a register built once per module, copied into each test's own path ------------------------------
@pytest.fixture(scope="module")
def template(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("template") / "oak.accountctl"
    runner = CliRunner()
    env = {"ACCOUNTCTL_KDF": TEST_KDF, "ACCOUNTCTL_REGISTER": str(path), "ACCOUNTCTL_PASSPHRASE": PASSPHRASE,
           "ACCOUNTCTL_NEW_PASSPHRASE": PASSPHRASE, "ACCOUNTCTL_USER": None, "ACCOUNTCTL_TODAY": None}
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    keyring_cache.reset()
    try:
        for args in (f'init --trust "Oak Trust" --email {CUSTODIAN} --name "Ira Tech"',
                     'school add oak --name "Oak Primary" --domain oak.sch.uk',
                     f'staff add {CUSTODIAN} --name "Ira Tech" --school oak --role it',
                     f'staff add {HEAD} --name "Hana Head" --school oak --role headteacher --role slt'):
            result = runner.invoke(cli, shlex.split(args), env=env, catch_exceptions=False)
            assert result.exit_code == 0, result.stderr
    finally:
        keyring.set_keyring(previous)
        keyring_cache.reset()
    return path.read_bytes()


@pytest.fixture
def reg(register_path, template) -> Path:
    register_path.write_bytes(template)
    return register_path


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file next to the register (the lock file aside), so 'nothing written' covers .tmp and .bak too."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and not p.name.endswith(".lock")}


# -- field offsets, found by walking the header with fileformat's own struct layouts ---------------------
FIXED_FIELDS = ["magic", "version", "flags", "header_length", "file_id", "generation", "body_nonce", "body_length",
                "slot_count"]
SLOT_FIELDS = ["slot_id", "kind", "access", "tag", "kdf_alg", "salt", "kdf_memory", "kdf_iterations", "kdf_lanes",
               "public_key"]


def _field_sizes(fmt: str) -> list[int]:
    order, codes = fmt[0], fmt[1:]
    sizes, number = [], ""
    for ch in codes:
        if ch.isdigit():
            number += ch
            continue
        sizes.append(struct.calcsize(order + (number or "") + ch))
        number = ""
    return sizes


def _fixed_names(header: ff.Header, raw: bytes) -> list[str]:
    """Name each field of the fixed part by what parse_header made of it (robust to fields added later)."""
    known = {"magic": ff.MAGIC, "version": header.version, "flags": header.flags, "header_length": len(raw),
             "file_id": header.file_id, "generation": header.generation, "body_nonce": header.body_nonce,
             "body_length": header.body_len, "slot_count": len(header.slots)}
    others = {f.name: getattr(header, f.name) for f in fields(header) if f.name not in
              ("file_id", "generation", "body_nonce", "body_len", "slots", "version", "flags")}
    expected = list(FIXED_FIELDS)
    names = []
    for i, value in enumerate(ff._FIXED.unpack_from(raw, 0)):
        if expected and known[expected[0]] == value:
            names.append(expected.pop(0))
            continue
        extra = [name for name, v in others.items() if v == value and name not in names]
        names.append(extra[0] if extra else f"field{i}")
    assert not expected, f"fields not found in the fixed header: {expected}"
    return names


def layout(data: bytes) -> dict[str, tuple[int, int]]:
    """Region name -> (start, end) in the file; cross-checked against what parse_header reads."""
    header, raw = ff.parse_header(data)
    regions: dict[str, tuple[int, int]] = {}
    pos = 0
    for name, size in zip(_fixed_names(header, raw), _field_sizes(ff._FIXED.format), strict=True):
        regions[name] = (pos, pos + size)
        pos += size
    assert pos == ff.FIXED_LEN
    assert all(name in regions for name in FIXED_FIELDS), regions
    for i, slot in enumerate(header.slots):
        regions[f"slot{i}.length"] = (pos, pos + 2)
        pos += 2
        for name, size in zip(SLOT_FIELDS, _field_sizes(ff._SLOT_FIXED.format), strict=True):
            regions[f"slot{i}.{name}"] = (pos, pos + size)
            pos += size
        for name, blob in (("wrapped", slot.wrapped), ("sealed_register", slot.sealed_register),
                           ("sealed_vault", slot.sealed_vault)):
            regions[f"slot{i}.{name}_length"] = (pos, pos + 2)
            pos += 2
            if blob:
                regions[f"slot{i}.{name}"] = (pos, pos + len(blob))
            pos += len(blob)
    regions["checksum"] = (pos, pos + ff.CHECKSUM_LEN)
    pos += ff.CHECKSUM_LEN
    assert pos == len(raw)
    regions["body"] = (pos, len(data))

    def at(name):
        start, end = regions[name]
        return data[start:end]

    # The walk must agree with the parser, or the flips below would hit the wrong bytes.
    assert at("magic") == ff.MAGIC
    assert at("file_id") == header.file_id
    assert at("body_nonce") == header.body_nonce
    assert struct.unpack(">Q", at("generation"))[0] == header.generation
    assert struct.unpack(">Q", at("body_length"))[0] == header.body_len == len(at("body"))
    for i, slot in enumerate(header.slots):
        assert at(f"slot{i}.salt") == slot.salt
        assert at(f"slot{i}.public_key") == slot.public
        assert at(f"slot{i}.wrapped") == slot.wrapped
        assert at(f"slot{i}.sealed_register") == slot.sealed_register
        assert struct.unpack(">I", at(f"slot{i}.kdf_memory"))[0] == slot.kdf.memory_kib
    assert at("checksum") == hashlib.sha256(raw[:-ff.CHECKSUM_LEN]).digest()
    return regions


def flipped(data: bytes, offset: int, mask: int = 0x01) -> bytes:
    out = bytearray(data)
    out[offset] ^= mask
    return bytes(out)


def test_layout_covers_every_byte(template):
    regions = layout(template)
    covered = sorted(regions.values())
    assert covered[0][0] == 0 and covered[-1][1] == len(template)
    for (_, end), (start, _) in zip(covered, covered[1:]):
        assert end == start  # contiguous, no gaps or overlaps
    header, _ = ff.parse_header(template)
    kinds = [s.kind for s in header.slots]
    assert kinds.count(ff.KIND_PERSON) == 1 and kinds.count(ff.KIND_RECOVERY) == 1
    assert "slot0.sealed_vault" in regions and "slot1.sealed_vault" in regions  # custodian and recovery


# -- round trip ----------------------------------------------------------------------------------------
def test_round_trip_through_the_cli_and_the_store(run, reg):
    before = ff.parse_header(reg.read_bytes())[0]
    ok(run("staff add t.one@oak.sch.uk --name 'Tom One' --school oak"))
    data = reg.read_bytes()
    header, raw = ff.parse_header(data)
    assert header.generation == before.generation + 1
    assert header.file_id == before.file_id
    assert header.body_nonce != before.body_nonce  # a fresh nonce on every save
    assert ff.encode_header(header) == raw
    assert len(data) == len(raw) + header.body_len
    with store.open_register(reg, actor=None, passphrase_source=lambda: PASSPHRASE, use_keyring=False) as opened:
        emails = {r[0] for r in opened.db.execute("SELECT email FROM staff")}
        assert opened.actor == CUSTODIAN
    assert emails == {CUSTODIAN, HEAD, "t.one@oak.sch.uk"}


def test_a_read_writes_nothing(run, reg):
    before = snapshot(reg.parent)
    ok(run("staff list --json"))
    assert snapshot(reg.parent) == before


# -- one flipped byte, region by region ----------------------------------------------------------------
EXPECTED = {
    "magic": (4, "not an accountctl register"),
    "version": (4, "format version"),
    "flags": (4, "unknown header flags"),
    "header_length": (4, "register damaged"),
    "body": (4, "body does not authenticate"),
}
CHECKSUMMED = ["file_id", "generation", "body_nonce", "body_length", "slot_count", "checksum"] + [
    f"slot{i}.{name}" for i in (0, 1)
    for name in ["length", *SLOT_FIELDS, "wrapped_length", "wrapped", "sealed_register_length", "sealed_register",
                 "sealed_vault_length", "sealed_vault"]
]
ALL_REGIONS = list(EXPECTED) + CHECKSUMMED


@pytest.mark.parametrize("region", ALL_REGIONS)
def test_a_flipped_byte_in_every_region_is_refused_and_nothing_is_written(run, reg, region):
    data = reg.read_bytes()
    start, end = layout(data)[region]
    code, text = EXPECTED.get(region, (4, "header checksum does not match"))
    for offset in sorted({start, (start + end) // 2, end - 1}):
        reg.write_bytes(flipped(data, offset))
        if region == "version" and struct.unpack_from(">H", flipped(data, offset), 8)[0] == ff.UPGRADABLE:
            text = "header checksum does not match"  # a version this accountctl reads: then the checksum fails
        before = snapshot(reg.parent)
        refused(run(WRITE), code, text)
        assert snapshot(reg.parent) == before, f"{region} byte {offset}: something was written"
        refused(run("staff list"), code, text)


def test_a_flipped_byte_in_any_other_region_is_refused(run, reg):
    """Fields added to the layout after this test was written get the same treatment."""
    data = reg.read_bytes()
    regions = layout(data)
    for region, (start, end) in regions.items():
        if region in ALL_REGIONS:
            continue
        for offset in sorted({start, end - 1}):
            reg.write_bytes(flipped(data, offset))
            before = snapshot(reg.parent)
            refused(run(WRITE), 4, "register damaged")
            assert snapshot(reg.parent) == before, region


def test_header_length_out_of_range_says_so(run, reg):
    data = reg.read_bytes()
    start, _ = layout(data)["header_length"]
    reg.write_bytes(flipped(data, start, 0x80))  # ~2 GiB: beyond MAX_HEADER, refused before reading it
    before = snapshot(reg.parent)
    refused(run(WRITE), 4, "header length out of range")
    assert snapshot(reg.parent) == before


def test_a_newer_format_version_names_the_version(run, reg):
    data = bytearray(reg.read_bytes())
    start, end = layout(bytes(data))["version"]
    newer = ff.VERSION + 1
    data[start:end] = struct.pack(">H", newer)
    reg.write_bytes(bytes(data))
    refused(run(WRITE), 4, f"version {newer} is not supported")


# -- forged headers: the checksum recomputed, so only the body's associated data catches it ---------------
def forge(data: bytes, change) -> bytes:
    """Re-encode the header after `change(header)`, keeping the body bytes as they are."""
    header, raw = ff.parse_header(data)
    forged = header.copy()
    change(forged)
    return ff.encode_header(forged) + data[len(raw):]


def _bump_generation(h):
    h.generation += 1


def _other_nonce(h):
    h.body_nonce = bytes(b ^ 0xFF for b in h.body_nonce)


def _swap_public(h):
    h.slots[0].public = crypto.x25519_keypair()[1]


def _tamper_sealed_register(h):
    h.slots[0].sealed_register = flipped(h.slots[0].sealed_register, 40)


def _tamper_sealed_vault(h):
    h.slots[0].sealed_vault = flipped(h.slots[0].sealed_vault, 40)


def _tamper_recovery_slot(h):
    h.slots[1].salt = bytes(16)


@pytest.mark.parametrize("change", [_bump_generation, _other_nonce, _swap_public, _tamper_sealed_register,
                                    _tamper_sealed_vault, _tamper_recovery_slot])
def test_a_forged_header_with_a_valid_checksum_is_still_damage(run, reg, change):
    reg.write_bytes(forge(reg.read_bytes(), change))
    before = snapshot(reg.parent)
    result = run(WRITE)
    refused(result, 4, "altered")
    assert snapshot(reg.parent) == before


def test_a_forged_body_length_is_damage(run, reg):
    data = reg.read_bytes()

    def longer(h):
        h.body_len += 1

    reg.write_bytes(forge(data, longer))
    before = snapshot(reg.parent)
    refused(run(WRITE), 4, "truncated")
    assert snapshot(reg.parent) == before


# -- truncation and things that are not registers -----------------------------------------------------
@pytest.mark.parametrize("cut", ["zero", "inside_magic", "inside_fixed", "inside_slot", "inside_checksum",
                                 "end_of_header", "inside_body", "last_byte"])
def test_truncation_is_damage_and_nothing_is_written(run, reg, cut):
    data = reg.read_bytes()
    regions = layout(data)
    length = {
        "zero": 0,
        "inside_magic": 5,
        "inside_fixed": regions["generation"][0] + 3,
        "inside_slot": regions["slot0.salt"][0] + 7,
        "inside_checksum": regions["checksum"][0] + 10,
        "end_of_header": regions["body"][0],
        "inside_body": (regions["body"][0] + len(data)) // 2,
        "last_byte": len(data) - 1,
    }[cut]
    reg.write_bytes(data[:length])
    before = snapshot(reg.parent)
    result = run(WRITE)
    refused(result, 4)
    if cut in ("zero", "inside_magic"):
        assert "not an accountctl register" in result.stderr
    else:
        assert "truncated" in result.stderr
    assert snapshot(reg.parent) == before


def test_extra_bytes_after_the_body_are_damage(run, reg):
    reg.write_bytes(reg.read_bytes() + b"\0")
    before = snapshot(reg.parent)
    refused(run(WRITE), 4, "longer than its header says")
    assert snapshot(reg.parent) == before


@pytest.mark.parametrize("content", [
    os.urandom(4096),
    b"email,name,school\nhead@oak.sch.uk,Hana,oak\n",
    b"",
    ff.MAGIC[:4],
    b"\x89PNG\r\n\x1a\n" + bytes(100),
], ids=["random", "text", "empty", "short-magic", "png"])
def test_a_file_that_is_not_a_register(run, register_path, content):
    register_path.write_bytes(content)
    before = snapshot(register_path.parent)
    refused(run(WRITE), 4, "not an accountctl register")
    refused(run("vault status"), 4, "not an accountctl register")
    assert snapshot(register_path.parent) == before


# -- the wrong person or the wrong passphrase ----------------------------------------------------------
def test_wrong_passphrase_is_exit_3_and_writes_nothing(run, reg):
    before = snapshot(reg.parent)
    refused(run(WRITE, env={"ACCOUNTCTL_PASSPHRASE": "not the passphrase at all"}), 3, "wrong passphrase")
    refused(run("staff list", env={"ACCOUNTCTL_PASSPHRASE": "not the passphrase at all"}), 3, "wrong passphrase")
    assert snapshot(reg.parent) == before


def test_as_someone_without_a_slot_is_exit_3(run, reg):
    before = snapshot(reg.parent)
    refused(run(f"--as {HEAD} {WRITE}"), 3, HEAD, "no key slot")
    refused(run("staff list --as nobody@elsewhere.org"), 3, "no key slot")
    assert snapshot(reg.parent) == before


def test_the_damage_is_found_before_the_passphrase_is_tried(run, reg, monkeypatch):
    """A damaged header is reported as damage even with a wrong passphrase: no KDF runs at all."""
    data = reg.read_bytes()
    reg.write_bytes(flipped(data, layout(data)["slot0.salt"][0]))
    calls = []
    monkeypatch.setattr(crypto, "argon2id", lambda *a: calls.append(a) or b"\0" * 32)
    refused(run(WRITE, env={"ACCOUNTCTL_PASSPHRASE": "not the passphrase at all"}), 4, "checksum")
    assert calls == []


# -- KDF caps: a hostile header cannot make us spin or allocate ----------------------------------------
@pytest.mark.parametrize("kdf", [
    KdfParams(1024 * 1024 + 1, 2, 1),  # memory just above 1 GiB
    KdfParams(4 * 1024 * 1024, 3, 4),
    KdfParams(19456, 11, 1),  # iterations above 10
    KdfParams(19456, 2**32 - 1, 1),
    KdfParams(19456, 2, 17),  # lanes above 16
    KdfParams(19455, 2, 1),  # below OWASP's floor
    KdfParams(19456, 1, 1),
    KdfParams(19456, 2, 0),
], ids=lambda k: f"m{k.memory_kib}-t{k.iterations}-p{k.lanes}")
def test_kdf_parameters_outside_the_caps_are_refused_before_any_derivation(run, reg, monkeypatch, kdf):
    def must_not_run(*args):
        raise AssertionError("argon2id ran on a header that should have been refused")

    monkeypatch.setattr(crypto, "argon2id", must_not_run)

    def hostile(h):
        h.slots[0].kdf = kdf

    forged = forge(reg.read_bytes(), hostile)
    with pytest.raises(DamagedError, match="invalid fields"):
        ff.parse_header(forged)
    reg.write_bytes(forged)
    before = snapshot(reg.parent)
    refused(run(WRITE), 4, "invalid fields")
    refused(run("staff list"), 4, "invalid fields")
    assert snapshot(reg.parent) == before


def test_kdf_parameters_at_the_caps_are_accepted_by_the_parser(template):
    def at_cap(h):
        h.slots[0].kdf = ff.KDF_CAP

    header, _ = ff.parse_header(forge(template, at_cap))
    assert header.slots[0].kdf == ff.KDF_CAP


def test_too_many_slots_is_refused(template):
    header, raw = ff.parse_header(template)
    many = header.copy()
    many.slots = [replace(header.slots[0], slot_id=i.to_bytes(16, "big")) for i in range(ff.MAX_SLOTS + 1)]
    with pytest.raises(DamagedError, match="slot count"):
        ff.parse_header(ff.encode_header(many))


def test_a_header_with_no_custodian_slot_is_refused(template):
    header, _ = ff.parse_header(template)
    only_recovery = header.copy()
    only_recovery.slots = [s for s in only_recovery.slots if s.kind == ff.KIND_RECOVERY]
    with pytest.raises(DamagedError, match="no custodian"):
        ff.parse_header(ff.encode_header(only_recovery))


def test_duplicate_slot_ids_are_refused(template):
    header, _ = ff.parse_header(template)
    dup = header.copy()
    dup.slots = [dup.slots[0], replace(dup.slots[0])]
    with pytest.raises(DamagedError, match="duplicate"):
        ff.parse_header(ff.encode_header(dup))


# -- property tests ------------------------------------------------------------------------------------
def _parse_only_damage(data: bytes) -> None:
    try:
        ff.parse_header(data)
    except DamagedError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=2048))
def test_parse_header_on_arbitrary_bytes_raises_only_damaged_error(data):
    _parse_only_damage(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(version=st.integers(0, 0xFFFF), flags=st.integers(0, 0xFFFF), total=st.integers(0, 2**32 - 1),
       rest=st.binary(max_size=1024))
def test_parse_header_with_a_valid_magic_raises_only_damaged_error(version, flags, total, rest):
    _parse_only_damage(ff.MAGIC + struct.pack(">HHI", version, flags, total) + rest)


def _recompute_checksum(raw: bytearray) -> bytes:
    """Fix the length field and checksum of a mutated header, so the slot parser sees the mutation."""
    if len(raw) < ff.FIXED_LEN + ff.CHECKSUM_LEN:
        return bytes(raw)
    struct.pack_into(">I", raw, 12, len(raw))
    raw[-ff.CHECKSUM_LEN:] = hashlib.sha256(bytes(raw[:-ff.CHECKSUM_LEN])).digest()
    return bytes(raw)


mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(1, 255)),
    st.tuples(st.just("set"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=40)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 40)),
)


def _mutate(raw: bytes, mutations) -> bytearray:
    out = bytearray(raw)
    for kind, pos, arg in mutations:
        if not out:
            break
        pos %= len(out)
        if kind == "flip":
            out[pos] ^= arg
        elif kind == "set":
            out[pos] = arg
        elif kind == "insert":
            out[pos:pos] = arg
        else:
            del out[pos : pos + arg]
    return out


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=st.lists(mutation, min_size=1, max_size=6), fix_checksum=st.booleans(),
       cut=st.none() | st.integers(0, 4000))
def test_parse_header_on_a_mutated_real_header_raises_only_damaged_error(template, mutations, fix_checksum, cut):
    _, raw = ff.parse_header(template)
    out = _mutate(raw, mutations)
    data = _recompute_checksum(out) if fix_checksum else bytes(out)
    if cut is not None:
        data = data[:cut]
    _parse_only_damage(data + template[len(raw):])
    _parse_only_damage(data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, 10**6))
def test_any_truncated_real_header_is_damaged(template, cut):
    _, raw = ff.parse_header(template)
    with pytest.raises(DamagedError):
        ff.parse_header(template[: cut % len(raw)])


def _bytes(n):
    return st.binary(min_size=n, max_size=n)


person_kdf = st.builds(KdfParams, st.integers(ff.KDF_FLOOR.memory_kib, ff.KDF_CAP.memory_kib),
                       st.integers(ff.KDF_FLOOR.iterations, ff.KDF_CAP.iterations),
                       st.integers(ff.KDF_FLOOR.lanes, ff.KDF_CAP.lanes))


@st.composite
def person_slots(draw, access=None):
    access = access if access is not None else draw(st.sampled_from([ff.ACCESS_REGISTER, ff.ACCESS_VAULT]))
    return ff.Slot(draw(_bytes(16)), ff.KIND_PERSON, access, draw(_bytes(ff.TAG_LEN_PERSON)), ff.KDF_ARGON2ID,
                   draw(_bytes(16)), draw(person_kdf), draw(_bytes(32)), draw(_bytes(ff.WRAPPED_PERSON_LEN)),
                   draw(_bytes(ff.SEALED_KEY_LEN)),
                   draw(_bytes(ff.SEALED_KEY_LEN)) if access == ff.ACCESS_VAULT else b"")


@st.composite
def recovery_slots(draw):
    return ff.Slot(draw(_bytes(16)), ff.KIND_RECOVERY, ff.ACCESS_VAULT, bytes(ff.TAG_LEN_PERSON), ff.KDF_HKDF,
                   draw(_bytes(16)), KdfParams(0, 0, 0), draw(_bytes(32)), draw(_bytes(ff.WRAPPED_RECOVERY_LEN)),
                   draw(_bytes(ff.SEALED_KEY_LEN)), draw(_bytes(ff.SEALED_KEY_LEN)))


@st.composite
def headers(draw):
    slots = [draw(person_slots(access=ff.ACCESS_VAULT))]
    slots += draw(st.lists(st.one_of(person_slots(), recovery_slots()), max_size=6))
    slots = draw(st.permutations(slots))
    assume(len({s.slot_id for s in slots}) == len(slots))
    # Fixed-size byte fields the layout may grow (each with a bytes default of its size) get random values too.
    extra = {f.name: draw(_bytes(len(f.default))) for f in fields(ff.Header)
             if isinstance(f.default, bytes) and f.name not in ("file_id", "body_nonce", "history_nonce")}
    # No archive is all zeros; an archive has any nonce and at least a GCM tag's length.
    history_nonce, history_len = draw(st.one_of(
        st.just((bytes(12), 0)), st.tuples(_bytes(12), st.integers(crypto.TAG_LEN, ff.MAX_BODY))))
    return ff.Header(file_id=draw(_bytes(16)), generation=draw(st.integers(0, 2**64 - 1)),
                     body_nonce=draw(_bytes(12)), body_len=draw(st.integers(crypto.TAG_LEN, ff.MAX_BODY)),
                     slots=list(slots), history_nonce=history_nonce, history_len=history_len, **extra)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(headers())
def test_encode_then_parse_round_trips_generated_headers(header):
    raw = ff.encode_header(header)
    parsed, exact = ff.parse_header(raw + b"trailing body bytes")
    assert exact == raw
    assert parsed == header
    assert ff.encode_header(parsed) == raw


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=headers(), data=st.data())
def test_any_single_byte_change_to_a_generated_header_is_detected(header, data):
    raw = ff.encode_header(header)
    pos = data.draw(st.integers(0, len(raw) - 1))
    mask = data.draw(st.integers(1, 255))
    with pytest.raises(DamagedError):
        ff.parse_header(flipped(raw, pos, mask))
