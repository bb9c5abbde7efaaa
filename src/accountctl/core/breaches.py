"""Breaches (UK GDPR art. 33): the DPO's signed decision on whether the ICO must hear, and its check.

The data protection officer (or SLT where the register records no DPO for the school or the trust)
decides whether a breach is reportable, with a reason, and whether it is high-risk (the people whose
data it is must then be told). The decision is signed with the decider's own key, like an approval,
and recorded in a signed event that names it; `verify` checks both (`verify_all`).
"""

from __future__ import annotations

import json
import sqlite3

from accountctl import clock, membership, model
from accountctl.core import approvals, directory, events, incidents, texts
from accountctl.core.events import canonical
from accountctl.core.lookup import get_account
from accountctl.errors import AccessError, InputError

PAYLOAD_VERSION = 1
# The columns a check reads beside the signed payload.
COLUMNS = ("incident", "reportable", "high_risk", "reason", "decided_by", "at")
ACTION = "incident.decide"


def _dpos(conn: sqlite3.Connection, school: str) -> list[dict]:
    """The current DPOs of a school, or of the trust's central team (who serve every school)."""
    central = directory.central_schools(conn)
    today = clock.real_today()
    return [
        p
        for p in directory.list_staff(conn)
        if "dpo" in p["roles"] and (p["school"] == school or p["school"] in central) and directory.is_active(p, today)
    ]


def may_decide(conn: sqlite3.Connection, person: dict | None, school: str) -> str | None:
    """Why this person may not decide on a breach at this school, or None when they may."""
    dpos = _dpos(conn, school)
    if dpos:
        if person and any(p["email"] == person["email"] for p in dpos):
            return None
        return f"only the data protection officer ({', '.join(p['email'] for p in dpos)}) decides on breaches"
    refusal = approvals.may_decide(person, directory.get_school(conn, school))
    return (
        None
        if refusal is None
        else "no DPO is recorded for this school, so SLT decides on breaches (record one: staff add ... --role dpo)"
    )


def decide(
    conn: sqlite3.Connection,
    actor: str,
    signing_private: bytes | None,
    incident_id: str,
    reportable: bool,
    reason: str,
    high_risk: bool = False,
) -> dict:
    """Record the DPO's signed decision on a breach; returns the incident as `incidents.show` does."""
    from accountctl import crypto

    incident = incidents.get_incident(conn, incident_id)
    if incident["kind"] != "breach":
        raise InputError(f"{incident['id']} is a {incident['kind']} incident; only a breach is decided on")
    if incident["closed_at"]:
        raise InputError(f"{incident['id']} was closed on {incident['closed_at'][:10]}")
    account = get_account(conn, incident["account"])
    person = directory.find_staff(conn, actor)
    refusal = may_decide(conn, person, account["school"])
    if refusal:
        raise AccessError(refusal)
    text = model.nonempty(reason, "reason")
    if high_risk and not reportable:
        raise InputError("a high-risk breach is reportable: decide --reportable yes with --high-risk")
    if signing_private is None:
        raise AccessError("deciding needs your own signing key: unlock with your passphrase, not the recovery key")
    public_key = crypto.ed25519_public_of(signing_private)
    if membership.derive(conn).current_key(actor) != public_key:
        raise AccessError(f"{actor} has no signing key in this register, or yours is not the one granted")
    at = clock.now_iso()
    reason_ref, reason_hash = texts.put(conn, text, incident["id"])  # erasable; the signature covers its hash
    payload = {
        "v": PAYLOAD_VERSION,
        "what": "breach-decision",
        "incident": incident["id"],
        "account": account["id"],
        "school": account["school"],
        "discovered_at": incident["discovered_at"] or incident["opened_at"],
        "reportable": 1 if reportable else 0,
        "high_risk": 1 if high_risk else 0,
        "reason": reason_ref,
        "reason_sha256": reason_hash,
        "decided_by": actor,
        "decider_roles": person["roles"],
        "decider_school": person["school"],
        "at": at,
    }
    message = canonical(payload)
    signature = crypto.sign(signing_private, message)
    decision_id = conn.execute(
        "INSERT INTO breach_decisions(id, incident, reportable, high_risk, reason, decided_by, at, payload, public_key, "
        "signature) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            model.new_id(conn, "breach_decisions", model.school_of_account(conn, incident["account"])),
            incident["id"],
            payload["reportable"],
            payload["high_risk"],
            reason_ref,
            actor,
            at,
            message.decode(),
            public_key,
            signature,
        ),
    ).lastrowid
    events.record(
        conn,
        actor,
        ACTION,
        incident["id"],
        account=account["id"],
        details={
            "breach_decision": decision_id,
            "reportable": bool(reportable),
            "high_risk": bool(high_risk),
            "reason": reason_ref,
            "reason_sha256": reason_hash,
        },
    )
    return incidents.show(conn, incident["id"])


def counted(conn: sqlite3.Connection, decision: dict | None, owners: dict[bytes, str]) -> dict | None:
    """A decision as the audit counts it: only one its decider signed with a key granted to them (else None).

    `verify` says why a decision fails (`verify_all`); the audit must not let a row written behind the
    history's back turn a reportable breach into one that is not.
    """
    from accountctl import crypto

    if decision is None:
        return None
    key = bytes(decision["public_key"])
    try:
        payload = json.loads(decision["payload"])
    except (TypeError, ValueError):
        return None
    if (
        owners.get(key) != decision["decided_by"]
        or not crypto.verify_signature(key, bytes(decision["signature"]), decision["payload"].encode("utf-8"))
        or any(payload.get(name) != decision[name] for name in COLUMNS)
    ):
        return None
    return decision


def verify_all(conn: sqlite3.Connection, members: membership.Membership, signed_by: dict[int, bytes]) -> list[str]:
    """Each breach decision: what its decider signed, with a key theirs then, in a signed event of theirs, by a DPO
    (or SLT)."""
    from accountctl import crypto

    made_in: dict[int, int] = {}
    for seq, details in conn.execute(f"SELECT seq, details FROM {model.ALL_EVENTS} WHERE action = ?", (ACTION,)):
        number = json.loads(details or "{}").get("breach_decision")
        if isinstance(number, int):
            made_in.setdefault(number, seq)
    problems = []
    for row in conn.execute("SELECT * FROM breach_decisions ORDER BY id"):
        decision = dict(row)
        where = f"breach decision {decision['id']} on {decision['incident']} by {decision['decided_by']}"
        try:
            payload = json.loads(decision["payload"])
        except (TypeError, ValueError):
            payload = None
        if not isinstance(payload, dict):
            problems.append(f"{where}: its signed payload is not readable")
            continue
        key = bytes(decision["public_key"])
        if not crypto.verify_signature(key, bytes(decision["signature"]), decision["payload"].encode("utf-8")):
            problems.append(f"{where}: the signature does not verify")
        for name in COLUMNS:
            if payload.get(name) != decision[name]:
                problems.append(f"{where}: the stored {name} differs from what was signed")
        recorded = conn.execute("SELECT sha256 FROM texts WHERE id = ?", (decision["reason"],)).fetchone()
        if payload.get("reason_sha256") and (recorded is None or recorded[0] != payload["reason_sha256"]):
            problems.append(f"{where}: its reason is not the one that was signed")
        roles = set(payload.get("decider_roles") or [])
        if not roles & {"dpo", "ceo", *model.APPROVER_ROLES}:
            problems.append(f"{where}: the decider was neither the DPO nor SLT")
        seq = made_in.get(decision["id"])
        if seq is None:
            problems.append(f"{where} has no signed event that made it")
        elif key not in members.keys_of(decision["decided_by"], seq):
            problems.append(f"{where} is signed with a key that was not theirs when it was made (event {seq})")
        elif signed_by.get(seq) != key:
            problems.append(f"{where} was not recorded by {decision['decided_by']}'s own signed save")
    return problems


def breach_log(rows: list[dict]) -> list[dict]:
    """The breach log's rows (`incident list --kind breach`): each breach, reported or not, with its decision."""
    out = []
    for item in rows:
        decision = item.get("decision") or {}
        out.append(
            {
                **item,
                "discovered_at": item.get("discovered_at") or item["opened_at"],
                "decided": bool(decision),
                "reportable": decision.get("reportable"),
                "high_risk": decision.get("high_risk"),
                "reason": decision.get("reason"),
                "decided_by": decision.get("decided_by"),
                "decided_at": decision.get("at"),
            }
        )
    return out
