"""Tables that give way: per command, which columns stay in a table too wide for the screen.

`output.table` fits any table by wrapping its cells, which at 80 columns broke rule ids, account ids
and commands mid-word. A command that names its `Priorities` is laid out here instead: the columns
it needs most stay in the table, each at least as wide as its longest word (so an id is never
broken); the rest, and always its fix or command, go on their own lines under the row, where a
command is kept whole on one line. docs/output.md describes what the user sees.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

GAP = "  "
INDENT = "  "  # lines under a row
CONTINUED = " \\"  # a shell's line continuation: a command too long for the screen still pastes as one
PROSE_MIN = (
    30  # a column of sentences kept in the table is at least this wide (or its longest word); else it goes under
)
# A command in a fix or checklist: `accountctl` and the words after it, up to a bracket or the end.
COMMAND = re.compile(r"accountctl(?: [^\s()]+)*")
BATCH = 2000  # rows laid out per piece written


@dataclass(frozen=True)
class Priorities:
    """How one command's table gives way on a narrow screen.

    `keep`: columns in the order they keep their place in the table (columns not named come after);
    `below`: columns printed under the row, on their own lines, whenever the table does not fit;
    `bare`: of those, the ones printed without their name (a command, to copy as it is).
    """

    keep: tuple[str, ...]
    below: tuple[str, ...] = ()
    bare: tuple[str, ...] = ()


def atoms(text: str) -> list[tuple[str, bool]]:
    """`text` as the pieces a line may not break: its words, and each command whole (True).

    A bracket or comma written against a command stays with it: `...EMAIL),` is one piece.
    """
    spans = [m.span() for m in COMMAND.finditer(text)]
    if not spans:
        return [(w, False) for w in text.split(" ") if w]
    pieces: list[tuple[str, bool]] = []
    at = 0
    joined = -1  # the span the last piece belongs to
    j = 0  # the first span not yet behind the word (words and spans both run left to right)
    for word in text.split(" "):
        start, end = at, at + len(word)
        at = end + 1
        if not word:
            continue
        while j < len(spans) and spans[j][1] <= start:
            j += 1
        span = j if j < len(spans) and spans[j][0] < end else -1
        if span >= 0 and span == joined:
            pieces[-1] = (pieces[-1][0] + " " + word, True)
        else:
            pieces.append((word, span >= 0))
        joined = span
    return pieces


def _command_lines(command: str, room: int) -> list[str]:
    """A command longer than `room`: broken between its words, each line but the last ending in ` \\`."""
    lines: list[str] = []
    line = ""
    for word in command.split(" "):
        if line and len(line) + 1 + len(word) + len(CONTINUED) > room:
            lines.append(line + CONTINUED)
            line = "  " + word  # the continuation indented, as a shell script would be
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return lines


def wrap_whole(text: str, room: int) -> list[str]:
    """`text` in lines of at most `room` characters, broken only between words and never inside a command.

    A command longer than `room` gets lines of its own, joined by shell continuations; only a single
    word longer than `room` (nothing accountctl writes) is cut.
    """
    room = max(room, 1)
    if len(text) <= room:
        return [text]
    lines: list[str] = []
    line = ""
    for piece, command in atoms(text):
        if line and len(line) + 1 + len(piece) <= room:
            line += " " + piece
            continue
        if line:
            lines.append(line)
            line = ""
        if len(piece) <= room:
            line = piece
        elif command:
            lines += _command_lines(piece, room)
        else:
            while len(piece) > room:
                lines.append(piece[:room])
                piece = piece[room:]
            line = piece
    if line:
        lines.append(line)
    return lines


def _words(text: str, room: int) -> list[str]:
    """A table cell in lines of at most `room`, broken only at spaces (its column is as wide as its longest word)."""
    if len(text) <= room:
        return [text]
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) <= room:
            line += " " + word
        else:
            if line:
                lines.append(line)
            line = word
    lines.append(line)
    return lines


def _minimum(header: str, cells: Sequence[str], natural: int) -> tuple[int, bool]:
    """The narrowest a column may be without breaking a word, and whether it holds sentences that wrap."""
    if not any(" " in c for c in cells):
        return natural, False
    # Cells joined a thousand at a time, split once each: the words' lengths found in C, and never every
    # word of a 37,000-finding column held at once (~30 MB of short strings).
    longest = max(max(map(len, " ".join(cells[i : i + 1000]).split(" "))) for i in range(0, len(cells), 1000))
    return max(len(header), longest, min(PROSE_MIN, natural)), True


def layout(
    headers: Sequence[str], body: list[list[str]], width: int, spec: Priorities
) -> tuple[list[str], list[int], list[str]]:
    """Which columns stay in the table (and their widths) and which go under each row, for `width`."""
    columns = list(zip(*body)) or [() for _ in headers]
    natural = [max(len(h), max(map(len, column), default=0)) for h, column in zip(headers, columns)]
    found = [_minimum(h, column, natural[i]) for i, (h, column) in enumerate(zip(headers, columns))]
    minimum = {h: m for h, (m, _) in zip(headers, found)}
    candidates = [h for h in spec.keep if h in headers and h not in spec.below]
    candidates += [h for h in headers if h not in candidates and h not in spec.below]
    chosen: list[str] = []
    used = 0
    for h in candidates:
        need = minimum[h] + (len(GAP) if chosen else 0)
        if chosen and used + need > width:
            break  # strictly by priority: a narrower column further down does not jump the queue
        chosen.append(h)
        used += need
    kept = [h for h in headers if h in chosen]
    widths = [min(minimum[h], width) for h in kept]
    spare = width - used
    for i, h in enumerate(kept):  # room left widens the columns of sentences, left first
        j = headers.index(h)
        if found[j][1] and spare > 0:
            extra = min(spare, natural[j] - widths[i])
            widths[i] += extra
            spare -= extra
    under = [h for h in headers if h not in chosen and h not in spec.below]
    under += [h for h in headers if h in spec.below]
    return kept, widths, under


def pieces(
    headers: Sequence[str],
    body: list[list[str]],
    raw: Sequence[dict[str, Any]],
    width: int,
    spec: Priorities,
    styles: Sequence[str | None] | None = None,
) -> Iterator[str]:
    """The table in pieces to join with line ends: the kept columns, then each row's other values under it.

    An empty value (none, "", false) is left out under the row: `waived: no` on every finding is noise.
    `styles`: each row's colour (its first line drawn in it; see `output.colour_on`).
    """
    import click

    kept, widths, under = layout(headers, body, width, spec)
    index = {h: i for i, h in enumerate(headers)}
    cols = [index[h] for h in kept]
    yield _aligned(kept, widths) + "\n" + GAP.join("-" * w for w in widths)
    room = width - len(INDENT)
    lines: list[str] = []
    # Most rows fit on one line: only the kept columns with a cell wider than its width are checked per row,
    # and a row that fits is padded by one format call (the same padding as _aligned).
    may_wrap = [(k, w) for k, (c, w) in enumerate(zip(cols, widths)) if any(len(r[c]) > w for r in body)]
    one_line = GAP.join(f"{{:<{w}}}" for w in widths).format
    for n, (row, item) in enumerate(zip(body, raw)):
        cells = [row[c] for c in cols]
        if all(len(cells[k]) <= w for k, w in may_wrap):
            text = one_line(*cells).rstrip()
            fg = styles[n] if styles is not None else None
            lines.append(click.style(text, fg=fg) if fg else text)
        else:
            parts = [[cell] for cell in cells]
            for k, w in may_wrap:
                parts[k] = _words(cells[k], w)
            for k in range(max(len(p) for p in parts)):
                text = one_line(*[p[k] if k < len(p) else "" for p in parts]).rstrip()
                fg = styles[n] if styles is not None and k == 0 else None
                lines.append(click.style(text, fg=fg) if fg else text)
        for h in under:
            value = item.get(h)
            if value is None or value == "" or value is False:
                continue
            text = row[index[h]] if h in spec.bare else f"{h}: {row[index[h]]}"
            lines += [INDENT + line for line in wrap_whole(text, room)]
        if n % BATCH == BATCH - 1:
            yield "\n".join(lines)
            lines = []
    if lines:
        yield "\n".join(lines)


def _aligned(cells: Sequence[str], widths: Sequence[int]) -> str:
    return GAP.join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
