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
from conftest import HEAD, PASSPHRASE, error_line, ok
from test_audit_rules import FB, SLT, T1, T3, base  # noqa: F401

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
    insider(base, "UPDATE accounts SET url = ? WHERE id = ?", bad, FB)
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
    insider(base, "UPDATE accounts SET url = ? WHERE id = ?", "HTTPS://www.facebook.com/oakprimary", FB)
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
    assert safetext.html_link(bad, "text") == "text"


@pytest.mark.parametrize(
    "good", ["https://www.facebook.com/oakprimary", "http://oak.sch.uk", "HtTpS://x.com/oak?a=1&b=2"]
)
def test_web_link_keeps_http_addresses_as_they_are(good):
    from accountctl import safetext

    assert safetext.web_link(good) == good
    assert safetext.html_link(good, "t") == f'<a href="{html.escape(good)}" rel="noopener">t</a>'


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
