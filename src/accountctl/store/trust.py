"""The store's side of the signed membership records (accountctl/membership.py) and of signed saves.

Every open derives the slot set the records allow and compares it with the header (`check_header`):
a slot with no record, or one that differs from its record, is refused (DamagedError) before anything
is read or written. Each save signs the chain head of the events it added (`sign_event`), and the
header (`fileformat.signed_part`) with the body's digest (`save_message`); `verify` checks both
against the keys the records say each person held at the time. The recovery key signs with an
Ed25519 key of its own, whose private half the root record keeps sealed to the recovery slot's X25519
key: only the recovery key opens it.
"""

from __future__ import annotations


from accountctl.chain import event_message
from accountctl.membership import ACCESS, RECOVERY, Membership
from accountctl.errors import DamagedError
from accountctl import crypto
from accountctl.store import fileformat as ff

LABEL_RECOVERY_SIGNING = b"accountctl/v3/recovery-signing"


def new_recovery_signer(file_id: bytes, recovery_slot: ff.Slot) -> dict:
    """The recovery key's own signing key, for the root record: public half, and private half sealed to its slot.

    Sealed to the recovery slot's X25519 key (which rotations keep), so whoever opens that slot with
    the recovery key can sign, and a format-2 register can be given one without the recovery key.
    """
    private, public = crypto.ed25519_keypair()
    sealed = crypto.seal_to(
        recovery_slot.public, private, LABEL_RECOVERY_SIGNING, ff.slot_aad(file_id, recovery_slot.slot_id)
    )
    return {
        "slot": recovery_slot.slot_id.hex(),
        "public": recovery_slot.public.hex(),
        "signing_key": public.hex(),
        "sealed_signing_key": sealed.hex(),
    }


def recovery_signing_private(state: Membership, file_id: bytes, x25519_private: bytes) -> bytes:
    """The recovery key's signing key, unsealed with the recovery slot's private key."""
    return crypto.open_sealed_to(
        x25519_private, state.recovery_sealed, LABEL_RECOVERY_SIGNING, ff.slot_aad(file_id, state.recovery_slot)
    )


def check_header(state: Membership, header: ff.Header) -> None:
    """The header's slots must be exactly the granted ones, each as granted; DamagedError naming a slot if not."""
    seen = set()
    for slot in header.slots:
        name = slot.slot_id.hex()[:8]
        if slot.kind == ff.KIND_RECOVERY:
            if slot.slot_id != state.recovery_slot or slot.public != state.recovery_public:
                raise DamagedError(
                    f"register altered: key slot {name} is a recovery slot that no grant made; "
                    "nothing was read or written"
                )
        else:
            member = state.members.get(slot.slot_id)
            if member is None:
                raise DamagedError(
                    f"register altered: key slot {name} has no grant signed by a custodian "
                    "(a slot added behind the register's back); nothing was read or written"
                )
            if (slot.tag, slot.public, ACCESS.get(slot.access)) != (member.tag, member.public, member.access):
                raise DamagedError(
                    f"register altered: key slot {name} no longer matches its grant to "
                    f"{member.email} (another person, key or access level); nothing was read or written"
                )
        seen.add(slot.slot_id)
    missing = [m for m in state.members.values() if m.slot_id not in seen]
    if missing or state.recovery_slot not in seen:
        name = missing[0].slot_id.hex()[:8] if missing else state.recovery_slot.hex()[:8]
        raise DamagedError(f"register altered: the granted key slot {name} is missing from the file")


def sign_event(file_id: bytes, event_hash: str, signing_private: bytes) -> bytes:
    """Sign an event's hash; since the hash chains every event before it, this covers the saver's whole run."""
    return crypto.sign(signing_private, event_message(file_id, event_hash))


def save_message(header: ff.Header, body_digest: bytes) -> bytes:
    return ff.LABEL_SAVE + ff.signed_part(header) + body_digest


def verify_save(state: Membership, header: ff.Header, body_digest: bytes) -> list[str]:
    """Problems with the last save's signature (empty when the slot that saved signed exactly this file)."""
    who = saved_by(state, header)
    key = state.current_key(who) if who else None
    if key is None:
        return [f"the last save names key slot {header.saved_by.hex()[:8]}, which nobody holds"]
    if not crypto.verify_signature(key, header.save_signature, save_message(header, body_digest)):
        return [f"the last save (generation {header.generation}) is not signed by {who}, whom it names"]
    return []


def saved_by(state: Membership, header: ff.Header) -> str | None:
    """Who the header says saved last (unchecked: `verify` checks the signature).

    Nobody can revoke their own slot, so whoever saved still holds one.
    """
    if header.saved_by == state.recovery_slot:
        return RECOVERY
    member = state.members.get(header.saved_by)
    return member.email if member else None
