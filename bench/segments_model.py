"""A cost MODEL for issue 27 (a key per school, segments): not product code, not used by accountctl.

    python bench/segments_model.py                                   # sizes from the documented figures
    python bench/segments_model.py --body BODY.db --archive HIST.db  # sizes from a real large trust

It times, with the same primitives the register uses (AES-256-GCM from `cryptography`, SHA-256,
Ed25519, SQLite's deserialize), what a command pays for the whole register today (format 4: one
28 MB body, one 26 MB history archive) against what it would pay for one school's segments
(format 5, docs/file-format.md "Format 5"). It models the crypto and loading only: no Argon2id, no
interpreter start, no disk, no PostgreSQL.

Sizes: with no arguments, the figures of bench/README.md (28 MB body, 26 MB archive, 100 schools),
each school getting 1/100 of each, as random bytes. With --body and --archive (plain SQLite files,
the decrypted body and archive of `bench/synth.py --size large`), the body is split as format 5
would split it: every table with a `school` column, or an `account` column naming a school's
account, goes to that school's records segment (credentials and password_history to its
credentials segment); events, from the body and the archive, go to the history of the school of
their account (or of the staff member they name); everything else is trust-level. Each part is a
real SQLite database, serialized, so page overhead is counted. To get the two files, open the
register with accountctl's store (`open_register(..., history=True)`) and write
`reg.db.serialize(name="main")` and `reg.db.serialize(name="history")`.

Only stdlib and cryptography. The figures are medians of --runs runs, wall and CPU time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import time
import zlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MB = 1_000_000
CREDENTIAL_TABLES = ("credentials", "password_history")


# -- sizes ----------------------------------------------------------------------------------------
def columns(conn: sqlite3.Connection, schema: str, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA {schema}.table_info({table})")]


def tables(conn: sqlite3.Connection, schema: str) -> list[str]:
    return [
        row[0]
        for row in conn.execute(
            f"SELECT name FROM {schema}.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]


def where_for(table: str, cols: list[str], school: str | None, src: str = "src") -> str:
    """The rows of `table` (read from schema `src`) that belong to `school`, or to the trust when None."""
    if table == "events":
        mine = (
            f"account IN (SELECT id FROM {src}.accounts WHERE school = :s) OR (account IS NULL AND "
            f"target IN (SELECT email FROM {src}.staff WHERE school = :s))"
        )
        where = (
            mine
            if school
            else (f"account IS NULL AND (target IS NULL OR target NOT IN (SELECT email FROM {src}.staff))")
        )
    elif "school" in cols and table != "campaigns":
        where = "school = :s" if school else "coalesce(school, '') = ''"  # trust-wide rows (DPIAs: '') stay the trust's
    elif "account" in cols:
        where = f"account IN (SELECT id FROM {src}.accounts WHERE school = :s)" if school else "account IS NULL"
    elif table == "incident_steps":
        where = (
            f"incident IN (SELECT i.id FROM {src}.incidents i JOIN {src}.accounts a ON a.id = i.account "
            "WHERE a.school = :s)"
            if school
            else "0"
        )
    else:
        where = "0" if school else "1"
    return where


def part(source: str, archive: str | None, school: str | None, kind: str) -> bytes:
    """One segment as a serialized SQLite database.

    `kind`: records (a school's tables but events and credentials), credentials, history (a school's
    events, body and archive), or trust (everything no school owns, with the events of no school).
    """
    conn = sqlite3.connect(":memory:")
    conn.execute("ATTACH ? AS src", (source,))
    if archive:
        conn.execute("ATTACH ? AS arc", (archive,))
    for table in tables(conn, "src"):
        sql = conn.execute("SELECT sql FROM src.sqlite_master WHERE name = ?", (table,)).fetchone()[0]
        cols = columns(conn, "src", table)
        if kind == "credentials" and table not in CREDENTIAL_TABLES:
            continue
        if kind in ("records", "trust") and table in CREDENTIAL_TABLES:
            continue
        if kind == "history" and table != "events":
            continue
        if kind == "records" and table == "events":
            continue
        where = where_for(table, cols, school)
        conn.execute(sql)
        conn.execute(f"INSERT INTO main.{table} SELECT * FROM src.{table} WHERE {where}", {"s": school})
        if table == "events" and archive:
            conn.execute(f"INSERT INTO main.{table} SELECT * FROM arc.{table} WHERE {where}", {"s": school})
    conn.commit()
    conn.execute("DETACH src")
    if archive:
        conn.execute("DETACH arc")
    conn.execute("VACUUM")
    data = conn.serialize()
    conn.close()
    return data


def real_sizes(body: str, archive: str) -> dict:
    conn = sqlite3.connect(f"file:{body}?mode=ro", uri=True)
    schools = [row[0] for row in conn.execute("SELECT id FROM schools ORDER BY id")]
    whole_body = conn.serialize()
    conn.close()
    with open(archive, "rb") as handle:
        whole_archive = handle.read()
    trust = part(body, archive, None, "trust")
    per_school = []
    for school in schools:
        per_school.append(
            {
                "school": school,
                "records": part(body, None, school, "records"),
                "credentials": part(body, None, school, "credentials"),
                "history": part(body, archive, school, "history"),
            }
        )
    return {"source": "real", "body": whole_body, "archive": whole_archive, "trust": trust, "schools": per_school}


def modelled_sizes(body_bytes: int, archive_bytes: int, schools: int) -> dict:
    """Random bytes of the documented sizes (a school: 1/schools of each; its credentials a tenth
    of its records; the trust segment 1% of the body)."""
    records = body_bytes // schools
    return {
        "source": "documented sizes",
        "body": os.urandom(body_bytes),
        "archive": os.urandom(archive_bytes),
        "trust": os.urandom(body_bytes // 100),
        "schools": [
            {
                "school": f"s{i:03}",
                "records": os.urandom(records),
                "credentials": os.urandom(records // 10),
                "history": os.urandom(archive_bytes // schools),
            }
            for i in range(schools)
        ],
    }


# -- timing ---------------------------------------------------------------------------------------
def timed(fn, runs: int) -> dict:
    fn()  # warm-up
    walls, cpus = [], []
    for _ in range(runs):
        w, c = time.perf_counter(), time.process_time()
        fn()
        cpus.append(time.process_time() - c)
        walls.append(time.perf_counter() - w)
    return {"wall_ms": round(statistics.median(walls) * 1000, 3), "cpu_ms": round(statistics.median(cpus) * 1000, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--body", help="plain SQLite file: a decrypted body")
    parser.add_argument("--archive", help="plain SQLite file: its decrypted history archive")
    parser.add_argument("--body-bytes", type=int, default=28 * MB)
    parser.add_argument("--archive-bytes", type=int, default=26 * MB)
    parser.add_argument("--schools", type=int, default=100)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args()

    sizes = (
        real_sizes(args.body, args.archive)
        if args.body and args.archive
        else modelled_sizes(args.body_bytes, args.archive_bytes, args.schools)
    )
    body, archive, trust = sizes["body"], sizes["archive"], sizes["trust"]
    schools = sizes["schools"]
    rec = sorted(len(s["records"]) for s in schools)
    cred = sorted(len(s["credentials"]) for s in schools)
    hist = sorted(len(s["history"]) for s in schools)
    median_school = sorted(schools, key=lambda s: len(s["records"]))[len(schools) // 2]
    largest_school = max(schools, key=lambda s: len(s["records"]))
    one_records, one_creds, one_hist = median_school["records"], median_school["credentials"], median_school["history"]

    key, nonce = AESGCM.generate_key(256), os.urandom(12)
    aes = AESGCM(key)
    aad = b"accountctl/v5/segment" + os.urandom(16 + 16 + 1 + 16 + 4 + 8)
    enc = {
        name: aes.encrypt(nonce, data, aad)
        for name, data in {
            "body": body,
            "archive": archive,
            "trust": trust,
            "records": one_records,
            "credentials": one_creds,
            "history": one_hist,
            "largest": largest_school["records"],
        }.items()
    }
    signer = Ed25519PrivateKey.generate()
    public = signer.public_key()
    # the index (file-format.md F5): 97 bytes per segment (trust records, journal, lookup; per school
    # records, credentials and one history batch), 84 per scope, and the keyrings of 3 custodians
    # (202 keys each) and of one head per school (2 keys), 53 bytes a key, 60 of sealing, 28 of entry
    n = len(schools)
    keyrings = 3 * (202 * 53 + 60 + 28) + n * (2 * 53 + 60 + 28)
    index = os.urandom(97 * (3 + 3 * n) + 84 * (n + 1) + keyrings)
    signature = signer.sign(index)
    file_bytes = len(body) + len(archive)
    everything = bytes(enc["body"]) + bytes(enc["archive"])
    runs = args.runs

    f: dict[str, dict] = {}
    f["encrypt whole body (format 4 save)"] = timed(lambda: aes.encrypt(nonce, body, aad), runs)
    f["decrypt whole body (format 4 open)"] = timed(lambda: aes.decrypt(nonce, enc["body"], aad), runs)
    f["decrypt whole archive (format 4 log/verify)"] = timed(lambda: aes.decrypt(nonce, enc["archive"], aad), runs)
    f["sha256 of body plaintext (format 4 save signature)"] = timed(lambda: hashlib.sha256(body).digest(), runs)
    f["sha256 of the archive ciphertext (format 4 copy check)"] = timed(
        lambda: hashlib.sha256(enc["archive"]).digest(), runs
    )
    f["deserialize whole body"] = (
        timed(lambda: sqlite3.connect(":memory:").deserialize(body), runs) if sizes["source"] == "real" else None
    )
    f["encrypt one school's records"] = timed(lambda: aes.encrypt(nonce, one_records, aad), runs)
    f["decrypt one school's records"] = timed(lambda: aes.decrypt(nonce, enc["records"], aad), runs)
    f["decrypt the largest school's records"] = timed(lambda: aes.decrypt(nonce, enc["largest"], aad), runs)
    f["encrypt one school's credentials"] = timed(lambda: aes.encrypt(nonce, one_creds, aad), runs)
    f["decrypt one school's credentials"] = timed(lambda: aes.decrypt(nonce, enc["credentials"], aad), runs)
    f["encrypt one school's history"] = timed(lambda: aes.encrypt(nonce, one_hist, aad), runs)
    f["decrypt one school's history"] = timed(lambda: aes.decrypt(nonce, enc["history"], aad), runs)
    f["encrypt the trust segment"] = timed(lambda: aes.encrypt(nonce, trust, aad), runs)
    f["decrypt the trust segment"] = timed(lambda: aes.decrypt(nonce, enc["trust"], aad), runs)
    f["deserialize one school's records"] = (
        timed(lambda: sqlite3.connect(":memory:").deserialize(one_records), runs) if sizes["source"] == "real" else None
    )
    if sizes["source"] == "real":
        whole_db = sqlite3.connect(":memory:")
        whole_db.deserialize(body)
        school_db = sqlite3.connect(":memory:")
        school_db.deserialize(one_records)
        f["deserialize the trust segment"] = timed(lambda: sqlite3.connect(":memory:").deserialize(trust), runs)
        f["serialize whole body"] = timed(lambda: whole_db.serialize(), runs)
        f["serialize one school's records"] = timed(lambda: school_db.serialize(), runs)
        f["quick_check whole body (before every format 4 save)"] = timed(
            lambda: whole_db.execute("PRAGMA quick_check").fetchall(), max(3, runs // 3)
        )
        f["quick_check one school's records"] = timed(lambda: school_db.execute("PRAGMA quick_check").fetchall(), runs)
    f["sha256 one school's records ciphertext"] = timed(lambda: hashlib.sha256(enc["records"]).digest(), runs)
    f["sign the index (Ed25519)"] = timed(lambda: signer.sign(index), runs)
    f["verify the index signature"] = timed(lambda: public.verify(signature, index), runs)
    f["sha256 of every segment's ciphertext (copy check, verify)"] = timed(
        lambda: hashlib.sha256(everything).digest(), runs
    )
    f["crc32 of every segment's ciphertext"] = timed(lambda: zlib.crc32(everything), runs)
    f = {k: v for k, v in f.items() if v is not None}

    def cpu(name: str) -> float:
        return f[name]["cpu_ms"]

    whole_save = (
        cpu("encrypt whole body (format 4 save)")
        + cpu("sha256 of body plaintext (format 4 save signature)")
        + cpu("sha256 of the archive ciphertext (format 4 copy check)")
    )
    seg_save = (
        cpu("encrypt one school's records")
        + cpu("encrypt the trust segment")
        + cpu("sign the index (Ed25519)")
        + cpu("sha256 one school's records ciphertext")
    )
    whole_open = cpu("decrypt whole body (format 4 open)")
    head_open = (
        cpu("decrypt one school's records")
        + cpu("decrypt the trust segment")
        + cpu("verify the index signature")
        + cpu("sha256 one school's records ciphertext")
    )
    if sizes["source"] == "real":
        whole_save_full = (
            cpu("serialize whole body") + cpu("quick_check whole body (before every format 4 save)") + whole_save
        )
        seg_save_full = cpu("serialize one school's records") + cpu("quick_check one school's records") + seg_save
        whole_open_full = whole_open + cpu("deserialize whole body")
        head_open_full = head_open + cpu("deserialize one school's records") + cpu("deserialize the trust segment")
        copy_check = cpu("sha256 of every segment's ciphertext (copy check, verify)")
    derived = {
        "one-account save, CPU: segments (school records + trust + index) / whole (encrypt, sha256 body, archive check)": (
            f"{seg_save:.2f} ms / {whole_save:.2f} ms = {100 * seg_save / whole_save:.2f}%"
        ),
        "one-account save, CPU without the trust segment (if it did not change)": (
            f"{seg_save - cpu('encrypt the trust segment'):.2f} ms = "
            f"{100 * (seg_save - cpu('encrypt the trust segment')) / whole_save:.2f}%"
        ),
        "school-scoped open, CPU: trust + one school + index check / whole body decrypt": (
            f"{head_open:.2f} ms / {whole_open:.2f} ms = {100 * head_open / whole_open:.2f}%"
        ),
        **(
            {
                "one-account save with serialize and quick_check, CPU: segments / whole": (
                    f"{seg_save_full:.2f} ms / {whole_save_full:.2f} ms = {100 * seg_save_full / whole_save_full:.2f}%"
                ),
                "the same in the file store, with the SHA-256 check of every copied segment": (
                    f"{seg_save_full + copy_check:.2f} ms / {whole_save_full:.2f} ms = "
                    f"{100 * (seg_save_full + copy_check) / whole_save_full:.2f}%"
                ),
                "school-scoped open with deserialize, CPU: segments / whole body": (
                    f"{head_open_full:.2f} ms / {whole_open_full:.2f} ms = {100 * head_open_full / whole_open_full:.2f}%"
                ),
            }
            if sizes["source"] == "real"
            else {}
        ),
        "bytes written by a one-account save (PostgreSQL): school records + trust + index / whole register": (
            f"{len(one_records) + len(trust) + len(index):,} / {file_bytes:,} = "
            f"{100 * (len(one_records) + len(trust) + len(index)) / file_bytes:.2f}%"
        ),
    }
    load = os.getloadavg()
    try:
        uptime = subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except OSError:
        uptime = ""
    report = {
        "model": "issue 27 segments cost model (bench/segments_model.py); crypto and loading only",
        "sizes_from": sizes["source"],
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "uptime": uptime,
            "loadavg": [round(x, 2) for x in load],
        },
        "bytes": {
            "body": len(body),
            "archive": len(archive),
            "trust segment": len(trust),
            "index": len(index),
            "school records: min / median / max": [rec[0], rec[len(rec) // 2], rec[-1]],
            "school credentials: min / median / max": [cred[0], cred[len(cred) // 2], cred[-1]],
            "school history: min / median / max": [hist[0], hist[len(hist) // 2], hist[-1]],
            "the median school (records, credentials, history)": [len(one_records), len(one_creds), len(one_hist)],
            "schools": len(schools),
        },
        "runs": runs,
        "timings": f,
        "derived": derived,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")


if __name__ == "__main__":
    main()
