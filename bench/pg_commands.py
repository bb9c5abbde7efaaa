"""Commands end to end against a register in PostgreSQL, format 4 beside format 5 on one server.

    python bench/pg_commands.py [--size large] [--runs 5] [--settle N] [--json FILE]

The synthetic trust (bench/run.py's, built if missing) is copied into two schemas of a local durable
cluster (tests/pgserver.py) with `vault copy`; one of them is upgraded with `vault upgrade`. Each
command then runs as its own process with the key cached (bench_keyring), on a machine that has seen
the register; we report the median wall time, the peak memory and, for the commands that write, the
WAL bytes the server wrote for it (pg_current_wal_lsn before and after, nothing else running).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
import run as bench  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="large")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json")
    parser.add_argument(
        "--settle",
        type=int,
        default=0,
        metavar="N",
        help="First make N one-account saves to the format-5 register: its journal then no longer holds the "
        "upgrade's own events (whose last lists every segment the upgrade wrote), as in steady use.",
    )
    args = parser.parse_args()
    import pgserver
    import psycopg

    folder, facts = bench.ensure_trust(args.size, False)
    exe = bench.accountctl_bin()
    cluster = pgserver.Cluster.start(durable=True)
    if cluster is None:
        raise SystemExit(f"skipped: {pgserver.Cluster.why_not}")
    work = Path(tempfile.mkdtemp(prefix="acctl-pgbench-"))
    try:
        base = {
            **bench.base_env(folder, facts),
            "PGPASSWORD": pgserver.APP_PASSWORD,
            "PYTHON_KEYRING_BACKEND": "bench_keyring.BenchKeyring",
            "BENCH_KEYRING_FILE": str(work / "keyring.json"),
            "XDG_STATE_HOME": str(work / "state"),
        }
        admin = psycopg.connect(cluster.url(), autocommit=True)
        envs, head = {}, None
        for fmt in ("4", "5"):
            cluster.admin_sql(f"CREATE SCHEMA f{fmt} AUTHORIZATION {pgserver.APP}")
            url = f"postgresql://{pgserver.APP}@127.0.0.1:{cluster.port}/{pgserver.DATABASE}?options=-csearch_path%3Df{fmt}"
            # a machine of its own per format: one that saw format 5 refuses the format-4 copy of the same register
            env = {**base, "ACCOUNTCTL_REGISTER": url, "XDG_STATE_HOME": str(work / f"state{fmt}")}
            unlock = {**env, "ACCOUNTCTL_PASSPHRASE": facts["passphrase"]}
            source = [exe, "--register", str(folder / "register.accountctl")]
            subprocess.run([*source, "vault", "copy", "--to", url], env=unlock, check=True, capture_output=True)
            if fmt == "5":
                subprocess.run([exe, "vault", "upgrade", "--yes"], env=unlock, check=True, capture_output=True)
                people = subprocess.run([exe, "person", "list", "--json"], env=unlock, check=True, capture_output=True)
                head = sorted(p["email"] for p in json.loads(people.stdout) if p["access"] == "register")[0]
                subprocess.run([exe, "--as", head, "login"], env=unlock, check=True, capture_output=True)
            subprocess.run([exe, "login"], env=unlock, check=True, capture_output=True)
            subprocess.run(
                [exe, "account", "list"], env=env, check=True, capture_output=True
            )  # this machine has seen it
            envs[fmt] = env
        account = facts["sample_account"]
        for _ in range(args.settle):
            subprocess.run([exe, "monitor", account], env=envs["5"], check=True, capture_output=True)
        commands = [
            ("audit", ["audit", "--format", "json"], None),
            ("audit (a headteacher)", ["--as", head, "audit", "--format", "json"], "5"),
            ("otp", ["otp", account], None),
            ("cred show", ["cred", "show", account, "--field", "password", "--reason", "bench"], None),
            ("monitor: one-account save", ["monitor", account], None),
        ]
        results = {}
        for name, argv, only in commands:
            for fmt in ("4", "5"):
                if only and only != fmt:
                    continue
                wal = []
                timed = bench.measure([exe, *argv], envs[fmt], args.runs)
                for _ in range(args.runs):
                    start = admin.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
                    bench.run_child([exe, *argv], envs[fmt])
                    wal.append(
                        int(admin.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", (start,)).fetchone()[0])
                    )
                timed["wal_bytes"] = int(statistics.median(wal))
                results[f"{name} (format {fmt})"] = timed
                print(
                    f"  {name:28s} format {fmt} {timed['median_ms']:8.1f} ms {timed['peak_mb']:6.1f} MB "
                    f"WAL {timed['wal_bytes']}",
                    file=sys.stderr,
                )
        admin.close()
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    floor = bench.measure([sys.executable, "-c", "pass"], base, args.runs)["median_ms"]
    report = {
        "machine": bench.machine(),
        "size": args.size,
        "floor_ms": floor,
        "settle": args.settle,
        "results": results,
    }
    print("| command | ms | MB | WAL bytes |\n|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['median_ms']} | {r['peak_mb']} | {r['wal_bytes']} |")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
