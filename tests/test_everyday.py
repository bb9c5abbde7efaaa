"""Everyday use, as a new IT technician meets it: tables that fit the window, output that cannot drive
the terminal or a spreadsheet, input that is refused, checks before prompts, weak secrets, help that
helps, and "did you mean" (issue 15)."""

from __future__ import annotations

import csv
import io
import json
import os
import re

import keyring
import pytest
from hypothesis import given, strategies as st

from accountctl import model
from accountctl.cli import output
from accountctl.errors import InputError
from accountctl.store import register as store
from conftest import CUSTODIAN, HEAD, PASSPHRASE, error_line, ok, refused

FB = "oak-facebook-oakprimary"
LONG_AIM = (
    "News, celebrations and closures for parents and carers, with photographs of events, "
    "reminders of trips and the newsletter every Friday afternoon"
)
STRONG = "Quiet-Harbour-Lantern-77!"
UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")  # what a table may never carry (newlines between rows aside)


@pytest.fixture
def account(run, oak):
    """oak with one requested account whose aim is long, and a policy version nobody has acknowledged yet
    (so the audit has long warnings); returns the register path."""
    ok(run("config set policy_version 2027.1"))
    ok(
        run(
            [
                "account",
                "request",
                "--school",
                "oak",
                "--platform",
                "facebook",
                "--handle",
                "OakPrimary",
                "--url",
                "https://www.facebook.com/OakPrimary",
                "--category",
                "faculty",
                "--email",
                "office@oak.sch.uk",
                "--owner",
                "t.one@oak.sch.uk",
                "--admin",
                "t.two@oak.sch.uk",
                "--aim",
                LONG_AIM,
                "--audience",
                "Parents",
                "--promotion",
                "Newsletter",
                "--visibility",
                "open",
                "--pupils",
                "none",
            ]
        )
    )
    return oak


def widest(text: str) -> int:
    return max(len(line) for line in text.splitlines())


def put_raw(path, sql: str, *args) -> None:
    """Write to the register behind the CLI's back, as an older version without input checks could have."""
    with store.open_register(
        path, actor=CUSTODIAN, passphrase_source=lambda: PASSPHRASE, write=True, use_keyring=False
    ) as reg:
        reg.db.execute(sql, args)


# -- 3. tables fit the window ---------------------------------------------------------------------
@pytest.mark.parametrize("args", ["audit", "rules", "log", "staff list", f"account show {FB}", "account list"])
def test_tables_fit_COLUMNS_and_wide_shows_every_cell_whole(run, account, args):
    narrow = ok(run(args, env={"COLUMNS": "100"})).stdout
    assert widest(narrow) <= 100, narrow
    for width in ("60", "140"):
        assert widest(ok(run(args, env={"COLUMNS": width})).stdout) <= int(width)
    whole = ok(run(f"{args} --wide", env={"COLUMNS": "100"})).stdout
    piped = ok(run(args)).stdout  # no COLUMNS and not a terminal: whole rows
    assert whole == piped
    if args in ("audit", "rules", "log", f"account show {FB}"):  # these have cells longer than 100 columns
        assert widest(whole) > 100


def test_a_terminal_without_COLUMNS_gets_its_own_width(run, account, monkeypatch):
    monkeypatch.setattr(output, "isatty_stdout", lambda: True)
    monkeypatch.setattr("shutil.get_terminal_size", lambda fallback=(80, 24): os.terminal_size((72, 24)))
    assert widest(ok(run("rules")).stdout) <= 72


def test_long_cells_wrap_at_words_and_nothing_is_lost(run, account):
    table = ok(run("rules", env={"COLUMNS": "100"})).stdout
    words = " ".join(table.split())
    from accountctl.core.audit import RULES

    for rule in RULES.values():  # every word of every description is still there, in order
        assert " ".join(rule.description.split()[:4]) in words or rule.description.split()[0] in words


def test_log_names_the_account_once_and_keeps_details_to_one_line(run, account):
    ok(run(f"account contributor add {FB} head@oak.sch.uk"))
    table = ok(run("log", env={"COLUMNS": "120"})).stdout
    header = table.splitlines()[0].split()
    assert header == ["seq", "at", "actor", "action", "target", "details"]  # no second column repeating the target
    request_line = next(line for line in table.splitlines() if "account.request" in line)
    assert request_line.count(FB) == 1 and request_line.rstrip().endswith("…")
    added = next(
        line for line in ok(run("log", env={"COLUMNS": "200"})).stdout.splitlines() if "account.contributor.add" in line
    )
    assert f"head@oak.sch.uk on {FB}" in added
    assert "{" not in table, "details are key=value, not raw JSON"
    whole = ok(run("log --wide")).stdout
    assert f"aim={LONG_AIM}" in whole
    rows = list(csv.DictReader(io.StringIO(ok(run("log --format csv")).stdout)))
    assert json.loads(rows[-1]["details"]) == {"email": "head@oak.sch.uk"}  # CSV keeps the record as it is


# -- 4. output that is safe -----------------------------------------------------------------------
def test_control_characters_already_in_a_register_are_shown_escaped(run, account):
    put_raw(account, "UPDATE staff SET name = ? WHERE email = ?", "Eve\x1b]0;PWNED\x07\x1b[2J", "t.one@oak.sch.uk")
    put_raw(account, "UPDATE staff SET name = ? WHERE email = ?", "Carl\rALL CLEAR: 0 errors", "t.two@oak.sch.uk")
    put_raw(account, "UPDATE accounts SET handle = ? WHERE id = ?", "Oak\x00Nul\x9b31m", FB)
    for args in ("staff list", "staff show t.one@oak.sch.uk", f"account show {FB}", "account list", "audit"):
        result = run(args, env={"COLUMNS": "200"})
        assert result.exit_code in (0, 1), result.stderr
        assert not UNSAFE.search(result.stdout.replace("\n", "")), (args, result.stdout)
        assert not UNSAFE.search(result.stderr.replace("\n", "")), (args, result.stderr)
    shown = ok(run("staff list")).stdout
    assert "Eve\\x1b]0;PWNED\\x07\\x1b[2J" in shown and "Carl\\rALL CLEAR: 0 errors" in shown
    assert "Oak\\x00Nul\\x9b31m" in ok(run("account list")).stdout


def test_csv_cells_that_a_spreadsheet_would_run_start_with_a_quote(run, oak):
    ok(
        run(
            [
                "staff",
                "add",
                "f.one@oak.sch.uk",
                "--name",
                '=HYPERLINK("http://evil.example","Click")',
                "--school",
                "oak",
            ]
        )
    )
    ok(run(["staff", "add", "f.two@oak.sch.uk", "--name", "+44 20 7946 0000", "--school", "oak"]))
    ok(run(["staff", "add", "f.three@oak.sch.uk", "--name", "@SUM(1+1)", "--school", "oak"]))
    ok(run(["staff", "add", "f.four@oak.sch.uk", "--name", "-2+3", "--school", "oak", "--policy-ack", "=1+1"]))
    rows = list(csv.reader(io.StringIO(ok(run("staff list --format csv")).stdout)))
    cells = [cell for row in rows for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    names = {row[0]: row[1] for row in rows[1:]}
    assert names["f.one@oak.sch.uk"] == '\'=HYPERLINK("http://evil.example","Click")'
    assert names["f.four@oak.sch.uk"] == "'-2+3"
    assert json.loads(ok(run("staff show f.one@oak.sch.uk --json")).stdout)["name"].startswith("=")  # JSON as stored


def test_account_show_csv_has_the_approval_in_columns_not_json(run, account):
    ok(run(f"person grant {HEAD} --access register"))
    ok(run(["--as", HEAD, "approve", FB, "--note", "Agreed at SLT"]))
    rows = list(csv.DictReader(io.StringIO(ok(run(f"--as {CUSTODIAN} account show {FB} --format csv")).stdout)))
    assert len(rows) == 1 and "approval" not in rows[0]
    row = rows[0]
    assert (row["approval_decision"], row["approval_approver"], row["approval_note"], row["approval_current"]) == (
        "approved",
        HEAD,
        "Agreed at SLT",
        "yes",
    )
    assert not any(v.startswith(("{", "[")) for v in row.values())


# -- 4. input that is refused ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ["staff", "add", "e@oak.sch.uk", "--name", "Eve\x1b]0;PWNED\x07\x1b[2J", "--school", "oak"],
        ["staff", "add", "c@oak.sch.uk", "--name", "Carl\rALL CLEAR: 0 errors", "--school", "oak"],
        ["staff", "add", "n@oak.sch.uk", "--name", "Nia\x85New", "--school", "oak"],
        ["staff", "add", "u@oak.sch.uk", "--name", "Bad\udcffBytes", "--school", "oak"],
        ["school", "add", "elm", "--name", "Elm\x7fSchool", "--domain", "elm.sch.uk"],
        ["staff", "train", "t.one@oak.sch.uk", "--on", "2026-09-01", "--policy-ack", "v1\x1b[2J"],
        ["config", "set", "policy_version", "2026\x1b[2J"],
    ],
    ids=["escape", "carriage-return", "c1", "not-utf8", "del", "policy-ack", "setting"],
)
def test_control_characters_in_names_and_text_are_refused(run, oak, args):
    line = refused(run, oak, args, 2)
    assert "control character" in line or "UTF-8" in line


def test_control_characters_in_handles_and_notes_are_refused(run, account):
    ok(run(f"person grant {HEAD} --access register"))
    refused(run, account, ["--as", HEAD, "approve", FB, "--note", "ok\rALL CLEAR"], 2, "control character")
    refused(
        run,
        account,
        [
            "--as",
            CUSTODIAN,
            "account",
            "request",
            "--school",
            "oak",
            "--platform",
            "x",
            "--handle",
            "Oak\x1bNews",
            "--url",
            "https://x.com/oaknews",
            "--category",
            "faculty",
            "--email",
            "office@oak.sch.uk",
            "--owner",
            "t.one@oak.sch.uk",
            "--admin",
            "t.two@oak.sch.uk",
            "--aim",
            "News",
            "--audience",
            "Parents",
            "--promotion",
            "Web",
            "--visibility",
            "open",
            "--pupils",
            "none",
        ],
        2,
        "handle",
        "control character",
    )


def test_nul_in_an_import_is_refused_naming_the_line(run, oak, tmp_path):
    staff_csv = tmp_path / "staff.csv"
    staff_csv.write_text(
        "email,name,school,roles,trained_on,policy_ack\n"
        "a.one@oak.sch.uk,Ann One,oak,,,\nb.two@oak.sch.uk,Oak\x00Nul,oak,,,\n",
        encoding="utf-8",
    )
    refused(run, oak, ["staff", "import", str(staff_csv)], 2, "line 3", "control character")
    accounts_json = tmp_path / "accounts.json"
    accounts_json.write_text(
        json.dumps([{"school": "oak", "platform": "x", "handle": "Oak\u0000Nul", "category": "faculty"}]),
        encoding="utf-8",
    )
    refused(run, oak, ["account", "import", str(accounts_json)], 2, "item 1", "control character")


def test_a_password_on_stdin_that_is_not_utf8_is_refused_cleanly(run, account):
    for secret in (b"x\xff\xfey\n", b"\xe9t\xe9-password\n"):  # random bytes; Latin-1 text
        result = run(f"cred set {FB}", input=secret)
        error_line(result, 2, "not UTF-8")
    before = account.read_bytes()
    error_line(run(f"cred totp {FB}", input=b"JBSWY3DP\xffEHPK3PXP\n"), 2, "not UTF-8")
    error_line(run(f"cred recovery {FB}", input=b"code-\xff\n"), 2, "not UTF-8")
    assert account.read_bytes() == before


def test_an_import_over_100_mb_is_refused_before_it_is_read(run, oak, tmp_path, monkeypatch):
    big = tmp_path / "huge.csv"
    with open(big, "wb") as handle:  # sparse: 100 MB and one byte, without writing them
        handle.truncate(100 * 1024 * 1024 + 1)
    opened = []
    real_open = open

    class Spy:
        """The file as opened, with every read recorded."""

        def __init__(self, handle):
            self.handle, self.read_sizes = handle, []

        def read(self, size=-1):
            self.read_sizes.append(size)
            return self.handle.read(size)

        def fileno(self):
            return self.handle.fileno()

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

    def spy(path, mode="r", *a, **k):
        handle = real_open(path, mode, *a, **k)
        if str(path) != str(big):
            return handle
        opened.append(Spy(handle))
        return opened[-1]

    monkeypatch.setattr("builtins.open", spy)
    for args in (
        ["staff", "import", str(big)],
        ["account", "import", str(big)],
        ["staff", "sync", str(big), "--school", "oak"],
    ):
        refused(run, oak, args, 2, "larger than 100 MB")
    assert len(opened) == 3 and all(h.read_sizes == [] for h in opened), "refused from its size, nothing read"


def test_import_errors_quote_at_most_80_characters_and_name_the_right_line(run, oak, tmp_path):
    header = "email,name,school,roles,trained_on,policy_ack\n"
    bad = tmp_path / "bad.csv"
    bad.write_text(header + "a.one@oak.sch.uk,Ann One,oak,,,\n" + "x" * 120_000 + "@oak,Bob,oak,,,\n", encoding="utf-8")
    line = refused(run, oak, ["staff", "import", str(bad)], 2, "line 3")
    assert len(line) < 200 and "x" * 81 not in line
    wide = tmp_path / "wide.csv"
    wide.write_text(header + "a.one@oak.sch.uk," + "y" * 140_000 + ",oak,,,\n", encoding="utf-8")
    refused(run, oak, ["staff", "import", str(wide)], 2, "line 2")
    date = tmp_path / "date.csv"
    date.write_text(header + "a.one@oak.sch.uk,Ann,oak,," + "9" * 5000 + ",\n", encoding="utf-8")
    line = refused(run, oak, ["staff", "import", str(date)], 2, "line 2", "trained_on")
    assert "9" * 81 not in line


def test_a_50_mb_one_line_file_is_refused_without_holding_many_copies_of_it(oak, tmp_path):
    import subprocess
    import sys

    huge = tmp_path / "one-line.csv"
    huge.write_bytes(b"x" * 50_000_000)
    probe = (
        "import resource, subprocess, sys; "
        "done = subprocess.run([sys.executable, '-m', 'accountctl', 'staff', 'import', sys.argv[1]], "
        "capture_output=True, text=True); "
        "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, done.stderr.strip())"
    )
    result = subprocess.run([sys.executable, "-c", probe, str(huge)], capture_output=True, text=True, timeout=120)
    code, peak_kib, error = result.stdout.split(" ", 2)
    assert code == "2" and "line 1 is longer than" in error
    assert int(peak_kib) < 200 * 1024, f"peak {int(peak_kib) // 1024} MB for a 50 MB file (was 330 MB)"


def test_excel_files_get_a_hint_to_save_as_csv_utf8(run, oak, tmp_path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes("email,name,school,roles,trained_on,policy_ack\na.one@oak.sch.uk,Zoë,oak,,,\n".encode("cp1252"))
    refused(run, oak, ["staff", "import", str(latin)], 2, "not UTF-8", "line 2", "CSV UTF-8")
    semi = tmp_path / "semi.csv"
    semi.write_text("email;name;school;roles;trained_on;policy_ack\na.one@oak.sch.uk;Ann;oak;;;\n", encoding="utf-8")
    refused(run, oak, ["staff", "import", str(semi)], 2, "semicolons", "CSV UTF-8")


# -- 5. checks before prompts ---------------------------------------------------------------------
@pytest.fixture
def terminal(monkeypatch):
    """As on a terminal: prompts instead of ACCOUNTCTL_PASSPHRASE and stdin."""
    monkeypatch.setattr(output, "isatty_stdin", lambda: True)
    monkeypatch.delenv("ACCOUNTCTL_PASSPHRASE")


def test_a_mistyped_account_is_refused_before_the_password_is_asked_for(run, account, terminal):
    result = run("cred set oak-facebook-oakprimry", input=f"{PASSPHRASE}\n{STRONG}\n{STRONG}\n")
    assert result.exit_code == 2
    assert result.stderr.count("Passphrase") == 1 and "Password" not in result.stderr
    assert f"unknown account 'oak-facebook-oakprimry' (did you mean {FB}?)" in result.stderr
    for args in ("cred totp oak-facebook-oakprimry", "cred recovery oak-facebook-oakprimry"):
        result = run(args, input=f"{PASSPHRASE}\nJBSWY3DPEHPK3PXP\n")
        assert result.exit_code == 2 and "TOTP" not in result.stderr and "recovery codes" not in result.stderr


def test_the_password_prompt_names_the_account_and_the_passphrase_is_asked_once(run, account, terminal):
    result = ok(run(f"cred set {FB}", input=f"{PASSPHRASE}\n{STRONG}\n{STRONG}\n"))
    assert f"Password for {FB}:" in result.stderr and f"Repeat password for {FB}:" in result.stderr
    assert result.stderr.count("Passphrase") == 1, result.stderr


def test_passwd_asks_for_the_current_passphrase_first(run, oak, terminal, monkeypatch):
    monkeypatch.delenv("ACCOUNTCTL_NEW_PASSPHRASE")
    before = oak.read_bytes()
    result = run("passwd", input="not my passphrase\n")
    assert result.exit_code == 3 and "wrong passphrase" in result.stderr
    assert "new passphrase" not in result.stderr.split("Error:")[0], "the new one is asked only after the current one"
    assert oak.read_bytes() == before
    new = "quiet harbour lantern morning"
    result = ok(run("passwd", input=f"{PASSPHRASE}\n{new}\n{new}\n"))
    assert result.stderr.index("Passphrase") < result.stderr.index("Enter your new passphrase")


# -- 6. weak secrets ------------------------------------------------------------------------------
@pytest.mark.parametrize("weak", ["passwordpassword", "1234567890", "iloveyou2024", "Password2026!"])
def test_a_weak_new_passphrase_from_the_environment_is_refused(run, register_path, weak):
    result = run(
        f'init --trust "Oak Trust" --email {CUSTODIAN} --name "Ira Tech"', env={"ACCOUNTCTL_NEW_PASSPHRASE": weak}
    )
    line = error_line(result, 2, "ACCOUNTCTL_NEW_PASSPHRASE", "too easy to guess")
    assert weak not in line and not register_path.exists()


def test_a_weak_grant_passphrase_is_refused_and_changes_nothing(run, oak):
    refused(
        run,
        oak,
        f"person grant {HEAD} --access register",
        2,
        "too easy to guess",
        env={"ACCOUNTCTL_NEW_PASSPHRASE": "passwordpassword"},
    )


def test_a_short_or_weak_passphrase_at_the_prompt_is_asked_again(run, oak, terminal, monkeypatch):
    monkeypatch.delenv("ACCOUNTCTL_NEW_PASSPHRASE")
    new = "quiet harbour lantern morning"
    result = ok(run("passwd", input=f"{PASSPHRASE}\nshort\npasswordpassword\n{new}\n{new}\n"))
    assert "at least 10 characters. Try again." in result.stderr
    assert "too easy to guess" in result.stderr and "Add another word or two" in result.stderr
    assert result.stderr.count("Enter your new passphrase") == 3
    with store.open_register(oak, actor=CUSTODIAN, passphrase_source=lambda: new, use_keyring=False):
        pass


def test_a_weak_password_is_stored_with_a_warning_and_zxcvbn_advice(run, account):
    weak = ok(run(f"cred set {FB}", input="Summer2024!\n"))
    assert "Warning: that password is weak" in weak.stderr and "Summer2024!" not in weak.stderr
    assert "similar to a commonly used password" in weak.stderr and f"accountctl cred generate {FB}" in weak.stderr
    assert "Warning" not in ok(run(f"cred set {FB}", input="Summer2024!-harbour-lantern\n")).stderr
    summer = ok(run(f"cred set {FB}", input="Summer2024!Summer2024!\n"))  # long enough: judged by its strength
    assert "weak (strength 2/4: Repeats" in summer.stderr and "Avoid repeated words" in summer.stderr


# -- 7. help and "did you mean" -------------------------------------------------------------------
def test_import_help_shows_the_header(run):
    assert (
        "id,school,platform,handle,url,category,email,owner,admins,contributors,status"
        in ok(run("account import --help")).stdout
    )
    assert "email,name,school,roles,trained_on,policy_ack" in ok(run("staff import --help")).stdout
    assert "userPrincipalName,displayName,accountEnabled" in ok(run("staff sync --help")).stdout


def test_commands_that_unlock_nobody_do_not_offer_as(run):
    # (rules reads the trust's own clauses from the register when there is one, so it takes --as.)
    for args in ("init --help", "vault status --help"):
        assert "--as" not in ok(run(args)).stdout, args
    assert "--as" in ok(run("audit --help")).stdout


def test_config_set_help_lists_every_key(run):
    from accountctl.core.config import DEFAULTS

    text = ok(run("config set --help")).stdout
    for key in DEFAULTS:
        assert (key if not key.startswith(("min_age.", "access.")) else key.split(".")[0] + ".PLATFORM") in text
    assert "limit.PLATFORM.CATEGORY" in text


def test_contributor_wording(run, account):
    assert "Add a contributor" in ok(run("account contributor add --help")).stdout
    assert "an contributor" not in ok(run("account contributor --help")).stdout
    assert "is now a contributor of" in ok(run(f"account contributor add {FB} head@oak.sch.uk")).stderr
    refused(run, account, f"account contributor add {FB} head@oak.sch.uk", 2, "already a contributor")


@pytest.mark.parametrize(
    "args, words",
    [
        ("account show oak-facebook-oakprimry", [f"did you mean {FB}?"]),
        ("staff list --school oka", ["unknown school 'oka'", "did you mean oak?"]),
        ("staff show t.onr@oak.sch.uk", ["did you mean t.one@oak.sch.uk?"]),
        ("offboard t.onr@oak.sch.uk", ["did you mean t.one@oak.sch.uk?"]),
        ("audit --rule TWO_ADMIN", ["did you mean TWO_ADMINS?"]),
        ("config set policy_versoin 2026", ["did you mean policy_version?"]),
        ("account list --platform facebok", ["did you mean facebook?"]),
        ("staf list", ["Did you mean 'staff'?"]),
        ("log --account oak-facebook-oakprimry", [f"did you mean {FB}?"]),
    ],
)
def test_unknown_ids_get_the_nearest_known_ones(run, account, args, words):
    refused(run, account, args, 2, *words)


def test_an_id_nothing_is_near_gets_no_suggestion(run, account):
    line = refused(run, account, "account show zzz-nothing-like-it", 2, "unknown account")
    assert "did you mean" not in line


# -- 8. smaller edges -----------------------------------------------------------------------------
def test_approve_names_the_accounts_open_errors(run, account):
    ok(run(f"person grant {HEAD} --access register"))
    # A contributor who has left: an open error that does not stop the decision (an ineligible admin would).
    ok(run(f'--as {CUSTODIAN} staff add c.one@oak.sch.uk --name "Cy One" --school oak --role staff'))
    ok(run(f"--as {CUSTODIAN} account contributor add {FB} c.one@oak.sch.uk"))
    ok(run(f"--as {CUSTODIAN} staff leave c.one@oak.sch.uk --on 2026-01-01"))
    result = ok(run(["--as", HEAD, "approve", FB]))
    assert f"Still open on {FB}" in result.stderr and "LEAVER_ADMIN" in result.stderr


def test_reject_says_what_comes_next(run, account):
    ok(run(f"person grant {HEAD} --access register"))
    ok(run(["--as", HEAD, "approve", FB]))
    ok(run(f"--as {CUSTODIAN} account update {FB} --audience Parents-and-carers"))  # a change: a new decision is due
    approved = ok(run(["--as", HEAD, "reject", FB, "--reason", "Not with this audience"]))
    assert f"accountctl account close {FB}" in approved.stderr and "already created on the platform" in approved.stderr
    ok(
        run(
            f"--as {CUSTODIAN} account request --school oak --platform x --handle OakNews --url https://x.com/OakNews "
            "--category faculty --email office@oak.sch.uk --owner t.one@oak.sch.uk --admin t.two@oak.sch.uk "
            "--aim News --audience Parents --promotion Newsletter --visibility open --pupils none"
        )
    )
    requested = ok(run(["--as", HEAD, "reject", "oak-x-oaknews", "--reason", "One channel is enough"]))
    assert "Tell the requester why" in requested.stderr and "close" not in requested.stderr


def test_the_no_keyring_notice_never_stands_beside_an_error(run, account, isolated):
    from keyring.backends import fail

    from accountctl.store import keyring_cache

    keyring.set_keyring(fail.Keyring())
    keyring_cache.reset()
    error_line(run("account show oak-facebook-oakprimry"), 2, "unknown account")  # unlocked, then failed
    keyring_cache.reset()
    shown = ok(run(f"account show {FB}"))
    assert shown.stderr.count("Notice: no OS keyring") == 1, "still due: the failed command did not use it up"
    keyring_cache.reset()
    assert "Notice" not in ok(run(f"account show {FB}")).stderr


# -- 9. docs that keep secrets out of shell history -----------------------------------------------
def test_help_and_guides_never_put_a_secret_on_a_command_line(run):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    texts = {
        "init --help": ok(run("init --help")).stdout,
        "cred totp --help": ok(run("cred totp --help")).stdout,
        "cred set --help": ok(run("cred set --help")).stdout,
        "README.md": (root / "README.md").read_text(),
    }
    for page in (root / "docs").glob("*.md"):
        texts[page.name] = page.read_text(encoding="utf-8")
    for name, text in texts.items():
        assert not re.search(r"ACCOUNTCTL_(NEW_)?PASSPHRASE=[^ `]", text), name
        assert not re.search(r"(printf|echo) .*(secret=|otpauth://)", text), name
        assert not re.search(r">\s*/var/tmp|/tmp/audit", text), name  # reports go to a private folder
    assert "umask 077" in texts["guide-it.md"]


# -- the input check itself ---------------------------------------------------------------------------


@given(st.text(max_size=60))
def test_free_text_is_refused_exactly_when_it_holds_a_control_character(text):
    bad = [
        ch
        for ch in text.strip()
        if ch != "\t" and (ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F or 0xD800 <= ord(ch) <= 0xDFFF)
    ]
    try:
        value = model.nonempty(text, "name")
    except InputError as exc:
        assert bad or not text.strip() or len(text.strip()) > 2000, str(exc)
        assert len(str(exc)) < 120
    else:
        assert not bad and value == text.strip()
