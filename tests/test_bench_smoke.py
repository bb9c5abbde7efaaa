"""The benchmark's smoke run: every benchmarked command runs on a small synthetic trust, and once
at the large size (10,000 accounts) with the agent.

No timing is asserted here (timing stays out of tests); this only keeps bench/ working.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


COMMANDS = (
    "audit",
    "account list",
    "account show",
    "otp",
    "cred show",
    "offboard",
    "report",
    "staff leave",
    "account import",
    "staff import",
    "otp (passphrase)",
    "audit (passphrase)",
    "audit (format 5)",
    "audit (format 5, head)",
    "otp (format 5)",
    "cred show (format 5)",
    "monitor: one-account save (format 5)",
    "monitor: one-account save",
    "otp (agent)",
    "cred show (agent)",
    "audit (agent)",
    "account list (agent)",
    "account show (agent)",
    "offboard (agent)",
    "audit (agent, format 5)",
    "audit (agent, format 5, after another's write)",
)


def smoke(tmp_path, *options: str, timeout: int) -> str:
    """Run `bench/run.py --smoke` with its temporary files under tmp_path; its table, once it left none."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    env.pop("ACCOUNTCTL_KDF", None)  # the smoke run picks the low-cost KDF itself
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke", *options],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-5000:]
    assert not list(tmp_path.glob("acctl-*")), "the smoke run left temporary files behind"
    return result.stdout


def test_bench_smoke_runs_every_command(tmp_path):
    table = smoke(tmp_path, timeout=300)
    for command in COMMANDS:
        assert f"| {command} |" in table


def test_bench_smoke_at_the_large_size_with_the_agent(tmp_path):
    # CI builds the 10,000-account trust (low-cost KDF, about a minute) and runs every command once,
    # the agent's column included: the code paths that only a large register exercises keep working.
    table = smoke(tmp_path, "--sizes", "large", timeout=900)
    assert "| command | large:" in table
    for command in COMMANDS:
        assert f"| {command} |" in table


def test_synthetic_trust_is_deterministic():
    sys.path.insert(0, str(ROOT / "bench"))
    import synth

    assert synth.plan("small", seed=7) == synth.plan("small", seed=7)
    assert synth.plan("small", seed=7) != synth.plan("small", seed=8)
    medium = synth.plan("medium")
    channels = [a for a in medium["accounts"] if a["category"] != "service"]
    assert len(channels) == 1000 and len(medium["schools"]) == 10
    assert len(medium["accounts"]) == 1010  # and one Hootsuite per school, reaching about a third of them
    assert medium["via"] and medium["mailboxes"]
