"""school add|list, staff add|list|show|import|train."""

from __future__ import annotations

import click

from accountctl.cli import output
from accountctl.cli.common import fmt, format_options, global_options, reads, writes
from accountctl.core import directory
from accountctl.core.access import require_custodian
from accountctl.errors import InputError

STAFF_COLUMNS = ["email", "name", "school", "roles", "status", "left_on", "trained_on", "policy_ack"]


def read_text_file(path: str) -> str:
    """A UTF-8 text file's contents, or InputError naming it."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            return handle.read()
    except FileNotFoundError:
        raise InputError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a folder, not a file") from None
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None


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


@click.group()
def staff() -> None:
    """The staff directory: add, import, train, leave, move, sync.

    \b
    Example:
      accountctl staff import staff.csv
    """


@staff.command("add")
@click.argument("email")
@click.option("--name", required=True)
@click.option("--school", "school_id", required=True, help="School id.")
@click.option("--role", "roles", multiple=True,
              help="slt, headteacher, ceo, it, staff or volunteer (repeatable; default staff).")
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


@staff.command("import")
@click.argument("file", type=click.Path(dir_okay=True))
@global_options
@writes
def staff_import(reg, file: str) -> None:
    """Import staff from a CSV (email,name,school,roles,trained_on,policy_ack): all rows or none.

    \b
    Example:
      accountctl staff import staff.csv
    """
    from accountctl.cli.progress import Progress

    require_custodian(reg, "import staff")
    with Progress("Checking staff") as progress:
        items = directory.import_staff(reg.db, reg.actor, read_text_file(file), progress)
    output.message(f"Imported {len(items)} staff.")


@staff.command("train")
@click.argument("email")
@click.option("--on", "on", required=True, metavar="YYYY-MM-DD")
@click.option("--policy-ack", metavar="VERSION")
@global_options
@writes
def staff_train(reg, email, on, policy_ack) -> None:
    """Record social-media training (and the policy version acknowledged).

    \b
    Example:
      accountctl staff train t.teacher@huxley.sch.uk --on 2026-09-01 --policy-ack 2026
    """
    require_custodian(reg, "record training")
    row = directory.train_staff(reg.db, reg.actor, email, on, policy_ack)
    output.message(f"Recorded training for {row['email']} on {row['trained_on']}.")


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
    output.rows(directory.list_staff(reg.db, school_id), STAFF_COLUMNS, fmt())


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
