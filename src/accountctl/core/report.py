"""The governors' report: the register's state as plain data (`build`) and one self-contained,
printable HTML page (`render_html`): accounts by school and platform, compliance by audit rule with
the accounts that fail each, leavers and transfers in the period, waivers about to expire, and what
each rule means, in plain words and the trust's own clause references (never another organisation's
policy: the published policies the rules are drawn from are for `rules --sources`, not governors).

`build` reads with a fixed number of set-based queries (and the audit's own `load`/`run`); it never
reads a credential's value, only whether one is held, so nothing secret can reach the page.
`render_html` escapes every value from the register with `safetext.html_text` (HTML-escaped, and
control, bidi and zero-width characters shown as visible escapes); it makes no link from register
data; the page loads nothing (no fonts, scripts, images or style sheets from anywhere): inline CSS
and inline SVG only.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date, timedelta

from accountctl import __version__, clock
from accountctl.core import audit
from accountctl.core.directory import get_school
from accountctl.safetext import html_text
from accountctl.model import ALL_EVENTS, get_meta

REPORT_FORMAT = "accountctl-governors-report"
REPORT_VERSION = 1
PERIOD_DAYS = 365  # leavers and transfers: the 365 days up to and including the as-of date
WAIVER_HORIZON_DAYS = 60  # waivers expiring within this many days of the as-of date
STATUSES = ("requested", "approved", "active", "suspended", "closed", "rejected", "gone", "found", "reported")
LIVE = audit.LIVE
CHUNK = 30  # bars per SVG, so a long chart breaks between pages instead of being cut
FAILING_SHOWN = 25  # accounts named per rule and school; the rest are counted (`audit` lists every one)
SEVERITY_MEANING = {
    "error": "a breach of the policy: fix it now, or have SLT accept it with a dated waiver",
    "warning": "a risk or a guideline not met: fix it or accept it with a waiver",
    "info": "a reminder of routine work (such as monitoring checks)",
}


# -- data -----------------------------------------------------------------------------------------
def build(
    conn: sqlite3.Connection, as_of: date, vault: bool, *, school: str | None = None, since: date | None = None
) -> dict:
    """Everything the report shows, as plain data (no secrets).

    `vault`: whether the reader may run the rules that need vault access (password quality);
    `school`: one school's id, or the whole register; `since`: first day of the period for leavers
    and transfers (default: the 365 days ending on `as_of`).
    """
    school_row = get_school(conn, school) if school else None
    school_id = school_row["id"] if school_row else None
    start = since or (as_of - timedelta(days=PERIOD_DAYS - 1))
    horizon = as_of + timedelta(days=WAIVER_HORIZON_DAYS)
    one_school, one_args = (" AND a.school = ?", [school_id]) if school_id else ("", [])
    live_marks = ",".join("?" * len(LIVE))

    # Schools and accounts by school, platform and status: one grouped query.
    schools = {
        r["id"]: {
            "id": r["id"],
            "name": r["name"],
            "central": bool(r["central"]),
            **{s: 0 for s in STATUSES},
            "live": 0,
            "total": 0,
            "unwaived_errors": 0,
            "unwaived_warnings": 0,
            "accounts_with_errors": 0,
        }
        for r in conn.execute(
            "SELECT id, name, central FROM schools" + (" WHERE id = ?" if school_id else "") + " ORDER BY id",
            [school_id] if school_id else [],
        )
    }
    platforms: dict[str, dict] = {}
    statuses = {s: 0 for s in STATUSES}
    for r in conn.execute(
        "SELECT a.school, a.platform, a.status, count(*) FROM accounts a WHERE 1 = 1"
        + one_school
        + " GROUP BY a.school, a.platform, a.status",
        one_args,
    ):
        sch, platform, status, n = r[0], r[1], r[2], r[3]
        plat = platforms.setdefault(platform, {"platform": platform, **{s: 0 for s in STATUSES}, "live": 0, "total": 0})
        for row in (schools.get(sch), plat):
            if row is None:
                continue
            row[status] = row.get(status, 0) + n
            row["total"] += n
            if status in LIVE:
                row["live"] += n
        statuses[status] = statuses.get(status, 0) + n

    # The audit, exactly as `accountctl audit --as-of` runs it.
    snap = audit.load(conn, as_of, school=school_id, vault=vault)
    findings, skipped = audit.run(snap, audit.waivers_in_force(conn, as_of))
    summary = audit.summarize(findings, snap, skipped, "error", list(audit.RULES))
    skipped_ids = {s["rule"] for s in skipped}
    per_rule = {
        r["id"]: {
            **{k: r[k] for k in ("id", "name", "severity", "principle", "clause", "needs_vault")},
            "description": r["checks"],
            "skipped": r["id"] in skipped_ids,
            "findings": 0,
            "unwaived": 0,
            "waived": 0,
            "accounts": 0,
            "unwaived_by_severity": {s: 0 for s in audit.SEVERITIES},
            "failing": [],
        }
        for r in audit.rules_table(snap.settings)
    }
    names = {r[0]: r[1] for r in conn.execute("SELECT id, name FROM schools")}
    rule_accounts: dict[str, set] = {rid: set() for rid in audit.RULES}
    error_accounts: set[str] = set()
    warning_accounts: set[str] = set()
    finding_keys: set[tuple] = set()
    failing: dict[tuple[str, str | None], list[dict]] = {}  # (rule, school) -> findings: the first few kept
    failing_count: dict[tuple[str, str | None], int] = {}
    for f in findings:
        item = per_rule[f["rule"]]
        item["findings"] += 1
        where = (f["rule"], f["school"])
        n = failing_count[where] = failing_count.get(where, 0) + 1
        if n <= FAILING_SHOWN:  # in the audit's order: severity, then account id
            failing.setdefault(where, []).append(
                {
                    "account": f["account"],
                    "severity": f["severity"],
                    "message": f["message"],
                    "waived": f["waived"],
                    "waived_until": f["waived_until"],
                }
            )
        rule_accounts[f["rule"]].add(f["account"] or ("person", f["message"]))
        finding_keys.add((f["account"], f["rule"]))
        if f["waived"]:
            item["waived"] += 1
            continue
        item["unwaived"] += 1
        item["unwaived_by_severity"][f["severity"]] += 1
        row = schools.get(f["school"])
        if f["severity"] == "error":
            if row is not None:
                row["unwaived_errors"] += 1
            if f["account"]:
                error_accounts.add(f["account"])
        elif f["severity"] == "warning":
            if row is not None:
                row["unwaived_warnings"] += 1
            if f["account"]:
                warning_accounts.add(f["account"])
    for rid, seen in rule_accounts.items():
        per_rule[rid]["accounts"] = len(seen)
    # Each rule's findings by school name (the register as a whole, for findings about no school, last).
    for (rid, sid), count in sorted(failing_count.items(), key=lambda kv: (kv[0][1] is None, names.get(kv[0][1], ""))):
        per_rule[rid]["failing"].append(
            {
                "school": sid,
                "school_name": names.get(sid) if sid else None,
                "findings": count,
                "shown": failing[(rid, sid)],
            }
        )
    school_of = {a["id"]: a["school"] for a in snap.accounts}
    for account_id in error_accounts:
        row = schools.get(school_of.get(account_id))
        if row is not None:
            row["accounts_with_errors"] += 1
    live_total = len(snap.accounts)
    compliance = {
        "live_accounts": live_total,
        "accounts_with_errors": len(error_accounts),
        "accounts_with_warnings_only": len(warning_accounts - error_accounts),
        "accounts_without_errors": live_total - len(error_accounts),
        "accounts_clean": live_total - len(error_accounts | warning_accounts),
    }

    # Leavers in the period (and those due to leave soon), with what they are still named on.
    leaver_sql = (
        "SELECT s.email, s.name, s.school, s.left_on, "
        f"(SELECT count(*) FROM accounts a WHERE a.owner = s.email AND a.status IN ({live_marks})) AS owns, "
        "(SELECT count(DISTINCT p.account) FROM account_people p JOIN accounts a ON a.id = p.account "
        f" WHERE p.email = s.email AND p.removed_at IS NULL AND a.status IN ({live_marks})) AS listed "
        "FROM staff s WHERE s.left_on BETWEEN ? AND ?"
        + (" AND s.school = ?" if school_id else "")
        + " ORDER BY s.left_on, s.email"
    )
    leavers, upcoming = [], []
    for r in conn.execute(
        leaver_sql, [*LIVE, *LIVE, start.isoformat(), horizon.isoformat(), *([school_id] if school_id else [])]
    ):
        item = {"email": r[0], "name": r[1], "school": r[2], "left_on": r[3], "owns": r[4], "listed_on": r[5]}
        (leavers if r[3] <= as_of.isoformat() else upcoming).append(item)

    # Ownership transfers in the period, from the history.
    transfers = []
    for r in conn.execute(
        f"SELECT e.at, e.actor, e.account, e.details, a.school FROM {ALL_EVENTS} e LEFT JOIN accounts a ON a.id = e.account "
        "WHERE e.action = 'account.transfer' AND substr(e.at, 1, 10) BETWEEN ? AND ?" + one_school + " ORDER BY e.seq",
        [start.isoformat(), as_of.isoformat(), *one_args],
    ):
        details = json.loads(r[3] or "{}")
        transfers.append(
            {
                "at": r[0],
                "on": r[0][:10],
                "by": r[1],
                "account": r[2],
                "school": r[4],
                "from": details.get("from"),
                "to": details.get("to"),
                "reason": details.get("reason"),
            }
        )

    # Waivers in force on the as-of date that expire within the horizon (the latest per account and rule).
    latest: dict[tuple[str, str], dict] = {}
    for r in conn.execute(
        "SELECT w.account, w.rule, w.reason, w.until, w.waived_by, w.at, a.school FROM waivers w "
        f"JOIN accounts a ON a.id = w.account WHERE w.until >= ? AND a.status IN ({live_marks})"
        + one_school
        + " ORDER BY w.id",
        [as_of.isoformat(), *LIVE, *one_args],
    ):
        latest[(r[0], r[1])] = {
            "account": r[0],
            "rule": r[1],
            "reason": r[2],
            "until": r[3],
            "waived_by": r[4],
            "waived_at": r[5],
            "school": r[6],
        }
    expiring = sorted(
        (w for w in latest.values() if w["until"] <= horizon.isoformat()),
        key=lambda w: (w["until"], w["account"], w["rule"]),
    )
    for w in expiring:
        w["days_left"] = (date.fromisoformat(w["until"]) - as_of).days
        w["covers_finding"] = (w["account"], w["rule"]) in finding_keys

    campaigns = _attestation_progress(conn, as_of, start, school_id)
    incidents = _incidents_in_period(conn, as_of, start, school_id)

    return {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "generator": f"accountctl {__version__}",
        "trust": get_meta(conn, "trust"),
        "generated_at": clock.now_iso(),
        "as_of": as_of.isoformat(),
        "period": {"from": start.isoformat(), "to": as_of.isoformat()},
        "waiver_horizon": {"days": WAIVER_HORIZON_DAYS, "until": horizon.isoformat()},
        "school": {"id": school_row["id"], "name": school_row["name"]} if school_row else None,
        "vault": bool(vault),
        "accounts": {
            "total": sum(statuses.values()),
            "live": sum(statuses[s] for s in LIVE if s in statuses),
            "by_status": statuses,
        },
        "schools": list(schools.values()),
        "platforms": sorted(platforms.values(), key=lambda p: (-p["live"], -p["total"], p["platform"])),
        "compliance": compliance,
        "summary": {k: summary[k] for k in ("counts", "unwaived", "waived", "findings", "accounts_audited", "skipped")},
        "rules": list(per_rule.values()),
        "leavers": leavers,
        "upcoming_leavers": upcoming,
        "transfers": transfers,
        "waivers_expiring": expiring,
        "attestation": campaigns,
        "incidents": incidents,
    }


def _incidents_in_period(conn: sqlite3.Connection, as_of: date, start: date, school_id: str | None) -> list[dict]:
    """Incidents open at some time in the period: kind, account, when opened and closed, steps still to do.

    The summary stays out: governors see what happened and whether it was handled, not a safeguarding
    or breach narrative in a document that gets printed and shared.
    """
    from accountctl.core.incidents import show

    day, first = as_of.isoformat(), start.isoformat()
    rows = conn.execute(
        "SELECT i.id FROM incidents i JOIN accounts a ON a.id = i.account "
        "WHERE substr(i.opened_at, 1, 10) <= ? AND (i.closed_at IS NULL OR substr(i.closed_at, 1, 10) >= ?) "
        "AND (? IS NULL OR a.school = ?) ORDER BY i.opened_at, i.id",
        (day, first, school_id, school_id),
    ).fetchall()
    out = []
    for (incident_id,) in rows:
        item = show(conn, incident_id)
        closed = item["closed_at"] if item["closed_at"] and item["closed_at"][:10] <= day else None
        out.append(
            {
                "id": item["id"],
                "account": item["account"],
                "school": item["school"],
                "kind": item["kind"],
                "opened_at": item["opened_at"],
                "closed_at": closed,
                "outstanding": [] if closed else item["outstanding"],
            }
        )
    return out


def _attestation_progress(conn: sqlite3.Connection, as_of: date, start: date, school_id: str | None) -> list[dict]:
    """Each attestation campaign started by `as_of` and due in the period or later: accounts attested and not."""
    day = as_of.isoformat()
    out = []
    for c in conn.execute(
        "SELECT c.id, c.school, c.due, substr(c.started_at, 1, 10) AS started, "
        "count(DISTINCT t.account) AS attested FROM campaigns c JOIN campaign_accounts ca ON ca.campaign = c.id "
        "JOIN accounts a ON a.id = ca.account LEFT JOIN attestations t ON t.campaign = c.id AND t.account = "
        "ca.account AND substr(t.at, 1, 10) <= ? WHERE substr(c.started_at, 1, 10) <= ? AND c.due >= ? "
        "AND (? IS NULL OR a.school = ?) GROUP BY c.id ORDER BY c.rowid",
        (day, day, start.isoformat(), school_id, school_id),
    ):
        accounts = conn.execute(
            "SELECT count(DISTINCT ca.account) FROM campaign_accounts ca JOIN accounts a ON a.id = ca.account "
            "WHERE ca.campaign = ? AND (? IS NULL OR a.school = ?)",
            (c["id"], school_id, school_id),
        ).fetchone()[0]
        outstanding = accounts - c["attested"]
        out.append(
            {
                "id": c["id"],
                "school": c["school"],
                "started": c["started"],
                "due": c["due"],
                "accounts": accounts,
                "attested": c["attested"],
                "outstanding": outstanding,
                "overdue": outstanding if c["due"] < day else 0,
            }
        )
    return out


# -- HTML -----------------------------------------------------------------------------------------
def e(value) -> str:
    """Escape anything for HTML text or a quoted attribute (control, bidi and zero-width characters shown escaped)."""
    return html_text(value)


def _short(text: str, most: int = 36) -> str:
    return text if len(text) <= most else text[: most - 1] + "\u2026"


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def _pct(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%" if whole else "\u2013"


CSS = """
:root { --ink: #111; --muted: #555; --rule: #999; --error: #9b1c1c; --warning: #7a4b00; --info: #1d4f80;
  --live: #1d3f66; --pending: #d5dde6; --bar-error: #8b1a1a; --bar-warning: #d4962a; --bar-info: #a9cbe8;
  --waived: #ffffff; }
* { box-sizing: border-box; }
html { background: #fff; }
body { margin: 0 auto; max-width: 62rem; padding: 1.5rem 1.5rem 3rem; color: var(--ink); background: #fff;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header { border-bottom: 3px solid var(--ink); padding-bottom: .75rem; margin-bottom: 1rem; }
.kicker { margin: 0; text-transform: uppercase; letter-spacing: .06em; font-size: .8rem; color: var(--muted); }
h1 { margin: .2rem 0 .3rem; font-size: 1.8rem; line-height: 1.2; }
h2 { margin: 2rem 0 .5rem; font-size: 1.3rem; border-bottom: 1px solid var(--rule); padding-bottom: .2rem; }
h3 { margin: 1.2rem 0 .4rem; font-size: 1.05rem; }
.meta { margin: 0; color: var(--muted); }
.meta strong { color: var(--ink); }
nav.toc { margin: .5rem 0 0; font-size: .9rem; }
nav.toc a { color: var(--ink); margin-right: .9rem; }
p.lead { font-size: 1.05rem; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(10.5rem, 1fr)); gap: .6rem; margin: .8rem 0; }
.card { border: 1px solid var(--rule); border-left: 5px solid var(--ink); padding: .5rem .7rem; }
.card .n { display: block; font-size: 1.6rem; font-weight: 700; line-height: 1.1; }
.card .l { font-size: .85rem; color: var(--muted); }
table { border-collapse: collapse; width: 100%; margin: .4rem 0 1rem; font-size: .9rem; }
caption { text-align: left; font-weight: 600; padding: .2rem 0; }
th, td { border-bottom: 1px solid #ccc; padding: .25rem .45rem; text-align: left; vertical-align: top; }
thead th { border-bottom: 2px solid var(--ink); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tfoot td { border-top: 2px solid var(--ink); font-weight: 600; }
.sev { font-weight: 700; text-transform: uppercase; font-size: .75rem; letter-spacing: .04em; }
.sev-error { color: var(--error); } .sev-warning { color: var(--warning); } .sev-info { color: var(--info); }
.none { color: var(--muted); font-style: italic; }
time { white-space: nowrap; }
figure { margin: .6rem 0 1.2rem; }
figcaption { font-weight: 600; margin-bottom: .3rem; }
svg.chart { display: block; width: 100%; height: auto; max-width: 46rem; }
svg.chart text { font: 12px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; fill: #111; }
svg.chart .axis { stroke: #111; stroke-width: 1; }
.legend { font-size: .85rem; color: var(--muted); margin: .2rem 0 0; }
.key { display: inline-block; width: .9em; height: .9em; border: 1px solid #111; vertical-align: -.1em; margin: 0 .25em 0 .6em; }
.key-live { background: var(--live); } .key-pending { background: var(--pending); }
.key-error { background: var(--bar-error); } .key-warning { background: var(--bar-warning); }
.key-info { background: var(--bar-info); } .key-waived { background: var(--waived); border-style: dashed; }
dl.rules dt { font-weight: 700; margin-top: .7rem; break-after: avoid; page-break-after: avoid; }
dl.rules dd { margin: .1rem 0 0 1.2rem; }
.clause, .when { color: var(--muted); }
.clause { font-style: italic; }
.rule-id { font-size: .72em; font-weight: normal; color: var(--muted); }
h4 { margin: 1rem 0 .2rem; font-size: 1rem; break-after: avoid; page-break-after: avoid; }
section.failing ul { margin: .2rem 0 .6rem; padding-left: 1.4rem; }
section.failing p { margin: .2rem 0; }
.note { border-left: 4px solid var(--rule); padding: .3rem .7rem; color: var(--ink); margin: .6rem 0; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .9em; }
footer { margin-top: 2.5rem; border-top: 1px solid var(--rule); padding-top: .5rem; font-size: .8rem; color: var(--muted); }
@page { size: A4; margin: 14mm 12mm 16mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  nav.toc { display: none; }
  h2 { break-after: avoid; page-break-after: avoid; }
  h2, h3, figcaption, caption { break-after: avoid; page-break-after: avoid; }
  figure, .card, .note, tr, dl.rules dd { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
  section.major { break-before: page; page-break-before: always; }
  a { color: inherit; text-decoration: none; }
  .card, svg.chart rect { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""


def _bars(
    chart_id: str, caption: str, rows: list[tuple[str, str, list[tuple[int, str, str]], str]], legend: str
) -> str:
    """Horizontal bar chart(s) as inline SVG, at most CHUNK bars each.

    rows: (key, label, segments [(value, css fill colour, segment name)], text after the bar).
    Each bar is one `<g class="bar" data-key=...>`; segments stack left to right.
    """
    if not rows:
        return ""
    top = max(sum(v for v, _, _ in segs) for _, _, segs, _ in rows) or 1
    label_w, bar_w, value_w, row_h, pad = 280, 330, 150, 22, 6
    width = label_w + bar_w + value_w
    parts = [f'<figure data-chart="{e(chart_id)}"><figcaption>{e(caption)}</figcaption>']
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        height = len(chunk) * row_h + 2 * pad
        parts.append(
            f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'aria-label="{e(caption)}" data-chart="{e(chart_id)}">'
        )
        parts.append(f'<line class="axis" x1="{label_w}" y1="{pad - 2}" x2="{label_w}" y2="{height - pad + 2}"/>')
        for i, (key, label, segs, after) in enumerate(chunk):
            y = pad + i * row_h
            total = sum(v for v, _, _ in segs)
            tip = f"{label}: {after}"
            parts.append(f'<g class="bar" data-key="{e(key)}" data-value="{total}"><title>{e(tip)}</title>')
            parts.append(
                f'<text x="{label_w - 8}" y="{y + row_h / 2 + 4:.0f}" text-anchor="end">{e(_short(label))}</text>'
            )
            x = float(label_w)
            for value, fill, name in segs:
                if value <= 0:
                    continue
                w = max(1.5, bar_w * value / top)
                dash = ' stroke-dasharray="3 2"' if fill == WAIVED_FILL else ""
                parts.append(
                    f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" fill="{fill}" '
                    f'stroke="#111" stroke-width="0.75"{dash} data-segment="{e(name)}"/>'
                )
                x += w
            parts.append(f'<text x="{x + 6:.1f}" y="{y + row_h / 2 + 4:.0f}">{e(after)}</text></g>')
        parts.append("</svg>")
    parts.append(f'<p class="legend">{legend}</p></figure>')
    return "".join(parts)


# Distinct in grey too (dark, mid, light), with the severity also written on every label.
SEV_FILL = {"error": "#8b1a1a", "warning": "#d4962a", "info": "#a9cbe8"}
WAIVED_FILL = "#ffffff"
LIVE_FILL, PENDING_FILL = "#1d3f66", "#d5dde6"


def _findings_chart(data: dict) -> str:
    rows = []
    for r in sorted((r for r in data["rules"] if r["findings"]), key=lambda r: (-r["findings"], r["id"])):
        unwaived = r["unwaived_by_severity"]
        segs = [(unwaived[s], SEV_FILL[s], s) for s in audit.SEVERITIES] + [(r["waived"], WAIVED_FILL, "waived")]
        after = f"{r['unwaived']} open" + (f", {r['waived']} waived" if r["waived"] else "")
        rows.append((r["id"], f"{r['name']} ({r['severity']})", segs, after))
    legend = (
        '<span class="key key-error"></span>error <span class="key key-warning"></span>warning '
        '<span class="key key-info"></span>info <span class="key key-waived"></span>waived (accepted by SLT '
        "until a date). Each bar is one rule; its length is the number of findings."
    )
    return _bars("findings-by-rule", "Findings by rule", rows, legend)


def _accounts_chart(chart_id: str, caption: str, items: list[tuple[str, str, dict]]) -> str:
    rows = []
    for key, label, row in items:
        pending = row["live"] - row["active"]
        after = f"{row['live']} live" + (f" ({row['active']} active)" if pending else "")
        rows.append((key, label, [(row["active"], LIVE_FILL, "active"), (pending, PENDING_FILL, "not active")], after))
    legend = (
        '<span class="key key-live"></span>active <span class="key key-pending"></span>requested, approved '
        "or suspended. Closed and rejected accounts are not shown."
    )
    return _bars(chart_id, caption, rows, legend)


def _table(
    caption: str,
    headers: list[tuple[str, bool]],
    body: list[list[str]],
    foot: list[str] | None = None,
    empty: str = "None.",
) -> str:
    """A table; cells in `body` are already-escaped HTML. headers: (title, numeric)."""
    if not body:
        return f'<p class="none">{e(empty)}</p>'
    out = [f"<table><caption>{e(caption)}</caption><thead><tr>"]
    num_attr = ' class="num"'
    out += [f'<th scope="col"{num_attr if num else ""}>{e(h)}</th>' for h, num in headers]
    out.append("</tr></thead><tbody>")
    for row in body:
        out.append(
            "<tr>" + "".join(f"<td{num_attr if headers[i][1] else ''}>{c}</td>" for i, c in enumerate(row)) + "</tr>"
        )
    out.append("</tbody>")
    if foot:
        out.append(
            "<tfoot><tr>"
            + "".join(f"<td{num_attr if headers[i][1] else ''}>{c}</td>" for i, c in enumerate(foot))
            + "</tr></tfoot>"
        )
    out.append("</table>")
    return "".join(out)


def _day(iso: str | None) -> str:
    """A date cell: kept on one line."""
    return f'<time datetime="{e(iso)}">{e(iso)}</time>' if iso else ""


def _sev(severity: str) -> str:
    return f'<span class="sev sev-{e(severity)}">{e(severity)}</span>'


def _rule_name(rule: dict) -> str:
    """A rule's plain name with its id small beside it (a waiver row carries only the id)."""
    name = rule.get("name") or rule.get("rule") or rule["id"]
    rule_id = rule.get("id") or rule["rule"]
    return f'{e(name)} <small class="rule-id"><code>{e(rule_id)}</code></small>'


def _failing(data: dict) -> str:
    """Under each rule with findings, the accounts that fail it, school by school."""
    rules = [r for r in data["rules"] if r["findings"]]
    out = ['<h3 id="failing">Accounts that fail each rule</h3>']
    if not rules:
        return out[0] + '<p class="none">No account fails a rule.</p>'
    out.append(
        "<p>Each account below does not meet the rule it is listed under. Waived ones were accepted by SLT "
        "until the date shown.</p>"
    )
    for r in sorted(rules, key=lambda r: (audit.SEVERITIES.index(r["severity"]), -r["unwaived"], r["name"])):
        clause = f' <span class="clause">Our policy: {e(r["clause"])}</span>' if r["clause"] else ""
        out.append(
            f'<section class="failing" data-rule="{e(r["id"])}"><h4 id="fail-{e(r["id"])}">{_rule_name(r)} '
            f'{_sev(r["severity"])}</h4><p class="principle">{e(r["principle"])}{clause}</p>'
        )
        for group in r["failing"]:
            where = group["school_name"] or "The register as a whole"
            out.append(
                f'<p class="school" data-school="{e(group["school"] or "")}"><strong>{e(where)}</strong> '
                f"({_plural(group['findings'], 'finding')})</p><ul>"
            )
            for f in group["shown"]:
                account = f'<code class="account">{e(f["account"])}</code>: ' if f["account"] else ""
                waived = f' <span class="none">(waived until {_day(f["waived_until"])})</span>' if f["waived"] else ""
                out.append(f'<li data-account="{e(f["account"] or "")}">{account}{e(f["message"])}{waived}</li>')
            more = group["findings"] - len(group["shown"])
            if more:
                where_flag = f" --school {group['school']}" if group["school"] else ""
                out.append(
                    f'<li class="none">and {_plural(more, "more finding")}: '
                    f"<code>accountctl audit{e(where_flag)} --rule {e(r['id'])}</code> lists them all</li>"
                )
            out.append("</ul>")
        out.append("</section>")
    return "".join(out)


def render_html(data: dict) -> str:
    """One self-contained HTML page for governors: inline CSS and SVG, no scripts, nothing fetched."""
    trust = data.get("trust") or "Register"
    scope = data["school"]["name"] if data.get("school") else None
    as_of = data["as_of"]
    period = data["period"]
    comp = data["compliance"]
    summ = data["summary"]
    unw = summ["unwaived"]
    school_names = {s["id"]: s["name"] for s in data["schools"]}
    dash = " \u2013 "
    title = f"{trust}{dash + scope if scope else ''}: official social-media accounts, governors' report as of {as_of}"

    out: list[str] = [
        '<!DOCTYPE html>\n<html lang="en-GB"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="{e(data.get("generator"))}">',
        f"<title>{e(title)}</title><style>{CSS}</style></head><body>",
        "<header>",
        '<p class="kicker">Governors\' report \u00b7 official social-media accounts</p>',
        f"<h1>{e(trust)}{(dash + e(scope)) if scope else ''}</h1>",
        f'<p class="meta">Register as of <strong><time datetime="{e(as_of)}">{e(as_of)}</time></strong>. '
        f'Leavers and transfers from <time datetime="{e(period["from"])}">{e(period["from"])}</time> to '
        f'<time datetime="{e(period["to"])}">{e(period["to"])}</time>. '
        f"Generated {e(data['generated_at'].replace('T', ' ').replace('Z', ' UTC'))} by {e(data.get('generator'))}.</p>",
        '<nav class="toc">'
        '<a href="#summary">Summary</a><a href="#compliance">Compliance by rule</a>'
        '<a href="#failing">Accounts that fail</a><a href="#accounts">Accounts</a>'
        '<a href="#people">Leavers and transfers</a><a href="#waivers">Waivers expiring</a>'
        '<a href="#rules">What the rules check</a></nav>',
        "</header>",
    ]

    # Summary
    live = comp["live_accounts"]
    out.append('<section id="summary"><h2>Summary</h2>')
    if live:
        out.append(
            f'<p class="lead">Of <strong>{_plural(live, "live account")}</strong>, '
            f"<strong>{comp['accounts_without_errors']} ({_pct(comp['accounts_without_errors'], live)})</strong> meet every "
            f"error-level rule of the policy, allowing for waivers; <strong>{comp['accounts_with_errors']}</strong> "
            f"{'has' if comp['accounts_with_errors'] == 1 else 'have'} at least one open error. "
            f"{comp['accounts_clean']} ({_pct(comp['accounts_clean'], live)}) "
            f"{'has' if comp['accounts_clean'] == 1 else 'have'} no open error or warning.</p>"
        )
    else:
        out.append(
            '<p class="lead">The register holds no live accounts (requested, approved, active or suspended).</p>'
        )

    def word(n: int, one: str, many: str | None = None) -> str:
        return _plural(n, one, many).split(" ", 1)[1]

    live_n, errors, warnings = data["accounts"]["live"], unw["error"], unw["warning"]
    leavers, transfers, expiring = len(data["leavers"]), len(data["transfers"]), len(data["waivers_expiring"])
    cards = [
        (live_n, word(live_n, "live account"), f"{data['accounts']['by_status'].get('active', 0)} active"),
        (errors, word(errors, "open error"), word(errors, "breach", "breaches") + " to fix"),
        (warnings, word(warnings, "open warning"), word(warnings, "risk") + " to fix or accept"),
        (summ["waived"], word(summ["waived"], "waived finding"), "accepted by SLT until a date"),
        (
            leavers,
            word(leavers, "leaver") + " in the period",
            f"{_plural(len(data['upcoming_leavers']), 'person', 'people')} due to leave soon",
        ),
        (transfers, word(transfers, "ownership transfer"), "in the period"),
        (expiring, word(expiring, "waiver") + " expiring", f"within {data['waiver_horizon']['days']} days"),
    ]
    out.append(
        '<div class="cards">'
        + "".join(
            f'<div class="card"><span class="n">{e(n)}</span><span class="l">{e(label)}<br>{e(sub)}</span></div>'
            for n, label, sub in cards
        )
        + "</div>"
    )
    if summ["skipped"]:
        rule_names = {r["id"]: r["name"] for r in data["rules"]}
        names = ", ".join(rule_names.get(s["rule"], s["rule"]) for s in summ["skipped"])
        out.append(
            f'<p class="note">Not checked in this report: {e(names)}. These rules need vault access (an IT '
            "custodian's key slot); ask IT to produce the report to include them.</p>"
        )
    out.append("</section>")

    # Compliance by rule
    out.append('<section id="compliance" class="major"><h2>Compliance by rule</h2>')
    out.append(
        "<p>Each finding is one account (or person) that does not meet one rule on "
        f"{e(as_of)}. Open findings count against compliance; waived ones were accepted by SLT until a date.</p>"
    )
    chart = _findings_chart(data)
    out.append(chart or '<p class="none">No findings: every account meets every rule checked.</p>')
    body = []
    for r in data["rules"]:
        status = "not checked (needs vault access)" if r["skipped"] else ""
        target = f"fail-{r['id']}" if r["findings"] else f"rule-{r['id']}"
        body.append(
            [
                f'<a href="#{e(target)}">{_rule_name(r)}</a>',
                _sev(r["severity"]),
                e(r["unwaived"]) if not r["skipped"] else "\u2013",
                e(r["waived"]) if not r["skipped"] else "\u2013",
                e(r["accounts"]) if not r["skipped"] else "\u2013",
                e(status or r["principle"]),
            ]
        )
    out.append(
        _table(
            "Findings by rule",
            [
                ("Rule", False),
                ("Severity", False),
                ("Open", True),
                ("Waived", True),
                ("Accounts", True),
                ("What it means", False),
            ],
            body,
            foot=["All rules", "", e(sum(unw.values())), e(summ["waived"]), "", ""],
        )
    )
    rows = [s for s in data["schools"] if s["live"] or s["unwaived_errors"] or s["unwaived_warnings"]]
    out.append("<h3>Compliance by school</h3>")
    out.append(
        _table(
            "Open findings by school",
            [
                ("School", False),
                ("Live accounts", True),
                ("Accounts with an open error", True),
                ("Open errors", True),
                ("Open warnings", True),
            ],
            [
                [
                    e(s["name"]) + f' <span class="none">({e(s["id"])})</span>',
                    e(s["live"]),
                    e(
                        f"{s['accounts_with_errors']} ({_pct(s['accounts_with_errors'], s['live'])})"
                        if s["live"]
                        else s["accounts_with_errors"]
                    ),
                    e(s["unwaived_errors"]),
                    e(s["unwaived_warnings"]),
                ]
                for s in rows
            ],
            empty="No school has live accounts.",
        )
    )
    out.append(_failing(data))
    out.append("</section>")

    # Accounts
    out.append('<section id="accounts" class="major"><h2>Accounts</h2>')
    acc = data["accounts"]
    out.append(
        f"<p>{_plural(acc['total'], 'account')} on record, {acc['live']} live: "
        + ", ".join(f"{e(n)} {e(s)}" for s, n in acc["by_status"].items() if n)
        + ".</p>"
        if acc["total"]
        else '<p class="none">No accounts on record.</p>'
    )
    out.append(
        _accounts_chart(
            "accounts-by-school",
            "Live accounts by school",
            [(s["id"], s["name"], s) for s in data["schools"] if s["live"]],
        )
    )
    out.append(
        _accounts_chart(
            "accounts-by-platform",
            "Live accounts by platform",
            [(p["platform"], p["platform"], p) for p in data["platforms"] if p["live"]],
        )
    )
    heads = [("School", False)] + [(s.capitalize(), True) for s in STATUSES] + [("Total", True)]
    out.append(
        _table(
            "Accounts by school and status",
            heads,
            [[e(s["name"])] + [e(s[st]) for st in STATUSES] + [e(s["total"])] for s in data["schools"]],
            foot=["All schools"] + [e(acc["by_status"].get(st, 0)) for st in STATUSES] + [e(acc["total"])],
            empty="No schools.",
        )
    )
    out.append(
        _table(
            "Accounts by platform and status",
            [("Platform", False)] + heads[1:],
            [[e(p["platform"])] + [e(p[st]) for st in STATUSES] + [e(p["total"])] for p in data["platforms"]],
        )
    )
    out.append("</section>")

    # People
    out.append('<section id="people" class="major"><h2>Leavers and transfers</h2>')
    out.append(
        f"<p>Staff who left between {e(period['from'])} and {e(period['to'])}, and how many live accounts still "
        "name them (as owner, admin or contributor). Every one should be 0: a leaver's accounts are transferred "
        "and their access removed.</p>"
    )

    def leaver_rows(items):
        return [
            [
                e(p["name"]) + f'<br><span class="none">{e(p["email"])}</span>',
                e(school_names.get(p["school"], p["school"])),
                _day(p["left_on"]),
                e(p["owns"]),
                e(p["listed_on"]),
            ]
            for p in items
        ]

    leaver_heads = [
        ("Name", False),
        ("School", False),
        ("Left on", False),
        ("Still owns", True),
        ("Still named on", True),
    ]
    out.append(
        _table("Leavers in the period", leaver_heads, leaver_rows(data["leavers"]), empty="No leavers in the period.")
    )
    if data["upcoming_leavers"]:
        out.append(
            _table(
                f"Due to leave within {data['waiver_horizon']['days']} days",
                leaver_heads,
                leaver_rows(data["upcoming_leavers"]),
            )
        )
    out.append("<h3>Ownership transfers</h3>")
    out.append(
        _table(
            "Ownership transfers in the period",
            [("Date", False), ("Account", False), ("School", False), ("From", False), ("To", False), ("Reason", False)],
            [
                [
                    _day(t["on"]),
                    f"<code>{e(t['account'])}</code>",
                    e(school_names.get(t["school"], t["school"])),
                    e(t["from"] or "(nobody)"),
                    e(t["to"]),
                    e(t["reason"] or ""),
                ]
                for t in data["transfers"]
            ],
            empty="No ownership transfers in the period.",
        )
    )
    out.append("</section>")

    # Incidents
    out.append('<section id="incidents"><h2>Incidents</h2>')
    out.append(
        "<p>Hijacked, abused or impersonated accounts, safeguarding concerns and data breaches in the period, "
        "and whether every required step of each one's checklist was done.</p>"
    )
    out.append(
        _table(
            "Incidents in the period",
            [
                ("Incident", False),
                ("Account", False),
                ("Kind", False),
                ("Opened", False),
                ("Closed", False),
                ("Steps still to do", False),
            ],
            [
                [
                    f"<code>{e(i['id'])}</code>",
                    f"<code>{e(i['account'])}</code>",
                    e(i["kind"]),
                    _day(i["opened_at"]),
                    _day(i["closed_at"]) if i["closed_at"] else "still open",
                    e(", ".join(i["outstanding"]) or "none"),
                ]
                for i in data["incidents"]
            ],
            empty="No incident in the period.",
        )
    )
    out.append("</section>")

    # Attestation progress
    out.append('<section id="attestation"><h2>Platform access reviews</h2>')
    out.append(
        "<p>Each term the people who run each account check the platform's own settings (who really has admin "
        "rights, which two-factor method) and record what they see.</p>"
    )
    out.append(
        _table(
            "Attestation campaigns",
            [
                ("Campaign", False),
                ("School", False),
                ("Started", False),
                ("Due", False),
                ("Accounts", True),
                ("Attested", True),
                ("Outstanding", True),
                ("Overdue", True),
            ],
            [
                [
                    f"<code>{e(c['id'])}</code>",
                    e(school_names.get(c["school"], c["school"]) if c["school"] else "Whole trust"),
                    _day(c["started"]),
                    _day(c["due"]),
                    e(c["accounts"]),
                    f"{e(c['attested'])} ({_pct(c['attested'], c['accounts'])})",
                    e(c["outstanding"]),
                    e(c["overdue"]),
                ]
                for c in data["attestation"]
            ],
            empty="No attestation campaign in the period.",
        )
    )
    out.append("</section>")

    # Waivers
    horizon = data["waiver_horizon"]
    rules_by_id = {r["id"]: r for r in data["rules"]}
    out.append(f'<section id="waivers"><h2>Waivers expiring within {e(horizon["days"])} days</h2>')
    out.append(
        f"<p>Waivers in force on {e(as_of)} that end by {e(horizon['until'])}. When a waiver ends, its finding "
        "counts again unless SLT renews it or the account is fixed.</p>"
    )
    out.append(
        _table(
            "Waivers expiring",
            [
                ("Until", False),
                ("Days left", True),
                ("Account", False),
                ("School", False),
                ("Rule", False),
                ("Reason", False),
                ("Waived by", False),
                ("Still needed", False),
            ],
            [
                [
                    _day(w["until"]),
                    e(w["days_left"]),
                    f"<code>{e(w['account'])}</code>",
                    e(school_names.get(w["school"], w["school"])),
                    _rule_name(rules_by_id.get(w["rule"], w)),
                    e(w["reason"]),
                    e(w["waived_by"]),
                    "yes" if w["covers_finding"] else "no (no such finding now)",
                ]
                for w in data["waivers_expiring"]
            ],
            empty=f"No waiver expires within {horizon['days']} days.",
        )
    )
    out.append("</section>")

    # Rules
    out.append('<section id="rules" class="major"><h2>What the rules check</h2>')
    out.append(
        "<p>Each rule is a principle of the trust's social-media policy, with the trust's own clause where it "
        "has recorded one. Severities: " + "; ".join(f"{_sev(s)} {e(m)}" for s, m in SEVERITY_MEANING.items()) + ".</p>"
    )
    out.append('<dl class="rules">')
    for r in data["rules"]:
        extra = (
            " Needs vault access: checked only when IT produces the report."
            if r["needs_vault"] and "vault" not in r["description"]
            else ""
        )
        clause = f'<br><span class="clause">Our policy: {e(r["clause"])}</span>' if r["clause"] else ""
        out.append(
            f'<dt id="rule-{e(r["id"])}">{_rule_name(r)} {_sev(r["severity"])}</dt>'
            f'<dd>{e(r["principle"])}<br><span class="when">Reported when: {e(r["description"])}.{e(extra)}</span>'
            f"{clause}</dd>"
        )
    out.append("</dl></section>")

    out.append(
        f"<footer>Produced with <code>accountctl report</code> from the encrypted register. It contains no "
        f"passwords, 2FA seeds or recovery codes. {e(title)}.</footer></body></html>\n"
    )
    return "".join(out)
