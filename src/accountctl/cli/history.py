"""log, verify, export."""

from __future__ import annotations

import click

from accountctl.cli import output
from accountctl.cli.common import fmt, format_options, reads_events, reads_history, reads_unchecked
from accountctl.core import events
from accountctl.core.lookup import get_account
from accountctl.core.export import export as export_register


@click.command("log")
@click.option("--account", help="Only this account's events.")
@click.option("--limit", type=click.IntRange(min=1), help="Only the last N events.")
@format_options
@reads_events
def log(reg, account, limit) -> None:
    """The history: who did what to which record, when.

    \b
    Example:
      accountctl log --account huxley-facebook-huxleyprimary
    """
    if account is not None:
        get_account(reg.db, account)  # an unknown id is refused (with the nearest ones), not an empty history
    from accountctl.core import incidents

    items = incidents.withholding(
        reg.db, reg.actor, reg.is_custodian, events.each_event(reg.db, account=account, limit=limit)
    )
    if fmt() != "table":  # written as read: the whole history is 72,000 events at the large trust
        output.rows(items, ["seq", "at", "actor", "action", "target", "account", "details"], fmt())
        return
    output.rows(
        [
            {
                "seq": e["seq"],
                "at": e["at"],
                "actor": e["actor"],
                "action": e["action"],
                "target": _target(e),
                "details": details_text(e["details"]),
            }
            for e in items
        ],
        ["seq", "at", "actor", "action", "target", "details"],
        "table",
        one_line=["details"],
    )


def _target(event: dict) -> str | None:
    """The event's target, and its account when that is another record (a person added to an account)."""
    target, account = event["target"], event["account"]
    if account and target and account != target:
        return f"{target} on {account}"
    return target or account


def details_text(details: dict) -> str:
    """An event's details as `key=value; ...` for a table: lists joined, changes as `from -> to`, nulls left out."""
    parts = []
    for key, value in details.items():
        if value is None:
            continue
        if isinstance(value, dict) and set(value) == {"from", "to"}:
            value = f"{value['from']} -> {value['to']}"
        elif isinstance(value, (list, tuple)):
            value = ", ".join(str(v) for v in value) or "none"
        elif isinstance(value, dict):
            value = output.to_json(value)
        parts.append(f"{key}={value}")
    return "; ".join(parts)


@click.command()
@format_options
@click.pass_context
@reads_unchecked
def verify(reg, ctx) -> None:
    """Check the history's chain and signatures, every decision and the last save; exit 1 on a problem.

    \b
    Example:
      accountctl verify
    """
    from accountctl.core import verification

    from accountctl.store.db import check

    check(reg.db, full=True)
    whole = getattr(reg, "history_check", None)  # format 5 checks its chain of skeletons itself
    history = whole() if whole is not None else None
    problems = verification.verify(reg.db, reg.membership, reg.file_id, reg.save_problems(), history)
    result = {
        "ok": not problems,
        "events": reg.count_events(),
        "approvals": reg.db.execute("SELECT count(*) FROM approvals").fetchone()[0],
        "problems": problems,
    }
    if fmt() == "json":
        output.record(result, "json")
    elif fmt() == "csv":
        output.rows([{"problem": p} for p in problems], ["problem"], "csv")
    else:
        for problem in problems:
            output.echo_text(problem)
        output.message(
            f"{'OK' if not problems else 'FAILED'}: {result['events']} events, "
            f"{result['approvals']} approvals checked, {len(problems)} problem(s)."
        )
    if problems:
        ctx.exit(1)


@click.command()
@click.option("--out", type=click.Path(dir_okay=False), help="Write to this file instead of stdout.")
@click.option(
    "--asset-register",
    type=click.Path(dir_okay=False),
    help="Write FILE.csv instead: one row per account for the trust's asset and information-asset registers.",
)
@format_options
@reads_history
def export(reg, out, asset_register) -> None:
    """The register without secrets, as JSON (schemas/register-export.schema.json).

    \b
    Examples:
      accountctl export --out register.json
      accountctl export --asset-register assets.csv
    """
    if asset_register:
        from accountctl.cli.safeguarding import write_asset_register

        write_asset_register(reg, asset_register)
        return
    from accountctl.core import incidents

    data = export_register(reg.db)
    data["events"] = incidents.withholding(reg.db, reg.actor, reg.is_custodian, data["events"])
    if out:  # written in pieces, the events as they are read: 65 MB of JSON at the large trust
        with open(out, "w", encoding="utf-8") as handle:
            handle.writelines(output.iter_json(data))
            handle.write("\n")
        output.message(f"Exported to {out}.")
    else:
        output.echo_json(data)
