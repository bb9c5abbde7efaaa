"""report: the governors' report as one self-contained HTML file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from accountctl.cli import output
from accountctl.cli.common import fmt, format_options, session
from accountctl.errors import InputError

RULE_COLUMNS = ["id", "severity", "unwaived", "waived", "accounts", "skipped"]


def _write_atomically(path: Path, text: str) -> None:
    """Write `text` to a temporary file beside `path`, then rename it over `path`."""
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except FileNotFoundError:
        raise InputError(f"cannot write {path}: no such folder {folder}") from None
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise InputError(f"cannot write {path}: {exc.strerror}") from None


def check_html_target(out: str, what: str) -> Path:
    """Where an HTML page goes: a name ending in .html, in a folder that exists; InputError otherwise."""
    target = Path(out).expanduser()
    if target.suffix.lower() != ".html" and not target.is_dir():
        raise InputError(
            f"--out {out}: {what} is an HTML page, so its name must end in .html "
            f"(e.g. {target.with_suffix('.html').name}); print it to PDF from a browser if needed"
        )
    if target.is_dir():
        raise InputError(f"--out {out} is a folder; give a file name such as {Path(out) / 'report.html'}")
    if not (target.parent if str(target.parent) else Path(".")).is_dir():
        raise InputError(f"cannot write {out}: no such folder {target.parent}")
    return target


@click.command()
@click.option("--out", "out", required=True, metavar="FILE.html", help="Where to write the HTML page ('-' for stdout).")
@click.option("--as-of", "as_of", metavar="YYYY-MM-DD", help="Report as if today were this date (default today).")
@click.option(
    "--since",
    metavar="YYYY-MM-DD",
    help="First day of the period for leavers and transfers (default: 365 days up to --as-of).",
)
@click.option("--school", help="Only this school (default: the whole register).")
@format_options
def report(out, as_of, since, school) -> None:
    """The governors' report: accounts by school and platform, compliance by rule, leavers and
    transfers, waivers expiring; one self-contained HTML page with inline charts, ready to print.

    Writes FILE.html and prints its path on stderr. With --json (or --format csv) it also prints
    the report's figures on stdout (JSON: everything; CSV: findings by rule). It holds no secrets;
    rules that need vault access (password quality) are included only when an IT custodian runs it.

    \b
    Example:
      accountctl report --out governors-2026-11.html --as-of 2026-11-30
    """
    from accountctl import clock
    from accountctl.core import report as core

    day = clock.parse_date(as_of, "--as-of") if as_of else clock.today()
    start = clock.parse_date(since, "--since") if since else None
    if start is not None and start > day:
        raise InputError(f"--since {start.isoformat()} is after the report date {day.isoformat()}")
    target = None if out == "-" else check_html_target(out, "the report")
    # The report reads the history's ownership transfers alone (core.report.TRANSFER).
    with session(write=False, history={"actions": (core.TRANSFER,)}) as reg:
        covered = getattr(reg, "schools", None)  # a key per school: the report covers what the key opens
        if school is None and covered is not None and covered != reg.all_schools and len(covered) == 1:
            school = next(iter(covered))
        data = core.build(reg.db, day, reg.is_custodian, school=school, since=start)
    page = core.render_html(data)
    if target is None:
        click.echo(page, nl=False)
    else:
        _write_atomically(target, page)
        output.message(f"Wrote the governors' report as of {data['as_of']} to {target}.")
    if fmt() == "json" and target is not None:
        click.echo(output.to_json(data))
    elif fmt() == "csv" and target is not None:
        output.rows(data["rules"], RULE_COLUMNS, "csv")


def register(cli: click.Group) -> None:
    cli.add_command(report)
