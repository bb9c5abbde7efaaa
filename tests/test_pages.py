"""The HTML pages come from templates that cannot print a register value unchecked (issue 23).

`pages.render` shows every string it is given as `safetext.escape_cell` shows it before a template
sees it, every template is autoescaped, and a link comes only through `|web_link` or
`|mail_address`. These tests render both pages from real data with a hostile value in every field,
try what a template could do with a value, read the templates themselves, and check that no other
command loads jinja2.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import pytest

from conftest import CUSTODIAN, ok
from test_hostile_values import raw_in

TEMPLATES = Path(__file__).resolve().parents[1] / "src" / "accountctl" / "templates"
# Reverses what follows it, would be markup, an entity, quotes, a terminal sequence, hidden
# characters and a script URL: everything a register value must not do on a page.
HOSTILE = " \u202e<i>x</i>&amp;\"'\x1b[2J\u200b\x85\x7f\ufeff\tjavascript:alert(1)"
# How a reader sees it: the same characters, the invisible ones written out.
SHOWN = " \\u202e<i>x</i>&amp;\"'\\x1b[2J\\u200b\\x85\\x7f\\ufeff\tjavascript:alert(1)"


def hostile(value, key=None):
    """`value` with HOSTILE after every string in it that is not empty (dict keys kept as they are).

    A severity stays one of its three words: the page orders and colours by it, as the audit decides it.
    """
    if isinstance(value, dict):
        return {k: hostile(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [hostile(v) for v in value]
    if isinstance(value, str) and value and key != "severity":
        return value + HOSTILE
    return value


class Shape(HTMLParser):
    """A page's elements with their attributes' names, its link targets and its visible text."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.shape: list[tuple[str, tuple[str, ...]]] = []
        self.hrefs: list[str] = []
        self.text: list[str] = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.shape.append((tag, tuple(sorted(name for name, _ in attrs))))
        self.hrefs += [value for name, value in attrs if name == "href"]

    def handle_data(self, data):
        self.text.append(data)


def demo_figures(run, tmp_path, monkeypatch) -> tuple[dict, dict]:
    """The demo trust with every section of the report filled: its report's and its channel list's data."""
    ok(run(["demo", "--dir", str(tmp_path)]))
    monkeypatch.setenv("ACCOUNTCTL_REGISTER", str(tmp_path / "demo.accountctl"))
    monkeypatch.setenv("ACCOUNTCTL_PASSPHRASE", "oakfield demo passphrase")
    monkeypatch.setenv("ACCOUNTCTL_USER", "ira.patel@oakfieldtrust.org.uk")
    ok(run("account transfer oakfield-instagram-oakfieldpe --to priya.jones@oakfield.sch.uk --reason Leaver"))
    from accountctl import clock

    until = (clock.today() + timedelta(days=10)).isoformat()
    ok(
        run(
            f"--as helen.ward@oakfield.sch.uk waive oakfield-facebook-oakfieldpta ONE_FACULTY_ONE_STAFF "
            f"--reason PTA --until {until}"
        )
    )
    ok(run("config set contact.oakfield office@oakfield.sch.uk"))
    report = json.loads(ok(run(["report", "--out", str(tmp_path / "r.html"), "--json"])).stdout)
    channels = json.loads(ok(run(["publish", "--format", "json"])).stdout)
    for section in ("leavers", "transfers", "waivers_expiring", "incidents", "attestation"):
        assert report[section], section  # every table of the page has rows
    assert report["summary"]["findings"] and any(s["report_fakes_to"] for s in channels["schools"])
    return report, channels


# -- 1. a hostile value in every field, through the real templates ----------------------------------
def test_every_field_of_the_report_is_shown_escaped_and_changes_no_markup(run, tmp_path, monkeypatch):
    from accountctl.core import report

    data, _ = demo_figures(run, tmp_path, monkeypatch)
    clean, page = report.render_html(data), report.render_html(hostile(data))
    assert raw_in(page, tab_allowed=True) == []
    assert "<i>" not in page and "javascript:alert" in page  # as text, never as a link
    # Whatever the values, the page has the same elements with the same attributes: no value became markup.
    assert Shape(page).shape == Shape(clean).shape
    assert all(h.startswith("#") for h in Shape(page).hrefs)
    text = "".join(Shape(page).text)
    shown_in = [
        data["trust"],
        *(s["name"] for s in data["schools"]),
        *(r["principle"] for r in data["rules"]),
        *(f["message"] for r in data["rules"] for g in r["failing"] for f in g["shown"]),
        *(p["name"] for p in data["leavers"]),
        *(p["email"] for p in data["leavers"]),
        *(t["reason"] for t in data["transfers"]),
        *(w["reason"] for w in data["waivers_expiring"]),
        *(i["kind"] for i in data["incidents"]),
        *(c["id"] for c in data["attestation"]),
    ]
    for value in shown_in:
        assert value + SHOWN in text, value  # the whole value, its invisible characters written out


def test_every_field_of_the_channel_page_is_shown_escaped_and_no_link_is_made_of_it(run, tmp_path, monkeypatch):
    from accountctl.core import publish

    _, data = demo_figures(run, tmp_path, monkeypatch)
    clean = publish.render_html(data)
    assert any(h.startswith("mailto:") for h in Shape(clean).hrefs)
    # Every value hostile but the links: the same page, its text escaped.
    kept = hostile(data)
    for school, original in zip(kept["schools"], data["schools"]):
        school["report_fakes_to"] = original["report_fakes_to"]
        for channel, link in zip(school["channels"], original["channels"]):
            channel["url"] = link["url"]
    page = publish.render_html(kept)
    assert raw_in(page, tab_allowed=True) == [] and "<i>" not in page
    assert Shape(page).shape == Shape(clean).shape and Shape(page).hrefs == Shape(clean).hrefs
    text = "".join(Shape(page).text)
    for school in data["schools"]:
        assert school["school"] + SHOWN in text
        for channel in school["channels"]:
            assert channel["handle"] + SHOWN in text
    # The links hostile too: none is a link any more, and the page still lists every channel.
    page = publish.render_html(hostile(data))
    assert raw_in(page, tab_allowed=True) == [] and Shape(page).hrefs == []
    assert "javascript:alert(1)" in "".join(Shape(page).text) and "<i>" not in page


# -- 2. what a template might do with a value --------------------------------------------------------
WAYS = [
    "{{ v }}",
    "<p title='{{ v }}'>{{ v }}</p>",
    "{{ v|e }}",
    "{{ v|escape }}",
    "{{ v|forceescape }}",
    "{{ v|replace('x', 'y') }}",
    "{{ [v, v]|join(', ') }}",
    "{{ v ~ '!' }}",
    "{{ b() ~ v }}",
    "{% set t %}<b>{% endset %}{{ t ~ v }}",
    "{{ t() + v }}",
    "{{ '%s and %s'|format(v, v) }}",
    "{{ v|upper }}{{ v|title }}{{ v|trim }}{{ v|center(99) }}{{ v|wordwrap(7) }}{{ v|truncate(12) }}",
    "{{ v|striptags }}{{ v|indent(2) }}{{ v[3:] }}{{ v|list|join }}",
    "{% for k, x in d.items() %}{{ k }}={{ x }}{% endfor %}",
    "{{ d|dictsort }}{{ d }}{{ [v] }}",
]


@pytest.mark.parametrize("way", WAYS)
def test_no_way_of_printing_a_value_brings_an_invisible_character_or_markup_back(way):
    from accountctl import pages

    source = "{% macro b() %}<b>{% endmacro %}{% macro t() %}<b>{% endmacro %}" + way
    value = "Eve" + HOSTILE
    out = pages.environment().from_string(source).render(pages.shown({"v": value, "d": {value: value}}))
    assert raw_in(out, tab_allowed=True) == [], out
    assert "<i>" not in out and "\\u202e" in out, out


def test_a_value_is_shown_as_html_text_shows_it():
    from accountctl import pages, safetext

    for value in ("Eve" + HOSTILE, "Zoë O'Brien\t<Year 6>", "", "ok"):
        out = pages.environment().from_string("{{ v }}").render(pages.shown({"v": value}))
        assert html.unescape(out) == html.unescape(safetext.html_text(value))
    assert pages.environment().from_string("{{ v }}").render(v=None) == ""  # as html_text shows None


@pytest.mark.parametrize("name", ["safe", "urlize", "xmlattr"])
def test_the_filters_that_get_a_value_past_the_checks_are_not_there(name):
    from accountctl import pages

    with pytest.raises(jinja2.TemplateAssertionError, match=name):
        pages.environment().from_string("{{ v|%s }}" % name)


def test_every_template_autoescapes_and_a_missing_value_is_an_error(run, tmp_path, monkeypatch):
    from accountctl import pages
    from accountctl.core import publish, report

    env = pages.environment()
    for name in ("report.html.j2", "publish.html.j2", "pages.css", "anything.txt"):
        assert env.autoescape is True or env.autoescape(name)
    assert env.undefined is jinja2.StrictUndefined
    data, channels = demo_figures(run, tmp_path, monkeypatch)
    for key in ("incidents", "generator", "compliance"):
        with pytest.raises(jinja2.UndefinedError):
            report.render_html({k: v for k, v in data.items() if k != key})
    with pytest.raises(jinja2.UndefinedError):
        publish.render_html({"schools": channels["schools"]})


@pytest.mark.parametrize(
    "value",
    [
        "https://www.facebook.com/oak\u202eprimary",
        "https://www.facebook.com/oak\u200bprimary",
        "https://x.com/\x1b]8;;",
        "office\u200b@oak.sch.uk",
        "javascript:alert(1)",
        "mailto:office@oak.sch.uk",
    ],
)
def test_a_value_shown_escaped_is_never_a_link(value):
    """Escaped, `oak\\u202eprimary` is printable: the filters still know it was not, and refuse it."""
    from accountctl import pages

    for way in ("{{ v|web_link }}", "{{ v|mail_address }}"):
        assert pages.environment().from_string(way).render(pages.shown({"v": value})) == ""


def test_a_link_the_checks_allow_is_a_link():
    from accountctl import pages

    env, shown = pages.environment(), pages.shown
    url = "HTTPS://x.com/oak?a=1&b=2"
    assert env.from_string("{{ v|web_link }}").render(shown({"v": url})) == "HTTPS://x.com/oak?a=1&amp;b=2"
    assert env.from_string("{{ v|mail_address }}").render(shown({"v": "Office@Oak.sch.uk"})) == "office@oak.sch.uk"


# -- 3. the templates themselves ---------------------------------------------------------------------
def test_the_templates_link_only_through_the_checks_and_never_turn_escaping_off():
    names = sorted(p.name for p in TEMPLATES.iterdir())
    assert names == ["pages.css", "publish.html.j2", "report.html.j2"]
    for path in TEMPLATES.iterdir():
        source = path.read_text(encoding="utf-8")
        # nothing turns escaping off or marks a value as safe HTML; nothing runs, loads or points away
        for banned in ("|safe", "| safe", "autoescape", "Markup", "<script", "src=", "url(", "@import", "http"):
            assert banned not in source, (path.name, banned)
        # a link goes to a section of the page, or to a name set from one of the two checks
        checked = set(re.findall(r"{%-?\s*set\s+(\w+)\s*=\s*[^%]*\|\s*(?:web_link|mail_address)\s*-?%}", source))
        for target in re.findall(r'href="([^"]*)"', source):
            if target.startswith("#"):
                continue
            link = re.fullmatch(r"(?:mailto:)?{{\s*(\w+)\s*}}", target)
            assert link and link.group(1) in checked, (path.name, target)


# -- 4. only report and publish load jinja2 ------------------------------------------------------------
def imported(*argv: str) -> set[str]:
    """The top-level packages a command imports, as `python -X importtime` reports them."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "accountctl.fast", *argv],
        env=dict(
            os.environ,
            ACCOUNTCTL_NO_AGENT="1",
            ACCOUNTCTL_USER=CUSTODIAN,
            PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]
    return {
        line.rsplit("|", 1)[-1].strip().split(".")[0] for line in result.stderr.splitlines() if "import time:" in line
    }


def test_no_other_command_imports_jinja2(oak, tmp_path):
    for argv in (["audit"], ["account", "list"], ["otp", "--help"], ["report", "--help"], ["publish", "--help"]):
        assert not imported(*argv) & {"jinja2", "markupsafe"}, argv
    assert "jinja2" in imported("report", "--out", str(tmp_path / "r.html"))  # the check sees it where it is
