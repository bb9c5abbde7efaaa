"""school add|import|list, staff add|list|show|import|train."""

from __future__ import annotations

import os

import click

from accountctl.cli import giveway, output
from accountctl.cli.common import fmt, format_options, global_options, reads, session, writes
from accountctl.core import directory
from accountctl.core.csvrows import SAVE_AS
from accountctl.core.access import require_custodian
from accountctl.errors import InputError

STAFF_COLUMNS = ["email", "name", "school", "roles", "status", "left_on", "trained_on", "policy_ack"]
STAFF_PRIORITIES = giveway.Priorities(keep=("email", "name", "status", "school", "roles"))


MAX_IMPORT_BYTES = 100 * 1024 * 1024  # larger import files are refused before they are read whole


def read_text_file(path: str) -> str:
    """A UTF-8 text file's contents (a BOM dropped), or InputError naming it.

    A file over MAX_IMPORT_BYTES is refused from its size, before it is read; a pipe or device, which
    has no size, is read only up to the limit. A file in another encoding (Excel's plain "CSV" is
    Windows-1252) is refused naming the first line that is not UTF-8.
    """
    too_big = f"{path} is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB, the most accountctl imports"
    try:
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_size > MAX_IMPORT_BYTES:
                raise InputError(too_big)
            data = handle.read(MAX_IMPORT_BYTES + 1)
    except FileNotFoundError:
        raise InputError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a folder, not a file") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_IMPORT_BYTES:
        raise InputError(too_big)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(f"{path} is not UTF-8 text (line {line}); {SAVE_AS}") from None


@click.group()
def school() -> None:
    """Schools (and a trust's central team).

    \b
    Example:
      accountctl school add oak --name "Oak Primary" --domain oak.sch.uk
    """


@school.command("add")
@click.argument("school_id", metavar="ID")
@click.option("--name", required=True, help="The school's name.")
@click.option("--domain", "domains", multiple=True, required=True, help="An email domain of the school (repeatable).")
@click.option("--central", is_flag=True, help="A trust's central team: its accounts are approved by the CEO.")
@global_options
@writes
def school_add(reg, school_id: str, name: str, domains: tuple[str, ...], central: bool) -> None:
    """Add a school.

    \b
    Example:
      accountctl school add huxley --name "Huxley CE Primary" --domain huxley.sch.uk
    """
    require_custodian(reg, "add schools")
    row = directory.add_school(reg.db, reg.actor, school_id, name, list(domains), central)
    output.message(f"Added school {row['id']} ({row['name']}).")


@school.command("import")
@click.argument("file", type=click.Path(dir_okay=True))
@global_options
def school_import(file: str) -> None:
    """Add many schools from a CSV file: every row or none.

    \b
    The header (then one row a school):
      id,name,domains,central
    domains are separated by ';'; central is yes for a trust's central team (empty: no).

    \b
    Example (docs/examples/schools.csv):
      accountctl school import docs/examples/schools.csv
    """
    text = read_text_file(file)
    with session(write=True) as reg:
        require_custodian(reg, "add schools")
        added = directory.import_schools(reg.db, reg.actor, text)
    output.message(f"Imported {len(added)} school(s).")


@school.command("list")
@format_options
@reads
def school_list(reg) -> None:
    """List schools.

    \b
    Example:
      accountctl school list --format csv
    """
    output.rows(directory.list_schools(reg.db), ["id", "name", "domains", "central"], fmt())


@school.command("update")
@click.argument("school_id", metavar="ID")
@click.option("--add-domain", "add_domains", multiple=True, help="Another email domain of the school (repeatable).")
@click.option("--remove-domain", "remove_domains", multiple=True, help="A domain it no longer uses (repeatable).")
@click.option("--name", help="The school's new name.")
@click.option("--digital-lead", help="The SLT member who leads on digital and technology (DfE standards).")
@click.option("--link-governor", help="The governor linked to digital and technology (role governor or chair).")
@global_options
@writes
def school_update(reg, school_id: str, add_domains, remove_domains, name, digital_lead, link_governor) -> None:
    """Add or remove a school's email domains, rename it, or name its digital lead and link governor.

    A domain a live account still uses stays. The governors' report shows the digital lead and the
    link governor.

    \b
    Example:
      accountctl school update oak --add-domain oakacademy.org.uk
      accountctl school update oak --digital-lead head@oak.sch.uk --link-governor g.ov@oak.sch.uk
    """
    from accountctl.core import dataprotection

    leads = digital_lead is not None or link_governor is not None
    if not (add_domains or remove_domains or name is not None or leads):
        raise InputError(
            "nothing to change: give --add-domain, --remove-domain, --name, --digital-lead or --link-governor"
        )
    if add_domains or remove_domains or name is not None:
        require_custodian(reg, "change schools")
        row = directory.update_school(reg.db, reg.actor, school_id, add_domains, remove_domains, name)
        output.message(f"{row['id']} ({row['name']}): domains {', '.join(row['domains'])}.")
    if leads:
        row = dataprotection.set_leads(reg.db, reg.actor, reg.is_custodian, school_id, digital_lead, link_governor)
        lead, governor = row["digital_lead"] or "(none)", row["link_governor"] or "(none)"
        output.message(f"{row['school']}: digital lead {lead}, link governor {governor}.")


@click.group()
def staff() -> None:
    """The staff directory: add, import, train, leave, move, sync.

    \b
    Example:
      accountctl staff import staff.csv
    """


@staff.command("add")
@click.argument("email")
@click.option("--name", required=True, help="Their full name, as colleagues know it.")
@click.option("--school", "school_id", required=True, help="School id.")
@click.option(
    "--role",
    "roles",
    multiple=True,
    help="slt, headteacher, ceo, it, staff, volunteer, dsl, dpo, governor or chair (repeatable; default staff).",
)
@click.option("--trained-on", metavar="YYYY-MM-DD", help="Date of social-media policy training.")
@click.option("--policy-ack", metavar="VERSION", help="Policy version acknowledged.")
@global_options
@writes
def staff_add(reg, email, name, school_id, roles, trained_on, policy_ack) -> None:
    """Add a member of staff.

    \b
    Example:
      accountctl staff add head@huxley.sch.uk --name "Hana Head" --school huxley --role headteacher --role slt
    """
    require_custodian(reg, "add staff")
    row = directory.add_staff(reg.db, reg.actor, email, name, school_id, roles, trained_on, policy_ack)
    output.message(f"Added {row['email']} to {row['school']}.")


DATES_OPTION = click.option(
    "--dates",
    type=click.Choice(["iso", "uk"]),
    default="iso",
    show_default=True,
    help="How the file writes dates: iso (YYYY-MM-DD) or uk (DD/MM/YYYY, as Excel saves them in the UK).",
)


@staff.command("import")
@click.argument("file", type=click.Path(dir_okay=True))
@DATES_OPTION
@global_options
def staff_import(file: str, dates: str) -> None:
    """Import staff from a CSV file: every row or none.

    \b
    The header (then one row a person; empty cells allowed except email, name, school):
      email,name,school,roles,trained_on,policy_ack
    roles are separated by ';' (slt, headteacher, ceo, it, staff, volunteer, dsl, dpo, governor, chair;
    default staff); trained_on is YYYY-MM-DD, or DD/MM/YYYY with --dates uk. Save the file as UTF-8
    ("CSV UTF-8" in Excel).

    \b
    Example (docs/examples/staff.csv; staff-excel-uk.csv is the same file as Excel saves it in the UK):
      accountctl staff import docs/examples/staff.csv
      accountctl staff import docs/examples/staff-excel-uk.csv --dates uk
    """
    from accountctl.cli.progress import Progress

    rows = directory.parse_staff_csv(read_text_file(file))  # a bad file is refused before any passphrase
    with session(write=True) as reg:
        require_custodian(reg, "import staff")
        with Progress("Checking staff") as progress:
            items = directory.import_staff_rows(reg.db, reg.actor, rows, progress, dates)
    output.message(f"Imported {len(items)} staff.")


@staff.command("train")
@click.argument("email")
@click.option("--on", "on", required=True, metavar="YYYY-MM-DD", help="The day they were trained.")
@click.option("--policy-ack", metavar="VERSION", help="The policy version they acknowledged.")
@click.option(
    "--kind", default="social-media", help="social-media (default) or cyber (annual cyber-security training)."
)
@global_options
@writes
def staff_train(reg, email, on, policy_ack, kind) -> None:
    """Record social-media training (and the policy version acknowledged), or cyber-security training.

    \b
    Examples:
      accountctl staff train t.teacher@huxley.sch.uk --on 2026-09-01 --policy-ack 2026
      accountctl staff train t.teacher@huxley.sch.uk --on 2026-09-01 --kind cyber
    """
    require_custodian(reg, "record training")
    row = directory.train_staff(reg.db, reg.actor, email, on, policy_ack, kind)
    output.message(f"Recorded {kind.strip().lower()} training for {row['email']} on {on}.")


@staff.command("list")
@click.option("--school", "school_id", help="Only this school.")
@format_options
@reads
def staff_list(reg, school_id) -> None:
    """List staff.

    \b
    Example:
      accountctl staff list --school huxley --json
    """
    output.rows(directory.list_staff(reg.db, school_id), STAFF_COLUMNS, fmt(), priorities=STAFF_PRIORITIES)


@staff.command("show")
@click.argument("email")
@format_options
@reads
def staff_show(reg, email) -> None:
    """Show one member of staff.

    \b
    Example:
      accountctl staff show head@huxley.sch.uk
    """
    row = directory.get_staff(reg.db, email)
    output.record(row, fmt(), STAFF_COLUMNS + ["created_at"])


# staff leave|move|sync live with offboarding; importing it adds them to the `staff` group.
from accountctl.cli import offboard as _offboard  # noqa: E402,F401
