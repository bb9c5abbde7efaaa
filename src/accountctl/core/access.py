"""Who can open the register: init, grant, revoke, passphrase change, recovery. Records events.

Each function takes `reg`, an open register (store/register/ `Register`): the store keeps its key
slots (`add_person_slot`, `replace_person_slot`, `remove_slot_and_rotate`), this module what the
register records of them (the people table, events, the signed membership records).
"""

from __future__ import annotations

import json
import sqlite3

from accountctl import clock, membership, model
from accountctl.core import directory, events
from accountctl.errors import AccessError, InputError

MIN_PASSPHRASE = 10


def check_new_passphrase(passphrase: str) -> str:
    if len(passphrase) < MIN_PASSPHRASE:
        raise InputError(f"a passphrase needs at least {MIN_PASSPHRASE} characters")
    return passphrase


def require_custodian(reg, doing: str) -> None:
    """Only an IT custodian (a slot that unwraps the vault key) may do this.

    A read does not unwrap the vault key it does not need: there the slot's access says it, which
    the open has already checked against the slot's signed grant.
    """
    if not (reg.is_custodian or reg.slot.is_custodian):
        raise AccessError(f"only an IT custodian can {doing}")


def require_may_act(reg) -> None:
    """A person whose leaving date has come, by the real date, cannot change the register (exit 3).

    ACCOUNTCTL_TODAY moves the dates that rules and records use, never who may act.
    """
    person = directory.find_staff(reg.db, reg.actor)
    if person is not None and not directory.is_active(person, clock.real_today()):
        raise AccessError(f"{reg.actor} has left (on {person['left_on']}) and can no longer change the register")


def _record_person(
    conn: sqlite3.Connection, email: str, name: str, access: str, slot_id: bytes, by: str | None
) -> None:
    now = clock.now_iso()
    conn.execute(
        "INSERT INTO people(email, name, access, slot_id, granted_at, granted_by) VALUES (?,?,?,?,?,?)",
        (email, name, access, slot_id, now, by),
    )
    conn.execute("INSERT INTO slot_history(email, access, granted_at) VALUES (?,?,?)", (email, access, now))


def _sign_record(reg, event: dict, kind: str, **fields) -> None:
    """The membership record that goes with `event`, signed by the actor; the membership is re-derived."""
    membership.append(
        reg.db,
        reg.file_id,
        kind,
        reg.actor,
        reg.keys.signing_private,
        event["seq"],
        event["at"],
        event["at_real"],
        **fields,
    )
    reg.reload_membership()


def init(reg, trust_name: str, email: str, name: str, signing_public: bytes) -> None:
    """Record a new register's trust and first IT custodian (the store made its slot: store.create).

    The custodian's grant is the register's root of trust, signed with their own new key.
    """
    conn = reg.db
    model.set_meta(conn, "trust", model.nonempty(trust_name, "trust name", 200))
    model.set_meta(conn, "created_at", clock.now_iso())
    email = model.email(email)
    _record_person(conn, email, model.nonempty(name, "name", 200), "vault", reg.slot.slot_id, None)
    event = events.record(conn, email, "register.init", None, details={"trust": trust_name.strip(), "custodian": email})
    _sign_record(
        reg,
        event,
        "root",
        member=membership.Member.from_slot(reg.slot, email, signing_public).describe(),
        recovery=reg.recovery,
    )


def default_schools(conn: sqlite3.Connection, email: str, access: str) -> str | list[str]:
    """The schools a key slot reads unless the custodian says otherwise (SPEC "Each school sees its own").

    Custodians, the CEO and the central team (and anyone with no staff record) read every school;
    anyone else their own school: a headteacher or SLT member theirs.
    """
    if access == "vault":
        return membership.ALL_SCHOOLS
    row = conn.execute(
        "SELECT st.school, st.roles, s.central FROM staff st JOIN schools s ON s.id = st.school WHERE st.email = ?",
        (email,),
    ).fetchone()
    if row is None or row["central"] or "ceo" in json.loads(row["roles"] or "[]"):
        return membership.ALL_SCHOOLS
    return [row["school"]]


def grant_schools(reg, email: str, access: str, schools: tuple[str, ...] | list[str] = ()) -> str | list[str] | None:
    """The schools a new slot reads: `--school` (S ..., or '*'), else `default_schools`; None in format 4."""
    if not getattr(reg, "per_school", False):
        if schools:
            raise InputError(
                "--school needs a register with a key per school (format 5): a custodian runs 'accountctl vault upgrade'"
            )
        return None
    if not schools:
        return default_schools(reg.db, email, access)
    if membership.ALL_SCHOOLS in schools:
        return membership.ALL_SCHOOLS
    chosen = sorted({directory.get_school(reg.db, s)["id"] for s in schools})
    if access == "vault":
        raise InputError("vault access reads every school: grant it without --school (or --school '*')")
    return chosen


def moved(reg, email: str, old_school: str, new_school: str) -> list[str]:
    """A mover's key slot follows them (format 5): it reads the new school, and the old school's keys are rotated.

    Only for a slot that reads particular schools; returns the schools rotated (F10).
    """
    if not getattr(reg, "per_school", False):
        return []
    member = reg.membership.by_email(email)
    if member is None or member.schools == membership.ALL_SCHOOLS or old_school not in member.schools:
        return []
    schools = sorted((set(member.schools) - {old_school}) | {new_school})
    event = events.record(reg.db, reg.actor, "person.schools", email, details={"schools": schools, "reason": "move"})
    _sign_record(reg, event, "scope", slot=member.slot_id.hex(), email=email, schools=schools, reason="move")
    reg.rotate_schools({old_school})
    return [old_school]


def grant(reg, email: str, access: str, passphrase: str, schools: tuple[str, ...] | list[str] = ()) -> dict:
    """Give a member of staff a key slot with `register` or `vault` (custodian) access.

    In a register with a key per school, the slot reads `schools` (default: `default_schools`).
    """
    require_custodian(reg, "grant access")
    email = model.email(email)
    access = model.choice(access, model.ACCESS_LEVELS, "access")
    person = directory.find_staff(reg.db, email)
    if person is None:
        raise InputError(f"{email} is not staff in this register; add them with 'accountctl staff add' first")
    if not directory.is_active(person, clock.today()):
        raise InputError(f"{email} has left; a leaver cannot be given access")
    if reg.membership.by_email(email) is not None:
        raise InputError(f"{email} already has a key slot (revoke it first to change access)")
    if access == "vault" and "it" not in person["roles"]:
        raise InputError(
            f"only IT staff (role it) can hold vault access; {email} has role(s) "
            f"{', '.join(person['roles']) or 'none'}: grant --access register, or add the it role first"
        )
    reads = grant_schools(reg, email, access, schools)
    check_new_passphrase(passphrase)
    slot, signing_public = reg.add_person_slot(email, access, passphrase)
    _record_person(reg.db, email, person["name"], access, slot.slot_id, reg.actor)
    details = {"access": access} if reads is None else {"access": access, "schools": reads}
    event = events.record(reg.db, reg.actor, "person.grant", email, details=details)
    member = membership.Member.from_slot(slot, email, signing_public).describe()
    if reads not in (None, membership.ALL_SCHOOLS):
        member["schools"] = reads
    _sign_record(reg, event, "grant", member=member)
    return {"email": email, "name": person["name"], "access": access, "schools": reads}


def revoke(reg, email: str) -> dict:
    """Remove a person's slot and rotate the keys it could open; the last custodian cannot go."""
    require_custodian(reg, "revoke access")
    email = model.email(email)
    member = reg.membership.by_email(email)  # the slot its grant names, whatever the header's tags say
    if member is None:
        raise InputError(f"{email} has no key slot in this register")
    if member.access == "vault" and len(reg.membership.custodians()) <= 1:
        raise InputError(f"{email} is the last IT custodian; grant another custodian before revoking this one")
    if email == reg.actor:
        raise InputError("you cannot revoke your own key slot; another custodian does it")
    reg.remove_slot_and_rotate(member.slot_id)
    now = clock.now_iso()
    if getattr(reg, "per_school", False):  # F10: the trust's keys and those of the schools they read
        read = "every school's" if member.schools == membership.ALL_SCHOOLS else f"{', '.join(member.schools)}'s"
        rotated = [f"trust's and {read} keys" + (" (vault keys too)" if member.access == "vault" else "")]
    else:
        rotated = ["register key"] + (["vault key"] if member.access == "vault" else [])
    reg.db.execute("DELETE FROM people WHERE email = ?", (email,))
    reg.db.execute("UPDATE slot_history SET revoked_at = ? WHERE email = ? AND revoked_at IS NULL", (now, email))
    event = events.record(
        reg.db, reg.actor, "person.revoke", email, details={"access": member.access, "rotated": rotated}
    )
    _sign_record(reg, event, "revoke", slot=member.slot_id.hex(), email=email)
    return {"email": email, "access": member.access, "rotated": rotated}


def list_people(reg) -> list[dict]:
    """Everyone with a key slot; in a register with a key per school, the schools each one reads ("*": all)."""
    rows = [
        dict(r) for r in reg.db.execute("SELECT email, name, access, granted_at, granted_by FROM people ORDER BY email")
    ]
    if getattr(reg, "per_school", False):
        for row in rows:
            member = reg.membership.by_email(row["email"])
            reads = member.schools if member is not None else membership.ALL_SCHOOLS
            row["schools"] = reads if reads == membership.ALL_SCHOOLS else ",".join(reads)
    return rows


def passwd(reg, new_passphrase: str) -> bytes:
    """Change the actor's own passphrase; returns the new KEK (for the keyring cache)."""
    check_new_passphrase(new_passphrase)
    _, kek, _ = reg.replace_person_slot(reg.actor, new_passphrase, new_keys=False)
    events.record(reg.db, reg.actor, "person.passwd", reg.actor)
    return kek


def recover(reg, email: str, new_passphrase: str) -> dict:
    """With the recovery key open: give `email` a new passphrase (and new key pairs) on their slot."""
    email = model.email(email)
    member = reg.membership.by_email(email)
    if member is None:
        raise InputError(f"{email} has no key slot in this register; recovery restores an existing person's access")
    check_new_passphrase(new_passphrase)
    slot, _, signing_public = reg.replace_person_slot(email, new_passphrase, new_keys=True)
    event = events.record(reg.db, reg.actor, "person.recover", email, details={"via": "recovery key"})
    renewed = membership.Member.from_slot(slot, email, signing_public)
    renewed.schools = member.schools  # a recovery changes only the keys: a head stays a head of their school
    _sign_record(reg, event, "recover", member=renewed.describe())
    return {"email": email, "access": member.access}


def accept_rollback(reg, reason: str) -> dict:
    """Accept, on purpose, a register older than this machine has seen (a restored backup); signed and recorded."""
    require_custodian(reg, "accept a restored register")
    why = model.nonempty(reason, "--reason", 500)
    seen = reg.seen
    if not reg.rolled_back or seen is None:
        raise InputError("this register is not older than what this machine has seen: there is nothing to accept")
    seq, digest = events.head(reg.db)
    # The one save it gives up, header and all: the record authorises this restore and no later one.
    abandoned = {"generation": int(seen["generation"]), "seq": int(seen["seq"]), "hash": seen["hash"]}
    if seen.get("header"):
        abandoned["header"] = seen["header"]
    restored = {"generation": reg.header.generation, "seq": seq, "hash": digest}
    event = events.record(
        reg.db,
        reg.actor,
        "rollback.accepted",
        None,
        details={
            "reason": why,
            "abandoned_generation": abandoned["generation"],
            "restored_generation": restored["generation"],
        },
    )
    _sign_record(reg, event, "rollback", abandoned=abandoned, restored=restored, reason=why)
    return {"abandoned": abandoned["generation"], "restored": restored["generation"], "reason": why}
