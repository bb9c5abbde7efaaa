"""The benchmark's smoke run: every benchmarked command runs on a small synthetic trust.

No timing is asserted here (timing stays out of tests); this only keeps bench/ working.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_smoke_runs_every_command(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--smoke"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for command in (
        "audit",
        "account list",
        "otp",
        "cred show",
        "offboard",
        "staff leave",
        "account import",
        "staff import",
        "otp (passphrase)",
        "otp (agent)",
        "cred show (agent)",
        "audit (agent)",
        "account list (agent)",
    ):
        assert f"| {command} |" in result.stdout


def test_synthetic_trust_is_deterministic():
    sys.path.insert(0, str(ROOT / "bench"))
    import synth

    assert synth.plan("small", seed=7) == synth.plan("small", seed=7)
    assert synth.plan("small", seed=7) != synth.plan("small", seed=8)
    medium = synth.plan("medium")
    assert len(medium["accounts"]) == 1000 and len(medium["schools"]) == 10
