"""The register file's byte layout: every region, damaged, truncated or forged, is refused and nothing is written."""

from __future__ import annotations

import functools
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
from accountctl.errors import AccessError, DamagedError
from accountctl import crypto
from accountctl.store import fileformat as ff, keyring_cache
from accountctl.store import register as store
from accountctl.crypto import KdfParams
from conftest import CUSTODIAN, HEAD, PASSPHRASE, TEST_KDF, MemoryKeyring, ok, error_line as refused

WRITE = "school add elm --name Elm --domain elm.sch.uk"  # a write: a refused one must leave the file alone


# -- a register built once per module, copied into each test's own path ------------------------------
@pytest.fixture(scope="module")
def template(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("template") / "oak.accountctl"
    runner = CliRunner()
    env = {
        "ACCOUNTCTL_KDF": TEST_KDF,
        "ACCOUNTCTL_REGISTER": str(path),
        "ACCOUNTCTL_PASSPHRASE": PASSPHRASE,
        "ACCOUNTCTL_NEW_PASSPHRASE": PASSPHRASE,
        "ACCOUNTCTL_USER": None,
        "ACCOUNTCTL_TODAY": None,
    }
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    keyring_cache.reset()
    try:
        for args in (
            f'init --trust "Oak Trust" --email {CUSTODIAN} --name "Ira Tech"',
            'school add oak --name "Oak Primary" --domain oak.sch.uk',
            f'staff add {CUSTODIAN} --name "Ira Tech" --school oak --role it',
            f'staff add {HEAD} --name "Hana Head" --school oak --role headteacher --role slt',
        ):
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
FIXED_FIELDS = [
    "magic",
    "version",
    "flags",
    "header_length",
    "file_id",
    "generation",
    "body_nonce",
    "body_length",
    "slot_count",
]
SLOT_FIELDS = [
    "slot_id",
    "kind",
    "access",
    "tag",
    "kdf_alg",
    "salt",
    "kdf_memory",
    "kdf_iterations",
    "kdf_lanes",
    "public_key",
]


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
    known = {
        "magic": ff.MAGIC,
        "version": header.version,
        "flags": header.flags,
        "header_length": len(raw),
        "file_id": header.file_id,
        "generation": header.generation,
        "body_nonce": header.body_nonce,
        "body_length": header.body_len,
        "slot_count": len(header.slots),
    }
    others = {
        f.name: getattr(header, f.name)
        for f in fields(header)
        if f.name not in ("file_id", "generation", "body_nonce", "body_len", "slots", "version", "flags")
    }
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
        for name, blob in (
            ("wrapped", slot.wrapped),
            ("sealed_register", slot.sealed_register),
            ("sealed_vault", slot.sealed_vault),
        ):
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
    assert at("checksum") == hashlib.sha256(raw[: -ff.CHECKSUM_LEN]).digest()
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
    f"slot{i}.{name}"
    for i in (0, 1)
    for name in [
        "length",
        *SLOT_FIELDS,
        "wrapped_length",
        "wrapped",
        "sealed_register_length",
        "sealed_register",
        "sealed_vault_length",
        "sealed_vault",
    ]
]
ALL_REGIONS = list(EXPECTED) + CHECKSUMMED


@pytest.mark.parametrize("region", ALL_REGIONS)
def test_a_flipped_byte_in_every_region_is_refused_and_nothing_is_written(run, reg, region):
    data = reg.read_bytes()
    start, end = layout(data)[region]
    code, text = EXPECTED.get(region, (4, "header checksum does not match"))
    for offset in sorted({start, (start + end) // 2, end - 1}):
        reg.write_bytes(flipped(data, offset))
        if region == "version" and struct.unpack_from(">H", flipped(data, offset), 8)[0] in (ff.UPGRADABLE, 5):
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
    newer = 6  # format 5 is read too (a key per school)
    data[start:end] = struct.pack(">H", newer)
    reg.write_bytes(bytes(data))
    refused(run(WRITE), 4, f"version {newer} is not supported")


# -- forged headers: the checksum recomputed, so only the body's associated data catches it ---------------
def forge(data: bytes, change) -> bytes:
    """Re-encode the header after `change(header)`, keeping the body bytes as they are."""
    header, raw = ff.parse_header(data)
    forged = header.copy()
    change(forged)
    return ff.encode_header(forged) + data[len(raw) :]


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


@pytest.mark.parametrize(
    "change",
    [
        _bump_generation,
        _other_nonce,
        _swap_public,
        _tamper_sealed_register,
        _tamper_sealed_vault,
        _tamper_recovery_slot,
    ],
)
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
@pytest.mark.parametrize(
    "cut",
    [
        "zero",
        "inside_magic",
        "inside_fixed",
        "inside_slot",
        "inside_checksum",
        "end_of_header",
        "inside_body",
        "last_byte",
    ],
)
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


def test_a_whole_record_of_junk_after_the_archive_is_damage(run, reg):
    junk = os.urandom(40)
    reg.write_bytes(reg.read_bytes() + len(junk).to_bytes(4, "big") + junk)
    before = snapshot(reg.parent)
    refused(run(WRITE), 4, "record 1 at the end of the file does not authenticate")
    assert snapshot(reg.parent) == before


def test_a_record_cut_short_after_the_archive_is_left_out_and_cut_off_by_the_next_write(run, reg):
    """A crash in the middle of an append leaves part of a record: nothing acted on it, so it is not damage."""
    size = reg.stat().st_size
    reg.write_bytes(reg.read_bytes() + (400).to_bytes(4, "big") + b"\0" * 10)
    assert run(["account", "list"]).exit_code == 0
    assert run(WRITE).exit_code == 0
    assert ff.file_lengths(reg.read_bytes())[0] + sum(ff.file_lengths(reg.read_bytes())[1::2]) == reg.stat().st_size
    assert reg.stat().st_size != size + 14


def test_extra_bytes_after_a_format_3_body_are_damage(run, reg):
    data = bytearray(reg.read_bytes())
    struct.pack_into(">H", data, 8, ff.SAME_LAYOUT)  # a format-3 file has no tail
    total = ff.header_length(bytes(data))
    data[total - ff.CHECKSUM_LEN : total] = hashlib.sha256(bytes(data[: total - ff.CHECKSUM_LEN])).digest()
    reg.write_bytes(bytes(data) + b"\0")
    before = snapshot(reg.parent)
    assert refused(run(WRITE), 4) == "Error: register damaged: the file is longer than its header says"
    assert snapshot(reg.parent) == before


@pytest.mark.parametrize(
    "content",
    [
        os.urandom(4096),
        b"email,name,school\nhead@oak.sch.uk,Hana,oak\n",
        b"",
        ff.MAGIC[:4],
        b"\x89PNG\r\n\x1a\n" + bytes(100),
    ],
    ids=["random", "text", "empty", "short-magic", "png"],
)
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
@pytest.mark.parametrize(
    "kdf",
    [
        KdfParams(1024 * 1024 + 1, 2, 1),  # memory just above 1 GiB
        KdfParams(4 * 1024 * 1024, 3, 4),
        KdfParams(19456, 11, 1),  # iterations above 10
        KdfParams(19456, 2**32 - 1, 1),
        KdfParams(19456, 2, 17),  # lanes above 16
        KdfParams(19455, 2, 1),  # below OWASP's floor
        KdfParams(19456, 1, 1),
        KdfParams(19456, 2, 0),
    ],
    ids=lambda k: f"m{k.memory_kib}-t{k.iterations}-p{k.lanes}",
)
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


# -- property tests: each asserts a refusal, so each fails when a check it leans on is removed -----------
HEADER_LENGTH_AT = sum(_field_sizes(ff._FIXED.format)[: FIXED_FIELDS.index("header_length")])
MIN_HEADER = ff.FIXED_LEN + ff.CHECKSUM_LEN
NOT_A_REGISTER = "not an accountctl register (wrong magic bytes)"
TRUNCATED_HEADER = "register damaged: the file is truncated inside its header"
BAD_CHECKSUM = "register damaged or altered: header checksum does not match"
# Version 1 files are refused (file-format.md); 2 up to VERSION may be read, every other value is refused.
unsupported_versions = st.integers(0, 0xFFFF).filter(lambda v: v <= 1 or v > ff.VERSION)


def refusal(data: bytes) -> str:
    """parse_header must refuse `data` with DamagedError (and nothing else); returns the message."""
    with pytest.raises(DamagedError) as caught:
        ff.parse_header(data)
    return str(caught.value)


def open_refusal(path: Path) -> Exception:
    """Opening the register as its one person must be refused, exit 4 or 3; returns the error."""
    try:
        with store.open_register(path, actor=None, passphrase_source=lambda: PASSPHRASE, use_keyring=False):
            pass
    except (DamagedError, AccessError) as exc:
        return exc
    pytest.fail("a changed register opened")


@pytest.fixture
def argon2id_once(monkeypatch, template):
    """Argon2id computed once per input: the template's own parameters give the real key, others another key.

    A forged header may ask for anything up to the caps (1 GiB, 10 passes). Other parameters give
    another key, which is all that open can observe, so they get a stand-in key instead of minutes of CPU.
    """
    real = crypto.argon2id
    ours = next(s.kdf for s in ff.parse_header(template)[0].slots if s.kind == ff.KIND_PERSON)

    @functools.cache
    def argon2id(passphrase, salt, params):
        if params != ours:
            return hashlib.sha256(b"other parameters" + repr(params).encode() + salt).digest()
        return real(passphrase, salt, params)

    monkeypatch.setattr(crypto, "argon2id", argon2id)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048) | st.binary(max_size=2048).map(lambda b: ff.MAGIC + b))
def test_arbitrary_bytes_are_refused(data):
    message = refusal(data)
    if not data.startswith(ff.MAGIC):
        assert message == NOT_A_REGISTER


@settings(max_examples=400, deadline=None)
@given(
    version=st.just(ff.VERSION) | unsupported_versions,
    flags=st.just(0) | st.integers(0, 0xFFFF),
    total=st.sampled_from([MIN_HEADER - 1, MIN_HEADER, ff.MAX_HEADER, ff.MAX_HEADER + 1])
    | st.integers(MIN_HEADER, 4096)
    | st.integers(0, 2**32 - 1),
    rest=st.binary(max_size=4096),
)
def test_a_fixed_part_is_refused_by_the_first_check_it_fails(version, flags, total, rest):
    """Magic, version, flags and header length come first in every format version, in this order."""
    data = ff.MAGIC + struct.pack(">HHI", version, flags, total) + rest
    message = refusal(data)
    if len(data) < ff.FIXED_LEN:
        assert message == TRUNCATED_HEADER
    elif version != ff.VERSION:
        assert message.startswith(f"register format version {version} is not supported"), message
    elif flags:
        assert message == "register damaged: unknown header flags"
    elif not MIN_HEADER <= total <= ff.MAX_HEADER:
        assert message == "register damaged: header length out of range"
    elif len(data) < total:
        assert message == TRUNCATED_HEADER
    else:
        assert message == BAD_CHECKSUM  # random bytes cannot carry a matching SHA-256


def _recompute_checksum(raw: bytearray) -> bytes:
    """Fix the length field and checksum of a mutated header, so the slot parser sees the mutation."""
    return bytes(raw) if len(raw) < MIN_HEADER else _resealed(raw[: -ff.CHECKSUM_LEN])


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


@settings(max_examples=300, deadline=None)
@given(mutations=st.lists(mutation, min_size=1, max_size=6), cut=st.none() | st.integers(0, 4000))
def test_a_changed_real_header_is_refused(template, mutations, cut):
    _, raw = ff.parse_header(template)
    data = bytes(_mutate(raw, mutations))[:cut]
    assume(data != raw)
    refusal(data)
    refusal(data + template[len(raw) :])  # followed by the body it was written with


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=st.lists(mutation, min_size=1, max_size=6))
def test_a_forged_real_header_is_refused_on_open(template, register_path, argon2id_once, mutations):
    """With the checksum recomputed the parser may accept the header; the body's AAD still refuses it."""
    _, raw = ff.parse_header(template)
    forged = _recompute_checksum(_mutate(raw, mutations))
    assume(forged != raw)
    register_path.write_bytes(forged + template[len(raw) :])
    open_refusal(register_path)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_single_byte_change_to_a_real_file_is_refused_on_open(template, register_path, argon2id_once, data):
    header_len = len(ff.parse_header(template)[1])
    pos = data.draw(st.integers(0, header_len - 1) | st.integers(0, len(template) - 1), label="pos")
    mask = data.draw(st.integers(1, 255), label="mask")
    register_path.write_bytes(flipped(template, pos, mask))
    error = open_refusal(register_path)
    assert isinstance(error, DamagedError), error  # exit 4: no single change looks like a wrong passphrase


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_truncation_of_a_real_file_is_refused(template, register_path, data):
    header_len = len(ff.parse_header(template)[1])
    cut = data.draw(st.integers(0, header_len - 1) | st.integers(0, len(template) - 1), label="cut")
    if cut < header_len:
        assert refusal(template[:cut]) == (NOT_A_REGISTER if cut < len(ff.MAGIC) else TRUNCATED_HEADER)
    register_path.write_bytes(template[:cut])
    error = open_refusal(register_path)
    assert isinstance(error, DamagedError), error
    assert "truncated" in str(error) or str(error) == NOT_A_REGISTER, error


# -- every check of the parser, one case each, with the message file-format.md documents ------------------
# Built from ff.Header/ff.Slot and ff.encode_header; byte positions come from layout(), never literals.
def _person(n: int, access: int = ff.ACCESS_VAULT, **changes) -> ff.Slot:
    """A well-formed person slot (its keys are zeros: the parser checks shapes, not keys)."""
    slot = ff.Slot(
        n.to_bytes(16, "big"),
        ff.KIND_PERSON,
        access,
        hashlib.sha256(b"%d" % n).digest()[: ff.TAG_LEN_PERSON],
        ff.KDF_ARGON2ID,
        bytes(16),
        ff.KDF_FLOOR,
        bytes(32),
        bytes(ff.WRAPPED_PERSON_LEN),
        bytes(ff.SEALED_KEY_LEN),
        bytes(ff.SEALED_KEY_LEN) if access == ff.ACCESS_VAULT else b"",
    )
    return replace(slot, **changes)


def _recovery(n: int = 99, **changes) -> ff.Slot:
    slot = ff.Slot(
        n.to_bytes(16, "big"),
        ff.KIND_RECOVERY,
        ff.ACCESS_VAULT,
        bytes(ff.TAG_LEN_PERSON),
        ff.KDF_HKDF,
        bytes(16),
        KdfParams(0, 0, 0),
        bytes(32),
        bytes(ff.WRAPPED_RECOVERY_LEN),
        bytes(ff.SEALED_KEY_LEN),
        bytes(ff.SEALED_KEY_LEN),
    )
    return replace(slot, **changes)


def _header(slots=None, **changes) -> ff.Header:
    """A well-formed header: a custodian, a register-access person and the recovery slot."""
    slots = [_person(1), _person(2, ff.ACCESS_REGISTER), _recovery()] if slots is None else slots
    header = ff.Header(
        file_id=bytes(range(16)), generation=7, body_nonce=bytes(range(1, 13)), body_len=crypto.TAG_LEN, slots=slots
    )
    return replace(header, **changes)


def _regions(raw: bytes) -> dict[str, tuple[int, int]]:
    """layout() of a bare header, given a body of the length it announces."""
    header, _ = ff.parse_header(raw)
    return layout(raw + bytes(header.body_len))


def _resealed(without_checksum: bytes) -> bytes:
    """Patch the header length field and append a matching checksum: only the parser's own checks are left."""
    out = bytearray(without_checksum)
    struct.pack_into(">I", out, HEADER_LENGTH_AT, len(out) + ff.CHECKSUM_LEN)
    return bytes(out) + hashlib.sha256(bytes(out)).digest()


def _patched(raw: bytes, region: tuple[int, int], value: bytes) -> bytearray:
    start, end = region
    assert len(value) == end - start
    return bytearray(raw[:start] + value + raw[end:])


def _one_slot_more(raw: bytes, extra: bytes) -> bytes:
    """The header with its slot count one higher and `extra` where that slot's record should be."""
    count_at = _regions(raw)["slot_count"]
    count = struct.unpack(">H", raw[count_at[0] : count_at[1]])[0]
    return _resealed(bytes(_patched(raw, count_at, struct.pack(">H", count + 1))[: -ff.CHECKSUM_LEN]) + extra)


def test_the_well_formed_header_round_trips():
    """The base every case below changes in one place: it parses, so each refusal is that one change."""
    header = _header()
    raw = ff.encode_header(header)
    parsed, exact = ff.parse_header(raw)
    assert parsed == header and exact == raw


def test_the_parser_needs_no_more_than_the_header(template):
    header, raw = ff.parse_header(template)
    assert ff.parse_header(raw) == (header, raw)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", NOT_A_REGISTER),
        (ff.MAGIC[:-1], NOT_A_REGISTER),
        (b"\0" + ff.MAGIC[1:] + bytes(ff.FIXED_LEN), NOT_A_REGISTER),
        (ff.MAGIC, TRUNCATED_HEADER),  # the whole magic, nothing after it
    ],
    ids=["empty", "magic-less-one", "magic-first-byte", "magic-only"],
)
def test_magic_and_minimum_length(data, message):
    assert refusal(data) == message


def test_a_file_shorter_than_the_fixed_part_or_the_header_is_truncated():
    raw = ff.encode_header(_header())
    assert refusal(raw[: ff.FIXED_LEN - 1]) == TRUNCATED_HEADER
    assert refusal(raw[:-1]) == TRUNCATED_HEADER
    assert refusal(raw[:MIN_HEADER]) == TRUNCATED_HEADER


@pytest.mark.parametrize("version", [0, 1, ff.VERSION + 1, 0xFFFF])
def test_every_other_format_version_is_refused_by_number(version):
    raw = ff.encode_header(_header())
    data = _patched(raw, _regions(raw)["version"], struct.pack(">H", version))  # checked before the checksum
    assert refusal(bytes(data)).startswith(f"register format version {version} is not supported by this accountctl")


def test_flags_must_be_zero():
    raw = ff.encode_header(_header())
    for flags in (1, 0x8000):
        data = _patched(raw, _regions(raw)["flags"], struct.pack(">H", flags))
        assert refusal(bytes(data)) == "register damaged: unknown header flags"


def test_header_length_bounds():
    """146 (fixed part and checksum) up to MAX_HEADER is a length; anything else is refused unread."""
    raw = ff.encode_header(_header())
    region = _regions(raw)["header_length"]

    def with_length(total: int) -> bytes:
        return bytes(_patched(raw, region, struct.pack(">I", total)))

    for total in (0, MIN_HEADER - 1, ff.MAX_HEADER + 1, 2**32 - 1):
        assert refusal(with_length(total)) == "register damaged: header length out of range", total
    for total in (MIN_HEADER, len(raw), ff.MAX_HEADER):
        assert ff.header_length(with_length(total)) == total
    # In range but past the end of the data: the file is too short for it.
    assert refusal(with_length(ff.MAX_HEADER)) == TRUNCATED_HEADER


def test_file_lengths_come_from_the_fixed_part_alone():
    header = _header(body_len=123456, history_nonce=bytes(range(12)), history_len=98765)
    raw = ff.encode_header(header)
    assert ff.file_lengths(raw[: ff.FIXED_LEN]) == (len(raw), 123456, 98765)


def test_the_checksum_covers_the_header():
    raw = ff.encode_header(_header())
    start, _ = _regions(raw)["file_id"]
    assert refusal(flipped(raw, start)) == BAD_CHECKSUM
    assert refusal(flipped(raw, len(raw) - 1)) == BAD_CHECKSUM


@pytest.mark.parametrize("count", [0, ff.MAX_SLOTS + 1])
def test_slot_count_out_of_range(count):
    slots = [_person(i + 1, ff.ACCESS_REGISTER) for i in range(count)]
    assert refusal(ff.encode_header(_header(slots))) == "register damaged: key slot count out of range"


def test_exactly_max_slots_are_accepted():
    slots = [_person(1)] + [_person(i, ff.ACCESS_REGISTER) for i in range(2, ff.MAX_SLOTS + 1)]
    header, _ = ff.parse_header(ff.encode_header(_header(slots)))
    assert len(header.slots) == ff.MAX_SLOTS == 256


@pytest.mark.parametrize(
    "body_len, ok",
    [
        (0, False),
        (crypto.TAG_LEN - 1, False),
        (crypto.TAG_LEN, True),
        (ff.MAX_BODY, True),
        (ff.MAX_BODY + 1, False),
        (2**64 - 1, False),
    ],
)
def test_body_length_bounds(body_len, ok):
    raw = ff.encode_header(_header(body_len=body_len))
    if ok:
        assert ff.parse_header(raw)[0].body_len == body_len
    else:
        assert refusal(raw) == "register damaged: body length out of range"


@pytest.mark.parametrize(
    "nonce, length, ok",
    [
        (bytes(12), 0, True),  # no archive
        (b"\1" + bytes(11), 0, False),  # no archive, yet a nonce: written by nothing we know
        (bytes(range(12)), crypto.TAG_LEN - 1, False),
        (bytes(range(12)), 1, False),
        (bytes(12), 5, False),
        (bytes(range(12)), crypto.TAG_LEN, True),
        (bytes(range(12)), ff.MAX_BODY, True),
        (bytes(range(12)), ff.MAX_BODY + 1, False),
        (bytes(range(12)), 2**64 - 1, False),
    ],
)
def test_history_nonce_and_length(nonce, length, ok):
    raw = ff.encode_header(_header(history_nonce=nonce, history_len=length))
    if ok:
        header, _ = ff.parse_header(raw)
        assert (header.history_nonce, header.history_len) == (nonce, length)
    else:
        assert refusal(raw) == "register damaged: history length out of range"


def test_trailing_bytes_in_the_header():
    raw = ff.encode_header(_header())
    body = raw[: -ff.CHECKSUM_LEN]
    for extra in (b"\0", bytes(2), ff._encode_slot(_person(7))):  # the last: a whole slot the count leaves out
        assert refusal(_resealed(body + extra)) == "register damaged: trailing bytes in header"


@pytest.mark.parametrize(
    "spare, message",
    [
        (b"", "register damaged: key slot truncated"),
        (b"\0", "register damaged: key slot truncated"),
    ],
)  # two spare bytes: a slot of length 0, in test_a_slot_shorter_than_its_fixed_part
def test_a_slot_count_larger_than_the_slots(spare, message):
    assert refusal(_one_slot_more(ff.encode_header(_header()), spare)) == message


SLOT_FIXED_LEN = ff._SLOT_FIXED.size


@pytest.mark.parametrize(
    "length, message",
    [
        (0, "register damaged: key slot length out of range"),  # unpacking its fixed part would run off the data
        (SLOT_FIXED_LEN - 1, "register damaged: key slot length out of range"),
        (SLOT_FIXED_LEN, "register damaged: key slot truncated"),  # no room for the blobs' length fields
        (SLOT_FIXED_LEN + 1, "register damaged: key slot truncated"),
    ],
)
def test_a_slot_shorter_than_its_fixed_part(length, message):
    """The last slot is `length` zero bytes, so its record ends where the header's checksum starts."""
    raw = ff.encode_header(_header())
    assert refusal(_one_slot_more(raw, struct.pack(">H", length) + bytes(length))) == message


def test_a_slot_longer_than_the_header():
    raw = ff.encode_header(_header())
    regions = _regions(raw)
    last = max(int(name[4:].split(".")[0]) for name in regions if name.startswith("slot") and "." in name)
    at = regions[f"slot{last}.length"]
    length = struct.unpack(">H", raw[at[0] : at[1]])[0]
    for longer in (length + 1, 0xFFFF):
        patched = _patched(raw, at, struct.pack(">H", longer))
        assert (
            refusal(_resealed(bytes(patched[: -ff.CHECKSUM_LEN]))) == "register damaged: key slot length out of range"
        )


def test_a_blob_running_past_its_slot():
    raw = ff.encode_header(_header([_person(1)]))
    at = _regions(raw)["slot0.sealed_vault_length"]
    patched = _patched(raw, at, struct.pack(">H", ff.SEALED_KEY_LEN + 1))
    assert refusal(_resealed(bytes(patched[: -ff.CHECKSUM_LEN]))) == "register damaged: key slot truncated"


def test_trailing_bytes_in_a_slot():
    raw = ff.encode_header(_header([_person(1)]))
    regions = _regions(raw)
    at = regions["slot0.length"]
    length = struct.unpack(">H", raw[at[0] : at[1]])[0]
    out = _patched(raw, at, struct.pack(">H", length + 1))
    end = regions["slot0.sealed_vault"][1]
    out[end:end] = b"\0"  # one byte after the last blob, inside the record as its length now says
    assert refusal(_resealed(bytes(out[: -ff.CHECKSUM_LEN]))) == "register damaged: key slot has trailing bytes"


def test_blob_lengths_are_unsigned():
    """A 40,000-byte blob (above a signed 16-bit length) is written and read back at its size, then refused."""
    raw = ff.encode_header(_header([_person(1, wrapped=bytes(40_000))]))
    assert refusal(raw) == "register damaged: a key slot has invalid fields"


INVALID_SLOTS = {
    "person-kdf-alg-hkdf": _person(9, kdf_alg=ff.KDF_HKDF),
    "person-kdf-alg-0": _person(9, kdf_alg=0),
    "person-kdf-below-floor": _person(9, kdf=KdfParams(ff.KDF_FLOOR.memory_kib - 1, 2, 1)),
    "person-wrapped-short": _person(9, wrapped=bytes(ff.WRAPPED_PERSON_LEN - 1)),
    "person-wrapped-long": _person(9, wrapped=bytes(ff.WRAPPED_PERSON_LEN + 1)),
    "person-wrapped-recovery-size": _person(9, wrapped=bytes(ff.WRAPPED_RECOVERY_LEN)),
    "recovery-kdf-alg-argon2id": _recovery(kdf_alg=ff.KDF_ARGON2ID),
    "recovery-kdf-memory": _recovery(kdf=KdfParams(1, 0, 0)),
    "recovery-kdf-iterations": _recovery(kdf=KdfParams(0, 1, 0)),
    "recovery-kdf-lanes": _recovery(kdf=KdfParams(0, 0, 1)),
    "recovery-kdf-floor": _recovery(kdf=ff.KDF_FLOOR),
    "recovery-register-access": _recovery(access=ff.ACCESS_REGISTER, sealed_vault=b""),
    "recovery-tag": _recovery(tag=b"\1" + bytes(ff.TAG_LEN_PERSON - 1)),
    "recovery-wrapped-person-size": _recovery(wrapped=bytes(ff.WRAPPED_PERSON_LEN)),
    "recovery-wrapped-short": _recovery(wrapped=bytes(ff.WRAPPED_RECOVERY_LEN - 1)),
    "kind-0": _person(9, kind=0),
    "kind-3": _person(9, kind=3),
    "kind-255": _recovery(kind=255),
    "access-0": _person(9, access=0, sealed_vault=b""),
    "access-3": _person(9, access=3, sealed_vault=b""),
    "access-3-with-vault-key": _person(9, access=3),
    "sealed-register-short": _person(9, sealed_register=bytes(ff.SEALED_KEY_LEN - 1)),
    "sealed-register-long": _person(9, sealed_register=bytes(ff.SEALED_KEY_LEN + 1)),
    "sealed-register-empty": _recovery(sealed_register=b""),
    "vault-access-without-vault-key": _person(9, ff.ACCESS_VAULT, sealed_vault=b""),
    "vault-key-short": _person(9, ff.ACCESS_VAULT, sealed_vault=bytes(ff.SEALED_KEY_LEN - 1)),
    "register-access-with-vault-key": _person(9, ff.ACCESS_REGISTER, sealed_vault=bytes(ff.SEALED_KEY_LEN)),
    "recovery-without-vault-key": _recovery(sealed_vault=b""),
}


@pytest.mark.parametrize("slot", INVALID_SLOTS.values(), ids=INVALID_SLOTS.keys())
def test_a_slot_with_an_invalid_field(slot):
    """Each case breaks one rule of its kind; the custodian slot beside it is well formed."""
    raw = ff.encode_header(_header([_person(1), slot]))
    assert refusal(raw) == "register damaged: a key slot has invalid fields"


def test_well_formed_slots_of_each_kind_and_access_are_accepted():
    slots = [_person(1), _person(2, ff.ACCESS_REGISTER), _recovery(3), _person(4, kdf=ff.KDF_CAP)]
    header, _ = ff.parse_header(ff.encode_header(_header(slots)))
    assert header.slots == slots


@pytest.mark.parametrize(
    "slots",
    [
        [_recovery()],
        [_person(2, ff.ACCESS_REGISTER), _recovery()],
        [_person(2, ff.ACCESS_REGISTER), _person(3, ff.ACCESS_REGISTER)],
    ],
    ids=["recovery-only", "register-person-and-recovery", "register-people"],
)
def test_a_header_without_a_person_with_vault_access_is_refused(slots):
    assert refusal(ff.encode_header(_header(slots))) == "register damaged: no custodian key slot"


def test_a_repeated_slot_id_is_refused():
    slots = [_person(1), _person(2, ff.ACCESS_REGISTER), _recovery(2)]
    assert refusal(ff.encode_header(_header(slots))) == "register damaged: duplicate key slot"


def test_a_person_tag_is_the_normalised_email_hashed_with_the_file_id():
    """The tag is part of the file format: a register written today must open with `--as` tomorrow."""
    file_id = bytes(range(16))
    expected = hashlib.sha256(ff.LABEL_PERSON_TAG + file_id + b"it@oak.sch.uk").digest()[: ff.TAG_LEN_PERSON]
    assert ff.person_tag(file_id, " IT@Oak.sch.UK\t") == expected
    assert ff.person_tag(bytes(16), "it@oak.sch.uk") != expected


def test_a_header_copy_shares_no_slot_with_the_original():
    header = _header()
    copy = header.copy()
    copy.slots[0].salt = b"\1" * 16
    copy.slots.append(_person(5))
    assert header == _header()


def _bytes(n):
    return st.binary(min_size=n, max_size=n)


person_kdf = st.builds(
    KdfParams,
    st.integers(ff.KDF_FLOOR.memory_kib, ff.KDF_CAP.memory_kib),
    st.integers(ff.KDF_FLOOR.iterations, ff.KDF_CAP.iterations),
    st.integers(ff.KDF_FLOOR.lanes, ff.KDF_CAP.lanes),
)


@st.composite
def person_slots(draw, access=None):
    access = access if access is not None else draw(st.sampled_from([ff.ACCESS_REGISTER, ff.ACCESS_VAULT]))
    return ff.Slot(
        draw(_bytes(16)),
        ff.KIND_PERSON,
        access,
        draw(_bytes(ff.TAG_LEN_PERSON)),
        ff.KDF_ARGON2ID,
        draw(_bytes(16)),
        draw(person_kdf),
        draw(_bytes(32)),
        draw(_bytes(ff.WRAPPED_PERSON_LEN)),
        draw(_bytes(ff.SEALED_KEY_LEN)),
        draw(_bytes(ff.SEALED_KEY_LEN)) if access == ff.ACCESS_VAULT else b"",
    )


@st.composite
def recovery_slots(draw):
    return ff.Slot(
        draw(_bytes(16)),
        ff.KIND_RECOVERY,
        ff.ACCESS_VAULT,
        bytes(ff.TAG_LEN_PERSON),
        ff.KDF_HKDF,
        draw(_bytes(16)),
        KdfParams(0, 0, 0),
        draw(_bytes(32)),
        draw(_bytes(ff.WRAPPED_RECOVERY_LEN)),
        draw(_bytes(ff.SEALED_KEY_LEN)),
        draw(_bytes(ff.SEALED_KEY_LEN)),
    )


@st.composite
def headers(draw):
    slots = [draw(person_slots(access=ff.ACCESS_VAULT))]
    slots += draw(st.lists(st.one_of(person_slots(), recovery_slots()), max_size=6))
    slots = draw(st.permutations(slots))
    assume(len({s.slot_id for s in slots}) == len(slots))
    # Fixed-size byte fields the layout may grow (each with a bytes default of its size) get random values too.
    extra = {
        f.name: draw(_bytes(len(f.default)))
        for f in fields(ff.Header)
        if isinstance(f.default, bytes) and f.name not in ("file_id", "body_nonce", "history_nonce")
    }
    # No archive is all zeros; an archive has any nonce and at least a GCM tag's length.
    history_nonce, history_len = draw(
        st.one_of(st.just((bytes(12), 0)), st.tuples(_bytes(12), st.integers(crypto.TAG_LEN, ff.MAX_BODY)))
    )
    return ff.Header(
        file_id=draw(_bytes(16)),
        generation=draw(st.integers(0, 2**64 - 1)),
        body_nonce=draw(_bytes(12)),
        body_len=draw(st.integers(crypto.TAG_LEN, ff.MAX_BODY)),
        slots=list(slots),
        history_nonce=history_nonce,
        history_len=history_len,
        **extra,
    )


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
