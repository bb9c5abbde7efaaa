"""The agent's transport: where its socket lives, who may talk to it, and one request/answer exchange.

Imported by the fast client path before anything else loads. A `run` request and its answer use a
small binary framing, so that client needs only `os`, `sys` and `_socket` (not `socket`, whose enum
and selectors cost more than the rest of the client; not `json`, whose `re` costs as much again).
The other requests are JSON, from the full CLI. POSIX: a Unix socket in the user's
runtime folder (0700 folder, 0600 socket), the peer's uid checked with SO_PEERCRED where the OS
has it, by both ends: the agent answers only its own user, and a client sends a key or a request
only to an agent of its own user (`_connect`: the folder is the user's own, 0700 and no link, the
socket is the user's own and no link, and the process listening on it is the user's). Windows: a
named pipe (multiprocessing.connection), which Windows opens to the creating user only by
default; only the POSIX side is tested in CI.
"""

import os
import sys

WINDOWS = os.name == "nt"
NAME = "agent.sock"
# A request or answer larger than this is refused: a bound on what one bad peer can make us hold.
MAX_MESSAGE = 256 * 1024 * 1024
# A request is small (a command line, a key): anything larger is not one, and is dropped unread.
MAX_REQUEST = 1024 * 1024
TIMEOUT = 30.0
# The agent drops a connection whose request has not arrived whole this long after it connected.
REQUEST_DEADLINE = 3.0
# Set to 1: the command neither asks the agent for a key nor hands it the command (and login starts none).
NO_AGENT = "ACCOUNTCTL_NO_AGENT"


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


def without_options(argv: list[str], names: tuple[str, ...]) -> list[str]:
    """argv without the global options `names` (and their values), read the way `command_of` reads them."""
    kept: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--") and "=" in arg and arg.split("=", 1)[0] in OPTIONS_WITH_VALUE:
            if arg.split("=", 1)[0] not in names:
                kept.append(arg)
        elif arg in OPTIONS_WITH_VALUE and i + 1 < len(argv):
            if arg not in names:
                kept += argv[i : i + 2]
            i += 1
        else:
            kept.append(arg)
        i += 1
    return kept


class AgentGone(Exception):
    """No agent answers (none started, or it died: a stale socket refuses connections)."""


class AgentRefused(AgentGone):
    """An agent is there, but its folder, socket or process is not this user's own: nothing is sent to it."""


def kept_away() -> bool:
    """Whether ACCOUNTCTL_NO_AGENT=1 keeps this command away from the agent (its keys included)."""
    return os.environ.get(NO_AGENT) == "1"


# A Unix socket's path must fit `sun_path`: 108 bytes on Linux, 104 on macOS and the BSDs.
MAX_SOCKET_PATH = 100


def folder() -> str:
    """The agent's private folder: `$XDG_RUNTIME_DIR/accountctl`, else `<tmp>/accountctl-<uid>`.

    A runtime folder too deep for a socket's path gives way to `/tmp/accountctl-<uid>` (made 0700,
    and refused if someone else owns it), so the agent starts wherever the client finds it.
    """
    if WINDOWS:
        return ""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        path = os.path.join(runtime, "accountctl")
        if len(os.fsencode(os.path.join(path, NAME))) <= MAX_SOCKET_PATH:
            return path
        return os.path.join("/tmp", f"accountctl-{os.getuid()}")
    # tempfile.gettempdir()'s choice, without importing tempfile (random, shutil: most of a client's cost)
    for name in ("TMPDIR", "TEMP", "TMP"):
        value = os.environ.get(name)
        if value and os.path.isdir(value):
            return os.path.join(os.path.abspath(value), f"accountctl-{os.getuid()}")
    return os.path.join("/tmp", f"accountctl-{os.getuid()}")


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


def place_problem(path: str, folder_info, socket_info, own_uid: int) -> str | None:
    """Why the agent's folder (lstat) or socket (lstat, or None: not there) is not this user's own, or None.

    The folder must be a real folder (not a link), the user's own and closed to everyone else
    (0700); the socket a real socket (not a link) and the user's own. Anyone who could replace either
    would choose the agent that the client hands its keys to.
    """
    import stat

    if stat.S_ISLNK(folder_info.st_mode):
        return f"{path} is a symbolic link, not this user's own private folder"
    if not stat.S_ISDIR(folder_info.st_mode) or folder_info.st_uid != own_uid or folder_info.st_mode & 0o077:
        return (
            f"{path} is not this user's own private folder "
            f"(owner uid {folder_info.st_uid}, mode {stat.S_IMODE(folder_info.st_mode):04o})"
        )
    if socket_info is None:
        return None
    where = os.path.join(path, NAME)
    if stat.S_ISLNK(socket_info.st_mode):
        return f"{where} is a symbolic link, not this user's own socket"
    if not stat.S_ISSOCK(socket_info.st_mode):
        return f"{where} is not a socket"
    if socket_info.st_uid != own_uid:
        return f"{where} is not this user's own socket (owner uid {socket_info.st_uid})"
    return None


def place_now() -> str | None:
    """`place_problem` for this user's agent as things are now; AgentGone when there is no agent's folder or socket.

    A missing socket in a sound folder is no agent, not a problem: `listen` makes one there.
    """
    path = folder()
    try:
        folder_info = os.lstat(path)
    except FileNotFoundError:
        raise AgentGone("no agent is running") from None
    except OSError as exc:
        return f"{path} cannot be checked ({exc.strerror})"
    try:
        socket_info = os.lstat(os.path.join(path, NAME))
    except OSError:
        socket_info = None
    return place_problem(path, folder_info, socket_info, os.getuid())


_warned: list[str] = []


def refuse(reason: str) -> AgentRefused:
    """Say once per process, in one line, why the agent is not used; the error to raise (callers carry on without it)."""
    if not _warned:
        _warned.append(reason)
        try:
            sys.stderr.write(f"Warning: not using the agent: {reason}\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
    return AgentRefused(reason)


def peer_uid(ucred: bytes) -> int | None:
    """The uid in a peer's `struct ucred` (pid, uid, gid: three native ints, from SO_PEERCRED); None if short."""
    if len(ucred) < 12:
        return None
    return int.from_bytes(ucred[4:8], sys.byteorder)


def peer_allowed(ucred: bytes, own_uid: int) -> bool:
    """Whether a peer's `struct ucred` (pid, uid, gid: three native ints, from SO_PEERCRED) is this user."""
    return peer_uid(ucred) == own_uid


def peer_is_owner(sock) -> bool:
    """The SO_PEERCRED check on an accepted connection; where the OS lacks it, the 0700 folder is the guard."""
    import socket

    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return True
    return peer_allowed(sock.getsockopt(socket.SOL_SOCKET, option, 12), os.getuid())


def _connect(timeout: float):
    """A socket connected to this user's own agent, checked before anything is sent; AgentGone, or AgentRefused.

    `_socket`, not `socket`: the fast path loads nothing else (see the module's docstring).
    """
    import _socket

    if kept_away():  # the one place every request passes: no key asked for, no command handed over
        raise AgentGone(f"{NO_AGENT}=1")
    problem = place_now()  # not even a connection to a socket someone else could have put there
    if problem is not None:
        raise refuse(problem)
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(os.path.join(folder(), NAME))
        # Only the process at the other end says who really answers (and it would still say so had the
        # folder been swapped since it was checked). Without SO_PEERCRED (macOS) the checks above stand alone.
        option = getattr(_socket, "SO_PEERCRED", None)
        uid = peer_uid(sock.getsockopt(_socket.SOL_SOCKET, option, 12)) if option is not None else os.getuid()
    except OSError as exc:
        sock.close()
        raise AgentGone(str(exc)) from None
    if uid != os.getuid():
        sock.close()
        raise refuse(f"the agent at {os.path.join(folder(), NAME)} is another user's process (uid {uid})")
    return sock


# Framing: a 4-byte big-endian length, then that many bytes: UTF-8 JSON, or a `run` request (RUN_TAG,
# then NUL-separated fields: argv, environment and folder never contain NUL).
RUN_TAG = b"\0run\0"
# A `run` answer: one byte (OUTPUT or FALLBACK), the exit code (4 bytes), the lengths of stdout and
# stderr (8 bytes each), then their bytes.
OUTPUT, FALLBACK = b"O", b"F"
ANSWER_HEAD = 21


def json_frame(message: dict) -> bytes:
    """A JSON request or answer, framed."""
    import json

    data = json.dumps(message, separators=(",", ":")).encode("utf-8")
    return len(data).to_bytes(4, "big") + data


def send(sock, message: dict) -> None:
    sock.sendall(json_frame(message))


def _exactly(sock, count: int) -> bytes:
    parts, left = [], count
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise AgentGone("the agent closed the connection")
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def run_frame(argv: list[str], env: dict[str, str], cwd: str) -> bytes:
    """A `run` request, framed, without json."""
    fields = [cwd, str(len(argv)), *argv, str(len(env))]
    for name, value in env.items():
        fields += [name, value]
    body = RUN_TAG + b"\0".join(os.fsencode(f) for f in fields)
    return len(body).to_bytes(4, "big") + body


def _parse_run(body: bytes) -> dict:
    fields = [os.fsdecode(f) for f in body[len(RUN_TAG) :].split(b"\0")]
    try:
        cwd, count = fields[0], int(fields[1])
        argv = fields[2 : 2 + count]
        pairs = fields[3 + count :]
        if int(fields[2 + count]) * 2 != len(pairs):
            raise ValueError
    except (IndexError, ValueError):
        raise ValueError("a garbled run request") from None
    return {"op": "run", "argv": argv, "env": dict(zip(pairs[::2], pairs[1::2])), "cwd": cwd}


def output_frame(code: int, out: bytes, err: bytes) -> bytes:
    """A command's answer: its exit code and the lengths of its output, then its stdout and stderr."""
    head = OUTPUT + (code & 0xFFFFFFFF).to_bytes(4, "big") + len(out).to_bytes(8, "big") + len(err).to_bytes(8, "big")
    return b"".join((head, out, err))


def send_output(sock, code: int, out: bytes, err: bytes) -> None:
    """Send a command's answer (a forked child's, on a blocking socket)."""
    sock.sendall(output_frame(code, out, err))


# The answer to a `run` the agent will not serve: the client runs the command itself.
FALLBACK_FRAME = FALLBACK + bytes(ANSWER_HEAD - 1)


def decode(body: bytes) -> dict:
    """A request or answer from its frame's body; ValueError when it is not one."""
    if body.startswith(RUN_TAG):
        return _parse_run(body)
    import json

    message = json.loads(body)
    if not isinstance(message, dict):  # anything of the user's may connect: a stray frame must not stop the agent
        raise ValueError("a request is a JSON object")
    return message


def receive(sock) -> dict:
    size = int.from_bytes(_exactly(sock, 4), "big")
    if size > MAX_MESSAGE:
        raise AgentGone("message too large")
    return decode(_exactly(sock, size))


class _Pipe:
    """A named-pipe connection with the socket's send/receive shape (Windows)."""

    def __init__(self, conn):
        self.conn = conn

    def sendall(self, data: bytes) -> None:
        self.conn.send_bytes(data[4:])

    def exchange(self, message: dict) -> dict:
        import json

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
    sock = _connect(timeout)
    try:
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
    if os.path.lexists(path):
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
    try:
        sock = _connect(600)  # a large audit may take a while; a dead agent refuses at once
    except AgentGone:
        return None
    try:
        sock.sendall(run_frame(argv, env, os.getcwd()))
        head = _exactly(sock, ANSWER_HEAD)
        if head[:1] != OUTPUT:
            return None
        sizes = int.from_bytes(head[5:13], "big"), int.from_bytes(head[13:21], "big")
        if max(sizes) > MAX_MESSAGE:
            return None
        code = int.from_bytes(head[1:5], "big")
        return {"code": code, "out": _exactly(sock, sizes[0]), "err": _exactly(sock, sizes[1])}
    except (OSError, AgentGone):
        return None
    finally:
        sock.close()


# Inside the agent itself, KEKs come from its own memory rather than from a request to itself.
_local = None
