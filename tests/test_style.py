"""A style check in the test suite, so CI (which runs the README's test command) runs it: ruff's lint
and formatter, configured in pyproject.toml, over the whole tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def ruff(*args: str) -> subprocess.CompletedProcess:
    try:
        import ruff  # noqa: F401  (the test extras install it; its binary runs as `python -m ruff`)
    except ImportError:
        pytest.fail("ruff is not installed: pip install '.[test]'")
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_ruff_lint_passes():
    result = ruff("check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_leaves_every_file_as_it_is():
    result = ruff("format", "--check", "--no-cache", ".")
    assert result.returncode == 0, "run 'ruff format .' and commit:\n" + result.stdout + result.stderr
