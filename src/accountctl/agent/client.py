"""The agent's client: where this user's agent is, whether it may be trusted, and one exchange with it.

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

from accountctl.agent.protocol import (
    ANSWER_HEAD,
    NO_AGENT,
    NAME,
    OUTPUT,
    PASSED_ENV,
    SAME_ENV,
    TIMEOUT,
    WINDOWS,
    AgentGone,
    AgentRefused,
    MAX_MESSAGE,
    exactly,
    command_of,
    peer_uid,
    receive,
    run_frame,
    send,
)


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
        head = exactly(sock, ANSWER_HEAD)
        if head[:1] != OUTPUT:
            return None
        sizes = int.from_bytes(head[5:13], "big"), int.from_bytes(head[13:21], "big")
        if max(sizes) > MAX_MESSAGE:
            return None
        code = int.from_bytes(head[1:5], "big")
        return {"code": code, "out": exactly(sock, sizes[0]), "err": exactly(sock, sizes[1])}
    except (OSError, AgentGone):
        return None
    finally:
        sock.close()


# Inside the agent itself, KEKs come from its own memory rather than from a request to itself.
_local = None
