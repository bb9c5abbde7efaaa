"""demo: a sample trust register with realistic problems, audited."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from accountctl.cli import output
from accountctl.errors import InputError


@click.command()
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the demo register (default: a new temporary folder).",
)
def demo(folder: Path | None) -> None:
    """Build a sample trust register with realistic problems and audit it.

    \b
    Example:
      accountctl demo --dir ~/accountctl-demo
    """
    from accountctl.core import audit, demo as core
    from accountctl.store.register import open_register

    folder = Path(tempfile.mkdtemp(prefix="accountctl-demo-")) if folder is None else folder.expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "demo.accountctl"
    if path.exists():
        raise InputError(f"{path} already exists; choose another --dir or delete it")
    from accountctl.store import register as store

    facts = core.build(path, store)
    _each_school_its_own(path, facts)
    click.echo(f"Built the Oakfield Learning Trust sample register: {path}")
    click.echo(f"Every demo person's passphrase: {facts['passphrase']}")
    click.echo(f"You are the IT custodian, {facts['custodian']}. Here is the audit a technician would run:")
    click.echo("")
    # Opened as `verify` opens it (check=False: every check from the start), for the line on its history.
    unlock = dict(passphrase_source=lambda: facts["passphrase"], use_keyring=False, history=True, check=False)
    with open_register(path, actor=facts["custodian"], **unlock) as reg:
        snap = audit.load(reg.db, audit.as_of_from(None), vault=True)
        findings, _ = audit.run(snap, audit.waivers_in_force(reg.db, snap.as_of))
        trail = _trail(reg)
    from accountctl.cli.audit import FINDING_COLUMNS, FINDING_PRIORITIES, SEVERITY_COLOURS

    output.rows(
        findings,
        [c for c in FINDING_COLUMNS if c != "waived"] + ["clause"],
        "table",
        priorities=FINDING_PRIORITIES,
        colour=SEVERITY_COLOURS,
    )
    counts = {s: sum(1 for f in findings if f["severity"] == s) for s in audit.SEVERITIES}
    click.echo("")
    click.echo(trail)
    click.echo(_who_sees_what(path, facts))
    click.echo(
        f"{counts['error']} errors, {counts['warning']} warnings, {counts['info']} info across "
        f"{len(snap.accounts)} accounts. Try next (in a shell):"
    )
    quote = (lambda s: f"'{s}'") if os.name != "nt" else (lambda s: f'"{s}"')
    # The passphrase is never put in a command line to copy: it would land in the shell's history.
    click.echo(
        f"  export ACCOUNTCTL_REGISTER={quote(str(path))} ACCOUNTCTL_USER={facts['custodian']}"
        "   # each command then asks for the passphrase"
    )
    click.echo("  accountctl audit --summary                                 # the findings counted by rule and school")
    click.echo(f"  accountctl audit --severity error --account {facts['legacy_account']}   # one account's errors")
    click.echo(f"  accountctl offboard {facts['leaver']}                      # what the leaver still holds (exit 1)")
    click.echo(f"  accountctl account show {facts['legacy_account']}           # the unapproved legacy account")
    click.echo(f"  accountctl --as {facts['head']} approve {facts['pending']}   # approve as the headteacher")
    click.echo(
        f"  accountctl account gone {facts['closed']}            # deleted on the platform: destroy its credentials"
    )
    click.echo(
        "  accountctl login --agent                                   # unlock once: the agent answers from now on"
    )
    click.echo(
        f'  accountctl cred show {facts["live"]} --field password --reason "Handover"  # the reveal is recorded, never the value'
    )
    click.echo(
        f"  accountctl incident show {facts['allegation']}   # an allegation about a member of staff, routed to the LADO"
    )
    click.echo(
        f"  accountctl incident show {facts['breach']}   # a breach the DPO decided within 72 hours of discovery"
    )
    click.echo("  accountctl incident list --kind breach --format csv   # the breach log, the unreported one included")
    click.echo("  accountctl platform list   # the DPIAs: Facebook has one, the other platforms in use do not")
    click.echo(
        f"  accountctl incident show {facts['erased']}   # an incident whose text was erased; verify still passes"
    )


def _each_school_its_own(path: Path, facts: dict) -> None:
    """Upgrade the sample register to format 5, a key per school, as a custodian would (`vault upgrade --yes`)."""
    from accountctl.core.access import default_schools
    from accountctl.store.register import upgrade5

    unlock = lambda: facts["passphrase"]  # noqa: E731
    planned = upgrade5.plan(path, facts["custodian"], unlock, {}, default_schools)
    upgrade5.apply(path, planned)


def _who_sees_what(path: Path, facts: dict) -> str:
    """One line showing it: what Brookside's head opens, against what the custodian does."""
    from accountctl.core import demo as core
    from accountctl.store.register import open_register

    counts = {}
    for who in (facts["custodian"], core.HEADS["brookside"]):
        with open_register(path, actor=who, passphrase_source=lambda: facts["passphrase"], use_keyring=False) as reg:
            counts[who] = (reg.db.execute("SELECT count(*) FROM incidents").fetchone()[0], len(reg.schools))
    total, schools = counts[facts["custodian"]]
    seen, own = counts[core.HEADS["brookside"]]
    return (
        f"Each school sees its own: Brookside's head ({core.HEADS['brookside']}) opens {own} of {schools} schools "
        f"and sees {seen} of the trust's {total} incidents, all Oakfield's; the custodian and the CEO see every "
        "school (accountctl --as that head incident list)."
    )


def _trail(reg) -> str:
    """One line on the signed history: who holds slots, and whether every signature checks out."""
    from accountctl.core import verification
    from accountctl.model import ALL_EVENTS

    whole = getattr(reg, "history_check", None)  # format 5 checks its chain of skeletons itself
    problems = verification.verify(
        reg.db, reg.membership, reg.file_id, reg.save_problems(), whole() if whole is not None else None
    )
    events = reg.db.execute(f"SELECT count(*) FROM {ALL_EVENTS}").fetchone()[0]
    decisions = reg.db.execute("SELECT count(*) FROM approvals").fetchone()[0]
    people = len(reg.membership.members)
    state = "all signatures check out" if not problems else f"{len(problems)} problem(s): run accountctl verify"
    return (
        f"History: {events} events and {decisions} decisions, each signed by the person who made it; "
        f"{people} people hold key slots, each by a custodian-signed grant ({state})."
    )
