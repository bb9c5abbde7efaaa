"""The console script itself (`python -m accountctl`): exit codes and complete output, as scripts see them.

`main()` skips the interpreter's teardown (os._exit after flushing), so these run real processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import CUSTODIAN


def accountctl(*args: str, **env: str) -> subprocess.CompletedProcess:
    child = dict(os.environ, PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring", **env)
    child.pop("PYTHONUNBUFFERED", None)  # stdout to a pipe is block-buffered, as in a script
    return subprocess.run(
        [sys.executable, "-m", "accountctl", *args], env=child, capture_output=True, text=True, timeout=120
    )


def test_version_and_an_unknown_command_keep_their_exit_codes():
    assert accountctl("--version").returncode == 0
    bad = accountctl("no-such-command")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("Error: ") and len(bad.stderr.strip().splitlines()) == 1


def test_a_failing_audit_exits_1_with_its_whole_report_on_stdout(register_path):
    init = accountctl("init", "--trust", "Oak Trust", "--email", CUSTODIAN, "--name", "Ira Tech")
    assert init.returncode == 0, init.stderr
    for args in (
        ["school", "add", "oak", "--name", "Oak", "--domain", "oak.sch.uk"],
        ["staff", "add", CUSTODIAN, "--name", "Ira Tech", "--school", "oak", "--role", "it"],
        ["staff", "add", "t.one@oak.sch.uk", "--name", "Tom One", "--school", "oak", "--role", "staff"],
    ):
        assert accountctl(*args).returncode == 0
    for i in range(3):  # requests whose admins have no training on record: a warning each
        made = accountctl(
            "account",
            "request",
            "--school",
            "oak",
            "--platform",
            "x",
            "--handle",
            f"oakclub{i}",
            "--url",
            f"https://x.com/oakclub{i}",
            "--category",
            "faculty",
            "--email",
            f"club{i}@oak.sch.uk",
            "--owner",
            CUSTODIAN,
            "--admin",
            CUSTODIAN,
            "--admin",
            "t.one@oak.sch.uk",
            "--aim",
            "News",
            "--audience",
            "Parents",
            "--promotion",
            "Newsletter",
            "--visibility",
            "open",
            "--pupils",
            "none",
        )
        assert made.returncode == 0, made.stderr
    result = accountctl("audit", "--format", "json", "--fail-on", "info")
    report = json.loads(result.stdout)  # complete: flushed before the process left
    assert report["summary"]["failed"] and result.returncode == 1
    assert report["summary"]["findings"] == len(report["findings"]) >= 3


def test_a_refused_command_exits_with_its_code_and_one_error_line(register_path):
    missing = accountctl("staff", "list", ACCOUNTCTL_REGISTER=str(register_path.parent / "none.accountctl"))
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr.startswith("Error: no register at")
