"""`publish`: the parents' list of official channels, with nothing but what the public may see."""

from __future__ import annotations

import json

import pytest

from conftest import ok, refused
from test_audit_rules import (
    FB,
    SLT,
    T1,
    T2,
    T3,
    base,  # noqa: F401
    request_argv,
)
from test_report import CHROMIUM, png_pixels

CONTACT = "reportfake@oak.sch.uk"


def leaky_register(run) -> dict[str, list[str]]:
    """Every field of the register holds a marker; returns the public and the private markers."""
    ok(run(["config", "set", "contact.oak", CONTACT]))
    ok(run(["staff", "add", "mk.staff@oak.sch.uk", "--name", "Markstaffname", "--school", "oak", "--role", "staff"]))
    argv = request_argv("oak-instagram-markrequested", platform="instagram", handle="markrequested")
    argv[argv.index("--aim") + 1] = "Markaimtext"
    ok(run(argv))
    closed = request_argv("oak-x-markclosed", platform="x", handle="markclosed")
    ok(run(closed))
    ok(run(["account", "close", "oak-x-markclosed", "--reason", "Markclosereason"]))
    found = ["account", "found", "--school", "oak", "--platform", "tiktok", "--handle", "markfound"]
    ok(run([*found, "--url", "https://tiktok.com/@markfoundurl", "--source", "Marksourcetext"]))
    ok(run(["incident", "open", FB, "--kind", "abuse", "--summary", "Markincidentsummary"]))
    ok(run(["monitor", FB, "--note", "Markmonitornote"]))
    ok(run(SLT + ["waive", FB, "MONITORING_LAPSED", "--reason", "Markwaiverreason", "--until", "2026-12-01"]))
    public = ["Oak Primary", "oakprimary", "https://www.facebook.com/oakprimary", CONTACT]
    private = [
        T1,
        T2,
        T3,
        "Tom One",
        "Tia Two",
        "mk.staff@oak.sch.uk",
        "Markstaffname",
        "office@oak.sch.uk",
        "News and celebrations",
        "Parents and carers",
        "Weekly newsletter",
        "markrequested",
        "Markaimtext",
        "markclosed",
        "Markclosereason",
        "markfound",
        "Marksourcetext",
        "Markincidentsummary",
        "Markmonitornote",
        "Markwaiverreason",
        "it@oak.sch.uk",
        "head@oak.sch.uk",
        "suspended",
        "requested",
    ]
    return {"public": public, "private": private}


def test_publish_leaks_nothing(run, base, tmp_path):
    markers = leaky_register(run)
    page_path = tmp_path / "channels.html"
    ok(run(["publish", "--school", "oak", "--out", str(page_path)]))
    page = page_path.read_text(encoding="utf-8")
    as_json = ok(run(["publish", "--school", "oak", "--format", "json"])).stdout
    as_csv = ok(run(["publish", "--format", "csv"])).stdout
    for text in (page, as_json, as_csv):
        for marker in markers["private"]:
            assert marker.lower() not in text.lower(), marker
    for marker in markers["public"]:
        assert marker in page and marker in as_json, marker
    data = json.loads(as_json)
    assert data["schools"] == [
        {
            "school": "Oak Primary",
            "report_fakes_to": CONTACT,
            "channels": [
                {"platform": "facebook", "handle": "oakprimary", "url": "https://www.facebook.com/oakprimary"}
            ],
        }
    ]
    from test_schemas import problems, validator

    assert problems(validator("publish.schema.json"), data) == []
    # self-contained: no script and nothing fetched from elsewhere
    assert "<script" not in page and "src=" not in page and "@import" not in page
    assert 'name="viewport"' in page
    assert f"mailto:{CONTACT}" in page


def test_publish_bad_input(run, base, tmp_path):
    refused(run, base, ["publish", "--out", str(tmp_path / "channels.pdf")], 2, ".html")
    refused(run, base, ["publish"], 2, "--out")
    refused(run, base, ["publish", "--school", "nope", "--format", "json"], 2, "unknown school")
    refused(run, base, ["config", "set", "contact.oak", "not-an-email"], 2, "email")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_chromium_renders_the_page_at_phone_width(run, base, tmp_path):
    import subprocess

    leaky_register(run)
    page = tmp_path / "channels.html"
    ok(run(["publish", "--out", str(page)]))
    shot = tmp_path / "phone.png"
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        "--window-size=390,844",
        page.as_uri(),
    ]
    subprocess.run(command, capture_output=True, timeout=90, check=False)
    width, height, pixels = png_pixels(shot)
    assert (width, height) == (390, 844)
    assert len(set(pixels)) > 64, "the screenshot looks blank"
