"""What the database holds is input too (issue 22).

Every key holder can decrypt the register, so one of them can write anything into it with the
project's own store module and their own passphrase, past every check the CLI makes on input. These
tests do exactly that, as the headteacher (a register-only key holder, her save signed in her own
name), and then check what every renderer makes of it: links on the public page, control, bidi and
zero-width characters in tables, records, CSV, JSON, HTML and error lines, and formulas in CSV.
The last part checks that bidi and zero-width characters are refused wherever text comes in.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re

import pytest

from accountctl.store.register import open_register
from conftest import HEAD, PASSPHRASE, error_line, ok, refused
from test_audit_rules import FB, SLT, T1, T2, T3, TODAY, base  # noqa: F401

# Characters that reorder or hide text (bidi embeddings, overrides, isolates and marks; zero-width ones).
INVISIBLE = (
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
    "\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff\u180e"
)
# A value an insider writes: it retitles the terminal, reverses what follows it, hides characters.
HOSTILE = "Eve\x1b]0;PWNED\x07 \u202eevil\u202c \x7f\x85\x9b[2J " + INVISIBLE
# What output may never carry raw (line ends between lines aside; a tab only where the format allows one).
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029" + INVISIBLE + "]")


def insider(path, sql: str, *args) -> None:
    """As the headteacher, with her own passphrase: change the decrypted database directly, bypassing the CLI."""
    with open_register(path, actor=HEAD, passphrase_source=lambda: PASSPHRASE, write=True, use_keyring=False) as reg:
        reg.db.execute(sql, args)


def insider_url(run, path, url: str) -> None:
    """As the headteacher: write a URL past the CLI's checks, then approve the case she made (publish
    lists only a case SLT approved as it now is, so an address nobody approved never reaches it at all)."""
    insider(path, "UPDATE accounts SET url = ? WHERE id = ?", url, FB)
    ok(run(SLT + ["approve", FB]))


def raw_in(text: str, tab_allowed: bool = False) -> list[str]:
    """The characters of `text` that a terminal, spreadsheet or browser would act on."""
    return [ch for ch in RAW.findall(text.replace("\n", "")) if not (tab_allowed and ch == "\t")]


def hrefs(page: str) -> list[str]:
    """Every link target of an HTML page, as a browser reads it (entities decoded)."""
    return [html.unescape(h) for h in re.findall(r"""href\s*=\s*["']?([^"' >]*)""", page, flags=re.I)]


# -- 1. links: only http(s) becomes a link ----------------------------------------------------------
HOSTILE_URLS = [
    "javascript:alert(document.cookie)",
    "JaVaScRiPt:alert(document.cookie)",
    "javascript://oak.sch.uk/%0Aalert(document.cookie)",  # has a "host", as urlsplit reads it
    " javascript:alert(1)",
    "\x01javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "\u200bjavascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "//evil.example/oakprimary",
    "https://www.facebook.com/oak\u202eprimary",
    "https://www.facebook.com/oak primary",
]


@pytest.mark.parametrize("bad", HOSTILE_URLS)
def test_publish_never_links_a_url_that_is_not_http(run, base, tmp_path, bad):
    insider_url(run, base, bad)
    page_path = tmp_path / "channels.html"
    result = ok(run(["publish", "--out", str(page_path)]))
    page = page_path.read_text(encoding="utf-8")
    assert all(re.match(r"(https?://|mailto:)", h, flags=re.I) for h in hrefs(page)), hrefs(page)
    assert "javascript:" not in page.lower() and "vbscript:" not in page.lower() and "data:text" not in page
    assert raw_in(page) == []
    assert FB in result.stderr and "http" in result.stderr  # says which account's URL it refused
    assert raw_in(result.stderr) == []
    assert "oakprimary" in page  # the channel is still listed, its handle as text
    data = json.loads(ok(run(["publish", "--format", "json"])).stdout)
    (channel,) = data["schools"][0]["channels"]
    assert channel["url"] is None and channel["handle"] == "oakprimary"  # a website is never handed it as a link
    from test_schemas import problems, validator

    assert problems(validator("publish.schema.json"), data) == []
    rows = list(csv.DictReader(io.StringIO(ok(run(["publish", "--format", "csv"])).stdout)))
    assert rows[0]["url"] == ""


def test_an_http_link_in_any_letter_case_is_still_a_link(run, base, tmp_path):
    insider_url(run, base, "HTTPS://www.facebook.com/oakprimary")
    page_path = tmp_path / "channels.html"
    result = ok(run(["publish", "--out", str(page_path)]))
    assert "HTTPS://www.facebook.com/oakprimary" in hrefs(page_path.read_text(encoding="utf-8"))
    assert FB not in result.stderr
    data = json.loads(ok(run(["publish", "--format", "json"])).stdout)
    assert data["schools"][0]["channels"][0]["url"] == "HTTPS://www.facebook.com/oakprimary"


def test_a_contact_that_is_not_an_email_address_is_not_made_a_link(run, base, tmp_path):
    insider(base, "INSERT INTO meta(key, value) VALUES ('config.contact.oak', ?)", "javascript:alert(1)//@oak.sch.uk")
    page_path = tmp_path / "channels.html"
    result = ok(run(["publish", "--out", str(page_path)]))
    page = page_path.read_text(encoding="utf-8")
    assert all(re.match(r"(https?://|mailto:[^:]*$)", h, flags=re.I) for h in hrefs(page)), hrefs(page)
    assert "javascript:" not in page
    assert "contact.oak" in result.stderr
    assert json.loads(ok(run(["publish", "--format", "json"])).stdout)["schools"][0]["report_fakes_to"] is None


def test_the_governors_report_links_nothing_from_the_register(run, base, tmp_path):
    insider(base, "UPDATE accounts SET url = ? WHERE id = ?", "javascript:alert(document.cookie)", FB)
    page_path = tmp_path / "report.html"
    ok(run(["report", "--out", str(page_path)]))
    page = page_path.read_text(encoding="utf-8")
    assert all(h.startswith("#") for h in hrefs(page)), [h for h in hrefs(page) if not h.startswith("#")]


def test_the_channel_page_checks_links_again_whatever_data_it_is_given():
    from accountctl.core import publish

    page = publish.render_html(
        {
            "updated_on": "2026-10-01",
            "schools": [
                {
                    "school": "Oak Primary",
                    "report_fakes_to": "javascript:alert(1)//@oak.sch.uk",
                    "channels": [{"platform": "facebook", "handle": "oak", "url": url} for url in HOSTILE_URLS],
                }
            ],
        }
    )
    assert hrefs(page) == []


@pytest.mark.parametrize(
    "bad", [*HOSTILE_URLS, "", None, 42, "https://", "http://[oak", "https:evil.example", "ftp://x"]
)
def test_web_link_refuses_all_but_http_addresses(bad):
    from accountctl import safetext

    assert safetext.web_link(bad) is None


@pytest.mark.parametrize(
    "good", ["https://www.facebook.com/oakprimary", "http://oak.sch.uk", "HtTpS://x.com/oak?a=1&b=2"]
)
def test_web_link_keeps_http_addresses_as_they_are(good):
    from accountctl import safetext

    assert safetext.web_link(good) == good


# -- 2 and 3. control, bidi and zero-width characters are shown escaped in every format -------------
COMMANDS = ["account list", f"account show {FB}", "staff list", f"staff show {T1}", "audit", "school list", "export"]


@pytest.fixture
def hostile(base):
    """The register after the headteacher wrote HOSTILE into a school's name, a handle and a staff name."""
    insider(base, "UPDATE schools SET name = ? WHERE id = 'oak'", HOSTILE)
    insider(base, "UPDATE accounts SET handle = ? WHERE id = ?", HOSTILE, FB)
    insider(base, "UPDATE staff SET name = ? WHERE email = ?", HOSTILE, T1)
    return base


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
@pytest.mark.parametrize("args", COMMANDS)
def test_no_format_sends_a_control_or_invisible_character_as_it_is(run, hostile, args, fmt):
    result = run([*args.split(), "--format", fmt], env={"COLUMNS": "300"})
    assert result.exit_code in (0, 1), result.stderr
    assert raw_in(result.stdout, tab_allowed=fmt == "csv") == [], result.stdout
    assert raw_in(result.stderr) == [], result.stderr
    if fmt != "json" and args not in ("export", "audit"):  # the compliant register's audit finds nothing
        assert "Eve\\x1b]0;PWNED\\x07 \\u202eevil\\u202c \\x7f\\x85\\x9b[2J \\u202a" in result.stdout


def test_json_escapes_them_and_still_gives_back_the_value_as_stored(run, hostile):
    for args in (f"staff show {T1}", "staff list", "export"):
        text = ok(run([*args.split(), "--json"])).stdout
        assert raw_in(text) == [] and "\\u202e" in text and "\\u007f" in text
    assert json.loads(ok(run(["staff", "show", T1, "--json"])).stdout)["name"] == HOSTILE
    schools = json.loads(ok(run(["export"])).stdout)["schools"]
    assert [s["name"] for s in schools if s["id"] == "oak"] == [HOSTILE]


def test_error_lines_and_messages_show_them_escaped(run, hostile):
    insider(hostile, "UPDATE staff SET left_on = ? WHERE email = ?", "2026-01-01" + HOSTILE, T3)
    line = error_line(run(["account", "contributor", "add", FB, T3]), 2, "left on")
    assert raw_in(line) == [] and "\\u202e" in line
    result = run(["offboard", "--leaving-before", "2027-01-01"])
    assert result.exit_code == 1, result.stderr
    assert raw_in(result.stdout) == [] and raw_in(result.stderr) == []
    assert "2026-01-01Eve\\x1b]0;PWNED" in result.stdout


def test_html_pages_show_them_as_visible_escaped_text(run, hostile, tmp_path):
    ok(run([*SLT, "approve", FB]))  # the head approves the handle she wrote: publish lists only an approved case
    ok(run(["staff", "leave", T3, "--on", "2026-09-30"]))
    insider(hostile, "UPDATE staff SET name = ? WHERE email = ?", HOSTILE, T3)
    ok(run([*SLT, "waive", FB, "MONITORING_LAPSED", "--reason", "Half term", "--until", "2026-10-20"]))
    insider(hostile, "UPDATE waivers SET reason = ?", HOSTILE)
    report, channels = tmp_path / "report.html", tmp_path / "channels.html"
    result = ok(run(["report", "--out", str(report), "--json"]))
    assert raw_in(result.stdout) == [] and json.loads(result.stdout)["leavers"][0]["name"] == HOSTILE
    ok(run(["publish", "--out", str(channels)]))
    for page in (report.read_text(encoding="utf-8"), channels.read_text(encoding="utf-8")):
        assert raw_in(page) == []  # an HTML-escaped U+202E still reverses the text after it in a browser
        assert "Eve\\x1b]0;PWNED\\x07 \\u202eevil\\u202c" in page
    assert report.read_text(encoding="utf-8").count("\\u202e") >= 3  # school, leaver's name, waiver's reason


def test_a_revealed_secret_is_exact_into_a_pipe_and_escaped_on_a_terminal(run, base, monkeypatch):
    planted = "Xk8#pQ2!vLm9@wRt4zYb\x1b]52;c;ZXZpbA==\x07\u202e"  # OSC 52 would write the terminal's clipboard
    ok(run(["cred", "set", FB], input=planted + "\n"))
    piped = ok(run(["cred", "show", FB, "--field", "password", "--reason", "handover"]))
    assert piped.stdout == planted + "\n"  # what a pipe to the clipboard needs
    from accountctl.cli import output

    monkeypatch.setattr(output, "isatty_stdout", lambda: True)
    shown = ok(run(["cred", "show", FB, "--field", "password", "--reason", "handover"]))
    assert raw_in(shown.stdout) == [] and "\\x1b]52;c;ZXZpbA==\\x07\\u202e" in shown.stdout
    assert "shown escaped" in shown.stderr


@pytest.mark.parametrize("value", ["plain\x7fascii", "Zoë\x7f", "Zoë\u202e", "a\x85b", "\u2028", "ok", "Zoë"])
def test_json_text_writes_them_as_escapes_a_parser_reads_back(value):
    from accountctl.cli import output

    for data in (value, {"name": value}, [{"name": value, "n": 1}, {"name": "x"}]):
        text = output.to_json(data)
        assert raw_in(text) == [] and json.loads(text) == data


def test_each_format_keeps_a_tab_only_where_it_is_white_space():
    from accountctl import safetext

    assert safetext.escape("a\tb\u200bc") == "a\\tb\\u200bc"  # a table's columns are aligned with spaces
    assert safetext.escape_cell("a\tb\u200bc\x1b") == "a\tb\\u200bc\\x1b"
    assert safetext.html_text("<b>\t\u202e&</b>") == "&lt;b&gt;\t\\u202e&amp;&lt;/b&gt;"


def test_plain_text_lines_show_them_escaped(run, base):
    insider(base, "UPDATE approvals SET approver = ?", "x" + HOSTILE)
    problems = run(["verify"])
    assert problems.exit_code == 1 and "signed with a key that is not xEve\\x1b]0;PWNED" in problems.stdout
    ok(run(["incident", "open", FB, "--kind", "abuse", "--summary", "Posts we did not write"]))
    insider(base, "UPDATE incidents SET opened_at = opened_at || ?", HOSTILE)
    runbook = ok(run(["incident", "show", "inc-1"]))
    assert "Eve\\x1b]0;PWNED\\x07 \\u202eevil" in runbook.stdout
    for result in (problems, runbook):
        assert raw_in(result.stdout) == [] and raw_in(result.stderr) == []


# -- 3. bidi and zero-width characters are refused wherever text comes in ---------------------------
def _options(x: str) -> list[tuple[list[str], str]]:
    """Commands that take text from an option, each with `x` in one value, and the word its refusal names."""
    from test_audit_rules import request_argv

    def request(option: str, value: str) -> list[str]:
        argv = request_argv("oak-x-oaknews", platform="x", handle="oaknews")
        argv[argv.index(option) + 1] = value
        return argv

    found = ["account", "found", "--school", "oak", "--platform", "tiktok", "--handle", "oakfake"]
    return [
        (["staff", "add", "n@oak.sch.uk", "--name", f"Eve{x}One", "--school", "oak"], "name"),
        (["staff", "add", f"n{x}@oak.sch.uk", "--name", "Eve One", "--school", "oak"], "email"),
        (["school", "add", "ash", "--name", f"Ash{x} Primary", "--domain", "ash.sch.uk"], "name"),
        (["staff", "train", T1, "--on", TODAY, "--policy-ack", f"2026{x}.1"], "policy"),
        (["config", "set", "policy_version", f"2027{x}"], "policy_version"),
        (["config", "set", "clause.TWO_ADMINS", f"Policy 4.2{x}"], "clause"),
        (["config", "set", "contact.oak", f"office{x}@oak.sch.uk"], "contact"),
        (request("--handle", f"oak{x}news"), "handle"),
        (request("--url", f"https://www.x.com/oak{x}news"), "url"),
        (request("--email", f"office{x}@oak.sch.uk"), "email"),
        (request("--owner", f"t.one{x}@oak.sch.uk"), "owner"),
        (request("--aim", f"News{x} for parents"), "aim"),
        (request("--audience", f"Parents{x}"), "audience"),
        (request("--promotion", f"Newsletter{x}"), "promotion"),
        (["account", "update", FB, "--audience", f"Parents{x}"], "audience"),
        (["account", "update", FB, "--url", f"https://www.facebook.com/oak{x}primary"], "url"),
        ([*found, "--url", "https://www.tiktok.com/@oakfake", "--source", f"A parent{x}"], "source"),
        ([*found, "--url", f"https://www.tiktok.com/@oak{x}fake", "--source", "A parent"], "url"),
        ([*SLT, "waive", FB, "MONITORING_LAPSED", "--reason", f"Half{x} term", "--until", "2026-10-20"], "reason"),
        (["account", "suspend", FB, "--reason", f"Paused{x}"], "reason"),
        (["account", "transfer", FB, "--to", T2, "--reason", f"Leaving{x}"], "reason"),
        (["incident", "open", FB, "--kind", "abuse", "--summary", f"Posts{x} we did not write"], "summary"),
        (["monitor", FB, "--note", f"Checked{x}"], "note"),
        ([*SLT, "review", FB, "--note", f"Fine{x}"], "note"),
        (["cred", "show", FB, "--reason", f"Handover{x}"], "reason"),
    ]


OPTION_CASES = [(x, i) for x in ("\u202e", "\u200b") for i in range(len(_options("")))]


@pytest.mark.parametrize(
    "x, case",
    OPTION_CASES,
    ids=[f"{ord(x):04x}-{_options('')[i][0][:2]}-{_options('')[i][1]}" for x, i in OPTION_CASES],
)
def test_options_refuse_bidi_and_zero_width_characters(run, base, x, case):
    args, field = _options(x)[case]
    assert x not in "".join(_options("")[case][0])
    line = refused(run, base, args, 2, field)
    assert raw_in(line) == []


def test_decisions_and_incident_steps_refuse_them(run, base):
    from test_audit_rules import request_argv

    ok(run(request_argv("oak-x-oaknews", platform="x", handle="oaknews")))
    refused(run, base, [*SLT, "approve", "oak-x-oaknews", "--note", "Agreed\u202e"], 2, "note")
    refused(run, base, [*SLT, "reject", "oak-x-oaknews", "--reason", "No\u200b"], 2, "reason")
    ok(run(["incident", "open", FB, "--kind", "abuse", "--summary", "Posts we did not write"]))
    refused(run, base, ["incident", "step", "inc-1", "content-removed", "--note", "Done\u2066"], 2, "note")
    refused(run, base, ["incident", "close", "inc-1", "--outcome", "Over\ufeff"], 2, "outcome")
    before = base.read_bytes()
    error_line(
        run(["cred", "set", FB, "--username", "oak\u200dprimary"], input="Quartz-Lantern-97!Pelican\n"), 2, "username"
    )
    assert base.read_bytes() == before
    ok(run(["attest", "start", "--due", "2026-12-01"]))
    refused(run, base, ["attest", "record", FB, "--admins", f"{T1},{T2},Eve\u202e", "--mfa", "totp"], 2, "admins")
    admins = ["--admins", f"{T1},{T2},{T3}", "--mfa", "totp"]
    refused(run, base, ["attest", "record", FB, *admins, "--note", "Seen\u2069"], 2, "note")
    refused(run, base, ["attest", "record", FB, *admins, "--recovery", "Codes\u200b held by IT"], 2, "recovery")


STAFF_HEADER = "email,name,school,roles,trained_on,policy_ack\n"


@pytest.mark.parametrize("x", ["\u202e", "\u200b", "\u2066", "\u200c", "\ufeff"])
def test_imports_refuse_them_naming_the_row(run, base, tmp_path, x):
    staff_csv = tmp_path / "staff.csv"
    staff_csv.write_text(
        f"{STAFF_HEADER}a.one@oak.sch.uk,Ann One,oak,staff,,\nb.two@oak.sch.uk,Bea{x}Two,oak,staff,,\n"
    )
    refused(run, base, ["staff", "import", str(staff_csv)], 2, "line 3", "name")
    refused(run, base, ["staff", "sync", str(staff_csv), "--school", "oak", "--apply"], 2, "line 3", "name")
    accounts_csv = tmp_path / "accounts.csv"
    accounts_csv.write_text(
        "id,school,platform,handle,url,category,email,owner,admins,contributors,status\n"
        f",oak,x,oak{x}news,https://x.com/oaknews,faculty,office@oak.sch.uk,{T1},{T2};{T3},,active\n"
    )
    refused(run, base, ["account", "import", str(accounts_csv)], 2, "line 2", "handle")
    accounts_json = tmp_path / "accounts.json"
    item = {"school": "oak", "platform": "x", "handle": "oaknews", "category": "faculty", "owner": f"{T1}"}
    accounts_json.write_text(json.dumps([item, {**item, "handle": "oakpta", "url": f"https://x.com/oak{x}pta"}]))
    refused(run, base, ["account", "import", str(accounts_json)], 2, "item 2", "url")


def test_a_byte_order_mark_that_starts_a_file_is_not_a_value(run, base, tmp_path):
    staff_csv = tmp_path / "staff.csv"
    staff_csv.write_text("\ufeff" + STAFF_HEADER + "a.one@oak.sch.uk,Ann One,oak,staff,,\n", encoding="utf-8")
    ok(run(["staff", "import", str(staff_csv)]))
    accounts_json = tmp_path / "accounts.json"
    item = {"school": "oak", "platform": "x", "handle": "oaknews", "category": "faculty", "owner": T1}
    accounts_json.write_text("\ufeff" + json.dumps([item]), encoding="utf-8")
    ok(run(["account", "import", str(accounts_json)]))
    assert ok(run(["staff", "show", "a.one@oak.sch.uk", "--json"])).stdout.count("Ann One") == 1


@pytest.mark.parametrize("x", list(INVISIBLE))
def test_every_invisible_character_is_refused_and_named(x):
    from accountctl import model
    from accountctl.errors import InputError

    with pytest.raises(InputError) as refusal:
        model.nonempty(f"Bea{x}Two", "name")
    assert f"U+{ord(x):04X}" in str(refusal.value) and "name" in str(refusal.value)
    assert model.nonempty("Zoë O'Brien-Smith\t(Year 6)", "name")  # accents, apostrophes and tabs are still text


# -- 4. a CSV cell a spreadsheet would run is text, whoever wrote the value --------------------------
CSV_COMMANDS = [
    "account list",
    f"account show {FB}",
    "staff list",
    f"staff show {T1}",
    "school list",
    "incident list",
    "incident show inc-1",
    "log",
    "audit",
    f"offboard {T1}",
    "offboard --leaving-before 2027-01-01",
    "publish",
    "person list",
    "config show",
]


def test_every_csv_prefixes_a_formula_an_insider_wrote(run, base, tmp_path):
    ok(run(["incident", "open", FB, "--kind", "abuse", "--summary", "Posts we did not write"]))
    insider(base, "UPDATE schools SET name = ? WHERE id = 'oak'", '=HYPERLINK("http://evil.example","Click")')
    insider(base, "UPDATE accounts SET handle = ? WHERE id = ?", "+SUM(1+1)", FB)
    insider(base, "UPDATE staff SET name = ?, policy_ack = ? WHERE email = ?", "@SUM(1+1)", "-1+2", T1)
    insider(base, "UPDATE incidents SET opened_by = ?", "-2+3")
    insider(base, "UPDATE approvals SET note = ?", "\t=1+1")
    insider(base, "UPDATE people SET name = ? WHERE email = ?", "\r=1+1", HEAD)
    insider(base, "INSERT INTO meta(key, value) VALUES ('config.policy_version', ?)", "=2+2")
    seen = set()
    for args in CSV_COMMANDS:
        result = run([*args.split(), "--format", "csv"], env={"COLUMNS": "300"})
        assert result.exit_code in (0, 1), (args, result.stderr)
        rows = list(csv.reader(io.StringIO(result.stdout, newline="")))
        assert rows, args
        for cell in (c for row in rows for c in row):
            assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r"), (args, cell)
            seen.add(cell)
    report = tmp_path / "report.html"
    for cell in (
        c
        for row in csv.reader(io.StringIO(ok(run(["report", "--out", str(report), "--format", "csv"])).stdout))
        for c in row
    ):
        assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r"), cell
    for planted in ('=HYPERLINK("http://evil.example","Click")', "+SUM(1+1)", "@SUM(1+1)", "-2+3", "\t=1+1", "=2+2"):
        assert "'" + planted in seen, planted  # each one reached a CSV, as text
    assert "'\\r=1+1" in seen  # a carriage return is prefixed, then shown escaped


@pytest.mark.parametrize("entry", ["accountctl.fast", "accountctl"])
def test_an_argument_that_is_not_utf8_is_refused_in_one_line(run, oak, entry):
    """A Latin-1 terminal's 'é' (one byte, 0xE9) once ended as an internal error (UnicodeEncodeError)."""
    import os
    import subprocess
    import sys

    before = oak.read_bytes()
    result = subprocess.run(
        [sys.executable, "-m", entry, "account", "show", b"caf\xe9"],
        env=dict(os.environ, ACCOUNTCTL_REGISTER=str(oak), ACCOUNTCTL_NO_AGENT="1"),
        capture_output=True,
    )
    assert result.returncode == 2 and result.stdout == b""
    assert result.stderr.decode("ascii") == (
        "Error: argument caf\\xe9 is not UTF-8 text: type it again, or set your terminal to UTF-8\n"
    )
    assert oak.read_bytes() == before
