"""Upgrading a format-4 register to format 5, a key per school (file-format.md F11): `vault upgrade`.

As for format 2 (upgrade.py), never a side effect: `plan` opens the register as a custodian with every
check, the whole history included, and lists what the upgrade will sign (every key slot with its
person, access, signing key and the schools it will read, and what goes into each school's
segments); nothing is written. `apply` then, under the lock and only if the file is byte for byte
the one planned, makes new keys for every scope (nothing derived from format 4's keys), binds each
school to its scope, records each member's schools, carries every format-4 event over with its
hash, and writes format 5. PATH.bak is made the new file: a format-4 copy beside it would let every
key holder read every school. In PostgreSQL, format 5's tables are written and format 4's rows deleted
in one transaction.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, replace

from accountctl import chain, crypto, membership, model
from accountctl.errors import AccessError, InputError
from accountctl.store import db as dbmod, files, segments as sg, split, stores
from accountctl.store.register import keys as reg_keys, opening


@dataclass
class Plan:
    """What the upgrade would sign, and the file it was read from (it refuses if that changed)."""

    actor: str
    members: list[dict]  # slot, email, access, signing_key, schools ("*" or a list)
    counts: list[dict]  # scope name, accounts, staff, events
    image_digest: str
    kek: bytes

    def rows(self) -> list[dict]:
        """One row per key slot, for the custodian to read before saying yes."""
        return [
            {
                "slot": m["slot"][:8],
                "person": m["email"],
                "access": m["access"],
                "schools": "all" if m["schools"] == membership.ALL_SCHOOLS else ", ".join(m["schools"]),
                "signing_key": m["signing_key"],
            }
            for m in self.members
        ]


def _given(conn, overrides: dict[str, str]) -> dict[str, str | list[str]]:
    """`--school EMAIL=S[,S2]` or `EMAIL='*'`: checked against the schools and the people with slots."""
    known = {r[0] for r in conn.execute("SELECT id FROM schools")}
    out = {}
    for email, text in overrides.items():
        if text.strip() == membership.ALL_SCHOOLS:
            out[email.lower()] = membership.ALL_SCHOOLS
            continue
        schools = sorted({s.strip() for s in text.split(",") if s.strip()})
        unknown = [s for s in schools if s not in known]
        if not schools or unknown:
            raise InputError(f"--school {email}={text}: no such school {', '.join(unknown) or '(none given)'}")
        out[email.lower()] = schools
    return out


def _members(reg, overrides: dict[str, str], defaults) -> list[dict]:
    given = _given(reg.db, overrides)
    members = []
    for member in reg.membership.members.values():
        schools = given.pop(member.email, None) or defaults(reg.db, member.email, member.access)
        if member.access == "vault" and schools != membership.ALL_SCHOOLS:
            raise InputError(f"{member.email} holds vault access, which reads every school")
        described = member.describe()
        members.append({**described, "schools": schools})
    if given:
        raise InputError(f"--school names people with no key slot: {', '.join(sorted(given))}")
    return sorted(members, key=lambda m: m["email"])


def _counts(reg) -> list[dict]:
    conn = reg.db
    names = dict(conn.execute("SELECT id, name FROM schools"))
    events: dict[str, int] = {}
    for row in conn.execute(f"SELECT action, account, target, details FROM {dbmod.ALL_EVENTS}"):
        event = dict(row)
        event["details"] = json.loads(event["details"] or "{}")
        for school in split.event_schools(conn, event):
            events[school] = events.get(school, 0) + 1
    staff_sql = f"SELECT count(*) FROM staff AS r WHERE {split.MEMBERS['staff'].format(r='r')}"

    def staff(school: str) -> int:  # the central team's are the trust's rows
        return conn.execute(staff_sql, {"school": school}).fetchone()[0]

    rows = [{"scope": "the trust", "accounts": 0, "staff": staff(split.TRUST), "events": events.get(split.TRUST, 0)}]
    for school in sorted(names):
        rows.append(
            {
                "scope": names[school],
                "accounts": conn.execute("SELECT count(*) FROM accounts WHERE school = ?", (school,)).fetchone()[0],
                "staff": staff(school),
                "events": events.get(school, 0),
            }
        )
    return rows


def plan(where: stores.Address, actor: str | None, passphrase_source, overrides: dict[str, str], defaults) -> Plan:
    """Read a format-4 register as a custodian, check all of it, and say what the upgrade would sign.

    `defaults(conn, email, access)` gives the schools a person reads unless `overrides` says otherwise
    (core.access.default_schools: the rule of SPEC "Each school sees its own").
    """
    with stores.open_store(where) as store:
        if opening.is_five(store):
            raise InputError("this register is in format 5 already: there is nothing to upgrade")
        if store.read(upto=lambda prefix: 0, tail_at=opening._tail_start)[0]:
            # Records at the end of the file: saved whole first, as `vault copy` does (format 5 has its own tail).
            with opening.open_register(store, actor=actor, passphrase_source=passphrase_source, write=True) as reg:
                reg.header_changed = True
        with opening.open_register(store, actor=actor, passphrase_source=passphrase_source, history=True) as reg:
            if not reg.is_custodian:
                raise AccessError("only an IT custodian can upgrade the register ('accountctl vault upgrade')")
            problems = reg.save_problems()
            if problems:
                raise InputError(f"the register does not verify ({problems[0]}); run 'accountctl verify'")
            members, counts = _members(reg, overrides, defaults), _counts(reg)
            image, _ = store.read()
            return Plan(reg.actor, members, counts, hashlib.sha256(image).hexdigest(), reg.kek)


def apply(where: stores.Address, planned: Plan) -> int:
    """Write format 5 exactly as planned, under the lock; refuses if the file changed since. Returns the slots."""
    _write(where, planned)  # its copies of the register are gone before the open below (peak 653 to 468 MiB)
    # This machine learns format 5 now, so it refuses format 4 from here on (F11).
    with opening.open_register(where, actor=planned.actor, passphrase_source=_never, kek=planned.kek):
        pass
    return len(planned.members)


def _write(where: stores.Address, planned: Plan) -> None:
    from accountctl.store import format5

    with stores.open_store(where) as store, store.lock():
        image, _ = store.read()
        if hashlib.sha256(image).hexdigest() != planned.image_digest:
            raise InputError("the register changed since you reviewed it; run 'accountctl vault upgrade' again")
        unlock = dict(actor=planned.actor, passphrase_source=_never, kek=planned.kek, history=True)
        with opening.open_register(stores.ImageStore(store.name, image), **unlock) as reg:
            body, legacy = _body(reg)
            v_trust = crypto.random_bytes(32)
            _plain_secrets(reg, body, v_trust)
            events = _records(reg, body, planned.members)
            slots = [replace(s, sealed_register=b"", sealed_vault=b"") for s in reg.header.slots]
            made = format5.save(
                body,
                slots,
                reg.slot,
                reg.keys.signing_private,
                events,
                file_id=reg.file_id,
                legacy=legacy,
                saved_at=int(time.time()),
                first_generation=reg.header.generation + 1,
                fresh={(sg.TRUST, sg.KEY_V): v_trust},
            )
        if getattr(store, "url", None):  # format 5's tables, format 4's rows deleted, in the lock's transaction
            from accountctl.store import pgstore5

            pgstore5.install(store, made.pieces, made.index)
        else:
            files.atomic_write(store.path, lambda handle: handle.writelines(made.pieces))
            store.forget_previous()


def _never() -> str:
    raise AccessError("the upgrade's key is no longer the register's; run 'accountctl vault upgrade' again")


def _body(reg):
    """A copy of the body to split, and every format-4 event, oldest first (read as the save takes them:
    the 60,000 of the large trust as a list took 127 MiB)."""
    body = dbmod.deserialize(reg.db.serialize(name="main"))
    body.execute("DELETE FROM events")

    def legacy():
        for row in reg.db.execute(f"SELECT * FROM {dbmod.ALL_EVENTS} ORDER BY seq"):
            event = dict(row)
            event["details"] = json.loads(event["details"])
            yield event

    return body, legacy()


def _plain_secrets(reg, body, v_trust: bytes) -> None:
    """F4: field encryption ends (the credentials segment is the unit); fingerprints keyed from the trust's V."""
    from accountctl.store.register.five import fingerprint

    for table, (key_col, columns) in reg_keys.ENCRYPTED_COLUMNS.items():
        for row in reg.db.execute(f"SELECT {key_col}, {', '.join(columns)} FROM main.{table}").fetchall():
            plain = {c: reg.decrypt_field(table, str(row[key_col]), c, row[c]) for c in columns if row[c] is not None}
            if plain:
                sets = ", ".join(f"{c} = ?" for c in plain)
                body.execute(f"UPDATE {table} SET {sets} WHERE {key_col} = ?", (*plain.values(), row[key_col]))
    for table, key_col in (("credentials", "account"), ("password_history", "id")):
        rows = body.execute(f"SELECT {key_col}, password FROM {table} WHERE password_fp IS NOT NULL").fetchall()
        for key, password in rows:
            body.execute(
                f"UPDATE {table} SET password_fp = ? WHERE {key_col} = ?", (fingerprint(v_trust, password), key)
            )


def _records(reg, body, members: list[dict]) -> list[tuple[dict, list[bytes]]]:
    """The upgrade's events: one `school` record per school, one `scope` record per member (F3, F11)."""
    events = []

    def record(action: str, kind: str, **fields) -> None:
        event = chain.record(body, reg.actor, action, details=dict(fields))
        membership.append(
            body,
            reg.file_id,
            kind,
            reg.actor,
            reg.keys.signing_private,
            event["seq"],
            event["at"],
            event["at_real"],
            **fields,
        )
        events.append((event, [sg.TRUST]))

    model.set_meta(body, model.IDS_PER_SCHOOL, "1")  # F4: new ids carry their school's
    for n, school in enumerate(sorted(r[0] for r in body.execute("SELECT id FROM schools")), 1):
        model.set_meta(body, f"ids.base.{school}", str(n))  # its range of row ids (model.RowIds)
        record(membership.RECORD_ACTIONS["school"], "school", school=school, scope=crypto.random_bytes(16).hex())
    for member in members:
        fields = dict(slot=member["slot"], email=member["email"], schools=member["schools"], reason="upgrade")
        record(membership.RECORD_ACTIONS["scope"], "scope", **fields)
    return events
