"""Running the rules: `run` applies them to a snapshot and attaches to each finding its rule id,
severity, the trust's own clause reference and any waiver in force; `summarize` counts the findings
and says whether the audit fails; `rules_table` lists the rules for `accountctl rules` and the report.
"""

from __future__ import annotations

import sqlite3
from datetime import date

from accountctl.core import config
from accountctl.core.audit.registry import ESCALATED, RULES, SEVERITIES, UPCOMING
from accountctl.core.audit.snapshot import Snapshot
from accountctl.errors import DamagedError


def waivers_in_force(conn: sqlite3.Connection, as_of: date) -> dict[tuple[str, str], dict]:
    """Waivers granted by `as_of` whose date has not passed, by (account, rule); the latest wins."""
    out = {}
    day = as_of.isoformat()
    for r in conn.execute("SELECT * FROM waivers WHERE until >= ? AND substr(at, 1, 10) <= ? ORDER BY id", (day, day)):
        out[(r["account"], r["rule"])] = dict(r)
    # A trust-level finding has no account: its waiver is keyed by the empty account (`waive --trust`).
    for r in conn.execute(
        "SELECT * FROM trust_waivers WHERE until >= ? AND substr(at, 1, 10) <= ? ORDER BY id", (day, day)
    ):
        out[("", r["rule"])] = {**dict(r), "account": None}
    return out


def run(
    snap: Snapshot, waivers: dict[tuple[str, str], dict], rules: list[str] | None = None
) -> tuple[list[dict], list[dict]]:
    """Apply the rules; returns (findings, skipped rules with why)."""
    findings, skipped = [], []
    keys = []  # each finding's place: (severity rank, account, rule)
    order = {s: i for i, s in enumerate(SEVERITIES)}
    snap.waivers = waivers or {}
    for rule_id in rules or list(RULES):
        r = RULES[rule_id]
        if r.needs_vault and not snap.vault:
            skipped.append({"rule": r.id, "reason": "needs vault access (an IT custodian's key slot)"})
            continue
        severity = {
            UPCOMING: SEVERITIES[min(order[r.severity] + 1, len(SEVERITIES) - 1)],
            ESCALATED: SEVERITIES[max(order[r.severity] - 1, 0)],
        }
        clause = config.clause(snap.settings, r.id)
        # A value a rule cannot read (a date that is no date, written past the CLI's checks) is a damaged
        # or altered register (exit 4), not an internal error.
        try:
            for item in r.check(snap):
                account_id, school, message, fix = item
                waiver = waivers.get((account_id or "", r.id)) if waivers else None
                level = severity.get(type(item), r.severity)
                findings.append(
                    {
                        "rule": r.id,
                        "severity": level,
                        "account": account_id,
                        "school": school,
                        "message": message,
                        "fix": fix,
                        "waived": waiver is not None,
                        "waived_until": waiver["until"] if waiver else None,
                        "clause": clause,
                    }
                )
                keys.append((order[level], account_id or "", r.id))
        except ValueError as exc:
            raise DamagedError(f"register damaged or altered: {r.id} met a value it cannot read ({exc})") from exc
    # A stable sort of the positions by their keys: equal keys keep the rules' own order.
    findings = [findings[i] for i in sorted(range(len(findings)), key=keys.__getitem__)]
    return findings, skipped


def summarize(findings: list[dict], snap: Snapshot, skipped: list[dict], fail_on: str, rules: list[str]) -> dict:
    """Counts by severity (all and unwaived), what was audited, and whether the run fails."""
    counts = {s: 0 for s in SEVERITIES}
    unwaived = {s: 0 for s in SEVERITIES}
    for f in findings:
        counts[f["severity"]] += 1
        if not f["waived"]:
            unwaived[f["severity"]] += 1
    threshold = SEVERITIES.index(fail_on)
    failed = any(unwaived[s] for s in SEVERITIES[: threshold + 1])
    return {
        "as_of": snap.as_of.isoformat(),
        "school": snap.school_filter,
        "accounts_audited": len(snap.accounts),
        "findings": len(findings),
        "counts": counts,
        "unwaived": unwaived,
        "waived": sum(1 for f in findings if f["waived"]),
        "rules": rules,
        "skipped": skipped,
        "fail_on": fail_on,
        "failed": failed,
    }


def rules_table(settings: dict[str, str] | None = None) -> list[dict]:
    """Every rule: id, plain name, severity, principle, what it checks, the trust's own clause (from `settings`), sources."""
    return [
        {
            "id": r.id,
            "name": r.name,
            "severity": r.severity,
            "principle": r.principle,
            "checks": r.description,
            "clause": config.clause(settings or {}, r.id),
            "sources": r.sources,
            "needs_vault": r.needs_vault,
        }
        for r in RULES.values()
    ]


def as_of_from(text: str | None) -> date:
    from accountctl import clock

    return clock.parse_date(text, "--as-of") if text is not None else clock.today()  # --as-of "" is bad input
