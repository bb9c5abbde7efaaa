"""Store addresses (a path or a postgresql:// URL), and the conflicted copies a sync service leaves beside a file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import error_line, ok
from accountctl.store.pgstore import redact
from accountctl.store.stores import address, conflict_copies


@pytest.mark.parametrize(
    "url, shown",
    [
        ("postgresql://app:s3cret@db/trust", "postgresql://app:***@db/trust"),
        ("postgres://app:s3cret@db:5433/trust?sslmode=require", "postgres://app:***@db:5433/trust?sslmode=require"),
        (
            "postgresql://app@db/trust?password=s3cret&sslmode=verify-full",
            "postgresql://app@db/trust?password=***&sslmode=verify-full",
        ),
        ("postgresql://db/trust", "postgresql://db/trust"),
        ("POSTGRESQL://app:p%40ss@db/trust", "POSTGRESQL://app:***@db/trust"),
    ],
)
def test_a_url_is_shown_without_its_password(url, shown):
    assert redact(url) == shown


def test_an_address_is_a_url_as_given_or_a_path(monkeypatch, tmp_path):
    url = "postgresql://app@db.oak.sch.uk/trust?sslmode=verify-full"
    assert address(url) == url  # a Path would fold the // and lose it
    assert address("~/trust.accountctl") == Path.home() / "trust.accountctl"
    monkeypatch.setenv("ACCOUNTCTL_REGISTER", url)
    assert address(None) == url
    monkeypatch.setenv("ACCOUNTCTL_REGISTER", str(tmp_path / "r.accountctl"))
    assert address(None) == tmp_path / "r.accountctl"


def test_a_folder_is_not_a_register(run, tmp_path):
    error_line(run(f"--register {tmp_path} init --trust Oak --email it@oak.sch.uk --name Ira"), 2, "is a folder")
    assert not list(tmp_path.glob("*.accountctl*"))


CONFLICT_NAMES = [
    "oak-DESKTOP-4F2K9QL.accountctl",  # OneDrive: the other computer's name
    "oak-LAPTOP-7H3-2.accountctl",  # OneDrive, the second conflict from that computer
    "oak (1).accountctl",  # Google Drive for desktop
    "oak (Ira's conflicted copy 2026-11-30).accountctl",
]  # Dropbox, Nextcloud


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


def test_an_unreadable_conflict_like_file_does_not_hide_a_real_copy_after_it(oak):
    (oak.parent / "oak (1).accountctl").write_bytes(b"not a register at all")
    shutil.copyfile(oak, oak.with_name("oak (2).accountctl"))
    assert conflict_copies(oak) == ["oak (2).accountctl"]
