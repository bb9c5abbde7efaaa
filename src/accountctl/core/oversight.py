"""SLT and admin oversight of accounts: waivers, annual reviews, monitoring checks."""

from __future__ import annotations

import sqlite3
from datetime import date

from accountctl import clock, model
from accountctl.core import approvals, directory, events
from accountctl.core.accounts import get_account, people_of
from accountctl.errors import AccessError, InputError, shown

MAX_WAIVER_DAYS = 366  # the longest a calendar year can be; see one_year_after


def one_year_after(day: date) -> date:
    """The same date a year later (29 February: 28 February), the last day a waiver may run to."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return day.replace(year=day.year + 1, day=28)


def _require_slt(conn: sqlite3.Connection, actor: str, account: dict, doing: str) -> None:
    school = directory.get_school(conn, account["school"])
    refusal = approvals.may_decide(directory.find_staff(conn, actor), school)
    if refusal:
        raise AccessError(refusal.replace("decide on", doing))


def waive(conn: sqlite3.Connection, actor: str, account_id: str, rule_id: str, reason: str, until: str) -> dict:
    """Accept one audit rule for one account until a date (SLT of the school, or the CEO)."""
    from accountctl.core.audit import RULES

    account = get_account(conn, account_id)
    rule_id = (rule_id or "").strip().upper()
    if rule_id not in RULES:
        raise InputError(f"unknown rule {shown(rule_id)}{model.did_you_mean(rule_id, RULES)}; see 'accountctl rules'")
    if rule_id == "CUSTODIAN_LEFT":
        raise InputError("CUSTODIAN_LEFT is about a person, not an account, and cannot be waived: revoke the slot")
    if rule_id in model.TRUST_RULES:
        raise InputError(
            f"{rule_id} is about the whole register, not {account['id']}: "
            f"accountctl waive --trust {rule_id} --reason T --until DATE"
        )
    why, day = _waiver_terms(reason, until)
    _require_slt(conn, actor, account, "waive findings on")
    at = clock.now_iso()
    conn.execute(
        "INSERT INTO waivers(id, account, rule, reason, until, waived_by, at) VALUES (?,?,?,?,?,?,?)",
        (model.new_id(conn, "waivers", account["school"]), account["id"], rule_id, why, day.isoformat(), actor, at),
    )
    events.record(
        conn,
        actor,
        "audit.waive",
        account["id"],
        account=account["id"],
        details={"rule": rule_id, "reason": why, "until": day.isoformat()},
    )
    return {"account": account["id"], "rule": rule_id, "until": day.isoformat(), "reason": why, "waived_by": actor}


def _waiver_terms(reason: str, until: str) -> tuple[str, date]:
    """A waiver's reason and end date: given, not past, at most a year ahead."""
    why = model.nonempty(reason, "--reason", 500)
    day = clock.parse_date(until, "--until")
    today = clock.today()
    if day < today:
        raise InputError(f"--until {day.isoformat()} is in the past")
    latest = one_year_after(today)
    if day > latest:
        raise InputError(f"a waiver lasts at most one year (until {latest.isoformat()})")
    return why, day


def waive_trust(conn: sqlite3.Connection, actor: str, rule_id: str, reason: str, until: str) -> dict:
    """Accept a trust-level finding (SINGLE_CUSTODIAN, POLICY_REVIEW_OVERDUE) until a date.

    The CEO decides; where the register holds one school, its SLT or headteacher.
    """
    wanted = (rule_id or "").strip().upper()
    if wanted not in model.TRUST_RULES:
        raise InputError(
            f"--trust waives a finding about the whole register ({', '.join(model.TRUST_RULES)}), not "
            f"{shown(rule_id or '')}: waive ID RULE for one account's"
        )
    why, day = _waiver_terms(reason, until)
    person = directory.find_staff(conn, actor)
    schools = [s for s in directory.list_schools(conn) if not s["central"]]
    refusal = approvals.may_decide(person, schools[0]) if len(schools) == 1 else None
    if len(schools) != 1 or refusal:
        if not (person and "ceo" in person["roles"] and directory.is_active(person, clock.real_today())):
            raise AccessError(
                "only the CEO can waive a trust-level finding" + ("" if len(schools) != 1 else " (or the school's SLT)")
            )
    at = clock.now_iso()
    conn.execute(
        "INSERT INTO trust_waivers(rule, reason, until, waived_by, at) VALUES (?,?,?,?,?)",
        (wanted, why, day.isoformat(), actor, at),
    )
    events.record(
        conn,
        actor,
        "audit.waive",
        wanted,
        details={"rule": wanted, "reason": why, "until": day.isoformat(), "trust": True},
    )
    return {"account": None, "rule": wanted, "until": day.isoformat(), "reason": why, "waived_by": actor}


def review(conn: sqlite3.Connection, actor: str, account_id: str, note: str | None = None) -> dict:
    """SLT's annual review of an account."""
    account = get_account(conn, account_id)
    if account["status"] in ("closed", "rejected", "gone"):
        raise InputError(f"{account['id']} is {account['status']}; there is nothing to review")
    _require_slt(conn, actor, account, "review")
    day = clock.today().isoformat()
    conn.execute("UPDATE accounts SET reviewed_on = ? WHERE id = ?", (day, account["id"]))
    events.record(
        conn,
        actor,
        "account.review",
        account["id"],
        account=account["id"],
        details={"on": day, "note": model.optional_text(note, "--note")},
    )
    return {"account": account["id"], "reviewed_on": day}


def monitor(
    conn: sqlite3.Connection,
    actor: str,
    account_id: str,
    is_custodian: bool,
    note: str | None = None,
    last_post: str | None = None,
    consent_checked: bool = False,
) -> dict:
    """A monitoring check done, by an admin of the account or a custodian.

    `last_post`: when it last posted (DORMANT). `consent_checked`: recent posts were checked against the
    consent and no-photo lists (kept in the school's own systems, never here).
    """
    account = get_account(conn, account_id)
    if account["status"] in ("closed", "rejected", "gone"):
        raise InputError(f"{account['id']} is {account['status']}; there is nothing to monitor")
    if not is_custodian and actor not in people_of(conn, account["id"])["admin"]:
        raise AccessError(f"only an admin of {account['id']} or an IT custodian can record a monitoring check")
    day = clock.today().isoformat()
    if consent_checked and account.get("pupil_images") != "yes":
        raise InputError(
            f"{account['id']} is not recorded as publishing pupil images "
            f"(accountctl account update {account['id']} --pupil-images yes)"
        )
    posted = None
    if last_post is not None:
        from accountctl.core.accounts import recorded_date

        posted = recorded_date(last_post, "--last-post")
    conn.execute(
        "UPDATE accounts SET monitored_on = ?, last_post_on = coalesce(?, last_post_on) WHERE id = ?",
        (day, posted, account["id"]),
    )
    details = {"on": day, "note": model.optional_text(note, "--note"), "last_post": posted}
    if consent_checked:
        conn.execute("UPDATE accounts SET consent_checked_on = ? WHERE id = ?", (day, account["id"]))
        details["consent_checked"] = True
    events.record(conn, actor, "account.monitor", account["id"], account=account["id"], details=details)
    return {
        "account": account["id"],
        "monitored_on": day,
        "last_post_on": posted,
        "consent_checked_on": day if consent_checked else None,
    }
