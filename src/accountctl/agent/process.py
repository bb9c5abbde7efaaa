"""The agent process: holds people's unlock keys (KEKs) in memory and answers its own user's commands.

Started by `accountctl agent start` as `python -m accountctl.agent.process --ttl SECONDS [--multi]`,
with no passphrase in its environment. One request per connection (agent/protocol.py), every
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
import os
import sys
import time

from accountctl.agent import protocol
from accountctl.agent.keys import Keys
from accountctl.agent.held import file_identity, no_passphrase, only_appended, release, file_stat
from accountctl.agent.loop import Conn, Loop
from accountctl.agent.protocol import DEFAULT_TTL
from accountctl.agent.requests import (
    CACHED,
    MAX_ANSWERS,
    PREWARM_AFTER,
    PREWARM_MOST,
    USER_ENV,
    Prepared,
    Request,
    answer_key,
    check_ttl,
    checked,
    sound_run,
    witness_digest,
)


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


class Agent(Loop):
    def __init__(self, ttl: float, multi: bool = False):
        from accountctl.store import opening5

        opening5.KEEP_PLAIN = True  # a format-5 register held here is re-read by its changed segments only
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
        self.reread = 0  # registers taken up again by the segments another process changed (format 5)
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
                "reread": self.reread,
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
            release([self.cache.pop(key)[1] for key in gone])
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
        words, values = protocol.command_of(argv)
        if not words:
            return None
        sent = message["env"]
        if any(sent.get(name) != os.environ.get(name) for name in protocol.SAME_ENV):
            return None  # another home or state folder than the agent's: the client runs it itself
        env = {k: v for k, v in sent.items() if k in protocol.PASSED_ENV}
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
        if cached is not None and cached[0] != identity and only_appended(cached[0], identity):
            identity = self._add_tail(key, cached[1]) or identity  # a reveal's record: read it, not the whole file
            cached = self.cache.get(key)
        if cached is not None and cached[0] == identity and self.agreed.get(key) != request.witness:
            if store.witness_agrees(cached[1], request.seen):
                self.agreed[key] = request.witness
            else:
                cached = None
        if cached is None or cached[0] != identity:
            held = self.cache.pop(key, (None, None))[1]
            self.agreed.pop(key, None)
            try:
                reg = self._reopen(request, held)
            except Exception:
                return None
            self.cache[key] = cached = (identity, reg)
            self._agree(key, reg)
        path, actor, env, cwd, argv = request.path, request.actor, request.env, request.cwd, request.argv
        return Prepared(path, actor, cached[1], env, cwd, argv, identity, request.answer_key)

    def _reopen(self, request: Request, held):
        """Open the request's register afresh: from the one held, reading only what changed (format 5), or whole."""
        from accountctl.store import register as store

        if held is not None:
            try:
                reg = store.reopen(request.path, held, request.actor)
            except Exception:
                reg = None  # the held database may be half changed: it goes, and the open below says what is wrong
                release([held])
            else:
                if reg is not None:
                    self.reread += 1
                    return reg
                release([held])
        with store.open_register(request.path, actor=request.actor, passphrase_source=no_passphrase) as reg:
            return reg

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
        stat = file_stat(path)  # the generation is the one it saved (or read): a save by anyone else is a new inode
        identity = (*stat, reg.header.generation) if stat is not None else None
        if reg.dirty or identity is None or identity[2] != reg._tail_end:
            release([self.cache.pop(key)[1]])  # changed but not saved, or the file moved on: read it afresh
            self.agreed.pop(key, None)
        else:
            self.cache[key] = (identity, reg)
            if only_appended(prepared.identity, identity):
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
            stat = file_stat(key[0])
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
                identity = file_identity(key[0])
                if identity is not None and identity[2] == reg._tail_end:
                    old = self.cache[key][0]
                    self.cache[key] = (identity, reg)
                    self._carry_answers(key, old, identity)
                    return identity
        except Exception:  # damaged, replaced meanwhile: the full open says what is wrong
            pass
        release([self.cache.pop(key)[1]])
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
            if reader(target, who) is None or reg.dirty or file_stat(path) != identity[:4]:
                return None
            return reg

        store.set_cached(reader, writer)
        for name in protocol.PASSED_ENV:
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
                    protocol.send_output(sock, *answer)
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

        saved_env = {name: os.environ.get(name) for name in (*protocol.PASSED_ENV, "ACCOUNTCTL_PASSPHRASE")}
        saved_streams = sys.stdout, sys.stderr, sys.stdin
        saved_hooks = store.opening.cached_reader, store.opening.cached_writer
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
            store.set_cached(*saved_hooks)
            for name, value in saved_env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            try:
                os.chdir(saved_cwd)
            except OSError:
                os.chdir("/")


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

    gc.freeze()  # what is loaded now stays: the collector's passes (see release) skip it, ~12 ms to ~1 ms
    Agent(args.ttl, multi=args.multi).serve()


if __name__ == "__main__":
    # Run the module as imported, not as __main__: its functions and classes then carry the name they
    # have everywhere else (a mutation audit finds and swaps them by that name; as __main__ it could not).
    from accountctl.agent import process

    process.main()
