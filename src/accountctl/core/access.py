"""Who can open the register: init, grant, revoke, passphrase change, recovery. Records events."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from accountctl import clock, model
from accountctl.core import directory, events
from accountctl.errors import AccessError, InputError
from accountctl.store import fileformat as ff
from accountctl.store import register as store
from accountctl.store.crypto import KdfParams
from accountctl.store.files import write_lock

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
    params = KdfParams(values.get("m", ff.KDF_DEFAULT.memory_kib), values.get("t", ff.KDF_DEFAULT.iterations),
                       values.get("p", ff.KDF_DEFAULT.lanes))
    if not ff.kdf_within_limits(params):
        raise InputError(f"ACCOUNTCTL_KDF is outside the allowed range (memory {ff.KDF_FLOOR.memory_kib}.."
                         f"{ff.KDF_CAP.memory_kib} KiB, iterations {ff.KDF_FLOOR.iterations}..{ff.KDF_CAP.iterations}, "
                         f"lanes {ff.KDF_FLOOR.lanes}..{ff.KDF_CAP.lanes})")
    return params


def check_new_passphrase(passphrase: str) -> str:
    if len(passphrase) < MIN_PASSPHRASE:
        raise InputError(f"a passphrase needs at least {MIN_PASSPHRASE} characters")
    return passphrase


def require_custodian(reg: store.Register, doing: str) -> None:
    """Only an IT custodian (a slot that unwraps the vault key) may do this."""
    if not reg.is_custodian:
        raise AccessError(f"only an IT custodian can {doing}")


def _record_person(conn: sqlite3.Connection, email: str, name: str, access: str, slot_id: bytes, by: str | None,
                   signing_public: bytes) -> None:
    now = clock.now_iso()
    conn.execute("INSERT INTO people(email, name, access, slot_id, granted_at, granted_by) VALUES (?,?,?,?,?,?)",
                 (email, name, access, slot_id, now, by))
    conn.execute("INSERT INTO slot_history(email, access, granted_at) VALUES (?,?,?)", (email, access, now))
    conn.execute("INSERT INTO signing_keys(email, public_key, created_at) VALUES (?,?,?)", (email, signing_public, now))


def init(path: Path, trust: str, email: str, name: str, passphrase: str) -> str:
    """Create a register with its first IT custodian; returns the recovery key (to print once)."""
    trust = model.nonempty(trust, "trust name", 200)
    email = model.email(email)
    name = model.nonempty(name, "name", 200)
    check_new_passphrase(passphrase)
    if path.is_dir():
        raise InputError(f"{path} is a folder; give the register a file name, e.g. {path / 'register.accountctl'}")
    if path.exists():
        raise InputError(f"a register already exists at {path}; refusing to overwrite it")
    if not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    kdf = kdf_params()
    reg, recovery_key, signing_public = store.create(path, email, passphrase, kdf)
    conn = reg.db
    from accountctl.store.db import set_meta

    set_meta(conn, "trust", trust)
    set_meta(conn, "created_at", clock.now_iso())
    _record_person(conn, email, name, "vault", reg.slot.slot_id, None, signing_public)
    events.record(conn, email, "register.init", None, details={"trust": trust, "custodian": email})
    with write_lock(path):
        if path.exists():
            raise InputError(f"a register already exists at {path}; refusing to overwrite it")
        reg.save()
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
    if reg.slot_for(email) is not None or reg.db.execute("SELECT 1 FROM people WHERE email = ?", (email,)).fetchone():
        raise InputError(f"{email} already has a key slot (revoke it first to change access)")
    check_new_passphrase(passphrase)
    slot, signing_public = reg.add_person_slot(email, ACCESS_CODES[access], passphrase, kdf_params())
    _record_person(reg.db, email, person["name"], access, slot.slot_id, reg.actor, signing_public)
    events.record(reg.db, reg.actor, "person.grant", email, details={"access": access})
    return {"email": email, "name": person["name"], "access": access}


def revoke(reg: store.Register, email: str) -> dict:
    """Remove a person's slot and rotate the keys it could open; the last custodian cannot go."""
    require_custodian(reg, "revoke access")
    email = model.email(email)
    row = reg.db.execute("SELECT * FROM people WHERE email = ?", (email,)).fetchone()
    if row is None or reg.slot_for(email) is None:
        raise InputError(f"{email} has no key slot in this register")
    custodians = [s for s in reg.header.slots if s.kind == ff.KIND_PERSON and s.is_custodian]
    victim = reg.slot_for(email)
    if victim.is_custodian and len(custodians) <= 1:
        raise InputError(f"{email} is the last IT custodian; grant another custodian before revoking this one")
    reg.remove_slot_and_rotate(email)
    now = clock.now_iso()
    reg.db.execute("DELETE FROM people WHERE email = ?", (email,))
    reg.db.execute("UPDATE slot_history SET revoked_at = ? WHERE email = ? AND revoked_at IS NULL", (now, email))
    reg.db.execute("UPDATE signing_keys SET retired_at = ? WHERE email = ? AND retired_at IS NULL", (now, email))
    rotated = ["register key"] + (["vault key"] if victim.is_custodian else [])
    events.record(reg.db, reg.actor, "person.revoke", email, details={"access": row["access"], "rotated": rotated})
    return {"email": email, "access": row["access"], "rotated": rotated}


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
    row = reg.db.execute("SELECT * FROM people WHERE email = ?", (email,)).fetchone()
    if row is None or reg.slot_for(email) is None:
        raise InputError(f"{email} has no key slot in this register; recovery restores an existing person's access")
    check_new_passphrase(new_passphrase)
    _, _, signing_public = reg.replace_person_slot(email, new_passphrase, kdf_params(), new_keys=True)
    now = clock.now_iso()
    reg.db.execute("UPDATE signing_keys SET retired_at = ? WHERE email = ? AND retired_at IS NULL", (now, email))
    reg.db.execute("INSERT INTO signing_keys(email, public_key, created_at) VALUES (?,?,?)", (email, signing_public, now))
    events.record(reg.db, "recovery-key", "person.recover", email, details={"via": "recovery key"})
    return {"email": email, "access": row["access"]}


def status(path: Path) -> dict:
    """What `vault status` shows: read from the header alone, without unlocking."""
    header, size = store.read_header(path)
    slots = []
    for s in header.slots:
        slots.append({
            "slot": s.slot_id.hex()[:8],
            "kind": "person" if s.kind == ff.KIND_PERSON else "recovery",
            "access": ACCESS_NAMES[s.access],
            "kdf": "argon2id" if s.kdf_alg == ff.KDF_ARGON2ID else "hkdf-sha256",
            "memory_kib": s.kdf.memory_kib, "iterations": s.kdf.iterations, "lanes": s.kdf.lanes,
        })
    return {
        "file": str(path), "format_version": header.version, "file_id": header.file_id.hex(),
        "generation": header.generation, "size_bytes": size, "slots": slots,
        "custodian_slots": sum(1 for s in header.slots if s.kind == ff.KIND_PERSON and s.is_custodian),
        "person_slots": sum(1 for s in header.slots if s.kind == ff.KIND_PERSON),
    }
