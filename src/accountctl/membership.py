"""Who may hold a key slot, and which signing key was whose when: the signed membership records.

Every key holder can decrypt the register, so the header's slot list and the database prove nothing
by themselves: anyone who holds the register key can rewrite both. What a holder cannot do is sign
in another person's name. So each slot is bound to one person by a **membership record** (the
`grants` table) signed with Ed25519 by a custodian (or the recovery key). The first record, the
**root**, is signed by the first custodian's own key; each machine pins it (store/witness.py), as SSH
pins a host key. Records are hash-chained, so none can be removed or reordered.

Shared by the store, which checks the header's slots against these records on every open
(store/trust.py), and the core, which writes a record beside each grant, revoke and recovery and
checks decisions against the keys the records give (core/approvals.py, core/verification.py).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass, field

from accountctl import crypto
from accountctl.chain import canonical
from accountctl.errors import DamagedError

LABEL_MEMBERSHIP = b"accountctl/v3/membership"
LABEL_PERSON_TAG = b"accountctl/v1/person"
RECORD_VERSION = 1
RECOVERY = "recovery-key"  # the actor name of the recovery key, in records and events
# The header's access codes (store/fileformat.py ACCESS_REGISTER, ACCESS_VAULT) by the names records use.
ACCESS = {1: "register", 2: "vault"}
FIRST_KINDS = ("root", "upgrade")
# The event that stands beside each kind of record in the history (verify and every open check it).
RECORD_ACTIONS = {
    "root": "register.init",
    "upgrade": "register.upgrade",
    "grant": "person.grant",
    "revoke": "person.revoke",
    "recover": "person.recover",
    "rollback": "rollback.accepted",
    # format 5 (docs/file-format.md F3; written by nothing yet): which schools a member reads, and
    # which scope holds each school's segments
    "scope": "person.schools",
    "school": "school.scope",
}
KINDS = ("root", "upgrade", "grant", "revoke", "recover", "rollback", "scope", "school")
ALL_SCHOOLS = "*"
SCOPE_REASONS = ("move", "grant", "upgrade")
TAG_LEN = 16


def person_tag(file_id: bytes, email: str) -> bytes:
    """A key slot's identifier for a person: keeps emails out of the readable header."""
    return hashlib.sha256(LABEL_PERSON_TAG + file_id + email.strip().lower().encode("utf-8")).digest()[:TAG_LEN]


@dataclass
class Member:
    """One person's slot as their grant describes it."""

    slot_id: bytes
    email: str
    tag: bytes
    public: bytes
    signing_key: bytes
    access: str
    # The schools this member reads (format 5): "*" or a sorted list of school ids. A format-4 member
    # reads everything, so "*" is the default and is left out of what a record signs.
    schools: str | list[str] = ALL_SCHOOLS

    def describe(self) -> dict:
        out = {
            "slot": self.slot_id.hex(),
            "email": self.email,
            "tag": self.tag.hex(),
            "public": self.public.hex(),
            "signing_key": self.signing_key.hex(),
            "access": self.access,
        }
        if self.schools != ALL_SCHOOLS:
            out["schools"] = list(self.schools)
        return out

    @classmethod
    def from_slot(cls, slot, email: str, signing_key: bytes) -> "Member":
        return cls(slot.slot_id, email, slot.tag, slot.public, signing_key, ACCESS[slot.access])

    @classmethod
    def parse(cls, obj: dict) -> "Member":
        return cls(
            bytes.fromhex(obj["slot"]),
            obj["email"],
            bytes.fromhex(obj["tag"]),
            bytes.fromhex(obj["public"]),
            bytes.fromhex(obj["signing_key"]),
            obj["access"],
            _schools(obj.get("schools", ALL_SCHOOLS)),
        )


def _schools(value) -> str | list[str]:
    """A record's list of schools, checked: "*", or school ids, sorted and without repeats."""
    if value == ALL_SCHOOLS:
        return ALL_SCHOOLS
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value) or value != sorted(set(value)):
        raise ValueError("its list of schools is not a sorted list of school ids, nor '*'")
    return list(value)


@dataclass
class ReachSpan:
    """The schools a member read from event `since` up to (not including) `until`."""

    email: str
    schools: str | list[str]
    since: int
    until: int | None = None


@dataclass
class KeySpan:
    """A signing key and the events it may sign: from event `since` up to (not including) `until`."""

    email: str
    key: bytes
    since: int
    until: int | None = None


@dataclass
class Membership:
    """The slot set and signing-key history the records allow, after checking every signature."""

    members: dict[bytes, Member] = field(default_factory=dict)
    recovery_slot: bytes = b""
    recovery_public: bytes = b""
    recovery_signing_key: bytes = b""
    recovery_sealed: bytes = b""
    root_key: bytes = b""
    spans: list[KeySpan] = field(default_factory=list)
    rollbacks: list[dict] = field(default_factory=list)  # accepted rollbacks: payload plus "digest" and "signer"
    records: list[dict] = field(default_factory=list)  # every payload, oldest first (verify matches them to events)
    head: str = ""
    upgraded_at: int = 0  # the event seq of a format-2 upgrade: older events carry no signatures
    reach: list[ReachSpan] = field(default_factory=list)  # format 5: who read which schools, when
    school_scopes: dict[str, str] = field(default_factory=dict)  # format 5: school id -> scope id (hex)

    def schools_of(self, email: str, seq: int) -> str | list[str] | None:
        """The schools `email` read at event `seq` ("*" for all; None: they held no slot then)."""
        if email == RECOVERY:
            return ALL_SCHOOLS
        for span in self.reach:
            if span.email == email and span.since <= seq and (span.until is None or seq < span.until):
                return span.schools
        return None

    def scopes_of(self, email: str, seq: int) -> set[str] | None:
        """The scope ids (hex) `email` could read at event `seq`: None for every school, empty for none."""
        schools = self.schools_of(email, seq)
        if schools == ALL_SCHOOLS:
            return None
        return {self.school_scopes[s] for s in schools or [] if s in self.school_scopes}

    def by_email(self, email: str) -> Member | None:
        return next((m for m in self.members.values() if m.email == email), None)

    def current_key(self, email: str) -> bytes | None:
        if email == RECOVERY:
            return self.recovery_signing_key
        member = self.by_email(email)
        return member.signing_key if member else None

    def keys_of(self, email: str, seq: int) -> list[bytes]:
        """The keys `email` could sign with at event `seq`."""
        return [s.key for s in self.spans if s.email == email and s.since <= seq and (s.until is None or seq < s.until)]

    def key_owners(self) -> dict[bytes, str]:
        """Every signing key that was ever granted, and whose it is."""
        return {s.key: s.email for s in self.spans}

    def retired_keys(self) -> set[bytes]:
        return {s.key for s in self.spans if s.until is not None}

    def custodians(self) -> list[Member]:
        return [m for m in self.members.values() if m.access == "vault"]


def record_digest(payload: str, signature: bytes) -> str:
    return hashlib.sha256(payload.encode("utf-8") + signature).hexdigest()


def append(
    conn: sqlite3.Connection,
    file_id: bytes,
    kind: str,
    by: str,
    signing_private: bytes,
    seq: int,
    at: str,
    at_real: str,
    **fields,
) -> dict:
    """Sign and store one membership record, chained to the last; returns its payload."""
    last = conn.execute("SELECT payload, signature FROM grants ORDER BY id DESC LIMIT 1").fetchone()
    prev = record_digest(last[0], bytes(last[1])) if last else ""
    payload = {
        "v": RECORD_VERSION,
        "kind": kind,
        "file": file_id.hex(),
        "by": by,
        "seq": seq,
        "at": at,
        "at_real": at_real,
        "prev": prev,
        **fields,
    }
    message = canonical(payload)
    conn.execute(
        "INSERT INTO grants(payload, signature) VALUES (?, ?)",
        (message.decode("utf-8"), crypto.sign(signing_private, LABEL_MEMBERSHIP + message)),
    )
    return payload


def derive(conn: sqlite3.Connection) -> Membership:
    """The membership, without re-checking signatures: for a register whose open already ran `load`."""
    first = conn.execute("SELECT payload FROM grants ORDER BY id LIMIT 1").fetchone()
    if first is None:
        return Membership()
    return load(conn, bytes.fromhex(json.loads(first[0])["file"]), check_signatures=False)


def load(
    conn: sqlite3.Connection, file_id: bytes, *, check_signatures: bool = True, verified_head: str | None = None
) -> Membership:
    """Check every membership record (signature, signer's standing, chain) and derive the membership.

    `verified_head` is the chain head this machine verified before (its witness): when the last
    record still hashes to it, the chain commits to exactly the records already verified, so their
    signatures are not checked again (10 ms at a hundred people). Raises DamagedError naming the
    first record that does not hold.
    """
    state = Membership()
    prev = ""
    last_seq = 0
    rows = conn.execute("SELECT id, payload, signature FROM grants ORDER BY id").fetchall()
    if not rows:
        raise DamagedError("register altered: it has no membership records, so no key slot is granted")
    if verified_head and record_digest(rows[-1][1], bytes(rows[-1][2])) == verified_head:
        check_signatures = False
    for n, (row_id, text, signature) in enumerate(rows):
        signature = bytes(signature)
        where = f"membership record {row_id}"
        try:
            payload = json.loads(text)
            kind, by, seq = payload["kind"], payload["by"], int(payload["seq"])
            ok = (
                isinstance(payload, dict)
                and payload.get("v") == RECORD_VERSION
                and kind in KINDS
                and payload.get("file") == file_id.hex()
                and payload.get("prev") == prev
                and seq >= last_seq
                and (kind in FIRST_KINDS) == (n == 0)
            )
        except (ValueError, KeyError, TypeError):
            raise DamagedError(f"register altered: {where} is not readable") from None
        if not ok:
            raise DamagedError(f"register altered: {where} is out of place (removed, reordered or copied records)")
        try:
            signer = _signer(state, payload)
        except (ValueError, KeyError, TypeError):
            raise DamagedError(f"register altered: {where} is not readable") from None
        if (
            signer is None
            or check_signatures
            and not crypto.verify_signature(signer, signature, LABEL_MEMBERSHIP + text.encode("utf-8"))
        ):
            raise DamagedError(
                f"register altered: {where} ({kind} by {by}) is not signed by a custodian key "
                "that was valid at the time"
            )
        try:
            _apply(state, payload, signer, file_id)
        except (ValueError, KeyError, TypeError) as exc:
            raise DamagedError(f"register altered: {where} ({kind}) does not apply: {exc}") from None
        state.records.append(payload)
        prev = record_digest(text, signature)
        if kind == "rollback":
            state.rollbacks[-1]["digest"] = prev
        last_seq = seq
    state.head = prev
    return state


def _signer(state: Membership, payload: dict) -> bytes | None:
    """The key that must have signed this record, given the membership before it."""
    kind, by = payload["kind"], payload["by"]
    if kind == "root":
        return bytes.fromhex(payload["member"]["signing_key"])
    if kind == "upgrade":
        upgrader = next((m for m in payload["members"] if m["email"] == by and m["access"] == "vault"), None)
        return bytes.fromhex(upgrader["signing_key"]) if upgrader else None
    if by == RECOVERY:
        return state.recovery_signing_key or None
    if kind == "recover":
        return None  # only the recovery key replaces someone's keys
    member = state.by_email(by)
    return member.signing_key if member and member.access == "vault" else None


def _apply(state: Membership, payload: dict, signer: bytes, file_id: bytes) -> None:
    kind, seq = payload["kind"], int(payload["seq"])
    if kind in FIRST_KINDS:
        members = [payload["member"]] if kind == "root" else payload["members"]
        for obj in members:
            _add(state, Member.parse(obj), seq, file_id)
        for old in payload.get("retired_keys", []):  # a format-2 register's keys from before a recovery
            state.spans.append(KeySpan(old["email"], bytes.fromhex(old["key"]), 0, seq))
        recovery = payload["recovery"]
        state.recovery_slot = bytes.fromhex(recovery["slot"])
        state.recovery_public = bytes.fromhex(recovery["public"])
        state.recovery_signing_key = bytes.fromhex(recovery["signing_key"])
        state.recovery_sealed = bytes.fromhex(recovery["sealed_signing_key"])
        state.root_key = signer
        state.spans.append(KeySpan(RECOVERY, state.recovery_signing_key, 0))
        if kind == "upgrade":
            state.upgraded_at = seq
            for span in state.spans:
                span.since = 0  # keys carried over from format 2 signed what came before
    elif kind == "grant":
        _add(state, Member.parse(payload["member"]), seq, file_id)
    elif kind == "revoke":
        member = state.members.pop(bytes.fromhex(payload["slot"]))
        if member.email != payload["email"]:
            raise ValueError("it names another person than the slot's")
        _retire(state, member, seq)
    elif kind == "recover":
        new = Member.parse(payload["member"])
        old = state.members[new.slot_id]
        if (old.email, old.tag, old.access, old.schools) != (new.email, new.tag, new.access, new.schools):
            raise ValueError("a recovery may change only the keys")
        _retire(state, old, seq)
        state.members[new.slot_id] = new
        state.spans.append(KeySpan(new.email, new.signing_key, seq))
        state.reach.append(ReachSpan(new.email, new.schools, seq))
    elif kind == "rollback":
        state.rollbacks.append(dict(payload, signer=signer.hex()))
    elif kind == "scope":
        member = state.members[bytes.fromhex(payload["slot"])]
        schools = _schools(payload["schools"])
        if member.email != payload["email"] or payload["reason"] not in SCOPE_REASONS:
            raise ValueError("it names another person than the slot's, or no reason it knows")
        if member.access == "vault" and schools != ALL_SCHOOLS:
            raise ValueError("vault access reads every school")
        member.schools = schools
        _end_reach(state, member.email, seq)
        state.reach.append(ReachSpan(member.email, schools, seq))
    elif kind == "school":
        school, scope = payload["school"], payload["scope"]
        if not isinstance(school, str) or not school or len(bytes.fromhex(scope)) != 16 or scope == "00" * 16:
            raise ValueError("it binds no school to a school's scope")
        if school in state.school_scopes or scope in state.school_scopes.values():
            raise ValueError("the school or its scope is bound already")
        state.school_scopes[school] = scope


def _add(state: Membership, member: Member, seq: int, file_id: bytes) -> None:
    if member.slot_id in state.members or member.slot_id == state.recovery_slot:
        raise ValueError("the slot is granted already")
    if state.by_email(member.email):
        raise ValueError(f"{member.email} holds a slot already")
    if member.tag != person_tag(file_id, member.email) or member.access not in ACCESS.values():
        raise ValueError("its tag or access level is not valid for its person")
    if any(s.key == member.signing_key for s in state.spans):
        raise ValueError("its signing key was granted before")
    if member.access == "vault" and member.schools != ALL_SCHOOLS:
        raise ValueError("vault access reads every school")
    state.members[member.slot_id] = member
    state.spans.append(KeySpan(member.email, member.signing_key, seq))
    state.reach.append(ReachSpan(member.email, member.schools, seq))


def _end_reach(state: Membership, email: str, seq: int) -> None:
    for span in state.reach:
        if span.email == email and span.until is None:
            span.until = seq


def _retire(state: Membership, member: Member, seq: int) -> None:
    _end_reach(state, member.email, seq)
    for span in state.spans:
        if span.email == member.email and span.key == member.signing_key and span.until is None:
            span.until = seq
