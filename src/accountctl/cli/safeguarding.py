"""platform dpia|list, and the pupil options `account request|update` share (issue 25)."""

from __future__ import annotations

import functools

import click

from accountctl.cli import output
from accountctl.cli.common import fmt, format_options, global_options, reads, writes
from accountctl.core import dataprotection, directory

DPIA_COLUMNS = ["platform", "school", "ref", "approved_on", "review_days", "review_due", "recorded_by"]


def pupil_options(command):
    """`--pupil-images yes|no` and `--pupils-join yes|no`, handed on as keyword arguments of the same names."""

    @click.option(
        "--pupil-images",
        type=click.Choice(["yes", "no"], case_sensitive=False),
        help="Does it publish images of pupils? (yes: posts are checked against the consent lists; see monitor)",
    )
    @click.option(
        "--pupils-join",
        type=click.Choice(["yes", "no"], case_sensitive=False),
        help="Will pupils follow, message, comment or join with accounts of their own? (default yes for groups)",
    )
    @functools.wraps(command)
    def wrapped(*args, **kwargs):
        return command(*args, **kwargs)

    return wrapped


@click.group("platform")
def platform() -> None:
    """Platforms: the DPIA (data protection impact assessment) each one needs before children's data goes there.

    \b
    Example:
      accountctl platform dpia youtube --ref "DPIA-2026-04" --approved-on 2026-09-01
    """


@platform.command("dpia")
@click.argument("platform_name", metavar="PLATFORM")
@click.option("--ref", required=True, help="The DPIA's reference in the trust's records.")
@click.option("--approved-on", required=True, metavar="YYYY-MM-DD", help="When it was signed off.")
@click.option(
    "--review-days", type=int, help=f"Review it after this many days (default {dataprotection.DPIA_REVIEW_DAYS})."
)
@click.option("--school", help="For this school only (default: the whole trust).")
@global_options
@writes
def platform_dpia(reg, platform_name, ref, approved_on, review_days, school) -> None:
    """Record (or renew) the DPIA for a platform: a custodian or the data protection officer.

    \b
    Example:
      accountctl platform dpia facebook --ref "DPIA-2026-01" --approved-on 2026-09-01 --review-days 365
    """
    person = directory.find_staff(reg.db, reg.actor)
    may = reg.is_custodian or bool(person and "dpo" in person["roles"])
    row = dataprotection.record_dpia(reg.db, reg.actor, may, platform_name, ref, approved_on, review_days, school)
    output.message(
        f"Recorded the DPIA for {row['platform']} ({row['school'] or 'the whole trust'}): {row['ref']}, "
        f"review due {row['review_due']}."
    )


@platform.command("list")
@format_options
@reads
def platform_list(reg) -> None:
    """Every DPIA on record, and each platform in use that none covers.

    \b
    Example:
      accountctl platform list
    """
    rows = dataprotection.list_dpias(reg.db)
    output.rows(rows, DPIA_COLUMNS, fmt())
    if fmt() == "table":
        for gap in dataprotection.coverage(reg.db):
            if gap["ref"] is None:
                output.message(f"No DPIA covers {gap['platform']} at {gap['school']}.")


@click.group("erase")
def erase() -> None:
    """Erase free text about people once it is no longer needed (retention, or a right to erasure).

    The text's key is destroyed; the signed history keeps only its hash, so `verify` still passes.

    \b
    Example:
      accountctl erase incident inc-3 --reason "Retention period over"
    """


@erase.command("incident")
@click.argument("incident_id", metavar="INC")
@click.option("--reason", required=True, help="Why it is erased (retention period over, an erasure request).")
@global_options
@writes
def erase_incident(reg, incident_id, reason) -> None:
    """Erase an incident's summary, step notes, outcome and the DPO's reason (a custodian or the DPO).

    \b
    Example:
      accountctl erase incident inc-3 --reason "Retention period over (IRMS: 6 years)"
    """
    from accountctl.core import incidents

    person = directory.find_staff(reg.db, reg.actor)
    may = reg.is_custodian or bool(person and "dpo" in person["roles"])
    data = incidents.erase(reg.db, reg.actor, may, incident_id, reason)
    output.message(f"Erased the text of {data['id']}; its record and the history's hashes remain.")


def write_asset_register(reg, path: str) -> None:
    """`export --asset-register FILE.csv`: the rows as CSV (safe for a spreadsheet), written to FILE."""
    import contextlib
    from pathlib import Path

    from accountctl.errors import InputError

    target = Path(path).expanduser()
    if target.suffix.lower() != ".csv":
        raise InputError(f"--asset-register {path}: write a .csv file (Excel opens it as it is)")
    if not target.parent.is_dir():
        raise InputError(f"cannot write {target}: no such folder {target.parent}")
    rows = dataprotection.asset_register(reg.db)
    with open(target, "w", encoding="utf-8", newline="") as handle, contextlib.redirect_stdout(handle):
        output.rows(rows, dataprotection.ASSET_COLUMNS, "csv")
    output.message(f"Wrote {len(rows)} account(s) to {target} for the asset and information-asset registers.")
