"""The agent's safety (issue 22), each protection played as the attack it stops.

Another local user squats the agent's folder or socket; a same-user process sends junk, stalls or
never reads; a second person on a shared OS account logs in after the first; a command run with
ACCOUNTCTL_NO_AGENT still reaches the agent's keys; the agent's environment holds a passphrase; a
kept answer is replayed to another person, another date, or another state of this machine's witness.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from accountctl.agent import client as agent_client, protocol as agent_protocol
from conftest import CUSTODIAN, HEAD, PASSPHRASE, ok
from test_agent import ACCOUNT, FB, TOTP, _until, agent_oak, done, sh, status  # noqa: F401 (agent_oak: a fixture)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the POSIX side of the agent (Unix socket, fork)")

OTHER_UID = 65534  # nobody
needs_root = pytest.mark.skipif(
    not hasattr(os, "getuid") or os.getuid() != 0, reason="playing another local user needs root (chown, setuid)"
)


# -- 1. the agent is found safely ----------------------------------------------------------------------
# A fake agent, as another local user would plant it: it listens where the client looks, writes down
# every byte any client sends it, and answers whatever it likes (a KEK of its own, a made-up output).
FAKE = r"""
import json, os, socket, sys
path, log, become = sys.argv[1], sys.argv[2], int(sys.argv[3])
record = open(log, "ab", buffering=0)  # all opened before setuid: it must still write after
ready = open(log + ".ready", "wb", buffering=0)
connections = open(log + ".connections", "ab", buffering=0)
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(path)
if become >= 0:
    os.setuid(become)  # after bind, before listen: its peer credentials are now another user's
server.listen(16)
ready.write(b"1")
while True:
    conn, _ = server.accept()
    connections.write(b"c")
    conn.settimeout(3)
    data = b""
    try:
        while len(data) < 4 or len(data) < 4 + int.from_bytes(data[:4], "big"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
            record.write(chunk)
    except OSError:
        pass
    try:
        if data[4:9] == b"\0run\0":
            out = b"FAKE-AGENT-OUTPUT\n"
            conn.sendall(b"O" + bytes(4) + len(out).to_bytes(8, "big") + bytes(8) + out)
        else:
            answer = {"ok": True, "pid": os.getpid(), "ttl": 900, "mlock": False, "forgotten": 0,
                      "kek": "41" * 32, "keys": [{"register": "fake", "person": "mallory", "expires_in": 5}]}
            body = json.dumps(answer).encode()
            conn.sendall(len(body).to_bytes(4, "big") + body)
    except OSError:
        pass
    conn.close()
"""


class Fake:
    """A planted agent listening at `path`; `received()` is every byte any client sent it."""

    def __init__(self, path: str, become: int = -1):
        self.log = os.path.join(tempfile.mkdtemp(prefix="acf"), "log")
        self.proc = subprocess.Popen([sys.executable, "-c", FAKE, path, self.log, str(become)])
        ready = self.log + ".ready"
        _until(lambda: (os.path.exists(ready) and os.path.getsize(ready)) or self.proc.poll() is not None)
        assert self.proc.poll() is None, "the fake agent did not start"

    def received(self) -> bytes:
        with open(self.log, "rb") as handle:
            return handle.read()

    def connections(self) -> int:
        return os.path.getsize(self.log + ".connections")

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def totp_oak(run, oak):
    """oak with a Facebook account holding a TOTP secret; no agent."""
    ok(run(ACCOUNT))
    ok(run(f"cred totp {FB}", input=TOTP + "\n"))
    return oak


def _private(path: str) -> str:
    os.makedirs(path, mode=0o700)
    os.chmod(path, 0o700)
    return path


def _squatted_fallback(monkeypatch, mode: int = 0o755):
    """No XDG_RUNTIME_DIR: the fallback `<tmp>/accountctl-<uid>`, made first by another user (0755, theirs)."""
    tmp = tempfile.mkdtemp(prefix="act")  # never the real /tmp/accountctl-<uid>: other runs use it
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.setenv("TMPDIR", tmp)
    folder = os.path.join(tmp, f"accountctl-{os.getuid()}")
    os.mkdir(folder, mode)
    os.chmod(folder, mode)
    fake = Fake(os.path.join(folder, agent_protocol.NAME))
    os.chown(folder, OTHER_UID, OTHER_UID)
    return fake, f"owner uid {OTHER_UID}, mode {mode:04o}"


def _squatted_private(monkeypatch):
    """The same, kept 0700 by its owner: root (who runs this) may still enter it, so only the owner tells."""
    return _squatted_fallback(monkeypatch, 0o700)


def _open_folder(monkeypatch):
    """The user's own folder, but others may enter it (0755)."""
    folder = os.path.join(os.environ["XDG_RUNTIME_DIR"], "accountctl")
    os.mkdir(folder, 0o755)
    os.chmod(folder, 0o755)
    return Fake(os.path.join(folder, agent_protocol.NAME)), "mode 0755"


def _linked_folder(monkeypatch):
    """The folder is a symbolic link (to a private folder, but whoever can change the link chooses the agent)."""
    elsewhere = _private(os.path.join(tempfile.mkdtemp(prefix="acl"), "real"))
    os.symlink(elsewhere, os.path.join(os.environ["XDG_RUNTIME_DIR"], "accountctl"))
    return Fake(os.path.join(elsewhere, agent_protocol.NAME)), "symbolic link"


def _linked_socket(monkeypatch):
    """A private folder, but its socket is a symbolic link to one planted elsewhere."""
    folder = _private(os.path.join(os.environ["XDG_RUNTIME_DIR"], "accountctl"))
    planted = os.path.join(tempfile.mkdtemp(prefix="acl"), "s")
    fake = Fake(planted)
    os.symlink(planted, os.path.join(folder, agent_protocol.NAME))
    return fake, "symbolic link"


def _others_socket(monkeypatch):
    """A private folder holding a socket that belongs to another user."""
    folder = _private(os.path.join(os.environ["XDG_RUNTIME_DIR"], "accountctl"))
    path = os.path.join(folder, agent_protocol.NAME)
    fake = Fake(path)
    os.chown(path, OTHER_UID, OTHER_UID)
    return fake, f"owner uid {OTHER_UID}"


def _others_peer(monkeypatch):
    """Folder and socket are this user's own, but the process listening on it is another user's."""
    folder = _private(os.path.join(os.environ["XDG_RUNTIME_DIR"], "accountctl"))
    return Fake(os.path.join(folder, agent_protocol.NAME), become=OTHER_UID), f"uid {OTHER_UID}"


PLANTED = {
    "squatted fallback folder": _squatted_fallback,
    "squatted folder kept private by its owner": _squatted_private,
    "folder others may enter": _open_folder,
    "folder is a link": _linked_folder,
    "socket is a link": _linked_socket,
    "socket of another user": _others_socket,
    "agent process of another user": _others_peer,
}


def _one_warning(result, why: str) -> None:
    lines = [line for line in result.stderr.splitlines() if line.startswith("Warning: not using the agent")]
    assert len(lines) == 1, result.stderr  # said once, in one line
    assert why in lines[0], lines[0]


@needs_root
@pytest.mark.parametrize("plant", PLANTED)
def test_a_planted_agent_gets_no_key_and_no_request(totp_oak, monkeypatch, plant):
    fake, why = PLANTED[plant](monkeypatch)
    try:
        login = done(sh("login", "--agent", passphrase=True))  # the attack: the custodian's KEK sent to the fake
        _one_warning(login, why)
        assert "Not logged in" in login.stderr and "held by the agent" not in login.stderr
        shown = done(sh("otp", FB, passphrase=True))  # the fake answers a `run` with its own output
        assert "FAKE" not in shown.stdout and shown.stdout.strip().isdigit()
        _one_warning(shown, why)
        secret = done(sh("cred", "show", FB, "--field", "totp", "--reason", "check", passphrase=True))
        assert f"secret={TOTP}" in secret.stdout
        audit = sh("audit", "--json", passphrase=True)
        assert audit.returncode in (0, 1) and json.loads(audit.stdout)["summary"], audit.stderr
        assert "no passphrase" in done(sh("account", "list"), 3).stderr  # carries on: keyring, passphrase, prompt
        status = done(sh("agent", "status"))
        assert "mallory" not in status.stdout + status.stderr
        assert fake.received() == b"", "a client sent the planted agent a request or a key"
        if plant != "agent process of another user":  # only a connection says who listens: that one needs one
            assert fake.connections() == 0, "a client connected to a socket it could tell was not its user's own"
    finally:
        fake.stop()


@needs_root
def test_agent_start_on_a_squatted_folder_says_why_and_starts_nothing(totp_oak, monkeypatch):
    fake, why = _squatted_fallback(monkeypatch)
    try:
        started = done(sh("agent", "start"), 2)
        assert why in started.stderr and started.stderr.count("\n") == 1, started.stderr
        assert fake.received() == b"" and fake.connections() == 0
    finally:
        fake.stop()


def _stat(mode: int, uid: int) -> os.stat_result:
    return os.stat_result((mode, 1, 1, 1, uid, uid, 0, 0, 0, 0))


def test_the_place_check_refuses_anything_not_this_users_own_and_private():
    import stat

    me, folder, sock = 1000, stat.S_IFDIR | 0o700, stat.S_IFSOCK | 0o600
    assert agent_client.place_problem("/run/a", _stat(folder, me), _stat(sock, me), me) is None
    assert "owner uid 0" in agent_client.place_problem("/run/a", _stat(folder, 0), _stat(sock, me), me)
    assert "mode 0750" in agent_client.place_problem("/run/a", _stat(stat.S_IFDIR | 0o750, me), _stat(sock, me), me)
    assert "mode 0701" in agent_client.place_problem("/run/a", _stat(stat.S_IFDIR | 0o701, me), _stat(sock, me), me)
    assert "link" in agent_client.place_problem("/run/a", _stat(stat.S_IFLNK | 0o777, me), _stat(sock, me), me)
    assert "link" in agent_client.place_problem("/run/a", _stat(folder, me), _stat(stat.S_IFLNK | 0o777, me), me)
    assert "owner uid 7" in agent_client.place_problem("/run/a", _stat(folder, me), _stat(sock, 7), me)
    assert "not a socket" in agent_client.place_problem(
        "/run/a", _stat(folder, me), _stat(stat.S_IFREG | 0o600, me), me
    )


# -- 2. every field of every request is checked ----------------------------------------------------------
def _add(**fields) -> dict:
    message = {"op": "add", "file": "ab" * 16, "name": "cd" * 16, "kek": "ef" * 32, "who": "x@y.uk", "register": "r"}
    message.update(fields)
    return {k: v for k, v in message.items() if v is not None}


BAD = [
    _add(ttl="nan"),
    _add(ttl=float("nan")),
    _add(ttl=float("inf")),
    _add(ttl=-5),
    _add(ttl=0),
    _add(ttl=12 * 3600 + 1),
    _add(ttl="60"),
    _add(ttl=True),
    _add(ttl=[60]),
    _add(file="ab" * 15),
    _add(file="zz" * 16),
    _add(file=7),
    _add(name="cd" * 200),
    _add(name="not hex"),
    _add(kek="ef" * 31),
    _add(kek="ef" * 33),
    _add(kek="xy" * 32),
    _add(kek=None),
    _add(who="w" * 1000),
    _add(who=["x"]),
    _add(register="r" * 10000),
    _add(register=None),
    _add(extra="field"),
    {"op": "get", "file": "ab" * 16, "name": ["cd"]},
    {"op": "get", "file": "../../etc", "name": "cd"},
    {"op": "forget", "file": "ab" * 16, "name": 5},
    {"op": "steal"},
    {"op": ["status"]},
    {"no": "op"},
]


def _raw(message: dict) -> dict:
    """A request as any process of the user may send it (NaN and Infinity pass through json as such)."""
    body = json.dumps(message).encode("utf-8")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(agent_client.address())
        sock.sendall(len(body).to_bytes(4, "big") + body)
        return agent_protocol.receive(sock)


def test_every_field_of_every_request_is_checked_and_the_agent_keeps_serving(agent_oak):
    held = status()["keys"]
    for message in BAD:
        answer = _raw(message)
        assert answer.get("ok") is False and answer.get("error"), (message, answer)
    after = status()  # before: `ttl: "nan"` made a key that never expired, and every status failed from then on
    assert after["ok"] and [(k["person"], k["register"]) for k in after["keys"]] == [
        (k["person"], k["register"]) for k in held
    ]
    done(sh("agent", "status"))
    good = _raw(_add(ttl=30))
    assert good["ok"] is True
    assert any(k["register"] == "r" and 0 < k["expires_in"] <= 30 for k in status()["keys"])


def test_the_agent_process_refuses_a_ttl_that_is_not_a_finite_number_in_bounds():
    for ttl in ("nan", "inf", "-1", "0", "43201"):  # before: "nan" started an agent that never left
        started = subprocess.run(
            [sys.executable, "-m", "accountctl.agent.process", "--ttl", ttl], capture_output=True, text=True, timeout=30
        )
        assert started.returncode == 2 and "--ttl" in started.stderr, (ttl, started.stderr)
    assert not os.path.exists(agent_client.address())


# -- 3. an idle or slow client never holds up others ---------------------------------------------------------
def _connect() -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(agent_client.address())
    return sock


def test_idle_and_half_sent_requests_hold_up_no_one_and_are_dropped(agent_oak):
    idle = [_connect() for _ in range(3)]  # before: each held the agent for 30 s (three: 90 s)
    half = _connect()
    half.sendall((100).to_bytes(4, "big") + b'{"op": "sta')
    try:
        started = time.monotonic()
        assert agent_client.request({"op": "status"}, timeout=5)["ok"]
        assert done(sh("otp", FB)).stdout.strip().isdigit()
        assert time.monotonic() - started < 4
        half.settimeout(agent_protocol.REQUEST_DEADLINE + 5)
        assert half.recv(10) == b"", "a request not sent whole within its deadline is dropped"
        assert time.monotonic() - started < agent_protocol.REQUEST_DEADLINE + 3
    finally:
        for sock in [*idle, half]:
            sock.close()


def test_a_client_that_never_reads_a_large_answer_holds_up_no_one(agent_oak):
    for i in range(100):  # a status answer of ~400 kB: more than a socket's buffer holds
        assert _raw(_add(file=f"{i:032x}", register="/r" + "x" * 4000, ttl=60))["ok"]
    hog = _connect()
    body = b'{"op": "status"}'
    hog.sendall(len(body).to_bytes(4, "big") + body)  # and never reads the answer
    try:
        time.sleep(0.3)
        started = time.monotonic()
        assert agent_client.request({"op": "ping"}, timeout=5)["ok"]
        assert done(sh("otp", FB)).stdout.strip().isdigit()
        assert time.monotonic() - started < 4
    finally:
        hog.close()


# -- 4. one person's key per register unless --multi ----------------------------------------------------------
HEAD_PASS = "hana's own long passphrase"


@pytest.fixture
def two_people(run, totp_oak):
    """oak with a second person (the headteacher, register access); commands say who they are."""
    ok(run(f"person grant {HEAD} --access register --as {CUSTODIAN}", env={"ACCOUNTCTL_NEW_PASSPHRASE": HEAD_PASS}))
    return totp_oak


def _login(who: str, passphrase: str):
    return done(sh("login", "--agent", "--as", who, env={"ACCOUNTCTL_PASSPHRASE": passphrase}, passphrase=True))


def test_on_a_shared_account_the_next_persons_login_replaces_the_last_ones_key(two_people):
    _login(CUSTODIAN, PASSPHRASE)
    assert done(sh("staff", "list", "--as", CUSTODIAN)).stdout  # A's key works through the agent
    second = _login(HEAD, HEAD_PASS)
    assert "replaced" in second.stderr and CUSTODIAN in second.stderr, second.stderr
    # the attack: person B, at A's desk, acts as A with A's key that the agent still holds
    assert "no passphrase" in done(sh("staff", "list", "--as", CUSTODIAN), 3).stderr
    assert done(sh("staff", "list", "--as", HEAD)).stdout
    assert [k["person"] for k in status()["keys"]] == [HEAD]


def test_with_multi_the_agent_holds_both(two_people):
    assert "several people" in done(sh("agent", "start", "--multi")).stderr
    _login(CUSTODIAN, PASSPHRASE)
    second = _login(HEAD, HEAD_PASS)
    assert "replaced" not in second.stderr
    done(sh("staff", "list", "--as", CUSTODIAN))
    done(sh("staff", "list", "--as", HEAD))
    assert sorted(k["person"] for k in status()["keys"]) == sorted([CUSTODIAN, HEAD])


def test_login_that_starts_the_agent_by_itself_starts_it_for_one_person(run, totp_oak, monkeypatch):
    done(sh("login", passphrase=True))  # no OS keyring: the key goes to the agent, which it starts
    assert status()["multi"] is False


# -- 5. ACCOUNTCTL_NO_AGENT=1 keeps a command away from the agent --------------------------------------------
def test_no_agent_means_not_even_the_agents_keys(agent_oak):
    wrong = {"ACCOUNTCTL_NO_AGENT": "1", "ACCOUNTCTL_PASSPHRASE": "wrong"}
    assert "wrong passphrase" in done(sh("staff", "list", env=wrong, passphrase=True), 3).stderr
    assert "wrong passphrase" in done(sh("otp", FB, env=wrong, passphrase=True), 3).stderr
    assert done(sh("staff", "list")).stdout  # without it, the agent's key is used as before


def test_no_agent_never_starts_the_agent(totp_oak):
    result = done(sh("login", env={"ACCOUNTCTL_NO_AGENT": "1"}, passphrase=True))  # no OS keyring either
    assert "Not logged in" in result.stderr and "ACCOUNTCTL_NO_AGENT" in result.stderr
    assert not os.path.exists(agent_client.address())
    refused = done(sh("login", "--agent", env={"ACCOUNTCTL_NO_AGENT": "1"}, passphrase=True), 2)
    assert "ACCOUNTCTL_NO_AGENT" in refused.stderr
    assert not os.path.exists(agent_client.address())


# -- 6. no passphrase in the agent ----------------------------------------------------------------------------
def test_the_agent_is_started_without_any_passphrase_in_its_environment(totp_oak):
    secrets = {
        "ACCOUNTCTL_PASSPHRASE": PASSPHRASE,
        "ACCOUNTCTL_NEW_PASSPHRASE": "a new one for later",
        "ACCOUNTCTL_RECOVERY_KEY": "RECOVERY-KEY-TEXT",
    }
    done(sh("login", "--agent", env=secrets, passphrase=True))
    with open(f"/proc/{status()['pid']}/environ", "rb") as handle:
        environ = handle.read()
    for name, value in secrets.items():
        assert name.encode() not in environ and value.encode() not in environ, name


def test_a_forgotten_or_expired_key_is_zeroed():
    from accountctl.agent import keys as agent_keys

    keys = agent_keys.Keys()
    keys.put("ab" * 16, "cd" * 16, b"\x11" * 32, "a", "r", 60)
    keys.put("12" * 16, "ef" * 16, b"\x22" * 32, "b", "s", 0.001)
    keys.forget("ab" * 16, "cd" * 16)
    time.sleep(0.01)
    keys.expire()
    assert not keys.entries and keys.arena == bytearray(len(keys.arena))


# -- 7. a kept answer is replayed only to the same person, date and witness ------------------------------------
def test_a_kept_answer_is_never_replayed_to_another_person(run, two_people):
    done(sh("agent", "start", "--multi"))
    _login(CUSTODIAN, PASSPHRASE)
    _login(HEAD, HEAD_PASS)
    custodians = done(sh("audit", "--json", "--as", CUSTODIAN)).stdout
    _until(lambda: status()["kept"] >= 1)
    heads = sh("audit", "--json", "--as", HEAD).stdout
    direct = run(f"audit --json --as {HEAD}", env={"ACCOUNTCTL_NO_AGENT": "1", "ACCOUNTCTL_PASSPHRASE": HEAD_PASS})
    assert direct.stdout != custodians  # the custodian's audit covers the vault's rules too
    assert heads == direct.stdout


def test_the_same_person_however_written_is_one_kept_answer(agent_oak):
    first = done(sh("audit", "--json", "--as", "IT@Oak.sch.uk")).stdout
    _until(lambda: status()["kept"] >= 1)
    replayed = status()["replayed"]
    again = done(sh("audit", "--json", env={"ACCOUNTCTL_USER": " it@oak.sch.uk"})).stdout
    assert again == first and status()["replayed"] == replayed + 1


def test_a_kept_answer_is_never_replayed_for_another_date(run, agent_oak):
    done(sh("audit", "--json", env={"ACCOUNTCTL_TODAY": "2026-11-21"}))
    _until(lambda: status()["kept"] >= 1)
    later = sh("audit", "--json", env={"ACCOUNTCTL_TODAY": "2027-03-01"})
    assert json.loads(later.stdout)["summary"]["as_of"] == "2027-03-01"


def test_the_answer_key_holds_the_real_date_the_person_and_the_witness():
    from accountctl.agent import requests as agent_requests

    base = dict(
        identity=(1, 2, 3, 4, 5),
        witness="w1",
        path="/r",
        argv=["audit", "--json"],
        env={"COLUMNS": "80"},
        cwd="/",
        actor="it@oak.sch.uk",
        real_day="2026-11-21",
    )
    key = agent_requests.answer_key(**base)
    for name, other in (("real_day", "2026-11-22"), ("actor", "head@oak.sch.uk"), ("witness", "w2")):
        assert agent_requests.answer_key(**dict(base, **{name: other})) != key, name
    assert agent_requests.answer_key(**dict(base, env={"COLUMNS": "80", "ACCOUNTCTL_TODAY": "2026-12-01"})) != key
    assert agent_requests.answer_key(**dict(base, argv=["--as", "IT@oak.sch.uk", "audit", "--json"])) == key


def _witness_path():
    from accountctl.store import witness

    return witness.state_dir() / witness.FILE


def test_a_kept_answer_is_never_replayed_once_this_machine_has_seen_a_newer_file(agent_oak):
    """This machine has since seen a newer generation (another copy of the register): the file here is a rollback."""
    done(sh("audit", "--json"))
    _until(lambda: status()["kept"] >= 1)
    seen = json.loads(_witness_path().read_text())
    (entry,) = seen.values()
    entry["generation"] += 1
    _witness_path().write_text(json.dumps(seen))
    for args in (("audit", "--json"), ("otp", FB), ("account", "list")):  # kept, inline, forked
        refused = done(sh(*args), 4)
        assert "rolled back" in refused.stderr, (args, refused.stderr)


def test_after_a_reveal_the_kept_audit_is_still_replayed(agent_oak):
    """The agent's own reveal moves the witness on: the answers it carries across move with it."""
    first = done(sh("audit", "--json")).stdout
    _until(lambda: status()["kept"] >= 1)
    done(sh("cred", "show", FB, "--reason", "one", "--field", "totp"))
    replayed = status()["replayed"]
    assert done(sh("audit", "--json")).stdout == first
    assert status()["replayed"] == replayed + 1


# -- 8. agent status -----------------------------------------------------------------------------------------
def test_status_shows_person_register_expiry_and_last_use(agent_oak):
    held = json.loads(done(sh("agent", "status", "--json")).stdout)
    assert [(k["person"], k["register"]) for k in held] == [(CUSTODIAN, str(agent_oak))]
    assert held[0]["last_used"] is None and held[0]["expires_at"].endswith("Z")
    done(sh("otp", FB))
    (used,) = json.loads(done(sh("agent", "status", "--json")).stdout)
    assert used["last_used"] and used["last_used"].endswith("Z") and used["expires_at"] >= held[0]["expires_at"]
    table = done(sh("agent", "status", env={"COLUMNS": "80"})).stdout
    header, _, row = table.splitlines()
    assert header.split() == ["register", "person", "expires", "last_used"] and CUSTODIAN in row
    assert re.search(r" in \d+m \d\ds +\d+s ago$", row), row  # at 80 columns, nothing broken mid-word


@pytest.mark.parametrize("size, used", [(16, True), (17, False)])
def test_an_answer_larger_than_a_message_may_be_is_not_used(monkeypatch, size, used):
    """The client reads an answer only up to MAX_MESSAGE; past it, the command runs here instead."""
    monkeypatch.setattr(agent_client, "MAX_MESSAGE", 16)
    ours, agents = socket.socketpair()
    monkeypatch.setattr(agent_client, "_connect", lambda timeout: ours)
    agents.sendall(agent_protocol.output_frame(0, b"x" * size, b""))
    answer = agent_client.run(["account", "list"])
    agents.close()
    assert (answer is not None) is used
    if used:
        assert answer == {"code": 0, "out": b"x" * size, "err": b""}


def test_a_runtime_folder_too_deep_for_a_socket_gives_way_to_tmp_at_the_exact_length(monkeypatch):
    room = agent_client.MAX_SOCKET_PATH - len(os.path.join("/", "accountctl", agent_client.NAME))
    fits, deeper = "/" + "r" * (room - 1), "/" + "r" * room
    assert len(os.fsencode(os.path.join(fits, "accountctl", agent_client.NAME))) == agent_client.MAX_SOCKET_PATH
    monkeypatch.setenv("XDG_RUNTIME_DIR", fits)
    assert agent_client.folder() == os.path.join(fits, "accountctl")
    monkeypatch.setenv("XDG_RUNTIME_DIR", deeper)
    assert agent_client.folder() == f"/tmp/accountctl-{os.getuid()}"


# -- small rules of the agent's (mutation audit) -------------------------------------------------------------
def test_global_options_are_taken_out_in_both_spellings():
    argv = ["--register=/r/a.accountctl", "--as", "it@oak.sch.uk", "--format=json", "otp", FB]
    assert agent_protocol.without_options(argv, ("--register", "--as")) == ["--format=json", "otp", FB]


def test_a_run_request_may_carry_every_variable_a_client_passes():
    from accountctl.agent import requests

    names = agent_protocol.PASSED_ENV + agent_protocol.SAME_ENV
    message = {"argv": ["otp", FB], "env": {name: "x" for name in names}, "cwd": "/"}
    assert requests.sound_run(message)
    assert not requests.sound_run({**message, "env": {**message["env"], "LD_PRELOAD": "/tmp/x.so"}})


def test_a_file_rewritten_in_place_at_the_same_length_is_not_taken_for_an_appended_one():
    from accountctl.agent import held

    before = (64769, 1234, 5000, 1.0, 7)  # device, inode, size, time, generation
    assert held.only_appended(before, (64769, 1234, 5300, 2.0, 7))
    assert not held.only_appended(before, (64769, 1234, 5000, 2.0, 7))


def test_status_says_when_a_key_expires_as_a_time_to_come(agent_oak):
    from datetime import datetime, timezone

    key = status()["keys"][0]
    expires = datetime.strptime(key["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    left = (expires - datetime.now(timezone.utc)).total_seconds()
    assert 9 * 60 - 30 < left <= 10 * 60 + 1  # logged in with --ttl 10m a moment ago


def test_an_agent_given_no_key_leaves_when_its_time_is_up(run, oak):
    done(sh("agent", "start", "--ttl", "2s"))
    assert os.path.exists(agent_client.address())
    _until(lambda: not os.path.exists(agent_client.address()), 30)  # nothing to hold: it does not linger


def test_with_multi_one_persons_logout_leaves_the_others_key(two_people):
    done(sh("agent", "start", "--multi"))
    _login(CUSTODIAN, PASSPHRASE)
    _login(HEAD, HEAD_PASS)
    done(sh("logout", "--as", HEAD))
    assert [k["person"] for k in status()["keys"]] == [CUSTODIAN]


def test_an_agent_stopped_with_a_client_still_connected_leaves_no_socket_behind(agent_oak):
    idle = _connect()  # connected, nothing sent yet: the agent closes it as it leaves
    try:
        done(sh("agent", "stop"))
        _until(lambda: not os.path.exists(agent_client.address()), 10)
    finally:
        idle.close()
