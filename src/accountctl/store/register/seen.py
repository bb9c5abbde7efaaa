"""What this machine remembers of each register, and what it refuses because of it (store/witness.py keeps
the file): an older copy, an older format, another register at a known address; a rollback a
custodian signed for exactly the save this machine saw.
"""

from __future__ import annotations

import hashlib
import os
import sys
from typing import TYPE_CHECKING

from accountctl.errors import DamagedError, InputError
from accountctl.store import db as dbmod, fileformat as ff, stores, witness

if TYPE_CHECKING:
    from accountctl.store.register.state import Register


def _has_event(reg: Register, seq: int, digest: str) -> bool:
    if seq <= 0:
        return True
    if hasattr(reg, "event_hash"):  # format 5: every key holder has every event's skeleton
        return reg.event_hash(seq) == digest
    head_seq, head_hash = dbmod.get_meta(reg.db, "events_head").split(" ", 1)
    if seq > int(head_seq):
        return False
    if seq == int(head_seq):  # the usual case, and the only one right after events were archived
        return head_hash == digest
    row = reg.db.execute("SELECT hash FROM main.events WHERE seq = ?", (seq,)).fetchone()
    if row is None:  # archived since: read the archive (once per batch of archived events on this machine)
        reg.load_history()
        row = reg.db.execute(f"SELECT hash FROM {dbmod.ALL_EVENTS} WHERE seq = ?", (seq,)).fetchone()
    return row is not None and row[0] == digest


def _check_witness(reg: Register, seen: dict | None, accepting: bool) -> None:
    """Refuse a register older than this machine has seen, unless a custodian signed for that very rollback."""
    reg._witness_due = True  # written once the command succeeds (`commit_local_state`)
    if seen is None:
        return
    membership = reg.membership
    if seen.get("root") != membership.root_key.hex():
        raise DamagedError(
            "register altered: it is not the register this machine knows by its id (another root "
            "of trust); nothing was read or written"
        )
    seq, digest = int(seen.get("seq", 0)), str(seen.get("hash", ""))
    generation = reg.header.generation
    older = generation < int(seen.get("generation", 0))
    if older or not _has_event(reg, seq, digest):
        reg.rolled_back = True
        if accepting:
            return  # `vault accept-rollback` records it, and its save updates the witness
        fresh = [
            r
            for r in membership.rollbacks
            if r["digest"] not in seen.get("accepted", [])
            and _abandons(r["abandoned"], seen)
            and r["signer"] not in seen.get("retired", [])
        ]
        if not fresh:
            what = (
                f"this machine has seen generation {seen.get('generation')} but the file is generation {generation}"
                if older
                else f"the file (generation {generation}) does not contain event {seq}, the last one this machine saw "
                f"in generation {seen.get('generation')}"
            )
            raise DamagedError(
                f"register rolled back: {what}. If a custodian restored it on purpose, they run "
                "'accountctl vault accept-rollback --reason TEXT'"
            )
        last = fresh[-1]
        print(
            f"Notice: accepting the restore of an older copy that {last['by']} recorded at {last['at_real']}: "
            f"{last['reason']}",
            file=sys.stderr,
        )


def _abandons(abandoned: dict, seen: dict) -> bool:
    """Whether a rollback record gives up exactly the register this machine saw last: its generation and header.

    A record names the one save it abandons, so it authorises that restore only: one signed ahead of
    time for a generation to come cannot name that save's header (records from before headers were
    named must match the last event instead).
    """
    try:
        if int(abandoned["generation"]) != int(seen.get("generation", -1)):
            return False
        if "header" in abandoned:
            return abandoned["header"] == seen.get("header")
        return int(abandoned["seq"]) == int(seen.get("seq", -1)) and abandoned["hash"] == seen.get("hash")
    except (KeyError, TypeError, ValueError):
        return False


def header_digest(raw: bytes) -> str:
    """What the witness and rollback records call a save: the SHA-256 of its header bytes."""
    return hashlib.sha256(raw).hexdigest()


def _remember(reg: Register) -> None:
    """Record in the witness what this machine now knows of the register.

    Never backwards (another process here may have seen a newer file meanwhile), except after a
    rollback a custodian signed for; the address it was opened at is added either way.
    """
    reg._witness_due = False
    current = witness.load_all().get(reg.file_id.hex())
    current = current if isinstance(current, dict) else {}
    entry = witness_entry(reg, current)
    if entry is None:
        if reg.address is None or reg.address in current.get("at", []):
            return
        entry = dict(current, at=sorted({*current.get("at", []), reg.address}))  # keep the newer file seen meanwhile
    if entry != current:
        witness.remember(reg.file_id, entry, claim=reg.address)


def witness_entry(reg: Register, current: dict) -> dict | None:
    """What this machine's witness should hold for `reg`, given what it holds (`current`); None: leave it be.

    None when it has seen a newer generation than `reg` (not going backwards), unless `reg` is a
    rollback a custodian signed for.
    """
    seq, digest = reg.db.execute("SELECT value FROM meta WHERE key = 'events_head'").fetchone()[0].split(" ", 1)
    membership = reg.membership
    entry = {
        "generation": reg.header.generation,
        "format": max(reg.header.version, _format_seen(current)),
        "header": header_digest(reg.raw),
        "seq": int(seq),
        "hash": digest,
        "root": membership.root_key.hex(),
        "retired": sorted({k.hex() for k in membership.retired_keys()} | set(current.get("retired", []))),
        "accepted": sorted({r["digest"] for r in membership.rollbacks} | set(current.get("accepted", []))),
        "members": membership.head,  # verified: the next open here need not check these signatures again
        "at": sorted(set(current.get("at", [])) | ({reg.address} if reg.address else set())),
    }
    if not reg.rolled_back and int(current.get("generation", -1)) > entry["generation"]:
        return None
    return entry


def witness_agrees(reg: Register, seen: dict | None) -> bool:
    """Whether this machine's witness entry `seen` is what `reg` itself records (None: it has seen no copy yet).

    The agent's cached register stands for the file only while this holds; otherwise (another copy
    seen here since, a rollback accepted) it is opened again, with every check.
    """
    return seen is None or witness_entry(reg, seen) == seen


def _format_seen(seen: dict | None) -> int:
    """The newest format this machine saw a register in; an entry from before formats were noted saw 3 or 4."""
    if not seen:
        return 0
    try:
        return int(seen.get("format", ff.SAME_LAYOUT))
    except (TypeError, ValueError):
        return ff.VERSION


def _address(store: stores.Store) -> str | None:
    """What the witness calls the place a register lives: its absolute path, or its URL (no password)."""
    path = getattr(store, "path", None)
    if path is not None:
        return os.path.abspath(path)
    return store.name if getattr(store, "url", None) else None


def _refuse_before_unlocking(store: stores.Store, header: ff.Header, seen_all: dict) -> str | None:
    """Checks that need no key: another register at a known address, or an older format than seen here.

    Returns the store's address. Raises DamagedError (exit 4), or InputError for a format-2 register
    this machine never saw: only `vault upgrade` reads one, and never without its custodian's say-so.
    """
    fid = header.file_id.hex()
    address = _address(store)
    holder = witness.holder_of(address, seen_all) if address else None
    if holder is not None and holder != fid:
        raise DamagedError(
            f"register replaced: {store.name} held register {holder[:8]} on this machine and now holds another, "
            f"{fid[:8]}; nothing was read or written. If that is deliberate, remove {holder[:8]}'s entry from "
            f"{witness.state_dir() / witness.FILE}"
        )
    seen = seen_all.get(fid)
    newest = _format_seen(seen if isinstance(seen, dict) else None)
    if header.version < newest:
        raise DamagedError(
            f"register altered: it is in format {header.version}, but this machine has seen it in format {newest}; "
            "an older format is never opened in place of a newer one (nothing was read or written)"
        )
    if header.version == ff.UPGRADABLE:
        raise InputError(
            f"this register is in format {ff.UPGRADABLE}: an IT custodian upgrades it once with "
            "'accountctl vault upgrade', which lists every key slot, person and signing key it will sign"
        )
    return address
