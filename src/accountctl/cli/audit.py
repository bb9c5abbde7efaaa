"""audit, rules, waive, review, monitor, config show|set."""

from __future__ import annotations

import click

from accountctl.cli import giveway, output
from accountctl.cli.common import fmt, format_options, global_options, reads, reads_findings, writes, writes_one
from accountctl.core.access import require_custodian

FINDING_COLUMNS = ["rule", "severity", "account", "school", "message", "fix", "waived"]
# On a narrow screen a finding keeps its rule, account and message in the table; its fix goes on its own line.
SEVERITY_COLOURS = {"error": "red", "warning": "yellow"}  # a finding's row on a terminal, by its severity
RULE_PRIORITIES = giveway.Priorities(keep=("id", "severity", "name"))  # the rest, sentences, under each rule
FINDING_PRIORITIES = giveway.Priorities(keep=("rule", "account", "severity", "message", "school"), below=("fix",))


@click.command()
@click.option("--school", help="Only this school's accounts.")
@click.option("--as-of", "as_of", metavar="YYYY-MM-DD", help="Audit as if today were this date.")
@click.option(
    "--fail-on",
    type=click.Choice(["error", "warning", "info"]),
    default="error",
    show_default=True,
    help="Exit 1 when an unwaived finding is at or above this severity.",
)
@click.option("--rule", "rules", multiple=True, metavar="RULE", help="Only this rule (repeatable).")
@click.option(
    "--severity",
    type=click.Choice(["error", "warning", "info"]),
    help="Only findings at this severity or above (warning: warnings and errors).",
)
@click.option("--account", "account_id", metavar="ID", help="Only this account's findings.")
@click.option("--summary", "overview", is_flag=True, help="Counts by rule and by school instead of each finding.")
@format_options
@click.pass_context
@reads_findings
def audit(reg, ctx, school, as_of, fail_on, rules, severity, account_id, overview) -> None:
    """Check every account against the policy: what is wrong, why, and how to fix it.

    \b
    Example:
      accountctl audit --school oak --fail-on warning --json
      accountctl audit --summary                      # a trust's thousands of findings, by rule and school
      accountctl audit --severity error --account oak-facebook-oakprimary
    """
    from accountctl.core import audit as core
    from accountctl.core.directory import get_school
    from accountctl.errors import InputError, shown
    from accountctl.model import did_you_mean

    day = core.as_of_from(as_of)
    chosen = []
    for r in rules:
        rule_id = r.strip().upper()
        if rule_id not in core.RULES:
            raise InputError(f"unknown rule {shown(r)}{did_you_mean(rule_id, core.RULES)}; see 'accountctl rules'")
        if rule_id not in chosen:  # a rule given twice is still applied once
            chosen.append(rule_id)
    school_id = get_school(reg.db, school)["id"] if school is not None else None  # --school "" is unknown
    if account_id is not None:
        from accountctl.core.lookup import get_account

        account_id = get_account(reg.db, account_id)["id"]
    snap = core.load(reg.db, day, school=school_id, vault=reg.is_custodian)
    findings, skipped = core.run(snap, core.waivers_in_force(reg.db, day), chosen or None)
    findings = core.select(findings, severity, account_id)
    summary = core.summarize(findings, snap, skipped, fail_on, chosen or list(core.RULES))
    summary["severity"], summary["account"] = severity, account_id
    # The trust's own clause references, once it has set any: a column beside each finding.
    with_clause = any(k.startswith("clause.") for k in snap.settings)
    del snap  # freed before the findings are written out (about 40 MB at 10,000 accounts)
    if overview:
        _print_overview(summary, core.overview(findings))
    elif fmt() == "json":
        output.record({"summary": summary, "findings": findings}, "json")
    else:
        output.rows(
            findings,
            FINDING_COLUMNS + (["clause"] if with_clause else []),
            fmt(),
            priorities=FINDING_PRIORITIES,
            colour=SEVERITY_COLOURS,
        )
        reasons: dict[str, list[str]] = {}
        for item in skipped:
            reasons.setdefault(item["reason"], []).append(item["rule"])
        for reason, skipped_rules in reasons.items():  # one line, e.g. for both password rules
            output.message(f"Skipped {', '.join(skipped_rules)}: {reason}.")
    if fmt() == "table":
        c, u = summary["counts"], summary["unwaived"]
        output.message(
            f"Audited {summary['accounts_audited']} account(s) as of {summary['as_of']}: "
            f"{c['error']} error(s), {c['warning']} warning(s), {c['info']} info "
            f"({summary['waived']} waived; {u['error']} error(s) unwaived)."
        )
    if summary["failed"]:
        ctx.exit(1)


def _print_overview(summary: dict, counts: dict) -> None:
    """`audit --summary`: by rule, then by school (JSON: both; CSV: one row per rule and school, to pivot)."""
    if fmt() == "json":
        output.record({"summary": summary, "by_rule": counts["by_rule"], "by_school": counts["by_school"]}, "json")
    elif fmt() == "csv":
        output.rows(counts["by_rule_school"], ["rule", "school", "findings", "unwaived"], "csv")
    else:
        output.rows(
            counts["by_rule"],
            ["rule", "severity", "findings", "unwaived", "accounts", "schools"],
            "table",
            colour=SEVERITY_COLOURS,
        )
        click.echo("")
        output.rows(counts["by_school"], ["school", "findings", "unwaived", "error", "warning", "info"], "table")


@click.command()
@click.option("--sources", is_flag=True, help="Also name the published school policies each rule is drawn from.")
@format_options
def rules(sources) -> None:
    """Every audit rule: id, plain name, severity, the principle in plain words, and the trust's own clause
    reference where one is set ('config set clause.RULE ...'; read from the register when there is one).

    \b
    Example:
      accountctl rules --sources --format csv
    """
    from accountctl.cli.common import register_path, session
    from accountctl.core import config
    from accountctl.core.audit import rules_table

    settings: dict[str, str] = {}
    from accountctl.store import register as store

    if store.exists(register_path()):  # with no register yet, the rules still read without the trust's clauses
        with session() as reg:
            settings = config.load(reg.db)
    table = rules_table(settings)
    columns = ["id", "name", "severity", "principle", "checks", "clause"] + (["sources"] if sources else [])
    output.rows(
        table,
        columns,
        fmt(),
        json_data=[{k: v for k, v in r.items() if sources or k != "sources"} for r in table],
        priorities=RULE_PRIORITIES,
    )


@click.command()
@click.argument("args", nargs=-1, metavar="ID RULE | --trust RULE")
@click.option(
    "--trust", "trust_rule", metavar="RULE", help="A finding about the whole register (SINGLE_CUSTODIAN, ...)."
)
@click.option("--reason", required=True, help="Why SLT accepts the finding (kept with the waiver and in the history).")
@click.option("--until", required=True, metavar="YYYY-MM-DD", help="At most one year ahead.")
@global_options
@writes
def waive(reg, args, trust_rule, reason, until) -> None:
    """Accept one finding for one account until a date (SLT of its school, or the CEO).

    A finding about the whole register (SINGLE_CUSTODIAN, POLICY_REVIEW_OVERDUE) is waived with
    --trust RULE, by the CEO (or SLT where the register holds one school).

    \b
    Examples:
      accountctl --as head@oak.sch.uk waive oak-x-oakpe ONE_FACULTY_ONE_STAFF --reason "PE pilot" --until 2027-07-31
      accountctl --as ceo@trust.org.uk waive --trust SINGLE_CUSTODIAN --reason "Second technician starts in May" \\
        --until 2027-05-31
    """
    from accountctl.core import oversight
    from accountctl.errors import InputError

    if trust_rule is not None:
        if args:
            raise InputError("waive --trust RULE takes no account id")
        result = oversight.waive_trust(reg.db, reg.actor, trust_rule, reason, until)
        output.message(f"Waived {result['rule']} for the whole register until {result['until']}.")
        return
    if len(args) != 2:
        raise InputError("waive ID RULE --reason T --until DATE (or: waive --trust RULE ...)")
    result = oversight.waive(reg.db, reg.actor, args[0], args[1], reason, until)
    output.message(f"Waived {result['rule']} on {result['account']} until {result['until']}.")


@click.command()
@click.argument("account_id", metavar="ID")
@click.option("--note", help="What the review found.")
@global_options
@writes
def review(reg, account_id, note) -> None:
    """Record SLT's annual review of an account.

    \b
    Example:
      accountctl --as head@oak.sch.uk review oak-facebook-oakprimary --note "Still needed"
    """
    from accountctl.core import oversight

    result = oversight.review(reg.db, reg.actor, account_id, note)
    output.message(f"Reviewed {result['account']} on {result['reviewed_on']}.")


@click.command()
@click.argument("account_id", metavar="ID")
@click.option("--note", help="What the check found.")
@click.option("--last-post", metavar="YYYY-MM-DD", help="When it last posted (DORMANT after window.DORMANT days).")
@click.option(
    "--consent-checked",
    is_flag=True,
    help="Recent posts were checked against the consent and no-photo lists (which stay in the school's systems).",
)
@global_options
@writes_one
def monitor(reg, account_id, note, last_post, consent_checked) -> None:
    """Record a monitoring check (an admin of the account, or a custodian).

    \b
    Examples:
      accountctl monitor oak-facebook-oakprimary --note "Replied to two comments"
      accountctl monitor oak-facebook-oakprimary --consent-checked
    """
    from accountctl.core import oversight

    result = oversight.monitor(
        reg.db, reg.actor, account_id, reg.is_custodian, note, last_post=last_post, consent_checked=consent_checked
    )
    output.message(
        f"Recorded a monitoring check of {result['account']} on {result['monitored_on']}"
        + (", and the pupil-images consent check." if consent_checked else ".")
    )


@click.group("config")
def config_group() -> None:
    """Guideline limits, the policy's version and review date, periods, minimum ages, the trust's own clauses.

    \b
    Example:
      accountctl config set limit.facebook.faculty 2
    """


@config_group.command("show")
@format_options
@reads
def config_show(reg) -> None:
    """Show every setting.

    \b
    Example:
      accountctl config show
    """
    from accountctl.core import access, config

    access.require_custodian(reg, "show the settings")

    settings = config.load(reg.db)
    rows = [{"key": k, "value": v, "meaning": config.describe(k)} for k, v in settings.items()]
    if fmt() == "json":
        output.record(settings, "json")
    else:
        output.rows(rows, ["key", "value", "meaning"], fmt())


def _config_set_help() -> str:
    from accountctl.core import config

    keys = "\n".join(f"  {k:<24} {config.DESCRIPTIONS[k]}" for k in config.DESCRIPTIONS)
    return (
        "Change one setting (KEY VALUE).\n\n\b\nKeys:\n" + keys + "\n"
        f"  {'limit.PLATFORM.CATEGORY':<24} a guideline limit for one platform, e.g. limit.facebook.faculty\n"
        f"  {'min_age.PLATFORM':<24} youngest pupils an account on that platform may be aimed at (default 13, linkedin "
        "and vimeo 16)\n"
        f"  {'access.PLATFORM':<24} how people get into a new account there: login, roles or group (facebook, "
        "linkedin, youtube: roles; whatsapp: group)\n"
        f"  {'clause.RULE':<24} your policy's own clause for a rule, shown by rules, audit and report\n\n"
        "\b\nExample:\n  accountctl config set policy_version 2026.1\n"
        "  accountctl config set policy.reviewed_on 2026-09-15\n"
        '  accountctl config set clause.TWO_ADMINS "Social Media Policy 4.2"'
    )


@config_group.command("set", help=_config_set_help())
@click.argument("key")
@click.argument("value")
@global_options
@writes
def config_set(reg, key, value) -> None:
    from accountctl.core import config

    require_custodian(reg, "change settings")
    key, value = config.set_value(reg.db, reg.actor, key, value)
    output.message(f"{key} = {value}")
