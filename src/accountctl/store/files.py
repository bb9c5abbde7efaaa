"""Reading the register file, the writers' lock, and the atomic replace that keeps PATH.bak."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from accountctl.errors import BusyError, DamagedError, InputError

DEFAULT_LOCK_TIMEOUT = 10.0
PRIVATE = 0o600  # the register, PATH.bak, the lock and every temporary file: only their owner reads them
PRIVATE_DIR = 0o700
# A temporary file is always a new file, never one that was there (or a link planted to redirect the write).
CREATE_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
PREFIX_LEN = 64 * 1024  # enough for the fixed header part (and most whole headers) in one read
COPY_CHUNK = 1 << 20


def default_path() -> Path:
    """ACCOUNTCTL_REGISTER, else the register in this user's data directory."""
    env = os.environ.get("ACCOUNTCTL_REGISTER")
    if env:
        return Path(env).expanduser()
    if os.name == "nt":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif os.uname().sysname == "Darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "accountctl" / "register.accountctl"


def read_register(
    path: Path, upto: Callable[[bytes], int] | None = None, tail_at: Callable[[bytes], int] | None = None
) -> tuple[bytes, int]:
    """The file's bytes and its size; with `upto`, only its first `upto(first bytes)` bytes.

    `upto` sees the first PREFIX_LEN bytes and says how many the caller needs (the header and body,
    without the history archive); `tail_at` where the file's tail starts (after the archive): its
    bytes to the end, from the same open file, follow. A missing file or a folder is bad input that
    says how to create one.
    """
    if path.is_dir():
        raise InputError(
            f"{path} is a folder, not a register file; point --register or ACCOUNTCTL_REGISTER at a file, "
            f"or create one with 'accountctl init --trust NAME --email E --name N --register {path / 'register.accountctl'}'"
        )
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if upto is None:
                data = handle.read()
                return data, max(size, len(data))  # a record appended since fstat is read, and counted
            prefix = handle.read(PREFIX_LEN)
            want = min(upto(prefix), size)
            data = prefix + handle.read(want - len(prefix)) if want > len(prefix) else prefix[:want]
            if tail_at is not None:
                start = tail_at(prefix)
                if start < size:
                    handle.seek(start)
                    tail = handle.read()  # to the end now: a record appended since fstat is read, and counted
                    data += tail
                    size = start + len(tail)
            return data, size
    except FileNotFoundError:
        raise InputError(
            f"no register at {path}; create one with 'accountctl init --trust NAME --email E --name N' "
            "or point to one with --register PATH or ACCOUNTCTL_REGISTER"
        ) from None
    except PermissionError:
        raise InputError(f"cannot read {path}: permission denied") from None
    except OSError as exc:
        raise DamagedError(f"cannot read {path}: {exc.strerror}") from None


def read_range(path: Path, start: int, length: int) -> bytes:
    """`length` bytes of the file from `start` (the history archive); short means damaged."""
    try:
        with open(path, "rb") as handle:
            handle.seek(start)
            data = handle.read(length)
    except OSError as exc:
        raise DamagedError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) != length:
        raise DamagedError("register damaged: the file is truncated")
    return data


class Snapshot:
    """One register file opened once and read by ranges (format 5 reads only the segments it opens).

    Every range comes from the file as it was opened, even if a writer renames a new one over it
    meanwhile (the old file stays readable through this handle). Short reads are damage.
    """

    def __init__(self, path: Path):
        try:
            self.handle = open(path, "rb")  # noqa: SIM115 (kept open while the register is: `older` reads later)
        except FileNotFoundError:
            read_register(path)  # its own message: no register here, a folder, or permission denied
            raise
        except OSError as exc:
            raise DamagedError(f"cannot read {path}: {exc.strerror}") from None
        self.size = os.fstat(self.handle.fileno()).st_size

    def read(self, start: int, length: int) -> bytes:
        if start < 0 or length < 0 or start + length > self.size:
            raise DamagedError("register damaged: the file is truncated")
        self.handle.seek(start)
        data = self.handle.read(length)
        if len(data) != length:
            raise DamagedError("register damaged: the file is truncated")
        return data

    def rest(self, start: int) -> bytes:
        """From `start` to the end as it is now (records appended to the tail since the open are read too)."""
        self.handle.seek(start)
        return self.handle.read()


def read_rest(path: Path, start: int) -> bytes:
    """The file's bytes from `start` to its end; a file shorter than `start` is damaged."""
    try:
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_size < start:
                raise DamagedError("register damaged: the file is truncated")
            handle.seek(start)
            return handle.read()
    except OSError as exc:
        raise DamagedError(f"cannot read {path}: {exc.strerror}") from None


def copy_range(path: Path, start: int, length: int, out: BinaryIO) -> bytes:
    """Append `length` bytes of the file from `start` to `out`, in chunks; returns their SHA-256.

    A large archive is never held in memory; the digest lets the caller refuse bytes it did not expect.
    """
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        handle.seek(start)
        left = length
        while left:
            chunk = handle.read(min(left, COPY_CHUNK))
            if not chunk:
                raise DamagedError("register damaged: the file is truncated")
            out.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
    return digest.digest()


@contextmanager
def write_lock(path: Path) -> Iterator[None]:
    """Hold the writers' lock next to the register; wait boundedly, then fail with 'register busy'."""
    from filelock import FileLock, Timeout

    timeout = float(os.environ.get("ACCOUNTCTL_LOCK_TIMEOUT", DEFAULT_LOCK_TIMEOUT))
    lock = FileLock(str(path) + ".lock", timeout=timeout, mode=PRIVATE)
    try:
        lock.acquire()
    except Timeout:
        raise BusyError(f"register busy: another accountctl is writing {path}; try again in a moment") from None
    try:
        yield
    finally:
        lock.release()


def append(path: Path, expected_size: int, data: bytes) -> int:
    """Append `data` to the register file and fsync it; returns the new size.

    Only a writer holding the lock comes here, and only onto the file it read: if the file is not
    `expected_size` bytes (replaced, or an unfinished record a crash left), nothing is appended
    after anything unexpected. An unfinished record past `expected_size` is cut off first.
    """
    flags = os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except PermissionError:
        raise InputError(f"cannot write {path}: permission denied") from None
    except OSError as exc:
        raise DamagedError(f"cannot write {path}: {exc.strerror}") from None
    try:
        size = os.fstat(fd).st_size
        if size < expected_size:
            raise DamagedError("register damaged: the file is truncated")
        if size > expected_size:
            os.ftruncate(fd, expected_size)
        os.lseek(fd, expected_size, os.SEEK_SET)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    return expected_size + len(data)


def atomic_write(path: Path, data) -> None:
    """Write PATH.tmp, fsync, keep the current file as PATH.bak, rename over PATH, fsync the folder.

    `data` is bytes, or a function that writes to the open file (to stream large bodies). Readers
    see the old file or the new one, never a mix. A crash before the rename leaves the old file
    untouched (and a stale PATH.tmp the next write replaces).
    """
    tmp = path.with_name(path.name + ".tmp")
    try:
        with _create_new(tmp) as handle:
            if callable(data):
                data(handle)
            else:
                handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)  # refused part-way (a damaged archive): the register and PATH.bak stay as they were
        raise
    if path.exists():
        _keep_backup(path)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _create_new(path: Path) -> BinaryIO:
    """Open a new private file for writing; a stale one (a crash's, or a planted link) is removed first.

    Only a writer holding the lock comes here, so nothing else is writing the temporary file.
    """
    try:
        path.unlink()  # unlink removes a symbolic link itself, never what it points to
    except FileNotFoundError:
        pass
    return os.fdopen(os.open(path, CREATE_NEW, PRIVATE), "wb")


def make_private_dir(folder: Path) -> None:
    """Create a register's folder (and parents) readable only by its owner."""
    folder.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)


def replace_backup(path: Path) -> None:
    """Make PATH.bak the register as it is now, not the generation before (after a revoke: see `Register.save`)."""
    if path.exists():
        _keep_backup(path)


def _keep_backup(path: Path) -> None:
    bak = path.with_name(path.name + ".bak")
    staging = path.with_name(path.name + ".bak.tmp")
    if os.name != "nt":
        os.chmod(path, PRIVATE)  # a register from before this rule: PATH.bak (a link to it) must not stay readable
    try:
        staging.unlink(missing_ok=True)
        os.link(path, staging)  # a hard link costs nothing; copy where links are not supported
    except OSError:
        with open(path, "rb") as source, _create_new(staging) as target:
            shutil.copyfileobj(source, target)
    os.replace(staging, bak)


def _fsync_dir(folder: Path) -> None:
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
