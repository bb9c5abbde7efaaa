"""The progress bar: on stderr, only on a terminal, only for work that runs over a second."""

import itertools

from conftest import ok

from accountctl.cli import progress as progress_mod


def _staff_csv(path, n):
    rows = "".join(f"p{i}@oak.sch.uk,Person {i},oak,staff,,\n" for i in range(n))
    path.write_text("email,name,school,roles,trained_on,policy_ack\n" + rows)
    return path


def test_a_slow_import_on_a_terminal_shows_a_bar_on_stderr(run, oak, tmp_path, monkeypatch):
    ticks = itertools.count(0, 0.5)  # every look at the clock is half a second later
    monkeypatch.setattr(progress_mod, "_isatty", lambda: True)
    monkeypatch.setattr(progress_mod.time, "monotonic", lambda: next(ticks))
    result = ok(run(f"staff import {_staff_csv(tmp_path / 'staff.csv', 1000)}"))
    assert "Checking staff" in result.stderr
    assert "Checking staff" not in result.stdout


def test_no_bar_when_stderr_is_not_a_terminal(run, oak, tmp_path, monkeypatch):
    ticks = itertools.count(0, 0.5)
    monkeypatch.setattr(progress_mod, "_isatty", lambda: False)
    monkeypatch.setattr(progress_mod.time, "monotonic", lambda: next(ticks))
    result = ok(run(f"staff import {_staff_csv(tmp_path / 'staff.csv', 1000)}"))
    assert "Checking" not in result.stderr


def test_no_bar_for_work_under_a_second(run, oak, tmp_path, monkeypatch):
    monkeypatch.setattr(progress_mod, "_isatty", lambda: True)
    monkeypatch.setattr(progress_mod.time, "monotonic", lambda: 0.0)
    result = ok(run(f"staff import {_staff_csv(tmp_path / 'staff.csv', 1000)}"))
    assert "Checking" not in result.stderr
