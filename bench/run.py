"""Time accountctl's commands end to end, as a user runs them, on synthetic trusts of three sizes.

    python bench/run.py                      # small, medium and large; 5 runs each; comparisons
    python bench/run.py --sizes large --runs 7
    python bench/run.py --smoke              # the CI smoke run: small trust, each command once, no comparisons
    python bench/run.py --smoke --sizes large  # the same at 10,000 accounts (CI runs it too)

Each command runs as a separate process (`accountctl ...` from this environment). We report the
median wall time of the runs after one warm-up, the peak resident memory of the slowest-memory run
(ru_maxrss from os.wait4), and the ratio to `python -c pass` on the same machine. The cached-key
path uses bench_keyring.BenchKeyring through PYTHON_KEYRING_BACKEND; the passphrase path uses
ACCOUNTCTL_PASSPHRASE with the default Argon2id cost. Where Debian's keepassxc and pass are
installed, the same credential retrieval runs against a store with as many entries.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import synth  # noqa: E402

DATA = HERE / ".data"
WARMUP = 1  # untimed runs before the timed ones (none in the smoke run, which times nothing)


GNU_TIME = "/usr/bin/time" if os.path.exists("/usr/bin/time") else None


def run_child(argv: list[str], env: dict, stdin: bytes | None = None) -> tuple[float, int, int, bytes]:
    """(seconds, peak RSS KiB, exit code, output) of one process.

    Peak memory comes from GNU time (%M): a child forked from this (large) bench process would
    report the parent's pages in its own ru_maxrss. Without GNU time we fall back to that figure.
    """
    report = None
    if GNU_TIME:
        handle, report = tempfile.mkstemp(prefix="acctl-rss-")
        os.close(handle)
        argv = [GNU_TIME, "-f", "%M", "-o", report, *argv]
    start = time.perf_counter()
    proc = subprocess.run(
        argv,
        env=env,
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    elapsed = time.perf_counter() - start
    if report:
        text = Path(report).read_text().strip().splitlines()
        os.unlink(report)
        peak = int(text[-1]) if text and text[-1].isdigit() else 0
    else:
        import resource

        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, peak, proc.returncode, proc.stdout


def measure(argv, env, runs, prepare=None, stdin=None, ok=(0, 1)) -> dict:
    """Warm up (WARMUP runs), then `runs` timed runs; `prepare()` runs untimed before each (fresh copies)."""
    times, peaks = [], []
    for i in range(runs + WARMUP):
        if prepare:
            prepare()
        elapsed, peak, code, out = run_child(argv, env, stdin)
        if code not in ok:
            raise RuntimeError(f"{' '.join(argv)} exited {code}: {out[-500:].decode(errors='replace')}")
        if i >= WARMUP:
            times.append(elapsed)
            peaks.append(peak)
    return {
        "median_ms": round(statistics.median(times) * 1000, 1),
        "min_ms": round(min(times) * 1000, 1),
        "peak_mb": round(max(peaks) / 1024, 1),
        "runs": runs,
    }


def ensure_trust(size: str, regen: bool) -> tuple[Path, dict]:
    out = DATA / size
    facts_file = out / "facts.json"
    if regen or not facts_file.exists():
        print(f"generating the {size} trust in {out} ...", file=sys.stderr)
        synth.build(size, out)
    return out, json.loads(facts_file.read_text())


def ensure_five(folder: Path, facts: dict, env: dict, exe: str) -> str:
    """The trust upgraded to format 5 (a key per school) beside it, made once; a headteacher who holds a slot."""
    five, made = folder / "five.accountctl", folder / "five.json"
    if not made.exists() or made.stat().st_mtime < (folder / "register.accountctl").stat().st_mtime:
        state = Path(tempfile.mkdtemp(prefix="acctl-five-"))
        shutil.copyfile(folder / "register.accountctl", five)
        unlock = {**env, "ACCOUNTCTL_REGISTER": str(five), "ACCOUNTCTL_PASSPHRASE": facts["passphrase"]}
        unlock.update({"XDG_STATE_HOME": str(state), "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
        try:
            subprocess.run([exe, "vault", "upgrade", "--yes"], env=unlock, capture_output=True, check=True)
            listed = subprocess.run([exe, "person", "list", "--json"], env=unlock, capture_output=True, check=True)
        finally:
            shutil.rmtree(state, ignore_errors=True)
        heads = sorted(p["email"] for p in json.loads(listed.stdout) if p["access"] == "register")
        made.write_text(json.dumps({"head": heads[0]}))
    return json.loads(made.read_text())["head"]


def base_env(folder: Path, facts: dict) -> dict:
    # PYTHONDONTWRITEBYTECODE would make an editable install compile its modules on every run; a
    # user's `pip install .` has its bytecode compiled at install time.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ACCOUNTCTL_", "PYTHON_KEYRING", "BENCH_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(
        {
            "ACCOUNTCTL_TODAY": synth.TODAY.isoformat(),
            "ACCOUNTCTL_USER": facts["custodian"],
            "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")])),
        }
    )
    return env


def accountctl_bin() -> str:
    found = shutil.which("accountctl", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    if not found:
        raise SystemExit("accountctl is not installed in this environment (pip install .)")
    return found


def bench_size(size: str, runs: int, regen: bool, compare: bool) -> dict:
    folder, facts = ensure_trust(size, regen)
    work = Path(tempfile.mkdtemp(prefix=f"acctl-bench-{size}-"))
    exe = accountctl_bin()
    register = work / "register.accountctl"
    shutil.copyfile(folder / "register.accountctl", register)
    env = base_env(folder, facts)
    # Each machine remembers the newest register it saw (the rollback witness). The write benchmarks put a
    # fresh copy back before every run, which on one machine is a rollback: each copy gets a state folder of
    # its own, wiped with it; the read benchmarks share one, so they pay its read as a user does.
    cached = {
        **env,
        "ACCOUNTCTL_REGISTER": str(register),
        "PYTHON_KEYRING_BACKEND": "bench_keyring.BenchKeyring",
        "BENCH_KEYRING_FILE": str(work / "keyring.json"),
        "XDG_STATE_HOME": str(work / "state"),
    }
    login = subprocess.run(
        [exe, "login"], env={**cached, "ACCOUNTCTL_PASSPHRASE": facts["passphrase"]}, capture_output=True, text=True
    )
    if login.returncode:
        raise SystemExit(f"login failed: {login.stderr}")
    phrase = {
        **env,
        "ACCOUNTCTL_REGISTER": str(register),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "ACCOUNTCTL_PASSPHRASE": facts["passphrase"],
        "XDG_STATE_HOME": str(work / "state"),
    }
    account, leaver = facts["sample_account"], facts["sample_leaver"]

    warmed: dict[str, Path] = {}

    def warm_state(source: str) -> Path:
        """A state folder that has seen and checked `source` once, as a technician's machine has (every open
        checks the history since the machine last did: docs/security.md), built outside the timed span."""
        if source not in warmed:
            state = work / f"state-warm-{source}"
            copy = work / f"warm-{source}"
            shutil.copyfile(folder / source, copy)
            subprocess.run(
                [exe, "account", "list"],
                env={**cached, "ACCOUNTCTL_REGISTER": str(copy), "XDG_STATE_HOME": str(state)},
                capture_output=True,
                check=True,
            )
            copy.unlink()
            warmed[source] = state
        return warmed[source]

    def fresh(name: str, source: str, first_open: bool = False):
        """A fresh copy of `source` before each run, on a machine that has seen it (or, `first_open`, never has)."""
        target = work / name
        state = work / f"state-{name}"
        seen = None if first_open else warm_state(source)

        def prepare():
            shutil.copyfile(folder / source, target)
            for suffix in (".bak", ".lock", ".tmp"):
                (work / (name + suffix)).unlink(missing_ok=True)
            shutil.rmtree(state, ignore_errors=True)
            if seen is not None:
                shutil.copytree(seen, state)

        return {**cached, "ACCOUNTCTL_REGISTER": str(target), "XDG_STATE_HOME": str(state)}, prepare

    # Format 5, a key per school (issue 27): the same trust upgraded, a headteacher's commands beside a custodian's.
    head = ensure_five(folder, facts, env, exe)
    five_env, five_prep = fresh("five-save.accountctl", "five.accountctl")
    show5_env, show5_prep = fresh("five-show.accountctl", "five.accountctl")
    read5 = {
        **cached,
        "ACCOUNTCTL_REGISTER": str(folder / "five.accountctl"),
        "XDG_STATE_HOME": str(warm_state("five.accountctl")),
    }
    for who in (facts["custodian"], head):
        subprocess.run(
            [exe, "--as", who, "login"],
            env={**read5, "ACCOUNTCTL_PASSPHRASE": facts["passphrase"]},
            check=True,
            capture_output=True,
        )
    head5 = {**read5, "ACCOUNTCTL_USER": head}
    leave_env, leave_prep = fresh("leave.accountctl", "register.accountctl")
    show_env, show_prep = fresh("show.accountctl", "register.accountctl")
    acc_import_env, acc_prep = fresh("acc-import.accountctl", "base.accountctl")
    staff_import_env, staff_prep = fresh("staff-import.accountctl", "base.accountctl")
    first_env, first_prep = fresh("first.accountctl", "register.accountctl", first_open=True)
    commands = [
        ("python -c pass (floor)", [sys.executable, "-c", "pass"], env, None),
        ("accountctl --version", [exe, "--version"], env, None),
        ("audit", [exe, "audit", "--format", "json"], cached, None),
        ("account list", [exe, "account", "list"], cached, None),
        ("account list (first open here)", [exe, "account", "list"], first_env, first_prep),
        ("account show", [exe, "account", "show", account], cached, None),
        ("otp", [exe, "otp", account], cached, None),
        ("cred show", [exe, "cred", "show", account, "--field", "password", "--reason", "bench"], show_env, show_prep),
        ("offboard", [exe, "offboard", leaver, "--format", "json"], cached, None),
        ("report", [exe, "report", "--out", str(work / "report.html")], cached, None),
        ("staff leave", [exe, "staff", "leave", facts["sample_staff"], "--on", "2026-12-31"], leave_env, leave_prep),
        ("account import", [exe, "account", "import", str(folder / "accounts.csv")], acc_import_env, acc_prep),
        ("staff import", [exe, "staff", "import", str(folder / "staff.csv")], staff_import_env, staff_prep),
        ("otp (passphrase)", [exe, "otp", account], phrase, None),
        ("audit (passphrase)", [exe, "audit", "--format", "json"], phrase, None),
        ("audit (format 5)", [exe, "audit", "--format", "json"], read5, None),
        ("audit (format 5, head)", [exe, "audit", "--format", "json"], head5, None),
        ("account list (format 5, head)", [exe, "account", "list"], head5, None),
        ("account show (format 5)", [exe, "account", "show", account], read5, None),
        ("otp (format 5)", [exe, "otp", account], read5, None),
        (
            "cred show (format 5)",
            [exe, "cred", "show", account, "--field", "password", "--reason", "bench"],
            show5_env,
            show5_prep,
        ),
        ("monitor: one-account save (format 5)", [exe, "monitor", account], five_env, five_prep),
        ("monitor: one-account save", [exe, "monitor", account], leave_env, leave_prep),
    ]
    # The copies share the file id and slots of their source, so the one cached key opens them all.
    results = {}
    try:
        for name, argv, cmd_env, prepare in commands:
            results[name] = measure(argv, cmd_env, runs, prepare)
            print(
                f"  {size:6s} {name:24s} {results[name]['median_ms']:8.1f} ms  {results[name]['peak_mb']:6.1f} MB",
                file=sys.stderr,
            )
        # The agent and the peers in the same run as the rest, so that their ratios share one floor.
        five_copy, five_state = work / "five-agent.accountctl", work / "state-agent-five"
        shutil.copyfile(folder / "five.accountctl", five_copy)
        five = {"ACCOUNTCTL_REGISTER": str(five_copy), "XDG_STATE_HOME": str(five_state)}
        # a machine that has seen this very file (its witness names its path), as for the agent's format-4 rows
        subprocess.run([exe, "account", "list"], env={**cached, **five}, capture_output=True, check=True)
        agent_results, agent_peak = bench_agent(exe, cached, facts, work, runs, five)
        results.update(agent_results)
        if compare:
            results.update(compare_peers(facts, runs))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    floor = results["python -c pass (floor)"]["median_ms"]
    for item in results.values():
        item["x_floor"] = round(item["median_ms"] / floor, 1) if floor else None
    return {
        "facts": {k: v for k, v in facts.items() if k != "passphrase"},
        "results": results,
        "agent_peak_mb": agent_peak,
    }


def bench_agent(
    exe: str, cached: dict, facts: dict, work: Path, runs: int, five: dict | None = None
) -> tuple[dict, float]:
    """The hot commands once the agent holds the key (no keyring, no passphrase); and the agent's peak MB.

    The agent reads the same register as the cached-key runs. `cred show` saves a reveal event every
    run, so each run also re-opens the changed file in the agent: that cost is in its time.
    """
    runtime = work / "run"
    if len(str(runtime / "accountctl" / "agent.sock")) < 100:
        runtime.mkdir(mode=0o700)
    else:  # a Unix socket's path is at most ~107 bytes: a short folder of its own (pytest's are long)
        runtime = Path(tempfile.mkdtemp(prefix="acctl-run-", dir="/tmp"))
    env = {**cached, "XDG_RUNTIME_DIR": str(runtime), "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    env.pop("BENCH_KEYRING_FILE", None)
    account, leaver = facts["sample_account"], facts["sample_leaver"]
    commands = [
        ("audit (agent)", [exe, "audit", "--format", "json"]),
        ("account list (agent)", [exe, "account", "list"]),
        ("account show (agent)", [exe, "account", "show", account]),
        ("otp (agent)", [exe, "otp", account]),
        ("cred show (agent)", [exe, "cred", "show", account, "--field", "password", "--reason", "bench"]),
        ("offboard (agent)", [exe, "offboard", leaver, "--format", "json"]),
    ]
    out, peak = {}, 0.0
    try:
        login = subprocess.run(
            [exe, "login", "--agent", "--ttl", "1h"],
            env={**env, "ACCOUNTCTL_PASSPHRASE": facts["passphrase"]},
            capture_output=True,
            text=True,
        )
        if login.returncode:
            raise SystemExit(f"login --agent failed: {login.stderr}")
        status = subprocess.run([exe, "agent", "status", "--json"], env=env, capture_output=True).stdout
        if not json.loads(status or "[]"):
            raise SystemExit("the agent holds no key after login --agent")
        pid = subprocess.run(
            [
                sys.executable,
                "-c",
                "from accountctl.agent import client as agent_client; print(agent_client.request({'op': 'status'})['pid'])",
            ],
            env=env,
            capture_output=True,
            text=True,
        ).stdout.strip()
        for name, argv in commands:
            out[name] = measure(argv, env, runs)
            print(f"  agent  {name:24s} {out[name]['median_ms']:8.1f} ms", file=sys.stderr)
        if five is not None:  # last: this machine then knows the register in format 5, and refuses format 4
            env5 = {**env, **five}
            writer = {**env5, "ACCOUNTCTL_NO_AGENT": "1", "ACCOUNTCTL_PASSPHRASE": facts["passphrase"]}
            # An agent of its own, started on the machine that saw the upgraded copy (in use the upgrade
            # replaces the file in place; here the same register sits at two paths in two formats).
            subprocess.run([exe, "agent", "stop"], env=env, capture_output=True)
            subprocess.run(
                [exe, "login", "--agent", "--ttl", "1h"],
                env={**env5, "ACCOUNTCTL_PASSPHRASE": facts["passphrase"]},
                capture_output=True,
                check=True,
            )

            def another_write():
                subprocess.run([exe, "monitor", account], env=writer, capture_output=True, check=True)

            for name, argv, prepare in (
                ("audit (agent, format 5)", [exe, "audit", "--format", "json"], None),
                ("otp (agent, format 5)", [exe, "otp", account], None),
                ("audit (agent, format 5, after another's write)", [exe, "audit", "--format", "json"], another_write),
            ):
                out[name] = measure(argv, env5, runs, prepare)
                print(f"  agent  {name:24s} {out[name]['median_ms']:8.1f} ms", file=sys.stderr)
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = round(int(line.split()[1]) / 1024, 1)
        except (OSError, ValueError):
            pass
        print(f"  agent process peak {peak} MB", file=sys.stderr)
    finally:
        subprocess.run([exe, "agent", "stop"], env=env, capture_output=True)
        shutil.rmtree(runtime, ignore_errors=True)
    return out, peak


def compare_peers(facts: dict, runs: int) -> dict:
    """The same credential retrieval with keepassxc-cli and pass, from stores of the same size.

    The stores are built once per entry count in DATA/peers-COUNT (large and bare share theirs).
    """
    out = {}
    count = facts["accounts_written"]
    folder = DATA / f"peers-{count}"
    folder.mkdir(parents=True, exist_ok=True)
    if shutil.which("keepassxc-cli"):
        db = folder / "peers.kdbx"
        if not db.exists():
            xml = folder / "peers.xml"
            entries = "".join(
                f"<Entry><UUID>{(i).to_bytes(16, 'big').hex()}</UUID><String><Key>Title</Key><Value>acct{i}</Value></String>"
                f"<String><Key>UserName</Key><Value>user{i}@school.sch.uk</Value></String>"
                f'<String><Key>Password</Key><Value ProtectInMemory="True">pw-{i}-x7Q!</Value></String></Entry>'
                for i in range(count)
            )
            xml.write_text(
                f'<?xml version="1.0" encoding="UTF-8"?><KeePassFile><Meta><DatabaseName>bench</DatabaseName>'
                f"</Meta><Root><Group><UUID>{'0' * 32}</UUID><Name>Root</Name>{entries}</Group></Root></KeePassFile>"
            )
            done = subprocess.run(
                ["keepassxc-cli", "import", "-p", str(xml), str(db)],
                input="bench\nbench\n",
                capture_output=True,
                text=True,
            )
            if done.returncode:
                print(f"  keepassxc import failed: {done.stderr.strip()}", file=sys.stderr)
        if db.exists():
            out["keepassxc-cli show"] = measure(
                ["keepassxc-cli", "show", "-q", "-s", "-a", "Password", str(db), f"acct{count // 2}"],
                dict(os.environ),
                runs,
                stdin=b"bench\n",
                ok=(0,),
            )
            print(f"  keepassxc-cli show {out['keepassxc-cli show']['median_ms']} ms", file=sys.stderr)
    if shutil.which("pass") and shutil.which("gpg"):
        store, gnupg = folder / "pass-store", folder / "gnupg"
        env = {**os.environ, "PASSWORD_STORE_DIR": str(store), "GNUPGHOME": str(gnupg)}
        if not (store / ".gpg-id").exists():
            gnupg.mkdir(mode=0o700, exist_ok=True)
            subprocess.run(
                [
                    "gpg",
                    "--batch",
                    "--passphrase",
                    "",
                    "--quick-gen-key",
                    "bench@accountctl.invalid",
                    "default",
                    "default",
                    "never",
                ],
                env=env,
                capture_output=True,
                check=True,
            )
            subprocess.run(["pass", "init", "bench@accountctl.invalid"], env=env, capture_output=True, check=True)
            plain = []
            for i in range(count):
                path = store / f"acct{i}"
                path.write_text(f"pw-{i}-x7Q!\n")
                plain.append(str(path))
            for start in range(0, len(plain), 500):
                subprocess.run(
                    [
                        "gpg",
                        "--batch",
                        "--yes",
                        "--trust-model",
                        "always",
                        "-r",
                        "bench@accountctl.invalid",
                        "--encrypt",
                        "--multifile",
                        *plain[start : start + 500],
                    ],
                    env=env,
                    capture_output=True,
                    check=True,
                )
            for path in plain:
                os.unlink(path)
        try:
            out["pass show"] = measure(["pass", "show", f"acct{count // 2}"], env, runs, ok=(0,))
        finally:
            subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, capture_output=True)  # started by gpg
        print(f"  pass show {out['pass show']['median_ms']} ms", file=sys.stderr)
    return out


def machine() -> dict:
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = ""
    try:
        mem = next(line.split(":", 1)[1].strip() for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


def table(report: dict) -> str:
    sizes = list(report["sizes"])
    names = list(next(iter(report["sizes"].values()))["results"])
    for s in sizes[1:]:
        names += [n for n in report["sizes"][s]["results"] if n not in names]
    head = "| command | " + " | ".join(f"{s}: ms (x floor) / MB" for s in sizes) + " |"
    lines = [head, "|" + "---|" * (len(sizes) + 1)]
    for n in names:
        cells = []
        for s in sizes:
            r = report["sizes"][s]["results"].get(n)
            cells.append(f"{r['median_ms']} ({r['x_floor']}x) / {r['peak_mb']}" if r else "")
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark accountctl end to end.")
    parser.add_argument(
        "--sizes",
        help=f"Comma-separated, of {', '.join(synth.SIZES)} (default small,medium,large; small with --smoke).",
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--regen", action="store_true", help="Rebuild the synthetic trusts.")
    parser.add_argument("--no-compare", action="store_true", help="Skip keepassxc-cli and pass.")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="CI smoke run: each command once (no warm-up), no comparisons, on trusts built in a temporary folder.",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results" / "latest.json")
    args = parser.parse_args()
    sizes = [s.strip() for s in (args.sizes or ("small" if args.smoke else "small,medium,large")).split(",")]
    unknown = [s for s in sizes if s not in synth.SIZES]
    if unknown:
        parser.error(f"unknown size {', '.join(unknown)}; choose from {', '.join(synth.SIZES)}")
    runs = 1 if args.smoke else args.runs
    global DATA, WARMUP
    if args.smoke:
        # The low-cost KDF: the smoke run checks that every command works, not what Argon2id costs.
        os.environ.setdefault("ACCOUNTCTL_KDF", "m=19456,t=2,p=1")
        DATA = Path(tempfile.mkdtemp(prefix="acctl-smoke-"))
        WARMUP = 0
    report = {"machine": machine(), "runs": runs, "sizes": {}}
    try:
        for size in sizes:
            report["sizes"][size] = bench_size(size, runs, args.regen, compare=not (args.smoke or args.no_compare))
    finally:
        if args.smoke:
            shutil.rmtree(DATA, ignore_errors=True)
    text = table(report)
    print(text)
    if not args.smoke:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        (args.out.with_suffix(".md")).write_text(text + "\n")


if __name__ == "__main__":
    main()
