"""What the agent holds of each register: a file's identity, whether its writers' lock is free, and freeing
a register it lets go of."""

from __future__ import annotations

import os


def file_stat(path) -> tuple | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


def file_identity(path) -> tuple | None:
    """A register file's identity: device, inode, size, modification time and generation; None if unreadable."""
    from accountctl.store import register as store

    try:
        return (*file_stat(path), store.read_header(path)[0].generation)
    except Exception:
        return None


def lock_is_free(path: str) -> bool:
    """Whether no writer holds the register's lock right now (a guess: one may take it next)."""
    from filelock import FileLock, Timeout

    lock = FileLock(path + ".lock", timeout=0, mode=0o600)
    try:
        lock.acquire()
    except (Timeout, OSError):
        return False
    lock.release()
    return True


def only_appended(old: tuple, new: tuple) -> bool:
    """The same file (device, inode, generation), only longer: records were appended to its tail."""
    return old[:2] == new[:2] and old[4] == new[4] and new[2] > old[2]


def release(registers: list) -> None:
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


def no_passphrase() -> str:
    from accountctl.errors import AccessError

    raise AccessError("the agent holds no passphrase")
