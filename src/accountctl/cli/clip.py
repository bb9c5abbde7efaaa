"""`--clip`: a secret copied to the clipboard and cleared after 45 seconds, as `pass -c` does.

The clipboard is the desktop's, reached through its own command-line tool: `wl-copy` on Wayland,
`xclip` or `xsel` on X11, `pbcopy` on macOS. A small process left behind clears it after
CLEAR_AFTER seconds, but only if it still holds the secret: something copied since is left alone.
That process is never given the secret, only its SHA-256, so the secret is in no argument, no
environment and no pipe of its.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys

from accountctl.errors import InputError

CLEAR_AFTER = 45  # seconds, as `pass`

# (copy, paste) commands, tried in this order where their display is there.
_WAYLAND = (["wl-copy"], ["wl-paste", "--no-newline"])
_X11 = [
    (["xclip", "-selection", "clipboard", "-in"], ["xclip", "-selection", "clipboard", "-out"]),
    (["xsel", "--clipboard", "--input"], ["xsel", "--clipboard", "--output"]),
]
_MACOS = (["pbcopy"], ["pbpaste"])

# The clearer: wait, read the clipboard, and empty it if it still holds the secret (compared by hash).
_CLEARER = """
import hashlib, json, subprocess, sys, time
seconds, copy, paste = int(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
digest = sys.stdin.readline().strip()
time.sleep(seconds)
try:
    now = subprocess.run(paste, capture_output=True, timeout=10).stdout
except Exception:
    sys.exit(0)
if hashlib.sha256(now).hexdigest() == digest:
    subprocess.run(copy, input=b"", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
"""


def tools() -> tuple[list[str], list[str]] | None:
    """This desktop's clipboard commands (copy, paste), or None where there is no clipboard to reach."""
    if os.environ.get("WAYLAND_DISPLAY") and shutil.which(_WAYLAND[0][0]) and shutil.which(_WAYLAND[1][0]):
        return _WAYLAND
    if os.environ.get("DISPLAY"):
        for copy, paste in _X11:
            if shutil.which(copy[0]):
                return copy, paste
    if sys.platform == "darwin" and shutil.which("pbcopy"):
        return _MACOS
    return None


def require() -> tuple[list[str], list[str]]:
    """The clipboard commands, or InputError saying why there is none (before anything is revealed or changed)."""
    found = tools()
    if found is None:
        raise InputError(
            "no clipboard available for --clip (no desktop session, or none of wl-copy, xclip, xsel, pbcopy "
            "installed); leave out --clip to print the value"
        )
    return found


def copy(secret: str, commands: tuple[list[str], list[str]]) -> None:
    """Put `secret` on the clipboard and leave a process to clear it after CLEAR_AFTER seconds."""
    data = secret.encode("utf-8")
    copy_cmd, paste_cmd = commands
    try:
        # the copy tool may stay on to serve the selection (xclip): it must not hold our stdout open
        subprocess.run(
            copy_cmd, input=data, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        raise InputError(f"could not copy to the clipboard with {copy_cmd[0]}") from None
    clearer = subprocess.Popen(
        [sys.executable, "-c", _CLEARER, str(CLEAR_AFTER), json.dumps(copy_cmd), json.dumps(paste_cmd)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # outlives this command and the terminal's Ctrl-C
    )
    clearer.stdin.write(hashlib.sha256(data).hexdigest().encode() + b"\n")
    clearer.stdin.close()
