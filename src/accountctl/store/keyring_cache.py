"""The OS keyring as a cache of a person's key-encryption key (never the register key).

Caching the KEK means revoking the slot also revokes the cached key. Headless machines have only
keyring's `fail`/`null` backends (or keyrings.alt's plaintext file); those count as "no keyring":
we say so once per process and carry on with the passphrase.
"""

from __future__ import annotations

import base64

SERVICE = "accountctl"
_NOT_KEYRINGS = ("keyring.backends.fail", "keyring.backends.null", "keyrings.alt")
_state: dict[str, object] = {}


def _backend():
    if "backend" in _state:
        return _state["backend"]
    backend = None
    reason = ""
    try:
        import keyring

        candidate = keyring.get_keyring()
        module = type(candidate).__module__
        name = f"{module}.{type(candidate).__name__}"
        if module.startswith(_NOT_KEYRINGS):
            reason = name
        elif type(candidate).__name__ == "ChainerBackend" and not getattr(candidate, "backends", None):
            reason = name
        else:
            backend = candidate
    except Exception as exc:  # a broken keyring install must not stop the tool
        reason = f"{type(exc).__name__}"
    _state["backend"] = backend
    _state["reason"] = reason
    return backend


def available() -> bool:
    """True when a real OS keyring backend is usable."""
    return _backend() is not None


def unavailable_reason() -> str:
    _backend()
    return str(_state.get("reason") or "")


def _marker():
    """Where we remember that the no-keyring notice was shown (the user's state folder)."""
    import os
    from pathlib import Path

    if os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    else:
        base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "accountctl" / "no-keyring-notice"


def notice_once() -> None:
    """Say once, on this machine, that there is no keyring and the passphrase is used instead.

    Noted on the first unlock; the CLI shows it (`take_notice`) only once the command has succeeded,
    so a failing command stays one `Error:` line. Once shown it is remembered in the user's state
    folder, so scripts and cron jobs do not carry it on every run. If the folder cannot be written,
    it is shown once per process. Choosing no keyring on purpose (PYTHON_KEYRING_BACKEND naming
    keyring's `null` or `fail` backend) silences it.
    """
    import os

    chosen = os.environ.get("PYTHON_KEYRING_BACKEND", "")
    if _state.get("noticed") or chosen.startswith(("keyring.backends.null", "keyring.backends.fail")):
        return
    _state["noticed"] = True
    marker = _marker()
    try:
        if marker.exists():
            return
    except OSError:
        pass
    _state["pending"] = (
        f"Notice: no OS keyring is available here ({unavailable_reason()}); "
        "using ACCOUNTCTL_PASSPHRASE or a prompt instead (shown once)."
    )


def take_notice() -> str | None:
    """The no-keyring notice if one is due (then remembered as shown on this machine), else None."""
    text = _state.pop("pending", None)
    if text is not None:
        marker = _marker()
        try:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(unavailable_reason() + "\n", encoding="utf-8")
        except OSError:
            pass
    return text


def _username(file_id: bytes, who: str) -> str:
    return f"{who}@{file_id.hex()}"


def get(file_id: bytes, who: str) -> bytes | None:
    """The cached KEK for this person and file, or None (and the notice, if there is no keyring)."""
    backend = _backend()
    if backend is None:
        notice_once()
        return None
    try:
        value = backend.get_password(SERVICE, _username(file_id, who))
    except Exception:
        return None
    if not value:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        return None


def put(file_id: bytes, who: str, kek: bytes) -> bool:
    """Cache a KEK; False when there is no keyring to cache it in."""
    backend = _backend()
    if backend is None:
        return False
    try:
        backend.set_password(SERVICE, _username(file_id, who), base64.b64encode(kek).decode("ascii"))
    except Exception as exc:  # a locked or broken OS keyring: say so, not "internal error"
        from accountctl.errors import AccessError

        raise AccessError(f"the OS keyring refused to store your key ({type(exc).__name__}); is it locked?") from None
    _set_index(file_id, _index(file_id) | {who})
    return True


# Keyrings cannot list their entries portably, so the people whose keys are cached for each register
# on this machine are listed in the user's state folder (names only, never keys): `logout --all`
# needs the list once their slots are gone from the register.
def _index_path():
    from accountctl.store.witness import state_dir

    return state_dir() / "keyring-index.json"


def _index(file_id: bytes) -> set[str]:
    import json

    try:
        data = json.loads(_index_path().read_text(encoding="utf-8"))
        return set(data.get(file_id.hex(), []))
    except (OSError, ValueError, AttributeError):
        return set()


def _set_index(file_id: bytes, names: set[str]) -> None:
    import json

    path = _index_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    if names:
        data[file_id.hex()] = sorted(names)
    else:
        data.pop(file_id.hex(), None)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(json.dumps(data), encoding="utf-8")
    except OSError:
        pass


def delete_all(file_id: bytes, also: set[str] = frozenset()) -> int:
    """Forget every cached KEK of this register on this machine (those listed, and `also`); how many."""
    if _backend() is None:
        return 0
    gone = sum(delete(file_id, who) for who in sorted(_index(file_id) | set(also)))
    _set_index(file_id, set())
    return gone


def delete(file_id: bytes, who: str) -> bool:
    """Forget a cached KEK; True when one was there."""
    backend = _backend()
    if backend is None:
        return False
    try:
        backend.delete_password(SERVICE, _username(file_id, who))
    except Exception:
        return False
    _set_index(file_id, _index(file_id) - {who})
    return True


def reset() -> None:
    """Forget what we learned about the backend (tests switch backends)."""
    _state.clear()
