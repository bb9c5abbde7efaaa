"""mailbox add|member add|member remove|list|show|sync: the mailboxes accounts are linked to, and who reads them."""

from __future__ import annotations

import click

from accountctl.cli import output
from accountctl.cli.common import fmt, format_options, global_options, reads, writes
from accountctl.core import mailboxes
from accountctl.core.access import require_custodian

LIST_COLUMNS = ["email", "school", "kind", "sign_in", "members", "accounts"]
SHOW_FIELDS = ["email", "school", "kind", "sign_in", "members", "accounts", "created_at"]


@click.group()
def mailbox() -> None:
    """The mailboxes accounts are linked to: whoever reads one can reset those accounts' passwords.

    \b
    Example:
      accountctl mailbox add office@oak.sch.uk --kind shared --school oak --sign-in blocked --member t.one@oak.sch.uk
    """


@mailbox.command("add")
@click.argument("email")
@click.option(
    "--kind", required=True, help="shared (a Microsoft 365 shared mailbox), group (a Google group) or person."
)
@click.option("--school", required=True, help="The school whose mailbox it is.")
@click.option("--sign-in", "sign_in", help="blocked (nobody signs in to it directly) or allowed.")
@click.option("--member", "members", multiple=True, help="Someone who reads it (repeatable).")
@global_options
@writes
def mailbox_add(reg, email, kind, school, sign_in, members) -> None:
    """Record a mailbox and who reads it (again: change its kind or sign-in state, add members).

    \b
    Example:
      accountctl mailbox add office@oak.sch.uk --kind shared --school oak --sign-in blocked --member t.one@oak.sch.uk
    """
    require_custodian(reg, "record mailboxes")
    box = mailboxes.add(reg.db, reg.actor, email, kind, school, sign_in, members)
    output.message(f"Recorded mailbox {box['email']}: {len(box['members'])} member(s).")


@mailbox.group("member")
def member() -> None:
    """Add or remove a person who reads a mailbox.

    \b
    Example:
      accountctl mailbox member remove office@oak.sch.uk t.one@oak.sch.uk
    """


@member.command("add")
@click.argument("email")
@click.argument("person")
@global_options
@writes
def member_add(reg, email, person) -> None:
    """Record that PERSON reads the mailbox EMAIL.

    \b
    Example:
      accountctl mailbox member add office@oak.sch.uk t.two@oak.sch.uk
    """
    require_custodian(reg, "change mailbox members")
    box = mailboxes.add_member(reg.db, reg.actor, email, person)
    output.message(f"{person.strip().lower()} now reads {box['email']}.")


@member.command("remove")
@click.argument("email")
@click.argument("person")
@global_options
@writes
def member_remove(reg, email, person) -> None:
    """Record that PERSON no longer reads the mailbox EMAIL (take them out in Microsoft 365 or Google first).

    \b
    Example:
      accountctl mailbox member remove office@oak.sch.uk t.one@oak.sch.uk
    """
    require_custodian(reg, "change mailbox members")
    box = mailboxes.remove_member(reg.db, reg.actor, email, person)
    output.message(f"{person.strip().lower()} no longer reads {box['email']}.")


@mailbox.command("list")
@click.option("--school", help="Only this school.")
@format_options
@reads
def mailbox_list(reg, school) -> None:
    """List mailboxes, their members and the accounts linked to each.

    \b
    Example:
      accountctl mailbox list --school oak
    """
    output.rows(mailboxes.list_mailboxes(reg.db, school), LIST_COLUMNS, fmt())


@mailbox.command("show")
@click.argument("email")
@format_options
@reads
def mailbox_show(reg, email) -> None:
    """Show a mailbox: its kind, sign-in state, members and the accounts linked to it.

    \b
    Example:
      accountctl mailbox show office@oak.sch.uk
    """
    output.record(mailboxes.get_mailbox(reg.db, email), fmt(), SHOW_FIELDS)


@mailbox.command("sync")
@click.argument("email")
@click.argument("file", type=click.Path(dir_okay=False))
@global_options
def mailbox_sync(email, file) -> None:
    """Make the recorded members of a mailbox those a directory export lists.

    \b
    Reads (recognised from the header):
      GAM:       gam print group-members group office@oak.sch.uk > members.csv
      Exchange:  Get-MailboxPermission office@oak.sch.uk | Export-Csv members.csv -NoTypeInformation
    A bad row refuses the whole file, naming its line.

    \b
    Example:
      accountctl mailbox sync office@oak.sch.uk members.csv
    """
    from accountctl.cli.common import session
    from accountctl.cli.directory import read_text_file

    kind, people = mailboxes.parse_members(read_text_file(file), email)  # refused before any passphrase
    with session(write=True) as reg:
        require_custodian(reg, "sync mailbox members")
        result = mailboxes.sync(reg.db, reg.actor, email, people)
    output.message(
        f"{result['mailbox']} ({kind} export): {len(result['added'])} added, {len(result['removed'])} removed; "
        f"{len(result['members'])} member(s)."
    )
