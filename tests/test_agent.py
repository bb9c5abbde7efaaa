"""The agent: its life, who it answers, no stale reads, many clients at once, and falling back when killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pyotp
import pytest

from accountctl.agent import client as agent_client, protocol as agent_protocol
from conftest import CUSTODIAN, PASSPHRASE, ok

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the POSIX side of the agent (Unix socket, fork)")

FB = "oak-facebook-oakprimary"
TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
ACCOUNT = (
    "account request --school oak --platform facebook --handle OakPrimary --url https://www.facebook.com/OakPrimary "
    "--category faculty --email office@oak.sch.uk --owner t.one@oak.sch.uk --admin t.two@oak.sch.uk "
    "--aim News --audience Parents --promotion Newsletter --visibility open --pupils none"
)


def sh(*args: str, passphrase: bool = False, stdin: str | None = None, env: dict | None = None):
    """`accountctl ARGS` as a user's shell runs it (the console script's entry), with no OS keyring."""
    child = dict(os.environ, PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring", **(env or {}))
    if not passphrase:
        child.pop("ACCOUNTCTL_PASSPHRASE", None)
    return subprocess.run(
        [sys.executable, "-m", "accountctl.fast", *args], env=child, input=stdin, capture_output=True, text=True
    )


def done(result, code: int = 0):
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    return result


def reveal(reason: str, agent: bool = True):
    """`cred show` of the TOTP field: through the agent, or (`agent=False`) beside it, by passphrase."""
    if agent:
        return done(sh("cred", "show", FB, "--reason", reason, "--field", "totp"))
    return done(
        sh("cred", "show", FB, "--reason", reason, "--field", "totp", env={"ACCOUNTCTL_NO_AGENT": "1"}, passphrase=True)
    )


def status() -> dict:
    return agent_client.request({"op": "status"})


@pytest.fixture
def agent_oak(run, oak):
    """oak with a Facebook account holding a TOTP secret, and its custodian's key given to the agent."""
    ok(run(ACCOUNT))
    ok(run(f"cred totp {FB}", input=TOTP + "\n"))
    done(sh("login", "--agent", "--ttl", "10m", passphrase=True))
    return oak


# -- who it answers -----------------------------------------------------------------------------------
def _ucred(pid: int, uid: int, gid: int) -> bytes:
    return b"".join(n.to_bytes(4, sys.byteorder) for n in (pid, uid, gid))


def test_the_peer_check_refuses_another_users_credential():
    me = os.getuid()
    assert agent_protocol.peer_allowed(_ucred(4242, me, 0), me)
    assert not agent_protocol.peer_allowed(_ucred(4242, me + 1, me), me)  # another uid, even with our gid
    assert not agent_protocol.peer_allowed(_ucred(4242, 0, 0), 1000)  # root is another user too
    assert not agent_protocol.peer_allowed(b"\0" * 8, me)  # a short answer is no answer


def test_only_the_hot_commands_are_handed_over_and_options_are_found_anywhere():
    assert agent_protocol.command_of(["--register", "x.acc", "otp", FB]) == (("otp",), {"--register": "x.acc"})
    assert agent_protocol.command_of(["cred", "show", FB, "--as=it@oak.sch.uk"])[0] == ("cred", "show")
    assert agent_protocol.command_of(["account", "list", "--format", "json"])[0] == ("account", "list")
    assert agent_protocol.command_of(["cred", "set", FB])[0] == ()  # a write with a secret: never
    assert agent_protocol.command_of(["otp", "--help"])[0] == ()
    assert agent_protocol.command_of(["account", "approve", FB])[0] == ()


def test_a_run_request_survives_its_framing_and_a_garbled_one_is_refused():
    argv, env = ["otp", "", "caf\u00e9", "--as=x"], {"ACCOUNTCTL_TODAY": "2026-11-21", "COLUMNS": ""}
    frame = agent_protocol.run_frame(argv, env, "/some where")
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4
    assert agent_protocol.parse_run(frame[4:]) == {"op": "run", "argv": argv, "env": env, "cwd": "/some where"}
    with pytest.raises(ValueError):
        agent_protocol.parse_run(agent_protocol.RUN_TAG + b"/\x009\x00otp")


def test_socket_and_folder_are_private_and_status_shows_no_key(agent_oak):
    path = agent_client.address()
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(os.path.dirname(path)).st_mode & 0o777 == 0o700
    text = done(sh("agent", "status", "--json")).stdout
    held = json.loads(text)
    assert [(k["person"], k["register"]) for k in held] == [(CUSTODIAN, str(agent_oak))]
    assert 0 < held[0]["expires_in"] <= 600
    kek = agent_client.request({"op": "get", "file": _file_id(agent_oak), "name": _name(agent_oak)})["kek"]
    assert (
        kek and kek not in text and kek not in done(sh("agent", "status")).stdout + done(sh("agent", "status")).stderr
    )


def _file_id(path) -> str:
    from accountctl.store import register as store

    return store.read_header(path)[0].file_id.hex()


def _name(path) -> str:
    from accountctl.store import register as store

    header, _ = store.read_header(path)
    return store.keyring_name(header, store.choose_slot(header, CUSTODIAN))


# -- its life ------------------------------------------------------------------------------------------
def test_life_start_login_use_expire(run, oak):
    ok(run(ACCOUNT))
    done(sh("agent", "start", "--ttl", "2s"))
    before = done(sh("account", "list", "--json"), 3)  # no key yet, no keyring, no passphrase
    assert "no passphrase" in before.stderr
    done(sh("login", "--agent", passphrase=True))  # the key takes the agent's TTL
    listed = json.loads(done(sh("account", "list", "--json")).stdout)
    assert [a["id"] for a in listed] == [FB]
    # the client path loaded neither click, keyring nor cryptography
    imports = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "accountctl.fast", "account", "list"],
        env=dict(os.environ, PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring", ACCOUNTCTL_PASSPHRASE=""),
        capture_output=True,
        text=True,
    )
    assert imports.returncode == 0, imports.stderr
    loaded = {line.rsplit("|", 1)[-1].strip() for line in imports.stderr.splitlines() if "import time:" in line}
    if "MUTANT_UNDER_TEST" not in os.environ:  # a mutation audit's copy imports mutmut (json) in every module
        assert loaded and not {m for m in loaded if m.split(".")[0] in ("click", "keyring", "cryptography")}
        assert not loaded & {"socket", "json"}  # the run framing needs neither (their enum and re cost ~5 ms)
    time.sleep(3)  # the key expires unused, and with nothing left the agent leaves
    for _ in range(300):  # a loaded machine (or a mutation audit's instrumented copy) can take seconds
        if not os.path.exists(agent_client.address()):
            break
        time.sleep(0.1)
    assert not os.path.exists(agent_client.address())
    done(sh("account", "list"), 3)
    done(sh("account", "list", "--json", passphrase=True))  # the passphrase still works


def test_stop_and_logout_clear_the_key(agent_oak):
    assert done(sh("otp", FB)).stdout.strip().isdigit()
    done(sh("logout"))
    assert status()["keys"] == []
    assert "no passphrase" in done(sh("otp", FB), 3).stderr
    done(sh("login", "--agent", passphrase=True))
    done(sh("agent", "stop"))
    assert "No agent" in done(sh("agent", "status")).stderr
    done(sh("otp", FB), 3)


def test_cred_show_through_the_agent_records_its_reveal(run, agent_oak):
    shown = reveal("posting cover")
    assert f"secret={TOTP}" in shown.stdout
    log = ok(run("log --json", env={"ACCOUNTCTL_PASSPHRASE": PASSPHRASE})).stdout
    assert "posting cover" in log  # the reveal is saved, signed like any write


def _reveals(run) -> list[str]:
    log = json.loads(ok(run("log --json", env={"ACCOUNTCTL_PASSPHRASE": PASSPHRASE})).stdout)
    return [e["details"]["reason"] for e in log if e["action"] == "cred.show"]


def test_reveals_through_the_agent_and_beside_it_append_in_order_and_verify(run, agent_oak):
    """The agent's child appends a record to the file's tail; the agent adds others' records to what it holds."""
    from accountctl.store import register as store

    generation = store.read_header(agent_oak)[0].generation
    reveal("one")
    reveal("two")
    reveal("beside", agent=False)
    reveal("three")
    assert store.read_header(agent_oak)[0].generation == generation  # appended, never rewritten
    assert _reveals(run) == ["one", "two", "beside", "three"]
    ok(run("verify", env={"ACCOUNTCTL_PASSPHRASE": PASSPHRASE}))


def test_reveals_and_writers_at_once_lose_no_event(run, agent_oak):
    with ThreadPoolExecutor(13) as pool:
        reveals = [pool.submit(sh, "cred", "show", FB, "--reason", f"r{i}", "--field", "totp") for i in range(10)]
        writes = [pool.submit(sh, *ACCOUNT.replace("OakPrimary", f"OakClub{i}").split()) for i in range(3)]
        for future in reveals + writes:
            done(future.result())
    assert sorted(_reveals(run)) == sorted(f"r{i}" for i in range(10))
    ok(run("verify", env={"ACCOUNTCTL_PASSPHRASE": PASSPHRASE}))


# -- no stale read ---------------------------------------------------------------------------------------
def test_no_stale_read_after_another_process_writes(run, agent_oak):
    first = json.loads(done(sh("account", "list", "--json")).stdout)
    assert first[0]["handle"] == "OakPrimary"
    ok(run(ACCOUNT.replace("OakPrimary", "OakSports")))  # another process writes (passphrase, normal path)
    after = json.loads(done(sh("account", "list", "--json")).stdout)
    assert sorted(a["handle"] for a in after) == ["OakPrimary", "OakSports"]


# -- many at once ----------------------------------------------------------------------------------------
def test_twenty_otp_and_five_writers_at_once(agent_oak):
    handles = [f"OakClub{i}" for i in range(5)]

    def otp(_):
        before = pyotp.TOTP(TOTP).now()
        result = sh("otp", FB)
        return result, {before, pyotp.TOTP(TOTP).now()}

    def write(handle):
        return sh(*ACCOUNT.replace("OakPrimary", handle).split())

    with ThreadPoolExecutor(25) as pool:
        reads = [pool.submit(otp, i) for i in range(20)]
        writes = [pool.submit(write, h) for h in handles]
        for future in reads:
            result, valid = future.result()
            assert done(result).stdout.strip() in valid
        for future in writes:
            done(future.result())
    listed = json.loads(done(sh("account", "list", "--json")).stdout)
    assert {a["handle"] for a in listed} == {"OakPrimary", *handles}


# -- killed in the middle --------------------------------------------------------------------------------
def test_after_kill_9_the_next_command_works_by_passphrase(agent_oak):
    pid = status()["pid"]
    assert done(sh("otp", FB)).stdout.strip().isdigit()
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    assert os.path.exists(agent_client.address())  # its socket is left behind, refusing connections
    assert done(sh("otp", FB, passphrase=True)).stdout.strip() in {
        pyotp.TOTP(TOTP).now(),
        pyotp.TOTP(TOTP).at(time.time() - 30),
    }
    assert "no passphrase" in done(sh("otp", FB), 3).stderr
    done(sh("agent", "start"))  # a new agent replaces the dead one's socket
    assert status()["pid"] != pid


def test_a_dropped_register_is_freed_at_once():
    import sqlite3

    from accountctl.agent import process as agent_process

    agent = agent_process.Agent(60)

    class Held:  # a Register's part that matters here: a database, in a reference cycle
        pass

    reg = Held()
    reg.db, reg.itself = sqlite3.connect(":memory:"), reg
    agent.cache[("x.accountctl", "file", "name")] = ((1, 2, 3, 4, 5), reg)
    agent._drop_cache()  # no key is held for it any more
    assert not agent.cache
    with pytest.raises(sqlite3.ProgrammingError):  # closed, not left for the collector
        reg.db.execute("SELECT 1")


def test_malformed_requests_get_no_answer_and_the_agent_keeps_serving(agent_oak):
    """Anything of the user's own may connect: a frame that is not a request must not stop the agent."""
    import socket

    for body in (b"[1, 2]", b'"text"', b"null", b"{not json", agent_protocol.RUN_TAG + b"/\x009\x00otp"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(agent_client.address())
            sock.sendall(len(body).to_bytes(4, "big") + body)
            try:
                answer = sock.recv(64)
            except ConnectionResetError:
                answer = b""
            assert answer == b"", body  # closed with no answer
    assert status()["keys"], "the agent is still there, still holding the key"


def test_the_answers_the_agent_keeps_do_not_read_the_history(run, agent_oak, monkeypatch):
    """Why the agent may keep its answers when only events were appended (a reveal): none depends on them.

    Every command in CACHED runs over a register whose `events` table cannot be read (SQLite's
    authorizer; setting it makes SQLite prepare every statement again), and answers the same after
    a reveal as before it (a reveal also moves `meta`'s history head, which holds the settings too).
    """
    import sqlite3

    from accountctl.agent import requests as agent_requests
    from accountctl.store import register as store

    commands = {
        ("audit",): "audit --json",
        ("account", "list"): "account list --json",
        ("account", "show"): f"account show {FB} --json",
        ("offboard",): "offboard t.one@oak.sch.uk --json",
    }
    assert set(commands) == agent_requests.CACHED
    env = {"ACCOUNTCTL_PASSPHRASE": PASSPHRASE, "ACCOUNTCTL_NO_AGENT": "1"}
    before = {words: run(args, env=env) for words, args in commands.items()}
    ok(run(f'cred show {FB} --field totp --reason "looking"', env=env))
    for words, args in commands.items():
        after = run(args, env=env)
        assert (after.exit_code, after.stdout) == (before[words].exit_code, before[words].stdout), words

    with store.open_register(agent_oak, actor=CUSTODIAN, passphrase_source=lambda: PASSPHRASE) as reg:
        pass
    read = 20  # SQLITE_READ
    reg.db.set_authorizer(lambda action, table, *_: sqlite3.SQLITE_DENY if action == read and table == "events" else 0)
    monkeypatch.setattr(store.opening, "cached_reader", lambda target, who: reg)
    for words, args in commands.items():
        result = run(args)
        assert result.exit_code in (0, 1) and "Error" not in result.stderr, (words, result.stderr)
    with pytest.raises(sqlite3.DatabaseError):  # the guard itself works
        reg.db.execute("SELECT count(*) FROM events").fetchone()


def test_a_runtime_folder_too_deep_for_a_socket_gives_way_to_a_short_private_one(run, oak, monkeypatch, tmp_path):
    deep = tmp_path / ("d" * 90)
    deep.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(deep))
    path = agent_client.address()
    assert len(path.encode()) <= agent_client.MAX_SOCKET_PATH and path.startswith("/tmp/accountctl-")
    try:
        done(sh("login", "--agent", "--ttl", "1m", passphrase=True))
        assert os.stat(os.path.dirname(path)).st_mode & 0o777 == 0o700
        assert done(sh("account", "list", "--json")).stdout.strip() == "[]"
    finally:
        sh("agent", "stop")


def test_after_another_process_writes_the_kept_audit_is_worked_out_again_in_the_background(run, agent_oak):
    """Once the file has rested for a moment, the next `audit` through the agent is a kept answer again."""
    done(sh("audit", "--json", "--fail-on", "info"), 1)
    _until(lambda: status()["kept"] >= 1)  # the child's copy of its answer is collected as it comes
    assert status()["prewarmed"] == 0
    ok(run(ACCOUNT.replace("OakPrimary", "OakLater"), env={"ACCOUNTCTL_PASSPHRASE": PASSPHRASE}))
    _until(lambda: status()["prewarmed"] >= 1 and status()["kept"] >= 1)
    assert status()["prewarmed"] == 1
    through_agent = done(sh("audit", "--json", "--fail-on", "info"), 1).stdout
    direct = run("audit --json --fail-on info", env={"ACCOUNTCTL_PASSPHRASE": PASSPHRASE, "ACCOUNTCTL_NO_AGENT": "1"})
    assert "oaklater" in through_agent and through_agent == direct.stdout
    assert status()["prewarmed"] == 1  # the answer was kept, not worked out a second time


def _until(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.05)


def test_a_reveal_needs_no_background_work(run, agent_oak):
    done(sh("audit", "--json", "--fail-on", "info"), 1)
    _until(lambda: status()["kept"] >= 1)
    reveal("looking", agent=False)
    time.sleep(2.5)
    assert status()["prewarmed"] == 0 and status()["kept"] >= 1
