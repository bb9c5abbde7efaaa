"""publish: the public list of official channels, for the school's website and parents."""

from __future__ import annotations


import click

from accountctl.cli import output
from accountctl.cli.common import fmt, format_options, reads
from accountctl.errors import InputError, shown


@click.command()
@click.option("--school", help="Only this school (default: every school with an active account).")
@click.option("--out", "out", metavar="FILE.html", help="Write the HTML page here ('-' for stdout).")
@format_options
@reads
def publish(reg, school, out) -> None:
    """The public list of the school's official channels: school, platform, handle and URL of active accounts.

    Only accounts parents may trust are listed: approved by SLT, linked to a school mailbox, and whose
    owner is still at the school. Each active account left out is named on stderr, with why.

    Nothing else is in it (no staff, no emails, no found accounts), apart from where parents report a
    fake page: set it with 'accountctl config set contact.SCHOOL EMAIL'. Write the page with --out, or
    print the list as JSON with --format json.

    \b
    Example:
      accountctl config set contact.oak office@oak.sch.uk
      accountctl publish --school oak --out channels.html
      accountctl publish --school oak --format json
    """
    from accountctl.cli.report import check_html_target, _write_atomically
    from accountctl.core import publish as core

    target = check_html_target(out, "the channel list") if out and out != "-" else None
    if out is None and fmt() == "table":
        raise InputError("give --out FILE.html (or --format json)")
    data, left_out = core.build(reg.db, school)
    for item in left_out:  # what a key holder wrote past the CLI's checks: never a link on the page or in the JSON
        if "reason" in item:
            output.message(f"Left out {item['account']}: {item['reason']}.")
        elif "account" in item:
            output.message(f"Left out the URL of {item['account']}: not an http(s) address ({shown(item['value'])}).")
        else:
            output.message(f"Left out {item['setting']}: not an email address ({shown(item['value'])}).")
    missing = [s["school"] for s in data["schools"] if not s["report_fakes_to"]]
    if missing:  # parents of these schools are told only to report a fake page to the platform
        output.message(
            f"No contact for reporting a fake page for {', '.join(missing)}: "
            "'accountctl config set contact.SCHOOL EMAIL' (a central team's contact stands in for schools without one)."
        )
    if out is not None:
        page = core.render_html(data, core.owner_name(reg.db, school))
        if target is None:
            click.echo(page, nl=False)
        else:
            _write_atomically(target, page)
            output.message(f"Wrote the public channel list to {target}.")
    if fmt() == "json" and out != "-":
        output.echo_json(data)
    elif fmt() == "csv" and out != "-":
        rows = [{"school": s["school"], **c} for s in data["schools"] for c in s["channels"]]
        output.rows(rows, ["school", "platform", "handle", "url"], "csv")
