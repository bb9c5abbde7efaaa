"""What the agent accepts and how it serves it: every field of every request checked, which commands run
in the agent itself or a forked child, and the key under which an answer is kept."""

from __future__ import annotations

import json
import os
from typing import NamedTuple

from accountctl.agent import protocol
from accountctl.agent.protocol import MAX_TTL, MIN_TTL


# -- what a request may hold -------------------------------------------------------------------------
# Anything of the user's may connect: every field of every request is checked, and a request that is
# wrong in any way is answered {"ok": false} and changes nothing.
# Pure reads whose answer the agent may keep while the file is unchanged (otp changes every 30 s; cred
# show writes its reveal event).
CACHED = {("account", "show"), ("account", "list"), ("offboard",), ("audit",)}
MAX_ANSWERS = 32
# When a file the agent holds is changed by someone else and then left alone this long, the answers
# it had kept for it (the last few asked for) are worked out again in the background, so the next
# `audit` after a write is one round trip too, once the writer has finished.
PREWARM_AFTER = 1.0
PREWARM_MOST = 2  # each is a forked audit: a handful at once would crowd a small machine
# Pure reads of a few rows that the agent answers itself, with no fork: a fork and the copy-on-write
# faults of a child touching the interpreter cost ~3-4 ms, the command itself ~0.4 ms. Only commands
# that neither write nor change module state belong here (run_here puts back env, folder and streams).
INLINE = {("otp",)}
# Commands whose only change is events appended to the file's tail: in the agent itself too, when no
# other writer holds the lock (waiting for one would hold up every other client of the agent).
INLINE_WRITE = {("cred", "show")}

HEX = frozenset("0123456789abcdef")
MAX_WHO = 320  # an email address is at most 254 characters
MAX_REGISTER = 4096  # a path (PATH_MAX) or a URL


def _hex(lengths: range):
    def check(value, field):
        if not isinstance(value, str) or len(value) not in lengths or not HEX.issuperset(value):
            raise ValueError(f"{field} must be lowercase hex of {lengths.start}-{lengths.stop - 1} characters")
        return value

    return check


def _text(most: int):
    def check(value, field):
        if not isinstance(value, str) or len(value) > most:
            raise ValueError(f"{field} must be text of at most {most} characters")
        return value

    return check


def check_ttl(value, field: str = "ttl") -> float:
    """A TTL in seconds: a finite number (not a bool, not text) from 1 s to 12 h; ValueError otherwise."""
    # NaN compares false with everything, so the bounds refuse it as they refuse either infinity
    if type(value) not in (int, float) or not MIN_TTL <= value <= MAX_TTL:
        raise ValueError(f"{field} must be a number of seconds from {MIN_TTL} to {MAX_TTL}")
    return float(value)


FIELD_CHECKS = {
    "file": _hex(range(32, 33)),
    "name": _hex(range(2, 129, 2)),
    "kek": _hex(range(64, 65)),
    "who": _text(MAX_WHO),
    "register": _text(MAX_REGISTER),
    "ttl": check_ttl,
}
# op -> (fields it must have, fields it may have)
REQUESTS = {
    "ping": (set(), set()),
    "status": (set(), set()),
    "stop": (set(), set()),
    "add": ({"file", "name", "kek", "who", "register"}, {"ttl"}),
    "get": ({"file", "name"}, set()),
    "forget": ({"file"}, {"name"}),
}


def checked(message: dict) -> dict:
    """The request with every field checked; ValueError naming the first that is wrong (never its value)."""
    op = message.get("op")
    if not isinstance(op, str) or op not in REQUESTS:
        raise ValueError("unknown request")
    required, optional = REQUESTS[op]
    fields = set(message) - {"op"}
    unknown, missing = sorted(fields - required - optional), sorted(required - fields)
    if unknown:
        raise ValueError(f"a {op!r} request has no field {unknown[0][:40]!r}")
    if missing:
        raise ValueError(f"a {op!r} request needs {missing[0]!r}")
    for field in fields:
        FIELD_CHECKS[field](message[field], field)
    return message


def sound_run(message: dict) -> bool:
    """Whether a `run` request is one a client sends: an absolute folder, a command line, known variables only."""
    argv, env, cwd = message.get("argv"), message.get("env"), message.get("cwd")
    return (
        isinstance(argv, list)
        and len(argv) <= 256
        and all(isinstance(a, str) for a in argv)
        and isinstance(env, dict)
        and set(env) <= set(protocol.PASSED_ENV + protocol.SAME_ENV)
        and all(isinstance(v, str) for v in env.values())
        and isinstance(cwd, str)
        and os.path.isabs(cwd)
    )


# -- what a kept answer depends on ---------------------------------------------------------------------
DATE_ENV = "ACCOUNTCTL_TODAY"
USER_ENV = "ACCOUNTCTL_USER"


def answer_key(identity, witness, path, argv, env, cwd, actor, real_day) -> tuple:
    """What a pure read's answer depends on, so a kept one is replayed only to a request that would get the same.

    The file (its identity), this machine's witness entry for it (the state it was checked against),
    who asks (`actor`: `--as` or ACCOUNTCTL_USER, already normalised, so the same person written
    two ways is one key and two people never share one), the date it is asked for (ACCOUNTCTL_TODAY)
    and the real date (who may act), then the rest of the command line, environment and folder.
    """
    rest_argv = tuple(protocol.without_options(argv, ("--as",)))
    rest_env = tuple(sorted((k, v) for k, v in env.items() if k not in (USER_ENV, DATE_ENV)))
    today = (env.get(DATE_ENV) or "").strip()
    return (identity, witness, path, actor, today, real_day, rest_argv, rest_env, cwd)


def witness_digest(entry: dict | None) -> str:
    """A short digest of this machine's witness entry for a register (None: it has seen none)."""
    import hashlib

    return hashlib.sha256(json.dumps(entry, sort_keys=True).encode("utf-8")).hexdigest()[:32]


class Request(NamedTuple):
    """A `run` request, as far as it can be known without the register: which file and key, and its answer key."""

    path: str
    actor: str | None
    env: dict
    cwd: str
    argv: list
    identity: tuple
    cache_key: tuple  # (path, file id, key name)
    seen: dict | None  # this machine's witness entry, read before the file
    witness: str  # its digest
    answer_key: tuple | None  # for a pure read whose answer may be kept


class Prepared(NamedTuple):
    """A `run` request with the cached, checked register it runs over."""

    path: str
    actor: str | None
    reg: object
    env: dict
    cwd: str
    argv: list
    identity: tuple
    answer_key: tuple | None
