"""Renderers for --format table|json|csv. Data goes to stdout; messages go to stderr."""

from __future__ import annotations

import csv
import io
import json
import sys
from typing import Any, Iterable, Iterator, Sequence

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


def _table_cell(value: Any) -> str:
    # Most cells are already one-line text: skip _cell's type checks for them (10,000-row tables).
    text = value if type(value) is str else _cell(value, ", ")
    return text.replace("\n", " ") if "\n" in text else text


_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)  # one instance: json.dumps(**kw) builds one per call


def _one_line_encoder():
    """`_ENCODER.encode` for one record, without rebuilding the C encoder on every call.

    `JSONEncoder.encode` makes a new C encoder per call: a third of the cost of writing a
    26,000-finding audit one line at a time. Built once here with the same settings; the plain
    `encode` stands in where the C accelerator is missing.
    """
    from json import encoder

    if encoder.c_make_encoder is None:
        return _ENCODER.encode
    make = encoder.c_make_encoder(None, _ENCODER.default, encoder.encode_basestring, None, ": ", ", ",
                                  False, False, True)

    def encode(value: Any) -> str:
        if isinstance(value, str):
            return encoder.encode_basestring(value)
        return "".join(make(value, 0))
    return encode


_compact = _one_line_encoder()
JSON_BATCH = 2000  # records per piece written: few writes, no second copy of a large list


def iter_json(data: Any, level: int = 0) -> Iterator[str]:
    """JSON that stays readable and fast, in pieces: objects indented, each record of a list on one line.

    (`json.dumps(indent=...)` falls back to the pure-Python encoder: ~5x slower on a 10,000-row audit.)
    """
    pad, inner = "  " * level, "  " * (level + 1)
    if isinstance(data, dict) and data:
        yield "{\n"
        for i, (key, value) in enumerate(data.items()):
            yield (",\n" if i else "") + f"{inner}{_compact(str(key))}: "
            yield from iter_json(value, level + 1)
        yield f"\n{pad}}}"
    elif isinstance(data, list) and data and any(isinstance(v, (dict, list)) for v in data):
        yield "[\n"
        for start in range(0, len(data), JSON_BATCH):
            yield (",\n" if start else "") + ",\n".join(inner + _compact(v) for v in data[start:start + JSON_BATCH])
        yield f"\n{pad}]"
    else:
        yield _compact(data)


def to_json(data: Any) -> str:
    """`iter_json` as one string."""
    return "".join(iter_json(data))


def echo_json(data: Any) -> None:
    """Print JSON to stdout in pieces, never as one more copy of a large document."""
    for piece in iter_json(data):
        click.echo(piece, nl=False)
    click.echo()


def table(headers: Sequence[str], body: list[list[str]]) -> str:
    """Aligned columns under a dashed header, like `tabulate`'s simple format, in linear time."""
    widths = [len(h) for h in headers]
    for row in body:
        for i, cell in enumerate(row):
            if len(cell) > widths[i]:
                widths[i] = len(cell)
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in body]
    return "\n".join(lines)


def rows(data: Sequence[dict], columns: Sequence[str], fmt: str, *, json_data: Any = None) -> None:
    """Print records: a table, a JSON list (or `json_data`), or CSV with a header."""
    if fmt == "json":
        echo_json(json_data if json_data is not None else list(data))
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
        click.echo(table(columns, [[_table_cell(item.get(c)) for c in columns] for item in data]))


def record(data: dict, fmt: str, fields: Iterable[str] | None = None) -> None:
    """Print one record: key/value lines, a JSON object, or a one-row CSV."""
    keys = list(fields) if fields is not None else list(data)
    if fmt == "json":
        echo_json(data)
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
