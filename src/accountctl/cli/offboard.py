"""offboard; staff leave|move|sync."""

from __future__ import annotations

import click

from accountctl.cli import giveway, output
from accountctl.cli.common import fmt, format_options, reads_findings, session
from accountctl.cli.directory import DATES_OPTION, read_text_file, staff
from accountctl.core import access
from accountctl.core.access import require_custodian

ITEM_COLUMNS = ["kind", "account", "school", "field", "set_at", "outstanding", "step", "command"]
# On a narrow screen a step keeps what and where in the table; its command goes whole on its own line.
ITEM_PRIORITIES = giveway.Priorities(
    keep=("account", "kind", "outstanding", "field", "school", "set_at"), below=("step", "command"), bare=("command",)
)


def print_checklist(result: dict) -> None:
    """The offboarding checklist in the chosen format (JSON: the whole result)."""
    if fmt() == "json":
        output.record(result, "json")
        return
    output.rows(result["items"], ITEM_COLUMNS, fmt(), priorities=ITEM_PRIORITIES)
    if fmt() == "table":
        who = f"{result['email']} ({result['status']}" + (f" {result['left_on']}" if result["left_on"] else "") + ")"
        if result["leaver"] or result["mover"]:
            output.message(f"{who}: {result['outstanding']} outstanding of {result['holdings']} holding(s).")
        else:
            output.message(f"{who}: {result['holdings']} holding(s); not a leaver or mover, so nothing is outstanding.")


@click.command()
@click.argument("email", required=False)
@click.option(
    "--leaving-before",
    "leaving_before",
    metavar="YYYY-MM-DD",
    help="Instead of one person: everyone leaving on or before this date (the summer handover).",
)
@click.option("--school", help="With --leaving-before: only this school's staff.")
@format_options
@click.pass_context
@reads_findings
def offboard(reg, ctx, email, leaving_before, school) -> None:
    """What a person holds; for a leaver or mover, each outstanding step and its command (exit 1 until done).

    With --leaving-before DATE, one checklist for everyone leaving on or before DATE, grouped by person.

    \b
    Example:
      accountctl offboard t.one@oak.sch.uk --format json
      accountctl offboard --leaving-before 2027-07-23 --school oak
    """
    from accountctl.core import offboarding

    if bool(email) == bool(leaving_before):
        raise click.UsageError("give either EMAIL or --leaving-before DATE")
    if school and not leaving_before:
        raise click.UsageError("--school goes with --leaving-before")
    if leaving_before:
        batch = offboarding.leaving_before(reg.db, leaving_before, school)
        _print_batch(batch)
        if batch["outstanding"]:
            ctx.exit(1)
        return
    result = offboarding.offboard(reg.db, email)
    print_checklist(result)
    if (result["leaver"] or result["mover"]) and result["outstanding"]:
        ctx.exit(1)


def _print_batch(batch: dict) -> None:
    if fmt() == "json":
        output.record(batch, "json")
        return
    if fmt() == "csv":
        rows = [{"email": p["email"], "left_on": p["left_on"], **item} for p in batch["people"] for item in p["items"]]
        output.rows(rows, ["email", "left_on", *ITEM_COLUMNS], "csv")
        return
    if not batch["people"]:
        output.message(f"Nobody is leaving on or before {batch['leaving_before']}.")
        return
    for person in batch["people"]:
        line = f"{person['email']} ({person['name'] or ''}), leaving {person['left_on']}: {person['outstanding']} outstanding"
        width = output.screen_width()
        output.echo_text("\n".join(giveway.wrap_whole(line, width) if width else [line]))
        if person["items"]:
            output.rows(person["items"], ITEM_COLUMNS, "table", priorities=ITEM_PRIORITIES)
        click.echo("")
    output.message(
        f"{len(batch['people'])} leaver(s) by {batch['leaving_before']}: {batch['outstanding']} step(s) outstanding."
    )


@staff.command("leave")
@click.argument("email")
@click.option(
    "--on", "on", required=True, metavar="YYYY-MM-DD", help="Leaving date (a future date: an upcoming leaver)."
)
@format_options
def staff_leave(email, on) -> None:
    """Mark a leaver, then print what they still hold (as `offboard`).

    \b
    Example:
      accountctl staff leave t.one@oak.sch.uk --on 2026-12-19
    """
    from accountctl.core import directory
    from accountctl.core.offboarding import offboard as core_offboard

    with session(write=True) as reg:
        require_custodian(reg, "record leavers")
        row = directory.leave(reg.db, reg.actor, email, on)
        result = core_offboard(reg.db, row["email"])
    output.message(f"Recorded {row['email']} as leaving on {row['left_on']}.")
    print_checklist(result)


@staff.command("move")
@click.argument("email")
@click.option("--school", "school_id", required=True, help="The school they move to.")
@click.option("--on", "on", metavar="YYYY-MM-DD", help="Date of the move (default today).")
@format_options
def staff_move(email, school_id, on) -> None:
    """Move a member of staff to another school; their roles at the old school become outstanding.

    \b
    Example:
      accountctl staff move t.one@oak.sch.uk --school elm
    """
    from accountctl.core import directory
    from accountctl.core.offboarding import offboard as core_offboard

    with session(write=True) as reg:
        require_custodian(reg, "record movers")
        row = directory.move(reg.db, reg.actor, email, school_id, on)
        rotated = access.moved(reg, row["email"], row["moved_from"], row["school"])
        result = core_offboard(reg.db, row["email"])
    output.message(f"Recorded {row['email']} moving from {row['moved_from']} to {row['school']}.")
    if rotated:
        output.message(
            f"Their key slot now reads {row['school']} instead of {', '.join(rotated)}, whose keys were replaced: "
            "a key they kept opens nothing written from now on."
        )
    print_checklist(result)


@staff.command("sync")
@click.argument("file", type=click.Path(dir_okay=True))
@click.option("--school", "school_id", required=True, help="The school whose full roster FILE is.")
@click.option("--apply", "do_apply", is_flag=True, help="Record the changes (without it, only show them).")
@click.option(
    "--left-on",
    metavar="YYYY-MM-DD",
    help="Leaving date for staff missing from the roster or suspended in the directory (default today).",
)
@click.option(
    "--rejoin", is_flag=True, help="With --apply, also reinstate people recorded as left who are on the roster again."
)
@DATES_OPTION
@format_options
def staff_sync(file, school_id, do_apply, left_on, rejoin, dates) -> None:
    """Compare a school's full roster with the register: joiners, leavers, movers, changes.

    FILE is recognised from its header: the staff CSV (email,name,school,roles,trained_on,policy_ack),
    a Google Workspace GAM export (primaryEmail,name.fullName,suspended; suspended users are leavers)
    or a Microsoft Entra "Download users" CSV (userPrincipalName,displayName,accountEnabled; disabled
    users are leavers). From GAM and Entra, users not on the school's domains are left out.

    \b
    Example:
      gam print users fields primaryEmail,name.fullName,suspended > users.csv
      accountctl staff sync users.csv --school oak            # show joiners, leavers, changes
      accountctl staff sync users.csv --school oak --apply    # record them
      accountctl staff sync exportUsers.csv --school oak      # Entra: Users > All users > Download users
    """
    from accountctl import clock
    from accountctl.core import directory, roster

    text = read_text_file(file)
    with session(write=do_apply) as reg:
        require_custodian(reg, "apply a roster" if do_apply else "compare a roster with the register")
        school_row = directory.get_school(reg.db, school_id)
        school = school_row["id"]
        day = clock.parse_date(left_on, "--left-on").isoformat() if left_on else clock.today().isoformat()
        kind, entries = roster.parse(text, school, dates)
        ignored = 0
        if kind in roster.DIRECTORY_EXPORTS:
            entries, ignored = roster.on_school_domains(entries, school_row["domains"])
        from accountctl.cli.progress import Progress

        with Progress("Comparing the roster") as progress:
            changes = roster.plan(reg.db, school, entries, day, progress)
        applied = roster.apply(reg.db, reg.actor, school, changes, rejoin=rejoin) if do_apply and changes else []
    done = {id(c) for c in applied}
    rows = [
        {"change": c.change, "email": c.email, "name": c.name, "detail": c.detail, "applied": id(c) in done}
        for c in changes
    ]
    output.rows(
        rows,
        ["change", "email", "name", "detail", "applied"],
        fmt(),
        json_data={"school": school, "format": kind, "applied": do_apply, "ignored": ignored, "changes": rows},
    )
    if fmt() == "table":
        counts = {k: sum(1 for c in changes if c.change == k) for k in ("join", "rejoin", "move", "update", "leave")}
        summary = ", ".join(f"{v} {k}" for k, v in counts.items() if v) or "no changes"
        output.message(
            f"{'Applied' if do_apply else 'Would apply (use --apply)'}: {summary} ({len(entries)} on the {kind} roster"
            + (f"; ignored {ignored} not on {school}'s domains" if ignored else "")
            + ")."
        )
        held = [c.email for c in changes if c.change == "rejoin" and (not do_apply or not rejoin)]
        if held:
            output.message(
                f"Not reinstated: {', '.join(held)} left but are on the roster; "
                "if they have really come back, run again with --apply --rejoin."
            )
