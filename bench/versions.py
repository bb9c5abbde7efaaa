"""Two builds of accountctl side by side, each on its own trust: the read commands, runs interleaved.

    python bench/versions.py --a OLD/bin/accountctl:bench/.data/large-old --b NEW/bin/accountctl:DIR --runs 9

What an issue's "within 10% of today's figures" needs: the code before a change, on the trust it could
build, against the code after it, on the trust the change lets a school record (issue 24: mailboxes,
tools, DPIAs, training), measured in one run on one machine. Runs alternate A, B, A, B so that a load
that comes and goes weighs on both alike. Each figure is the median of the timed runs after one
warm-up each: wall time, CPU time (user + system, which another process's load disturbs less), and
the peak resident memory of the largest run (GNU time's %M). Each build uses the cached-key path
(bench_keyring) and a state folder that has already checked its trust's history, as a technician's
machine has.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import synth  # noqa: E402

GNU_TIME = "/usr/bin/time"


def commands(facts: dict) -> list[tuple[str, list[str]]]:
    leaver = facts["sample_leaver"]
    return [
        ("audit --format json", ["audit", "--format", "json"]),
        ("audit (table)", ["audit"]),
        ("offboard LEAVER --format json", ["offboard", leaver, "--format", "json"]),
        ("offboard --leaving-before", ["offboard", "--leaving-before", synth.TODAY.isoformat(), "--format", "json"]),
        ("account list", ["account", "list", "--format", "json"]),
    ]


def prepare(exe: str, folder: Path, work: Path, label: str, attest: bool = False) -> tuple[dict, dict]:
    """A copy of the trust, logged in with the bench keyring, its history checked once (untimed).

    `attest`: first record the attestations synth gives a new trust, with this build's own code (a trust
    built before synth recorded them has none, and would skip the platform rules' work).
    """
    facts = json.loads((folder / "facts.json").read_text())
    mine = work / label
    mine.mkdir()
    register = mine / "register.accountctl"
    shutil.copyfile(folder / "register.accountctl", register)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACCOUNTCTL_", "PYTHON_KEYRING", "BENCH_"))}
    env.update(
        ACCOUNTCTL_TODAY=synth.TODAY.isoformat(),
        ACCOUNTCTL_USER=facts["custodian"],
        ACCOUNTCTL_REGISTER=str(register),
        PYTHONPATH=str(HERE),
        PYTHON_KEYRING_BACKEND="bench_keyring.BenchKeyring",
        BENCH_KEYRING_FILE=str(mine / "keyring.json"),
        XDG_STATE_HOME=str(mine / "state"),
        COLUMNS="120",
    )
    if attest:
        python = str(Path(exe).parent / "python")
        subprocess.run([python, str(HERE / "synth.py"), "--attest", str(register)], env=env, check=True)
    for argv in (["login"], ["account", "list"]):
        subprocess.run(
            [exe, *argv], env={**env, "ACCOUNTCTL_PASSPHRASE": facts["passphrase"]}, capture_output=True, check=True
        )
    return env, facts


def one(exe: str, argv: list[str], env: dict) -> dict:
    handle, report = tempfile.mkstemp(prefix="acctl-versions-")
    os.close(handle)
    try:
        proc = subprocess.run(
            [GNU_TIME, "-f", "%e %U %S %M", "-o", report, exe, *argv],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        wall, user, system, peak = Path(report).read_text().split()[-4:]
    finally:
        os.unlink(report)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{exe} {' '.join(argv)} exited {proc.returncode}: {proc.stderr.decode()[-400:]}")
    return {"wall": float(wall), "cpu": float(user) + float(system), "peak_kb": int(peak), "bytes": len(proc.stdout)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", required=True, help="EXE:TRUST_FOLDER (the baseline)")
    parser.add_argument("--b", required=True, help="EXE:TRUST_FOLDER (the change)")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--attest-a", action="store_true", help="record the new trust's attestations on A's trust first (see prepare)"
    )
    parser.add_argument("--out", type=Path, help="also write the figures as JSON")
    parser.add_argument(
        "--only", action="append", metavar="NAME", help="only this command (repeatable), e.g. 'audit --format json'"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="acctl-versions-"))
    try:
        sides = {}
        for label, spec in (("a", args.a), ("b", args.b)):
            exe, folder = spec.split(":", 1)
            env, facts = prepare(exe, Path(folder), work, label, attest=args.attest_a and label == "a")
            sides[label] = (exe, env, facts)
        report = {}
        for name, _ in commands(sides["a"][2]):
            if args.only and name not in args.only:
                continue
            runs: dict[str, list[dict]] = {"a": [], "b": []}
            for i in range(args.runs + 1):
                for label, (exe, env, facts) in sides.items():
                    argv = dict(commands(facts))[name]
                    result = one(exe, argv, env)
                    if i:  # the first of each is the warm-up
                        runs[label].append(result)
            row = {}
            for label, results in runs.items():
                row[label] = {
                    "wall_ms": round(statistics.median(r["wall"] for r in results) * 1000),
                    "cpu_ms": round(statistics.median(r["cpu"] for r in results) * 1000),
                    "peak_mb": round(max(r["peak_kb"] for r in results) / 1024, 1),
                    "output_bytes": results[-1]["bytes"],
                }
            row["cpu_change_pct"] = round(100 * (row["b"]["cpu_ms"] / max(row["a"]["cpu_ms"], 1) - 1), 1)
            report[name] = row
            print(
                f"{name:32s} A {row['a']['cpu_ms']:5d} ms CPU {row['a']['wall_ms']:5d} ms wall {row['a']['peak_mb']:6.1f} MB"
                f" | B {row['b']['cpu_ms']:5d} ms CPU {row['b']['wall_ms']:5d} ms wall {row['b']['peak_mb']:6.1f} MB"
                f" | CPU {row['cpu_change_pct']:+.1f}%",
                flush=True,
            )
        if args.out:
            args.out.write_text(json.dumps({"a": args.a, "b": args.b, "runs": args.runs, "results": report}, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
