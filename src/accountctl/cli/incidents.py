"""incident open|step|close|list|show."""

from __future__ import annotations

import click

from accountctl.cli import output
from accountctl.cli.common import fmt, format_options, global_options, reads, writes
from accountctl.core import breaches, incidents

LIST_COLUMNS = ["id", "account", "school", "kind", "status", "opened_at", "opened_by", "outstanding", "closed_at"]
STEP_COLUMNS = ["step", "required", "done", "done_at", "done_by", "note", "reference", "do", "command"]
# The breach log (`incident list --kind breach`): every breach, the ones not reported to the ICO included.
BREACH_COLUMNS = [
    "id",
    "account",
    "school",
    "status",
    "discovered_at",
    "opened_at",
    "decided",
    "reportable",
    "high_risk",
    "reason",
    "decided_by",
    "decided_at",
    "ico_reference",
    "outstanding",
    "closed_at",
]
KIND_HELP = "hijack, abuse, safeguarding, impersonation, breach, allegation or illegal."


@click.group()
def incident() -> None:
    """Incidents on an account: a checklist to follow, and a record that each step was done in time.

    Kinds: hijack, abuse, safeguarding, impersonation, breach, allegation (a concern about a member of
    staff), illegal (docs/incidents.md has each runbook and the guidance it follows).

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
    if data.get("about"):
        lines.append(
            f"  About: {esc(data['about'])}"
            + (" (the headteacher: the chair of governors leads)" if data["about_head"] else "")
        )
    if data["kind"] == "breach":
        decision = data.get("decision")
        lines.append(
            f"  Discovered {data.get('discovered_at') or data['opened_at']}; the ICO must hear within 72 hours if reportable."
        )
        if decision:
            lines.append(
                f"  Decided {decision['at']} by {esc(decision['decided_by'])}: "
                + ("reportable" if decision["reportable"] else "not reportable")
                + (", high risk" if decision["high_risk"] else "")
                + f": {esc(decision['reason'])}"
            )
        else:
            lines.append(
                f"  Not yet decided: accountctl incident decide {esc(data['id'])} --reportable yes|no --reason T"
            )
    for n, s in enumerate(data["checklist"], 1):
        box = "[x]" if s["done"] else "[ ]"
        optional = "" if s["required"] else " (optional)"
        lines.append(f"{box} {n}. {s['step']}{optional}: {s['do']}")
        if s["done"]:
            lines.append(
                f"       done {s['done_at']} by {esc(s['done_by'])}"
                + (f": {esc(s['note'])}" if s["note"] else "")
                + (f" (reference {esc(s['reference'])})" if s.get("reference") else "")
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
@click.option("--kind", required=True, help=KIND_HELP)
@click.option("--summary", required=True, help="What happened, in a sentence.")
@click.option("--about", help="An allegation: the email of the member of staff it is about.")
@click.option("--discovered-at", help="A breach: when it was discovered (YYYY-MM-DD[THH:MM], UTC; default now).")
@format_options
@writes
def incident_open(reg, account_id, kind, summary, about, discovered_at) -> None:
    """Record an incident on an account; prints its id, then its checklist (a hijack suspends the account).

    \b
    Examples:
      accountctl incident open oak-facebook-oakprimary --kind hijack --summary "Posts we did not write"
      accountctl incident open oak-facebook-oakprimary --kind allegation --about t.one@oak.sch.uk --summary "..."
      accountctl incident open oak-facebook-oakprimary --kind breach --discovered-at 2026-10-01T09:30 --summary "..."
    """
    data = incidents.open_incident(reg.db, reg.actor, account_id, kind, summary, about, discovered_at)
    if fmt() == "table":
        click.echo(data["id"])
        output.message(checklist_text(data))
    else:
        _render(data)


@incident.command("step")
@click.argument("incident_id", metavar="INC")
@click.argument("step")
@click.option("--note", help="What was done (who was told, where the content is: link, date and time).")
@click.option("--reference", help="The reference it was given (the ICO's, the police's, the platform's).")
@global_options
@writes
def incident_step(reg, incident_id, step, note, reference) -> None:
    """Mark one step of an incident's checklist done (`ico-reported` needs --reference).

    \b
    Examples:
      accountctl incident step inc-1 platform-reported --note "Meta case 123456"
      accountctl incident step inc-2 ico-reported --reference IC-123456-A1B2
    """
    data = incidents.step(reg.db, reg.actor, reg.is_custodian, incident_id, step, note, reference)
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


@incident.command("decide")
@click.argument("incident_id", metavar="INC")
@click.option("--reportable", required=True, type=click.Choice(["yes", "no"]), help="Must the ICO hear of it?")
@click.option("--reason", required=True, help="Why: the risk to people, as the DPO judged it.")
@click.option("--high-risk", is_flag=True, help="High risk to people: they must be told (data-subjects-told).")
@global_options
@writes
def incident_decide(reg, incident_id, reportable, reason, high_risk) -> None:
    """The DPO's signed decision on a breach: reportable to the ICO or not, and why (SLT where no DPO is recorded).

    \b
    Example:
      accountctl incident decide inc-2 --reportable no --reason "One parent's email, sent to another parent, deleted"
    """
    data = breaches.decide(
        reg.db, reg.actor, reg.keys.signing_private, incident_id, reportable == "yes", reason, high_risk
    )
    left = data["outstanding"]
    output.message(
        f"{data['id']}: decided {'reportable' if reportable == 'yes' else 'not reportable'}"
        + (f"; still to do: {', '.join(left)}." if left else ".")
    )


@incident.command("list")
@click.option("--open", "open_only", is_flag=True, help="Only incidents still open.")
@click.option("--school", help="Only this school.")
@click.option("--kind", help="Only this kind; --kind breach is the breach log, the unreported ones included.")
@format_options
@reads
def incident_list(reg, open_only, school, kind) -> None:
    """List incidents, newest first, with the required steps still open.

    \b
    Examples:
      accountctl incident list --open
      accountctl incident list --kind breach --format csv > breach-log.csv
    """
    rows = incidents.readable_list(reg.db, reg.actor, reg.is_custodian, open_only, school, kind)
    if kind and kind.strip().lower() == "breach":
        output.rows(breaches.breach_log(rows), BREACH_COLUMNS, fmt())
    else:
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
