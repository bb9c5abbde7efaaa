"""Who can open the register: init, grant, revoke, passphrase change, recovery. Records events.

Each function takes `reg`, an open register (store/register/ `Register`): the store keeps its key
slots (`add_person_slot`, `replace_person_slot`, `remove_slot_and_rotate`), this module what the
register records of them (the people table, events, the signed membership records).
"""

from __future__ import annotations

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


def grant(reg, email: str, access: str, passphrase: str) -> dict:
    """Give a member of staff a key slot with `register` or `vault` (custodian) access."""
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
    check_new_passphrase(passphrase)
    slot, signing_public = reg.add_person_slot(email, access, passphrase)
    _record_person(reg.db, email, person["name"], access, slot.slot_id, reg.actor)
    event = events.record(reg.db, reg.actor, "person.grant", email, details={"access": access})
    _sign_record(reg, event, "grant", member=membership.Member.from_slot(slot, email, signing_public).describe())
    return {"email": email, "name": person["name"], "access": access}


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
    reg.db.execute("DELETE FROM people WHERE email = ?", (email,))
    reg.db.execute("UPDATE slot_history SET revoked_at = ? WHERE email = ? AND revoked_at IS NULL", (now, email))
    rotated = ["register key"] + (["vault key"] if member.access == "vault" else [])
    event = events.record(
        reg.db, reg.actor, "person.revoke", email, details={"access": member.access, "rotated": rotated}
    )
    _sign_record(reg, event, "revoke", slot=member.slot_id.hex(), email=email)
    return {"email": email, "access": member.access, "rotated": rotated}


def list_people(reg) -> list[dict]:
    rows = reg.db.execute("SELECT email, name, access, granted_at, granted_by FROM people ORDER BY email")
    return [dict(r) for r in rows]


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
    _sign_record(reg, event, "recover", member=membership.Member.from_slot(slot, email, signing_public).describe())
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
