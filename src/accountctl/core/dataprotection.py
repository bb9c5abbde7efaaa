"""Data protection around the accounts: a DPIA per platform, and the pupil-images consent check.

A DPIA (data protection impact assessment) is recorded per platform for one school or, with no
school, for the whole trust; an account is covered by its school's or the trust's. The register
never holds pupils' names: the consent and no-photo lists stay in the school's own systems, and the
register records only that an account publishes pupil images and when its posts were last checked.
"""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta

from accountctl import clock, model
from accountctl.core import directory, events
from accountctl.errors import AccessError, InputError

DPIA_REVIEW_DAYS = 365  # DPIA_REVIEW_DUE: a DPIA is reviewed yearly unless recorded otherwise
YES_NO = ("yes", "no")
TRUST = ""  # the school of a trust-wide DPIA


def record_dpia(
    conn: sqlite3.Connection,
    actor: str,
    may_record: bool,
    platform: str,
    ref: str,
    approved_on: str,
    review_days: int | None = None,
    school: str | None = None,
) -> dict:
    """Record (or renew) the DPIA for a platform, for one school or the whole trust."""
    if not may_record:
        raise AccessError("only an IT custodian or the data protection officer can record a DPIA")
    the_platform = model.platform(platform)
    the_school = directory.get_school(conn, school)["id"] if school else TRUST
    the_ref = model.nonempty(ref, "--ref")
    on = clock.parse_date(approved_on, "--approved-on").isoformat()
    if on > clock.today().isoformat():
        raise InputError(f"--approved-on {on} is in the future")
    days = DPIA_REVIEW_DAYS if review_days is None else review_days
    if not 1 <= days <= 3 * 365:
        raise InputError(f"--review-days {days} must be between 1 and {3 * 365}")
    conn.execute(
        "INSERT OR REPLACE INTO dpias(platform, school, ref, approved_on, review_days, recorded_by, at) "
        "VALUES (?,?,?,?,?,?,?)",
        (the_platform, the_school, the_ref, on, days, actor, clock.now_iso()),
    )
    events.record(
        conn,
        actor,
        "platform.dpia",
        the_platform,
        details={"school": the_school or None, "ref": the_ref, "approved_on": on, "review_days": days},
    )
    return dpia_row(the_platform, the_school, the_ref, on, days, actor)


def dpia_row(platform: str, school: str, ref: str, approved_on: str, review_days: int, by: str) -> dict:
    due = (date.fromisoformat(approved_on) + timedelta(days=int(review_days))).isoformat()
    return {
        "platform": platform,
        "school": school or None,
        "ref": ref,
        "approved_on": approved_on,
        "review_days": int(review_days),
        "review_due": due,
        "recorded_by": by,
    }


def list_dpias(conn: sqlite3.Connection) -> list[dict]:
    """Every DPIA on record, by platform then school (the trust's first)."""
    return [
        dpia_row(*r)
        for r in conn.execute(
            "SELECT platform, school, ref, approved_on, review_days, recorded_by FROM dpias ORDER BY platform, school"
        )
    ]


def all_dpias(conn: sqlite3.Connection) -> dict[tuple[str, str], dict]:
    """(platform, school or '') -> DPIA: what the audit reads."""
    return {(d["platform"], d["school"] or TRUST): d for d in list_dpias(conn)}


def dpia_for(dpias: dict[tuple[str, str], dict], platform: str, school: str) -> dict | None:
    """The DPIA covering a platform at a school: the school's own, else the trust's."""
    return dpias.get((platform, school)) or dpias.get((platform, TRUST))


def dpia_line(conn: sqlite3.Connection, account: dict) -> str:
    """What SLT is shown when deciding: the DPIA reference, or that there is none."""
    found = dpia_for(all_dpias(conn), account["platform"], account["school"])
    if found is None:
        return (
            f"No DPIA is recorded for {account['platform']} at {account['school']} or the trust "
            f"(accountctl platform dpia {account['platform']} --ref T --approved-on DATE)."
        )
    return f"DPIA for {account['platform']}: {found['ref']}, approved {found['approved_on']}, review due {found['review_due']}."


def coverage(conn: sqlite3.Connection, school: str | None = None) -> list[dict]:
    """For each platform with a live account: whether a DPIA covers each school using it (the governors' report)."""
    dpias = all_dpias(conn)
    sql = "SELECT DISTINCT platform, school FROM accounts WHERE status IN ('approved', 'active', 'suspended')"
    args: list = []
    if school:
        sql += " AND school = ?"
        args.append(school)
    out = []
    for platform, where in conn.execute(sql + " ORDER BY platform, school", args):
        found = dpia_for(dpias, platform, where)
        out.append(
            {
                "platform": platform,
                "school": where,
                "ref": found["ref"] if found else None,
                "review_due": found["review_due"] if found else None,
            }
        )
    return out


def yes_no(value: str, option: str) -> str:
    """`yes` or `no`, as given to an option."""
    return model.choice(value, YES_NO, option)


def breach_log_for_report(conn: sqlite3.Connection, incidents: list[dict]) -> list[dict]:
    """The governors' breach log: each breach of the period, decided or not, reported or not; never its text."""
    from accountctl.core.incidents import latest_decision

    out = []
    for item in incidents:
        if item["kind"] != "breach":
            continue
        row = conn.execute(
            "SELECT i.discovered_at, i.opened_at, s.reference FROM incidents i LEFT JOIN incident_steps s "
            "ON s.incident = i.id AND s.step = 'ico-reported' WHERE i.id = ?",
            (item["id"],),
        ).fetchone()
        decision = latest_decision(conn, item["id"])
        out.append(
            {
                "id": item["id"],
                "account": item["account"],
                "school": item["school"],
                "discovered_at": row["discovered_at"] or row["opened_at"],
                "decision": None
                if decision is None
                else ("reportable" if decision["reportable"] else "not reportable"),
                "decided_at": decision["at"] if decision else None,
                "ico_reference": row["reference"],
            }
        )
    return out


def set_leads(
    conn: sqlite3.Connection, actor: str, may: bool, school: str, digital_lead: str | None, link_governor: str | None
) -> dict:
    """Name a school's SLT digital lead and its link governor (the DfE's digital and technology standards)."""
    if not may:
        raise AccessError("only an IT custodian can name the digital lead and the link governor")
    row = directory.get_school(conn, school)
    if digital_lead is None and link_governor is None:
        raise InputError("give --digital-lead EMAIL and/or --link-governor EMAIL")
    changes = {}
    if digital_lead is not None:
        person = directory.get_staff(conn, digital_lead)
        if not set(person["roles"]) & {"slt", "headteacher", "ceo"}:
            raise InputError(
                f"the digital lead is a member of SLT; {person['email']} is not (roles: {', '.join(person['roles'])})"
            )
        changes["digital_lead"] = person["email"]
    if link_governor is not None:
        person = directory.get_staff(conn, link_governor)
        if not set(person["roles"]) & {"governor", "chair"}:
            raise InputError(f"the link governor is a governor; {person['email']} is not (add the role governor)")
        changes["link_governor"] = person["email"]
    conn.execute(
        f"UPDATE schools SET {', '.join(f'{k} = ?' for k in changes)} WHERE id = ?", (*changes.values(), row["id"])
    )
    events.record(conn, actor, "school.leads", row["id"], details=changes)
    return leads(conn, row["id"])[0]


def leads(conn: sqlite3.Connection, school: str | None = None) -> list[dict]:
    """Each school's digital lead and link governor, by name (the governors' report)."""
    names = {r[0]: r[1] for r in conn.execute("SELECT email, name FROM staff")}
    out = []
    for r in conn.execute("SELECT id, name, digital_lead, link_governor FROM schools ORDER BY name, id"):
        if school and r["id"] != school:
            continue
        out.append(
            {
                "school": r["id"],
                "school_name": r["name"],
                "digital_lead": r["digital_lead"],
                "digital_lead_name": names.get(r["digital_lead"]),
                "link_governor": r["link_governor"],
                "link_governor_name": names.get(r["link_governor"]),
            }
        )
    return out


ASSET_COLUMNS = [
    "school",
    "platform",
    "handle",
    "url",
    "access_model",
    "category",
    "status",
    "owner",
    "admins",
    "linked_mailbox",
    "approved_on",
    "approved_by",
    "last_review",
    "dpia_ref",
    "retention_days",
]


def asset_register(conn: sqlite3.Connection) -> list[dict]:
    """One row per account for the trust's asset and information-asset registers (DfE standards)."""
    from accountctl.core import config

    dpias = all_dpias(conn)
    retention = config.load(conn).get("retention.closed-account") or None
    admins: dict[str, list[str]] = {}
    for account, email in conn.execute(
        "SELECT account, email FROM account_people WHERE role = 'admin' AND removed_at IS NULL ORDER BY email"
    ):
        admins.setdefault(account, []).append(email)
    decided = {
        r[0]: (r[1], r[2])
        for r in conn.execute(
            "SELECT account, at, approver FROM approvals WHERE id IN (SELECT max(id) FROM approvals GROUP BY account) "
            "AND decision = 'approved'"
        )
    }
    out = []
    for a in conn.execute(
        "SELECT * FROM accounts WHERE status NOT IN ('found', 'reported', 'gone') ORDER BY school, platform, handle"
    ):
        a = dict(a)
        found = dpia_for(dpias, a["platform"], a["school"])
        approved = decided.get(a["id"])
        out.append(
            {
                "school": a["school"],
                "platform": a["platform"],
                "handle": a["handle"],
                "url": a["url"],
                "access_model": a.get("access") or "login",
                "category": a["category"],
                "status": a["status"],
                "owner": a["owner"],
                "admins": admins.get(a["id"], []),
                "linked_mailbox": a["email"],
                "approved_on": approved[0][:10] if approved else None,
                "approved_by": approved[1] if approved else None,
                "last_review": a["reviewed_on"],
                "dpia_ref": found["ref"] if found else None,
                "retention_days": retention,
            }
        )
    return out
