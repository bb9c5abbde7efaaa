"""Incidents: a hijack, abuse, safeguarding, impersonation or breach on one account, and its checklist.

Each kind has the spec's checklist ("Incident checklists"); `close` refuses while a required step is
open. A hijack suspends the account; `cred set` and `cred totp` after the incident opened tick the
rotation steps themselves (see `credential_changed`).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from accountctl import clock, model
from accountctl.core import approvals, directory, events
from accountctl.core.lookup import get_account, nearest
from accountctl.errors import AccessError, InputError, shown

KINDS = ("hijack", "abuse", "safeguarding", "impersonation", "breach")
OPEN_DAYS = 7  # INCIDENT_OPEN: an error after this many days open (a warning before)
BREACH_HOURS = 72  # BREACH_NOT_REPORTED: the ICO must hear within 72 hours of discovery


@dataclass(frozen=True)
class Step:
    id: str
    required: bool
    do: str  # what to do, in one line, as a person under stress reads it
    command: str  # how it is recorded ({inc} and {account} filled in)


def _step(step_id: str, do: str, command: str | None = None, required: bool = True) -> Step:
    return Step(step_id, required, do, command or f"accountctl incident step {{inc}} {step_id} [--note T]")


HEAD = _step("head-informed", "Tell the headteacher now, by phone, what happened and what you are doing.")
PASSWORD = _step(
    "password-rotated",
    "Change the password on the platform to a new generated one (ticks itself when stored).",
    "accountctl cred generate {account}  (or: accountctl cred set {account})",
)
MFA = _step(
    "mfa-reseeded",
    "Reset two-factor sign-in on the platform and store the new seed (ticks itself when stored).",
    "accountctl cred totp {account}",
)
EMAIL = _step("email-secured", "Change the linked mailbox's password and remove any forwarding rule you did not set.")
SESSIONS = _step("sessions-revoked", "Sign out every other session in the platform's security settings.")
PLATFORM = _step(
    "platform-reported",
    "Report it with the platform's own form; keep the reference it gives.",
    "accountctl incident step {inc} platform-reported --note REFERENCE",
)
PARENTS = _step("parents-informed", "Tell parents which posts or messages were not from the school.")
CONTENT = _step("content-removed", "Screenshot the content for the record, then remove or hide it.")
DSL = _step("dsl-informed", "Tell the designated safeguarding lead, today.")
DPO = _step(
    "dpo-informed",
    "Tell the data protection officer: a reportable breach must reach the ICO within 72 hours.",
)

# The spec's checklists, in the order a person should work through them.
CHECKLISTS: dict[str, tuple[Step, ...]] = {
    "hijack": (
        PASSWORD,
        MFA,
        EMAIL,
        SESSIONS,
        HEAD,
        PLATFORM,
        _step(PARENTS.id, PARENTS.do, required=False),
    ),
    "abuse": (CONTENT, HEAD, _step(DSL.id, DSL.do + " (if a pupil or safeguarding is involved)", required=False)),
    "safeguarding": (DSL, HEAD, CONTENT),
    "impersonation": (PLATFORM, HEAD, PARENTS),
    "breach": (DPO, HEAD, PASSWORD),
}
# Which credential change ticks which step.
AUTO_STEPS = {"password": "password-rotated", "totp": "mfa-reseeded"}


def get_incident(conn: sqlite3.Connection, incident_id: str) -> dict:
    """One incident as plain data, or InputError naming the nearest known ids."""
    wanted = (incident_id or "").strip().lower()
    row = conn.execute("SELECT * FROM incidents WHERE id = ?", (wanted,)).fetchone()
    if row is None:
        raise InputError(
            f"unknown incident {shown(incident_id or '')}"
            + (nearest(conn, wanted, "SELECT id FROM incidents") or " (see: accountctl incident list)")
        )
    return dict(row)


def _done(conn: sqlite3.Connection, incident_id: str) -> dict[str, dict]:
    return {r["step"]: dict(r) for r in conn.execute("SELECT * FROM incident_steps WHERE incident = ?", (incident_id,))}


def _require_custodian_or_slt(conn: sqlite3.Connection, actor: str, is_custodian: bool, account: dict, doing: str):
    if is_custodian:
        return
    if approvals.may_decide(directory.find_staff(conn, actor), directory.get_school(conn, account["school"])):
        raise AccessError(f"only an IT custodian, or SLT of {account['school']} (or the CEO), can {doing}")


def open_incident(conn: sqlite3.Connection, actor: str, account_id: str, kind: str, summary: str) -> dict:
    """Record an incident on an account (a hijack also suspends it); returns it with its checklist."""
    from accountctl.core import accounts

    account = get_account(conn, account_id)
    kind = model.choice(kind, KINDS, "incident kind")
    text = model.nonempty(summary, "summary")
    if account["status"] == "gone":
        raise InputError(f"{account['id']} is gone from {account['platform']}; there is nothing to respond on")
    number = conn.execute("SELECT count(*) FROM incidents").fetchone()[0] + 1
    incident_id = f"inc-{number}"
    conn.execute(
        "INSERT INTO incidents(id, account, kind, summary, opened_at, opened_by) VALUES (?,?,?,?,?,?)",
        (incident_id, account["id"], kind, text, clock.now_iso(), actor),
    )
    events.record(
        conn,
        actor,
        "incident.open",
        incident_id,
        account=account["id"],
        details={"kind": kind, "summary": text},
    )
    if kind == "hijack" and account["status"] in ("active", "approved"):
        accounts.set_status(conn, actor, account["id"], "suspended", f"Hijacked: incident {incident_id}")
    return show(conn, incident_id)


def step(
    conn: sqlite3.Connection, actor: str, is_custodian: bool, incident_id: str, step_id: str, note: str | None = None
) -> dict:
    """Mark one step of an open incident done."""
    incident = get_incident(conn, incident_id)
    _require_custodian_or_slt(
        conn, actor, is_custodian, get_account(conn, incident["account"]), "record incident steps"
    )
    if incident["closed_at"]:
        raise InputError(f"{incident['id']} was closed on {incident['closed_at'][:10]}")
    known = [s.id for s in CHECKLISTS[incident["kind"]]]
    wanted = (step_id or "").strip().lower()
    if wanted not in known:
        raise InputError(
            f"unknown step {shown(step_id or '')} for a {incident['kind']} incident; its steps are "
            f"{', '.join(known)}{model.did_you_mean(wanted, known)}"
        )
    done = _done(conn, incident["id"])
    if wanted in done:
        raise InputError(f"{wanted} of {incident['id']} was already done at {done[wanted]['done_at']}")
    _mark(conn, actor, incident, wanted, model.optional_text(note, "--note"))
    return show(conn, incident["id"])


def _mark(conn: sqlite3.Connection, actor: str, incident: dict, step_id: str, note: str | None) -> None:
    conn.execute(
        "INSERT INTO incident_steps(incident, step, done_at, done_by, note) VALUES (?,?,?,?,?)",
        (incident["id"], step_id, clock.now_iso(), actor, note),
    )
    events.record(
        conn,
        actor,
        "incident.step",
        incident["id"],
        account=incident["account"],
        details={"step": step_id, "note": note},
    )


def credential_changed(conn: sqlite3.Connection, actor: str, account_id: str, field: str) -> list[str]:
    """Tick the rotation step a new password or 2FA seed completes on the account's open incidents."""
    step_id = AUTO_STEPS[field]
    ticked = []
    for row in conn.execute(
        "SELECT * FROM incidents WHERE account = ? AND closed_at IS NULL ORDER BY opened_at", (account_id,)
    ).fetchall():
        incident = dict(row)
        if step_id in {s.id for s in CHECKLISTS[incident["kind"]]} and step_id not in _done(conn, incident["id"]):
            _mark(conn, actor, incident, step_id, f"recorded by cred {'set' if field == 'password' else 'totp'}")
            ticked.append(incident["id"])
    return ticked


def outstanding(conn: sqlite3.Connection, incident: dict) -> list[str]:
    """The required steps not yet done."""
    done = _done(conn, incident["id"])
    return [s.id for s in CHECKLISTS[incident["kind"]] if s.required and s.id not in done]


def close(conn: sqlite3.Connection, actor: str, is_custodian: bool, incident_id: str, outcome: str) -> dict:
    """Close an incident once every required step is done."""
    incident = get_incident(conn, incident_id)
    _require_custodian_or_slt(conn, actor, is_custodian, get_account(conn, incident["account"]), "close incidents")
    if incident["closed_at"]:
        raise InputError(f"{incident['id']} is already closed (on {incident['closed_at'][:10]})")
    text = model.nonempty(outcome, "outcome")
    missing = outstanding(conn, incident)
    if missing:
        raise InputError(
            f"cannot close {incident['id']}: required step(s) still open: {', '.join(missing)} "
            f"(accountctl incident step {incident['id']} STEP)"
        )
    conn.execute(
        "UPDATE incidents SET closed_at = ?, closed_by = ?, outcome = ? WHERE id = ?",
        (clock.now_iso(), actor, text, incident["id"]),
    )
    events.record(conn, actor, "incident.close", incident["id"], account=incident["account"], details={"outcome": text})
    return show(conn, incident["id"])


def show(conn: sqlite3.Connection, incident_id: str) -> dict:
    """An incident with its checklist: each step, whether done, what to do and the command that records it."""
    incident = get_incident(conn, incident_id)
    done = _done(conn, incident["id"])
    checklist = []
    for s in CHECKLISTS[incident["kind"]]:
        d = done.get(s.id)
        checklist.append(
            {
                "step": s.id,
                "required": s.required,
                "done": d is not None,
                "done_at": d["done_at"] if d else None,
                "done_by": d["done_by"] if d else None,
                "note": d["note"] if d else None,
                "do": s.do,
                "command": s.command.format(inc=incident["id"], account=incident["account"]),
            }
        )
    account = get_account(conn, incident["account"])
    return {
        **incident,
        "school": account["school"],
        "status": "closed" if incident["closed_at"] else "open",
        "outstanding": [c["step"] for c in checklist if c["required"] and not c["done"]],
        "checklist": checklist,
    }


def read(conn: sqlite3.Connection, actor: str, is_custodian: bool, incident_id: str) -> dict:
    """`show`, for a custodian or SLT of the account's school (or the CEO): the spec's readers of incidents."""
    incident = get_incident(conn, incident_id)
    _require_custodian_or_slt(conn, actor, is_custodian, get_account(conn, incident["account"]), "read incidents")
    return show(conn, incident["id"])


def readable_list(
    conn: sqlite3.Connection, actor: str, is_custodian: bool, open_only: bool = False, school: str | None = None
) -> list[dict]:
    """`list_incidents` as `actor` may see it: everything for a custodian, their schools' for SLT (all for the CEO)."""
    items = list_incidents(conn, open_only, school)
    if is_custodian:
        return items
    person = directory.find_staff(conn, actor)
    schools = {r[0]: directory.get_school(conn, r[0]) for r in conn.execute("SELECT id FROM schools")}
    allowed = {sid for sid, row in schools.items() if not approvals.may_decide(person, row)}
    if not allowed:
        raise AccessError("only an IT custodian, SLT or the CEO can read incidents")
    return [i for i in items if i["school"] in allowed]


def list_incidents(conn: sqlite3.Connection, open_only: bool = False, school: str | None = None) -> list[dict]:
    """Incidents, newest first, with their outstanding required steps."""
    sql = "SELECT i.id FROM incidents i JOIN accounts a ON a.id = i.account WHERE 1=1"
    args: list = []
    if open_only:
        sql += " AND i.closed_at IS NULL"
    if school:
        sql += " AND a.school = ?"
        args.append(directory.get_school(conn, school)["id"])
    out = []
    for (incident_id,) in conn.execute(sql + " ORDER BY i.opened_at DESC, i.id DESC", args).fetchall():
        item = show(conn, incident_id)
        del item["checklist"]
        out.append(item)
    return out
