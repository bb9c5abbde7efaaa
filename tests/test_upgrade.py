"""Format 2 registers (accountctl 0.1.0) are upgraded in place, once, on a custodian's first open.

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
from conftest import CUSTODIAN, HEAD, error_line, ok

from accountctl.store import fileformat as ff

DATA = Path(__file__).parent / "data"
RECOVERY_KEY = "R7TH-IHWN-2K77-DNK4-PK3U-XGMR-6LTK-2Y53"


@pytest.fixture
def old(register_path):
    shutil.copyfile(DATA / "format2-register.bin", register_path)
    return register_path


def version(path: Path) -> int:
    return ff.parse_header(path.read_bytes())[0].version


def test_a_register_only_holder_cannot_upgrade_and_nothing_is_written(run, old):
    before = old.read_bytes()
    error_line(run(f"--as {HEAD} staff list"), 2, "format 2", "IT custodian")
    assert old.read_bytes() == before


def test_the_first_custodian_open_upgrades_once_and_everything_still_works(run, old):
    result = ok(run(f"--as {CUSTODIAN} staff list --json"))
    assert f"upgraded the register to format {ff.VERSION}" in result.stderr
    assert version(old) == ff.VERSION
    assert "t.one@oak.sch.uk" in result.stdout
    again = ok(run(f"--as {CUSTODIAN} staff list"))
    assert "upgraded" not in again.stderr
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
    # New work is signed as in any format-3 register, by the head too.
    ok(run(f"--as {CUSTODIAN} account update oak-facebook-oakprimary --aim 'News and events' --pupils none"))
    ok(run(f"--as {HEAD} approve oak-facebook-oakprimary"))
    ok(run(f"--as {CUSTODIAN} verify"))
    people = {p["email"]: p["access"] for p in json.loads(ok(run(f"--as {CUSTODIAN} person list --json")).stdout)}
    assert people == {CUSTODIAN: "vault", HEAD: "register"}


def test_the_recovery_key_still_works_after_the_upgrade(run, old, monkeypatch):
    ok(run(f"--as {CUSTODIAN} staff list"))
    monkeypatch.setenv("ACCOUNTCTL_RECOVERY_KEY", RECOVERY_KEY)
    monkeypatch.setenv("ACCOUNTCTL_NEW_PASSPHRASE", "a brand new passphrase for hana")
    ok(run(f"vault recover {HEAD}"))
    monkeypatch.setenv("ACCOUNTCTL_PASSPHRASE", "a brand new passphrase for hana")
    ok(run(f"--as {HEAD} verify"))


def test_a_hidden_slot_in_a_format_2_register_stops_the_upgrade(run, register_path):
    shutil.copyfile(DATA / "format2-hidden-slot.bin", register_path)
    before = register_path.read_bytes()
    error_line(run(f"--as {CUSTODIAN} staff list"), 4, "e93015f0", "belongs to nobody")
    assert register_path.read_bytes() == before


def test_a_decision_from_before_the_upgrade_still_needs_its_approvers_key(run, old):
    """The old approval was signed with the head's first key, which a recovery retired: carried over, it verifies;
    made to name another approver, it does not."""
    from accountctl.core import verification
    from accountctl.store.register import open_register

    ok(run(f"--as {CUSTODIAN} staff list"))
    with open_register(
        old, actor=CUSTODIAN, passphrase_source=lambda: "correct horse battery staple", use_keyring=False, history=True
    ) as reg:
        (key,) = reg.db.execute("SELECT public_key FROM approvals").fetchone()
        assert bytes(key) in reg.membership.retired_keys()  # the head's first key, retired by the recovery
        assert verification.verify(reg.db, reg.membership, reg.file_id) == []
        reg.db.execute("UPDATE approvals SET approver = ?", (CUSTODIAN,))
        problems = verification.verify(reg.db, reg.membership, reg.file_id)
    assert any("never theirs" in p for p in problems), problems
