"""At the terminal: tables that give way at 60, 80, 100 and 200 columns without breaking an id, a rule id
or a command mid-word (SPEC "At the terminal, on a phone, from Excel"; docs/output.md)."""

from __future__ import annotations

import json
import re

import pytest

from accountctl.cli import giveway
from conftest import CUSTODIAN, HEAD, ok, reuse

SCHOOL = "stmarysandstjohns"
LEAVER = "alexandra.montgomery-smythe@stmarysandstjohns.sch.uk"
OTHER = "christopher.fitzwilliam@stmarysandstjohns.sch.uk"
FB = "stmarysandstjohns-facebook-stmarysparentsnews"
IG = "stmarysandstjohns-instagram-sixthformsportteam"
TODAY = "2026-12-07"


def _request(run, account_id, platform, handle, admin):
    ok(
        run(
            [
                *("account", "request", "--id", account_id, "--school", SCHOOL, "--platform", platform),
                *("--handle", handle, "--url", f"https://www.{platform}.com/{handle}", "--category", "faculty"),
                *("--email", f"office@{SCHOOL}.sch.uk", "--owner", LEAVER, "--admin", admin),
                *("--aim", "News for parents and carers", "--audience", "Parents", "--promotion", "Newsletter"),
                *("--visibility", "open", "--pupils", "none"),
            ]
        )
    )


@pytest.fixture
def long_ids(run, register_path, monkeypatch):
    """A school with long ids, emails and handles: two accounts owned by a soon-to-leave teacher."""
    monkeypatch.setenv("ACCOUNTCTL_TODAY", TODAY)
    monkeypatch.setenv("ACCOUNTCTL_USER", CUSTODIAN)

    def build() -> None:
        ok(run(f'init --trust "Oak Trust" --email {CUSTODIAN} --name "Ira Tech"'))
        ok(run('school add oak --name "Oak Primary" --domain oak.sch.uk'))
        ok(run(f'school add {SCHOOL} --name "St Mary and St John" --domain {SCHOOL}.sch.uk'))
        ok(run(f'staff add {CUSTODIAN} --name "Ira Tech" --school oak --role it'))
        ok(run(f'staff add {HEAD} --name "Hana Head" --school oak --role headteacher --role slt'))
        ok(run(f'staff add {LEAVER} --name "Alexandra Montgomery-Smythe" --school {SCHOOL} --trained-on 2026-09-01'))
        ok(run(f'staff add {OTHER} --name "Christopher Fitzwilliam" --school {SCHOOL} --trained-on 2026-09-01'))
        _request(run, FB, "facebook", "stmarysparentsnews", OTHER)
        _request(run, IG, "instagram", "sixthformsportteam", OTHER)
        ok(run(f"cred set {FB} --username office@{SCHOOL}.sch.uk", input="Fb-first-Password-01!\n"))

    reuse("long-ids", register_path, build)
    return register_path


def _whole(text: str, word: str) -> None:
    """`word` is never split over two lines: joining the lines finds it no more often than the lines do."""
    lines = [line.strip() for line in text.splitlines()]
    assert "".join(lines).count(word) == "\n".join(lines).count(word), f"{word!r} broken across lines:\n{text}"


def _command_whole(text: str, command: str, width: int) -> None:
    """A command is on one line when it fits the screen, else on lines joined by shell continuations."""
    lines = text.splitlines()
    if len(command) <= width - len(giveway.INDENT):
        assert any(command in line for line in lines), f"{command!r} not whole on one line:\n{text}"
    else:
        joined = re.sub(r" \\\n\s*", " ", text)
        assert command in joined, f"{command!r} not one command across its continuations:\n{text}"


WIDTHS = [60, 80, 100, 200]


@pytest.mark.parametrize("width", WIDTHS)
def test_tables_give_way_without_breaking_an_id_or_a_command(run, long_ids, width):
    env = {"COLUMNS": str(width)}
    left = ok(run(["staff", "leave", LEAVER, "--on", TODAY], env=env), 0)
    checklist = ok(run(["offboard", LEAVER], env=env), 1).stdout
    audit = ok(run(["audit", "--fail-on", "info"], env=env), 1).stdout
    listing = ok(run(["account", "list"], env=env)).stdout
    items = json.loads(ok(run(["offboard", LEAVER, "--json"]), 1).stdout)["items"]
    findings = json.loads(ok(run(["audit", "--json", "--fail-on", "info"]), 1).stdout)["findings"]
    assert items and findings
    for text in (left.stdout, checklist, audit, listing):
        too_long = [line for line in text.splitlines() if len(line) > width]
        assert not too_long, f"lines over {width} columns: {too_long}"
    words = {FB, IG, LEAVER, OTHER} | {f["rule"] for f in findings} | {f["account"] for f in findings if f["account"]}
    for text in (left.stdout, checklist, audit, listing):
        for word in words:
            _whole(text, word)
    for item in items:
        _command_whole(checklist, item["command"], width)
        _command_whole(left.stdout, item["command"], width)
    for finding in findings:
        for command in giveway.COMMAND.findall(finding["fix"]):
            _command_whole(audit, command, width)


def test_at_80_columns_a_finding_keeps_rule_account_and_severity_and_its_fix_on_its_own_line(run, long_ids):
    ok(run(["staff", "leave", LEAVER, "--on", TODAY]))
    audit = ok(run(["audit", "--fail-on", "info"], env={"COLUMNS": "80"}), 1).stdout
    findings = json.loads(ok(run(["audit", "--json", "--fail-on", "info"]), 1).stdout)["findings"]
    header = audit.splitlines()[0].split()
    assert header == ["rule", "severity", "account"]
    assert sum(line.startswith("  fix:") for line in audit.splitlines()) == len(findings)
    # a rule id, then its account, on the finding's first line
    first = [line for line in audit.splitlines() if line and not line.startswith((" ", "-", "rule"))]
    assert [line.split()[0] for line in first] == [f["rule"] for f in findings]


def test_a_screen_wide_enough_gets_the_whole_table_and_pipes_get_whole_rows(run, long_ids):
    wide = ok(run(["account", "list"], env={"COLUMNS": "300"})).stdout.splitlines()
    assert wide[0].split() == [
        "id",
        "school",
        "platform",
        "handle",
        "category",
        "status",
        "owner",
        "admin_count",
        "email",
    ]
    assert len(wide) == 4  # header, dashes, two accounts: one line each
    piped = ok(run(["audit", "--fail-on", "info"]), 1).stdout.splitlines()
    assert piped[0].split()[:3] == ["rule", "severity", "account"] and "fix" in piped[0].split()


@pytest.mark.parametrize(
    ("text", "room", "expected"),
    [
        ("fix: accountctl monitor a-b-c", 80, ["fix: accountctl monitor a-b-c"]),
        (
            "then: accountctl cred totp some-account-id",
            20,
            ["then:", "accountctl cred \\", "  totp \\", "  some-account-id"],
        ),
        ("(or: accountctl approve x-y), then", 30, ["(or: accountctl approve x-y),", "then"]),
        ("a " + "x" * 12, 5, ["a", "xxxxx", "xxxxx", "xx"]),
    ],
)
def test_wrapping_keeps_commands_whole_and_breaks_only_between_words(text, room, expected):
    assert giveway.wrap_whole(text, room) == expected
