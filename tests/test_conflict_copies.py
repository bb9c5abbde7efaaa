"""A register file in OneDrive or Google Drive: the conflicted copies a sync service leaves beside it are named."""

from __future__ import annotations

import shutil

import pytest

from conftest import ok
from accountctl.store.stores import conflict_copies

CONFLICT_NAMES = ["oak-DESKTOP-4F2K9QL.accountctl",  # OneDrive: the other computer's name
                  "oak-LAPTOP-7H3-2.accountctl",  # OneDrive, the second conflict from that computer
                  "oak (1).accountctl",  # Google Drive for desktop
                  "oak (Ira's conflicted copy 2026-11-30).accountctl"]  # Dropbox, Nextcloud


def warning_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("Warning: ")]


@pytest.mark.parametrize("name", CONFLICT_NAMES)
def test_a_conflicted_copy_beside_the_register_is_named_on_every_command(run, oak, name):
    shutil.copyfile(oak, oak.with_name(name))
    for args in ("staff list", "staff add x@oak.sch.uk --name X --school oak", "vault status"):
        result = ok(run(args))
        lines = warning_lines(result)
        assert len(lines) == 1 and name in lines[0], result.stderr
        assert "sync service" in lines[0] and "not in this register" in lines[0]
    assert "x@oak.sch.uk" in ok(run("staff list")).stdout  # a warning, not a refusal


def test_every_copy_is_named_in_one_line(run, oak):
    for name in CONFLICT_NAMES:
        shutil.copyfile(oak, oak.with_name(name))
    lines = warning_lines(ok(run("staff list")))
    assert len(lines) == 1 and all(name in lines[0] for name in CONFLICT_NAMES)
    assert "4 conflicting copies" in lines[0]


def test_backups_other_registers_and_other_names_are_not_conflicts(run, oak, tmp_path, monkeypatch):
    shutil.copyfile(oak, oak.with_name("oak.accountctl.bak.old"))  # another suffix
    shutil.copyfile(oak, oak.with_name("trust-archive.accountctl"))  # another name
    shutil.copyfile(oak, oak.with_name("oak-backup.accountctl"))  # a copy made by hand
    (tmp_path / "oak (2).accountctl").write_bytes(b"not a register at all")
    # A register of its own (another file id) under a conflict-like name is not a copy of this one.
    other = tmp_path / "elsewhere" / "oak.accountctl"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state-other"))
    ok(run(f"--register {other} init --trust Other --email it@oak.sch.uk --name Ira"))
    shutil.copyfile(other, oak.with_name("oak-DESKTOP-OTHER1.accountctl"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert conflict_copies(oak) == []
    result = ok(run("staff list"))
    assert warning_lines(result) == [] and result.stderr == ""


def test_a_missing_register_has_no_conflict_copies(oak):
    shutil.copyfile(oak, oak.with_name("oak-DESKTOP-4F2K9QL.accountctl"))
    assert conflict_copies(oak) == ["oak-DESKTOP-4F2K9QL.accountctl"]
    assert conflict_copies(oak.with_name("missing.accountctl")) == []
