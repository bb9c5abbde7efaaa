"""Incidents: a hijack, abuse, safeguarding, impersonation, breach, allegation or illegal content on one
account, and its checklist.

Each kind has the spec's checklist ("Incident checklists", "Safeguarding and data protection");
`close` refuses while a required step is open. An allegation names the member of staff it is about,
who may then neither read nor act on it; about the headteacher, it goes to the chair of governors. A hijack suspends the account; `cred set` and `cred totp` after the incident opened tick the
rotation steps themselves (see `credential_changed`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from accountctl import clock, model
from accountctl.core import approvals, directory, events, secured, texts
from accountctl.core.lookup import get_account, nearest
from accountctl.errors import AccessError, InputError, shown

KINDS = ("hijack", "abuse", "safeguarding", "impersonation", "breach", "allegation", "illegal")
OPEN_DAYS = model.WINDOWS["INCIDENT_OPEN"]  # INCIDENT_OPEN: an error after this many days open (a warning before)
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
# Never "screenshot": a copy of an image of a child can itself be an offence (UKCIS, "Sharing nudes and
# semi-nudes"). Every step that meets content records where it is and leaves the decision to the DSL.
WHERE = "Do not screenshot, copy or save it; note only where it is (link, date and time)."
WHERE_NOTE = 'accountctl incident step {inc} {step} --note "LINK, DATE TIME"'
CONTENT = _step(
    "content-removed",
    "Hide or remove it on the platform. " + WHERE + " If it shows a child, tell the DSL first: they decide.",
    WHERE_NOTE.replace("{step}", "content-removed"),
)
CONTENT_AFTER_DSL = _step(
    "content-removed",
    "Hide or remove it on the platform once the DSL says so (the police may need it left in place).",
)
DSL = _step("dsl-informed", "Tell the designated safeguarding lead today, in person or by phone. " + WHERE)
DPO = _step(
    "dpo-informed",
    "Tell the data protection officer now: they decide whether the ICO must hear (within 72 hours of discovery).",
)
# A concern about a member of staff (KCSIE part four): the DSL and the head (or the chair of governors
# when it is about the head) refer it to the LADO within one working day; nobody investigates alone.
ALLEGATION_DSL = _step(
    "dsl-informed",
    "Tell the designated safeguarding lead today. Do not look into it yourself or tell the person concerned. " + WHERE,
)
LADO = _step(
    "lado-informed",
    "The DSL or headteacher (the chair of governors if it is about the head) tells the local authority "
    "designated officer (LADO) within one working day; record who was told.",
    'accountctl incident step {inc} lado-informed --note "LADO NAME, DATE"',
)
CHAIR = _step(
    "chair-informed",
    "It is about the headteacher: tell the chair of governors today, not the headteacher.",
)
POLICE = _step(
    "police-informed",
    "Call the police: 999 if a child is in danger now, 101 otherwise. " + WHERE + " Keep the reference.",
    "accountctl incident step {inc} police-informed --note REFERENCE",
)
REPORTED = _step(
    "content-reported",
    "Report it to the platform, and images of child sexual abuse to the Internet Watch Foundation "
    "(report.iwf.org.uk), as the police advise; keep the references.",
    "accountctl incident step {inc} content-reported --note REFERENCE",
)
FRAUD = _step(
    "action-fraud-reported",
    "Report the crime to Report Fraud (formerly Action Fraud: reportfraud.police.uk, 0300 123 2040); keep the "
    "crime reference.",
    "accountctl incident step {inc} action-fraud-reported --note REFERENCE",
    required=False,
)
ICO = _step(
    "ico-reported",
    "Report the breach to the ICO (ico.org.uk, or 0303 123 1113) within 72 hours of discovery; record the ICO's "
    "reference.",
    "accountctl incident step {inc} ico-reported --reference REFERENCE",
)
SUBJECTS = _step(
    "data-subjects-told",
    "Tell the people whose data it is, in plain words: what happened, what it may mean for them, what the school "
    "is doing, and whom to contact.",
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
        FRAUD,
    ),
    "abuse": (CONTENT, HEAD, _step(DSL.id, DSL.do + " (if a pupil or safeguarding is involved)", required=False)),
    "safeguarding": (DSL, HEAD, CONTENT_AFTER_DSL),
    "impersonation": (PLATFORM, HEAD, PARENTS),
    "breach": (DPO, HEAD, PASSWORD),
    "allegation": (ALLEGATION_DSL, LADO, HEAD),
    "illegal": (POLICE, DSL, HEAD, REPORTED),
}
# Which credential change ticks which step.
AUTO_STEPS = {"password": "password-rotated", "totp": "mfa-reseeded"}
# Steps a breach gains once the DPO has decided (core/breaches.py): required when the decision says so.
BREACH_STEPS = (ICO, SUBJECTS)


def checklist(incident: dict, decision: dict | None = None) -> tuple[Step, ...]:
    """This incident's checklist: its kind's, routed to the chair when about the head, and a breach's decision's.

    `decision` is the DPO's latest decision on a breach (core/breaches.py), or None while undecided.
    """
    steps = CHECKLISTS[incident["kind"]]
    if incident["kind"] == "allegation" and incident.get("about_head"):
        steps = tuple(CHAIR if s.id == HEAD.id else s for s in steps)
    if incident["kind"] == "breach":
        reportable = decision is None or bool(decision["reportable"])  # undecided: the clock runs as if it were
        high_risk = bool(decision and decision["high_risk"])
        steps += (
            _step(ICO.id, ICO.do, ICO.command, required=reportable),
            _step(SUBJECTS.id, SUBJECTS.do, required=high_risk),
        )
    return steps


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
    person = directory.find_staff(conn, actor)
    if approvals.may_decide(person, directory.get_school(conn, account["school"])) and not _safeguarding_lead(
        conn, person, account["school"]
    ):
        raise AccessError(
            f"only an IT custodian, SLT of {account['school']} (or the CEO), or its DSL or DPO, can {doing}"
        )


def _safeguarding_lead(conn: sqlite3.Connection, person: dict | None, school: str) -> bool:
    """Whether a current DSL or DPO of the school (or of the central team): they act on incidents too."""
    if person is None or not directory.is_active(person, clock.real_today()):
        return False
    if not set(person["roles"]) & {"dsl", "dpo"}:
        return False
    return person["school"] == school or person["school"] in directory.central_schools(conn)


def _not_about_actor(incident: dict, actor: str, doing: str) -> None:
    # The person an allegation is about hears of it from the case manager, never from the register; the
    # refusal does not say why, so it tells them nothing either.
    if incident.get("about") and incident["about"] == actor:
        raise AccessError(f"you may not {doing} {incident['id']}")


def open_incident(
    conn: sqlite3.Connection,
    actor: str,
    account_id: str,
    kind: str,
    summary: str,
    about: str | None = None,
    discovered_at: str | None = None,
) -> dict:
    """Record an incident on an account (a hijack also suspends it); returns it with its checklist.

    An allegation names the member of staff it is about (`about`); a breach when it was discovered
    (`discovered_at`, default now): UK GDPR's 72 hours run from then.
    """
    from accountctl.core import accounts

    account = get_account(conn, account_id)
    kind = model.choice(kind, KINDS, "incident kind")
    text = model.nonempty(summary, "summary")
    if account["status"] == "gone":
        raise InputError(f"{account['id']} is gone from {account['platform']}; there is nothing to respond on")
    about_person = None
    if kind == "allegation":
        if not (about or "").strip():
            raise InputError("an allegation names the member of staff it is about: --about EMAIL")
        about_person = directory.get_staff(conn, about)
    elif about:
        raise InputError("--about is for an allegation (a concern about a member of staff)")
    if discovered_at and kind != "breach":
        raise InputError("--discovered-at is for a breach (UK GDPR's 72 hours run from discovery)")
    discovered = _discovered(discovered_at) if kind == "breach" else None
    incident_id = _new_id(conn, account["school"])
    about_head = "1" if about_person and "headteacher" in about_person["roles"] else None
    summary_ref = texts.new_ref()
    conn.execute(
        "INSERT INTO incidents(id, account, kind, summary, opened_at, opened_by, about, about_head, discovered_at) "
        "VALUES (?,?,?,?,?,?,?,?,?)",
        (
            incident_id,
            account["id"],
            kind,
            summary_ref,
            clock.now_iso(),
            actor,
            about_person["email"] if about_person else None,
            about_head,
            discovered,
        ),
    )
    _, summary_hash = texts.put(conn, text, incident_id, summary_ref)  # erasable: the history keeps its hash
    details = {"kind": kind, "summary": summary_ref, "summary_sha256": summary_hash}
    if about_person:
        details |= {"about": about_person["email"], "about_head": bool(about_head)}
    if discovered:
        details["discovered_at"] = discovered
    events.record(conn, actor, "incident.open", incident_id, account=account["id"], details=details)
    if kind == "hijack" and account["status"] in ("active", "approved"):
        accounts.set_status(conn, actor, account["id"], "suspended", f"Hijacked: incident {incident_id}")
    return show(conn, incident_id)


def _new_id(conn: sqlite3.Connection, school: str) -> str:
    """`inc-N`; where ids are per school (format 5), `inc-SCHOOL-N`: nobody can count another school's incidents."""
    if model.get_meta(conn, model.IDS_PER_SCHOOL):
        number = conn.execute(
            "SELECT count(*) FROM incidents i JOIN accounts a ON a.id = i.account WHERE a.school = ?", (school,)
        ).fetchone()[0]
        return f"inc-{school}-{number + 1}"
    return f"inc-{conn.execute('SELECT count(*) FROM incidents').fetchone()[0] + 1}"


def _discovered(text: str | None) -> str:
    """When a breach was discovered, as UTC ISO: a date, or a date and time; never after now."""
    from datetime import datetime, timezone

    if not text:
        return clock.now_iso()
    value = text.strip()
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T"))
    except ValueError:
        raise InputError(
            f"--discovered-at {shown(text)} is not a date and time (YYYY-MM-DD or YYYY-MM-DDTHH:MM, UTC)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    iso = when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if iso > clock.now_iso():
        raise InputError(f"--discovered-at {shown(text)} is in the future")
    return iso


def step(
    conn: sqlite3.Connection,
    actor: str,
    is_custodian: bool,
    incident_id: str,
    step_id: str,
    note: str | None = None,
    reference: str | None = None,
) -> dict:
    """Mark one step of an open incident done (`ico-reported` needs the ICO's reference)."""
    incident = get_incident(conn, incident_id)
    _require_custodian_or_slt(
        conn, actor, is_custodian, get_account(conn, incident["account"]), "record incident steps"
    )
    _not_about_actor(incident, actor, "record steps of")
    if incident["closed_at"]:
        raise InputError(f"{incident['id']} was closed on {incident['closed_at'][:10]}")
    known = [s.id for s in checklist(incident, latest_decision(conn, incident["id"]))]
    wanted = (step_id or "").strip().lower()
    if wanted not in known:
        raise InputError(
            f"unknown step {shown(step_id or '')} for a {incident['kind']} incident; its steps are "
            f"{', '.join(known)}{model.did_you_mean(wanted, known)}"
        )
    done = _done(conn, incident["id"])
    if wanted in done:
        raise InputError(f"{wanted} of {incident['id']} was already done at {done[wanted]['done_at']}")
    ref = model.optional_text(reference, "--reference")
    if wanted == ICO.id and not ref:
        raise InputError("ico-reported needs the reference the ICO gave: --reference T")
    if wanted == PASSWORD.id and incident["kind"] == "hijack":
        why = secured.rotation_unsafe(conn, incident)
        if why:
            raise InputError(
                f"password-rotated of {incident['id']} is not done: {why}; change it on the platform to a new "
                f"one, then store it, which ticks the step: accountctl cred generate {incident['account']}"
            )
    _mark(conn, actor, incident, wanted, model.optional_text(note, "--note"), ref)
    return show(conn, incident["id"])


def latest_decision(conn: sqlite3.Connection, incident_id: str) -> dict | None:
    """The DPO's latest decision on a breach (core/breaches.py), or None while undecided."""
    row = conn.execute(
        "SELECT * FROM breach_decisions WHERE incident = ? ORDER BY id DESC LIMIT 1", (incident_id,)
    ).fetchone()
    return dict(row) if row else None


def _mark(
    conn: sqlite3.Connection, actor: str, incident: dict, step_id: str, note: str | None, reference: str | None = None
) -> None:
    note_ref, note_hash = texts.put(conn, note, incident["id"])
    conn.execute(
        "INSERT INTO incident_steps(incident, step, done_at, done_by, note, reference) VALUES (?,?,?,?,?,?)",
        (incident["id"], step_id, clock.now_iso(), actor, note_ref, reference),
    )
    details = {"step": step_id, "note": note_ref}
    if note_hash:
        details["note_sha256"] = note_hash
    if reference:
        details["reference"] = reference
    events.record(conn, actor, "incident.step", incident["id"], account=incident["account"], details=details)


def credential_changed(
    conn: sqlite3.Connection, actor: str, account_id: str, field: str, blocked: str | None = None
) -> tuple[list[str], list[str]]:
    """Tick the rotation step a new password or 2FA seed completes on the account's open incidents.

    Returns (ticked, held): with `blocked` (why the new secret does not secure the account: weak, or
    used on another account) nothing is ticked, and the incidents left waiting are named.
    """
    step_id = AUTO_STEPS[field]
    ticked, held = [], []
    for row in conn.execute(
        "SELECT * FROM incidents WHERE account = ? AND closed_at IS NULL ORDER BY opened_at", (account_id,)
    ).fetchall():
        incident = dict(row)
        if step_id in {s.id for s in checklist(incident)} and step_id not in _done(conn, incident["id"]):
            if blocked:
                held.append(incident["id"])
                continue
            _mark(conn, actor, incident, step_id, f"recorded by cred {'set' if field == 'password' else 'totp'}")
            ticked.append(incident["id"])
    return ticked, held


def outstanding(conn: sqlite3.Connection, incident: dict) -> list[str]:
    """The required steps not yet done."""
    done = _done(conn, incident["id"])
    decision = latest_decision(conn, incident["id"])
    return [s.id for s in checklist(incident, decision) if s.required and s.id not in done]


def close(conn: sqlite3.Connection, actor: str, is_custodian: bool, incident_id: str, outcome: str) -> dict:
    """Close an incident once every required step is done."""
    incident = get_incident(conn, incident_id)
    _require_custodian_or_slt(conn, actor, is_custodian, get_account(conn, incident["account"]), "close incidents")
    _not_about_actor(incident, actor, "close")
    if incident["closed_at"]:
        raise InputError(f"{incident['id']} is already closed (on {incident['closed_at'][:10]})")
    text = model.nonempty(outcome, "outcome")
    if incident["kind"] == "breach" and latest_decision(conn, incident["id"]) is None:
        raise InputError(
            f"cannot close {incident['id']}: the DPO has not decided whether the breach is reportable "
            f"(accountctl incident decide {incident['id']} --reportable yes|no --reason T)"
        )
    missing = outstanding(conn, incident)
    if missing:
        raise InputError(
            f"cannot close {incident['id']}: required step(s) still open: {', '.join(missing)} "
            f"(accountctl incident step {incident['id']} STEP)"
        )
    outcome_ref, outcome_hash = texts.put(conn, text, incident["id"])
    conn.execute(
        "UPDATE incidents SET closed_at = ?, closed_by = ?, outcome = ? WHERE id = ?",
        (clock.now_iso(), actor, outcome_ref, incident["id"]),
    )
    events.record(
        conn,
        actor,
        "incident.close",
        incident["id"],
        account=incident["account"],
        details={"outcome": outcome_ref, "outcome_sha256": outcome_hash},
    )
    return show(conn, incident["id"])


def show(conn: sqlite3.Connection, incident_id: str) -> dict:
    """An incident with its checklist: each step, whether done, what to do and the command that records it."""
    incident = get_incident(conn, incident_id)
    done = _done(conn, incident["id"])
    decision = latest_decision(conn, incident["id"])
    steps = []
    for s in checklist(incident, decision):
        d = done.get(s.id)
        steps.append(
            {
                "step": s.id,
                "required": s.required,
                "done": d is not None,
                "done_at": d["done_at"] if d else None,
                "done_by": d["done_by"] if d else None,
                "note": d["note"] if d else None,
                "reference": d["reference"] if d else None,
                "do": s.do,
                "command": s.command.format(inc=incident["id"], account=incident["account"]),
            }
        )
    account = get_account(conn, incident["account"])
    steps = texts.resolve(conn, steps)
    out = {
        **texts.resolve(conn, {k: v for k, v in incident.items() if k != "about_head"}),
        "about_head": bool(incident.get("about_head")),
        "school": account["school"],
        "status": "closed" if incident["closed_at"] else "open",
        "outstanding": [c["step"] for c in steps if c["required"] and not c["done"]],
        "checklist": steps,
    }
    if incident["kind"] == "breach":
        out["decision"] = _decision_view(conn, decision)
        out["ico_reference"] = (done.get(ICO.id) or {}).get("reference")
    return out


def _decision_view(conn: sqlite3.Connection, decision: dict | None) -> dict | None:
    if decision is None:
        return None
    return {
        "reportable": bool(decision["reportable"]),
        "high_risk": bool(decision["high_risk"]),
        "reason": texts.read(conn, decision["reason"]),
        "decided_by": decision["decided_by"],
        "at": decision["at"],
    }


def read(conn: sqlite3.Connection, actor: str, is_custodian: bool, incident_id: str) -> dict:
    """`show`, for a custodian or SLT of the account's school (or the CEO): the spec's readers of incidents."""
    incident = get_incident(conn, incident_id)
    _require_custodian_or_slt(conn, actor, is_custodian, get_account(conn, incident["account"]), "read incidents")
    _not_about_actor(incident, actor, "read")
    return show(conn, incident["id"])


def readable_list(
    conn: sqlite3.Connection,
    actor: str,
    is_custodian: bool,
    open_only: bool = False,
    school: str | None = None,
    kind: str | None = None,
) -> list[dict]:
    """`list_incidents` as `actor` may see it: everything for a custodian, their schools' for SLT (all for the
    CEO), a DSL's or DPO's school's; never an allegation about the actor."""
    items = [i for i in list_incidents(conn, open_only, school, kind) if i.get("about") != actor]
    if is_custodian:
        return items
    person = directory.find_staff(conn, actor)
    schools = {r[0]: directory.get_school(conn, r[0]) for r in conn.execute("SELECT id FROM schools")}
    allowed = {
        sid
        for sid, row in schools.items()
        if not approvals.may_decide(person, row) or _safeguarding_lead(conn, person, sid)
    }
    if not allowed:
        raise AccessError("only an IT custodian, SLT or the CEO, or a DSL or DPO, can read incidents")
    return [i for i in items if i["school"] in allowed]


def list_incidents(
    conn: sqlite3.Connection, open_only: bool = False, school: str | None = None, kind: str | None = None
) -> list[dict]:
    """Incidents, newest first, with their outstanding required steps."""
    sql = "SELECT i.id FROM incidents i JOIN accounts a ON a.id = i.account WHERE 1=1"
    args: list = []
    if open_only:
        sql += " AND i.closed_at IS NULL"
    if school:
        sql += " AND a.school = ?"
        args.append(directory.get_school(conn, school)["id"])
    if kind:
        sql += " AND i.kind = ?"
        args.append(model.choice(kind, KINDS, "incident kind"))
    out = []
    for (incident_id,) in conn.execute(sql + " ORDER BY i.opened_at DESC, i.id DESC", args).fetchall():
        item = show(conn, incident_id)
        del item["checklist"]
        out.append(item)
    return out


def erase(conn: sqlite3.Connection, actor: str, may_erase: bool, incident_id: str, reason: str) -> dict:
    """Destroy the keys of an incident's free text (summary, notes, outcome, the DPO's reason).

    A custodian or the DPO erases; the erasure is an event of its own. The history keeps each text's
    hash, so `verify` still passes; every reader shows "erased on DATE by EMAIL: REASON".
    """
    incident = get_incident(conn, incident_id)
    if not may_erase:
        raise AccessError("only an IT custodian or the data protection officer can erase")
    _not_about_actor(incident, actor, "erase")
    why = model.nonempty(reason, "--reason", 500)
    if not texts.REF.match(incident["summary"] or ""):
        raise InputError(
            f"{incident['id']} was recorded before its text could be erased: its summary is in the signed history"
        )
    if not texts.erasable(conn, incident["id"]):
        raise InputError(f"{incident['id']}'s text was already erased")
    count = texts.erase(conn, actor, incident["id"], why)
    events.record(
        conn,
        actor,
        "incident.erase",
        incident["id"],
        account=incident["account"],
        details={"texts": count, "reason": why},
    )
    return show(conn, incident["id"])


WITHHELD = "withheld: only those who handle this school's incidents read them"


def withhold(conn: sqlite3.Connection, actor: str, is_custodian: bool, history: list[dict]) -> list[dict]:
    """The history as `actor` may read it: an incident's details only for those who may read the incident.

    `log` and `export` are for anyone with access; an incident's summary, notes and the person an
    allegation is about are not (and never for that person).
    """
    return list(withholding(conn, actor, is_custodian, history))


def withholding(conn: sqlite3.Connection, actor: str, is_custodian: bool, history: Iterable[dict]) -> Iterator[dict]:
    """`withhold`, an event at a time (`export` writes 72,000 of them at the large trust)."""
    allowed: dict[str, bool] = {}
    for event in history:
        if not event["action"].startswith("incident.") or not event.get("target"):
            yield event
            continue
        target = event["target"]
        if target not in allowed:
            try:
                read(conn, actor, is_custodian, target)
                allowed[target] = True
            except (AccessError, InputError):
                allowed[target] = False
        yield event if allowed[target] else {**event, "details": {"withheld": WITHHELD}}
