"""incident open|step|close|list|show."""

from __future__ import annotations

import click

from accountctl.cli import output
from accountctl.cli.common import fmt, format_options, global_options, reads, writes
from accountctl.core import incidents

LIST_COLUMNS = ["id", "account", "school", "kind", "status", "opened_at", "opened_by", "outstanding", "closed_at"]
STEP_COLUMNS = ["step", "required", "done", "done_at", "done_by", "note", "do", "command"]


@click.group()
def incident() -> None:
    """Incidents on an account: a checklist to follow, and a record that each step was done in time.

    Kinds: hijack, abuse, safeguarding, impersonation, breach (docs/incidents.md has each runbook).

    \b
    Example:
      accountctl incident open oak-facebook-oakprimary --kind hijack --summary "Posts we did not write"
    """


def checklist_text(data: dict) -> str:
    """The runbook as a person under stress reads it: each step in one line, then the command that records it."""
    esc = output.escape
    lines = [
        f"{esc(data['id'])}: {data['kind']} on {esc(data['account'])} ({data['status']}, opened {data['opened_at']} "
        f"by {esc(data['opened_by'])})",
        f"  {esc(data['summary'])}",
    ]
    for n, s in enumerate(data["checklist"], 1):
        box = "[x]" if s["done"] else "[ ]"
        optional = "" if s["required"] else " (optional)"
        lines.append(f"{box} {n}. {s['step']}{optional}: {s['do']}")
        if s["done"]:
            lines.append(
                f"       done {s['done_at']} by {esc(s['done_by'])}" + (f": {esc(s['note'])}" if s["note"] else "")
            )
        else:
            lines.append(f"       record it: {esc(s['command'])}")
    if data["status"] == "closed":
        lines.append(f"Closed {data['closed_at']} by {esc(data['closed_by'])}: {esc(data['outcome'])}")
    elif data["outstanding"]:
        lines.append(f"Still to do before it can close: {', '.join(data['outstanding'])}")
    else:
        lines.append(f"Every required step is done: accountctl incident close {esc(data['id'])} --outcome T")
    return "\n".join(lines)


def _render(data: dict) -> None:
    if fmt() == "json":
        output.echo_json(data)
    elif fmt() == "csv":
        output.rows(data["checklist"], STEP_COLUMNS, "csv")
    else:
        output.echo_text(checklist_text(data))


@incident.command("open")
@click.argument("account_id", metavar="ID")
@click.option("--kind", required=True, help="hijack, abuse, safeguarding, impersonation or breach.")
@click.option("--summary", required=True, help="What happened, in a sentence.")
@format_options
@writes
def incident_open(reg, account_id, kind, summary) -> None:
    """Record an incident on an account; prints its id, then its checklist (a hijack suspends the account).

    \b
    Example:
      accountctl incident open oak-facebook-oakprimary --kind hijack --summary "Posts we did not write"
    """
    data = incidents.open_incident(reg.db, reg.actor, account_id, kind, summary)
    if fmt() == "table":
        click.echo(data["id"])
        output.message(checklist_text(data))
    else:
        _render(data)


@incident.command("step")
@click.argument("incident_id", metavar="INC")
@click.argument("step")
@click.option("--note", help="What was done (a platform's reference, who was told).")
@global_options
@writes
def incident_step(reg, incident_id, step, note) -> None:
    """Mark one step of an incident's checklist done.

    \b
    Example:
      accountctl incident step inc-1 platform-reported --note "Meta case 123456"
    """
    data = incidents.step(reg.db, reg.actor, reg.is_custodian, incident_id, step, note)
    left = data["outstanding"]
    output.message(
        f"{data['id']}: {step.strip().lower()} done; "
        + (
            f"still to do: {', '.join(left)}."
            if left
            else f"every required step is done (close it: accountctl incident close {data['id']} --outcome T)."
        )
    )


@incident.command("close")
@click.argument("incident_id", metavar="INC")
@click.option("--outcome", required=True, help="How it ended.")
@global_options
@writes
def incident_close(reg, incident_id, outcome) -> None:
    """Close an incident; refused while a required step is open (naming it).

    \b
    Example:
      accountctl incident close inc-1 --outcome "Account recovered; no data lost"
    """
    data = incidents.close(reg.db, reg.actor, reg.is_custodian, incident_id, outcome)
    output.message(f"{data['id']} is closed.")


@incident.command("list")
@click.option("--open", "open_only", is_flag=True, help="Only incidents still open.")
@click.option("--school", help="Only this school.")
@format_options
@reads
def incident_list(reg, open_only, school) -> None:
    """List incidents, newest first, with the required steps still open.

    \b
    Example:
      accountctl incident list --open
    """
    rows = incidents.readable_list(reg.db, reg.actor, reg.is_custodian, open_only, school)
    output.rows(rows, LIST_COLUMNS, fmt())


@incident.command("show")
@click.argument("incident_id", metavar="INC")
@format_options
@reads
def incident_show(reg, incident_id) -> None:
    """Show an incident's runbook: each step, done or what to do, and the command that records it.

    \b
    Example:
      accountctl incident show inc-1
    """
    _render(incidents.read(reg.db, reg.actor, reg.is_custodian, incident_id))
