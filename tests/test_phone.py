"""The governors' report on a 390 px phone and a 1280 px laptop, in headless Chromium (SPEC "At the
terminal, on a phone, from Excel"): no sideways scrolling of the page, no text under 12 px, chart labels
whole, and one severity per finding (label, colour and count agree)."""

from __future__ import annotations

import re

import pytest

import browser
from accountctl.core import report
from conftest import ok

DEMO_PASSPHRASE = "oakfield demo passphrase"
DEMO_USER = "ira.patel@oakfieldtrust.org.uk"
DEMO_TODAY = "2026-12-07"


@pytest.fixture
def demo_report(run, tmp_path, monkeypatch) -> str:
    """The sample trust's governors' report."""
    monkeypatch.setenv("ACCOUNTCTL_TODAY", DEMO_TODAY)
    ok(run(["demo", "--dir", str(tmp_path / "demo")]))
    monkeypatch.setenv("ACCOUNTCTL_REGISTER", str(tmp_path / "demo" / "demo.accountctl"))
    monkeypatch.setenv("ACCOUNTCTL_PASSPHRASE", DEMO_PASSPHRASE)
    monkeypatch.setenv("ACCOUNTCTL_USER", DEMO_USER)
    ok(run(["report", "--out", str(tmp_path / "report.html")]))
    return (tmp_path / "report.html").read_text(encoding="utf-8")


needs_chromium = pytest.mark.skipif(
    browser.chromium() is None,
    reason="Chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)",
)


@needs_chromium
@pytest.mark.parametrize("width", [390, 1280])
def test_the_report_fits_the_screen_with_no_text_under_12px(demo_report, width):
    seen = browser.measure(demo_report, width)
    assert seen["width"] == width
    assert seen["scroll_width"] <= width and not seen["wide"], f"the page scrolls sideways: {seen['wide']}"
    assert not seen["small"], f"{seen['smalls']} piece(s) of text under 12 px: {seen['small']}"
    # a phone gets each chart as a list; a laptop the charts themselves, drawn 1:1
    assert seen["lists"] > 0
    assert seen["charts_shown"] == (0 if width == 390 else 3)


def test_chart_labels_are_whole_and_the_widest_chart_fits_a_laptops_column():
    label = "A rule whose plain name is long enough to be cut (warning)"[: report.LABEL_MOST]
    chart = report._bars("c", "Chart", [("r", label, [(3, "#000", "error")], "3 open")])
    assert chart["svgs"][0]["bars"][0]["label"] == label
    widest = report.LABEL_MOST * report.CHAR_W + 16 + report.BAR_W + report.VALUE_W
    assert chart["width"] == widest and widest <= 62 * 16 - 2 * 24  # body.report: 62rem less its padding


def test_demo_chart_labels_are_not_cut(demo_report):
    labels = re.findall(r'<text x="[\d.]+" y="\d+" text-anchor="end">([^<]*)</text>', demo_report)
    assert labels and not any(label.endswith("\u2026") for label in labels)
    assert "Platform access is checked each term (warning)" in labels


def test_an_open_incident_is_labelled_drawn_and_counted_as_its_findings_are(demo_report):
    # INCIDENT_OPEN is an error rule, but an incident open only a few days is a warning finding: the
    # table, the heading and the bar all name the severities the open findings really have
    row = re.search(r'<tr><td><a href="#fail-INCIDENT_OPEN">.*?</tr>', demo_report, re.S).group()
    heading = re.search(r'<h4 id="fail-INCIDENT_OPEN">.*?</h4>', demo_report, re.S).group()
    bar = re.search(r'<g class="bar" data-key="INCIDENT_OPEN".*?</g>', demo_report, re.S).group()
    in_row = set(re.findall(r"sev-(error|warning|info)", row))
    assert in_row == {"error", "warning"}  # the demo: incidents open 9 days (errors) and one open 3 days (a warning)
    assert set(re.findall(r"sev-(error|warning|info)", heading)) == in_row
    assert set(re.findall(r'data-segment="(error|warning|info)"', bar)) == in_row
    assert f"({', '.join(s for s in ('error', 'warning', 'info') if s in in_row)})" in bar


# -- the channel page ---------------------------------------------------------------------------
@pytest.fixture
def demo_register(run, tmp_path, monkeypatch):
    monkeypatch.setenv("ACCOUNTCTL_TODAY", DEMO_TODAY)
    ok(run(["demo", "--dir", str(tmp_path / "demo")]))
    monkeypatch.setenv("ACCOUNTCTL_REGISTER", str(tmp_path / "demo" / "demo.accountctl"))
    monkeypatch.setenv("ACCOUNTCTL_PASSPHRASE", DEMO_PASSPHRASE)
    monkeypatch.setenv("ACCOUNTCTL_USER", DEMO_USER)
    return tmp_path


def _channels(run, folder, *args) -> tuple[str, str]:
    result = ok(run(["publish", "--out", str(folder / "channels.html"), *args]))
    return (folder / "channels.html").read_text(encoding="utf-8"), result.stderr


def test_the_channel_page_names_the_trust_or_the_school(run, demo_register):
    page, _ = _channels(run, demo_register)
    assert "<title>Oakfield Learning Trust: official social media</title>" in page
    assert "<h1>Oakfield Learning Trust: our official social media</h1>" in page
    page, _ = _channels(run, demo_register, "--school", "oakfield")
    assert re.search(r"<title>Oakfield [^<]*: official social media</title>", page)
    assert "Oakfield Learning Trust" not in page


def test_every_school_gets_a_report_a_fake_contact_its_own_or_the_central_teams(run, demo_register):
    _, said = _channels(run, demo_register)
    assert "No contact for reporting a fake page for" in said
    ok(run("config set contact.central socialmedia@oakfieldtrust.org.uk"))
    ok(run("config set contact.oakfield office@oakfield.sch.uk"))
    page, said = _channels(run, demo_register)
    assert "No contact for reporting a fake page" not in said
    schools = re.findall(r"<h2>([^<]*)</h2>", page)
    fakes = re.findall(r'<p class="fake">Seen a page pretending to be ([^?]*)\?.*?mailto:([^"]*)"', page)
    assert len(schools) > 1 and [name for name, _ in fakes] == schools
    contacts = dict(fakes)
    assert contacts["Oakfield Primary School"] == "office@oakfield.sch.uk"
    assert contacts["Brookside Academy"] == "socialmedia@oakfieldtrust.org.uk"  # the central team stands in
    assert sorted(set(contacts.values())) == ["office@oakfield.sch.uk", "socialmedia@oakfieldtrust.org.uk"]


@needs_chromium
def test_the_channel_page_still_reads_on_a_phone(run, demo_register):
    ok(run("config set contact.central socialmedia@oakfieldtrust.org.uk"))
    page, _ = _channels(run, demo_register)
    seen = browser.measure(page, 390)
    assert seen["scroll_width"] <= 390 and not seen["wide"] and not seen["small"]
