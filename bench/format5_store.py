"""Issue 27: format 5 as the store builds and opens it (store/format5.py), on a synthetic large trust.

    python bench/synth.py --size large --out DIR
    python bench/format5_store.py --trust DIR [--runs 7] [--json F]

Not end to end (bench/run.py and bench/pg_commands.py time the commands): this times the store's
own functions in one process (CPU time, median of --runs), beside what format 4 does for the same work in the same run:
- a one-account save: format 5 re-encrypts the school that changed, the trust's records and
  journal; format 4 serializes, checks, encrypts and hashes the whole body;
- opening: a head's open (their school), a custodian's (every school) against format 4's decrypt
  and load of the whole body;
- bytes: what a one-account save writes that is new, against the whole register.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path


def timed(fn, runs: int) -> dict:
    fn()
    cpus = []
    for _ in range(runs):
        start = time.process_time()
        fn()
        cpus.append(time.process_time() - start)
    return {"cpu_ms": round(statistics.median(cpus) * 1000, 2), "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trust", required=True, help="a folder made by bench/synth.py --size large")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json")
    parser.add_argument("--pg", action="store_true", help="also in PostgreSQL: time and WAL bytes of the saves")
    args = parser.parse_args()
    os.environ.setdefault("XDG_STATE_HOME", str(Path(args.trust) / "state-format5"))

    from accountctl import chain, crypto, membership
    from accountctl.store import db, fileformat5 as ff5, format5, opening5, segments as sg, split
    from accountctl.store.register import keyrings as kr
    from accountctl.store.register import open_register

    facts = json.loads((Path(args.trust) / "facts.json").read_text())
    path = Path(args.trust) / "register.accountctl"
    unlock = dict(passphrase_source=lambda: facts["passphrase"], use_keyring=False)
    with open_register(path, actor=facts["custodian"], **unlock) as reg:
        body = db.deserialize(reg.db.serialize(name="main"))
        file_id = reg.file_id
        slots = [replace(s, sealed_register=b"", sealed_vault=b"") for s in reg.header.slots]
        custodian_slot, signing = reg.slot, reg.keys.signing_private
        register_key, body_nonce = reg.keys.register_key, reg.header.body_nonce
    schools = sorted(r[0] for r in body.execute("SELECT id FROM schools"))
    school = schools[len(schools) // 2]
    heads = {
        r[0]: r[1]
        for r in body.execute(
            "SELECT s.email, s.school FROM people p JOIN staff s ON s.email = p.email WHERE p.access = 'register'"
        )
    }
    head = next(e for e, s in heads.items() if s == school)
    with open_register(path, actor=head, **unlock) as reg:
        head_slot, head_private = reg.slot, reg.keys.x25519_private

    events = []
    for sid in schools:
        event = chain.record(body, facts["custodian"], "school.scope")
        membership.append(
            body,
            file_id,
            "school",
            facts["custodian"],
            signing,
            event["seq"],
            event["at"],
            event["at_real"],
            school=sid,
            scope=os.urandom(16).hex(),
        )
        events.append((event, [sg.TRUST]))
    state = membership.derive(body)
    for member in list(state.members.values()):
        if member.access != "register" or member.email not in heads:
            continue
        event = chain.record(body, facts["custodian"], "person.schools")
        membership.append(
            body,
            file_id,
            "scope",
            facts["custodian"],
            signing,
            event["seq"],
            event["at"],
            event["at_real"],
            slot=member.slot_id.hex(),
            email=member.email,
            schools=[heads[member.email]],
            reason="upgrade",
        )
        events.append((event, [sg.TRUST]))
    built_body = body.serialize()

    def build():
        return format5.save(db.deserialize(built_body), slots, custodian_slot, signing, events, file_id=file_id)

    image = build()
    figures = {"build the whole register (every segment, every keyring)": timed(build, max(3, args.runs // 2))}
    custodian_private = _x25519(custodian_slot, facts, path)

    def custodian_open():
        return opening5.open_image(image.data, custodian_slot.slot_id, custodian_private)

    def head_open():
        return opening5.open_image(image.data, head_slot.slot_id, head_private)

    figures["a head's open (trust + their school)"] = timed(head_open, args.runs)
    seen = head_open().checked
    figures["a head's open again on the same machine (only newer events checked)"] = timed(
        lambda: opening5.open_image(image.data, head_slot.slot_id, head_private, seen), args.runs
    )
    figures["the same, for a command that only reads (no triggers)"] = timed(
        lambda: opening5.open_image(image.data, head_slot.slot_id, head_private, seen, write=False), args.runs
    )
    figures["a custodian's open (every school and its credentials)"] = timed(custodian_open, max(3, args.runs // 2))
    sample = facts["sample_account"]
    figures["a custodian's open for one account, as otp or cred show (the lookup's school only, read-only)"] = timed(
        lambda: opening5.open_image(
            image.data, custodian_slot.slot_id, custodian_private, write=False, find=("account", sample)
        ),
        args.runs,
    )
    known = opening5.open_image(
        image.data, custodian_slot.slot_id, custodian_private, write=False, find=("account", sample)
    )
    figures["the same on a machine that checked the register before"] = timed(
        lambda: opening5.open_image(
            image.data, custodian_slot.slot_id, custodian_private, known.checked, write=False, find=("account", sample)
        ),
        args.runs,
    )

    opened = custodian_open()
    account = opened.conn.execute("SELECT id FROM accounts WHERE school = ? ORDER BY id", (school,)).fetchone()[0]
    scope = bytes.fromhex(opened.membership.school_scopes[school])

    def one_account_save():
        conn = opened.conn
        conn.execute("UPDATE accounts SET reviewed_on = '2026-12-07' WHERE id = ?", (account,))
        event = chain.record(conn, facts["custodian"], "account.review", account=account)
        return format5.save(
            conn,
            slots,
            custodian_slot,
            signing,
            [(event, [scope])],
            previous=image,
            dirty=split.dirty(conn),
            state=opened.membership,
            base=opened.plain,
            dirty_vault=split.dirty_vaults(conn),
        )

    figures["a one-account save (format 5: its school patched, and the journal; not yet written)"] = timed(
        one_account_save, args.runs
    )
    later = one_account_save()
    before = {e.seg_id: e for e in image.index.segments}

    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "register.accountctl"

        def write_pieces():
            with open(target, "wb") as handle:
                handle.writelines(later.pieces)

        figures["the file store writes the new file (format 5 pieces, whole file; no fsync)"] = timed(
            write_pieces, args.runs
        )

    # the agent: a database held from the open before, and another process's save of one school
    held = custodian_open()
    ring = kr.open_keyring(custodian_private, file_id, later.index.keyring(custodian_slot.slot_id))
    blobs = later.blobs()

    def agent_catches_up():
        parts = []
        for kind in (sg.SCHOOL_RECORDS, sg.SCHOOL_CREDENTIALS):
            entry = next(e for e in later.index.segments if e.kind == kind and e.scope == scope)
            key = kr.keys_of(ring, scope, entry.key_kind)
            parts.append(sg.open_segment(key, file_id, entry, blobs[entry.seg_id]))
        split.replace_school(held.conn, school, *parts)

    figures["the agent takes in another process's one-school save (decrypt, swap that school's rows)"] = timed(
        agent_catches_up, args.runs
    )

    # format 4, the same run: what a save and an open do with the whole body
    whole = db.deserialize(built_body)

    def format4_save():
        data = db.serialize(whole)
        db.check(whole)
        ciphertext = crypto.encrypt_with_nonce(register_key, body_nonce, data, b"aad")
        hashlib.sha256(data).digest()
        return ciphertext

    sealed = format4_save()
    figures["a whole save (format 4: serialize, quick_check, encrypt, SHA-256 of the body)"] = timed(
        format4_save, args.runs
    )
    figures["an open (format 4: decrypt and load the whole body)"] = timed(
        lambda: db.deserialize(crypto.decrypt_with_nonce(register_key, body_nonce, sealed, b"aad")), args.runs
    )
    changed = [e for e in later.index.segments if before.get(e.seg_id) != e]
    pg = _postgres(image, later, path, args.runs) if args.pg else None
    report = {
        "bench": "issue 27: format 5 in the store (bench/format5_store.py); CPU time of one process, not commands",
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "loadavg": [round(x, 2) for x in os.getloadavg()],
        },
        "trust": {
            "schools": len(schools),
            "accounts": facts["accounts"],
            "register bytes (format 5)": len(image.data),
            "body bytes (format 4)": len(built_body),
        },
        "timings": figures,
        "one-account save": {
            "segments re-encrypted": [sg.KIND_NAMES[e.kind] for e in changed],
            "new bytes (changed segments, index, header)": sum(e.length for e in changed)
            + later.header.index_len
            + len(ff5.encode_header(later.header)),
            "of the register's bytes": len(later.data),
            "index bytes": later.header.index_len,
        },
    }
    if pg is not None:
        report["postgresql"] = pg
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


def _postgres(image, later, path: Path, runs: int) -> dict:
    """Format 5's one-account save in PostgreSQL against format 4's: wall time and WAL bytes, same server.

    Format 4's save is stood in for by what it sends (store/pgstore.py): one row holding the header
    and the whole body's ciphertext (its archive is stored by digest and not sent again).
    """
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    import pgserver
    import psycopg

    from accountctl.store import fileformat as ff, pg5

    prefix = path.read_bytes()
    header_len, body_len, _ = ff.file_lengths(prefix[: 1 << 20])
    whole_row = prefix[: header_len + body_len]
    cluster = pgserver.Cluster.start(durable=True)
    if cluster is None:
        return {"skipped": pgserver.Cluster.why_not}
    try:
        cluster.admin_sql(f"CREATE SCHEMA f5 AUTHORIZATION {pgserver.APP}")
        with psycopg.connect(f"{cluster.url()}?options=-csearch_path%3Df5", autocommit=True) as conn:
            pg5.create_schema(conn)
            conn.execute("CREATE TABLE whole (one boolean PRIMARY KEY, bytes bytea NOT NULL)")
            conn.execute("ALTER TABLE whole ALTER COLUMN bytes SET STORAGE EXTERNAL")
            conn.execute("INSERT INTO whole VALUES (true, %s)", (whole_row,))

            def lsn():
                return conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]

            def wal_since(start):
                return conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", (start,)).fetchone()[0]

            out = {"format 4 row (header and body)": len(whole_row)}
            f4, f4_wal, f5, f5_wal, sent = [], [], [], [], 0
            for n in range(runs):
                start, t = lsn(), time.perf_counter()
                conn.execute("UPDATE whole SET bytes = %s WHERE one", (whole_row[:-1] + bytes([n % 256]),))
                f4.append(time.perf_counter() - t)
                f4_wal.append(int(wal_since(start)))
                conn.execute("TRUNCATE accountctl5_register, accountctl5_segment, accountctl5_tail")
                pg5.save(conn, image.pieces, image.index, None)
                start, t = lsn(), time.perf_counter()
                sent = pg5.save(conn, later.pieces, later.index, image.header.generation)
                f5.append(time.perf_counter() - t)
                f5_wal.append(int(wal_since(start)))
            out["a whole save, format 4 (one row): wall ms, WAL bytes"] = [
                round(statistics.median(f4) * 1000, 1),
                int(statistics.median(f4_wal)),
            ]
            out["a one-account save, format 5 (changed segments): wall ms, WAL bytes"] = [
                round(statistics.median(f5) * 1000, 1),
                int(statistics.median(f5_wal)),
            ]
            out["segment bytes sent by the format 5 save"] = sent
            out["WAL of format 5 against format 4"] = (
                f"{100 * statistics.median(f5_wal) / statistics.median(f4_wal):.2f}%"
            )
            out["runs"] = runs
            return out
    finally:
        cluster.stop()


def _x25519(slot, facts, path) -> bytes:
    from accountctl.store.register import open_register

    cached = getattr(_x25519, "cache", None)
    if cached is None:
        with open_register(
            path, actor=facts["custodian"], passphrase_source=lambda: facts["passphrase"], use_keyring=False
        ) as reg:
            cached = _x25519.cache = reg.keys.x25519_private
    return cached


if __name__ == "__main__":
    sys.exit(main())
