"""The README's walkthroughs, run as written on docs/examples/staff.csv and accounts.csv.

Every `accountctl` line of the IT, SLT and offboarding walkthroughs runs in order, as one technician
would type it in a clone of the repository (`export` lines set the environment), and must exit as
the README says it does.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest

from conftest import ok

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SECTIONS = (
    "## Walkthrough: IT technician",
    "## Walkthrough: SLT, headteacher, CEO",
    "## Walkthrough: an offboarding script",
)
TODAY = "2026-11-30"  # the README's dates (a leaver on 2026-12-19, a waiver to 2027-07-31) are ahead of it
TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
# What the README says these do: the audit finds problems, activation refuses (SLT has not approved
# yet), offboard has steps outstanding. Everything else exits 0.
EXPECTED = {("audit",): 1, ("account", "activate"): 2, ("offboard",): 1}
STDIN = {("cred", "totp"): TOTP + "\n"}  # what the technician pastes at the prompt


def section(text: str, title: str) -> str:
    return text.split(title, 1)[1].split("\n## ", 1)[0]


def steps() -> list[tuple[str, list[str]]]:
    """(section, words) for every command line of the walkthroughs, continuation lines joined."""
    text = README.read_text(encoding="utf-8")
    out = []
    for title in SECTIONS:
        body = section(text, title)
        if "SLT" in title:  # it starts with the custodian's grant, given inline
            grant = re.search(r"`(accountctl person grant [^`]+)`", body)
            out.append((title, shlex.split(grant.group(1))))
        for block in re.findall(r"```sh\n(.*?)```", body, re.S):
            for line in block.replace("\\\n", " ").splitlines():
                words = shlex.split(line, comments=True)
                if words:
                    out.append((title, words))
    return out


def command_path(argv: list[str]) -> tuple[str, ...]:
    """The command words of an accountctl argv, global options skipped: ('account', 'activate')."""
    words, skip = [], False
    for word in argv:
        if skip:
            skip = False
        elif word in ("--as", "--register", "--format"):
            skip = True
        elif not word.startswith("-"):
            words.append(word)
    return tuple(words[:2])


@pytest.fixture
def clone(tmp_path, monkeypatch):
    """A working folder holding docs/examples/, as in a clone; HOME inside the test's folder."""
    shutil.copytree(ROOT / "docs" / "examples", tmp_path / "docs" / "examples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ACCOUNTCTL_TODAY", TODAY)
    monkeypatch.delenv("ACCOUNTCTL_REGISTER")
    return tmp_path


def test_the_walkthroughs_cover_the_sample_files():
    lines = [" ".join(words) for _, words in steps()]
    assert "accountctl staff import docs/examples/staff-excel-uk.csv --dates uk" in lines
    assert "accountctl account import docs/examples/accounts.csv" in lines
    assert any(line.startswith("export ACCOUNTCTL_USER=") for line in lines)
    assert len(lines) > 20


def test_the_readme_walkthroughs_run_as_written(run, clone, monkeypatch):
    ran = []
    for title, words in steps():
        if words[0] == "export":
            for assignment in words[1:]:
                name, _, value = assignment.partition("=")
                monkeypatch.setenv(name, value.replace("~", str(clone / "home"), 1) if value.startswith("~") else value)
            continue
        assert words[0] == "accountctl", f"{title}: {' '.join(words)}"
        path = command_path(words[1:])
        expected = EXPECTED.get(path[:2], EXPECTED.get(path[:1], 0))
        result = run(words[1:], input=STDIN.get(path[:2]))
        assert result.exit_code == expected, (
            f"{' '.join(words)} exited {result.exit_code}, not {expected}:\n{result.stderr}"
        )
        if expected == 0:
            assert "Error:" not in result.stderr, result.stderr
        ran.append((" ".join(words), result))
    assert (clone / "home" / "trust.accountctl").exists() and (clone / "governors.html").exists()

    def output_of(start: str):
        return next(result for line, result in ran if line.startswith(start))

    assert "Imported 6 staff." in output_of("accountctl staff import").stderr
    assert "Imported 3 account(s)" in output_of("accountctl account import").stderr
    findings = {(f["rule"], f["account"]) for f in json.loads(ok(run("audit --json"), 1).stdout)["findings"]}
    for expected_finding in [
        ("SCHOOL_EMAIL", "oak-facebook-oakpta"),
        ("TWO_ADMINS", "oak-facebook-oakpta"),
        ("ONE_FACULTY_ONE_STAFF", "oak-x-oakpe"),
        ("APPROVAL_MISSING", "oak-x-oakpe"),
    ]:
        assert expected_finding in findings, expected_finding
    # The SLT walkthrough waives the PE page's guideline finding: it no longer counts against the news page.
    assert ("ONE_FACULTY_ONE_STAFF", "oak-x-oaknews") not in findings
    assert re.fullmatch(r"\d{6}\n", output_of("accountctl otp").stdout)
    leaver = json.loads(output_of("accountctl offboard").stdout)
    assert leaver["leaver"] and leaver["outstanding"] > 0
