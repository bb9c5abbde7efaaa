"""Renderers for --format table|json|csv. Data goes to stdout; messages go to stderr.

Output that people and spreadsheets read is made safe here, once for every command: tables fit the
screen (wrapping long cells, or shortening them with "…" in very long tables); control, bidi and
zero-width characters in a value are shown escaped (`safetext`) where each format is written:
table cells, records, CSV cells, JSON text, plain lines and messages; and a CSV cell that a
spreadsheet would run as a formula is prefixed with `'`. docs/output.md says why the tables are laid
out here rather than by `tabulate`.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import sys
from typing import Any, Iterable, Iterator, Sequence

import click

from accountctl.safetext import escape, escape_cell, json_text

FORMATS = ("table", "json", "csv")
WIDE = "accountctl.wide"  # the click context's meta key that --wide sets (see cli.common)
LONG_TABLE = 2000  # rows: a longer terminal table shortens cells (one line a row) instead of wrapping them
MIN_COLUMN = 8  # narrowest a column gets (unless its cells are narrower); a screen that cannot fit that gets records
PROSE_MIN = 16  # a column of text is narrowed to this before columns of ids and dates give way
GAP = "  "

# A CSV cell starting with one of these is a formula to a spreadsheet (OWASP "CSV injection").
FORMULA_START = frozenset("=+-@\t\r")


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
    make = encoder.c_make_encoder(
        None, _ENCODER.default, encoder.encode_basestring, None, ": ", ", ", False, False, True
    )

    def encode(value: Any) -> str:
        if isinstance(value, str):
            return encoder.encode_basestring(value)
        return "".join(make(value, 0))

    return encode


_compact = _one_line_encoder()
JSON_BATCH = 2000  # records (or table lines) per piece written: few writes, no second copy of a large list
OUTPUT_PIECE = 1 << 20  # characters of CSV written at a time


def _records(batch: list, inner: str) -> str:
    """Each item of `batch` on its own line after `inner`, as `_compact` writes it and `json_text` escapes it.

    Records are mostly dicts with the same text keys and text, None or boolean values (an audit's
    50,000 findings): those are written from their keys' encodings, made once, and each value's,
    which is faster than the C encoder walking each record (~1.8 µs a finding).
    """
    from json.encoder import encode_basestring

    lines = []
    keys: tuple = ()
    heads: list[str] = []
    for record in batch:
        if type(record) is not dict or not record:
            lines.append(inner + _compact(record))
            continue
        if tuple(record) != keys:
            keys = tuple(record)
            if not all(type(k) is str for k in keys):  # the encoder's own text for numbers and None as keys
                keys = ()
                lines.append(inner + _compact(record))
                continue
            heads = [inner + "{" + encode_basestring(keys[0]) + ": "]
            heads += [", " + encode_basestring(k) + ": " for k in keys[1:]]
        parts = []
        for head, value in zip(heads, record.values()):
            parts.append(head)
            if type(value) is str:
                parts.append(encode_basestring(value))
            elif value is None:
                parts.append("null")
            elif value is True:
                parts.append("true")
            elif value is False:
                parts.append("false")
            else:
                parts.append(_compact(value))  # nested the same as alone: one encoder, one set of separators
        parts.append("}")
        lines.append("".join(parts))
    # Text that is ASCII (known without reading it) can hold nothing to escape but DEL. In a batch that is
    # not, only the lines that are not are searched: a few accented names cost no search of every line.
    text = ",\n".join(lines)
    if text.isascii() and "\x7f" not in text:
        return text
    return ",\n".join([line if line.isascii() and "\x7f" not in line else json_text(line) for line in lines])


def iter_json(data: Any, level: int = 0) -> Iterator[str]:
    """JSON that stays readable and fast, in pieces: objects indented, each record of a list on one line.

    (`json.dumps(indent=...)` falls back to the pure-Python encoder: ~5x slower on a 10,000-row audit.)
    Every piece is written through `json_text`, so no control, bidi or zero-width character is raw.
    """
    pad, inner = "  " * level, "  " * (level + 1)
    if isinstance(data, dict) and data:
        yield "{\n"
        for i, (key, value) in enumerate(data.items()):
            yield (",\n" if i else "") + f"{inner}{json_text(_compact(str(key)))}: "
            yield from iter_json(value, level + 1)
        yield f"\n{pad}}}"
    elif isinstance(data, list) and data and any(isinstance(v, (dict, list)) for v in data):
        yield "[\n"
        for start in range(0, len(data), JSON_BATCH):
            yield (",\n" if start else "") + _records(data[start : start + JSON_BATCH], inner)
        yield f"\n{pad}]"
    elif isinstance(data, Iterator):  # records read as they are written: never all of them at once
        first = True
        while batch := list(itertools.islice(data, JSON_BATCH)):
            yield ("[\n" if first else ",\n") + _records(batch, inner)
            first = False
        yield "[]" if first else f"\n{pad}]"
    else:
        yield json_text(_compact(data))


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
    if isatty_stdout():
        import shutil

        return shutil.get_terminal_size().columns
    return None


def _capped(widths: Sequence[int], room: int, movable: Sequence[bool], floor: int) -> list[int]:
    """The movable columns capped at the largest width (not below `floor`) with which all fit `room`."""
    fixed = sum(w for w, m in zip(widths, movable) if not m)
    low, high = floor, max(widths)
    while low < high:
        mid = (low + high + 1) // 2
        if fixed + sum(min(w, mid) for w, m in zip(widths, movable) if m) <= room:
            low = mid
        else:
            high = mid - 1
    return [min(w, low) if m else w for w, m in zip(widths, movable)]


def fit_widths(widths: Sequence[int], width: int, prose: Sequence[bool] | None = None) -> list[int]:
    """Column widths that fit `width` with their gaps; the widest columns give way first.

    Columns of prose (`prose`: cells with spaces, which wrap at words) give way first, down to
    PROSE_MIN; only then do columns of ids, emails and dates, down to MIN_COLUMN (on a screen too
    narrow even for that the widths overflow `width`, and `table` shows records instead). Room left
    over goes back from the left.
    """
    room = width - len(GAP) * (len(widths) - 1)
    if sum(widths) <= room:
        return list(widths)
    caps = _capped(widths, room, prose or [True] * len(widths), PROSE_MIN)
    if sum(caps) > room:
        caps = _capped(caps, room, [True] * len(caps), MIN_COLUMN)
    spare = room - sum(caps)
    for i, natural in enumerate(widths):
        if spare <= 0:
            break
        extra = min(spare, natural - caps[i])
        caps[i] += extra
        spare -= extra
    return caps


_BREAK_AFTER = "-@./_,;"  # where an id, email or address too long for its column is best broken


def _cut(word: str, width: int) -> int:
    """Where to break a word longer than `width`: after its last separator in the line's second half."""
    at = max(word.rfind(ch, width // 2, width) for ch in _BREAK_AFTER)
    return at + 1 if at >= 0 else width


def wrap(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` characters, broken at spaces; a longer word at a separator, else cut."""
    if len(text) <= width:
        return [text]
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        while len(word) > width and not (line and len(line) + 1 + len(word) <= width):
            if line:
                lines.append(line)
                line = ""
            at = _cut(word, width)
            lines.append(word[:at])
            word = word[at:]
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


def table(headers: Sequence[str], body: list[list[str]], width: int | None = None, one_line: Sequence[str] = ()) -> str:
    """Aligned columns under a dashed header, in linear time, fitted to `width` when it is given.

    Cells must already be safe (`_table_cell`). Too wide for `width`: long cells wrap onto more
    lines, or are shortened with "…" in the `one_line` columns (a summary that --wide shows whole)
    and in every column of a table of more than LONG_TABLE rows (one line a row).
    """
    return "\n".join(_table_pieces(headers, body, width, one_line))


def _table_pieces(
    headers: Sequence[str],
    body: list[list[str]],
    width: int | None,
    one_line: Sequence[str],
    styles: Sequence[str | None] | None = None,
) -> Iterator[str]:
    """`table` in pieces to join with line ends: a plain table a few thousand lines at a time."""
    widths = [len(h) for h in headers]
    for i, column in enumerate(zip(*body)):  # a column at a time: max and len run in C
        widths[i] = max(widths[i], max(map(len, column)))
    if width is not None:
        fitted = fit_widths(widths, width, _prose(headers, body, widths, width))
        if sum(fitted) + len(GAP) * (len(fitted) - 1) > width:
            yield "\n\n".join(key_values(list(zip(headers, row)), width) for row in body)
            return
        if fitted != widths:
            yield _fitted_table(headers, body, fitted, [h in one_line for h in headers])
            return
    yield _aligned(headers, widths) + "\n" + GAP.join("-" * w for w in widths)
    line = GAP.join(f"{{:<{w}}}" for w in widths).format  # the same padding as _aligned's ljust, one call a row
    for start in range(0, len(body), JSON_BATCH):
        lines = [line(*row).rstrip() for row in body[start : start + JSON_BATCH]]
        if styles is not None:
            lines = [styled(text, fg) for text, fg in zip(lines, styles[start : start + JSON_BATCH])]
        yield "\n".join(lines)


def _fits(headers: Sequence[str], body: list[list[str]], width: int) -> bool:
    natural = [max([len(h)] + [len(r[i]) for r in body]) for i, h in enumerate(headers)]
    return sum(natural) + len(GAP) * (len(natural) - 1) <= width


def _prose(headers: Sequence[str], body: list[list[str]], widths: list[int], width: int) -> list[bool] | None:
    """Which columns hold text that wraps at words (some cell has a space); None when the table fits anyway."""
    if sum(widths) + len(GAP) * (len(widths) - 1) <= width:
        return None
    return [any(" " in row[i] for row in body) for i in range(len(headers))]


def _fitted_table(headers: Sequence[str], body: list[list[str]], widths: list[int], short: list[bool]) -> str:
    def block(cells: Sequence[str], shortened: Sequence[bool]) -> list[str]:
        parts = [[shorten(c, w)] if s else wrap(c, w) for c, w, s in zip(cells, widths, shortened)]
        height = max(len(p) for p in parts)
        return [_aligned((p[k] if k < len(p) else "" for p in parts), widths) for k in range(height)]

    lines = block(headers, [False] * len(headers)) + [GAP.join("-" * w for w in widths)]
    if len(body) > LONG_TABLE:
        lines += [_aligned((shorten(c, w) for c, w in zip(row, widths)), widths) for row in body]
    else:
        for row in body:
            lines += block(row, short)
    return "\n".join(lines)


def rows(
    data: Sequence[dict] | Iterator[dict],
    columns: Sequence[str],
    fmt: str,
    *,
    json_data: Any = None,
    one_line: Sequence[str] = (),
    priorities: Any = None,
    colour: dict[str, str] | None = None,
) -> None:
    """Print records: a table, a JSON list (or `json_data`), or CSV with a header.

    In a table too wide for the screen, cells of the `one_line` columns are shortened, the rest wrap;
    or, given the command's `priorities` (`giveway.Priorities`), the columns it needs most stay and
    the others go under each row, no word or command broken. `colour` maps a row's `severity` to the
    colour its line is drawn in on a terminal (`colour_on`).
    """
    if fmt == "json":  # records read as they are written stay an iterator (output.iter_json)
        echo_json(json_data if json_data is not None else data if isinstance(data, Iterator) else list(data))
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        for item in data:
            # most cells are already text: only the others go through _cell's type checks
            cells = [v if type(v) is str else _cell(v, ";") for v in map(item.get, columns)]
            cells = ["'" + c if c[:1] in FORMULA_START else c for c in cells]  # a spreadsheet shows it as text
            # Then control, bidi and zero-width characters are shown escaped (checked a row at a time: one
            # call for the common row with none); no cell holds a line end any more, so a row is a line.
            writer.writerow(cells if "".join(cells).isprintable() else [escape_cell(c) for c in cells])
            if buf.tell() > OUTPUT_PIECE:  # written in pieces, never the whole text held twice
                click.echo(buf.getvalue(), nl=False)
                buf.seek(0)
                buf.truncate()
        click.echo(buf.getvalue(), nl=False)
    else:
        if not data:
            message("(none)")
            return
        body = [
            [v if type(v) is str and v.isprintable() else _table_cell(v) for v in map(item.get, columns)]
            for item in data
        ]
        width = screen_width()
        styles = [colour.get(item.get("severity")) for item in data] if colour and colour_on() else None
        if priorities is not None and width is not None and not _fits(columns, body, width):
            from accountctl.cli import giveway

            for piece in giveway.pieces(columns, body, data, width, priorities, styles):
                click.echo(piece)
            return
        for piece in _table_pieces(columns, body, width, one_line, styles):  # never the whole text at once
            click.echo(piece)


def record(data: dict, fmt: str, fields: Iterable[str] | None = None) -> None:
    """Print one record: key/value lines, a JSON object, or a one-row CSV."""
    keys = list(fields) if fields is not None else list(data)
    if fmt == "json":
        echo_json(data)
    elif fmt == "csv":
        rows([data], keys, "csv")
    else:
        click.echo(key_values([(escape(k), _table_cell(data.get(k))) for k in keys], screen_width()))


def key_values(pairs: Sequence[tuple[str, str]], width: int | None) -> str:
    """`key  value` lines, keys aligned; with a `width`, long values wrap under themselves.

    One record's layout, and a table's on a screen too narrow for its columns side by side.
    """
    pad = max((len(k) for k, _ in pairs), default=0)
    room = max(width - pad - len(GAP), MIN_COLUMN) if width else None
    lines = []
    for key, value in pairs:
        parts = wrap(value, room) if room else [value]
        lines.append(f"{key.ljust(pad)}{GAP}{parts[0]}".rstrip())
        lines += [f"{' ' * (pad + len(GAP))}{part}".rstrip() for part in parts[1:]]
    return "\n".join(lines)


def echo_text(text: str, err: bool = False) -> None:
    """Lines of plain text on stdout (or stderr): control, bidi and zero-width characters shown escaped."""
    click.echo(text if text.isprintable() else "\n".join(escape(line) for line in text.split("\n")), err=err)


def secret(text: str) -> None:
    """A revealed secret alone on stdout: exactly as stored into a pipe (`| xclip`), escaped on a terminal.

    Only a custodian can store one, but another custodian could plant escape sequences in a password
    for a colleague's `cred show` to send to their terminal. (Run by the agent, stdout is a buffer,
    not the client's terminal: the value goes back as stored.)
    """
    if isatty_stdout() and not all(line.isprintable() for line in text.split("\n")):
        echo_text(text)
        message("The value holds control or invisible characters, shown escaped; pipe it to get it exactly.")
    else:
        click.echo(text)


def message(text: str) -> None:
    """A human message on stderr, never mixed into data on stdout; as `echo_text`."""
    echo_text(text, err=True)


def colour_on() -> bool:
    """Colour only for a person at a terminal: never into a pipe or file, nor with NO_COLOR set (no-color.org)."""
    return not os.environ.get("NO_COLOR") and isatty_stdout()


def styled(text: str, fg: str | None) -> str:
    """`text` in colour `fg` (None: as it is); only ever called when `colour_on()`."""
    return click.style(text, fg=fg) if fg else text


def isatty_stdin() -> bool:
    return sys.stdin.isatty()


def isatty_stdout() -> bool:
    return sys.stdout.isatty()
