"""The agent's transport: where its socket lives, who may talk to it, and one request/answer exchange.

Imported by the fast client path before anything else loads, so it needs only `os`, `sys`,
`socket` and `json` (no click, keyring or cryptography). POSIX: a Unix socket in the user's
runtime folder (0700 folder, 0600 socket), the peer's uid checked with SO_PEERCRED where the OS
has it. Windows: a named pipe (multiprocessing.connection), which Windows opens to the creating
user only by default; only the POSIX side is tested in CI.
"""

from __future__ import annotations

import json
import os
import sys

WINDOWS = os.name == "nt"
NAME = "agent.sock"
# A request or answer larger than this is refused: a bound on what one bad peer can make us hold.
MAX_MESSAGE = 256 * 1024 * 1024
TIMEOUT = 30.0


# The commands a client may hand over (accountctl/fast.py): reads, plus `cred show`'s
# reveal event, which the child saves through the normal lock and signed-save path.
FAST = {("otp",), ("cred", "show"), ("account", "show"), ("account", "list"), ("offboard",), ("audit",)}
# What of the client's environment a command sees (never a passphrase: the agent holds none).
PASSED_ENV = ("ACCOUNTCTL_REGISTER", "ACCOUNTCTL_USER", "ACCOUNTCTL_TODAY", "ACCOUNTCTL_DEBUG", "COLUMNS", "NO_COLOR")
# Where the default register and this machine's witness are: a client that differs from the agent here falls back.
SAME_ENV = ("HOME", "XDG_DATA_HOME", "XDG_STATE_HOME")
OPTIONS_WITH_VALUE = ("--register", "--as", "--format")


def command_of(argv: list[str]) -> tuple[tuple[str, ...], dict[str, str]]:
    """(the command words, the global options' values) of an argv, as far as the fast path needs them."""
    words: list[str] = []
    values: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--") and "=" in arg and arg.split("=", 1)[0] in OPTIONS_WITH_VALUE:
            name, value = arg.split("=", 1)
            values[name] = value
        elif arg in OPTIONS_WITH_VALUE and i + 1 < len(argv):
            values[arg] = argv[i + 1]
            i += 1
        elif not arg.startswith("-") and len(words) < 2:
            words.append(arg)
        elif arg in ("-h", "--help", "--version"):
            return (), values
        i += 1
    for size in (2, 1):
        if tuple(words[:size]) in FAST:
            return tuple(words[:size]), values
    return (), values


class AgentGone(Exception):
    """No agent answers (none started, or it died: a stale socket refuses connections)."""


def folder() -> str:
    """The agent's private folder: `$XDG_RUNTIME_DIR/accountctl`, else `<tmp>/accountctl-<uid>`."""
    if WINDOWS:
        return ""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return os.path.join(runtime, "accountctl")
    import tempfile

    return os.path.join(tempfile.gettempdir(), f"accountctl-{os.getuid()}")


def address() -> str:
    """The socket path (POSIX) or pipe name (Windows) of this user's agent."""
    if WINDOWS:
        user = os.environ.get("USERNAME", "user")
        return rf"\\.\pipe\accountctl-agent-{user}"
    return os.path.join(folder(), NAME)


def make_folder() -> str:
    """Create the private folder (0700) or refuse one that someone else owns or others may enter."""
    path = folder()
    os.makedirs(path, mode=0o700, exist_ok=True)
    info = os.lstat(path)
    import stat

    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise PermissionError(f"{path} is not a folder of this user; the agent will not use it")
    if info.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def peer_allowed(ucred: bytes, own_uid: int) -> bool:
    """Whether a peer's `struct ucred` (pid, uid, gid: three native ints, from SO_PEERCRED) is this user."""
    if len(ucred) < 12:
        return False
    uid = int.from_bytes(ucred[4:8], sys.byteorder)
    return uid == own_uid


def peer_is_owner(sock) -> bool:
    """The SO_PEERCRED check on an accepted connection; where the OS lacks it, the 0700 folder is the guard."""
    import socket

    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return True
    return peer_allowed(sock.getsockopt(socket.SOL_SOCKET, option, 12), os.getuid())


# Framing: a 4-byte big-endian length, then that many bytes of UTF-8 JSON.
def send(sock, message: dict) -> None:
    data = json.dumps(message, separators=(",", ":")).encode("utf-8")
    sock.sendall(len(data).to_bytes(4, "big") + data)


def _exactly(sock, count: int) -> bytes:
    parts, left = [], count
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise AgentGone("the agent closed the connection")
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def send_output(sock, code: int, out: bytes, err: bytes) -> None:
    """A command's answer: a JSON frame with its exit code and lengths, then its stdout and stderr as bytes."""
    send(sock, {"ok": True, "code": code, "out": len(out), "err": len(err)})
    sock.sendall(out)
    sock.sendall(err)


def receive(sock) -> dict:
    size = int.from_bytes(_exactly(sock, 4), "big")
    if size > MAX_MESSAGE:
        raise AgentGone("message too large")
    return json.loads(_exactly(sock, size))


class _Pipe:
    """A named-pipe connection with the socket's send/receive shape (Windows)."""

    def __init__(self, conn):
        self.conn = conn

    def sendall(self, data: bytes) -> None:
        self.conn.send_bytes(data[4:])

    def exchange(self, message: dict) -> dict:
        self.conn.send_bytes(json.dumps(message).encode("utf-8"))
        return json.loads(self.conn.recv_bytes(MAX_MESSAGE))

    def close(self) -> None:
        self.conn.close()


def request(message: dict, timeout: float = TIMEOUT) -> dict:
    """Send one request to this user's agent and return its answer; AgentGone when none answers."""
    if WINDOWS:
        from multiprocessing.connection import Client

        try:
            pipe = _Pipe(Client(address(), family="AF_PIPE"))
        except OSError as exc:
            raise AgentGone(str(exc)) from None
        try:
            return pipe.exchange(message)
        except (OSError, EOFError) as exc:
            raise AgentGone(str(exc)) from None
        finally:
            pipe.close()
    path = address()
    if not os.path.exists(path):
        raise AgentGone("no agent is running")
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
        send(sock, message)
        return receive(sock)
    except (OSError, ValueError) as exc:  # refused (killed agent), timed out, or a garbled answer
        raise AgentGone(str(exc)) from None
    finally:
        sock.close()


def listen():
    """The agent's listening endpoint: a 0600 Unix socket in the private folder, or a named pipe."""
    if WINDOWS:
        from multiprocessing.connection import Listener

        return Listener(address(), family="AF_PIPE")
    import socket

    make_folder()
    path = address()
    if os.path.exists(path):
        try:
            request({"op": "ping"}, timeout=2)
        except AgentGone:
            os.unlink(path)  # a dead agent's socket
        else:
            raise FileExistsError("an agent is already running")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # the socket is created 0600, with no moment at a wider mode
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    sock.listen(64)
    return sock


def get_kek(file_id: bytes, name: str) -> bytes | None:
    """The KEK the agent holds for this register and person (their expiry restarts), else None."""
    if _local is not None:
        return _local(file_id, name)
    try:
        answer = request({"op": "get", "file": file_id.hex(), "name": name}, timeout=5)
    except AgentGone:
        return None
    kek = answer.get("kek")
    return bytes.fromhex(kek) if kek else None


def run(argv: list[str]) -> dict | None:
    """Have the agent run a fast-path command; its answer (out, err, code), or None to run it here."""
    if not command_of(argv)[0]:
        return None
    env = {name: os.environ[name] for name in PASSED_ENV + SAME_ENV if name in os.environ}
    if "COLUMNS" not in env and sys.stdout.isatty():  # tables fit this terminal, as they would here
        try:
            env["COLUMNS"] = str(os.get_terminal_size(sys.stdout.fileno()).columns)
        except OSError:
            pass
    if WINDOWS:
        return None  # the Windows agent serves keys only
    message = {"op": "run", "argv": argv, "env": env, "cwd": os.getcwd()}
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(600)  # a large audit may take a while; a dead agent refuses at once
        sock.connect(address())
        send(sock, message)
        answer = receive(sock)
        if answer.get("fallback") or "code" not in answer:
            return None
        answer["out"] = _exactly(sock, int(answer["out"]))
        answer["err"] = _exactly(sock, int(answer["err"]))
        return answer
    except (OSError, ValueError, AgentGone):
        return None
    finally:
        sock.close()


# Inside the agent itself, KEKs come from its own memory rather than from a request to itself.
_local = None
