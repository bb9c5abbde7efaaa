"""Terminal tables: accountctl's own fitted layout against `tabulate` with `maxcolwidths`.

    python bench/bench_tables.py [--rows 300] [--width 100]

Measures, on audit-like rows (seven columns, two of them sentences), the time to lay out one table
fitted to the screen: accountctl's renderer (cli/output.py) and, when it is installed, tabulate's
`simple` format with `maxcolwidths` set to the same widths; and the cost of importing tabulate in a
fresh interpreter. docs/output.md records the result and the choice it led to.
"""

from __future__ import annotations

import argparse
import random
import statistics
import string
import subprocess
import sys
import time

HEADERS = ["rule", "severity", "account", "school", "message", "fix", "waived"]


def sample_rows(count: int, seed: int = 15) -> list[list[str]]:
    rnd = random.Random(seed)

    def words(n: int) -> str:
        return " ".join(
            "".join(rnd.choice(string.ascii_lowercase) for _ in range(rnd.randint(2, 10))) for _ in range(n)
        )

    return [
        [
            "ROTATE_AFTER_LEAVER",
            rnd.choice(["error", "warning"]),
            f"oak-facebook-account{i}",
            "oak",
            words(12),
            f"accountctl cred generate oak-facebook-account{i} " + words(8),
            "no",
        ]
        for i in range(count)
    ]


def best_ms(fn, repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return min(times)


def import_ms(module: str, repeat: int = 5) -> float | None:
    """The median cost of importing `module` in a fresh interpreter that has already imported click (as the CLI has)."""
    code = f"import click, time; t = time.perf_counter(); import {module}; print((time.perf_counter() - t) * 1000)"
    runs = []
    for _ in range(repeat):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if done.returncode:
            return None
        runs.append(float(done.stdout))
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--width", type=int, default=100)
    args = parser.parse_args()

    from accountctl.cli import output

    rows = sample_rows(args.rows)
    natural = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADERS)]
    prose = [any(" " in r[i] for r in rows) for i in range(len(HEADERS))]
    widths = output.fit_widths(natural, args.width, prose)
    ours = best_ms(lambda: output.table(HEADERS, rows, args.width))
    print(f"{args.rows} rows, {args.width} columns, widths {widths}")
    print(f"accountctl table (fitted):           {ours:7.1f} ms (nothing more to import)")
    try:
        import tabulate
    except ImportError:
        print("tabulate is not installed: pip install tabulate to compare")
        return
    theirs = best_ms(
        lambda: tabulate.tabulate(rows, HEADERS, tablefmt="simple", maxcolwidths=widths, disable_numparse=True)
    )
    print(f"tabulate {tabulate.__version__} (maxcolwidths):      {theirs:7.1f} ms")
    print(f"tabulate import, after click:        {import_ms('tabulate'):7.1f} ms (median, fresh interpreter)")


if __name__ == "__main__":
    main()
