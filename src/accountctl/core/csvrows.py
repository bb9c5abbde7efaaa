"""Reading the CSV files accountctl imports: one reader, so every import refuses the same way."""

from __future__ import annotations

import csv
import io
from typing import Sequence

from accountctl.errors import InputError


def read(text: str, what: str, required: Sequence[str] = ()) -> tuple[list[str], list[dict]]:
    """The lower-cased header and the non-blank rows (stripped strings, `_line` = line number).

    Refuses, naming the file kind `what` and the line: an empty file, a malformed header, missing
    `required` columns, a row with more cells than columns, invalid CSV, a header with no rows.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise InputError(f"the {what} is empty")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise InputError(f"line 1: not a valid CSV header ({exc})") from None
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError(f"the {what} is missing column(s): {', '.join(missing)} (expected header {','.join(required)})")
    reader.fieldnames = header
    rows = []
    try:
        for row in reader:
            if None in row:
                raise InputError(f"line {reader.line_num}: more cells than columns")
            if not any((v or "").strip() for v in row.values()):
                continue  # a blank line is not a record
            row = {k: (v or "").strip() for k, v in row.items()}
            row["_line"] = reader.line_num
            rows.append(row)
    except csv.Error as exc:
        raise InputError(f"line {reader.line_num}: not valid CSV ({exc})") from None
    if not rows:
        raise InputError(f"the {what} has a header but no rows")
    return header, rows
