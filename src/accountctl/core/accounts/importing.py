"""Legacy accounts as they are (CSV or JSON), so the audit shows every breach; only malformed rows are refused."""

from __future__ import annotations

import json
import sqlite3

from accountctl import clock, model
from accountctl.core import config, directory, eligibility, events
from accountctl.errors import InputError, shown
from accountctl.core.accounts.case import _handle_key, handle_for, url


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
    settings = config.load(conn)
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
            # an account recorded as it is takes its platform's access model
            the_handle = handle_for(row.get("handle"), config.access(settings, {"platform": platform}))
            the_url = url(row.get("url")) if (row.get("url") or "").strip() else None
            category = model.choice(row.get("category") or "", model.ACCOUNT_CATEGORIES, "category")
            linked = model.email(row["email"], "email") if (row.get("email") or "").strip() else None
            owner = model.email(row["owner"], "owner") if (row.get("owner") or "").strip() else None
            admins = [model.email(a, "admin") for a in _split(row.get("admins"))]
            contributors = [model.email(c, "contributor") for c in _split(row.get("contributors"))]
            status = model.choice(row.get("status") or "active", model.IMPORT_STATUSES, "status")
            account_id = (
                model.school_id_prefix(conn, model.slug(row["id"], "id"), school_id, "id")
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
    ids = model.RowIds(conn, "account_people")
    conn.executemany(
        "INSERT INTO account_people(id, account, email, role, added_at) VALUES (?,?,?,?,?)",
        [(ids.next(r[1]), r[0], a, "admin", now) for r in records for a in r[9]]
        + [(ids.next(r[1]), r[0], c, "contributor", now) for r in records for c in r[10]],
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
