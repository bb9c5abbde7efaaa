"""The governors' report: the register's state as plain data (`build`) and one self-contained,
printable HTML page (`render_html`): accounts by school and platform, compliance by audit rule with
the accounts that fail each, leavers and transfers in the period, waivers about to expire, and what
each rule means, in plain words and the trust's own clause references (never another organisation's
policy: the published policies the rules are drawn from are for `rules --sources`, not governors).

`build` reads with a fixed number of set-based queries (and the audit's own `load`/`run`); it never
reads a credential's value, only whether one is held, so nothing secret can reach the page.
`page` works out what the page shows beyond the figures (cards, the charts' bars as numbers, the
order of the failing rules), still as plain data, and `render_html` hands both to
templates/report.html.j2 through `pages.render`, which shows every value from the register as
`safetext.html_text` would (HTML-escaped; control, bidi and zero-width characters as visible
escapes). The page makes no link from register data and loads nothing (no fonts, scripts, images or
style sheets from anywhere): inline CSS (templates/pages.css) and inline SVG only.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date, timedelta

from accountctl import __version__, clock
from accountctl.core import audit, dataprotection
from accountctl.core.directory import get_school
from accountctl.model import ALL_EVENTS, get_meta

TRANSFER = "account.transfer"  # the only events the report reads (cli/report.py loads no others)

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
    settings, school_of = snap.settings, {a["id"]: a["school"] for a in snap.accounts}
    # What follows reads the findings, not the snapshot: freed, its memory serves the report's own
    # tables (at the large trust the report's peak is then the audit's, 146 MiB, not 165).
    del snap
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
        for r in audit.rules_table(settings)
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
    for account_id in error_accounts:
        row = schools.get(school_of.get(account_id))
        if row is not None:
            row["accounts_with_errors"] += 1
    live_total = len(school_of)
    compliance = {
        "live_accounts": live_total,
        "accounts_with_errors": len(error_accounts),
        "accounts_with_warnings_only": len(warning_accounts - error_accounts),
        # found and closed accounts have findings too, but are not live: count the live ones only
        "accounts_without_errors": live_total - len(error_accounts & school_of.keys()),
        "accounts_clean": live_total - len((error_accounts | warning_accounts) & school_of.keys()),
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
        "WHERE e.action = ? AND substr(e.at, 1, 10) BETWEEN ? AND ?" + one_school + " ORDER BY e.seq",
        [TRANSFER, start.isoformat(), as_of.isoformat(), *one_args],
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
        "breaches": dataprotection.breach_log_for_report(conn, incidents),
        "dpia_coverage": dataprotection.coverage(conn, school_id),
        "leads": dataprotection.leads(conn, school_id),
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


# -- the page -----------------------------------------------------------------------------------
# Bar charts, in SVG user units: the label, the bar and the figure after it, side by side.
BAR_W, VALUE_W, ROW_H, PAD = 330, 150, 22, 6
# A label is drawn whole up to LABEL_MOST characters (about CHAR_W units each at 12 px), the label column
# as wide as the chart's longest: the widest chart (416 + 330 + 150) still fits the page's column on a
# laptop at 1:1, so its text stays 12 px (a narrower screen gets the chart as a list: pages.css).
LABEL_MOST, CHAR_W, LABEL_MIN = 56, 7, 120
# Distinct in grey too (dark, mid, light), with the severity also written on every label.
SEV_FILL = {"error": "#8b1a1a", "warning": "#d4962a", "info": "#a9cbe8"}
WAIVED_FILL = "#ffffff"
LIVE_FILL, PENDING_FILL = "#1d3f66", "#d5dde6"


def render_html(data: dict) -> str:
    """One self-contained HTML page for governors: inline CSS and SVG, no scripts, nothing fetched."""
    from accountctl import pages

    return pages.render("report.html.j2", **page(data))


def page(data: dict) -> dict:
    """What the template is given: `data`, what the page shows worked out from it, and two wording helpers."""
    trust = data.get("trust") or "Register"
    heading = f"{trust} \u2013 {data['school']['name']}" if data.get("school") else trust
    rule_names = {r["id"]: r["name"] for r in data["rules"]}
    with_findings = [r for r in data["rules"] if r["findings"]]
    severities = {r["id"]: _severities(r) for r in data["rules"]}
    return {
        "data": data,
        "heading": heading,
        "title": f"{heading}: official social-media accounts, governors' report as of {data['as_of']}",
        "generated": data["generated_at"].replace("T", " ").replace("Z", " UTC"),
        "cards": _cards(data),
        "not_checked": ", ".join(rule_names.get(s["rule"], s["rule"]) for s in data["summary"]["skipped"]),
        "school_names": {s["id"]: s["name"] for s in data["schools"]},
        "rules_by_id": {r["id"]: r for r in data["rules"]},
        "statuses": STATUSES,
        "status_heads": [(s.capitalize(), True) for s in STATUSES],
        "status_totals": [data["accounts"]["by_status"].get(s, 0) for s in STATUSES],
        "compliance_schools": [
            s for s in data["schools"] if s["live"] or s["unwaived_errors"] or s["unwaived_warnings"]
        ],
        "severity_meaning": SEVERITY_MEANING,
        "severities": severities,
        "findings_chart": _findings_chart(with_findings, severities),
        "school_chart": _accounts_chart(
            "accounts-by-school",
            "Live accounts by school",
            [(s["id"], s["name"], s) for s in data["schools"] if s["live"]],
        ),
        "platform_chart": _accounts_chart(
            "accounts-by-platform",
            "Live accounts by platform",
            [(p["platform"], p["platform"], p) for p in data["platforms"] if p["live"]],
        ),
        # the accounts that fail each rule: errors first, then the rules with the most open findings
        "failing": sorted(
            with_findings,
            key=lambda r: (audit.SEVERITIES.index(severities[r["id"]][0]), -r["unwaived"], r["name"]),
        ),
        "plural": plural,
        "percent": percent,
    }


def _severities(rule: dict) -> list[str]:
    """The severities a rule's open findings have, most severe first: what the page labels it with.

    A finding can be a step below or above its rule's own severity (an incident open for a few days
    is a warning before it becomes an error): the label, the colour and the counts all follow the
    findings. A rule with no open finding keeps its own severity.
    """
    found = rule.get("unwaived_by_severity") or {}
    return [s for s in audit.SEVERITIES if found.get(s)] or [rule["severity"]]


def plural(n: int, word: str, many: str | None = None) -> str:
    """`n` and the word for that many: "1 account", "2 accounts", "2 people"."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def percent(part: int, whole: int) -> str:
    """`part` of `whole` as a whole percentage ("33%"), or a dash when there is no whole."""
    return f"{round(100 * part / whole)}%" if whole else "\u2013"


def _cards(data: dict) -> list[tuple[int, str, str]]:
    """The summary's cards: (number, what it counts, a line under it)."""

    def word(n: int, one: str, many: str | None = None) -> str:
        return plural(n, one, many).split(" ", 1)[1]

    unwaived, waived = data["summary"]["unwaived"], data["summary"]["waived"]
    live, errors, warnings = data["accounts"]["live"], unwaived["error"], unwaived["warning"]
    leavers, transfers, expiring = len(data["leavers"]), len(data["transfers"]), len(data["waivers_expiring"])
    return [
        (live, word(live, "live account"), f"{data['accounts']['by_status'].get('active', 0)} active"),
        (errors, word(errors, "open error"), word(errors, "breach", "breaches") + " to fix"),
        (warnings, word(warnings, "open warning"), word(warnings, "risk") + " to fix or accept"),
        (waived, word(waived, "waived finding"), "accepted by SLT until a date"),
        (
            leavers,
            word(leavers, "leaver") + " in the period",
            f"{plural(len(data['upcoming_leavers']), 'person', 'people')} due to leave soon",
        ),
        (transfers, word(transfers, "ownership transfer"), "in the period"),
        (expiring, word(expiring, "waiver") + " expiring", f"within {data['waiver_horizon']['days']} days"),
    ]


def _short(text: str, most: int = LABEL_MOST) -> str:
    return text if len(text) <= most else text[: most - 1] + "\u2026"


def _bars(chart_id: str, caption: str, rows: list[tuple[str, str, list[tuple[int, str, str]], str]]) -> dict | None:
    """A horizontal bar chart as numbers for the template's SVG: one SVG per CHUNK bars, so a long chart
    breaks between pages instead of being cut.

    rows: (key, label, segments [(value, fill colour, segment name)], text after the bar); segments
    stack left to right, each bar as long as its total over the longest bar's.
    """
    if not rows:
        return None
    top = max(sum(v for v, _, _ in segs) for _, _, segs, _ in rows) or 1
    label_w = max(LABEL_MIN, CHAR_W * max(len(_short(label)) for _, label, _, _ in rows) + 16)
    svgs = []
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        bars = []
        for i, (key, label, segs, after) in enumerate(chunk):
            y = PAD + i * ROW_H
            x, segments = float(label_w), []
            for value, fill, name in segs:
                if value <= 0:
                    continue
                w = max(1.5, BAR_W * value / top)
                segments.append(
                    {
                        "x": round(x, 1),
                        "width": round(w, 1),
                        "fill": fill,
                        "dashed": fill == WAIVED_FILL,
                        "name": name,
                        # where it starts and how long it is in the list's bar, on a narrow screen
                        "start": round(100 * (x - label_w) / BAR_W, 1),
                        "percent": round(100 * w / BAR_W, 1),
                    }
                )
                x += w
            bars.append(
                {
                    "key": key,
                    "value": sum(v for v, _, _ in segs),
                    "tip": f"{label}: {after}",
                    "label": _short(label),
                    "full_label": label,
                    "text_y": round(y + ROW_H / 2 + 4),
                    "bar_y": y + 3,
                    "segments": segments,
                    "after": after,
                    "after_x": round(x + 6, 1),
                }
            )
        height = len(chunk) * ROW_H + 2 * PAD
        svgs.append({"height": height, "axis_y1": PAD - 2, "axis_y2": height - PAD + 2, "bars": bars})
    return {
        "id": chart_id,
        "caption": caption,
        "width": label_w + BAR_W + VALUE_W,
        "axis_x": label_w,
        "label_x": label_w - 8,
        "bar_height": ROW_H - 6,
        "svgs": svgs,
    }


def _findings_chart(rules: list[dict], severities: dict[str, list[str]]) -> dict | None:
    """One bar per rule with findings, longest first: open findings by severity, then the waived ones.

    Each is labelled with the severities its open findings have (`_severities`), as its bar is drawn.
    """
    rows = []
    for r in sorted(rules, key=lambda r: (-r["findings"], r["id"])):
        unwaived = r["unwaived_by_severity"]
        segs = [(unwaived[s], SEV_FILL[s], s) for s in audit.SEVERITIES] + [(r["waived"], WAIVED_FILL, "waived")]
        after = f"{r['unwaived']} open" + (f", {r['waived']} waived" if r["waived"] else "")
        rows.append((r["id"], f"{r['name']} ({', '.join(severities[r['id']])})", segs, after))
    return _bars("findings-by-rule", "Findings by rule", rows)


def _accounts_chart(chart_id: str, caption: str, items: list[tuple[str, str, dict]]) -> dict | None:
    """One bar per school or platform with live accounts: the active ones, then the rest of the live ones."""
    rows = []
    for key, label, row in items:
        pending = row["live"] - row["active"]
        after = f"{row['live']} live" + (f" ({row['active']} active)" if pending else "")
        rows.append((key, label, [(row["active"], LIVE_FILL, "active"), (pending, PENDING_FILL, "not active")], after))
    return _bars(chart_id, caption, rows)
