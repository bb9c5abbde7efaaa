"""Official accounts: request, lifecycle, people, legacy import. Plain functions over the database."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field

from accountctl import clock, model, safetext
from accountctl.core import directory, eligibility, events
from accountctl.core.lookup import get_account, nearest  # get_account: the accounts API, apart for the hot paths
from accountctl.errors import InputError, shown

CASE_FIELDS = ("platform", "handle", "url", "category", "email", "aim", "audience", "promotion", "visibility")
IMPORT_COLUMNS = (
    "id",
    "school",
    "platform",
    "handle",
    "url",
    "category",
    "email",
    "owner",
    "admins",
    "contributors",
    "status",
)
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


def handle(value: str | None) -> str:
    text = (value or "").strip()
    if not text:
        raise InputError("handle must not be empty")
    model.plain_text(text, "handle")
    if len(text) > 200 or any(ch.isspace() for ch in text):
        raise InputError(f"handle must be one word of at most 200 characters, not {shown(text)}")
    return text


def _handle_key(text: str) -> str:
    return text.lstrip("@").lower()


def school_email(conn: sqlite3.Connection, school: dict, value: str | None) -> str:
    """The linked email: valid, and on one of the school's domains (never a personal provider)."""
    address = model.email(value, "linked email")
    domain = model.email_domain(address)
    if domain in model.PERSONAL_DOMAINS:
        raise InputError(f"linked email {address} is on a personal mail provider; use an official school email")
    if domain not in school["domains"]:
        raise InputError(f"linked email {address} is not on {school['id']}'s domains ({', '.join(school['domains'])})")
    return address


def eligible_staff(conn: sqlite3.Connection, school_id: str, email: str, what: str) -> str:
    """An owner or admin must be eligible: current staff of the account's school (or the central team), not only a volunteer."""
    address = model.email(email, what)
    reason = eligibility.ineligible(
        directory.find_staff(conn, address), school_id, directory.central_schools(conn), clock.today()
    )
    if reason:
        raise InputError(f"{what} {address} {reason}")
    return address


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
    day = clock.parse_date(value, what)
    if day > clock.today():
        raise InputError(f"{what} {day.isoformat()} is in the future")
    return day.isoformat()


@dataclass
class Request:
    school: str
    platform: str
    handle: str
    url: str
    category: str
    email: str
    owner: str
    admins: list[str]
    aim: str
    audience: str
    promotion: str
    visibility: str
    contributors: list[str] = field(default_factory=list)
    requested_by: str | None = None
    id: str | None = None
    pupils: str | None = None
    parents_informed_on: str | None = None


def people_of(conn: sqlite3.Connection, account_id: str) -> dict[str, list[str]]:
    """The account's admins and contributors, sorted."""
    out: dict[str, list[str]] = {"admin": [], "contributor": []}
    for row in conn.execute(
        "SELECT email, role FROM account_people WHERE account = ? AND removed_at IS NULL ORDER BY email", (account_id,)
    ):
        out[row["role"]].append(row["email"])
    return out


def request(conn: sqlite3.Connection, actor: str, req: Request) -> dict:
    """Record a request for a new official account; returns the new account."""
    school = directory.get_school(conn, req.school)
    platform = model.platform(req.platform)
    the_handle = handle(req.handle)
    the_url = url(req.url)
    category = model.choice(req.category, model.CATEGORIES, "category")
    linked = school_email(conn, school, req.email)
    owner = eligible_staff(conn, school["id"], req.owner, "owner")
    admins = [owner] + [eligible_staff(conn, school["id"], a, "admin") for a in req.admins]
    admins = list(dict.fromkeys(admins))
    if len(admins) < 2:
        raise InputError(f"an account needs at least two admins (the owner counts as one); got {', '.join(admins)}")
    contributors = list(dict.fromkeys(known_staff(conn, c, "contributor") for c in req.contributors))
    contributors = [c for c in contributors if c not in admins]
    aim = model.nonempty(req.aim, "aim")
    audience = model.nonempty(req.audience, "audience")
    promotion = model.nonempty(req.promotion, "promotion")
    visibility = model.choice(req.visibility, model.VISIBILITIES, "visibility")
    pupils = model.pupils(req.pupils) if req.pupils is not None else None
    informed = recorded_date(req.parents_informed_on, "--parents-informed-on") if req.parents_informed_on else None
    requested_by = model.email(req.requested_by, "requested-by") if req.requested_by else actor
    if req.requested_by and directory.find_staff(conn, requested_by) is None:
        raise InputError(f"requested-by {requested_by} is not staff in this register")
    account_id = (
        model.slug(req.id, "account id")
        if req.id
        else model.slugify(f"{school['id']}-{platform}-{the_handle.lstrip('@')}")
    )
    _refuse_duplicate(conn, account_id, school["id"], platform, the_handle)
    now = clock.now_iso()
    conn.execute(
        "INSERT INTO accounts(id, school, platform, handle, url, category, email, owner, aim, audience, promotion, "
        "visibility, pupils, parents_informed_on, status, requested_by, requested_at) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?, 'requested', ?, ?)",
        (
            account_id,
            school["id"],
            platform,
            the_handle,
            the_url,
            category,
            linked,
            owner,
            aim,
            audience,
            promotion,
            visibility,
            pupils,
            informed,
            requested_by,
            now,
        ),
    )
    _insert_people(conn, account_id, admins, contributors, now)
    store_case_hash(conn, account_id)
    events.record(
        conn,
        actor,
        "account.request",
        account_id,
        account=account_id,
        details={
            "school": school["id"],
            "platform": platform,
            "handle": the_handle,
            "url": the_url,
            "category": category,
            "email": linked,
            "owner": owner,
            "admins": admins,
            "contributors": contributors,
            "aim": aim,
            "audience": audience,
            "promotion": promotion,
            "visibility": visibility,
            "pupils": pupils,
            "parents_informed_on": informed,
            "requested_by": requested_by,
        },
    )
    return get_account(conn, account_id)


def _refuse_duplicate(conn, account_id: str, school_id: str, platform: str, the_handle: str) -> None:
    if conn.execute("SELECT 1 FROM accounts WHERE id = ?", (account_id,)).fetchone():
        raise InputError(f"account {account_id} already exists")
    for row in conn.execute("SELECT id, handle FROM accounts WHERE school = ? AND platform = ?", (school_id, platform)):
        if _handle_key(row["handle"]) == _handle_key(the_handle):
            raise InputError(f"{school_id} already has {platform} account {the_handle} ({row['id']})")


def _insert_people(conn, account_id: str, admins: list[str], contributors: list[str], at: str) -> None:
    conn.executemany(
        "INSERT INTO account_people(account, email, role, added_at) VALUES (?,?,?,?)",
        [(account_id, a, "admin", at) for a in admins] + [(account_id, c, "contributor", at) for c in contributors],
    )


def _end_membership(conn, account_id: str, email: str, role: str) -> None:
    conn.execute(
        "UPDATE account_people SET removed_at = ? WHERE account = ? AND email = ? AND role = ? AND removed_at IS NULL",
        (clock.now_iso(), account_id, email, role),
    )


def list_accounts(
    conn: sqlite3.Connection, school: str | None = None, status: str | None = None, platform: str | None = None
) -> list[dict]:
    """Accounts, with `admin_count`: their eligible admins, counted as the audit's TWO_ADMINS counts them."""
    today = clock.today().isoformat()
    sql = (
        "SELECT a.*, (SELECT count(*) FROM account_people p LEFT JOIN staff s ON s.email = p.email "
        "WHERE p.account = a.id AND p.role = 'admin' AND p.removed_at IS NULL "
        f"AND {eligibility.ELIGIBLE_SQL}) AS admin_count FROM accounts a WHERE 1=1"
    )
    args: list = [today, today]
    if school:
        args.append(directory.get_school(conn, school)["id"])
        sql += " AND a.school = ?"
    if status:
        args.append(model.choice(status, model.ACCOUNT_STATUSES, "status"))
        sql += " AND a.status = ?"
    if platform:
        args.append(model.platform(platform))
        sql += " AND a.platform = ?"
    cursor = conn.cursor()
    cursor.row_factory = None  # tuples and one zip: a third of the cost of sqlite3.Row -> dict at 10,000 rows
    cursor.execute(sql + " ORDER BY a.id", args)
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, r)) for r in cursor]


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
        reason = eligibility.ineligible(directory.find_staff(conn, email), account["school"], central, today)
        if reason:
            out.append(f"{'owner' if email == account['owner'] else 'admin'} {email} {reason}")
    return out


def _a(role: str) -> str:
    return f"an {role}" if role[0] in "aeiou" else f"a {role}"


def add_person(conn: sqlite3.Connection, actor: str, account_id: str, email: str, role: str) -> dict:
    """Add an admin or contributor (active staff of the account's school)."""
    account = get_account(conn, account_id)
    _require_status(account, LIVE_STATUSES, f"add {_a(role)} to")
    address = (
        eligible_staff(conn, account["school"], email, role) if role == "admin" else known_staff(conn, email, role)
    )
    current = people_of(conn, account["id"])
    if address in current[role]:
        raise InputError(f"{address} is already {_a(role)} of {account['id']}")
    if role == "contributor" and address in current["admin"]:
        raise InputError(f"{address} is already an admin of {account['id']}")
    if role == "admin" and address in current["contributor"]:
        _end_membership(conn, account["id"], address, "contributor")
    _insert_people(
        conn,
        account["id"],
        [address] if role == "admin" else [],
        [address] if role == "contributor" else [],
        clock.now_iso(),
    )
    _touch_case(conn, account["id"])
    events.record(conn, actor, f"account.{role}.add", address, account=account["id"], details={"email": address})
    return get_account(conn, account["id"])


def remove_person(conn: sqlite3.Connection, actor: str, account_id: str, email: str, role: str) -> dict:
    """Remove an admin or contributor; never the owner, never below two active admins."""
    account = get_account(conn, account_id)
    address = model.email(email)
    if address not in people_of(conn, account["id"])[role]:
        raise InputError(f"{address} is not {_a(role)} of {account['id']}")
    if role == "admin":
        if address == account["owner"]:
            raise InputError(
                f"{address} owns {account['id']}: transfer it first ('accountctl account transfer "
                f"{account['id']} --to EMAIL')"
            )
        active = eligible_admins(conn, account)
        if address in active and len(active) - 1 < 2 and account["status"] != "closed":
            raise InputError(
                f"removing {address} would leave {account['id']} with fewer than two eligible admins; "
                "add the replacement first"
            )
    _end_membership(conn, account["id"], address, role)
    _touch_case(conn, account["id"])
    events.record(conn, actor, f"account.{role}.remove", address, account=account["id"], details={"email": address})
    return get_account(conn, account["id"])


def transfer(
    conn: sqlite3.Connection, actor: str, account_id: str, to: str, reason: str | None = None, remove_old: bool = False
) -> dict:
    """Make `to` the owner (and an admin); with `remove_old`, drop the old owner as admin."""
    account = get_account(conn, account_id)
    _require_status(account, LIVE_STATUSES, "transfer")
    new_owner = eligible_staff(conn, account["school"], to, "new owner")
    old_owner = account["owner"]
    if new_owner == old_owner:
        raise InputError(f"{new_owner} already owns {account['id']}")
    people = people_of(conn, account["id"])
    if remove_old and old_owner:
        active = set(eligible_admins(conn, account)) | {new_owner}
        if old_owner in active and len(active) - 1 < 2:
            raise InputError(
                f"removing the old owner would leave {account['id']} with fewer than two eligible admins; "
                "add another admin first"
            )
    now = clock.now_iso()
    if new_owner in people["contributor"]:
        _end_membership(conn, account["id"], new_owner, "contributor")
    if new_owner not in people["admin"]:
        _insert_people(conn, account["id"], [new_owner], [], now)
    if remove_old and old_owner:
        _end_membership(conn, account["id"], old_owner, "admin")
    conn.execute("UPDATE accounts SET owner = ? WHERE id = ?", (new_owner, account["id"]))
    _touch_case(conn, account["id"])
    events.record(
        conn,
        actor,
        "account.transfer",
        new_owner,
        account=account["id"],
        details={
            "from": old_owner,
            "to": new_owner,
            "reason": model.optional_text(reason, "--reason"),
            "old_owner_removed": remove_old,
        },
    )
    return get_account(conn, account["id"])


def update(conn: sqlite3.Connection, actor: str, account_id: str, changes: dict[str, str | None]) -> dict:
    """Change or complete an account's linked email, URL or business case; a material change needs a new approval.

    The date parents were informed is a record, not part of the case: it needs no new approval.
    """
    account = get_account(conn, account_id)
    _require_status(account, LIVE_STATUSES, "update")
    school = directory.get_school(conn, account["school"])
    checks = {
        "email": lambda v: school_email(conn, school, v),
        "url": url,
        "aim": lambda v: model.nonempty(v, "aim"),
        "audience": lambda v: model.nonempty(v, "audience"),
        "promotion": lambda v: model.nonempty(v, "promotion"),
        "visibility": lambda v: model.choice(v, model.VISIBILITIES, "visibility"),
        "pupils": model.pupils,
        "parents_informed_on": lambda v: recorded_date(v, "--parents-informed-on"),
    }
    new = {k: checks[k](v) for k, v in changes.items() if v is not None}
    if not new:
        raise InputError(
            "nothing to change: give --email, --url, --aim, --audience, --promotion, --visibility, "
            "--pupils or --parents-informed-on"
        )
    new = {k: v for k, v in new.items() if v != account[k]}
    if not new:
        raise InputError(f"{account['id']} already has those values")
    conn.execute(
        f"UPDATE accounts SET {', '.join(f'{k} = ?' for k in new)} WHERE id = ?", (*new.values(), account["id"])
    )
    if set(new) - {"parents_informed_on"}:
        _touch_case(conn, account["id"])
    events.record(
        conn,
        actor,
        "account.update",
        account["id"],
        account=account["id"],
        details={k: {"from": account[k], "to": v} for k, v in new.items()},
    )
    return get_account(conn, account["id"])


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
    the_handle = handle(the_handle)
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


def notify_head(conn: sqlite3.Connection, actor: str, account_id: str, on: str | None = None) -> dict:
    """Record that the headteacher was told the account's URL and identity (Huxley 6.3(b))."""
    account = get_account(conn, account_id)
    _require_status(account, LIVE_STATUSES, "notify the headteacher of")
    day = clock.parse_date(on, "--on") if on else clock.today()
    if day > clock.today():
        raise InputError(f"--on {day.isoformat()} is in the future")
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


def credentials_held(conn: sqlite3.Connection, account_id: str) -> bool:
    """Whether IT holds a password for the account (the vault stores it encrypted)."""
    row = conn.execute("SELECT password IS NOT NULL FROM credentials WHERE account = ?", (account_id,)).fetchone()
    return bool(row and row[0])


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
    if not credentials_held(conn, account["id"]):
        gaps.append("IT does not hold the password (accountctl cred set " + account["id"] + ")")
    return gaps


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


def show(conn: sqlite3.Connection, account_id: str) -> dict:
    """An account with its business case, people, status and latest decision."""
    from accountctl.core import approvals

    account = get_account(conn, account_id)
    people = people_of(conn, account["id"])
    decision = approvals.latest(conn, account["id"])
    account["admins"] = people["admin"]
    account["contributors"] = people["contributor"]
    account["legacy"] = bool(account["legacy"])
    account["approval"] = (
        None
        if decision is None
        else {
            "decision": decision["decision"],
            "approver": decision["approver"],
            "at": decision["at"],
            "note": decision["note"],
            "current": decision["case_hash"] == approvals.case_hash(approvals.case_of(conn, account)),
        }
    )
    account["credentials_held"] = credentials_held(conn, account["id"])
    account["case_missing"] = (
        [CASE_PARTS[p][0] for p in case_gaps(account)] if account["status"] in LIVE_STATUSES else []
    )
    return account


# -- legacy import --------------------------------------------------------------------------------
def _split(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in str(value).split(";") if v.strip()]


def parse_import(text: str, name: str = "") -> list[dict]:
    """Rows of an account import (CSV or a JSON list) with their line or item numbers."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise InputError("the account import file is empty")
    if name.lower().endswith(".json") or text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"not valid JSON: {exc.msg} at line {exc.lineno}") from None
        except (ValueError, RecursionError):  # a number too long to convert, nesting too deep
            raise InputError("not valid JSON for an account import (a number too long or nesting too deep)") from None
        if not isinstance(data, list) or not data:
            raise InputError("the JSON account import must be a non-empty list of objects")
        rows = []
        for number, item in enumerate(data, 1):
            if not isinstance(item, dict):
                raise InputError(f"item {number}: not an object")
            try:
                json.dumps(item, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError:
                raise InputError(
                    f"item {number}: contains an unpaired surrogate escape (\\ud800-\\udfff), which is not text"
                ) from None
            unknown = set(item) - set(IMPORT_COLUMNS)
            if unknown:
                raise InputError(f"item {number}: unknown field(s) {', '.join(sorted(unknown))}")
            row = {k: item.get(k) for k in IMPORT_COLUMNS}
            for k in IMPORT_COLUMNS:
                if k not in ("admins", "contributors") and row[k] is not None and not isinstance(row[k], str):
                    raise InputError(f"item {number}: {k} must be a string")
            row["_where"] = f"item {number}"
            rows.append(row)
        return rows
    from accountctl.core import csvrows

    _, rows = csvrows.read(text, "account CSV", IMPORT_COLUMNS)
    for row in rows:
        row["_where"] = f"line {row.pop('_line')}"
    return rows


def import_accounts(conn: sqlite3.Connection, actor: str, rows: list[dict], progress=None) -> list[str]:
    """Record existing accounts as they are (status given, no approval); all rows or none."""
    schools = {s["id"]: s for s in directory.list_schools(conn)}
    taken_ids = {r[0] for r in conn.execute("SELECT id FROM accounts")}
    taken_handles = {
        (r[0], r[1], _handle_key(r[2])) for r in conn.execute("SELECT school, platform, handle FROM accounts")
    }
    records = []
    for row in rows:
        where = row["_where"]
        try:
            school_id = (row.get("school") or "").strip().lower()
            if school_id not in schools:
                raise InputError(
                    f"unknown school {shown(row.get('school') or '')}{model.did_you_mean(school_id, schools)}"
                )
            platform = model.platform(row.get("platform") or "")
            the_handle = handle(row.get("handle"))
            the_url = url(row.get("url")) if (row.get("url") or "").strip() else None
            category = model.choice(row.get("category") or "", model.CATEGORIES, "category")
            linked = model.email(row["email"], "email") if (row.get("email") or "").strip() else None
            owner = model.email(row["owner"], "owner") if (row.get("owner") or "").strip() else None
            admins = [model.email(a, "admin") for a in _split(row.get("admins"))]
            contributors = [model.email(c, "contributor") for c in _split(row.get("contributors"))]
            status = model.choice(row.get("status") or "active", model.IMPORT_STATUSES, "status")
            account_id = (
                model.slug(row["id"], "id")
                if (row.get("id") or "").strip()
                else model.slugify(f"{school_id}-{platform}-{the_handle.lstrip('@')}")
            )
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
        key = (school_id, platform, _handle_key(the_handle))
        if account_id in taken_ids:
            raise InputError(f"{where}: account {account_id} already exists")
        if key in taken_handles:
            raise InputError(f"{where}: {school_id} already has {platform} account {the_handle}")
        taken_ids.add(account_id)
        taken_handles.add(key)
        admins = list(dict.fromkeys(([owner] if owner else []) + admins))
        contributors = [c for c in dict.fromkeys(contributors) if c not in admins]
        records.append(
            (
                account_id,
                school_id,
                platform,
                the_handle,
                the_url,
                category,
                linked,
                owner,
                status,
                admins,
                contributors,
            )
        )
        if progress and len(records) % 200 == 0:
            progress(len(records), len(rows))
    now = clock.now_iso()
    today = clock.today().isoformat()
    # A suspended or closed account is taken as suspended or closed from the day it is recorded.
    conn.executemany(
        "INSERT INTO accounts(id, school, platform, handle, url, category, email, owner, status, legacy, "
        "requested_by, requested_at, suspended_on, closed_on) VALUES (?,?,?,?,?,?,?,?,?,1,NULL,?,?,?)",
        [r[:9] + (now, today if r[8] == "suspended" else None, today if r[8] == "closed" else None) for r in records],
    )
    conn.executemany(
        "INSERT INTO account_people(account, email, role, added_at) VALUES (?,?,?,?)",
        [(r[0], a, "admin", now) for r in records for a in r[9]]
        + [(r[0], c, "contributor", now) for r in records for c in r[10]],
    )
    from accountctl.core import approvals

    conn.executemany(
        "UPDATE accounts SET case_hash = ? WHERE id = ?",
        [
            (
                approvals.case_hash(
                    approvals.case_from(
                        {"platform": r[2], "handle": r[3], "url": r[4], "category": r[5], "email": r[6], "owner": r[7]},
                        sorted(r[9]),
                        sorted(r[10]),
                    )
                ),
                r[0],
            )
            for r in records
        ],
    )
    events.record_many(
        conn,
        actor,
        [
            (
                "account.import",
                r[0],
                r[0],
                {
                    "school": r[1],
                    "platform": r[2],
                    "handle": r[3],
                    "url": r[4],
                    "category": r[5],
                    "email": r[6],
                    "owner": r[7],
                    "status": r[8],
                    "admins": r[9],
                    "contributors": r[10],
                },
            )
            for r in records
        ],
    )
    return [r[0] for r in records]


def import_warnings(conn: sqlite3.Connection, account_ids: list[str]) -> list[str]:
    """The people named on these accounts whom the register does not know as able to hold their role.

    One line per person and reason: an owner or admin who is not eligible (not staff of the school or the
    central team, left, only a volunteer), a contributor who is not staff in this register at all.
    """
    wanted = set(account_ids)
    if not wanted:
        return []
    today = clock.today()
    central = directory.central_schools(conn)
    staff = {
        r[0]: {"school": r[1], "roles": r[2], "left_on": r[3], "moved_from": r[4], "moved_on": r[5]}
        for r in conn.execute("SELECT email, school, roles, left_on, moved_from, moved_on FROM staff")
    }
    accounts = {r[0]: (r[1], r[2]) for r in conn.execute("SELECT id, school, owner FROM accounts")}
    named: dict[tuple[str, str], list[str]] = {}
    for account_id, email, role in conn.execute(
        "SELECT account, email, role FROM account_people WHERE removed_at IS NULL ORDER BY account, id"
    ):
        if account_id not in wanted:
            continue
        school, owner = accounts[account_id]
        if role == "admin":
            reason = eligibility.ineligible(staff.get(email), school, central, today)
            role = "owner" if email == owner else "admin"
        else:
            reason = None if email in staff else "is not staff in this register"
        if reason:
            named.setdefault((email, reason), []).append(f"{role} of {account_id}")
    from accountctl.core.audit import _some  # the audit's "first few, then how many more"

    return [f"{email} {reason} ({_some(places, 3)})" for (email, reason), places in named.items()]
