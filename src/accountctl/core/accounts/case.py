"""An account's business case and people: the checks every change shares (values, eligibility, gaps)."""

from __future__ import annotations

import sqlite3

from accountctl import clock, model, safetext
from accountctl.core import directory, eligibility, waysin
from accountctl.core.lookup import get_account, nearest  # get_account: the accounts API, apart for the hot paths
from accountctl.errors import InputError, shown


CASE_FIELDS = ("platform", "handle", "url", "category", "email", "aim", "audience", "promotion", "visibility")
# Statuses an account is "in use or heading there" for guideline counts and admin rules.
LIVE_STATUSES = ("requested", "approved", "active", "suspended")
# Statuses from which the platform account can be confirmed gone: closed ones, and (with found accounts)
# those found or reported for takedown. A live account is closed first.
GONE_FROM = ("closed", "found", "reported")
# The written parts of a complete business case: how `approve`, `show` and the audit name each one
# missing, and the option of `account update` that completes it.
CASE_PARTS = {
    "aim": ("the aim", "--aim T"),
    "audience": ("the audience", "--audience T"),
    "promotion": ("how it will be promoted", "--promotion T"),
    "visibility": ("whether it is open or closed", "--visibility open|closed"),
    "pupils": ("whether it is aimed at pupils", "--pupils none|AGE"),
}


def url(value: str | None, what: str = "url") -> str:
    """An http(s) URL with a host, or InputError: the same check a page makes before it links to one."""
    text = (value or "").strip()
    if safetext.web_link(text) is None:
        raise InputError(f"{what} must be an http:// or https:// address, not {shown(text)}")
    return text


# The hosts of each platform's own pages (and their subdomains: www., m., ...). `other` takes any.
PLATFORM_HOSTS = {
    "facebook": ("facebook.com", "fb.com", "fb.me"),
    "instagram": ("instagram.com",),
    "x": ("x.com", "twitter.com"),
    "youtube": ("youtube.com", "youtu.be"),
    "tiktok": ("tiktok.com",),
    "linkedin": ("linkedin.com",),
    "threads": ("threads.net", "threads.com"),
    "bluesky": ("bsky.app", "bsky.social"),
    "whatsapp": ("whatsapp.com", "wa.me"),
    "snapchat": ("snapchat.com",),
    "pinterest": ("pinterest.com", "pinterest.co.uk", "pin.it"),
    "flickr": ("flickr.com", "flic.kr"),
    "vimeo": ("vimeo.com",),
}


def platform_url(value: str | None, platform: str) -> str:
    """`url(value)` on the platform's own host (a facebook account's URL on facebook.com), or InputError naming it."""
    text = url(value)
    hosts = PLATFORM_HOSTS.get(platform)
    if not hosts:
        return text
    from urllib.parse import urlsplit

    host = (urlsplit(text).hostname or "").rstrip(".")
    if not any(host == h or host.endswith("." + h) for h in hosts):
        raise InputError(
            f"url {shown(text)} is not on {platform}: expected an address on {' or '.join(hosts)} "
            "(--platform other takes any)"
        )
    return text


def handle(value: str | None) -> str:
    text = (value or "").strip()
    if not text:
        raise InputError("handle must not be empty")
    model.plain_text(text, "handle")
    if len(text) > 200 or any(ch.isspace() for ch in text):
        raise InputError(f"handle must be one word of at most 200 characters, not {shown(text)}")
    return text


def handle_for(value: str | None, access: str) -> str:
    """An account's handle under its access model: a group's name may have spaces, any other handle is one word."""
    return waysin.group_name(value) if access == "group" else handle(value)


def _handle_key(text: str) -> str:
    return text.lstrip("@").lower()


def school_email(conn: sqlite3.Connection, school: dict, value: str | None) -> str:
    """The linked email: valid, and on one of the school's domains (never a personal provider)."""
    address = model.email(value, "linked email")
    domain = model.email_domain(address)
    if domain in model.PERSONAL_DOMAINS:
        raise InputError(f"linked email {address} is on a personal mail provider; use an official school email")
    if domain not in school["domains"] and domain not in _trust_domains(conn):
        raise InputError(f"linked email {address} is not on {school['id']}'s domains ({', '.join(school['domains'])})")
    return address


def _trust_domains(conn: sqlite3.Connection) -> set[str]:
    """The central team's domains: a trust mailbox (socialmedia@trust.org.uk) serves every school's accounts."""
    out: set[str] = set()
    for central in directory.central_schools(conn):
        out |= set(directory.get_school(conn, central)["domains"])
    return out


def eligible_staff(conn: sqlite3.Connection, school_id: str, email: str, what: str) -> str:
    """An owner or admin must be eligible: current staff of the account's school (or the central team), not only a volunteer."""
    address = model.email(email, what)
    person, central = directory.find_staff(conn, address), directory.central_schools(conn)
    reason = eligibility.ineligible(person, school_id, central, clock.today())
    if reason and what == "admin" and eligibility.additional_admin(person, school_id, central, clock.today()):
        return address  # a trained volunteer: an additional admin, never counted towards the two
    if reason:
        raise InputError(f"{what} {address} {reason}" + _volunteer_hint(person, what))
    return address


def _volunteer_hint(person: dict | None, what: str) -> str:
    if person is None or not eligibility.volunteer_only(person["roles"]) or what != "admin":
        return ""
    return "; once trained (accountctl staff train EMAIL --on DATE) a volunteer may be an additional admin"


def known_staff(conn: sqlite3.Connection, email: str, what: str) -> str:
    """A contributor may be anyone in the register who has not left: volunteers and other schools' staff too."""
    address = model.email(email, what)
    person = directory.find_staff(conn, address)
    if person is None:
        raise InputError(
            f"{what} {address} is not staff in this register"
            + (nearest(conn, address, "SELECT email FROM staff") or " (record them first: accountctl staff add)")
        )
    if not directory.is_active(person, clock.today()):
        raise InputError(f"{what} {address} left on {person['left_on']}")
    return address


def recorded_date(value: str, what: str) -> str:
    """A date something happened: valid, and not after today."""
    return clock.past_date(value, what).isoformat()


def people_of(conn: sqlite3.Connection, account_id: str) -> dict[str, list[str]]:
    """The account's admins and contributors, sorted."""
    out: dict[str, list[str]] = {"admin": [], "contributor": []}
    for row in conn.execute(
        "SELECT email, role FROM account_people WHERE account = ? AND removed_at IS NULL ORDER BY email", (account_id,)
    ):
        out[row["role"]].append(row["email"])
    return out


def _refuse_duplicate(conn, account_id: str, school_id: str, platform: str, the_handle: str) -> None:
    if conn.execute("SELECT 1 FROM accounts WHERE id = ?", (account_id,)).fetchone():
        raise InputError(f"account {account_id} already exists")
    for row in conn.execute("SELECT id, handle FROM accounts WHERE school = ? AND platform = ?", (school_id, platform)):
        if _handle_key(row["handle"]) == _handle_key(the_handle):
            raise InputError(f"{school_id} already has {platform} account {the_handle} ({row['id']})")


def _insert_people(conn, account_id: str, admins: list[str], contributors: list[str], at: str) -> None:
    ids, school = model.RowIds(conn, "account_people"), model.school_of_account(conn, account_id)
    conn.executemany(
        "INSERT INTO account_people(id, account, email, role, added_at) VALUES (?,?,?,?,?)",
        [(ids.next(school), account_id, a, "admin", at) for a in admins]
        + [(ids.next(school), account_id, c, "contributor", at) for c in contributors],
    )


def _end_membership(conn, account_id: str, email: str, role: str) -> None:
    conn.execute(
        "UPDATE account_people SET removed_at = ? WHERE account = ? AND email = ? AND role = ? AND removed_at IS NULL",
        (clock.now_iso(), account_id, email, role),
    )


def _require_status(account: dict, allowed: tuple[str, ...], doing: str) -> None:
    if account["status"] not in allowed:
        raise InputError(f"cannot {doing} {account['id']}: it is {account['status']}")


def _touch_case(conn, account_id: str) -> None:
    # Marks a legitimate change to the people or business case after approval (verify relies on it)
    # and keeps the stored case hash current, so the audit compares hashes instead of recomputing.
    conn.execute("UPDATE accounts SET case_changed_at = ? WHERE id = ?", (clock.now_iso(), account_id))
    store_case_hash(conn, account_id)


def store_case_hash(conn, account_id: str) -> None:
    """Recompute and store an account's current case hash."""
    from accountctl.core import approvals

    account = get_account(conn, account_id)
    conn.execute(
        "UPDATE accounts SET case_hash = ? WHERE id = ?",
        (approvals.case_hash(approvals.case_of(conn, account)), account_id),
    )


def eligible_admins(conn: sqlite3.Connection, account: dict) -> list[str]:
    """The account's current admins who are eligible today (see eligibility.ineligible)."""
    today = clock.today()
    central = directory.central_schools(conn)
    return [
        email
        for email in people_of(conn, account["id"])["admin"]
        if eligibility.ineligible(directory.find_staff(conn, email), account["school"], central, today) is None
    ]


def case_gaps(account: dict) -> list[str]:
    """The written parts of the business case an account lacks (keys of CASE_PARTS)."""
    return [part for part in CASE_PARTS if not (account.get(part) or "").strip()]


def approval_gaps(conn: sqlite3.Connection, account: dict) -> list[str]:
    """Why SLT cannot approve the case yet: each missing part, too few eligible admins, anyone not eligible."""
    gaps = [f"missing {CASE_PARTS[part][0]} ({CASE_PARTS[part][1]})" for part in case_gaps(account)]
    eligible = eligible_admins(conn, account)
    if len(eligible) < 2:
        gaps.append(
            f"{len(eligible)} eligible admin(s), two needed (accountctl account admin add {account['id']} EMAIL)"
        )
    gaps += _ineligible_people(conn, account)
    return gaps


def _ineligible_people(conn: sqlite3.Connection, account: dict) -> list[str]:
    """Each owner or admin who may not run the account, with why."""
    today = clock.today()
    central = directory.central_schools(conn)
    out = []
    for email in dict.fromkeys(
        ([account["owner"]] if account["owner"] else []) + people_of(conn, account["id"])["admin"]
    ):
        person = directory.find_staff(conn, email)
        reason = eligibility.ineligible(person, account["school"], central, today)
        if (
            reason
            and email != account["owner"]
            and eligibility.additional_admin(person, account["school"], central, today)
        ):
            continue  # a trained volunteer: an additional admin who does not count
        if reason:
            out.append(f"{'owner' if email == account['owner'] else 'admin'} {email} {reason}")
    return out


def credentials_held(conn: sqlite3.Connection, account_id: str) -> bool:
    """Whether IT holds a password for the account (the vault stores it encrypted)."""
    row = conn.execute("SELECT password IS NOT NULL FROM credentials WHERE account = ?", (account_id,)).fetchone()
    return bool(row and row[0])
