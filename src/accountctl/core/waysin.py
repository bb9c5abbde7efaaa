"""Ways in: how people get into an account besides a password IT holds (SPEC "Ways in").

- the access model: `login` (its own sign-in, IT holds the password), `roles` (people act through
  their own profiles with roles on a page or channel: no password), `group` (a group run by member
  admins; its name may have spaces);
- the records an account is reached through (`--via`): a Meta business portfolio that owns a page, a
  management tool connected to it; they are accounts of category `service`;
- temporary access (`--until`): an admin or contributor meant to go after a date.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta

from accountctl import clock, model
from accountctl.core import config, events
from accountctl.core.lookup import get_account
from accountctl.errors import InputError, shown

# How recent an attestation must be for a `roles` or `group` account to go live without a password.
ATTESTED_WITHIN_DAYS = 30
LIVE = ("requested", "approved", "active", "suspended")


def access_model(value: str) -> str:
    return model.choice(value, model.ACCESS_MODELS, "access model")


def access_of(conn: sqlite3.Connection, account: dict) -> str:
    """The account's access model: its own, or its platform's default (accounts recorded before access models)."""
    return config.access(config.load(conn), account)


def pupils_join(account: dict, access: str) -> bool:
    """Whether pupils are expected to join with accounts of their own: as recorded, else yes for a group (SPEC)."""
    said = account.get("pupils_join")
    return said == "yes" if said else access == "group"


def group_name(value: str | None) -> str:
    """A group's handle: its name as the platform shows it ("Y6 Parents"), words separated by single spaces."""
    text = " ".join((value or "").split())
    if not text:
        raise InputError("handle must not be empty")
    model.plain_text(value or "", "handle")
    if len(text) > 200:
        raise InputError(f"handle must be at most 200 characters, not {shown(text[:40])}...")
    return text


def check_category(platform: str, category: str, access: str | None = None) -> None:
    """A business portfolio or management tool is a `service` record (never a group), and only those are."""
    if category == model.SERVICE and access == "group":
        raise InputError("a business portfolio or management tool is a login or roles record, not a group")
    if platform in model.SERVICE_PLATFORMS and category != model.SERVICE:
        raise InputError(f"a {platform} record is of category service (it is a way into channels, not a channel)")
    if category == model.SERVICE and platform not in model.SERVICE_PLATFORMS:
        raise InputError(
            f"category service is for the records channels are reached through ({', '.join(model.SERVICE_PLATFORMS)}),"
            f" not {platform}"
        )


def resolve_vias(conn: sqlite3.Connection, school: str, ids, account_id: str | None = None) -> list[str]:
    """The service records named by `--via`: registered, of category service, of the school or the central team."""
    out = []
    central = {r[0] for r in conn.execute("SELECT id FROM schools WHERE central = 1")}
    for given in ids:
        record = get_account(conn, given)
        if record["category"] != model.SERVICE:
            raise InputError(
                f"--via {record['id']} is a {record['platform']} channel; --via names a business portfolio or "
                f"management tool (category service: {', '.join(model.SERVICE_PLATFORMS)})"
            )
        if record["id"] == account_id:
            raise InputError(f"{record['id']} cannot be reached through itself")
        if record["school"] != school and record["school"] not in central:
            raise InputError(f"--via {record['id']} belongs to {record['school']}, not {school} or the central team")
        if record["status"] not in LIVE:
            raise InputError(f"--via {record['id']} is {record['status']}")
        out.append(record["id"])
    return list(dict.fromkeys(out))


def vias_of(conn: sqlite3.Connection, account_id: str) -> list[str]:
    """The records an account is reached through now."""
    return [
        r[0]
        for r in conn.execute(
            "SELECT via FROM account_via WHERE account = ? AND removed_at IS NULL ORDER BY via", (account_id,)
        )
    ]


def add_vias(conn: sqlite3.Connection, account_id: str, vias: list[str]) -> list[str]:
    """Record that `account_id` is reached through each of `vias`; returns those that are new."""
    have = set(vias_of(conn, account_id))
    new = [v for v in vias if v not in have]
    now = clock.now_iso()
    ids, school = model.RowIds(conn, "account_via"), model.school_of_account(conn, account_id)
    conn.executemany(
        "INSERT INTO account_via(id, account, via, added_at) VALUES (?,?,?,?)",
        [(ids.next(school), account_id, v, now) for v in new],
    )
    return new


def update(
    conn: sqlite3.Connection,
    actor: str,
    account_id: str,
    access: str | None = None,
    via: tuple[str, ...] = (),
    no_via: tuple[str, ...] = (),
    house_rules_url: str | None = None,
) -> dict:
    """Change how an account is reached: its access model, the records it is reached through, its house rules."""
    from accountctl.core.accounts import url

    account = get_account(conn, account_id)
    if account["status"] not in LIVE:
        raise InputError(f"cannot update {account['id']}: it is {account['status']}")
    details: dict = {}
    if access is not None:
        chosen = access_model(access)
        if account["category"] == model.SERVICE and chosen == "group":
            raise InputError("a business portfolio or management tool is a login or roles record, not a group")
        if chosen != "group" and any(ch.isspace() for ch in account["handle"]):
            raise InputError(
                f"handle must be one word for a {chosen} account, not {shown(account['handle'])} (only a group's "
                "name may have spaces)"
            )
        if chosen != access_of(conn, account) or account["access"] is None:
            details["access"] = {"from": access_of(conn, account), "to": chosen}
    added = resolve_vias(conn, account["school"], via, account["id"]) if via else []
    removed = []
    for given in no_via:
        wanted = model.slug(given.strip().lower(), "--no-via")
        if wanted not in vias_of(conn, account["id"]):
            raise InputError(f"{account['id']} is not reached through {wanted}")
        removed.append(wanted)
    rules_url = url(house_rules_url, "--house-rules-url") if house_rules_url is not None else None
    if rules_url is not None and rules_url != account["house_rules_url"]:
        details["house_rules_url"] = {"from": account["house_rules_url"], "to": rules_url}
    if "access" in details:
        conn.execute("UPDATE accounts SET access = ? WHERE id = ?", (details["access"]["to"], account["id"]))
    if "house_rules_url" in details:
        conn.execute("UPDATE accounts SET house_rules_url = ? WHERE id = ?", (rules_url, account["id"]))
    new = add_vias(conn, account["id"], added)
    if new:
        details["via_added"] = new
    if removed:
        conn.executemany(
            "UPDATE account_via SET removed_at = ? WHERE account = ? AND via = ? AND removed_at IS NULL",
            [(clock.now_iso(), account["id"], r) for r in removed],
        )
        details["via_removed"] = removed
    if not details:
        raise InputError(f"{account['id']} already has those values")
    events.record(conn, actor, "account.ways", account["id"], account=account["id"], details=details)
    return get_account(conn, account["id"])


def set_until(conn: sqlite3.Connection, actor: str, account_id: str, email: str, role: str, until: str) -> str:
    """Mark a current admin or contributor's access as temporary, ending after `until` (ACCESS_EXPIRED then)."""
    day = clock.parse_date(until, "--until")
    if day < clock.today():
        raise InputError(f"--until {day.isoformat()} is in the past")
    account_id = get_account(conn, account_id)["id"]
    address = model.email(email)
    cursor = conn.execute(
        "UPDATE account_people SET until = ? WHERE account = ? AND email = ? AND role = ? AND removed_at IS NULL",
        (day.isoformat(), account_id, address, role),
    )
    if cursor.rowcount != 1:
        raise InputError(f"{address} is not {role} of {account_id}")
    events.record(
        conn, actor, f"account.{role}.until", address, account=account_id, details={"email": address, "until": str(day)}
    )
    return day.isoformat()


def check_until(until: str | None) -> None:
    """Refuse a bad `--until` before anything is written."""
    if until is not None and clock.parse_date(until, "--until") < clock.today():
        raise InputError(f"--until {until} is in the past")


def attestation_gap(conn: sqlite3.Connection, account: dict, eligible: list[str]) -> str | None:
    """Why a `roles` or `group` account may not go live yet without a password, or None when it may.

    It needs an attestation (`attest record`) no older than ATTESTED_WITHIN_DAYS showing at least two of
    its eligible admins with full control there, and nobody else with admin rights.
    """
    since = (clock.today() - timedelta(days=ATTESTED_WITHIN_DAYS)).isoformat()
    row = conn.execute(
        "SELECT at, admins FROM attestations WHERE account = ? ORDER BY id DESC LIMIT 1", (account["id"],)
    ).fetchone()
    fix = f"accountctl attest record {account['id']} --admins LIST --mfa METHOD"
    if row is None or row["at"][:10] < since:
        when = "none recorded" if row is None else f"the last was on {row['at'][:10]}"
        return f"no attestation within {ATTESTED_WITHIN_DAYS} days shows its admins in control on the platform ({when}: {fix})"
    seen = json.loads(row["admins"])
    runners = set(eligible) | ({account["owner"]} if account["owner"] else set())
    runners |= {
        r[0]
        for r in conn.execute(
            "SELECT email FROM account_people WHERE account = ? AND role = 'admin' AND removed_at IS NULL",
            (account["id"],),
        )
    }
    unknown = [p["shown"] for p in seen if p["email"] not in runners]
    if unknown:
        return f"the attestation of {row['at'][:10]} shows admins who are not registered: {', '.join(unknown)}"
    there = [e for e in eligible if e in {p["email"] for p in seen}]
    if len(there) < 2:
        return (
            f"the attestation of {row['at'][:10]} shows {len(there)} of its eligible admins with full control "
            f"there; two needed ({fix})"
        )
    return None


def ways_in(conn: sqlite3.Connection, account: dict, credentials_held: bool) -> list[str]:
    """Every way into a channel, one line each: its own credentials, its role holders, and the people of each
    record it is reached through, and who reads its linked mailbox."""
    access = access_of(conn, account)
    if access == "login":
        lines = ["password: held by IT" if credentials_held else "password: IT holds none"]
    else:
        lines = [f"no password ({access}): people act through their own profiles"]
    for p in conn.execute(
        "SELECT email, role, until FROM account_people WHERE account = ? AND removed_at IS NULL ORDER BY role, email",
        (account["id"],),
    ):
        lines.append(f"{p['role']}: {p['email']}" + (f" (until {p['until']})" if p["until"] else ""))
    for via in vias_of(conn, account["id"]):
        record = conn.execute("SELECT platform FROM accounts WHERE id = ?", (via,)).fetchone()
        if record is None:  # a key per school: the central team's portfolio, to a head who reads one school
            lines.append(f"via {via}: a record of a school your key does not open (its people are not shown)")
            continue
        seats = [
            f"{s['email']} ({s['role']})"
            for s in conn.execute(
                "SELECT email, role FROM account_people WHERE account = ? AND removed_at IS NULL ORDER BY role, email",
                (via,),
            )
        ]
        lines.append(f"via {via} ({record['platform']}): {', '.join(seats) or 'nobody recorded'}")
    mailbox = conn.execute("SELECT kind, sign_in FROM mailboxes WHERE email = ?", (account["email"] or "",)).fetchone()
    if mailbox is not None:
        readers = [
            r[0]
            for r in conn.execute(
                "SELECT email FROM mailbox_members WHERE mailbox = ? AND removed_at IS NULL ORDER BY email",
                (account["email"],),
            )
        ]
        lines.append(
            f"mailbox {account['email']} ({mailbox['kind']}, sign-in {mailbox['sign_in'] or 'not recorded'}): "
            + (", ".join(readers) or "no members recorded")
        )
    return lines
