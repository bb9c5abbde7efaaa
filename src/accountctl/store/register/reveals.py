"""A reveal recorded without a save (file-format.md F9): a tail record at the end of a format-5 file, or a
row in PostgreSQL. Its skeletons go under the trust's key, its bodies under its school's, signed by
the revealer; the next save folds the record into its school, or carries it forward sealed when its
saver cannot read that school.
"""

from __future__ import annotations

import hashlib

from accountctl import chain, crypto, model
from accountctl.store import fileformat as ff, opening5, segments as sg, split
from accountctl.store.register.tail import MAX_TAIL_RECORDS


def append(reg, rows: list[dict]) -> bool:
    """A reveal (a command that records only events, of one school) appended as a tail record (F9).

    Its skeletons under the trust's key, its bodies under its school's, signed; a file gains a record
    at its end, PostgreSQL a row. The next save folds it in, or carries it forward sealed when it
    cannot read it. False when it cannot be appended (anything else changed): then a whole save.
    """
    from accountctl.store import tail5

    if reg.header_changed or split.dirty(reg.db) or split.dirty_vaults(reg.db):
        return False
    if reg.opened.tail_count >= MAX_TAIL_RECORDS:
        return False
    schools = {school for event in rows for school in split.event_schools(reg.db, event)}
    scope_hex = reg.membership.school_scopes.get(next(iter(schools))) if len(schools) == 1 else None
    ring = reg.opened.ring
    if scope_hex is None or (bytes.fromhex(scope_hex), sg.KEY_K) not in ring:
        return False
    pg = getattr(reg.store, "url", None)
    if not pg and not reg.store.appendable():
        return False
    scope = bytes.fromhex(scope_hex)
    prev, made, bodies = reg.skeletons[-1]["hash"], [], []
    for event in rows:
        skeleton, body = chain.split_event(event, [scope_hex], crypto.random_bytes(16).hex())
        skeleton["prev_hash"] = prev
        skeleton["hash"] = prev = chain.skeleton_hash(skeleton, prev)
        made.append(skeleton)
        bodies.append(body)
    made[-1]["signature"] = crypto.sign(reg.keys.signing_private, chain.skeleton_message(reg.file_id, prev)).hex()
    k = reg.opened.tail_count
    record = tail5.seal(reg.raw, k, ring[(sg.TRUST, sg.KEY_K)][1], scope, ring[(scope, sg.KEY_K)][1], made, bodies)
    if pg:
        from accountctl.store import pgstore5

        pgstore5.reveal(reg.store, reg.header.generation, k, record)
    else:
        reg.opened.tail_end = reg.store.append(reg.opened.tail_end, ff.tail_record(record))
    reg.opened.tail_count = k + 1
    if reg.opened.tail is None:
        reg.opened.tail = opening5.Tail()
    reg.opened.tail.skeletons.extend(made)
    reg.opened.tail.bodies.setdefault(scope, []).extend(bodies)
    digest = hashlib.sha256(reg.raw).digest()
    reg.opened.tail.sealed.append((scope, digest, k, tail5.bodies_part(record), [s["seq"] for s in made]))
    model.set_meta(reg.db, chain.HEAD_KEY, f"{made[-1]['seq']} {prev}")
    reg.db.execute(f"DELETE FROM main.events WHERE seq <= {int(made[-1]['seq'])}")
    reg._seq_at_open = made[-1]["seq"]
    reg._changes_at_open = reg.db.total_changes
    reg._witness_due = True
    reg.commit_local_state()
    return True
