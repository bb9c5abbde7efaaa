"""An account's life: notified, activated, suspended or closed, gone; and found accounts, claimed or taken down."""

from __future__ import annotations

import json
import sqlite3

from accountctl import clock, model
from accountctl.core import config, directory, eligibility, events
from accountctl.core.lookup import get_account  # get_account: the accounts API, apart for the hot paths
from accountctl.errors import InputError, shown
from accountctl.core.accounts.case import (
    GONE_FROM,
    LIVE_STATUSES,
    _ineligible_people,
    _refuse_duplicate,
    _require_status,
    credentials_held,
    eligible_admins,
    handle_for,
    recorded_date,
    school_email,
    store_case_hash,
    url,
)


def set_status(conn: sqlite3.Connection, actor: str, account_id: str, status: str, reason: str) -> dict:
    """Suspend or close an account, with a reason."""
    account = get_account(conn, account_id)
    why = model.nonempty(reason, "reason")
    if status == "suspended":
        _require_status(account, ("active", "approved"), "suspend")
    elif status == "closed":
        _require_status(account, ("requested", "approved", "rejected", "active", "suspended"), "close")
    since = (
        "suspended_on" if status == "suspended" else "closed_on"
    )  # SUSPENDED_TOO_LONG, CLOSED_NOT_GONE count from it
    conn.execute(
        f"UPDATE accounts SET status = ?, status_reason = ?, {since} = ? WHERE id = ?",
        (status, why, clock.today().isoformat(), account["id"]),
    )
    events.record(
        conn,
        actor,
        f"account.{'suspend' if status == 'suspended' else 'close'}",
        account["id"],
        account=account["id"],
        details={"reason": why, "previous_status": account["status"]},
    )
    return get_account(conn, account["id"])


def gone(conn: sqlite3.Connection, actor: str, account_id: str, on: str | None = None) -> dict:
    """Record that the platform account no longer exists, and destroy the credentials IT held for it."""
    account = get_account(conn, account_id)
    if account["status"] == "gone":
        raise InputError(f"{account['id']} is already gone (since {account['gone_on']})")
    if account["status"] not in GONE_FROM:
        raise InputError(
            f"cannot mark {account['id']} gone: it is {account['status']} (only closed, found or reported accounts "
            f"can be gone); close it first "
            f"('accountctl account close {account['id']} --reason T'), then delete it on the platform"
        )
    day = recorded_date(on, "--on") if on else clock.today().isoformat()
    row = conn.execute(
        "SELECT username IS NOT NULL, password IS NOT NULL, totp IS NOT NULL, recovery IS NOT NULL "
        "FROM credentials WHERE account = ?",
        (account["id"],),
    ).fetchone()
    destroyed = [f for f, held in zip(("username", "password", "totp", "recovery"), row or ()) if held]
    old_passwords = conn.execute(
        "SELECT count(*) FROM password_history WHERE account = ?", (account["id"],)
    ).fetchone()[0]
    # Overwrite the freed pages too, so no ciphertext of them is left in the saved body.
    secure = conn.execute("PRAGMA secure_delete").fetchone()[0]
    conn.execute("PRAGMA secure_delete = ON")
    try:
        conn.execute("DELETE FROM password_history WHERE account = ?", (account["id"],))
        conn.execute("DELETE FROM credentials WHERE account = ?", (account["id"],))
    finally:
        conn.execute(f"PRAGMA secure_delete = {int(secure)}")
    conn.execute("UPDATE accounts SET status = 'gone', gone_on = ? WHERE id = ?", (day, account["id"]))
    events.record(
        conn,
        actor,
        "account.gone",
        account["id"],
        account=account["id"],
        details={
            "on": day,
            "previous_status": account["status"],
            "destroyed": destroyed,
            "old_passwords_destroyed": old_passwords,
        },
    )
    return {**get_account(conn, account["id"]), "destroyed": destroyed, "old_passwords_destroyed": old_passwords}


# -- found accounts: on a platform, claiming to be the school's, never registered -------------------
FOUND_SOURCE_LIMIT = 500


def found(
    conn: sqlite3.Connection, actor: str, school: str, platform: str, the_handle: str, the_url: str, source: str
) -> dict:
    """Record an account nobody registered (status `found`); returns it."""
    school_row = directory.get_school(conn, school)
    platform = model.platform(platform)
    the_handle = handle_for(the_handle, config.access(config.load(conn), {"platform": platform}))
    the_url = url(the_url)
    why = model.nonempty(source, "source", FOUND_SOURCE_LIMIT)
    account_id = model.slugify(f"{school_row['id']}-{platform}-{the_handle.lstrip('@')}")
    _refuse_duplicate(conn, account_id, school_row["id"], platform, the_handle)
    now = clock.now_iso()
    # Not yet anyone's account: no owner, email or case; a claim turns it into a request to complete.
    conn.execute(
        "INSERT INTO accounts(id, school, platform, handle, url, category, status, requested_by, requested_at, "
        "found_on, found_source) VALUES (?,?,?,?,?, 'faculty', 'found', ?, ?, ?, ?)",
        (account_id, school_row["id"], platform, the_handle, the_url, actor, now, clock.today().isoformat(), why),
    )
    store_case_hash(conn, account_id)
    events.record(
        conn,
        actor,
        "account.found",
        account_id,
        account=account_id,
        details={"school": school_row["id"], "platform": platform, "handle": the_handle, "url": the_url, "source": why},
    )
    return get_account(conn, account_id)


def claim(conn: sqlite3.Connection, actor: str, account_id: str) -> dict:
    """A found account becomes a request: its case and people must then be completed and approved."""
    account = get_account(conn, account_id)
    _require_found(account, "claim")
    conn.execute(
        "UPDATE accounts SET status = 'requested', requested_by = ?, requested_at = ? WHERE id = ?",
        (actor, clock.now_iso(), account["id"]),
    )
    events.record(
        conn, actor, "account.claim", account["id"], account=account["id"], details={"found_on": account["found_on"]}
    )
    return get_account(conn, account["id"])


def takedown(
    conn: sqlite3.Connection, actor: str, account_id: str, reported_on: str, reference: str | None = None
) -> dict:
    """A found account reported to the platform for takedown (status `reported`)."""
    account = get_account(conn, account_id)
    _require_found(account, "report for takedown")
    day = recorded_date(reported_on, "--reported-on")
    ref = model.optional_text(reference, "reference", 200)
    conn.execute(
        "UPDATE accounts SET status = 'reported', reported_on = ?, takedown_reference = ? WHERE id = ?",
        (day, ref, account["id"]),
    )
    events.record(
        conn,
        actor,
        "account.takedown",
        account["id"],
        account=account["id"],
        details={"reported_on": day, "reference": ref},
    )
    return get_account(conn, account["id"])


def _require_found(account: dict, doing: str) -> None:
    if account["status"] != "found":
        raise InputError(
            f"cannot {doing} {account['id']}: it is {account['status']}, and only a found account "
            "(recorded with 'accountctl account found') can be"
        )


def _url_recorded_on(conn: sqlite3.Connection, account: dict) -> str | None:
    """The day the account's URL last changed, from the recent events, or None.

    Not its request: a register often starts with accounts the head was told of long before.
    """
    row = conn.execute(
        "SELECT max(at) FROM main.events WHERE account = ? AND action = 'account.update' "
        "AND json_extract(details, '$.url') IS NOT NULL",
        (account["id"],),
    ).fetchone()
    return row[0][:10] if row and row[0] else None


def notify_head(conn: sqlite3.Connection, actor: str, account_id: str, on: str | None = None) -> dict:
    """Record that the headteacher was told the account's URL and identity (Huxley 6.3(b))."""
    account = get_account(conn, account_id)
    _require_status(account, LIVE_STATUSES, "notify the headteacher of")
    day = clock.past_date(on, "--on") if on else clock.today()
    since = _url_recorded_on(conn, account)
    if since and day.isoformat() < since:
        raise InputError(
            f"--on {day.isoformat()} is before {account['id']}'s address {shown(account['url'] or '')} was "
            f"recorded ({since}): the head can only have been told of it from then on"
        )
    heads = [
        r["email"]
        for r in conn.execute(
            "SELECT email, roles FROM staff WHERE school = ? AND status = 'active'", (account["school"],)
        )
        if "headteacher" in json.loads(r["roles"])
    ]
    conn.execute("UPDATE accounts SET head_notified_on = ? WHERE id = ?", (day.isoformat(), account["id"]))
    events.record(
        conn,
        actor,
        "account.notify-head",
        account["id"],
        account=account["id"],
        details={"on": day.isoformat(), "url": account["url"], "handle": account["handle"], "headteachers": heads},
    )
    return get_account(conn, account["id"])


def activation_gaps(conn: sqlite3.Connection, account: dict) -> list[str]:
    """Every step missing before an account may go live (empty when it may)."""
    from accountctl.core import approvals

    gaps = []
    decision, problems, changed = approvals.approval_state(conn, account)
    if decision is None:
        gaps.append("not approved by SLT (accountctl approve " + account["id"] + ")")
    elif problems:
        gaps.append("its approval is not valid (" + "; ".join(problems) + ")")
    elif changed:
        gaps.append("its business case or people changed since it was approved: it needs a new approval")
    if not account["head_notified_on"]:
        gaps.append(
            "headteacher not notified of the URL and identity (accountctl account notify-head " + account["id"] + ")"
        )
    eligible = eligible_admins(conn, account)
    if len(eligible) < 2:
        gaps.append(f"fewer than two eligible admins ({len(eligible)})")
    gaps += _ineligible_people(conn, account)
    gaps += _training_gaps(conn, account, eligible)
    school = directory.get_school(conn, account["school"])
    try:
        school_email(conn, school, account["email"])
    except InputError:
        gaps.append(f"linked email {account['email'] or '(none)'} is not on a school domain")
    from accountctl.core import waysin

    if waysin.access_of(conn, account) == "login":
        if not credentials_held(conn, account["id"]):
            gaps.append("IT does not hold the password (accountctl cred set " + account["id"] + ")")
    else:  # no password to hold: the platform itself must show its admins in control (SPEC "Ways in")
        gap = waysin.attestation_gap(conn, account, eligible)
        if gap:
            gaps.append(gap)
    gaps += _under_age_gap(conn, account)
    return gaps


def _under_age_gap(conn: sqlite3.Connection, account: dict) -> list[str]:
    """PUPILS_UNDER_PLATFORM_AGE as an error (pupils join) and not waived: the account may not go live."""
    from accountctl.core import config, waysin

    settings = config.load(conn)
    if not waysin.pupils_join(account, config.access(settings, account)) or account.get("pupils") in (None, "none"):
        return []
    minimum = config.min_age(settings, account["platform"])
    if minimum is None or int(account["pupils"]) >= minimum:
        return []
    waived = conn.execute(
        "SELECT 1 FROM waivers WHERE account = ? AND rule = 'PUPILS_UNDER_PLATFORM_AGE' AND until >= ?",
        (account["id"], clock.today().isoformat()),
    ).fetchone()
    if waived:
        return []
    return [
        f"pupils from age {account['pupils']} would join {account['platform']}, which is for {minimum} and over "
        "(PUPILS_UNDER_PLATFORM_AGE)"
    ]


def _training_gaps(conn: sqlite3.Connection, account: dict, eligible: list[str]) -> list[str]:
    """Each eligible owner or admin whose training is not in order today, with what is missing."""
    from accountctl.core import config

    settings = config.load(conn)
    today = clock.today()
    out = []
    for email in eligible:
        missing = eligibility.training_gaps(directory.find_staff(conn, email), settings, today)
        if missing:
            out.append(
                f"{'owner' if email == account['owner'] else 'admin'} {email}: {' and '.join(missing)} "
                f"(accountctl staff train {email} --on DATE)"
            )
    return out


def activate(conn: sqlite3.Connection, actor: str, account_id: str) -> dict:
    """Make an approved account active, refusing with every missing step named."""
    account = get_account(conn, account_id)
    # A request (or a rejected one) is refused with every missing step named, not just its status.
    _require_status(account, ("requested", "rejected", "approved", "suspended"), "activate")
    gaps = activation_gaps(conn, account)
    if gaps:
        raise InputError(f"cannot activate {account['id']}: " + "; ".join(gaps))
    _require_status(account, ("approved", "suspended"), "activate")
    conn.execute(
        "UPDATE accounts SET status = 'active', activated_on = ? WHERE id = ?",
        (clock.today().isoformat(), account["id"]),
    )
    events.record(
        conn,
        actor,
        "account.activate",
        account["id"],
        account=account["id"],
        details={"previous_status": account["status"]},
    )
    return get_account(conn, account["id"])
