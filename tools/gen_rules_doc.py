#!/usr/bin/env python3
"""Generate docs/rules.md from the audit rule registry (and the exit codes from accountctl.errors).

    python tools/gen_rules_doc.py > docs/rules.md     # regenerate
    python tools/gen_rules_doc.py --check             # exit 1 if docs/rules.md is out of date

tests/test_docs.py fails when docs/rules.md differs from what this prints, so a rule added to
a theme's module of src/accountctl/core/audit/ without regenerating the page is caught.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "rules.md"
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

SEVERITY_MEANING = {
    "error": "a breach of the policy. `audit` exits 1 while one is unwaived (the default `--fail-on error`).",
    "warning": "a risk, or a guideline not met. Fails the audit only with `--fail-on warning` or `--fail-on info`.",
    "info": "a reminder of routine work. Fails the audit only with `--fail-on info`.",
}


# What each exit code means to someone scripting accountctl (SPEC.md); the code -> class mapping and
# any code not listed here come from accountctl.errors.
EXIT_MEANING = {
    0: "OK (for `audit`: no unwaived finding at or above `--fail-on`).",
    1: "A check ran and found problems: `audit` (an unwaived finding at or above `--fail-on`), `offboard` "
    "(a leaver or mover still holds something), `verify` (the history or a signature does not check out).",
    2: "Bad input or a refused operation; nothing was changed.",
    3: "Authentication or permission: wrong passphrase, no key slot, or a role not allowed to do this.",
    4: "The register file is damaged, altered, truncated or not a register; nothing was written.",
    5: "The register is busy: another writer held the lock for longer than accountctl waits.",
    130: "Interrupted (Ctrl-C) or a prompt aborted.",
}


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _exit_codes() -> list[tuple[int, str, str]]:
    """(code, error class, meaning) for every error the CLI maps to an exit code, plus 0."""
    from accountctl import errors

    rows = [(0, "", EXIT_MEANING[0])]
    seen = {0}
    classes = [
        c
        for c in vars(errors).values()
        if isinstance(c, type) and issubclass(c, errors.AccountctlError) and c is not errors.AccountctlError
    ]
    for cls in sorted(classes, key=lambda c: c.exit_code):
        if cls.exit_code in seen:
            continue
        seen.add(cls.exit_code)
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        doc = doc.replace(f" (exit {cls.exit_code})", "").rstrip(".") + "."
        rows.append((cls.exit_code, cls.__name__, EXIT_MEANING.get(cls.exit_code, doc)))
    rows.append((130, "", EXIT_MEANING[130]))
    return rows


def render() -> str:
    from accountctl.core.audit import POLICIES, RULES, SEVERITIES

    out = [
        "# Audit rules",
        "",
        "<!-- Generated from the rule registry (src/accountctl/core/audit/) by tools/gen_rules_doc.py.",
        "     Do not edit by hand: run `python tools/gen_rules_doc.py > docs/rules.md`. -->",
        "",
        "`accountctl audit` checks every live account (requested, approved, active or suspended; closed ones",
        "for `CLOSED_NOT_GONE`) and the register itself against these rules; `accountctl rules` prints the same",
        "list, and `accountctl report` explains them to governors in plain words. Each finding has `rule`,",
        "`severity`, `account`, `school`, `message`, `fix`, `waived` and `clause`. SLT can accept one finding",
        "on one account until a date: `accountctl waive ID RULE --reason T --until DATE`.",
        "",
        "**The trust's own words.** Each rule states a principle; the published school policies below are",
        "where the principles come from, not your policy. Record your own policy's clause for a rule with",
        '`accountctl config set clause.RULE "Social Media Policy 4.2"`: `rules`, the audit and the',
        "governors' report then cite it. They never name another organisation's policy unless you set it;",
        "`accountctl rules --sources` lists the published sources.",
        "",
        "## At a glance",
        "",
        "| rule | name | severity | what it checks | needs vault access |",
        "|---|---|---|---|---|",
    ]
    for r in RULES.values():
        out.append(
            f"| [`{r.id}`](#{r.id.lower()}) | {_cell(r.name)} | {r.severity} | {_cell(r.description)} | "
            f"{'yes' if r.needs_vault else 'no'} |"
        )
    out += ["", "## Severities", ""]
    for s in SEVERITIES:
        count = sum(1 for r in RULES.values() if r.severity == s)
        out.append(f"- **{s}** ({count} rule{'s' if count != 1 else ''}): {SEVERITY_MEANING.get(s, '')}")
    out += ["", "## The published policies the rules are drawn from", ""]
    out += [f"- **{short}:** {title}" for short, title in POLICIES.items()]
    out += ["", "## The rules", ""]
    for r in RULES.values():
        out += [
            f"### {r.id}",
            "",
            f"**{_cell(r.name)}.** {_cell(r.principle)}",
            "",
            f"- **Severity:** {r.severity}",
            f"- **What it checks:** {_cell(r.description)}",
            f"- **Drawn from:** {_cell(r.sources)}",
            f'- **Your policy\'s clause:** `accountctl config set clause.{r.id} "..."`',
            "- **Needs vault access:** "
            + ("yes: run by an IT custodian; for anyone else `audit` skips it and says so" if r.needs_vault else "no"),
            f"- **Run only this rule:** `accountctl audit --rule {r.id}`",
            "",
        ]
    out += [
        "## Exit codes",
        "",
        "`audit` exits 1 when an unwaived finding is at or above `--fail-on` (default `error`), so a cron job",
        'or CI step can alert on it; `--json` prints `{"summary": {...}, "findings": [...]}`.',
        "Every command uses the same codes:",
        "",
        "| code | error | meaning |",
        "|---|---|---|",
    ]
    for code, name, meaning in _exit_codes():
        out.append(f"| {code} | {f'`{name}`' if name else ''} | {_cell(meaning)} |")
    out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the page instead of printing it")
    parser.add_argument("--doc", type=Path, default=DOC, help=f"the page --check compares with (default {DOC})")
    args = parser.parse_args(argv)
    text = render()
    if not args.check:
        sys.stdout.write(text)
        return 0
    try:
        current = args.doc.read_text(encoding="utf-8")
    except FileNotFoundError:
        current = None
    if current != text:
        print(f"{args.doc} is out of date: run 'python tools/gen_rules_doc.py > docs/rules.md'", file=sys.stderr)
        return 1
    print(f"{args.doc} is up to date.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
