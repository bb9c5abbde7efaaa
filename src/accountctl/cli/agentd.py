"""The agent process: holds people's unlock keys (KEKs) in memory and answers its own user's commands.

Started by `accountctl agent start` as `python -m accountctl.cli.agentd --ttl SECONDS [--multi]`,
with no passphrase in its environment. One request per connection (store/agent_link.py), every
field of it checked; requests are read and answers written without blocking, in one select loop, so
an idle, slow or non-reading client holds up no one (a request must arrive whole within
REQUEST_DEADLINE). It never holds a passphrase: `login` derives the KEK in the client and hands
over only that; without --multi it holds one person's key per register (the next person's login
replaces it). Every answer reflects the file on disk: before each command the
file's identity (device, inode, size, mtime, generation) is compared with the one the cached,
checked register was opened from, and the file is opened again when it differs (or, when records
were only appended to its tail, those are read and added). A command runs in a forked child over
that cached register, so a command cannot change the agent's state and many run at once. `otp`, a
pure read of one row, runs in the agent itself (INLINE): a fork would cost it ten times the
command. So does `cred show` (INLINE_WRITE) when the writers' lock is free: its only change is the
reveal event, which its save appends to the file's tail (docs/file-format.md §5e) under the lock,
signed, like any writer's, and which the cached register then holds too; a reveal that fails
midway leaves the agent to read the file afresh.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from typing import NamedTuple

from accountctl.store import agent_link

MAX_TTL = 12 * 3600
MIN_TTL = 1
DEFAULT_TTL = 15 * 60
# A client that has not read its whole answer this long after it was ready is dropped.
WRITE_DEADLINE = agent_link.TIMEOUT
MAX_CONNECTIONS = 256  # beyond this many at once, a new connection is closed at once (the client falls back)
CHUNK = 1 << 20


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

WARM = (
    "accountctl.cli",
    "accountctl.cli.creds",
    "accountctl.cli.accounts",
    "accountctl.cli.audit",
    "accountctl.cli.offboard",
    "accountctl.core.audit",
    "accountctl.core.accounts",
    "accountctl.core.offboarding",
    "accountctl.core.vault",
    "accountctl.store.register",
    "pyotp",
    "filelock",  # the writers' lock: a `cred show` child would import it anew every time (~15 ms)
)


class Keys:
    """KEKs in one mlock'ed buffer (where the OS allows), wiped when they expire or are forgotten."""

    SIZE = 32
    SLOTS = 128

    def __init__(self) -> None:
        self.arena = bytearray(self.SIZE * self.SLOTS)
        self.locked = _mlock(self.arena)
        self.entries: dict[tuple[str, str], dict] = {}  # (file id, name) -> slot, who, register, ttl, expires

    def put(self, file_id: str, name: str, kek: bytes, who: str, register: str, ttl: float, multi=False) -> list:
        """Hold a KEK; unless `multi`, it replaces (wipes) every other person's key for this register: who they were."""
        if len(kek) != self.SIZE:
            raise ValueError("a KEK is 32 bytes")
        replaced = []
        if not multi:
            for key in [k for k in self.entries if k[0] == file_id and k[1] != name]:
                replaced.append(self.entries[key]["who"])
                self._wipe(key)
        entry = self.entries.get((file_id, name))
        if entry is None:
            used = {e["slot"] for e in self.entries.values()}
            free = next((i for i in range(self.SLOTS) if i not in used), None)
            if free is None:
                raise ValueError("the agent holds as many keys as it can")
            entry = {"slot": free}
        start = entry["slot"] * self.SIZE
        self.arena[start : start + self.SIZE] = kek
        # a login again is no use of the key: "last used" counts the commands since the key was handed over
        entry.update(who=who, register=register, ttl=ttl, expires=time.monotonic() + ttl, last_used=None)
        self.entries[(file_id, name)] = entry
        return replaced

    def touch(self, file_id: str, name: str) -> bool:
        """Note a use of this key: its expiry restarts. False when it is not held."""
        entry = self.entries.get((file_id, name))
        if entry is None:
            return False
        entry["expires"] = time.monotonic() + entry["ttl"]  # expiry counts from the last use
        entry["last_used"] = time.time()
        return True

    def get(self, file_id: str, name: str) -> bytes | None:
        if not self.touch(file_id, name):
            return None
        start = self.entries[(file_id, name)]["slot"] * self.SIZE
        return bytes(self.arena[start : start + self.SIZE])

    def forget(self, file_id: str, name: str | None = None) -> int:
        gone = [k for k in self.entries if k[0] == file_id and (name is None or k[1] == name)]
        for key in gone:
            self._wipe(key)
        return len(gone)

    def expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, e in self.entries.items() if e["expires"] <= now]:
            self._wipe(key)

    def wipe_all(self) -> None:
        for key in list(self.entries):
            self._wipe(key)

    def _wipe(self, key) -> None:
        entry = self.entries.pop(key)
        start = entry["slot"] * self.SIZE
        self.arena[start : start + self.SIZE] = bytes(self.SIZE)

    def status(self) -> list[dict]:
        now, wall = time.monotonic(), time.time()
        return [
            {
                "register": e["register"],
                "person": e["who"],
                "expires_in": max(0, round(e["expires"] - now)),
                "expires_at": _utc(wall + max(0.0, e["expires"] - now)),
                "last_used": _utc(e["last_used"]) if e["last_used"] is not None else None,
            }
            for e in sorted(self.entries.values(), key=lambda e: (e["register"], e["who"]))
        ]

    def next_expiry(self) -> float | None:
        return min((e["expires"] for e in self.entries.values()), default=None)


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


# -- what a request may hold -------------------------------------------------------------------------
# Anything of the user's may connect: every field of every request is checked, and a request that is
# wrong in any way is answered {"ok": false} and changes nothing.
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
        and set(env) <= set(agent_link.PASSED_ENV + agent_link.SAME_ENV)
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
    rest_argv = tuple(agent_link.without_options(argv, ("--as",)))
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


class Conn:
    """One client: its request as it arrives, then its answer as it leaves, both without blocking the loop."""

    __slots__ = ("sock", "inbox", "outbox", "sent", "deadline")

    def __init__(self, sock, deadline: float):
        self.sock = sock
        self.inbox = bytearray()
        self.outbox: memoryview | None = None
        self.sent = 0
        self.deadline = deadline


def _mlock(buffer: bytearray) -> bool:
    """Lock the keys' buffer into RAM (never swapped out) where the OS allows it; False if it does not."""
    try:
        import ctypes
        import ctypes.util

        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        view = (ctypes.c_char * len(buffer)).from_buffer(buffer)
        return libc.mlock(ctypes.addressof(view), ctypes.c_size_t(len(buffer))) == 0
    except (OSError, AttributeError, TypeError):
        return False


class Agent:
    def __init__(self, ttl: float, multi: bool = False):
        self.ttl = ttl
        self.multi = multi  # hold several people's keys for one register (`agent start --multi`)
        self.keys = Keys()
        self.deadline = time.monotonic() + ttl  # with no key ever added, it leaves after one TTL
        # (path, file id, name) -> (identity, Register)
        self.cache: dict[tuple[str, str, str], tuple[tuple, object]] = {}
        # cache key -> digest of the witness entry its register was checked against and agrees with
        self.agreed: dict[tuple, str] = {}
        self.running = True
        # Answers of pure reads, by `answer_key`, as the frames sent: an unchanged file, witness, person and
        # date give the same answer, so a repeated `audit` costs one lookup. Filled from the children (pending).
        self.answers: dict[tuple, bytes] = {}
        self.pending: dict[int, tuple] = {}
        self.recipes: dict[tuple, dict] = {}  # answer key -> the request that asked for it, to ask again
        self.changed: dict[tuple, tuple] = {}  # cache key -> (its file's stat when seen changed, when)
        self.prewarmed = 0
        self.replayed = 0
        self.conns: dict[int, Conn] = {}  # socket fd -> connection
        self.selector = self.listener = None  # set by `serve`

    # -- requests -----------------------------------------------------------------------------
    def handle(self, message: dict) -> dict:
        """The answer to one JSON request (every field checked first); {"ok": false, "error": ...} for a bad one."""
        try:
            checked(message)
        except ValueError as exc:
            return {"ok": False, "error": str(exc)}
        op = message["op"]
        if op == "ping":
            return {"ok": True, "pid": os.getpid()}
        if op == "status":
            return {
                "ok": True,
                "pid": os.getpid(),
                "ttl": self.ttl,
                "multi": self.multi,
                "mlock": self.keys.locked,
                "keys": self.keys.status(),
                "kept": len(self.answers),
                "prewarmed": self.prewarmed,
                "replayed": self.replayed,
            }
        if op == "add":
            try:
                replaced = self.keys.put(
                    message["file"],
                    message["name"],
                    bytes.fromhex(message["kek"]),
                    message["who"],
                    message["register"],
                    float(message.get("ttl") or self.ttl),
                    self.multi,
                )
            except ValueError as exc:  # no free slot
                return {"ok": False, "error": str(exc)}
            self._drop_cache()  # a replaced person's decrypted register and answers go with their key
            return {"ok": True, "replaced": replaced}
        if op == "get":
            kek = self.keys.get(message["file"], message["name"])
            return {"ok": True, "kek": kek.hex() if kek else None}
        if op == "forget":
            gone = self.keys.forget(message["file"], message.get("name"))
            self._drop_cache()
            return {"ok": True, "forgotten": gone}
        self.running = False  # stop
        return {"ok": True}

    def _drop_cache(self) -> None:
        gone = [k for k in self.cache if k[1:] not in self.keys.entries]
        if gone:
            _release([self.cache.pop(key)[1] for key in gone])
        for key in [k for k in self.agreed if k not in self.cache]:
            del self.agreed[key]
        current = {identity for identity, _ in self.cache.values()}
        for key in [k for k in self.answers if k[0] not in current]:
            del self.answers[key]

    def describe(self, message: dict) -> Request | None:
        """For a `run`: which register, key and kept answer it needs (header only); None to fall back."""
        from pathlib import Path

        from accountctl import clock
        from accountctl.store import fileformat as ff, register as store, stores, witness

        if not sound_run(message):
            return None
        argv = list(message["argv"])
        words, values = agent_link.command_of(argv)
        if not words:
            return None
        sent = message["env"]
        if any(sent.get(name) != os.environ.get(name) for name in agent_link.SAME_ENV):
            return None  # another home or state folder than the agent's: the client runs it itself
        env = {k: v for k, v in sent.items() if k in agent_link.PASSED_ENV}
        cwd = message["cwd"]
        given = values.get("--register") or env.get("ACCOUNTCTL_REGISTER")
        if given and stores.is_url(given):
            return None  # a PostgreSQL register: the client opens it itself (with the agent's key)
        if given:
            path = Path(os.path.join(cwd, os.path.expanduser(given)))
        else:
            from accountctl.store import files

            path = files.default_path()
        actor = values.get("--as") or env.get(USER_ENV)
        actor = actor.strip().lower() if actor else None
        seen_all = witness.load_all()  # before the file, as an open reads it: a save in between is no rollback
        try:
            info = os.stat(path)
            header, _ = store.read_header(path)
            slot = store.choose_slot(header, actor)
        except Exception:  # let the full CLI say what is wrong with the file or the person
            return None
        name = store.keyring_name(header, slot)
        file_id = header.file_id.hex()
        if slot.kind != ff.KIND_PERSON or (file_id, name) not in self.keys.entries:
            return None
        identity = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, header.generation)
        seen = seen_all.get(file_id)
        seen = seen if isinstance(seen, dict) else None
        digest = witness_digest(seen)
        key = None
        if words in CACHED:
            key = answer_key(identity, digest, str(path), argv, env, cwd, actor, clock.real_today().isoformat())
        return Request(str(path), actor, env, cwd, argv, identity, (str(path), file_id, name), seen, digest, key)

    def ready(self, request: Request) -> Prepared | None:
        """The cached register for a request, current and checked against this machine's witness; None to fall back.

        It is opened again (with every check) when the file changed, other than by records appended to
        its tail, or when the witness changed in a way the register does not account for: another copy
        of the register seen here since, say, which makes this file a rollback.
        """
        from accountctl.store import register as store

        key, identity = request.cache_key, request.identity
        cached = self.cache.get(key)
        if cached is not None and cached[0] != identity and _only_appended(cached[0], identity):
            identity = self._add_tail(key, cached[1]) or identity  # a reveal's record: read it, not the whole file
            cached = self.cache.get(key)
        if cached is not None and cached[0] == identity and self.agreed.get(key) != request.witness:
            if store.witness_agrees(cached[1], request.seen):
                self.agreed[key] = request.witness
            else:
                cached = None
        if cached is None or cached[0] != identity:
            if key in self.cache:
                _release([self.cache.pop(key)[1]])
            self.agreed.pop(key, None)
            try:
                with store.open_register(request.path, actor=request.actor, passphrase_source=_no_passphrase) as reg:
                    pass
            except Exception:
                return None
            self.cache[key] = cached = (identity, reg)
            self._agree(key, reg)
        path, actor, env, cwd, argv = request.path, request.actor, request.env, request.cwd, request.argv
        return Prepared(path, actor, cached[1], env, cwd, argv, identity, request.answer_key)

    def _agree(self, key: tuple, reg) -> None:
        """Note the witness entry this register now agrees with (after an open or an append), if it does."""
        from accountctl.store import register as store, witness

        current = witness.seen(reg.file_id)
        if store.witness_agrees(reg, current):
            self.agreed[key] = witness_digest(current)
        else:
            self.agreed.pop(key, None)

    def _after_write(self, prepared: Prepared) -> None:
        """After a write run here: keep the cached register, now with its save, or drop it if it did not save."""
        path, reg = prepared.path, prepared.reg
        key = next((k for k, (_, r) in self.cache.items() if r is reg), None)
        if key is None:
            return
        stat = _stat(path)  # the generation is the one it saved (or read): a save by anyone else is a new inode
        identity = (*stat, reg.header.generation) if stat is not None else None
        if reg.dirty or identity is None or identity[2] != reg._tail_end:
            _release([self.cache.pop(key)[1]])  # changed but not saved, or the file moved on: read it afresh
            self.agreed.pop(key, None)
        else:
            self.cache[key] = (identity, reg)
            if _only_appended(prepared.identity, identity):
                self._carry_answers(key, prepared.identity, identity)

    def _remember_recipe(self, answer_key: tuple, message: dict) -> None:
        self.recipes.pop(answer_key, None)
        self.recipes[answer_key] = message
        while len(self.recipes) > MAX_ANSWERS:
            self.recipes.pop(next(iter(self.recipes)))

    def _watch(self) -> None:
        """Notice a held file that changed with no request; once it has stayed as it is, work out again what was kept."""
        now = time.monotonic()
        for key, (identity, _) in list(self.cache.items()):
            stat = _stat(key[0])
            if stat is None or stat == identity[:4]:
                self.changed.pop(key, None)
                continue
            seen = self.changed.get(key)
            if seen is None or seen[0] != stat:
                self.changed[key] = (stat, now)  # still being written, perhaps: wait until it rests
            elif now - seen[1] >= PREWARM_AFTER:
                del self.changed[key]
                self._prewarm(identity)

    def _prewarm(self, old: tuple) -> None:
        """Ask again, in the background, the last few requests whose answers were kept for the file as it was."""
        wanted = [self.recipes[k] for k in self.answers if k[0] == old and k in self.recipes][-PREWARM_MOST:]
        for message in wanted:
            request = self.describe(message)
            if request is None:
                return
            working = {k for k, _ in self.pending.values()}
            if request.answer_key is None or request.answer_key in self.answers or request.answer_key in working:
                continue  # already being worked out
            prepared = self.ready(request)  # the first reads the file again (or only its tail), once for all
            if prepared is None:
                return
            if prepared.answer_key in self.answers:
                continue  # still right (a reveal's tail): carried over
            read_end, back = os.pipe()
            if os.fork() == 0:
                os.close(read_end)
                self._in_child(None)
                self.run_child(None, prepared, back)
            os.close(back)
            self._pending(read_end, prepared.answer_key)
            self._remember_recipe(prepared.answer_key, message)
            self.prewarmed += 1

    def _carry_answers(self, key: tuple, old: tuple, new: tuple) -> None:
        """Keep the answers of the file before events were appended to its tail: still right after it.

        None of the commands whose answers are kept (CACHED) reads the history, and each answers the
        same after a reveal as before (a test checks both), so after a reveal `audit` is still one
        round trip. The append moved this machine's witness on (its last event): the answers move with
        it when the witness is now what the register itself records, or is still the one it agreed with.
        """
        from accountctl.store import register as store, witness

        before = self.agreed.get(key)
        reg = self.cache[key][1]
        current = witness.seen(reg.file_id)
        now = witness_digest(current)
        if now != before and not store.witness_agrees(reg, current):
            self.agreed.pop(key, None)  # the witness moved on elsewhere: the next request checks it again
            return
        self.agreed[key] = now
        if before is None:
            return
        for answer in [k for k in self.answers if k[0] == old and k[1] == before]:
            self.answers[(new, now, *answer[2:])] = self.answers.pop(answer)

    def _add_tail(self, key: tuple, reg) -> tuple | None:
        """Add the records appended to the file's tail to the cached register; its new identity, or None to re-open."""
        try:
            if reg.refresh_tail():
                identity = _identity(key[0])
                if identity is not None and identity[2] == reg._tail_end:
                    old = self.cache[key][0]
                    self.cache[key] = (identity, reg)
                    self._carry_answers(key, old, identity)
                    return identity
        except Exception:  # damaged, replaced meanwhile: the full open says what is wrong
            pass
        _release([self.cache.pop(key)[1]])
        self.agreed.pop(key, None)
        return None

    def execute(self, prepared: Prepared) -> tuple[int, bytes, bytes]:
        """Run a command over the cached register, with the client's environment and folder: (code, out, err)."""
        path, actor, reg, env, cwd, argv, identity, _ = prepared
        from accountctl.store import register as store

        def reader(target, who):
            same = getattr(target, "path", None)
            if same is not None and str(same) == path and (who or None) == actor:
                return reg
            return None

        def writer(target, who):
            # Asked under the writers' lock: only the very file the register was read from will do (a save
            # replaces the file, so a new generation is also a new inode: the header need not be read again).
            if reader(target, who) is None or reg.dirty or _stat(path) != identity[:4]:
                return None
            return reg

        store.cached_reader = reader
        store.cached_writer = writer
        for name in agent_link.PASSED_ENV:
            os.environ.pop(name, None)
        os.environ.update(env)
        os.environ.pop("ACCOUNTCTL_PASSPHRASE", None)
        out, err = io.BytesIO(), io.BytesIO()
        sys.stdout = io.TextIOWrapper(out, encoding="utf-8", errors="surrogateescape", write_through=True)
        sys.stderr = io.TextIOWrapper(err, encoding="utf-8", errors="surrogateescape", write_through=True)
        sys.stdin = open(os.devnull)
        code = 2
        try:
            os.chdir(cwd)
            from accountctl.cli import cli

            code = cli.main(args=argv, standalone_mode=False)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            code = 2
        sys.stdout.flush()
        sys.stderr.flush()
        return int(code or 0), out.getvalue(), err.getvalue()

    def run_child(self, sock, prepared: Prepared, back: int | None) -> None:
        """In the forked child: run the command over the cached register and send back its output."""
        import gc

        gc.disable()  # a short life: collecting would only copy the parent's pages
        try:
            answer = self.execute(prepared)
            if sock is not None:  # None: worked out ahead, for the agent only (_prewarm)
                try:
                    agent_link.send_output(sock, *answer)
                except OSError:
                    pass  # the client has gone: the answer is still worth keeping
            if back is not None:  # the same answer for the agent to keep, for as long as the file is unchanged
                with os.fdopen(back, "wb") as pipe:
                    pipe.write(answer[0].to_bytes(1, "big") + len(answer[1]).to_bytes(8, "big") + answer[1] + answer[2])
        finally:
            os._exit(0)

    def run_here(self, prepared: Prepared) -> tuple[int, bytes, bytes]:
        """Run a command (`otp`, INLINE; `cred show`, INLINE_WRITE) in the agent itself, then put back all it changed here.

        Its environment, folder, streams and the register hooks are put back; the cached register keeps
        what a write saved (the caller checks that it did: `_after_write`).
        """
        from accountctl.store import register as store

        saved_env = {name: os.environ.get(name) for name in (*agent_link.PASSED_ENV, "ACCOUNTCTL_PASSPHRASE")}
        saved_streams = sys.stdout, sys.stderr, sys.stdin
        saved_reader, saved_writer = store.cached_reader, store.cached_writer
        try:
            saved_cwd = os.getcwd()
        except OSError:
            saved_cwd = "/"
        try:
            return self.execute(prepared)
        finally:
            if sys.stdin is not saved_streams[2]:
                sys.stdin.close()
            sys.stdout, sys.stderr, sys.stdin = saved_streams
            store.cached_reader, store.cached_writer = saved_reader, saved_writer
            for name, value in saved_env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            try:
                os.chdir(saved_cwd)
            except OSError:
                os.chdir("/")

    # -- the loop -------------------------------------------------------------------------------
    def serve(self) -> None:
        if agent_link.WINDOWS:
            return self.serve_pipe()
        import selectors
        import signal

        listener = agent_link.listen()
        listener.setblocking(False)
        self.selector = selectors.DefaultSelector()  # epoll or kqueue: no limit on descriptor numbers, as select has
        self.selector.register(listener, selectors.EVENT_READ, None)
        self.listener = listener
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "running", False))
        agent_link._local = self._local_kek
        try:
            while self.running:
                self.keys.expire()
                self._drop_cache()
                self._watch()
                now = time.monotonic()
                self._drop_late(now)
                if not self.keys.entries and now >= self.deadline and not self.conns:
                    break  # nothing left to hold
                wake = min(self.keys.next_expiry() or self.deadline, self.deadline)
                if self.cache:
                    wake = min(wake, now + PREWARM_AFTER / 2)
                if self.conns:
                    wake = min(wake, min(c.deadline for c in self.conns.values()))
                for ready, events in self.selector.select(max(0.05, wake - now + 0.01)):
                    if ready.fileobj is listener:
                        self.accept(listener)
                    elif isinstance(ready.data, Conn):
                        if ready.data.outbox is None:
                            self.read(ready.data)
                        else:
                            self.write(ready.data)
                    else:
                        self.collect(ready.fd)
                if self.keys.entries:
                    self.deadline = max(self.deadline, time.monotonic())
        finally:
            self.keys.wipe_all()
            _release([reg for _, reg in self.cache.values()])
            self.cache.clear()
            for conn in list(self.conns.values()):
                self._close(conn)
            listener.close()
            try:
                os.unlink(agent_link.address())
            except OSError:
                pass

    def accept(self, listener) -> None:
        """Take every waiting connection: another user's is closed unanswered, the user's own read as it comes."""
        import selectors

        while True:
            try:
                sock, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # out of descriptors, say: the client falls back; the loop goes on
                return
            if len(self.conns) >= MAX_CONNECTIONS or not agent_link.peer_is_owner(sock):
                sock.close()  # another user: say nothing at all
                continue
            sock.setblocking(False)
            conn = Conn(sock, time.monotonic() + agent_link.REQUEST_DEADLINE)
            self.conns[sock.fileno()] = conn
            self.selector.register(sock, selectors.EVENT_READ, conn)

    def read(self, conn: Conn) -> None:
        """Read what has arrived of a request; once it is whole, answer it (a garbled one is closed unanswered)."""
        try:
            chunk = conn.sock.recv(CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._close(conn)
            return
        conn.inbox += chunk
        if len(conn.inbox) < 4:
            return
        size = int.from_bytes(conn.inbox[:4], "big")
        if size > agent_link.MAX_REQUEST:
            self._close(conn)  # not a request: nothing this large ever is
            return
        if len(conn.inbox) < 4 + size:
            return
        try:
            message = agent_link.decode(bytes(conn.inbox[4 : 4 + size]))
        except (ValueError, RecursionError):  # anything of the user's may connect: a stray frame must not stop it
            self._close(conn)
            return
        conn.inbox = bytearray()
        if message.get("op") == "run":
            self.serve_run(conn, message)
        else:
            self.reply(conn, agent_link.json_frame(self.handle(message)))

    def serve_run(self, conn: Conn, message: dict) -> None:
        """Answer a `run`: a kept answer, or run here (INLINE), or in a forked child handed the connection."""
        request = self.describe(message)
        if request is None:
            self.reply(conn, agent_link.FALLBACK_FRAME)
            return
        self.keys.touch(*request.cache_key[1:])
        # A kept answer was worked out over this very file, witness, person and date (answer_key): it
        # needs no further check, so it comes before the register is even looked at.
        kept = self.answers.get(request.answer_key) if request.answer_key is not None else None
        if kept is None:
            prepared = self.ready(request)
            if prepared is None:
                self.reply(conn, agent_link.FALLBACK_FRAME)
                return
            if prepared.answer_key is not None:
                kept = self.answers.get(prepared.answer_key)  # carried over by a tail just read
        if kept is not None:
            self.replayed += 1
            self.reply(conn, kept)
            return
        words = agent_link.command_of(prepared.argv)[0]
        if words in INLINE:
            self.reply(conn, agent_link.output_frame(*self.run_here(prepared)))
            return
        if words in INLINE_WRITE and _lock_is_free(prepared.path):
            answer = self.run_here(prepared)
            try:
                self.reply(conn, agent_link.output_frame(*answer))  # saved (fsync'ed) already: answer before tidying up
            finally:
                self._after_write(prepared)
            return
        read_end, back = os.pipe() if prepared.answer_key is not None else (None, None)
        if prepared.answer_key is not None:
            self._remember_recipe(prepared.answer_key, message)
        if os.fork() == 0:
            if read_end is not None:
                os.close(read_end)
            self._in_child(conn)
            conn.sock.setblocking(True)
            conn.sock.settimeout(agent_link.TIMEOUT)  # the child may wait for a slow reader: it holds up no one
            self.run_child(conn.sock, prepared, back)
        if read_end is not None:
            os.close(back)
            self._pending(read_end, prepared.answer_key)
        self._close(conn)  # the child answers it

    def _in_child(self, keep: Conn | None) -> None:
        """In a forked child: let go of the other clients' sockets, so they see their connection end with the agent's."""
        for conn in self.conns.values():
            if conn is not keep:
                conn.sock.close()  # the child's copy only; never the selector, which it shares with the agent
        if self.listener is not None:
            self.listener.close()

    def reply(self, conn: Conn, frame: bytes) -> None:
        """Send an answer: as much as the socket takes now, the rest as the client reads it."""
        import selectors

        conn.outbox, conn.sent = memoryview(frame), 0
        conn.deadline = time.monotonic() + WRITE_DEADLINE
        self.write(conn)
        if conn.sock.fileno() in self.conns:
            self.selector.modify(conn.sock, selectors.EVENT_WRITE, conn)

    def write(self, conn: Conn) -> None:
        while conn.sent < len(conn.outbox):
            try:
                conn.sent += conn.sock.send(conn.outbox[conn.sent : conn.sent + CHUNK])
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # the client went away
                break
        self._close(conn)

    def _close(self, conn: Conn) -> None:
        fd = conn.sock.fileno()
        if self.conns.get(fd) is conn:
            del self.conns[fd]
            self.selector.unregister(conn.sock)
        conn.outbox = None
        conn.sock.close()

    def _drop_late(self, now: float) -> None:
        """Drop a client whose request has not arrived whole, or who has not read its answer, in time."""
        for conn in [c for c in self.conns.values() if c.deadline <= now]:
            self._close(conn)

    def _pending(self, read_end: int, answer_key: tuple) -> None:
        import selectors

        self.pending[read_end] = (answer_key, [])
        self.selector.register(read_end, selectors.EVENT_READ, "child")

    def collect(self, fd: int) -> None:
        """Read a child's copy of its answer; once whole, keep it (only answers of the current files)."""
        key, parts = self.pending[fd]
        chunk = os.read(fd, CHUNK)
        if chunk:
            parts.append(chunk)
            return
        self.selector.unregister(fd)
        os.close(fd)
        del self.pending[fd]
        data = b"".join(parts)
        if len(data) < 9:
            return
        size = int.from_bytes(data[1:9], "big")
        answer = (data[0], data[9 : 9 + size], data[9 + size :])
        if answer[0] not in (0, 1):
            return  # an error may come from the moment (a busy lock), not the file
        current = {identity for identity, _ in self.cache.values()}
        for old in [k for k in self.answers if k[0] not in current]:
            del self.answers[old]
        if key[0] in current:
            while len(self.answers) >= MAX_ANSWERS:
                self.answers.pop(next(iter(self.answers)))
            self.answers[key] = agent_link.output_frame(*answer)

    def serve_pipe(self) -> None:
        """Windows: a named pipe, one request at a time; keys only (a `run` answers "fall back").

        Not tested in CI (see docs/security.md). A watcher thread expires keys, since accept() blocks.
        """
        import threading

        listener = agent_link.listen()
        agent_link._local = self._local_kek

        def watch() -> None:
            while True:
                time.sleep(1)
                self.keys.expire()
                if not self.running or (not self.keys.entries and time.monotonic() >= self.deadline):
                    self.keys.wipe_all()
                    os._exit(0)

        threading.Thread(target=watch, daemon=True).start()
        while self.running:
            conn = listener.accept()
            try:
                message = json.loads(conn.recv_bytes(agent_link.MAX_REQUEST))
                if not isinstance(message, dict):
                    raise ValueError("a request is a JSON object")
                answer = {"ok": True, "fallback": True} if message.get("op") == "run" else self.handle(message)
                conn.send_bytes(json.dumps(answer).encode("utf-8"))
            except (OSError, EOFError, ValueError, RecursionError):
                pass
            finally:
                conn.close()
            if self.keys.entries:
                self.deadline = max(self.deadline, time.monotonic())
        self.keys.wipe_all()

    def _local_kek(self, file_id: bytes, name: str) -> bytes | None:
        return self.keys.get(file_id.hex(), name)


def _stat(path) -> tuple | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


def _identity(path) -> tuple | None:
    """A register file's identity: device, inode, size, modification time and generation; None if unreadable."""
    from accountctl.store import register as store

    try:
        return (*_stat(path), store.read_header(path)[0].generation)
    except Exception:
        return None


def _lock_is_free(path: str) -> bool:
    """Whether no writer holds the register's lock right now (a guess: one may take it next)."""
    from filelock import FileLock, Timeout

    lock = FileLock(path + ".lock", timeout=0, mode=0o600)
    try:
        lock.acquire()
    except (Timeout, OSError):
        return False
    lock.release()
    return True


def _only_appended(old: tuple, new: tuple) -> bool:
    """The same file (device, inode, generation), only longer: records were appended to its tail."""
    return old[:2] == new[:2] and old[4] == new[4] and new[2] > old[2]


def _release(registers: list) -> None:
    """Free dropped registers now: close their databases and collect them.

    A Register sits in reference cycles, and the agent makes so few new objects that the collector
    would reach them only rarely: each re-open of a changed large file kept another ~25 MB (and the
    old keys) until then.
    """
    import gc

    for reg in registers:
        try:
            reg.db.close()
        except Exception:  # already closed, or not a database: nothing to free here
            pass
    registers.clear()
    gc.collect()


def _no_passphrase() -> str:
    from accountctl.errors import AccessError

    raise AccessError("the agent holds no passphrase")


def main(argv: list[str] | None = None) -> None:
    import argparse

    def ttl(text: str) -> float:
        try:
            return check_ttl(float(text), "--ttl")
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parser = argparse.ArgumentParser(prog="accountctl-agent")
    parser.add_argument("--ttl", type=ttl, default=DEFAULT_TTL)
    parser.add_argument("--multi", action="store_true", help="hold several people's keys for one register")
    args = parser.parse_args(argv)
    from accountctl.store.register import no_core_dumps

    no_core_dumps()
    import importlib

    for name in WARM:  # loaded once here, so a forked child starts with them
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    import gc

    gc.freeze()  # what is loaded now stays: the collector's passes (see _release) skip it, ~12 ms to ~1 ms
    Agent(args.ttl, multi=args.multi).serve()


if __name__ == "__main__":
    main()
