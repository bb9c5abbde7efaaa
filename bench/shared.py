"""Open and save times of a register kept in PostgreSQL against the same register in a file.

    python bench/shared.py                        # medium (1,000 accounts) and large (10,000); 5 runs each
    python bench/shared.py --sizes medium --runs 3

Uses bench/run.py's trusts and timing (each command a separate process, median of the runs after a
warm-up, the cached-key path) and the test suite's throwaway PostgreSQL cluster (tests/pgserver.py),
started here with fsync on, as a real server runs, on 127.0.0.1. The register is put there with
`vault copy`, so both stores hold the same bytes. Needs `pip install '.[postgres]'` and Debian's
postgresql package.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
import pgserver  # noqa: E402
import run as bench  # noqa: E402


def bench_size(size: str, runs: int, cluster: pgserver.Cluster) -> dict:
    folder, facts = bench.ensure_trust(size, regen=False)
    work = Path(tempfile.mkdtemp(prefix=f"acctl-shared-{size}-"))
    exe = bench.accountctl_bin()
    register = work / "register.accountctl"
    shutil.copyfile(folder / "register.accountctl", register)
    schema = f"bench_{size}"
    cluster.admin_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema} AUTHORIZATION {pgserver.APP}")
    url = f"{cluster.url()}?options=-csearch_path%3D{schema}"
    env = bench.base_env(folder, facts)
    cached = {
        **env,
        "PYTHON_KEYRING_BACKEND": "bench_keyring.BenchKeyring",
        "BENCH_KEYRING_FILE": str(work / "keyring.json"),
        "XDG_STATE_HOME": str(work / "state"),
    }
    phrase = {"ACCOUNTCTL_PASSPHRASE": facts["passphrase"]}
    started = time.perf_counter()
    copy = subprocess.run(
        [exe, "--register", str(register), "vault", "copy", "--to", url],
        env={**cached, **phrase},
        capture_output=True,
        text=True,
    )
    copy_ms = round((time.perf_counter() - started) * 1000, 1)
    if copy.returncode:
        raise SystemExit(f"vault copy failed: {copy.stderr}")
    subprocess.run(
        [exe, "--register", str(register), "login"], env={**cached, **phrase}, check=True, capture_output=True
    )  # the copy has the same file id and slots: one cached key opens both
    account = facts["sample_account"]
    results = {"vault copy (file to PostgreSQL, once)": {"median_ms": copy_ms, "runs": 1}}
    commands = [
        ("open: account show", [exe, "account", "show", account]),
        ("open with history: log --account", [exe, "log", "--account", account]),
        ("save: config set", [exe, "config", "set", "review_period_days", "365"]),
    ]
    # File and PostgreSQL back to back, command by command, so a change in the machine's load hits both.
    for name, argv in commands:
        for store, where in (("file", str(register)), ("postgresql", url)):
            key = f"{name} ({store})"
            # The same register in two places: each gets a witness of its own, or one's saves would make
            # the other look rolled back (as they should, for two live copies of one register).
            on = {**cached, "ACCOUNTCTL_REGISTER": where, "XDG_STATE_HOME": str(work / f"state-{store}")}
            results[key] = bench.measure(argv, on, runs)
            print(f"  {size:6s} {key:45s} {results[key]['median_ms']:8.1f} ms", file=sys.stderr)
    sizes = cluster.admin_sql(
        f"SELECT (SELECT length(header) + length(body) FROM {schema}.accountctl_register), "
        f"(SELECT coalesce(sum(length(bytes)), 0) FROM {schema}.accountctl_archive_segment)",
        fetch=True,
    )[0]
    shutil.rmtree(work, ignore_errors=True)
    cluster.admin_sql(f"DROP SCHEMA {schema} CASCADE")
    return {
        "accounts": facts.get("accounts_written"),
        "row_bytes": sizes[0],
        "archive_bytes": int(sizes[1]),
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="PostgreSQL register against a register file: open and save.")
    parser.add_argument("--sizes", default="medium,large")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "shared.json")
    args = parser.parse_args()
    cluster = pgserver.Cluster.start(durable=True)
    if cluster is None:
        raise SystemExit(f"no PostgreSQL cluster: {pgserver.Cluster.why_not}")
    try:
        report = {
            "machine": bench.machine(),
            "runs": args.runs,
            "postgresql": cluster.admin_sql("SHOW server_version", fetch=True)[0][0],
            "sizes": {},
        }
        for size in [s.strip() for s in args.sizes.split(",")]:
            report["sizes"][size] = bench_size(size, args.runs, cluster)
    finally:
        cluster.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
