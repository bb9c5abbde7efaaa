"""A pytest plugin for mutation audits: code that runs in child processes counts too.

mutmut learns which tests reach a function by recording, in the pytest process, each function
entered while a test runs, and runs a mutant only against those tests. The agent, `agent start`
and every test that runs `python -m accountctl...` execute our code in child processes, whose
entries mutmut never sees: their mutants would be reported "no tests" however well they are tested.

This plugin (loaded with `-p mutation_children` by tools/mutation-audit.sh) makes every child
import the mutated copy (PYTHONPATH) and, while mutmut collects its statistics, report the
functions it entered to a folder the plugin reads after each test. Mutant runs need nothing more:
the child inherits MUTANT_UNDER_TEST and so runs the mutant too.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

HOOK = Path(__file__).resolve().parent / "child"
_hits: Path | None = None
_test_number = 0


def pytest_configure(config):
    global _hits
    if _hits is None:
        _hits = Path(tempfile.mkdtemp(prefix="mutation-hits-"))
        (_hits / "test").touch()
    mutated = Path("src").resolve()  # mutmut runs pytest in its mutants/ folder
    os.environ["PYTHONPATH"] = os.pathsep.join([str(HOOK), str(mutated)])
    os.environ["MUTATION_CHILD_HITS"] = str(_hits)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    global _test_number
    _test_number += 1
    # A new mark tells every running child that a new test began: it reports its entries afresh.
    os.utime(_hits / "test", ns=(_test_number, _test_number))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item, nextitem):
    """Hand the children's entries to mutmut before its own teardown hook files them under this test."""
    if os.environ.get("MUTANT_UNDER_TEST") != "stats":
        return
    from mutmut.state import state

    for report in _hits.glob("*.hits"):
        try:
            names = report.read_text().split()
            report.unlink()
        except OSError:
            continue
        state()._stats.update(names)
