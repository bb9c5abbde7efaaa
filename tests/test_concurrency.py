"""Writers in several processes: no lost update, a bounded wait for the lock, crash safety, PATH.bak."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from accountctl.errors import DamagedError
from accountctl.store import fileformat as ff
from accountctl.store import register as store
from conftest import CUSTODIAN, PASSPHRASE, ok, error_line as refused

WORKERS = 8
WRITES = 25
FORK = multiprocessing.get_context("fork")

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses fork")


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and not p.name.endswith(".lock")}


def child_env(**extra) -> dict:
    """The test's environment for a child `python -m accountctl`, with no real OS keyring touched."""
    env = dict(os.environ)
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"
    env.update(extra)
    return env


# -- 8 processes x 25 writes ---------------------------------------------------------------------------
def _writer(path: str, worker: int, writes: int) -> None:
    from accountctl.core import directory

    for i in range(writes):
        with store.open_register(
            Path(path), actor=CUSTODIAN, passphrase_source=lambda: PASSPHRASE, write=True, use_keyring=False
        ) as reg:
            directory.add_staff(
                reg.db, reg.actor, f"w{worker}.n{i}@oak.sch.uk", f"Worker {worker} #{i}", "oak", ["staff"]
            )


def _reader(path: str, stop, failures) -> None:
    """Open the register read-only until told to stop; a half-written file would fail to parse or decrypt."""
    reads = 0
    while not stop.is_set() or reads == 0:
        try:
            with store.open_register(
                Path(path), actor=CUSTODIAN, passphrase_source=lambda: PASSPHRASE, use_keyring=False
            ) as reg:
                reg.db.execute("SELECT count(*) FROM staff").fetchone()
        except DamagedError as exc:
            failures.put(str(exc))
        reads += 1
    failures.put(f"reads={reads}")


def test_eight_processes_writing_lose_no_update(run, oak, monkeypatch):
    monkeypatch.setenv("ACCOUNTCTL_LOCK_TIMEOUT", "60")  # a loaded CI box must not turn waiting into 'busy'
    start_generation = store.read_header(oak)[0].generation
    stop, failures = FORK.Event(), FORK.Queue()
    reader = FORK.Process(target=_reader, args=(str(oak), stop, failures))
    reader.start()
    writers = [FORK.Process(target=_writer, args=(str(oak), w, WRITES)) for w in range(WORKERS)]
    started = time.monotonic()
    for p in writers:
        p.start()
    for p in writers:
        p.join(timeout=120)
    stop.set()
    reader.join(timeout=30)
    elapsed = time.monotonic() - started
    assert [p.exitcode for p in writers] == [0] * WORKERS
    assert reader.exitcode == 0
    messages = []
    while True:
        item = failures.get(timeout=5)
        if item.startswith("reads="):
            break
        messages.append(item)
    assert messages == [], "a reader saw a half-written register"
    assert int(item.split("=")[1]) > 0

    emails = {s["email"] for s in json.loads(ok(run("staff list --json")).stdout)}
    written = {e for e in emails if e.startswith("w")}
    assert len(written) == WORKERS * WRITES == 200
    assert written == {f"w{w}.n{i}@oak.sch.uk" for w in range(WORKERS) for i in range(WRITES)}
    assert store.read_header(oak)[0].generation == start_generation + WORKERS * WRITES
    ok(run("verify"))
    adds = [e for e in json.loads(ok(run("log --json")).stdout) if e["target"] in written]
    assert len(adds) == 200 and {e["action"] for e in adds} == {"staff.add"}
    assert elapsed < 60, f"{elapsed:.1f}s"


def test_cli_writers_in_separate_processes_lose_no_update(oak, run):
    """The same through `python -m accountctl`: 4 processes, each running 4 writes one after another."""
    script = textwrap.dedent("""
        import subprocess, sys
        for i in range(4):
            subprocess.run([sys.executable, "-m", "accountctl", "staff", "add", f"c{sys.argv[1]}.{i}@oak.sch.uk",
                            "--name", "Cli", "--school", "oak"], check=True)
    """)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(w)],
            env=child_env(ACCOUNTCTL_LOCK_TIMEOUT="60"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for w in range(4)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    emails = {s["email"] for s in json.loads(ok(run("staff list --json")).stdout)}
    assert {e for e in emails if e.startswith("c")} == {f"c{w}.{i}@oak.sch.uk" for w in range(4) for i in range(4)}
    ok(run("verify"))


# -- a held lock ---------------------------------------------------------------------------------------
def _hold_lock(path: str, held, release) -> None:
    from filelock import FileLock

    with FileLock(path + ".lock"):
        held.set()
        release.wait(30)


def test_a_held_lock_makes_a_writer_fail_busy_within_the_timeout(run, oak, monkeypatch):
    monkeypatch.setenv("ACCOUNTCTL_LOCK_TIMEOUT", "0.5")
    held, release = FORK.Event(), FORK.Event()
    holder = FORK.Process(target=_hold_lock, args=(str(oak), held, release))
    holder.start()
    try:
        assert held.wait(10)
        before = snapshot(oak.parent)
        started = time.monotonic()
        result = run("staff add x@oak.sch.uk --name X --school oak")
        elapsed = time.monotonic() - started
        refused(result, 5, "register busy")
        assert 0.5 <= elapsed < 5.0, elapsed  # waited the timeout, then gave up promptly
        assert snapshot(oak.parent) == before
        # Readers do not take the lock: they still work while a writer holds it.
        ok(run("staff list"))
        ok(run("vault status"))
    finally:
        release.set()
        holder.join(10)
    ok(run("staff add x@oak.sch.uk --name X --school oak"))
    assert "x@oak.sch.uk" in ok(run("staff list")).stdout


def test_a_writer_waits_for_a_lock_released_in_time(run, oak, monkeypatch):
    monkeypatch.setenv("ACCOUNTCTL_LOCK_TIMEOUT", "10")
    held, release = FORK.Event(), FORK.Event()
    holder = FORK.Process(target=_hold_lock, args=(str(oak), held, release))
    holder.start()
    try:
        assert held.wait(10)
        import threading

        threading.Timer(0.4, release.set).start()
        started = time.monotonic()
        ok(run("staff add x@oak.sch.uk --name X --school oak"))
        assert time.monotonic() - started >= 0.3
    finally:
        release.set()
        holder.join(10)


# -- a crash between the temp write and the rename -----------------------------------------------------
CRASH = textwrap.dedent("""
    import os, sys
    from pathlib import Path

    target = Path(os.environ["ACCOUNTCTL_REGISTER"]).resolve()
    real_replace = os.replace

    def dying_replace(src, dst, *args, **kwargs):
        if Path(dst).resolve() == target:
            os._exit(9)  # killed after PATH.tmp is written and fsynced, before the rename
        return real_replace(src, dst, *args, **kwargs)

    os.replace = dying_replace
    sys.argv = ["accountctl", "staff", "add", "ghost@oak.sch.uk", "--name", "Ghost", "--school", "oak"]
    from accountctl.cli import main
    main()
""")


def test_a_process_killed_before_the_rename_leaves_the_previous_register(run, oak):
    before = oak.read_bytes()
    generation = store.read_header(oak)[0].generation
    proc = subprocess.run([sys.executable, "-c", CRASH], env=child_env(), capture_output=True, timeout=60)
    assert proc.returncode == 9, proc.stderr.decode()
    assert oak.read_bytes() == before
    tmp = oak.with_name(oak.name + ".tmp")
    assert tmp.exists()  # the half-done write is there, and ignored
    assert ff.parse_header(tmp.read_bytes())[0].generation == generation + 1
    emails = {s["email"] for s in json.loads(ok(run("staff list --json")).stdout)}
    assert "ghost@oak.sch.uk" not in emails and len(emails) == 4
    ok(run("verify"))
    # The next write succeeds (the lock died with the process) and replaces the stale temp file.
    ok(run("staff add ghost@oak.sch.uk --name Ghost --school oak"))
    assert "ghost@oak.sch.uk" in ok(run("staff list")).stdout
    assert not tmp.exists()
    assert store.read_header(oak)[0].generation == generation + 1
    ok(run("verify"))


def test_the_crash_script_really_patches_the_rename(oak):
    """Guard for the test above: without the crash, the same script writes the register."""
    script = CRASH.replace("os._exit(9)", "pass")
    proc = subprocess.run([sys.executable, "-c", script], env=child_env(), capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    with store.open_register(oak, actor=None, passphrase_source=lambda: PASSPHRASE, use_keyring=False) as reg:
        assert reg.db.execute("SELECT 1 FROM staff WHERE email = 'ghost@oak.sch.uk'").fetchone()


# -- PATH.bak -------------------------------------------------------------------------------------------
def test_bak_holds_the_previous_generation(run, oak, tmp_path):
    bak = oak.with_name(oak.name + ".bak")
    for i in range(2):
        before = oak.read_bytes()
        generation = ff.parse_header(before)[0].generation
        ok(run(f"staff add b{i}@oak.sch.uk --name B{i} --school oak"))
        assert bak.read_bytes() == before
        assert ff.parse_header(bak.read_bytes())[0].generation == generation
        assert ff.parse_header(oak.read_bytes())[0].generation == generation + 1
        # Read on another machine: this one has seen the newer generation and refuses the older copy.
        elsewhere = {"XDG_STATE_HOME": str(tmp_path / f"elsewhere-{i}")}
        old = {s["email"] for s in json.loads(ok(run(f"staff list --json --register {bak}", env=elsewhere)).stdout)}
        refused(run(f"staff list --json --register {bak}"), 4, "'accountctl vault accept-rollback --reason TEXT'")
        new = {s["email"] for s in json.loads(ok(run("staff list --json")).stdout)}
        assert new - old == {f"b{i}@oak.sch.uk"}
    # A refused write leaves PATH.bak alone too.
    before_bak = bak.read_bytes()
    refused(run("staff add b0@oak.sch.uk --name Dup --school oak"), 2, "already exists")
    assert bak.read_bytes() == before_bak
