"""The agent's keys: people's KEKs in one locked buffer (where the OS allows), wiped when they expire or go."""

from __future__ import annotations

import time


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
