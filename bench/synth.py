"""Deterministic synthetic trusts for benchmarks and the CI smoke run.

    python bench/synth.py --size large --out /tmp/bench-large

Builds, through accountctl's own core functions, a register of SCHOOLS schools, ACCOUNTS accounts
and STAFF staff with a realistic mix of findings (legacy accounts without approval, personal-email
links, leavers still owning accounts, weak and reused passwords, missing 2FA), plus the CSV files the
import benchmarks load into a fresh copy of `base.accountctl` (schools only).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

SIZES = {
    "small": {"schools": 1, "accounts": 20, "staff": 60},
    "medium": {"schools": 10, "accounts": 1000, "staff": 2000},
    "large": {"schools": 100, "accounts": 10000, "staff": 20000},
    # large with nothing approved (and no business case written): every account has four or five
    # findings, ~50,000 in all, so the audit's output costs count too
    "bare": {"schools": 100, "accounts": 10000, "staff": 20000, "approve": False},
}
PASSPHRASE = "bench passphrase 2026"
CUSTODIAN = "it@trust.org.uk"
TODAY = date(2026, 11, 21)
PLATFORMS = (
    ["facebook"] * 5
    + ["instagram"] * 4
    + ["x"] * 3
    + ["youtube"] * 2
    + ["tiktok", "linkedin", "threads", "bluesky", "whatsapp", "flickr"]
)
WEAK = ["Password123!", "Summer2024", "school1234", "letmein2020", "Welcome1!"]
FIRST = [
    "Alex",
    "Sam",
    "Jo",
    "Priya",
    "Tom",
    "Aisha",
    "Ben",
    "Chloe",
    "Dev",
    "Ella",
    "Finn",
    "Grace",
    "Hassan",
    "Isla",
    "Jack",
    "Kemi",
    "Leo",
    "Maya",
    "Noah",
    "Olivia",
    "Raj",
    "Sofia",
    "Theo",
    "Uma",
    "Zara",
]
LAST = [
    "Smith",
    "Jones",
    "Patel",
    "Khan",
    "Brown",
    "Taylor",
    "Wilson",
    "Evans",
    "Thomas",
    "Roberts",
    "Walker",
    "Wright",
    "Hughes",
    "Green",
    "Hall",
    "Clarke",
    "Lewis",
    "Young",
    "King",
    "Ahmed",
]


def plan(size: str, seed: int = 2026) -> dict:
    """The trust as plain data: schools, staff rows, account rows and what to do to each account."""
    spec = SIZES[size]
    rng = random.Random(seed)
    schools = [
        {"id": f"s{i:03d}", "name": f"School {i:03d}", "domain": f"s{i:03d}.sch.uk"}
        for i in range(1, spec["schools"] + 1)
    ]
    staff = [
        {
            "email": CUSTODIAN,
            "name": "Ira Custodian",
            "school": schools[0]["id"],
            "roles": "it",
            "trained_on": "2026-09-01",
            "policy_ack": "2026",
        }
    ]
    by_school: dict[str, list[str]] = {s["id"]: [] for s in schools}
    heads: dict[str, str] = {}
    per_school = max(3, spec["staff"] // len(schools))
    n = 0
    for s in schools:
        for j in range(per_school):
            n += 1
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            email = f"{name.split()[0].lower()}.{name.split()[1].lower()}{n}@{s['domain']}"
            roles = (
                "headteacher;slt" if j == 0 else ("slt" if j < 3 else ("volunteer" if rng.random() < 0.05 else "staff"))
            )
            trained = "" if rng.random() < 0.15 else (TODAY - timedelta(days=rng.randint(10, 700))).isoformat()
            staff.append(
                {
                    "email": email,
                    "name": name,
                    "school": s["id"],
                    "roles": roles,
                    "trained_on": trained,
                    "policy_ack": "2026" if rng.random() < 0.8 else "2024",
                }
            )
            by_school[s["id"]].append(email)
            if j == 0:
                heads[s["id"]] = email
    leavers = {}
    for row in staff[1:]:
        if "headteacher" in row["roles"]:
            continue
        r = rng.random()
        if r < 0.03:
            leavers[row["email"]] = (TODAY - timedelta(days=rng.randint(1, 200))).isoformat()
        elif r < 0.04:
            leavers[row["email"]] = (TODAY + timedelta(days=rng.randint(1, 60))).isoformat()
    accounts = []
    taken = set()
    for i in range(spec["accounts"]):
        s = schools[i % len(schools)]
        people = by_school[s["id"]][3:] or by_school[s["id"]]
        platform = rng.choice(PLATFORMS)
        handle = f"{s['id']}{platform[:2]}{i}"
        owner = rng.choice(people)
        admins = [owner] + rng.sample(people, k=min(len(people), rng.choice([0, 1, 1, 2])))
        admins = list(dict.fromkeys(admins))
        contributors = [c for c in rng.sample(people, k=min(len(people), rng.choice([0, 0, 1, 2]))) if c not in admins]
        status = rng.choices(["active", "requested", "approved", "suspended", "closed"], [80, 5, 5, 5, 5])[0]
        email = f"{handle}@{s['domain']}" if rng.random() > 0.04 else f"{handle}@gmail.com"
        key = (s["id"], platform, handle)
        if key in taken:
            continue
        taken.add(key)
        accounts.append(
            {
                "id": f"{s['id']}-{platform}-{handle}",
                "school": s["id"],
                "platform": platform,
                "handle": handle,
                "url": f"https://{platform}.example/{handle}",
                "category": "faculty" if rng.random() < 0.7 else "staff",
                "email": email,
                "owner": owner,
                "admins": ";".join(admins),
                "contributors": ";".join(contributors),
                "status": status,
                "_approve": status in ("active", "approved", "suspended") and rng.random() < 0.9,
                "_notify": rng.random() < 0.92,
                "_password": rng.choices(["strong", "weak", "reused", "none"], [80, 6, 4, 10])[0],
                "_totp": rng.random() < 0.75,
                "_monitored": (TODAY - timedelta(days=rng.randint(0, 14))).isoformat() if rng.random() < 0.8 else None,
                "_reviewed": (TODAY - timedelta(days=rng.randint(0, 500))).isoformat() if rng.random() < 0.6 else None,
            }
        )
    # Ways in: each school posts through one Hootsuite (a service record whose seats are its admins and
    # contributors) that reaches about a third of its channels, and most linked emails are registered
    # mailboxes read by the owner and one other (a leaver among them now and then).
    for s in schools:
        people = by_school[s["id"]][3:] or by_school[s["id"]]
        seats = rng.sample(people, k=min(len(people), 4))
        accounts.append(
            {
                "id": f"{s['id']}-hootsuite-posts",
                "school": s["id"],
                "platform": "hootsuite",
                "handle": f"{s['id']}posts",
                "url": f"https://hootsuite.example/{s['id']}posts",
                "category": "service",
                "email": f"{s['id']}posts@{s['domain']}",
                "owner": seats[0],
                "admins": ";".join(seats[:2]),
                "contributors": ";".join(seats[2:]),
                "status": "active",
                "_approve": True,
                "_notify": True,
                "_password": "strong",
                "_totp": True,
                "_monitored": TODAY.isoformat(),
                "_reviewed": TODAY.isoformat(),
            }
        )
    via = [
        (a["id"], f"{a['school']}-hootsuite-posts")
        for a in accounts
        if a["category"] != "service" and rng.random() < 0.33
    ]
    mailboxes = []
    for a in accounts:
        if a["email"].endswith("@gmail.com") or rng.random() < 0.1:
            continue
        others = by_school[a["school"]][3:] or by_school[a["school"]]
        mailboxes.append(
            (a["email"], a["school"], list(dict.fromkeys([a["owner"], rng.choice(others)])), rng.random() < 0.9)
        )
    return {
        "schools": schools,
        "staff": staff,
        "heads": heads,
        "leavers": leavers,
        "accounts": accounts,
        "via": via,
        "mailboxes": mailboxes,
    }


def write_csvs(p: dict, out: Path) -> None:
    with open(out / "staff.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, ["email", "name", "school", "roles", "trained_on", "policy_ack"])
        w.writeheader()
        w.writerows(p["staff"])
    from accountctl.core.accounts import IMPORT_COLUMNS

    cols = list(IMPORT_COLUMNS)
    with open(out / "accounts.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(p["accounts"])


def build(size: str, out: Path, seed: int = 2026) -> dict:
    """Write base.accountctl (schools), register.accountctl (everything), staff.csv, accounts.csv."""
    os.environ["ACCOUNTCTL_TODAY"] = TODAY.isoformat()
    os.environ.setdefault("ACCOUNTCTL_KDF", "m=65536,t=3,p=4")
    # A state folder of the build's own: this machine's witness would refuse a rebuilt register at a known path.
    state = tempfile.mkdtemp(prefix="acctl-synth-state-")
    previous_state = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = state
    try:
        return _build(size, out, seed)
    finally:
        shutil.rmtree(state, ignore_errors=True)
        if previous_state is None:
            os.environ.pop("XDG_STATE_HOME", None)
        else:
            os.environ["XDG_STATE_HOME"] = previous_state


def _build(size: str, out: Path, seed: int) -> dict:
    from accountctl.core import access, accounts, approvals, dataprotection, directory, vault
    from accountctl.store.register import create, open_register

    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    for name in ("base.accountctl", "register.accountctl"):
        for suffix in ("", ".bak", ".lock", ".tmp"):
            (out / (name + suffix)).unlink(missing_ok=True)
    p = plan(size, seed)
    write_csvs(p, out)
    base = out / "base.accountctl"
    with create(base, CUSTODIAN, PASSPHRASE) as (reg, _, signing_public):
        access.init(reg, "Bench Trust", CUSTODIAN, "Ira Custodian", signing_public)
    unlock = dict(actor=CUSTODIAN, passphrase_source=lambda: PASSPHRASE, use_keyring=False)
    with open_register(base, write=True, **unlock) as reg:
        for s in p["schools"]:
            directory.add_school(reg.db, CUSTODIAN, s["id"], s["name"], [s["domain"]])
    shutil.copyfile(base, out / "register.accountctl")
    full = out / "register.accountctl"
    rng = random.Random(seed + 1)
    with open_register(full, write=True, **unlock) as reg:
        db = reg.db
        directory.import_staff(db, CUSTODIAN, (out / "staff.csv").read_text(encoding="utf-8"))
        for email, day in p["leavers"].items():
            directory.leave(db, CUSTODIAN, email, day)
        accounts.import_accounts(
            db, CUSTODIAN, accounts.parse_import((out / "accounts.csv").read_text(encoding="utf-8"))
        )
        # Legacy accounts come without a business case; SLT approves only complete ones, so write it first.
        wanted = [a["id"] for a in p["accounts"] if a["_approve"] and SIZES[size].get("approve", True)]
        db.executemany(
            "UPDATE accounts SET aim = 'School news', audience = 'Parents and carers', "
            "promotion = 'Newsletter', visibility = 'open', pupils = 'none' WHERE id = ?",
            [(i,) for i in wanted],
        )
        for account_id in wanted:
            accounts.store_case_hash(db, account_id)
        approvable = {i for i in wanted if not accounts.approval_gaps(db, accounts.get_account(db, i))}
        for head in sorted(set(p["heads"].values())):
            access.grant(reg, head, "register", PASSPHRASE)  # each head signs their own decisions
    by_head: dict[str, list[str]] = {}
    for a in p["accounts"]:
        if a["id"] in approvable:  # two eligible admins: the others stay unapproved, as the audit then shows
            by_head.setdefault(p["heads"][a["school"]], []).append(a["id"])
    for head, account_ids in sorted(by_head.items()):
        with open_register(
            full, write=True, actor=head, passphrase_source=lambda: PASSPHRASE, use_keyring=False
        ) as reg:
            for account_id in account_ids:
                approvals.decide(reg.db, head, reg.keys.signing_private, account_id, "approved", "approved at SLT")
    with open_register(full, write=True, **unlock) as reg:
        db = reg.db
        shared = [vault.generate_password(20) for _ in range(max(1, len(p["accounts"]) // 100))]
        for a in p["accounts"]:
            if a["status"] in ("active", "suspended") and a["_notify"]:
                accounts.notify_head(db, CUSTODIAN, a["id"])
            kind = a["_password"]
            if a["status"] != "closed" and kind != "none":
                password = {"strong": None, "weak": rng.choice(WEAK), "reused": rng.choice(shared)}[
                    kind
                ] or vault.generate_password(20)
                vault.set_password(reg, a["id"], password, username=a["email"])
            if a["status"] in ("active", "suspended") and a["_totp"]:
                secret = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(32))
                vault.set_totp(
                    reg, a["id"], f"otpauth://totp/{a['platform']}:{a['handle']}?secret={secret}&issuer={a['platform']}"
                )
            db.execute(
                "UPDATE accounts SET monitored_on = ?, reviewed_on = ? WHERE id = ?",
                (a["_monitored"], a["_reviewed"], a["id"]),
            )
        now = f"{TODAY.isoformat()}T09:00:00Z"
        db.executemany("INSERT INTO account_via(account, via, added_at) VALUES (?,?,?)", [(*v, now) for v in p["via"]])
        db.executemany(
            "INSERT INTO mailboxes(email, school, kind, sign_in, created_at) VALUES (?,?, 'shared', ?, ?)",
            [(m[0], m[1], "blocked" if m[3] else None, now) for m in p["mailboxes"]],
        )
        db.executemany(
            "INSERT INTO mailbox_members(mailbox, email, added_at) VALUES (?,?,?)",
            [(m[0], who, now) for m in p["mailboxes"] for who in m[2]],
        )
        record_attestations(db, seed)
        # Data protection as a trust that has adopted it: one DPIA per platform for the whole trust (one platform
        # still without, one past its review), and the year's cyber-security training for nine in ten of the
        # people who run an account, each recorded as `staff train --kind cyber` records it.
        used = sorted({a["platform"] for a in p["accounts"]})
        for platform in used:
            if platform == "flickr":
                continue
            approved = TODAY - timedelta(days=400 if platform == "tiktok" else rng.randint(30, 300))
            dataprotection.record_dpia(db, CUSTODIAN, True, platform, f"DPIA-{platform}", approved.isoformat())
        runners = sorted(
            {a["owner"] for a in p["accounts"]}
            | {e for a in p["accounts"] for e in (a["admins"] + ";" + a.get("contributors", "")).split(";") if e}
        )
        for email in runners:
            if email not in p["leavers"] and rng.random() < 0.9:
                day = (TODAY - timedelta(days=rng.randint(1, 330))).isoformat()
                directory.train_staff(db, CUSTODIAN, email, day, kind="cyber")
    facts = {
        "size": size,
        **SIZES[size],
        "accounts_written": len(p["accounts"]),
        "staff_written": len(p["staff"]),
        "leavers": len(p["leavers"]),
        "register_bytes": full.stat().st_size,
        "seconds": round(time.perf_counter() - started, 1),
        "passphrase": PASSPHRASE,
        "custodian": CUSTODIAN,
        "sample_account": next(
            a["id"] for a in p["accounts"] if a["status"] == "active" and a["_totp"] and a["_password"] != "none"
        ),
        "sample_leaver": next(iter(p["leavers"])),
        "sample_staff": p["staff"][-1]["email"],
    }
    (out / "facts.json").write_text(json.dumps(facts, indent=2))
    return facts


def record_attestations(db, seed: int) -> int:
    """Most live channels attested in the last months (what offboarding and the platform rules read).

    The platform shows the owner and admins, now and then someone the register does not know. Read from
    the register alone, so `--attest` gives a trust built by an older accountctl the same (bench/versions.py).
    """
    rng = random.Random(seed + 7)
    admins: dict[str, list[str]] = {}
    for account_id, email in db.execute(
        "SELECT account, email FROM account_people WHERE role = 'admin' AND removed_at IS NULL ORDER BY id"
    ):
        admins.setdefault(account_id, []).append(email)
    attested = []
    for account_id, owner in db.execute(
        "SELECT id, owner FROM accounts WHERE status = 'active' AND category <> 'service' ORDER BY id"
    ).fetchall():
        if rng.random() < 0.7:
            people = list(dict.fromkeys([e for e in [owner, *admins.get(account_id, [])] if e]))
            shown = [{"shown": e, "email": e} for e in people]
            if rng.random() < 0.05:
                shown.append({"shown": "Old Volunteer", "email": None})
            day = (TODAY - timedelta(days=rng.randint(1, 200))).isoformat()
            attested.append((account_id, f"{day}T10:00:00Z", CUSTODIAN, json.dumps(shown), "app"))
    db.executemany(
        "INSERT INTO attestations(campaign, account, at, attested_by, admins, mfa) VALUES ('', ?,?,?,?,?)", attested
    )
    return len(attested)


def attest(register: Path, seed: int) -> int:
    """`record_attestations` on an existing trust's register, with whichever accountctl is installed."""
    os.environ["ACCOUNTCTL_TODAY"] = TODAY.isoformat()
    from accountctl.store.register import open_register

    with open_register(
        register, write=True, actor=CUSTODIAN, passphrase_source=lambda: PASSPHRASE, use_keyring=False
    ) as reg:
        return record_attestations(reg.db, seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--attest", type=Path, metavar="REGISTER", help="only record a built trust's attestations (an older build's)"
    )
    args = parser.parse_args()
    if args.attest:
        print(f"{attest(args.attest, args.seed)} attestations recorded")
        return
    if args.out is None:
        parser.error("--out is required")
    facts = build(args.size, args.out, args.seed)
    json.dump(facts, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
