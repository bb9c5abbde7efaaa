"""`agent start|stop|status`: this user's agent, which holds unlock keys in memory (agent/process.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import click

from accountctl.cli import output
from accountctl.cli.common import fmt, plain_format_options
from accountctl.errors import InputError
from accountctl.agent import client as agent_client, protocol as agent_protocol

UNITS = {"s": 1, "m": 60, "h": 3600}
# --json gives each key's register, person, expires_in (seconds), expires_at and last_used (UTC, or null)
STATUS_COLUMNS = ["register", "person", "expires", "last_used"]
# Never in the agent's environment: secrets (it holds no passphrase), and what each command sends with
# its own request (the agent's own would only stand in for a client's that is not set).
KEPT_FROM_AGENT = (
    "ACCOUNTCTL_PASSPHRASE",
    "ACCOUNTCTL_NEW_PASSPHRASE",
    "ACCOUNTCTL_RECOVERY_KEY",
    agent_protocol.NO_AGENT,
    *agent_protocol.PASSED_ENV,
)


def agent_environment(environ: dict) -> dict:
    """The environment the agent starts with: this one without a passphrase, password or per-command variable."""
    return {
        name: value
        for name, value in environ.items()
        if name not in KEPT_FROM_AGENT and "PASSPHRASE" not in name.upper() and "PASSWORD" not in name.upper()
    }


def parse_ttl(text: str) -> int:
    """Seconds from `90s`, `15m`, `2h` (or plain seconds); 12 h at most."""
    match = re.fullmatch(r"\s*(\d+)\s*([smh]?)\s*", text or "")
    if not match:
        raise InputError(f"--ttl must look like 15m, 2h or 90s, not {text!r}")
    seconds = int(match.group(1)) * UNITS[match.group(2) or "s"]
    if not 1 <= seconds <= 12 * 3600:
        raise InputError("--ttl must be between 1 second and 12h")
    return seconds


def _span(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds // 60 % 60:02d}m"


def status_row(key: dict, now: float) -> dict:
    """A held key as a table shows it: when it expires and was last used, relative to `now` (a Unix time)."""
    from datetime import datetime

    used = key.get("last_used")
    ago = now - datetime.fromisoformat(used.replace("Z", "+00:00")).timestamp() if used else None
    return {
        "register": key.get("register"),
        "person": key.get("person") or "(not named)",
        "expires": f"in {_span(key.get('expires_in', 0))}",
        "last_used": f"{_span(ago)} ago" if ago is not None else "not yet",
    }


def running() -> dict | None:
    """The agent's status, or None when no agent answers (or none that is this user's own: see agent/client.py)."""
    try:
        return agent_client.request({"op": "status"}, timeout=5)
    except agent_protocol.AgentGone:
        return None


def ensure_started(ttl: int | None = None, multi: bool = False) -> dict:
    """This user's agent, started in the background if none answers; AgentRefused where it cannot be used safely."""
    from accountctl.agent import client as agent_client, protocol as agent_protocol

    if agent_client.kept_away():
        raise InputError(KEPT_AWAY)
    try:
        problem = agent_client.place_now()
    except agent_protocol.AgentGone:
        problem = None  # no folder yet: the agent makes it
    if problem is not None:
        raise agent_protocol.AgentRefused(problem)
    try:
        return agent_client.request({"op": "status"}, timeout=5)
    except agent_protocol.AgentRefused:
        raise  # another user's process on this user's socket: start nothing beside it
    except agent_protocol.AgentGone:
        pass
    command = [sys.executable, "-m", "accountctl.agent.process", "--ttl", str(ttl or agent_protocol.DEFAULT_TTL)]
    subprocess.Popen(
        command + (["--multi"] if multi else []),
        env=agent_environment(dict(os.environ)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # it outlives this command and the terminal's signals
        close_fds=True,
    )
    for _ in range(200):
        status = running()
        if status is not None:
            return dict(status, started=True)
        time.sleep(0.05)
    raise InputError(f"the agent did not start (socket {agent_client.address()})")


def hand_over(file_id: bytes, name: str, kek: bytes, who: str, register: str, ttl: int | None = None) -> list[str]:
    """Give a KEK to the agent (starting it if needed); only the key, never the passphrase.

    Returns the people whose key for this register the agent let go for it (one person's key per
    register, unless it was started with --multi). AgentRefused where no agent can be used safely.
    """
    ensure_started(ttl)
    message = {"op": "add", "file": file_id.hex(), "name": name, "kek": kek.hex(), "who": who, "register": register}
    if ttl:
        message["ttl"] = ttl
    answer = agent_client.request(message)
    if not answer.get("ok"):
        raise InputError(f"the agent refused the key: {answer.get('error')}")
    return [str(person) for person in answer.get("replaced") or []]


def forget(file_id: bytes, name: str | None = None) -> int:
    """Make the agent forget this register's key for `name` (or all of them); how many it held."""
    try:
        message = {"op": "forget", "file": file_id.hex()}
        if name is not None:
            message["name"] = name
        return int(agent_client.request(message).get("forgotten", 0))
    except agent_protocol.AgentGone:
        return 0


KEPT_AWAY = f"{agent_protocol.NO_AGENT}=1 keeps this command away from the agent; unset it to use the agent"


@click.group()
def agent() -> None:
    """This user's agent: keeps unlock keys in memory for a while, so commands need no passphrase.

    \b
    Example:
      accountctl agent start --ttl 2h
      accountctl login --agent
    """
    if agent_client.kept_away():
        raise InputError(KEPT_AWAY)


@agent.command("start")
@click.option("--ttl", "ttl", default="15m", show_default=True, help="Forget a key after this long unused (1s to 12h).")
@click.option(
    "--multi",
    is_flag=True,
    help="Hold several people's keys for one register. Without it, the next person's login replaces the last one's.",
)
def agent_start(ttl: str, multi: bool) -> None:
    """Start the agent (one per user); it leaves by itself once it holds no key.

    It holds one person's key per register: on a PC that several people use under one account, the
    next person's 'login --agent' replaces the last one's key, so nobody acts as someone else with a
    key left behind. --multi holds several. The agent lives in a folder only you may enter
    ($XDG_RUNTIME_DIR/accountctl, else <tmp>/accountctl-UID); where that folder, its socket or the
    process listening there is not yours, nothing is started or sent there. ACCOUNTCTL_NO_AGENT=1
    keeps any other command away from the agent.

    \b
    Example:
      accountctl agent start --ttl 2h
      accountctl agent start --multi
    """
    seconds = parse_ttl(ttl)
    try:
        status = ensure_started(seconds, multi)
    except agent_protocol.AgentRefused as exc:
        raise InputError(f"cannot start the agent: {exc}") from None
    if not status.get("started"):
        held = "several people's keys per register" if status.get("multi") else "one person's key per register"
        hint = "; 'accountctl agent stop' first to start it with --multi" if multi and not status.get("multi") else ""
        output.message(f"The agent is already running (process {status['pid']}; {held}){hint}.")
    elif multi:
        output.message(
            f"Agent started (process {status['pid']}); keys expire after {ttl} unused; "
            "it holds several people's keys per register (--multi)."
        )
    else:
        output.message(f"Agent started (process {status['pid']}); keys expire after {ttl} unused.")


@agent.command("stop")
def agent_stop() -> None:
    """Stop the agent: every key it holds is wiped.

    \b
    Example:
      accountctl agent stop
    """
    try:
        agent_client.request({"op": "stop"}, timeout=5)
    except agent_protocol.AgentGone:
        output.message("No agent is running.")
        return
    output.message("Agent stopped: the keys it held are gone.")


@agent.command("status")
@plain_format_options
def agent_status() -> None:
    """Which registers and people the agent holds keys for, when each expires and was last used (never a key).

    \b
    Example:
      accountctl agent status --json
    """
    status = running()
    if status is None:
        output.message("No agent is running.")
        return
    keys = status.get("keys", [])
    if fmt() == "table":
        now = time.time()
        output.rows([status_row(k, now) for k in keys], STATUS_COLUMNS, fmt(), one_line=["register"])
    else:
        output.rows(keys, ["register", "person", "expires_in", "expires_at", "last_used"], fmt(), json_data=keys)
    if fmt() == "table":
        held = "several people's keys per register" if status.get("multi") else "one person's key per register"
        output.message(
            f"Agent process {status['pid']} ({held}); keys locked in memory: {'yes' if status.get('mlock') else 'no'}."
        )
