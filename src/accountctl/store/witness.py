"""The rollback witness: what this machine has seen of each register, so an older copy cannot come back unnoticed.

Per register (its file id), in the user's state folder: the newest generation and last event seen,
the root key first seen (pinned, as SSH pins a host key), the signing keys seen retired, and the
rollbacks already accepted. TUF's rule: never accept older metadata than you have seen, except
through a rollback a custodian signed for (`vault accept-rollback`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FILE = "seen.json"


def state_dir() -> Path:
    """The user's state folder for accountctl (platformdirs; XDG_STATE_HOME on Linux)."""
    from platformdirs import user_state_path

    return user_state_path("accountctl", appauthor=False)


def _path() -> Path:
    return state_dir() / FILE


def load_all() -> dict:
    try:
        data = json.loads(_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def seen(file_id: bytes) -> dict | None:
    """What this machine has seen of a register, or None for a register it has never opened."""
    entry = load_all().get(file_id.hex())
    return entry if isinstance(entry, dict) else None


def remember(file_id: bytes, entry: dict) -> None:
    """Store what this machine has now seen of a register (atomically; a failure to write is not fatal)."""
    folder = state_dir()
    data = load_all()
    data[file_id.hex()] = entry
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = folder / f".{FILE}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, sort_keys=True, indent=1)
        os.replace(tmp, folder / FILE)
    except OSError:
        pass  # a read-only home must not stop the tool; the check is then only as good as the last write
