"""Who can open the register: init, grant, revoke, passphrase change, recovery. Records events."""

from __future__ import annotations

import os
import sqlite3

from accountctl import membership
from accountctl import clock, model
from accountctl.core import directory, events
from accountctl.errors import AccessError, InputError
from accountctl.store import fileformat as ff
from accountctl.store import register as store
from accountctl.store import trust
from accountctl.crypto import KdfParams

MIN_PASSPHRASE = 10
ACCESS_CODES = {"register": ff.ACCESS_REGISTER, "vault": ff.ACCESS_VAULT}
ACCESS_NAMES = {v: k for k, v in ACCESS_CODES.items()}


def kdf_params() -> KdfParams:
    """Argon2id cost for new slots: ACCOUNTCTL_KDF ("m=KIB,t=N,p=N") if set, else the default.

    Tests and slow machines may lower it, never below OWASP's floor (19 MiB, 2 iterations, 1 lane).
    """
    text = os.environ.get("ACCOUNTCTL_KDF")
    if not text:
        return ff.KDF_DEFAULT
    values = {}
    for part in text.split(","):
        key, _, value = part.partition("=")
        if key.strip() not in ("m", "t", "p") or not value.strip().isdigit():
            raise InputError("ACCOUNTCTL_KDF must look like m=65536,t=3,p=4")
        values[key.strip()] = int(value)
    params = KdfParams(
        values.get("m", ff.KDF_DEFAULT.memory_kib),
        values.get("t", ff.KDF_DEFAULT.iterations),
        values.get("p", ff.KDF_DEFAULT.lanes),
    )
    if not ff.kdf_within_limits(params):
        raise InputError(
            f"ACCOUNTCTL_KDF is outside the allowed range (memory {ff.KDF_FLOOR.memory_kib}.."
            f"{ff.KDF_CAP.memory_kib} KiB, iterations {ff.KDF_FLOOR.iterations}..{ff.KDF_CAP.iterations}, "
            f"lanes {ff.KDF_FLOOR.lanes}..{ff.KDF_CAP.lanes})"
        )
    return params


def check_new_passphrase(passphrase: str) -> str:
    if len(passphrase) < MIN_PASSPHRASE:
        raise InputError(f"a passphrase needs at least {MIN_PASSPHRASE} characters")
    return passphrase


def require_custodian(reg: store.Register, doing: str) -> None:
    """Only an IT custodian (a slot that unwraps the vault key) may do this."""
    if not reg.is_custodian:
        raise AccessError(f"only an IT custodian can {doing}")


def require_may_act(reg: store.Register) -> None:
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


def _sign_record(reg: store.Register, event: dict, kind: str, **fields) -> None:
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


def init(where, trust_name: str, email: str, name: str, passphrase: str) -> str:
    """Create a register with its first IT custodian; returns the recovery key (to print once).

    `where` is the register's address (a file path or a postgresql:// URL); the store behind it
    refuses to put the new register over an existing one. The custodian's grant is the register's
    root of trust, signed with their own new key.
    """
    trust_name = model.nonempty(trust_name, "trust name", 200)
    email = model.email(email)
    name = model.nonempty(name, "name", 200)
    check_new_passphrase(passphrase)
    with store.create(where, email, passphrase, kdf_params()) as (reg, recovery_key, signing_public):
        conn = reg.db
        model.set_meta(conn, "trust", trust_name)
        model.set_meta(conn, "created_at", clock.now_iso())
        _record_person(conn, email, name, "vault", reg.slot.slot_id, None)
        event = events.record(conn, email, "register.init", None, details={"trust": trust_name, "custodian": email})
        _sign_record(
            reg,
            event,
            "root",
            member=membership.Member.from_slot(reg.slot, email, signing_public).describe(),
            recovery=reg.recovery,
        )
    return recovery_key


def grant(reg: store.Register, email: str, access: str, passphrase: str) -> dict:
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
    slot, signing_public = reg.add_person_slot(email, ACCESS_CODES[access], passphrase, kdf_params())
    _record_person(reg.db, email, person["name"], access, slot.slot_id, reg.actor)
    event = events.record(reg.db, reg.actor, "person.grant", email, details={"access": access})
    _sign_record(reg, event, "grant", member=membership.Member.from_slot(slot, email, signing_public).describe())
    return {"email": email, "name": person["name"], "access": access}


def revoke(reg: store.Register, email: str) -> dict:
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


def saved_by(reg: store.Register) -> str | None:
    """Who saved the register last, as its header says (`verify` checks the signature)."""
    return trust.saved_by(reg.membership, reg.header)


def list_people(reg: store.Register) -> list[dict]:
    rows = reg.db.execute("SELECT email, name, access, granted_at, granted_by FROM people ORDER BY email")
    return [dict(r) for r in rows]


def passwd(reg: store.Register, new_passphrase: str) -> bytes:
    """Change the actor's own passphrase; returns the new KEK (for the keyring cache)."""
    check_new_passphrase(new_passphrase)
    _, kek, _ = reg.replace_person_slot(reg.actor, new_passphrase, kdf_params(), new_keys=False)
    events.record(reg.db, reg.actor, "person.passwd", reg.actor)
    return kek


def recover(reg: store.Register, email: str, new_passphrase: str) -> dict:
    """With the recovery key open: give `email` a new passphrase (and new key pairs) on their slot."""
    email = model.email(email)
    member = reg.membership.by_email(email)
    if member is None:
        raise InputError(f"{email} has no key slot in this register; recovery restores an existing person's access")
    check_new_passphrase(new_passphrase)
    slot, _, signing_public = reg.replace_person_slot(email, new_passphrase, kdf_params(), new_keys=True)
    event = events.record(reg.db, reg.actor, "person.recover", email, details={"via": "recovery key"})
    _sign_record(reg, event, "recover", member=membership.Member.from_slot(slot, email, signing_public).describe())
    return {"email": email, "access": member.access}


def accept_rollback(reg: store.Register, reason: str) -> dict:
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


def status(where) -> dict:
    """What `vault status` shows: read from the header alone, without unlocking."""
    header, size = store.read_header(where)
    slots = []
    for s in header.slots:
        slots.append(
            {
                "slot": s.slot_id.hex()[:8],
                "kind": "person" if s.kind == ff.KIND_PERSON else "recovery",
                "access": ACCESS_NAMES[s.access],
                "kdf": "argon2id" if s.kdf_alg == ff.KDF_ARGON2ID else "hkdf-sha256",
                "memory_kib": s.kdf.memory_kib,
                "iterations": s.kdf.iterations,
                "lanes": s.kdf.lanes,
            }
        )
    from datetime import datetime, timezone

    saved_at = datetime.fromtimestamp(header.saved_at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "file": store.describe(where),
        "format_version": header.version,
        "file_id": header.file_id.hex(),
        "generation": header.generation,
        "size_bytes": size,
        "saved_by_slot": header.saved_by.hex()[:8],
        "saved_at": saved_at if header.saved_at else None,
        "slots": slots,
        "custodian_slots": sum(1 for s in header.slots if s.kind == ff.KIND_PERSON and s.is_custodian),
        "person_slots": sum(1 for s in header.slots if s.kind == ff.KIND_PERSON),
    }
