"""The agent's loop: a 0600 Unix socket in a private folder (a named pipe on Windows), one select loop."""

from __future__ import annotations

import json
import os
import time

from accountctl.agent import client, protocol
from accountctl.agent.client import address, folder, request
from accountctl.agent.held import lock_is_free, release
from accountctl.agent.protocol import WINDOWS, AgentGone
from accountctl.agent.requests import INLINE, INLINE_WRITE, MAX_ANSWERS, PREWARM_AFTER

# A client that has not read its whole answer this long after it was ready is dropped.
WRITE_DEADLINE = protocol.TIMEOUT
MAX_CONNECTIONS = 256  # beyond this many at once, a new connection is closed at once (the client falls back)
CHUNK = 1 << 20


class Conn:
    """One client: its request as it arrives, then its answer as it leaves, both without blocking the loop."""

    __slots__ = ("sock", "inbox", "outbox", "sent", "deadline")

    def __init__(self, sock, deadline: float):
        self.sock = sock
        self.inbox = bytearray()
        self.outbox: memoryview | None = None
        self.sent = 0
        self.deadline = deadline


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


class Loop:
    """The agent's connections: requests read and answers written without blocking, in one select loop.

    An idle, slow or non-reading client holds up no one: a request must arrive whole within
    REQUEST_DEADLINE, an answer must be read within WRITE_DEADLINE. Mixed into `Agent`
    (agent/process.py), which answers the requests.
    """

    # -- the loop -------------------------------------------------------------------------------
    def serve(self) -> None:
        if protocol.WINDOWS:
            return self.serve_pipe()
        import selectors
        import signal

        listener = listen()
        listener.setblocking(False)
        self.selector = selectors.DefaultSelector()  # epoll or kqueue: no limit on descriptor numbers, as select has
        self.selector.register(listener, selectors.EVENT_READ, None)
        self.listener = listener
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "running", False))
        client._local = self._local_kek
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
            release([reg for _, reg in self.cache.values()])
            self.cache.clear()
            for conn in list(self.conns.values()):
                self._close(conn)
            listener.close()
            try:
                os.unlink(client.address())
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
            if len(self.conns) >= MAX_CONNECTIONS or not protocol.peer_is_owner(sock):
                sock.close()  # another user: say nothing at all
                continue
            sock.setblocking(False)
            conn = Conn(sock, time.monotonic() + protocol.REQUEST_DEADLINE)
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
        if size > protocol.MAX_REQUEST:
            self._close(conn)  # not a request: nothing this large ever is
            return
        if len(conn.inbox) < 4 + size:
            return
        try:
            message = protocol.decode(bytes(conn.inbox[4 : 4 + size]))
        except (ValueError, RecursionError):  # anything of the user's may connect: a stray frame must not stop it
            self._close(conn)
            return
        conn.inbox = bytearray()
        if message.get("op") == "run":
            self.serve_run(conn, message)
        else:
            self.reply(conn, protocol.json_frame(self.handle(message)))

    def serve_run(self, conn: Conn, message: dict) -> None:
        """Answer a `run`: a kept answer, or run here (INLINE), or in a forked child handed the connection."""
        request = self.describe(message)
        if request is None:
            self.reply(conn, protocol.FALLBACK_FRAME)
            return
        self.keys.touch(*request.cache_key[1:])
        # A kept answer was worked out over this very file, witness, person and date (answer_key): it
        # needs no further check, so it comes before the register is even looked at.
        kept = self.answers.get(request.answer_key) if request.answer_key is not None else None
        if kept is None:
            prepared = self.ready(request)
            if prepared is None:
                self.reply(conn, protocol.FALLBACK_FRAME)
                return
            if prepared.answer_key is not None:
                kept = self.answers.get(prepared.answer_key)  # carried over by a tail just read
        if kept is not None:
            self.replayed += 1
            self.reply(conn, kept)
            return
        words = protocol.command_of(prepared.argv)[0]
        if words in INLINE:
            self.reply(conn, protocol.output_frame(*self.run_here(prepared)))
            return
        if words in INLINE_WRITE and lock_is_free(prepared.path):
            answer = self.run_here(prepared)
            try:
                self.reply(conn, protocol.output_frame(*answer))  # saved (fsync'ed) already: answer before tidying up
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
            conn.sock.settimeout(protocol.TIMEOUT)  # the child may wait for a slow reader: it holds up no one
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
            self.answers[key] = protocol.output_frame(*answer)

    def serve_pipe(self) -> None:
        """Windows: a named pipe, one request at a time; keys only (a `run` answers "fall back").

        Not tested in CI (see docs/security.md). A watcher thread expires keys, since accept() blocks.
        """
        import threading

        listener = listen()
        client._local = self._local_kek

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
                message = json.loads(conn.recv_bytes(protocol.MAX_REQUEST))
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
