"""The agent's protocol: what a client may hand over, the framing of one request and its answer, and
the peer check both ends make. Standard library only (`os`, `sys`; `json` and `socket` imported
where used): the fast client path (accountctl/fast.py) imports this before anything else loads, so
a `run` request and its answer use a small binary framing that needs neither (`socket`'s enum and
selectors cost more than the rest of the client; `json`'s `re` as much again). The other requests
are JSON, from the full CLI.
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
        elif arg in ("-h", "--help", "--version", "--clip"):  # --clip: this desktop's clipboard, not the agent's
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


def exactly(sock, count: int) -> bytes:
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


def parse_run(body: bytes) -> dict:
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
        return parse_run(body)
    import json

    message = json.loads(body)
    if not isinstance(message, dict):  # anything of the user's may connect: a stray frame must not stop the agent
        raise ValueError("a request is a JSON object")
    return message


def receive(sock) -> dict:
    size = int.from_bytes(exactly(sock, 4), "big")
    if size > MAX_MESSAGE:
        raise AgentGone("message too large")
    return decode(exactly(sock, size))


# The agent's lifetime: keys expire after this long unused (`agent start --ttl`), at most MAX_TTL.
DEFAULT_TTL = 15 * 60
MAX_TTL = 12 * 3600
MIN_TTL = 1
