"""SLT decisions on accounts: who may decide, the signed payload, and checking it later.

An approval signs (Ed25519, the approver's own key) a canonical JSON of the account id, its
business case, every named person, the decision, note, approver and time. The hash of the case and
people is kept, so a later change is detectable: by the audit (CHANGED_SINCE_APPROVAL) and by
`verify` when the change was made underneath, with no recorded event.
"""

from __future__ import annotations

import hashlib
import sqlite3

from accountctl import membership
from accountctl import chain, clock, model
from accountctl.core import directory, events
from accountctl.core.events import canonical
from accountctl.errors import AccessError, InputError

PAYLOAD_VERSION = 1
CASE_KEYS = ("platform", "handle", "url", "category", "email", "aim", "audience", "promotion", "visibility")


def case_of(conn: sqlite3.Connection, account: dict) -> dict:
    """The business case and the people named in it, as approved and as hashed."""
    people = {"admin": [], "contributor": []}
    for row in conn.execute(
        "SELECT email, role FROM account_people WHERE account = ? AND removed_at IS NULL ORDER BY email",
        (account["id"],),
    ):
        people[row["role"]].append(row["email"])
    return case_from(account, people["admin"], people["contributor"])


def case_from(account: dict, admins: list[str], contributors: list[str]) -> dict:
    """The case of an account given its current admins and contributors (each sorted).

    Whether it is aimed at pupils is part of the case once it is said; until then it is left out,
    so decisions signed before the question existed keep their hash.
    """
    case = {k: account.get(k) for k in CASE_KEYS}
    if account.get("pupils") is not None:
        case["pupils"] = account["pupils"]
    for key in ("pupil_images", "pupils_join"):  # the same: in the case once said (issue 25)
        if account.get(key) is not None:
            case[key] = account[key]
    return {"case": case, "people": {"owner": account.get("owner"), "admins": admins, "contributors": contributors}}


def case_hash(case: dict) -> str:
    """SHA-256 of the canonical JSON of a case (see `case_of`)."""
    return hashlib.sha256(canonical(case)).hexdigest()


def latest(conn: sqlite3.Connection, account_id: str) -> dict | None:
    """The most recent decision on an account, or None."""
    row = conn.execute(
        "SELECT *, checked_decision(id) AS checked_digest FROM approvals WHERE account = ? ORDER BY id DESC LIMIT 1",
        (account_id,),
    ).fetchone()
    return dict(row) if row else None


def may_decide(approver: dict | None, school: dict) -> str | None:
    """Why this person may not decide on this school's accounts, or None when they may."""
    if approver is None:
        return "only SLT, the headteacher or the CEO can decide on accounts, and you are not staff in this register"
    if not directory.is_active(
        approver, clock.real_today()
    ):  # the real date: ACCOUNTCTL_TODAY cannot backdate a leaver
        return f"{approver['email']} has left and can no longer decide on accounts"
    roles = set(approver["roles"])
    if "ceo" in roles:
        return None
    if school["central"]:
        return f"only the CEO can decide on {school['id']}'s accounts (a trust's central team)"
    if approver["school"] == school["id"] and roles & set(model.APPROVER_ROLES):
        return None
    return f"only SLT or the headteacher of {school['id']} (or the CEO) can decide on its accounts"


def decide(
    conn: sqlite3.Connection,
    actor: str,
    signing_private: bytes | None,
    account_id: str,
    decision: str,
    note: str | None,
) -> dict:
    """Approve or reject an account request with a signed decision."""
    from accountctl.core.accounts import get_account
    from accountctl import crypto

    account = get_account(conn, account_id)
    school = directory.get_school(conn, account["school"])
    approver = directory.find_staff(conn, actor)
    refusal = may_decide(approver, school)
    if refusal:
        raise AccessError(refusal)
    if account["status"] in ("closed", "gone"):
        raise InputError(f"{account['id']} is {account['status']}; there is nothing to decide")
    if account["requested_by"] and account["requested_by"] == actor:
        raise InputError(f"you requested {account['id']}; someone else in SLT must decide on it")
    case = case_of(conn, account)
    digest = case_hash(case)
    previous = latest(conn, account["id"])
    if previous and previous["case_hash"] == digest and not _invalid(conn, previous, account, school):
        raise InputError(
            f"{account['id']} was already {previous['decision']} by {previous['approver']} at "
            f"{previous['at']}; it needs no new decision until its business case or people change"
        )
    if decision == "rejected" and not (note or "").strip():
        raise InputError("a rejection needs a reason (--reason)")
    if decision == "approved":
        from accountctl.core.accounts import approval_gaps, case_gaps

        gaps = approval_gaps(conn, account)
        if gaps:
            how = f"; IT completes it with 'accountctl account update {account['id']}'" if case_gaps(account) else ""
            raise InputError(
                f"cannot approve {account['id']}: its business case is incomplete: " + "; ".join(gaps) + how
            )
    if signing_private is None:
        raise AccessError("deciding needs your own signing key: unlock with your passphrase, not the recovery key")
    public_key = crypto.ed25519_public_of(signing_private)
    if membership.derive(conn).current_key(actor) != public_key:
        raise AccessError(f"{actor} has no signing key in this register, or yours is not the one granted")
    at = clock.now_iso()
    payload = {
        "v": PAYLOAD_VERSION,
        "account": account["id"],
        "school": school["id"],
        **case,
        "case_hash": digest,
        "decision": decision,
        "note": model.optional_text(note, "--reason" if decision == "rejected" else "--note"),
        "approver": actor,
        "approver_roles": approver["roles"],
        "approver_school": approver["school"],
        "at": at,
    }
    message = canonical(payload)
    signature = crypto.sign(signing_private, message)
    row = {
        "payload": message.decode("utf-8"),
        "signature": signature,
        "public_key": public_key,
        "account": account["id"],
        "decision": decision,
        "approver": actor,
        "at": at,
        "note": payload["note"],
        "case_hash": digest,
    }
    decision_id = conn.execute(
        "INSERT INTO approvals(id, account, decision, approver, at, note, case_hash, payload, public_key, signature, "
        "verified_digest) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (
            model.new_id(conn, "approvals", account["school"]),
            account["id"],
            decision,
            actor,
            at,
            payload["note"],
            digest,
            row["payload"],
            public_key,
            signature,
            None,  # no longer trusted by anyone: the open checks decisions (store/checking.py)
        ),
    ).lastrowid
    new_status = account["status"]
    if decision == "approved" and account["status"] in ("requested", "rejected"):
        new_status = "approved"
    elif decision == "rejected" and account["status"] in ("requested", "approved"):
        new_status = "rejected"
    conn.execute("UPDATE accounts SET status = ? WHERE id = ?", (new_status, account["id"]))
    # The event names the decision, so `verify` can tell which key the approver held when they made it.
    events.record(
        conn,
        actor,
        "account.approve" if decision == "approved" else "account.reject",
        account["id"],
        account=account["id"],
        details={"note": payload["note"], "case_hash": digest, "status": new_status, "decision": decision_id},
    )
    return {"account": account["id"], "decision": decision, "approver": actor, "at": at, "status": new_status}


def signed_digest(approval: dict) -> str:
    """SHA-256 over everything a full check reads: payload, signature, key and the stored columns."""
    return chain.decision_digest(approval)


def _invalid(conn: sqlite3.Connection, decision: dict, account: dict, school: dict) -> bool:
    """Whether a decision on record fails its full check (so a new decision may replace it)."""
    owner = key_owners(conn).get(bytes(decision["public_key"]))
    problems = signature_problems(decision, owner)
    if decision["decision"] == "approved":
        problems += authority_problems_in(decision, account, school["central"])
    return bool(problems)


def signature_problems(approval: dict, key_owner: str | None) -> list[str]:
    """Whether a stored decision is what its approver signed, with a key that is theirs (a full check).

    `key_owner` is whose signing key `approval["public_key"]` is.
    """
    from accountctl import crypto

    return chain.decision_problems(approval, key_owner, crypto.verify_signature)


def audit_problems(approval: dict, account: dict, central: bool, key_owner: str | None = None) -> list[str]:
    """The audit's check of a decision: counted only while it is the row this machine checked when it was made.

    `approval["checked_digest"]` is what the SQL function `checked_decision(id)` answered (store/checking.py:
    the open checks every decision its history records, signature, key held then, authority). A row
    written or changed behind the history's back has none, or another; then the full check says why.
    """
    if approval.get("checked_digest") and approval["checked_digest"] == signed_digest(approval):
        if account.get("requested_by") and approval["approver"] == account["requested_by"]:
            return [f"{approval['approver']} approved their own request"]
        return []
    problems = signature_problems(approval, key_owner) + authority_problems_in(approval, account, central)
    return problems or [
        f"decision {approval['id']} on {approval['account']} is not the one its approver's signed save recorded"
    ]


def key_owners(conn: sqlite3.Connection) -> dict[bytes, str]:
    """Every signing key the membership records ever granted, and whose it is (open checked their signatures)."""
    return membership.derive(conn).key_owners()


def authority_problems_in(approval: dict, account: dict, central: bool) -> list[str]:
    """Whether the signer could decide: SLT/headteacher of the school, or the CEO; not their own request.

    `central` says whether the account's school is a central team.
    """
    problems = chain.authority_problems(approval, account["school"], central, model.APPROVER_ROLES)
    if account.get("requested_by") and approval["approver"] == account["requested_by"]:
        problems.append(f"{approval['approver']} approved their own request")
    return problems


def approval_state(conn: sqlite3.Connection, account: dict) -> tuple[dict | None, list[str], bool]:
    """(latest approval or None, its problems, whether the case changed since)."""
    decision = latest(conn, account["id"])
    if decision is None or decision["decision"] != "approved":
        return None, [], False
    school = conn.execute("SELECT central FROM schools WHERE id = ?", (account["school"],)).fetchone()
    owner = key_owners(conn).get(bytes(decision["public_key"]))
    problems = audit_problems(decision, account, bool(school and school[0]), owner)
    changed = decision["case_hash"] != case_hash(case_of(conn, account))
    return decision, problems, changed


def verify_all(conn: sqlite3.Connection) -> list[str]:
    """Every approval's signature and key, and business cases changed underneath an approval."""
    problems = []
    owners = key_owners(conn)
    accounts = {
        r["id"]: dict(r)
        for r in conn.execute(
            "SELECT a.id, a.school, a.requested_by, s.central FROM accounts a JOIN schools s ON s.id = a.school"
        )
    }
    for row in conn.execute("SELECT * FROM approvals ORDER BY id"):
        approval = dict(row)
        problems += signature_problems(approval, owners.get(bytes(row["public_key"])))
        account = accounts.get(approval["account"])
        if account is None:
            problems.append(f"decision {approval['id']} is on an account that does not exist")
        elif approval["decision"] == "approved":
            problems += [
                f"decision {approval['id']} on {approval['account']}: {p}"
                for p in authority_problems_in(approval, account, bool(account["central"]))
            ]
    for row in conn.execute(
        "SELECT a.*, ap.case_hash AS approved_hash, ap.at AS approved_at FROM accounts a "
        "JOIN approvals ap ON ap.id = (SELECT max(id) FROM approvals WHERE account = a.id)"
    ):
        account = dict(row)
        current = case_hash(case_of(conn, account))
        if account["case_hash"] is not None and account["case_hash"] != current:
            problems.append(f"account {account['id']}: its stored case hash does not match its business case")
        if current != account["approved_hash"]:
            changed_at = account["case_changed_at"]
            if not changed_at or changed_at < account["approved_at"]:
                problems.append(
                    f"account {account['id']}: its business case or people differ from the decision of "
                    f"{account['approved_at']} and no recorded change explains it"
                )
    return problems
