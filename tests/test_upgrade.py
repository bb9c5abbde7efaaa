"""Format 2 registers (accountctl 0.1.0) are upgraded in place, once, by `vault upgrade`: never by any other command.

The fixtures were written by accountctl 0.1.0 (commit 6f1589e): `format2-register.bin` has a custodian,
a headteacher whose first signing key a recovery retired, an approval, a credential and a history
archive; `format2-hidden-slot.bin` is the same register after the custodian appended a slot for
nobody (the attack format 2 could not see).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import CUSTODIAN, HEAD, PASSPHRASE, error_line, ok

from accountctl.store import fileformat as ff

DATA = Path(__file__).parent / "data"
RECOVERY_KEY = "R7TH-IHWN-2K77-DNK4-PK3U-XGMR-6LTK-2Y53"


@pytest.fixture
def old(register_path):
    shutil.copyfile(DATA / "format2-register.bin", register_path)
    return register_path


def version(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[8:10], "big")  # where every format keeps it


def upgrade(run, path=None):
    """A custodian's `vault upgrade`, confirmed; what it listed."""
    result = ok(run(f"--as {CUSTODIAN} vault upgrade --yes --json"))
    return json.loads(result.stdout)


def snapshot(path: Path, tmp_path: Path) -> dict:
    """Every byte a refused command must leave alone: the register, PATH.bak and this machine's state folder."""
    files = {p: p.read_bytes() for p in path.parent.iterdir() if p.is_file() and p.name.startswith(path.name)}
    state = tmp_path / "state"
    files |= {p: p.read_bytes() for p in state.rglob("*") if p.is_file()} if state.exists() else {}
    return files


def test_no_ordinary_command_upgrades_and_nothing_is_written(run, old, tmp_path):
    before = snapshot(old, tmp_path)
    for who in (CUSTODIAN, HEAD):
        error_line(run(f"--as {who} staff list"), 2, "format 2", "accountctl vault upgrade")
    assert snapshot(old, tmp_path) == before
    assert version(old) == ff.UPGRADABLE


def test_only_a_custodian_upgrades(run, old, tmp_path):
    before = snapshot(old, tmp_path)
    error_line(
        run(f"--as {HEAD} vault upgrade --yes"), 3, "only an IT custodian can upgrade it ('accountctl vault upgrade')"
    )
    assert snapshot(old, tmp_path) == before


def test_the_upgrade_lists_what_it_will_sign_and_waits_for_a_yes(run, old, tmp_path):
    before = snapshot(old, tmp_path)
    result = run(f"--as {CUSTODIAN} vault upgrade")  # not a terminal, no --yes: it refuses to sign
    assert result.exit_code == 2 and "--yes" in result.stderr
    listed = {
        (r["person"], r["access"], r["status"])
        for r in json.loads(run(f"--as {CUSTODIAN} vault upgrade --json").stdout)
    }
    assert listed >= {(CUSTODIAN, "vault", "current"), (HEAD, "register", "current"), (HEAD, "", "retired")}
    assert ("recovery-key", "vault", "new") in listed  # the recovery slot it will sign for, new since format 2
    assert snapshot(old, tmp_path) == before
    keys = [
        r["signing_key"] for r in json.loads(run(f"--as {CUSTODIAN} vault upgrade --json").stdout) if r["signing_key"]
    ]
    assert all(len(k) == 64 for k in keys)  # whole keys, to compare with what each person holds


def test_upgrade_once_and_everything_still_works(run, old):
    listed = upgrade(run)
    assert {r["person"] for r in listed} >= {CUSTODIAN, HEAD}
    assert version(old) == ff.VERSION
    result = ok(run(f"--as {CUSTODIAN} staff list --json"))
    assert "t.one@oak.sch.uk" in result.stdout
    # The history, old decision and credential are all still there and check out.
    report = json.loads(ok(run(f"--as {CUSTODIAN} verify --json")).stdout)
    assert report["ok"] and report["approvals"] == 1, report
    ok(run(f"--as {HEAD} verify"))
    log = json.loads(ok(run(f"--as {CUSTODIAN} log --json")).stdout)
    assert log[-1]["action"] == "register.upgrade" and log[-1]["actor"] == CUSTODIAN
    assert any(e["action"] == "person.recover" for e in log)
    assert (
        ok(run(f"--as {CUSTODIAN} cred show oak-facebook-oakprimary --field password --reason test")).stdout
        == "Old-format-password-2024!\n"
    )
    # New work is signed as in any format-4 register, by the head too.
    ok(run(f"--as {CUSTODIAN} account update oak-facebook-oakprimary --aim 'News and events' --pupils none"))
    ok(run(f"--as {HEAD} approve oak-facebook-oakprimary"))
    ok(run(f"--as {CUSTODIAN} verify"))
    people = {p["email"]: p["access"] for p in json.loads(ok(run(f"--as {CUSTODIAN} person list --json")).stdout)}
    assert people == {CUSTODIAN: "vault", HEAD: "register"}
    # And on to format 5, a key per school: the format-2 history, its recovery and its decision carried over.
    ok(run(f"--as {CUSTODIAN} vault upgrade --yes"))
    assert version(old) == 5
    error_line(run(f"--as {CUSTODIAN} vault upgrade --yes"), 2, "nothing to upgrade")
    for who in (CUSTODIAN, HEAD):
        report = json.loads(ok(run(f"--as {who} verify --json")).stdout)
        assert report["ok"] and report["approvals"] == 2, report


def test_the_recovery_key_still_works_after_the_upgrade(run, old, monkeypatch):
    upgrade(run)
    monkeypatch.setenv("ACCOUNTCTL_RECOVERY_KEY", RECOVERY_KEY)
    monkeypatch.setenv("ACCOUNTCTL_NEW_PASSPHRASE", "a brand new passphrase for hana")
    ok(run(f"vault recover {HEAD}"))
    monkeypatch.setenv("ACCOUNTCTL_PASSPHRASE", "a brand new passphrase for hana")
    ok(run(f"--as {HEAD} verify"))


def test_a_hidden_slot_in_a_format_2_register_stops_the_upgrade(run, register_path, tmp_path):
    shutil.copyfile(DATA / "format2-hidden-slot.bin", register_path)
    before = snapshot(register_path, tmp_path)
    error_line(run(f"--as {CUSTODIAN} vault upgrade --yes"), 4, "e93015f0", "belongs to nobody")
    assert snapshot(register_path, tmp_path) == before


def test_a_decision_from_before_the_upgrade_still_needs_its_approvers_key(run, old):
    """The old approval was signed with the head's first key, which a recovery retired: carried over, it verifies;
    made to name another approver, it does not."""
    from accountctl.core import verification
    from accountctl.store.register import open_register

    upgrade(run)
    with open_register(
        old, actor=CUSTODIAN, passphrase_source=lambda: "correct horse battery staple", use_keyring=False, history=True
    ) as reg:
        (key,) = reg.db.execute("SELECT public_key FROM approvals").fetchone()
        assert bytes(key) in reg.membership.retired_keys()  # the head's first key, retired by the recovery
        assert verification.verify(reg.db, reg.membership, reg.file_id) == []
        reg.db.execute("UPDATE approvals SET approver = ?", (CUSTODIAN,))
        problems = verification.verify(reg.db, reg.membership, reg.file_id)
    assert any("never theirs" in p for p in problems), problems


# -- the attack: a signed register rewritten as format 2 by someone with only the register key -------------
def forge_format_2(path: Path, kept: bytes, signer: str = HEAD) -> bytes:
    """Play the insider: an SLT member with only the register key (and her own passphrase) rewrites the register
    as a format-2 file in which a key slot and signing key of her own stand in the headteacher's name.

    She starts from a format-2 copy she kept, plants a register slot whose keys she holds, lists it in the people
    table, registers a signing key of her own for the head, and re-encrypts the body under the header she wrote:
    everything format 2 could check (the register key's authentication, the custodian slots' MAC) still holds.
    """
    import struct

    from accountctl import crypto
    from accountctl.store import db as dbmod, register as reg_mod

    header, raw = ff.parse_header(kept)
    own = next(s for s in header.slots if s.tag == ff.person_tag(header.file_id, signer))
    keys = reg_mod._unwrap(header, own, crypto.argon2id(PASSPHRASE, own.salt, own.kdf))
    body = memoryview(kept)[len(raw) : len(raw) + header.body_len]
    conn, _ = reg_mod._decrypt_body(header, raw, body, keys.register_key)
    archive = kept[len(raw) + header.body_len :]
    planted, _, _ = reg_mod._make_person_slot(
        header.file_id, "planted@oak.sch.uk", ff.ACCESS_REGISTER, "the insider's own passphrase", ff.KDF_FLOOR, keys
    )
    planted.tag = ff.person_tag(header.file_id, HEAD)  # in the head's name
    head_slot = own.slot_id
    header.slots = [planted if s.slot_id == head_slot else s for s in header.slots]
    _, forged_key = crypto.ed25519_keypair()
    conn.execute("UPDATE people SET slot_id = ? WHERE slot_id = ?", (planted.slot_id, head_slot))
    conn.execute("UPDATE signing_keys SET retired_at = '2026-01-01' WHERE email = ? AND retired_at IS NULL", (HEAD,))
    conn.execute(
        "INSERT INTO signing_keys(email, public_key, created_at) VALUES (?, ?, '2026-01-01')", (HEAD, forged_key)
    )
    plain = dbmod.serialize(conn)
    header.generation += 100  # "newer" than anything seen
    header.body_nonce = crypto.random_bytes(12)
    header.body_len = len(plain) + 16
    fixed = ff._FIXED_V2.pack(
        ff.MAGIC,
        ff.UPGRADABLE,
        0,
        0,
        header.file_id,
        header.generation,
        header.body_nonce,
        header.body_len,
        header.history_nonce,
        header.history_len,
        header.vault_mac,
        len(header.slots),
    )
    new_raw = bytearray(fixed + b"".join(ff._encode_slot(s) for s in header.slots))
    struct.pack_into(">I", new_raw, 12, len(new_raw) + ff.CHECKSUM_LEN)
    new_raw += __import__("hashlib").sha256(new_raw).digest()
    sealed = crypto.encrypt_with_nonce(keys.register_key, header.body_nonce, plain, bytes(new_raw))
    forged = bytes(new_raw) + sealed + archive
    path.write_bytes(forged)
    return forged


def test_a_machine_that_saw_the_new_format_refuses_a_format_2_file_and_writes_nothing(run, old, tmp_path):
    kept = old.read_bytes()  # the insider keeps a format-2 copy from before the upgrade
    upgrade(run)
    ok(run(f"--as {CUSTODIAN} staff list"))
    forged = forge_format_2(old, kept)
    before = snapshot(old, tmp_path)
    for command in ("staff list", "audit", "vault upgrade --yes", "verify", "log"):
        error_line(run(f"--as {CUSTODIAN} {command}"), 4, "format 2", "seen it in format 4")
    assert snapshot(old, tmp_path) == before and old.read_bytes() == forged


def test_on_a_machine_that_never_saw_it_the_forgery_is_listed_before_anything_is_signed(run, old, tmp_path):
    """No witness to compare with: no command upgrades by itself, and `vault upgrade` shows the head's slot and
    signing key as the file states them, so the custodian can compare them with what the head holds."""
    forge_format_2(old, old.read_bytes())
    before = snapshot(old, tmp_path)
    error_line(run(f"--as {CUSTODIAN} staff list"), 2, "vault upgrade")
    listed = json.loads(run(f"--as {CUSTODIAN} vault upgrade --json").stdout)
    head_rows = [r for r in listed if r["person"] == HEAD]
    assert {r["status"] for r in head_rows} == {"current", "retired"}
    assert snapshot(old, tmp_path) == before
