"""Shared fixtures: an isolated environment per test, a CLI runner, and a small ready register."""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
from pathlib import Path

import keyring
import pytest
from click.testing import CliRunner
from keyring.backend import KeyringBackend

from accountctl.cli import cli
from accountctl.store import keyring_cache

PASSPHRASE = "correct horse battery staple"
# The cheapest Argon2id setting accountctl accepts (OWASP's floor): tests never use the default.
TEST_KDF = "m=19456,t=2,p=1"
CUSTODIAN = "it@oak.sch.uk"
HEAD = "head@oak.sch.uk"


class MemoryKeyring(KeyringBackend):
    """An in-memory OS keyring stand-in."""

    priority = 1

    def __init__(self):
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.store.get((service, username))

    def set_password(self, service, username, password):
        self.store[(service, username)] = password

    def delete_password(self, service, username):
        from keyring.errors import PasswordDeleteError

        if (service, username) not in self.store:
            raise PasswordDeleteError(username)
        del self.store[(service, username)]


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Every test gets its own register path, cheap KDF, passphrases in env and an empty keyring."""
    for name in (
        "ACCOUNTCTL_USER",
        "ACCOUNTCTL_TODAY",
        "ACCOUNTCTL_RECOVERY_KEY",
        "ACCOUNTCTL_DEBUG",
        "ACCOUNTCTL_LOCK_TIMEOUT",
        "PYTHON_KEYRING_BACKEND",
        "COLUMNS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ACCOUNTCTL_KDF", TEST_KDF)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # where the no-keyring notice is remembered
    # this test's own agent socket, never the developer's agent (short: a Unix socket path has ~100 bytes)
    runtime = Path(tempfile.mkdtemp(prefix="acr"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("ACCOUNTCTL_REGISTER", str(tmp_path / "oak.accountctl"))
    monkeypatch.setenv("ACCOUNTCTL_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("ACCOUNTCTL_NEW_PASSPHRASE", PASSPHRASE)
    from accountctl.agent import client as agent_client

    monkeypatch.setattr(agent_client, "_warned", [])  # "not using the agent" is said once per process: per test here
    backend = MemoryKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    keyring_cache.reset()
    yield backend
    keyring.set_keyring(previous)
    keyring_cache.reset()
    stop_agent()
    shutil.rmtree(runtime, ignore_errors=True)


def stop_agent() -> None:
    """Stop this test's agent, if it started one (and wait until it has gone)."""
    import time

    from accountctl.agent import client as agent_client, protocol as agent_protocol

    try:
        agent_client.request({"op": "stop"}, timeout=5)
    except agent_protocol.AgentGone:
        return
    for _ in range(100):
        if not os.path.exists(agent_client.address()):
            return
        time.sleep(0.02)


@pytest.fixture
def register_path(tmp_path) -> Path:
    return tmp_path / "oak.accountctl"


class Runner:
    """Runs accountctl in-process as a user would type it; `run("staff list --json")`."""

    def __init__(self):
        self.runner = CliRunner()

    def __call__(self, args, input=None, env=None):
        argv = shlex.split(args) if isinstance(args, str) else list(args)
        return self.runner.invoke(cli, argv, input=input, env=env, catch_exceptions=False)


@pytest.fixture
def run() -> Runner:
    return Runner()


def ok(result, code: int = 0):
    """Assert an exit code, showing stderr when it is wrong; returns the result."""
    assert result.exit_code == code, (
        f"exit {result.exit_code} != {code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    )
    return result


def error_line(result, code: int, *texts: str, ignore_case: bool = False) -> str:
    """A refusal: exit `code`, nothing on stdout, exactly one stderr line, `Error: ...`, naming each of `texts`."""
    ok(result, code)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    line = lines[0].lower() if ignore_case else lines[0]
    for text in texts:
        assert (text.lower() if ignore_case else text) in line, f"{text!r} not in {lines[0]!r}"
    assert result.stdout == ""
    return lines[0]


def refused(run, path, args, code: int, *words: str, env=None) -> str:
    """Run a command that must be refused: `error_line` (words in any case), and the register file unchanged."""
    before = path.read_bytes()
    line = error_line(run(args, env=env), code, *words, ignore_case=True)
    assert path.read_bytes() == before, "a refused command changed the register file"
    return line


def demo_format_4(folder: Path) -> Path:
    """The demo trust as `demo` builds it before its upgrade to format 5 (the store tests start from it)."""
    from accountctl.core import demo
    from accountctl.store import register as store

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "demo.accountctl"
    demo.build(path, store)
    return path


def build_oak(run) -> None:
    """Create the `oak` trust in the register ACCOUNTCTL_REGISTER names (a file, or PostgreSQL)."""
    ok(run(f'init --trust "Oak Trust" --email {CUSTODIAN} --name "Ira Tech"'))
    ok(run('school add oak --name "Oak Primary" --domain oak.sch.uk'))
    ok(run(f'staff add {CUSTODIAN} --name "Ira Tech" --school oak --role it'))
    ok(run(f'staff add {HEAD} --name "Hana Head" --school oak --role headteacher --role slt'))
    ok(run('staff add t.one@oak.sch.uk --name "Tom One" --school oak --role staff --trained-on 2026-09-01'))
    ok(run('staff add t.two@oak.sch.uk --name "Tia Two" --school oak --role staff --trained-on 2026-09-01'))


# Registers as built once per session (per name, and per date, passphrase and user they were built under):
# the files and the state folder a build left, copied into each test that asks for the same again.
_BUILT: dict[tuple, tuple[dict[str, tuple[bytes, int]], dict[str, tuple[bytes, int]]]] = {}


def _files(folder: Path, keep) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mode & 0o777)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and keep(p)
    }


def _put(folder: Path, files: dict[str, tuple[bytes, int]]) -> None:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name, (data, mode) in files.items():
        target = folder / name
        for parent in reversed(target.relative_to(folder).parents[:-1]):
            (folder / parent).mkdir(mode=0o700, exist_ok=True)
        target.write_bytes(data)
        target.chmod(mode)


def reuse(name: str, register_path: Path, build) -> None:
    """Run `build()` (commands that fill the register at `register_path`) once per session; copy it after.

    Only a register file at `register_path` is copied (a register in PostgreSQL is built every
    time); the keyring is not, so a build must not log in.
    """
    if os.environ.get("ACCOUNTCTL_REGISTER") != str(register_path):
        build()
        return
    env = ("ACCOUNTCTL_TODAY", "ACCOUNTCTL_PASSPHRASE", "ACCOUNTCTL_KDF", "ACCOUNTCTL_USER")
    key = (name, *(os.environ.get(n) for n in env))
    state = Path(os.environ["XDG_STATE_HOME"])
    built = _BUILT.get(key)
    if built is None:
        build()
        mine = lambda p: p.name.startswith(register_path.name)  # noqa: E731
        _BUILT[key] = (_files(register_path.parent, mine), _files(state, lambda p: True))
    else:
        _put(register_path.parent, built[0])
        _put(state, built[1])


@pytest.fixture
def oak(run, register_path):
    """A register with one school (oak), its custodian, a headteacher and two teachers."""
    reuse("oak", register_path, lambda: build_oak(run))
    return register_path


@pytest.fixture(scope="session")
def cluster():
    """A throwaway PostgreSQL cluster for the session (tests/pgserver.py); skips where none can start."""
    import pgserver

    server = pgserver.Cluster.start()
    if server is None:
        pytest.skip(f"no PostgreSQL server could be started: {pgserver.Cluster.why_not}")
    yield server
    server.stop()
