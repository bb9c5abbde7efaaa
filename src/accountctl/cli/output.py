"""Renderers for --format table|json|csv. Data goes to stdout; messages go to stderr.

Output that people and spreadsheets read is made safe here, once for every command: tables fit the
screen (wrapping long cells, or shortening them with "…" in very long tables), control characters
in a value are shown escaped instead of reaching the terminal, and a CSV cell that a spreadsheet
would run as a formula is prefixed with `'`. docs/output.md says why the tables are laid out here
rather than by `tabulate`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
from typing import Any, Iterable, Iterator, Sequence

import click

FORMATS = ("table", "json", "csv")
WIDE = "accountctl.wide"  # the click context's meta key that --wide sets (see cli.common)
LONG_TABLE = 2000  # rows: a longer terminal table shortens cells (one line a row) instead of wrapping them
MIN_COLUMN = 6  # a column never gets narrower than this (or its own widest cell) when a table is fitted
GAP = "  "

# Never sent to a terminal as they are: C0 controls, DEL and C1 controls (escape sequences can set the
# window title, clear the screen or move the cursor; a carriage return overwrites the line), and the
# Unicode line separators and bidirectional overrides, which can break or reorder what is shown.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
# A CSV cell starting with one of these is a formula to a spreadsheet (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _escape_one(match: re.Match) -> str:
    ch = match.group()
    return _NAMED.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")


def escape(text: str) -> str:
    """`text` with every control character shown escaped (`\\x1b`, `\\r`), so it is safe on a terminal."""
    if text.isprintable():  # the fast answer for almost every value (it is False for spaces other than " ")
        return text
    return _UNSAFE.sub(_escape_one, text)


def csv_safe(text: str) -> str:
    """A CSV cell a spreadsheet shows as text: a leading formula character gets a `'` before it."""
    return "'" + text if text.startswith(_FORMULA_START) else text


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
    # Most cells are already printable text: skip _cell's type checks and the escaping for them.
    text = value if type(value) is str else _cell(value, ", ")
    return text if text.isprintable() else escape(text)


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


def screen_width() -> int | None:
    """The width a table must fit: `COLUMNS`, else the terminal's; None (whole rows) for --wide and pipes."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.meta.get(WIDE):
        return None
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        import shutil

        return shutil.get_terminal_size().columns
    return None


def fit_widths(widths: Sequence[int], width: int) -> list[int]:
    """Column widths that fit `width` with their gaps: the widest columns give way first.

    The cap is the largest one with which every column fits (never below MIN_COLUMN, so a very
    narrow screen overflows rather than showing nothing); what is left over goes back to the
    capped columns from the left, where ids usually are.
    """
    room = width - len(GAP) * (len(widths) - 1)
    if sum(widths) <= room:
        return list(widths)
    low, high = MIN_COLUMN, max(widths)
    while low < high:
        mid = (low + high + 1) // 2
        if sum(min(w, mid) for w in widths) <= room:
            low = mid
        else:
            high = mid - 1
    caps = [min(w, low) for w in widths]
    spare = room - sum(caps)
    for i, natural in enumerate(widths):
        if spare <= 0:
            break
        extra = min(spare, natural - caps[i])
        caps[i] += extra
        spare -= extra
    return caps


def wrap(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` characters, broken at spaces (a longer word is cut)."""
    if len(text) <= width:
        return [text]
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        while len(word) > width:
            if line:
                lines.append(line)
                line = ""
            lines.append(word[:width])
            word = word[width:]
        if not line:
            line = word
        elif len(line) + 1 + len(word) <= width:
            line += " " + word
        else:
            lines.append(line)
            line = word
    if line or not lines:
        lines.append(line)
    return lines


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _aligned(cells: Iterable[str], widths: Sequence[int]) -> str:
    return GAP.join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()


def table(headers: Sequence[str], body: list[list[str]], width: int | None = None) -> str:
    """Aligned columns under a dashed header, in linear time, fitted to `width` when it is given.

    Cells must already be safe (`_table_cell`). Too wide for `width`: long cells wrap onto more
    lines, or, in a table of more than LONG_TABLE rows, are shortened with "…" (one line a row).
    """
    widths = [len(h) for h in headers]
    for row in body:
        for i, cell in enumerate(row):
            if len(cell) > widths[i]:
                widths[i] = len(cell)
    if width is not None:
        fitted = fit_widths(widths, width)
        if fitted != widths:
            return _fitted_table(headers, body, fitted)
    lines = [_aligned(headers, widths), GAP.join("-" * w for w in widths)]
    lines += [_aligned(row, widths) for row in body]
    return "\n".join(lines)


def _fitted_table(headers: Sequence[str], body: list[list[str]], widths: list[int]) -> str:
    def block(cells: Sequence[str]) -> list[str]:
        parts = [wrap(c, w) for c, w in zip(cells, widths)]
        height = max(len(p) for p in parts)
        return [_aligned((p[k] if k < len(p) else "" for p in parts), widths) for k in range(height)]

    lines = block(headers) + [GAP.join("-" * w for w in widths)]
    if len(body) > LONG_TABLE:
        lines += [_aligned((shorten(c, w) for c, w in zip(row, widths)), widths) for row in body]
    else:
        for row in body:
            lines += block(row)
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
            writer.writerow([csv_safe(_cell(item.get(c), ";")) for c in columns])
        click.echo(buf.getvalue(), nl=False)
    else:
        if not data:
            message("(none)")
            return
        click.echo(table(columns, [[_table_cell(item.get(c)) for c in columns] for item in data], screen_width()))


def record(data: dict, fmt: str, fields: Iterable[str] | None = None) -> None:
    """Print one record: key/value lines, a JSON object, or a one-row CSV."""
    keys = list(fields) if fields is not None else list(data)
    if fmt == "json":
        echo_json(data)
    elif fmt == "csv":
        rows([data], keys, "csv")
    else:
        width = max((len(k) for k in keys), default=0)
        screen = screen_width()
        room = max(screen - width - len(GAP), MIN_COLUMN) if screen else None
        for key in keys:
            value = _table_cell(data.get(key))
            lines = wrap(value, room) if room else [value]
            click.echo(f"{escape(key).ljust(width)}{GAP}" + f"\n{' ' * (width + len(GAP))}".join(lines))


def message(text: str) -> None:
    """A human message on stderr, never mixed into data on stdout; control characters shown escaped."""
    click.echo(text if text.isprintable() else "\n".join(escape(line) for line in text.split("\n")), err=True)


def isatty_stdin() -> bool:
    return sys.stdin.isatty()
