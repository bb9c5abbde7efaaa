"""Attestation campaigns: the people who run each live account say what the platform itself shows.

The register records who was *declared*; a platform's own settings say who really holds admin rights
(often personal profiles given a role) and which 2FA method guards it. A campaign asks for that, per
account, by a due date; the audit compares the last attestation with the register
(UNKNOWN_PLATFORM_ADMIN, PLATFORM_ADMIN_MISSING, MFA_WEAK) and chases the late (ATTESTATION_OVERDUE).
An account's open campaign is the latest one it is in: a newer campaign supersedes an older one.
"""

from __future__ import annotations

import json
import sqlite3

from accountctl import clock, model
from accountctl.core import approvals, directory, events
from accountctl.core.lookup import get_account, nearest
from accountctl.errors import AccessError, InputError, shown

MFA_METHODS = ("totp", "app", "passkey", "sms", "none")
IN_SCOPE = ("active", "suspended")


def get_campaign(conn: sqlite3.Connection, campaign_id: str) -> dict:
    """One campaign as plain data, or InputError naming the nearest known ids."""
    wanted = (campaign_id or "").strip().lower()
    row = conn.execute("SELECT * FROM campaigns WHERE id = ?", (wanted,)).fetchone()
    if row is None:
        raise InputError(
            f"unknown campaign {shown(campaign_id or '')}"
            + (nearest(conn, wanted, "SELECT id FROM campaigns") or " (see: accountctl attest status)")
        )
    return dict(row)


def _may_start(conn: sqlite3.Connection, actor: str, is_custodian: bool, school: dict | None) -> None:
    if is_custodian:
        return
    person = directory.find_staff(conn, actor)
    if school is not None:
        why = approvals.may_decide(person, school)
    elif person is not None and "ceo" in person["roles"]:
        why = approvals.may_decide(person, {"id": "", "central": True})
    else:
        why = "only an IT custodian or the CEO can start a trust-wide campaign (SLT: add --school S)"
    if why:
        raise AccessError(f"cannot start an attestation campaign: {why}")


def _new_id(conn: sqlite3.Connection, school: str | None) -> str:
    """`att-N`; where ids are per school (format 5), `att-SCHOOL-N` or `att-trust-N`: a head sees only their own."""
    if not model.get_meta(conn, model.IDS_PER_SCHOOL):
        return f"att-{conn.execute('SELECT count(*) FROM campaigns').fetchone()[0] + 1}"
    prefix = f"att-{school or 'trust'}-"
    taken = [r[0][len(prefix) :] for r in conn.execute("SELECT id FROM campaigns WHERE id LIKE ?", (prefix + "%",))]
    return f"{prefix}{max((int(n) for n in taken if n.isdigit()), default=0) + 1}"


def start(conn: sqlite3.Connection, actor: str, is_custodian: bool, due: str, school: str | None = None) -> dict:
    """Open a campaign over every active or suspended account in scope; returns it with its accounts."""
    due_on = clock.parse_date(due, "--due")
    if due_on < clock.today():
        raise InputError(f"--due {due_on.isoformat()} is in the past; give the date answers are due by")
    scope = directory.get_school(conn, school) if school is not None else None
    _may_start(conn, actor, is_custodian, scope)
    sql = f"SELECT id FROM accounts WHERE status IN ({','.join('?' * len(IN_SCOPE))})"
    args: list = list(IN_SCOPE)
    if scope is not None:
        sql += " AND school = ?"
        args.append(scope["id"])
    accounts = [r[0] for r in conn.execute(sql + " ORDER BY id", args)]
    if not accounts:
        raise InputError(
            "no active or suspended accounts" + (f" in {scope['id']}" if scope else "") + ": nothing to attest"
        )
    campaign_id = _new_id(conn, scope["id"] if scope else None)
    conn.execute(
        "INSERT INTO campaigns(id, school, due, started_at, started_by) VALUES (?,?,?,?,?)",
        (campaign_id, scope["id"] if scope else None, due_on.isoformat(), clock.now_iso(), actor),
    )
    conn.executemany(
        "INSERT INTO campaign_accounts(campaign, account) VALUES (?,?)", [(campaign_id, a) for a in accounts]
    )
    events.record(
        conn,
        actor,
        "attest.start",
        campaign_id,
        details={"due": due_on.isoformat(), "school": scope["id"] if scope else None, "accounts": len(accounts)},
    )
    return status(conn, campaign_id)


def open_campaign(conn: sqlite3.Connection, account_id: str) -> dict | None:
    """The latest campaign the account is in, or None."""
    row = conn.execute(
        "SELECT c.* FROM campaigns c JOIN campaign_accounts ca ON ca.campaign = c.id WHERE ca.account = ? "
        "ORDER BY c.rowid DESC LIMIT 1",
        (account_id,),
    ).fetchone()
    return dict(row) if row else None


def match_admins(conn: sqlite3.Connection, text: str) -> list[dict]:
    """Each comma-separated entry as shown, with the staff email it matches (by email, or by exact name) or None."""
    entries = [e.strip() for e in (text or "").split(",")]
    if not any(entries) or not all(entries):
        raise InputError(
            "--admins must list every person with admin rights on the platform, comma-separated "
            f"(emails or names as the platform shows them), not {shown(text or '')}"
        )
    by_name: dict[str, list[str]] = {}
    for email, name in conn.execute("SELECT email, name FROM staff"):
        by_name.setdefault(" ".join(name.split()), []).append(email)
    out = []
    for entry in entries:
        model.plain_text(entry, "--admins")
        if "@" in entry:
            address = model.email(entry, "--admins entry")
            known = conn.execute("SELECT 1 FROM staff WHERE email = ?", (address,)).fetchone()
            out.append({"shown": address, "email": address if known else None})
        else:
            same = by_name.get(" ".join(entry.split()), [])
            out.append({"shown": entry, "email": same[0] if len(same) == 1 else None})
    return out


def _may_record(conn: sqlite3.Connection, actor: str, is_custodian: bool, account: dict) -> None:
    if is_custodian or actor == account["owner"]:
        return
    admin = conn.execute(
        "SELECT 1 FROM account_people WHERE account = ? AND email = ? AND role = 'admin' AND removed_at IS NULL",
        (account["id"], actor),
    ).fetchone()
    if admin is None:
        raise AccessError(f"only {account['id']}'s owner or an admin of it, or an IT custodian, can attest it")


def record(
    conn: sqlite3.Connection,
    actor: str,
    is_custodian: bool,
    account_id: str,
    admins: str,
    mfa: str,
    recovery: str | None = None,
    note: str | None = None,
    safety: str | None = None,
) -> dict:
    """Record what the platform's own settings show now, in the account's open campaign."""
    account = get_account(conn, account_id)
    settings = safety_settings(safety) if safety is not None else None
    method = model.choice(mfa, MFA_METHODS, "--mfa method")
    seen = match_admins(conn, admins)
    recovery_text = model.optional_text(recovery, "--recovery")
    note_text = model.optional_text(note, "--note")
    # Outside a campaign too (SPEC "Ways in"): a page with no password goes live on what an attestation shows.
    campaign = open_campaign(conn, account["id"]) or {"id": ""}
    _may_record(conn, actor, is_custodian, account)
    at = clock.now_iso()
    conn.execute(
        "INSERT INTO attestations(id, campaign, account, at, attested_by, admins, mfa, recovery, note, safety) "
        "VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            model.new_id(conn, "attestations", account["school"]),
            campaign["id"],
            account["id"],
            at,
            actor,
            json.dumps(seen),
            method,
            recovery_text,
            note_text,
            json.dumps(settings) if settings is not None else None,
        ),
    )
    events.record(
        conn,
        actor,
        "attest.record",
        campaign["id"] or account["id"],
        account=account["id"],
        details={
            "admins": [s["shown"] for s in seen],
            "mfa": method,
            "recovery": recovery_text,
            "note": note_text,
            "safety": settings,
        },
    )
    return {
        "campaign": campaign["id"] or None,
        "account": account["id"],
        "at": at,
        "attested_by": actor,
        "admins": seen,
        "mfa": method,
        "recovery": recovery_text,
        "note": note_text,
        "safety": settings,
    }


def latest_campaign(conn: sqlite3.Connection) -> dict | None:
    row = conn.execute("SELECT * FROM campaigns ORDER BY rowid DESC LIMIT 1").fetchone()
    return dict(row) if row else None


def status(conn: sqlite3.Connection, campaign_id: str | None = None) -> dict:
    """A campaign and each of its accounts: attested when, by whom and what it saw, or outstanding."""
    campaign = get_campaign(conn, campaign_id) if campaign_id is not None else latest_campaign(conn)
    if campaign is None:
        raise InputError("no attestation campaign yet; start one: accountctl attest start --due YYYY-MM-DD")
    last = {
        r["account"]: dict(r)
        for r in conn.execute("SELECT * FROM attestations WHERE campaign = ? ORDER BY id", (campaign["id"],))
    }
    overdue = clock.today().isoformat() > campaign["due"]
    accounts = []
    for r in conn.execute(
        "SELECT a.id, a.school, a.platform FROM campaign_accounts ca JOIN accounts a ON a.id = ca.account "
        "WHERE ca.campaign = ? ORDER BY a.id",
        (campaign["id"],),
    ):
        seen = last.get(r["id"])
        accounts.append(
            {
                "account": r["id"],
                "school": r["school"],
                "platform": r["platform"],
                "state": "attested" if seen else ("overdue" if overdue else "outstanding"),
                "attested_at": seen["at"] if seen else None,
                "attested_by": seen["attested_by"] if seen else None,
                "admins": [s["shown"] for s in json.loads(seen["admins"])] if seen else [],
                "mfa": seen["mfa"] if seen else None,
            }
        )
    done = sum(1 for a in accounts if a["state"] == "attested")
    return {**campaign, "attested": done, "outstanding": len(accounts) - done, "accounts": accounts}


# The safety settings an attestation may record where the platform has them, and the values each takes.
SAFETY = {
    "messages-from-pupils": ("on", "off"),
    "follows-pupils": ("yes", "no"),
    "tagging": ("on", "review", "off"),
    "comments": ("on", "filtered", "off"),
}


def safety_settings(text: str) -> dict[str, str]:
    """`messages-from-pupils=off,follows-pupils=no,tagging=review,comments=filtered` as a dict, or InputError."""
    out: dict[str, str] = {}
    for part in (text or "").split(","):
        key, sep, value = part.strip().lower().partition("=")
        if not sep or key not in SAFETY:
            raise InputError(
                f"--safety takes SETTING=VALUE pairs, comma-separated ({', '.join(SAFETY)}), not {shown(part.strip())}"
            )
        if key in out:  # tagging=on,tagging=off: which did the platform show?
            raise InputError(f"--safety gives {key} twice; give each setting once")
        out[key] = model.choice(value.strip(), SAFETY[key], key)
    return out
