"""The public list of a school's official channels, for its website and parents (`publish`).

Only what the public may see: school name, platform, handle and URL of active accounts that parents
may trust (a valid SLT approval, a school mailbox, an owner still at the school; see `withheld`), and
the address where parents report a fake page (`config set contact.SCHOOL EMAIL`). Nothing else is read
into it, so nothing else can leak: no staff, no emails of accounts, no found or closed accounts.

A key holder can write anything into the register past the CLI's checks, so each URL and contact is
checked again here: one that is not an http(s) address (or an email address) is left out of the
page and the JSON, and `build` says which.
"""

from __future__ import annotations

import sqlite3

from accountctl import clock, safetext
from accountctl.core import approvals, config, directory
from accountctl.model import SERVICE

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

    Also returns what was left out: `{"account"|"setting", "value"}` for each URL that is not http(s)
    and each contact that is not an email address, and `{"account", "reason"}` for each active account
    parents should not be told is official (see `withheld`).
    """
    settings = config.load(conn)
    owners = approvals.key_owners(conn)
    wanted = directory.get_school(conn, school)["id"] if school else None
    schools, left_out = [], []
    # A school with no contact of its own gives parents the trust's central team's, when it has one.
    central = [safetext.mail_address(settings.get(f"contact.{sid}")) for sid in sorted(directory.central_schools(conn))]
    fallback = next((c for c in central if c), None)
    for row in conn.execute("SELECT id, name FROM schools ORDER BY name, id"):
        if wanted and row["id"] != wanted:
            continue
        channels = []
        for r in conn.execute(
            "SELECT * FROM accounts WHERE school = ? AND status = 'active' ORDER BY platform, handle", (row["id"],)
        ):
            reason = withheld(conn, dict(r), owners)
            if reason:
                left_out.append({"account": r["id"], "reason": reason})
                continue
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
        schools.append({"school": row["name"], "report_fakes_to": contact or fallback, "channels": channels})
    return {"updated_on": clock.today().isoformat(), "schools": schools}, left_out


def owner_name(conn: sqlite3.Connection, school: str | None = None) -> str:
    """Whose channels the page lists, for its title: the school's name with --school, else the trust's."""
    from accountctl.model import get_meta

    if school:
        return directory.get_school(conn, school)["name"]
    return get_meta(conn, "trust") or "our school"


def withheld(conn: sqlite3.Connection, account: dict, owners: dict[bytes, str]) -> str | None:
    """Why an active account must not be listed as official, or None when parents may trust it.

    The page tells parents "these are the school's accounts": one nobody approved, one hanging off a
    personal mailbox, or one whose owner has left is not what the school can vouch for.
    """
    from accountctl.core.accounts.case import school_email
    from accountctl.errors import InputError

    if account["category"] == SERVICE:
        return "it is a service record (a tool or business portfolio), never published"
    decision = approvals.latest(conn, account["id"])
    if decision is None or decision["decision"] != "approved":
        return "it has no SLT approval"
    school = directory.get_school(conn, account["school"])
    if approvals.audit_problems(decision, account, bool(school["central"]), owners.get(bytes(decision["public_key"]))):
        return "its approval is not valid"
    try:
        school_email(conn, school, account["email"])
    except InputError:
        return f"it is linked to {account['email'] or 'no email'}, not a school mailbox"
    owner = directory.find_staff(conn, account["owner"]) if account["owner"] else None
    if owner is None or (owner["left_on"] and owner["left_on"] <= clock.today().isoformat()):
        return "its owner has left" if owner else "it has no owner on the staff"
    # Worked out from the account as it is, not from its stored hash: a new URL SLT never saw (a
    # lookalike address, say) must not reach parents under the old approval.
    if decision["case_hash"] != approvals.case_hash(approvals.case_of(conn, account)):
        return "its business case changed since SLT approved it (approve it again)"
    return None


def render_html(data: dict, owner: str = "our school") -> str:
    """One self-contained page (no script, no external resource) that reads well on a phone.

    `owner` (`owner_name`) names the school or trust in the page's title and heading, so a saved or
    shared copy, a browser tab or a search result says whose channels these are.
    """
    from accountctl import pages

    # Each link is checked again in the template (|web_link, |mail_address): this page is what a
    # browser acts on, whatever `data` holds.
    return pages.render("publish.html.j2", **data, platform_names=PLATFORM_NAMES, owner=owner)
