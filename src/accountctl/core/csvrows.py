"""Reading the CSV files accountctl imports: one reader, so every import refuses the same way."""

from __future__ import annotations

import csv
import re
from typing import Sequence

from accountctl.errors import InputError

MAX_LINE = 100_000  # characters: no row of a file accountctl imports comes near this
FIELD_LIMIT = 10_000  # characters in one cell (names and free text stop at 2,000)
SAVE_AS = "save it from the spreadsheet as 'CSV UTF-8 (Comma delimited)'"
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)?")


class _Lines:
    """The text's lines, ends kept (as `io.StringIO(text, newline="")` gives them), counted.

    One line is copied at a time, never the whole text again, and a line longer than MAX_LINE is
    refused before it is copied at all: a 50 MB one-line file costs no more than its text.
    """

    def __init__(self, text: str):
        self.text = text
        self.pos = 0
        self.count = 0

    def __iter__(self) -> "_Lines":
        return self

    def __next__(self) -> str:
        if self.pos >= len(self.text):
            raise StopIteration
        end = _LINE.match(self.text, self.pos).end()
        self.count += 1
        if end - self.pos > MAX_LINE:
            raise InputError(f"line {self.count} is longer than {MAX_LINE:,} characters; is this the right file?")
        line = self.text[self.pos : end]
        self.pos = end
        return line


def _problem(exc: csv.Error) -> str:
    if "field limit" in str(exc):
        return f"a cell is longer than {FIELD_LIMIT:,} characters"
    return f"not valid CSV ({exc})"


def read(text: str, what: str, required: Sequence[str] = ()) -> tuple[list[str], list[dict]]:
    """The lower-cased header and the non-blank rows (stripped strings, `_line` = the row's first line).

    Refuses, naming the file kind `what` and the line: an empty file, a malformed header, missing
    `required` columns (with a hint for a semicolon-separated file), a row with more cells than
    columns, invalid CSV, an overlong line or cell, a header with no rows.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise InputError(f"the {what} is empty")
    lines = _Lines(text)
    reader = csv.reader(lines)
    previous_limit = csv.field_size_limit(FIELD_LIMIT)
    try:
        try:
            first = next(reader, [])
        except csv.Error as exc:
            raise InputError(f"line {lines.count}: not a valid CSV header: {_problem(exc)}") from None
        header = [h.strip().lower() for h in first]
        missing = [c for c in required if c not in header]
        if missing:
            hint = f"; the file is separated by semicolons: {SAVE_AS}" if len(header) == 1 and ";" in header[0] else ""
            raise InputError(
                f"the {what} is missing column(s): {', '.join(missing)} (expected header {','.join(required)}){hint}"
            )
        rows = []
        while True:
            start = lines.count + 1
            try:
                cells = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise InputError(f"line {lines.count}: {_problem(exc)}") from None
            if len(cells) > len(header):
                raise InputError(f"line {start}: more cells than columns")
            if not any(c.strip() for c in cells):
                continue  # a blank line is not a record
            row = dict.fromkeys(header, "")
            row.update(zip(header, (c.strip() for c in cells)))
            row["_line"] = start
            rows.append(row)
    finally:
        csv.field_size_limit(previous_limit)
    if not rows:
        raise InputError(f"the {what} has a header but no rows")
    return header, rows
