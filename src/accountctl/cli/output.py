"""Renderers for --format table|json|csv. Data goes to stdout; messages go to stderr."""

from __future__ import annotations

import csv
import io
import json
import sys
from typing import Any, Iterable, Sequence

import click

FORMATS = ("table", "json", "csv")


def _cell(value: Any, sep: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return sep.join(_cell(v, sep) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


def rows(data: Sequence[dict], columns: Sequence[str], fmt: str, *, json_data: Any = None) -> None:
    """Print records: a table, a JSON list (or `json_data`), or CSV with a header."""
    if fmt == "json":
        click.echo(to_json(json_data if json_data is not None else list(data)))
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        for item in data:
            writer.writerow([_cell(item.get(c), ";") for c in columns])
        click.echo(buf.getvalue(), nl=False)
    else:
        if not data:
            message("(none)")
            return
        from tabulate import tabulate

        table = [[_cell(item.get(c), ", ") for c in columns] for item in data]
        click.echo(tabulate(table, headers=list(columns), tablefmt="simple", disable_numparse=True))


def record(data: dict, fmt: str, fields: Iterable[str] | None = None) -> None:
    """Print one record: key/value lines, a JSON object, or a one-row CSV."""
    keys = list(fields) if fields is not None else list(data)
    if fmt == "json":
        click.echo(to_json(data))
    elif fmt == "csv":
        rows([data], keys, "csv")
    else:
        width = max((len(k) for k in keys), default=0)
        for key in keys:
            click.echo(f"{key.ljust(width)}  {_cell(data.get(key), ', ')}")


def message(text: str) -> None:
    """A human message on stderr, never mixed into data on stdout."""
    click.echo(text, err=True)


def isatty_stdin() -> bool:
    return sys.stdin.isatty()
