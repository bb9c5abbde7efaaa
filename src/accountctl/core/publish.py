"""The public list of a school's official channels, for its website and parents (`publish`).

Only what the public may see: school name, platform, handle and URL of active accounts, and the
address where parents report a fake page (`config set contact.SCHOOL EMAIL`). Nothing else is read
into it, so nothing else can leak: no staff, no emails of accounts, no found or closed accounts.

A key holder can write anything into the register past the CLI's checks, so each URL and contact is
checked again here: one that is not an http(s) address (or an email address) is left out of the
page and the JSON, and `build` says which.
"""

from __future__ import annotations

import sqlite3

from accountctl import clock, safetext
from accountctl.core import config, directory

PLATFORM_NAMES = {
    "facebook": "Facebook",
    "instagram": "Instagram",
    "x": "X (Twitter)",
    "youtube": "YouTube",
    "tiktok": "TikTok",
    "linkedin": "LinkedIn",
    "threads": "Threads",
    "bluesky": "Bluesky",
    "whatsapp": "WhatsApp",
    "snapchat": "Snapchat",
    "pinterest": "Pinterest",
    "flickr": "Flickr",
    "vimeo": "Vimeo",
    "other": "Other",
}


def build(conn: sqlite3.Connection, school: str | None = None) -> tuple[dict, list[dict]]:
    """The public channels of one school (or every school), with each school's report-a-fake contact.

    Also returns what was left out because it is not a link a page may carry: `{"account"|"setting",
    "value"}` for each URL that is not http(s) and each contact that is not an email address.
    """
    settings = config.load(conn)
    wanted = directory.get_school(conn, school)["id"] if school else None
    schools, left_out = [], []
    for row in conn.execute("SELECT id, name FROM schools ORDER BY name, id"):
        if wanted and row["id"] != wanted:
            continue
        channels = []
        for r in conn.execute(
            "SELECT id, platform, handle, url FROM accounts WHERE school = ? AND status = 'active' "
            "ORDER BY platform, handle",
            (row["id"],),
        ):
            link = safetext.web_link(r["url"])
            if link is None and r["url"]:
                left_out.append({"account": r["id"], "value": r["url"]})
            channels.append({"platform": r["platform"], "handle": r["handle"], "url": link})
        if not channels and not wanted:
            continue
        setting = f"contact.{row['id']}"
        contact = safetext.mail_address(settings.get(setting))
        if contact is None and settings.get(setting):
            left_out.append({"setting": setting, "value": settings[setting]})
        schools.append({"school": row["name"], "report_fakes_to": contact, "channels": channels})
    return {"updated_on": clock.today().isoformat(), "schools": schools}, left_out


PAGE_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:0;padding:1rem;
color:#1a1a1a;background:#fff;line-height:1.5;font-size:1.05rem}
main{max-width:40rem;margin:0 auto}
h1{font-size:1.5rem;margin:.5rem 0 1rem}
h2{font-size:1.2rem;margin:1.5rem 0 .5rem;border-bottom:2px solid #0b5394;padding-bottom:.25rem}
ul{list-style:none;padding:0;margin:0}
li{padding:.6rem 0;border-bottom:1px solid #ddd}
.platform{display:block;font-weight:600}
a{color:#0b5394;word-break:break-all;font-size:1rem}
.fake{background:#fff4e5;border-left:4px solid #e69138;padding:.6rem .8rem;margin:1rem 0}
footer{color:#555;font-size:.9rem;margin-top:2rem}
"""


def render_html(data: dict) -> str:
    """One self-contained page (no script, no external resource) that reads well on a phone."""
    e = safetext.html_text
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Our official social media</title>",
        f"<style>{PAGE_CSS}</style></head><body><main>",
        "<h1>Our official social media</h1>",
        "<p>These are the only social media accounts run by the school. Anything else using our name or "
        "badge is not ours.</p>",
    ]
    for school in data["schools"]:
        parts.append(f"<h2>{e(school['school'])}</h2><ul>")
        for c in school["channels"]:
            name = PLATFORM_NAMES.get(c["platform"], c["platform"])
            url = safetext.web_link(c["url"])  # again: this page is what a browser acts on, whatever `data` holds
            link = f'<a href="{e(url)}" rel="noopener">{e(url)}</a>' if url else ""
            parts.append(f'<li><span class="platform">{e(name)}: {e(c["handle"])}</span>{link}</li>')
        if not school["channels"]:
            parts.append("<li>No official social media accounts.</li>")
        parts.append("</ul>")
        address = safetext.mail_address(school["report_fakes_to"])
        if address:
            address = e(address)
            parts.append(
                f'<p class="fake">Seen a page pretending to be {e(school["school"])}? Please tell us at '
                f'<a href="mailto:{address}">{address}</a>, and report it to the platform.</p>'
            )
    parts.append(f"<footer>Updated {e(data['updated_on'])}.</footer></main></body></html>")
    return "\n".join(parts) + "\n"
