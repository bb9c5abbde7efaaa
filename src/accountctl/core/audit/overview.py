"""The audit at trust scale: the findings narrowed (`select`) and counted by rule and by school (`overview`).

Thousands of accounts give tens of thousands of findings: a trust first wants to know which rules and
which schools they come from, then one severity or one account at a time.
"""

from __future__ import annotations

from accountctl.core.audit.registry import RULES, SEVERITIES


def select(findings: list[dict], severity: str | None = None, account: str | None = None) -> list[dict]:
    """The findings at `severity` or above (error above warning above info), and of `account` only, when given."""
    if severity is not None:
        allowed = set(SEVERITIES[: SEVERITIES.index(severity) + 1])
        findings = [f for f in findings if f["severity"] in allowed]
    if account is not None:
        findings = [f for f in findings if f["account"] == account]
    return findings


def _counts() -> dict:
    return {"findings": 0, "unwaived": 0, "accounts": set(), **{s: 0 for s in SEVERITIES}}


def overview(findings: list[dict]) -> dict:
    """Counts by rule (in the rules' own order) and by school (by id; findings about no school last).

    `by_rule`: rule, severity (its most severe finding's: a finding may be a step above or below its
    rule's own severity, and the count agrees with the findings listed), findings,
    unwaived, accounts (how many distinct accounts), schools. `by_school`: school, findings, unwaived,
    error, warning, info. `by_rule_school`: one row per rule and school (what a spreadsheet pivots).
    """
    rules: dict[str, dict] = {}
    schools: dict[str | None, dict] = {}
    pairs: dict[tuple[str, str | None], dict] = {}
    for f in findings:
        for counts in (
            rules.setdefault(f["rule"], {**_counts(), "schools": set()}),
            schools.setdefault(f["school"], _counts()),
            pairs.setdefault((f["rule"], f["school"]), _counts()),
        ):
            counts["findings"] += 1
            counts["unwaived"] += not f["waived"]
            counts[f["severity"]] += 1
            if f["account"]:
                counts["accounts"].add(f["account"])
            if "schools" in counts and f["school"]:
                counts["schools"].add(f["school"])
    order = {rule_id: i for i, rule_id in enumerate(RULES)}
    by_rule = [
        {
            "rule": rule_id,
            "severity": next(s for s in SEVERITIES if c[s]),
            "findings": c["findings"],
            "unwaived": c["unwaived"],
            "accounts": len(c["accounts"]),
            "schools": len(c["schools"]),
        }
        for rule_id, c in sorted(rules.items(), key=lambda kv: order.get(kv[0], len(order)))
    ]
    by_school = [
        {"school": school, "findings": c["findings"], "unwaived": c["unwaived"], **{s: c[s] for s in SEVERITIES}}
        for school, c in sorted(schools.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))
    ]
    by_rule_school = [
        {"rule": rule_id, "school": school, "findings": c["findings"], "unwaived": c["unwaived"]}
        for (rule_id, school), c in sorted(
            pairs.items(), key=lambda kv: (order.get(kv[0][0], len(order)), kv[0][1] is None, kv[0][1] or "")
        )
    ]
    return {"by_rule": by_rule, "by_school": by_school, "by_rule_school": by_rule_school}
