"""What a machine keeps of a format-5 register it checked, per key slot, and the decisions checked at an open."""

from __future__ import annotations

import json

from accountctl import chain
from accountctl.store import checking, fileformat5 as ff5, opening5, segments as sg


def dump_checked(checked: opening5.Checked, decisions: dict[int, str]) -> dict:
    """What this machine keeps of a format-5 register's history (witness.save_checked)."""
    return {
        "format": ff5.VERSION,
        "seq": checked.seq,
        "hash": checked.hash,
        "decisions": ";".join(f"{k}={v}" for k, v in sorted(decisions.items())),
        "members_head": checked.members_head,
        "known": [[w.part_id.hex(), w.kind, w.scope.hex(), w.version, w.digest.hex()] for w in checked.known.values()],
        "sound": sorted(d.hex() for d in checked.sound),
    }


def parse_checked(data: dict | None) -> opening5.Checked | None:
    """The kept state, or None (never checked here, a format-4 one, or unreadable: check from the start)."""
    if not data or data.get("format") != ff5.VERSION:
        return None
    try:
        known = {}
        for p, k, s, v, d in data["known"]:
            wrote = sg.Wrote(bytes.fromhex(p), int(k), bytes.fromhex(s), int(v), bytes.fromhex(d))
            known[wrote.part_id] = wrote
        sound = frozenset(bytes.fromhex(d) for d in data.get("sound", []))
        return opening5.Checked(int(data["seq"]), str(data["hash"]), known, str(data["members_head"]), sound)
    except (KeyError, TypeError, ValueError):
        return None


def decisions(reg, cached: dict[int, str]) -> checking.Checked:
    """Each decision this person can read, checked against the signed event that recorded it (section 8c).

    `cached`: what this machine found of decisions before (ids are unique across schools, and a digest
    vouches for a decision's row as it was checked, whoever reads it later); only the others are checked.
    """
    result = checking.Checked(reg.opened.checked.seq if reg.opened.checked else 0, "", dict(cached))
    wanted = {n for (n,) in reg.db.execute("SELECT id FROM approvals")} - set(cached)
    if not wanted:
        return result
    result.changed = True
    membership = reg.membership
    owners = membership.key_owners()
    texts = [(s, t) for s, t in reg.opened.texts().items() if '"account.approve"' in t or '"account.reject"' in t]
    extra = [(b["seq"], b) for found in (reg.opened.tail.bodies if reg.opened.tail else {}).values() for b in found]
    found = []
    for seq, body in [(s, json.loads(t)) for s, t in texts] + extra:
        details = body.get("details")
        if body.get("action") in chain.DECISION_ACTIONS and isinstance(details, dict):
            if details.get("decision") in wanted:
                found.append((seq, body))
    recent = reg.skeletons
    skeletons = {
        s["seq"]: s for s in (recent if all(seq >= recent[0]["seq"] for seq, _ in found) else reg.all_skeletons())
    }
    for seq, body in found:
        skeleton = skeletons.get(seq)
        if skeleton is None:
            continue
        event = {**body, "actor": skeleton["actor"], "seq": seq, "hash": skeleton.get("hash")}
        number = body["details"]["decision"]
        result.decisions[number] = checking._decision(reg.db, number, event, None, membership, owners)
    if membership.upgraded_at:
        checking._decisions_before_upgrade(reg.db, membership, owners, result)
    return result
