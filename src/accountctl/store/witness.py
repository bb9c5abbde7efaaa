"""The rollback witness: what this machine has seen of each register, so an older copy cannot come back unnoticed.

Per register (its file id), in the user's state folder: the newest generation, format and header
seen and the last event, the root key first seen (pinned, as SSH pins a host key), the signing keys
seen retired, the rollbacks already accepted, and the addresses (paths, URLs) it was opened at.
TUF's rule: never accept older metadata than you have seen, except through a rollback a custodian
signed for (`vault accept-rollback`). Beside it, per register, how far this machine has checked
the history and the digests of the decisions it checked (`load_checked`; store/checking.py).

Only a command that succeeded writes here: an open that refuses a register (exit 4) leaves it as it was.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FILE = "seen.json"
CHECKED = "checked"  # a folder: one file per register


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


def remember(file_id: bytes, entry: dict, claim: str | None = None) -> None:
    """Store what this machine has now seen of a register (atomically; a failure to write is not fatal).

    `claim` is the address it was opened at: no other register is remembered there any more.
    """
    data = load_all()
    if claim is not None:
        for other in data.values():
            if isinstance(other, dict) and claim in other.get("at", []):
                other["at"] = [a for a in other["at"] if a != claim]
    data[file_id.hex()] = entry
    _write(state_dir(), FILE, json.dumps(data, sort_keys=True, indent=1))


def holder_of(address: str, data: dict) -> str | None:
    """The file id of the register this machine last opened at `address` (a path or a URL), if any."""
    return next(
        (fid for fid, entry in data.items() if isinstance(entry, dict) and address in entry.get("at", [])), None
    )


def _checked_path(file_id: bytes) -> Path:
    return state_dir() / CHECKED / f"{file_id.hex()}.json"


def load_checked(file_id: bytes) -> dict | None:
    """How far this machine has checked a register's history: {"seq", "hash", "decisions"}, or None."""
    try:
        data = json.loads(_checked_path(file_id).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("seq"), int) or not isinstance(data.get("hash"), str):
        return None
    return data if isinstance(data.get("decisions", ""), str) else None


def save_checked(file_id: bytes, data: dict) -> None:
    """Store how far this machine has checked a register's history (atomically; not fatal if it cannot)."""
    path = _checked_path(file_id)
    _write(path.parent, path.name, json.dumps(data, sort_keys=True))


def _write(folder: Path, name: str, text: str) -> None:
    try:
        for level in (state_dir(), folder):  # the state folder itself is private too, not only the last level
            level.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = folder / f".{name}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, folder / name)
    except OSError:
        pass  # a read-only home must not stop the tool; the check is then only as good as the last write
