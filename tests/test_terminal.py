"""At the terminal: tables that give way at 60, 80, 100 and 200 columns without breaking an id, a rule id
or a command mid-word (SPEC "At the terminal, on a phone, from Excel"; docs/output.md)."""

from __future__ import annotations

import json
import os
import sys
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from accountctl.cli import cli, giveway
from conftest import CUSTODIAN, HEAD, ok, refused, reuse

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


# -- dates as Excel writes them in the UK ---------------------------------------------------------
EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


def test_the_uk_excel_example_is_the_staff_example_as_excel_saves_it():
    raw = (EXAMPLES / "staff-excel-uk.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and raw.count(b"\r\n") == raw.count(b"\n")
    iso = (EXAMPLES / "staff.csv").read_text(encoding="utf-8")
    uk = re.sub(r"(\d\d)/(\d\d)/(\d{4})", r"\3-\2-\1", raw.decode("utf-8-sig").replace("\r\n", "\n"))
    assert uk == iso and "/" in raw.decode("utf-8-sig")


@pytest.fixture
def school_only(run, register_path):
    """A register with the school oak and its custodian, before any staff import."""

    def build() -> None:
        ok(run(f'init --trust "Oak Trust" --email {CUSTODIAN} --name "Ira Tech"'))
        ok(run('school add oak --name "Oak Primary" --domain oak.sch.uk'))

    reuse("oak-school-only", register_path, build)
    return register_path


def test_staff_import_reads_uk_dates_with_dates_uk(run, school_only):
    ok(run(["staff", "import", str(EXAMPLES / "staff-excel-uk.csv"), "--dates", "uk"]))
    staff = {s["email"]: s for s in json.loads(ok(run("staff list --json")).stdout)}
    assert staff["p.games@oak.sch.uk"]["trained_on"] is None
    iso = (EXAMPLES / "staff.csv").read_text(encoding="utf-8")
    for line in iso.splitlines()[1:]:
        email, trained = line.split(",")[0], line.split(",")[-2] or None
        assert staff[email]["trained_on"] == trained


def test_a_uk_date_without_dates_uk_is_refused_with_a_hint_and_nothing_imported(run, school_only):
    line = refused(
        run, school_only, ["staff", "import", str(EXAMPLES / "staff-excel-uk.csv")], 2, "--dates uk", "line 2"
    )
    assert "trained_on must be a date as YYYY-MM-DD" in line


def _one_row(tmp_path, trained: str) -> str:
    path = tmp_path / "one.csv"
    path.write_text(f"email,name,school,roles,trained_on,policy_ack\nn.new@oak.sch.uk,Ned New,oak,staff,{trained},\n")
    return str(path)


@pytest.mark.parametrize(
    ("trained", "stored"),
    [
        ("31/12/2026", "2026-12-31"),
        ("01/01/2027", "2027-01-01"),
        ("7/9/2026", "2026-09-07"),
        ("2026-09-01", "2026-09-01"),
    ],
)
def test_dates_uk_reads_day_month_year_and_iso(run, oak, tmp_path, trained, stored, monkeypatch):
    monkeypatch.setenv("ACCOUNTCTL_TODAY", "2027-06-01")  # a training date ahead is refused
    ok(run(["staff", "import", _one_row(tmp_path, trained), "--dates", "uk"]))
    assert json.loads(ok(run("staff show n.new@oak.sch.uk --json")).stdout)["trained_on"] == stored


@pytest.mark.parametrize(
    ("trained", "words"),
    [
        ("12/31/2026", ("not a real date", "day/month/year")),
        ("07/12/26", ("two-digit year",)),
        ("32/01/2027", ("not a real date",)),
    ],
)
def test_dates_uk_refuses_what_is_not_a_uk_date(run, oak, tmp_path, trained, words):
    refused(run, oak, ["staff", "import", _one_row(tmp_path, trained), "--dates", "uk"], 2, "line 2", *words)


def test_a_uk_date_in_an_option_is_refused_naming_the_iso_form(run, oak):
    refused(run, oak, "staff train t.one@oak.sch.uk --on 07/12/2026", 2, "YYYY-MM-DD", "--dates uk")


def test_staff_sync_reads_uk_dates_with_dates_uk(run, oak, tmp_path):
    path = tmp_path / "roster.csv"
    rows = [
        "email,name,school,roles,trained_on,policy_ack",
        f"{CUSTODIAN},Ira Tech,oak,it,,",
        f"{HEAD},Hana Head,oak,headteacher;slt,,",
        "t.one@oak.sch.uk,Tom One,oak,staff,01/09/2026,",
        "t.two@oak.sch.uk,Tia Two,oak,staff,01/09/2026,",
        "n.new@oak.sch.uk,Ned New,oak,staff,07/12/2026,",
    ]
    path.write_bytes(("\ufeff" + "\r\n".join(rows) + "\r\n").encode("utf-8"))
    refused(run, oak, ["staff", "sync", str(path), "--school", "oak", "--apply"], 2, "--dates uk")
    ok(run(["staff", "sync", str(path), "--school", "oak", "--apply", "--dates", "uk"]))
    assert json.loads(ok(run("staff show n.new@oak.sch.uk --json")).stdout)["trained_on"] == "2026-12-07"


# -- the audit at trust scale: --summary, --severity, --account, colour ----------------------------
SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


@pytest.fixture
def left(run, long_ids):
    """long_ids after the teacher left: errors, warnings and a finding about no school."""
    ok(run(["staff", "leave", LEAVER, "--on", TODAY]))
    return long_ids


def _audit(run, *args, code=1):
    return json.loads(ok(run(["audit", "--json", "--fail-on", "info", *args]), code).stdout)


def test_summary_counts_the_findings_by_rule_and_by_school(run, left):
    import jsonschema

    findings = _audit(run)["findings"]
    data = _audit(run, "--summary")
    schema = json.loads((SCHEMAS / "audit-summary.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(data, schema)
    assert set(data) == {"summary", "by_rule", "by_school"}
    by_rule = {r["rule"]: r for r in data["by_rule"]}
    assert {r: c["findings"] for r, c in by_rule.items()} == {
        f["rule"]: sum(g["rule"] == f["rule"] for g in findings) for f in findings
    }
    assert by_rule["LEAVER_OWNER"]["accounts"] == 2 and by_rule["LEAVER_OWNER"]["schools"] == 1
    by_school = {s["school"]: s for s in data["by_school"]}
    assert by_school[SCHOOL]["error"] == sum(f["school"] == SCHOOL and f["severity"] == "error" for f in findings)
    assert data["by_school"][-1]["school"] is None  # the register-wide findings come last
    assert sum(s["findings"] for s in data["by_school"]) == len(findings) == data["summary"]["findings"]


def test_summary_as_a_table_and_as_csv(run, left):
    table = ok(run("audit --summary"), 1).stdout
    assert table.splitlines()[0].split() == ["rule", "severity", "findings", "unwaived", "accounts", "schools"]
    assert ["school", "findings", "unwaived", "error", "warning", "info"] in [
        line.split() for line in table.splitlines()
    ]
    csv_lines = ok(run("audit --summary --format csv"), 1).stdout.splitlines()
    assert csv_lines[0] == "rule,school,findings,unwaived"
    assert f"LEAVER_OWNER,{SCHOOL},2,2" in csv_lines


@pytest.mark.parametrize(("severity", "kept"), [("error", {"error"}), ("warning", {"error", "warning"})])
def test_severity_keeps_findings_at_or_above_it(run, left, severity, kept):
    everything = _audit(run)["findings"]
    data = _audit(run, "--severity", severity)
    assert {f["severity"] for f in data["findings"]} == kept
    assert data["findings"] == [f for f in everything if f["severity"] in kept]
    assert data["summary"]["severity"] == severity and data["summary"]["findings"] == len(data["findings"])


def test_account_keeps_that_accounts_findings_and_decides_the_exit_code(run, left):
    data = _audit(run, "--account", IG.upper())
    assert data["findings"] and {f["account"] for f in data["findings"]} == {IG}
    assert data["summary"]["account"] == IG
    ok(run(["audit", "--account", IG, "--severity", "error", "--rule", "TRAINING_MISSING"]), 0)


def test_an_unknown_account_is_refused_in_one_line(run, left):
    refused(run, left, ["audit", "--account", IG[:-1] + "x"], 2, "unknown account", "did you mean")


def test_colour_marks_errors_and_warnings_only_at_a_terminal(run, left, monkeypatch):
    from accountctl.cli import output

    def coloured(args: str, **env: str) -> str:
        """What a terminal would get: click strips colour for anything it takes not to be a terminal."""
        return ok(CliRunner().invoke(cli, args.split(), env=env, color=True, catch_exceptions=False), 1).stdout

    monkeypatch.setattr(output, "isatty_stdout", lambda: True)
    for width in ("80", "300"):
        text = coloured("audit --fail-on info", COLUMNS=width)
        assert "\x1b[31mLEAVER_OWNER" in text and "\x1b[33mPOLICY_REVIEW_OVERDUE" in text
        assert "\x1b[" not in "\n".join(line for line in text.splitlines() if line.startswith(("rule", "  ")))
    assert "\x1b[" not in coloured("audit", COLUMNS="80", NO_COLOR="1")
    assert "\x1b[" not in coloured("audit --format csv")
    assert "\x1b[" not in coloured("audit --json")
    monkeypatch.setattr(output, "isatty_stdout", lambda: False)
    assert "\x1b[" not in coloured("audit", COLUMNS="80")


def test_summary_gives_a_rule_the_severity_of_its_findings(run, long_ids):
    ok(run(["staff", "leave", LEAVER, "--on", "2026-12-20"]))  # ahead: LEAVER_OWNER is a warning until then
    findings = _audit(run)["findings"]
    assert {f["severity"] for f in findings if f["rule"] == "LEAVER_OWNER"} == {"warning"}
    by_rule = {r["rule"]: r for r in _audit(run, "--summary")["by_rule"]}
    assert by_rule["LEAVER_OWNER"]["severity"] == "warning"


# -- one list of the environment variables -------------------------------------------------------
def test_every_environment_variable_read_is_in_help_and_the_guide(run):
    from accountctl.cli import ENVIRONMENT

    src = Path(__file__).resolve().parent.parent / "src" / "accountctl"
    read = set()
    for path in src.rglob("*.py"):
        read |= set(
            re.findall(
                r'"(ACCOUNTCTL_[A-Z_]+|NO_COLOR|COLUMNS|XDG_[A-Z_]+|PYTHON_KEYRING_BACKEND)"', path.read_text("utf-8")
            )
        )
    listed = [name for name, _ in ENVIRONMENT]
    assert "ACCOUNTCTL_DEBUG" in read and read <= set(listed), read - set(listed)
    shown = ok(run("--help")).stdout
    guide = (Path(__file__).resolve().parent.parent / "docs" / "guide-it.md").read_text("utf-8")
    for name in listed:
        assert f"\n    {name} " in shown and f"| `{name}` |" in guide, name
    assert max(len(line) for line in shown.splitlines()[-len(listed) :]) <= 80


# -- pass, gopass and op habits -----------------------------------------------------------------
SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def test_generate_no_symbols_gives_letters_and_digits_only(run, long_ids):
    password = ok(run(["cred", "generate", FB, "--no-symbols", "--length", "40"])).stdout.strip()
    assert len(password) == 40 and password.isalnum() and password.isascii()
    assert any(c.isupper() for c in password) and any(c.islower() for c in password)
    assert any(c.isdigit() for c in password)
    shown = ok(run(["cred", "show", FB, "--field", "password", "--reason", "check"])).stdout.strip()
    assert shown == password
    with_symbols = ok(run(["cred", "generate", FB])).stdout.strip()
    assert not with_symbols.isalnum()


def test_cred_totp_prints_the_current_code_to_confirm_the_set_up(run, long_ids):
    import time

    from accountctl.core import vault

    result = ok(run(["cred", "totp", IG], input=SEED + "\n"))
    now = time.time()
    assert result.stdout.strip() in {vault.totp_code(vault.Totp(SEED), now - d) for d in (0, 30)}
    assert "to confirm the set-up" in result.stderr


def test_the_otpauth_label_of_a_bare_secret_is_the_handle(run, long_ids):
    ok(run(["cred", "totp", IG], input=SEED + "\n"))
    uri = ok(run(["cred", "show", IG, "--field", "totp", "--reason", "new phone"])).stdout.strip()
    assert uri.startswith("otpauth://totp/instagram:sixthformsportteam?") and "issuer=instagram" in uri
    # a platform's own URI keeps its label
    ok(run(["cred", "totp", IG], input=f"otpauth://totp/Instagram:office?secret={SEED}&issuer=Instagram\n"))
    uri = ok(run(["cred", "show", IG, "--field", "totp", "--reason", "new phone"])).stdout.strip()
    assert uri.startswith("otpauth://totp/Instagram:office?")


@pytest.fixture
def clipboard(tmp_path, monkeypatch):
    """A stand-in `xclip` on PATH, its clipboard a file; the clearing after 1 second, not 45."""
    from accountctl.cli import clip

    board = tmp_path / "clipboard"
    tool = tmp_path / "bin" / "xclip"
    tool.parent.mkdir()
    tool.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"path = {str(board)!r}\n"
        "if '-out' in sys.argv:\n"
        "    sys.stdout.buffer.write(open(path, 'rb').read())\n"
        "else:\n"
        "    open(path, 'wb').write(sys.stdin.buffer.read())\n"
    )
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tool.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(clip, "CLEAR_AFTER", 1)
    return board


def _cleared(board: Path, seconds: float = 15) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if board.read_bytes() == b"":
            return True
        time.sleep(0.2)
    return False


def test_generate_clip_copies_instead_of_printing_and_clears_after(run, long_ids, clipboard):
    result = ok(run(["cred", "generate", FB, "--clip"]))
    assert result.stdout == "" and "cleared in 1 seconds" in result.stderr
    copied = clipboard.read_text()
    assert len(copied) == 24
    assert ok(run(["cred", "show", FB, "--field", "password", "--reason", "check"])).stdout.strip() == copied
    assert _cleared(clipboard)


def test_show_clip_copies_the_password_and_leaves_a_later_copy_alone(run, long_ids, clipboard):
    import time

    result = ok(run(["cred", "show", FB, "--clip", "--reason", "newsletter"]))
    assert result.stdout == "" and clipboard.read_text() == "Fb-first-Password-01!"
    clipboard.write_text("something the user copied since")
    time.sleep(2.5)
    assert clipboard.read_text() == "something the user copied since"
    assert '"reason": "newsletter"' in ok(run(["log", "--json"])).stdout  # the reveal is recorded as ever


def test_clip_without_a_clipboard_is_refused_before_anything_happens(run, long_ids, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    refused(run, long_ids, ["cred", "generate", FB, "--clip"], 2, "no clipboard available")
    refused(run, long_ids, ["cred", "show", FB, "--clip", "--reason", "x"], 2, "no clipboard available")


def test_clip_is_never_handed_to_the_agent():
    from accountctl.agent import protocol

    assert protocol.command_of(["cred", "show", FB, "--reason", "x"])[0] == ("cred", "show")
    assert protocol.command_of(["cred", "show", FB, "--clip", "--reason", "x"])[0] == ()


# -- shell completion of the register's values --------------------------------------------------
def _complete(run, line: str, **env: str) -> list[str]:
    words = line.split(" ")
    env = {"_ACCOUNTCTL_COMPLETE": "bash_complete", "COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1), **env}
    result = CliRunner().invoke(cli, words[1:], env=env, prog_name="accountctl")  # the shell's own program name
    return [item.split(",", 1)[1] for item in result.stdout.splitlines() if item]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("accountctl account show stmarys", [FB, IG]),
        ("accountctl cred show stmarysandstjohns-i", [IG]),
        ("accountctl offboard alex", [LEAVER]),
        ("accountctl account admin add x chris", [OTHER]),
        ("accountctl --as head", [HEAD]),
        ("accountctl staff list --school stm", [SCHOOL]),
        ("accountctl audit --account stmarysandstjohns-f", [FB]),
        ("accountctl audit --rule LEAVER_", ["LEAVER_OWNER", "LEAVER_ADMIN"]),
        ("accountctl waive x two_adm", ["TWO_ADMINS"]),
        ("accountctl waive stmarysandstjohns-f", [FB]),
        ("accountctl waive --trust single", ["SINGLE_CUSTODIAN"]),
    ],
)
def test_completion_offers_account_ids_emails_schools_and_rules(run, long_ids, line, expected):
    assert _complete(run, line) == expected


def test_completion_never_asks_for_a_passphrase(run, long_ids, monkeypatch):
    monkeypatch.delenv("ACCOUNTCTL_PASSPHRASE")
    assert _complete(run, "accountctl account show stmarys") == []
    assert _complete(run, "accountctl audit --rule TWO_") == ["TWO_ADMINS"]  # rules need no register


# -- a URL on the platform's own host -----------------------------------------------------------
def _request_argv(platform: str, handle: str, the_url: str) -> list[str]:
    return [
        *("account", "request", "--school", SCHOOL, "--platform", platform, "--handle", handle, "--url", the_url),
        *("--category", "staff", "--email", f"office@{SCHOOL}.sch.uk", "--owner", OTHER, "--admin", LEAVER),
        *("--aim", "Sport results", "--audience", "Parents", "--promotion", "Newsletter"),
        *("--visibility", "open", "--pupils", "none"),
    ]


@pytest.mark.parametrize(
    "the_url",
    ["https://www.instagram.com/stmarysport", "https://facebook.com.example.org/x", "https://notfacebook.com/x"],
)
def test_a_request_whose_url_is_not_on_the_platform_is_refused_naming_the_host(run, long_ids, the_url):
    refused(run, long_ids, _request_argv("facebook", "stmarysport", the_url), 2, "not on facebook", "facebook.com")


@pytest.mark.parametrize(
    ("platform", "the_url"),
    [
        ("facebook", "https://m.facebook.com/stmarysport"),
        ("x", "https://twitter.com/stmarysport"),
        ("bluesky", "https://bsky.app/profile/stmarysport.bsky.social"),
        ("other", "https://www.mastodon.example/@stmarysport"),
    ],
)
def test_the_platforms_own_hosts_and_any_for_other_are_accepted(run, long_ids, platform, the_url):
    ok(run(_request_argv(platform, "stmarysport", the_url)))


def test_update_checks_the_url_against_the_accounts_platform(run, long_ids):
    refused(run, long_ids, ["account", "update", FB, "--url", "https://www.tiktok.com/@x"], 2, "not on facebook")
    ok(run(["account", "update", FB, "--url", "https://www.facebook.com/stmarysnews"]))


# -- many schools at once -----------------------------------------------------------------------
@pytest.fixture
def trust_only(run, register_path):
    def build() -> None:
        ok(run(f'init --trust "Oak Trust" --email {CUSTODIAN} --name "Ira Tech"'))

    reuse("trust-only", register_path, build)
    return register_path


def test_school_import_adds_every_school_of_the_example(run, trust_only):
    result = ok(run(["school", "import", str(EXAMPLES / "schools.csv")]))
    assert "Imported 3 school(s)." in result.stderr
    schools = {s["id"]: s for s in json.loads(ok(run("school list --json")).stdout)}
    assert schools["elm"]["domains"] == ["elm.sch.uk", "elmacademy.org.uk"]
    assert schools["central"]["central"] is True and schools["oak"]["central"] is False
    assert sum(e["action"] == "school.add" for e in json.loads(ok(run("log --json")).stdout)) == 3


@pytest.mark.parametrize(
    ("rows", "words"),
    [
        (["oak,Oak,oak.sch.uk,", "oak,Oak again,oak2.sch.uk,"], ("line 3", "already on line 2")),
        (["oak,Oak,oak.sch.uk,", "elm,Elm,,"], ("line 3", "domain")),
        (["oak,Oak,oak.sch.uk,maybe"], ("line 2", "central must be yes or no")),
        (["Oak School,Oak,oak.sch.uk,"], ("line 2", "school id")),
    ],
)
def test_a_bad_school_row_refuses_the_whole_file(run, trust_only, tmp_path, rows, words):
    path = tmp_path / "schools.csv"
    path.write_text("id,name,domains,central\n" + "\n".join(rows) + "\n")
    refused(run, trust_only, ["school", "import", str(path)], 2, *words)


def test_school_import_refuses_a_school_already_in_the_register(run, trust_only, tmp_path):
    ok(run('school add elm --name "Elm" --domain elm.sch.uk'))
    refused(run, trust_only, ["school", "import", str(EXAMPLES / "schools.csv")], 2, "line 3", "elm already exists")


def test_the_school_example_matches_its_schema():
    import csv

    import jsonschema

    schema = json.loads((SCHEMAS / "school-import.schema.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    rows = list(csv.DictReader((EXAMPLES / "schools.csv").read_text(encoding="utf-8").splitlines()))
    assert len(rows) == 3 and all(not list(validator.iter_errors(row)) for row in rows)
    assert list(validator.iter_errors({**rows[0], "central": "maybe"}))
    assert list(validator.iter_errors({**rows[0], "domains": ""}))


@pytest.mark.parametrize("width", [60, 80])
def test_staff_list_and_rules_give_way_without_breaking_a_word(run, long_ids, width):
    from accountctl.core.audit import RULES

    for args, words in (("staff list", [LEAVER, OTHER, CUSTODIAN]), ("rules", list(RULES))):
        text = ok(run(args, env={"COLUMNS": str(width)})).stdout
        assert max(len(line) for line in text.splitlines()) <= width
        for word in words:
            _whole(text, word)
