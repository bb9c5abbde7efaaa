"""Upgrading a format-2 register (accountctl 0.1.0): an explicit custodian command, never a side effect.

Format 2 had no signed grants, so an upgrade has nothing to check the key slots against but the
people table and the vault MAC, both of which anyone holding the register key could have rewritten
(the MAC only guards custodian slots). Whatever the upgrade finds, it signs into the first membership
record, the register's new root of trust. So (docs/security.md, "No path around these"):

- no ordinary command upgrades: `vault upgrade` does, and only after its custodian has seen every key
  slot, person and signing key it is about to sign, and said yes (`plan`, then `apply`);
- a machine that has seen the register in a newer format refuses the old one outright (exit 4), so
  an insider cannot rewrite a signed register as format 2 and have it upgraded around its grants;
- nothing is written before the custodian says yes, and only the upgrade's own save afterwards.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from accountctl import membership
from accountctl import chain
from accountctl.errors import AccessError, DamagedError, InputError
from accountctl.store import db as dbmod, fileformat as ff, stores, trust, witness
from accountctl.store.register import keys as reg_keys, opening, seen as reg_seen, state


@dataclass
class Plan:
    """What an upgrade would sign, and what it was read from (the upgrade refuses if that changed)."""

    actor: str
    members: list[dict]  # each: slot, email, tag, public, signing_key, access (membership.Member.describe)
    retired: list[dict]  # signing keys a recovery retired in format 2: email, key
    recovery_slot: str
    last_decision: int
    image_digest: str
    kek: bytes
    slot_id: bytes

    def rows(self) -> list[dict]:
        """One row per key slot and retired key, for the custodian to read before saying yes."""
        rows = [
            {
                "slot": m["slot"][:8],
                "person": m["email"],
                "access": m["access"],
                "signing_key": m["signing_key"],
                "status": "current",
            }
            for m in self.members
        ]
        rows += [
            {"slot": "", "person": r["email"], "access": "", "signing_key": r["key"], "status": "retired"}
            for r in self.retired
        ]
        rows.append(
            {
                "slot": self.recovery_slot[:8],
                "person": membership.RECOVERY,
                "access": "vault",
                "signing_key": "",
                "status": "new",
            }
        )
        return rows


def _read(store: stores.Store) -> tuple[bytes, ff.Header, bytes]:
    image, _ = store.read()
    header, raw = ff.parse_header(image)
    return image, header, raw


def plan(where: stores.Address, actor: str | None, passphrase_source) -> Plan:
    """Read a format-2 register as its custodian and say what an upgrade would sign; writes nothing."""
    with stores.open_store(where) as store:
        image, header, raw = _read(store)
        if header.version != ff.UPGRADABLE:
            raise InputError(f"this register is in format {header.version}: there is nothing to upgrade")
        seen = witness.seen(header.file_id)
        if seen is not None:
            raise DamagedError(
                f"register altered: it is in format {ff.UPGRADABLE}, but this machine has seen it in format "
                f"{reg_seen._format_seen(seen)}; an older format is never upgraded in place of a newer one "
                "(nothing was read or written)"
            )
        holder = witness.holder_of(reg_seen._address(store) or "", witness.load_all())
        if holder is not None and holder != header.file_id.hex():
            raise DamagedError(
                f"register replaced: {store.name} held register {holder[:8]} on this machine and now holds another, "
                f"{header.file_id.hex()[:8]}; nothing was read or written"
            )
        slot = reg_keys.choose_slot(header, actor)
        kek, keys = reg_keys.unlock_kek(header, slot, passphrase_source)
        if keys.vault_key is None:
            raise AccessError(
                f"this register is in format {ff.UPGRADABLE}: only an IT custodian can upgrade it "
                "('accountctl vault upgrade')"
            )
        conn = _body(header, raw, image, keys)
        members, retired, recovery_slot, email = _members(conn, header, slot)
        last_decision = conn.execute("SELECT coalesce(max(id), 0) FROM approvals").fetchone()[0]
        return Plan(
            email,
            members,
            retired,
            recovery_slot.slot_id.hex(),
            last_decision,
            hashlib.sha256(image).hexdigest(),
            kek,
            slot.slot_id,
        )


def _body(header: ff.Header, raw: bytes, image: bytes, keys: reg_keys.Keys):
    conn, _ = opening._decrypt_body(
        header, raw, memoryview(image)[len(raw) : len(raw) + header.body_len], keys.register_key
    )
    if not hmac.compare_digest(header.vault_mac, reg_keys.vault_slots_mac(keys.vault_key, header)):
        raise DamagedError("register altered: its custodian key slots were changed without vault access")
    return conn


def _members(conn, header: ff.Header, slot: ff.Slot) -> tuple[list[dict], list[dict], ff.Slot, str]:
    """Every slot as the people and signing-key tables describe it; a slot that names nobody is refused."""
    people = {bytes(r[0]): (r[1], r[2]) for r in conn.execute("SELECT slot_id, email, access FROM people")}
    current = {
        r[0]: bytes(r[1])
        for r in conn.execute("SELECT email, public_key FROM signing_keys WHERE retired_at IS NULL ORDER BY id")
    }
    retired = [
        {"email": r[0], "key": bytes(r[1]).hex()}
        for r in conn.execute("SELECT email, public_key FROM signing_keys WHERE retired_at IS NOT NULL ORDER BY id")
    ]
    members, recovery_slot = [], None
    for s in header.slots:
        if s.kind == ff.KIND_RECOVERY:
            recovery_slot = s
            continue
        email, access = people.get(s.slot_id, (None, None))
        if (
            email is None
            or email not in current
            or access != membership.ACCESS[s.access]
            or s.tag != ff.person_tag(header.file_id, email)
        ):
            raise DamagedError(
                f"register altered: key slot {s.slot_id.hex()[:8]} belongs to nobody in the "
                "register, so it cannot be granted; the register cannot be upgraded"
            )
        members.append(membership.Member.from_slot(s, email, current[email]).describe())
    if recovery_slot is None:
        raise DamagedError("register altered: it has no recovery key slot; the register cannot be upgraded")
    return members, retired, recovery_slot, people[slot.slot_id][0]


def apply(where: stores.Address, planned: Plan) -> int:
    """Upgrade the register exactly as planned, under the lock; refuses if it changed since. Returns the slots signed."""
    with stores.open_store(where) as store, store.lock():
        image, header, raw = _read(store)
        if hashlib.sha256(image).hexdigest() != planned.image_digest:
            raise InputError("the register changed since you reviewed it; run 'accountctl vault upgrade' again")
        slot = next(s for s in header.slots if s.slot_id == planned.slot_id)
        keys = reg_keys._unwrap(header, slot, planned.kek)
        conn = _body(header, raw, image, keys)
        members, retired, recovery_slot, actor = _members(conn, header, slot)
        reg = state.Register(store, header, keys, conn, slot, actor, planned.kek, len(raw) + header.body_len)
        reg.address = reg_seen._address(store)
        reg.raw = raw
        reg.load_history()
        reg._history_rewritten = True  # its events gain the new columns: re-encrypt it
        dbmod.upgrade_schema(conn)
        reg._seq_at_open = dbmod.events_head_seq(conn)
        event = chain.record(
            conn, actor, "register.upgrade", None, details={"from_format": ff.UPGRADABLE, "to_format": ff.VERSION}
        )
        membership.append(
            conn,
            header.file_id,
            "upgrade",
            actor,
            keys.signing_private,
            event["seq"],
            event["at"],
            event["at_real"],
            members=members,
            retired_keys=retired,
            last_decision=planned.last_decision,
            recovery=trust.new_recovery_signer(header.file_id, recovery_slot),
        )
        reg.reload_membership()
        reg.header_changed = True
        reg.save()
        return len(members)
