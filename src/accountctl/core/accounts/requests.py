"""Requesting an account, changing its business case, listing and showing accounts."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from accountctl import clock, model
from accountctl.core import config, directory, eligibility, events, waysin
from accountctl.core.lookup import get_account  # get_account: the accounts API, apart for the hot paths
from accountctl.errors import InputError
from accountctl.core.accounts.case import (
    CASE_PARTS,
    LIVE_STATUSES,
    _insert_people,
    _refuse_duplicate,
    _require_status,
    _touch_case,
    case_gaps,
    credentials_held,
    eligible_staff,
    handle_for,
    known_staff,
    people_of,
    platform_url,
    recorded_date,
    school_email,
    store_case_hash,
)


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
    access: str | None = None  # login, roles or group (default: the platform's, `config set access.PLATFORM`)
    via: list[str] = field(default_factory=list)  # service records whose people reach it
    pupil_images: str | None = None  # 'yes' / 'no': does it publish images of pupils?
    pupils_join: str | None = None  # 'yes' / 'no': do pupils follow, message or join with their own accounts?


def request(conn: sqlite3.Connection, actor: str, req: Request) -> dict:
    """Record a request for a new official account; returns the new account."""
    school = directory.get_school(conn, req.school)
    platform = model.platform(req.platform)
    access = waysin.access_model(req.access) if req.access else config.access(config.load(conn), {"platform": platform})
    the_handle = handle_for(req.handle, access)
    the_url = platform_url(req.url, platform)
    category = model.choice(req.category, model.ACCOUNT_CATEGORIES, "category")
    waysin.check_category(platform, category, access)
    vias = waysin.resolve_vias(conn, school["id"], req.via)
    linked = school_email(conn, school, req.email)
    owner = eligible_staff(conn, school["id"], req.owner, "owner")
    admins = [owner] + [eligible_staff(conn, school["id"], a, "admin") for a in req.admins]
    admins = list(dict.fromkeys(admins))
    counted = [
        a
        for a in admins
        if eligibility.ineligible(
            directory.find_staff(conn, a), school["id"], directory.central_schools(conn), clock.today()
        )
        is None
    ]
    if len(counted) < 2:
        extra = [a for a in admins if a not in counted]
        raise InputError(
            f"an account needs at least two admins (the owner counts as one); got {', '.join(counted)}"
            + (f" (volunteer {', '.join(extra)} is an additional admin, who does not count)" if extra else "")
        )
    contributors = list(dict.fromkeys(known_staff(conn, c, "contributor") for c in req.contributors))
    contributors = [c for c in contributors if c not in admins]
    aim = model.nonempty(req.aim, "aim")
    audience = model.nonempty(req.audience, "audience")
    promotion = model.nonempty(req.promotion, "promotion")
    visibility = model.choice(req.visibility, model.VISIBILITIES, "visibility")
    pupils = model.pupils(req.pupils) if req.pupils is not None else None
    informed = recorded_date(req.parents_informed_on, "--parents-informed-on") if req.parents_informed_on else None
    images = model.choice(req.pupil_images, ("yes", "no"), "--pupil-images") if req.pupil_images else None
    join = model.choice(req.pupils_join, ("yes", "no"), "--pupils-join") if req.pupils_join else None
    requested_by = model.email(req.requested_by, "requested-by") if req.requested_by else actor
    if req.requested_by and directory.find_staff(conn, requested_by) is None:
        raise InputError(f"requested-by {requested_by} is not staff in this register")
    account_id = (
        model.school_id_prefix(conn, model.slug(req.id, "account id"), school["id"], "account id")
        if req.id
        else model.slugify(f"{school['id']}-{platform}-{the_handle.lstrip('@')}")
    )
    _refuse_duplicate(conn, account_id, school["id"], platform, the_handle)
    now = clock.now_iso()
    conn.execute(
        "INSERT INTO accounts(id, school, platform, handle, url, category, email, owner, aim, audience, promotion, "
        "visibility, pupils, parents_informed_on, status, requested_by, requested_at, access, pupil_images, "
        "pupils_join) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?, 'requested', ?, ?, ?, ?, ?)",
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
            access,
            images,
            join,
        ),
    )
    _insert_people(conn, account_id, admins, contributors, now)
    waysin.add_vias(conn, account_id, vias)
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
            "access": access,
            "via": vias,
            **({"pupil_images": images} if images else {}),
            **({"pupils_join": join} if join else {}),
        },
    )
    return get_account(conn, account_id)


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


def update(conn: sqlite3.Connection, actor: str, account_id: str, changes: dict[str, str | None]) -> dict:
    """Change or complete an account's linked email, URL or business case; a material change needs a new approval.

    The date parents were informed is a record, not part of the case: it needs no new approval.
    """
    account = get_account(conn, account_id)
    _require_status(account, LIVE_STATUSES, "update")
    school = directory.get_school(conn, account["school"])
    checks = {
        "email": lambda v: school_email(conn, school, v),
        "url": lambda v: platform_url(v, account["platform"]),
        "aim": lambda v: model.nonempty(v, "aim"),
        "audience": lambda v: model.nonempty(v, "audience"),
        "promotion": lambda v: model.nonempty(v, "promotion"),
        "visibility": lambda v: model.choice(v, model.VISIBILITIES, "visibility"),
        "pupils": model.pupils,
        "parents_informed_on": lambda v: recorded_date(v, "--parents-informed-on"),
        "pupil_images": lambda v: model.choice(v, ("yes", "no"), "--pupil-images"),
        "pupils_join": lambda v: model.choice(v, ("yes", "no"), "--pupils-join"),
    }
    new = {k: checks[k](v) for k, v in changes.items() if v is not None}
    if not new:
        raise InputError(
            "nothing to change: give --email, --url, --aim, --audience, --promotion, --visibility, "
            "--pupils, --parents-informed-on, --pupil-images or --pupils-join"
        )
    new = {k: v for k, v in new.items() if v != account[k]}
    if not new:
        raise InputError(f"{account['id']} already has those values")
    conn.execute(
        f"UPDATE accounts SET {', '.join(f'{k} = ?' for k in new)} WHERE id = ?", (*new.values(), account["id"])
    )
    if set(new) - {"parents_informed_on"}:
        _touch_case(conn, account["id"])
    if "url" in new and account["head_notified_on"]:
        # The head was told of the old address: parents could be sent to a page they never saw.
        conn.execute("UPDATE accounts SET head_notified_on = NULL WHERE id = ?", (account["id"],))
        new = {**new, "head_notified_on": None}
    events.record(
        conn,
        actor,
        "account.update",
        account["id"],
        account=account["id"],
        details={k: {"from": account[k], "to": v} for k, v in new.items()},
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
    account["access"] = waysin.access_of(conn, account)
    account["via"] = waysin.vias_of(conn, account["id"])
    account["ways_in"] = waysin.ways_in(conn, account, account["credentials_held"])
    account["case_missing"] = (
        [CASE_PARTS[p][0] for p in case_gaps(account)] if account["status"] in LIVE_STATUSES else []
    )
    return account
