"""The renderers: fast paths give exactly what the plain library calls give; tables are safe and fit."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
from datetime import date

import pytest
from hypothesis import given, strategies as st

from accountctl.cli import output
from accountctl.safetext import escape_cell, json_text

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text())
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)


@given(values)
def test_one_line_encoding_matches_json_dumps(value):
    assert output._compact(value) == json.dumps(value, ensure_ascii=False)


def test_one_line_encoding_writes_other_types_as_text():
    assert output._compact({"on": date(2026, 11, 21)}) == '{"on": "2026-11-21"}'


@given(values)
def test_the_readable_json_parses_back_to_the_same_data(value):
    assert json.loads(output.to_json(value)) == value


@given(
    st.lists(
        st.dictionaries(st.sampled_from("abc"), scalars, min_size=1), min_size=1, max_size=output.JSON_BATCH * 2 + 3
    )
)
def test_long_lists_come_out_one_record_a_line_across_batches(records):
    text = output.to_json({"findings": records})
    lines = text.split("\n")  # not splitlines(): text may hold U+2028 and other breaks JSON leaves raw
    assert len(lines) == len(records) + 4  # {, "findings": [, one per record, ], }
    assert [json.loads(line.strip().rstrip(",")) for line in lines[2:-2]] == records


@given(
    st.lists(
        st.lists(
            st.one_of(st.none(), st.booleans(), st.text(), st.lists(st.text(), max_size=3)), min_size=2, max_size=2
        ),
        max_size=20,
    )
)
def test_table_cells_match_the_general_cell_rendering(rows):
    for a, b in rows:
        for value in (a, b):
            assert output._table_cell(value) == output.escape(output._cell(value, ", "))


def test_a_list_longer_than_two_batches_keeps_every_record_once():
    records = [{"n": i} for i in range(output.JSON_BATCH * 2 + 1)]
    lines = output.to_json({"findings": records}).split("\n")
    assert [json.loads(line.strip().rstrip(",")) for line in lines[2:-2]] == records
    assert all(line.endswith(",") for line in lines[2:-3]) and not lines[-3].endswith(",")


# -- safe output and tables that fit (issue 15) ----------------------------------------------------
# What a user (or a key holder writing the database directly) can put in any field: any text at all, often
# with the characters a terminal, spreadsheet or browser acts on, and the lists and flags records hold.
HOSTILE_CHARS = (
    "\x00\x07\t\n\r\x1b\x7f\x85\x9b\u2028\u2029\u202a\u202e\u2066\u2069\u200b\u200d\u200e\u061c\ufeff\u180e\u2064=+-@"
)
any_text = st.text(alphabet=st.one_of(st.characters(), st.sampled_from(HOSTILE_CHARS)))
user_values = st.one_of(st.none(), st.booleans(), st.integers(), any_text, st.lists(any_text, max_size=3))
COLUMNS = ["email", "name", "message"]
records = st.lists(st.fixed_dictionaries({c: user_values for c in COLUMNS}), max_size=8)
widths = st.one_of(st.none(), st.integers(min_value=20, max_value=200))


INVISIBLE = set(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
    "\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff\u180e\u2028\u2029"
)


def _unsafe(text: str, tab: bool = False) -> list[str]:
    """Characters a terminal, spreadsheet or browser would act on: C0 controls (newlines between lines
    aside, and a tab where `tab` allows it), DEL and C1 controls, line separators, bidi and zero-width ones.

    Checked on the text as printed: in UTF-8 every character beyond ASCII is made of bytes of 0x80 and
    above (a euro sign is E2 82 AC), so "no byte 0x7f-0x9f" can only mean no such character.
    """
    return [
        ch
        for ch in text
        if ch != "\n" and not (tab and ch == "\t") and (ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F or ch in INVISIBLE)
    ]


def printed(data, fmt: str, width: int | None, monkeypatch) -> str:
    if width is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", str(width))
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(io.StringIO()):
        if fmt == "record":
            for item in data:
                output.record(item, "table", COLUMNS)
        else:
            output.rows(data, COLUMNS, fmt)
    return buffer.getvalue()


@given(records, widths)
def test_no_value_puts_a_control_character_into_a_table(data, width):
    with pytest.MonkeyPatch.context() as mp:
        for fmt in ("table", "record"):
            text = printed(data, fmt, width, mp)
            assert _unsafe(text) == [], (fmt, text)


@given(records)
def test_no_value_puts_a_control_character_into_csv_or_json(data):
    with pytest.MonkeyPatch.context() as mp:
        text = printed(data, "csv", None, mp)
        assert _unsafe(text, tab=True) == [], text
        assert len(text.split("\n")) == len(data) + 2  # a row a line: no cell holds a line end
        text = printed(data, "json", None, mp)
    assert _unsafe(text) == [], text
    assert json.loads(text) == data  # escaped the JSON way: a parser gets every value back as it was


@given(records, st.integers(min_value=40, max_value=200))
def test_a_table_fits_the_width_it_is_given(data, width):
    with pytest.MonkeyPatch.context() as mp:
        for fmt in ("table", "record"):
            assert all(len(line) <= width for line in printed(data, fmt, width, mp).splitlines()), fmt


@given(records)
def test_no_csv_cell_starts_with_a_formula_character(data):
    with pytest.MonkeyPatch.context() as mp:
        text = printed(data, "csv", None, mp)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert len(rows) == len(data) + 1
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    for row, item in zip(rows[1:], data):  # a prefixed cell is the value with one quote before it, nothing else
        for cell, column in zip(row, COLUMNS):
            plain = output._cell(item[column], ";")
            assert cell == escape_cell(plain) or cell == escape_cell("'" + plain)  # control characters escaped
            assert cell[1:] == escape_cell(plain) or not plain.startswith(tuple(output.FORMULA_START))


@given(st.text(), st.integers(min_value=1, max_value=40))
def test_wrapping_loses_nothing_and_keeps_to_the_width(text, width):
    lines = output.wrap(text, width)
    assert all(len(line) <= width for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")


def test_escaped_characters_are_shown_the_way_python_writes_them():
    assert output.escape("Eve\x1b]0;PWNED\x07") == "Eve\\x1b]0;PWNED\\x07"
    assert output.escape("Carl\rALL CLEAR\tok\n") == "Carl\\rALL CLEAR\\tok\\n"
    assert output.escape("a\x9bb\u202ec\u2028d") == "a\\x9bb\\u202ec\\u2028d"
    assert (
        output.escape("a\u200bb\u2066c\ufeffd\u061ce\u180ef\u2064")
        == "a\\u200bb\\u2066c\\ufeffd\\u061ce\\u180ef\\u2064"
    )
    assert output.escape("Zoë – café €5 日本") == "Zoë – café €5 日本"  # printable text stays as it is


@pytest.mark.parametrize(
    "natural, width, expected",
    [
        ([10, 8, 60, 80], 200, [10, 8, 60, 80]),  # fits: unchanged
        ([10, 8, 60, 80], 100, [10, 8, 38, 38]),  # the prose columns give way
        ([30, 30, 60, 80], 60, [15, 13, 13, 13]),  # then all of them, widest first
    ],
)
def test_column_widths_give_way_prose_first(natural, width, expected):
    fitted = output.fit_widths(natural, width, [False, False, True, True])
    assert sum(fitted) + 2 * (len(fitted) - 1) <= width
    assert fitted == expected


def test_a_screen_too_narrow_for_the_columns_gets_one_record_after_another():
    body = [["t.one@oak.sch.uk", "Tom One", "active"], ["t.two@oak.sch.uk", "Tia Two", "left"]]
    text = output.table(["email", "name", "status"], body, width=20)
    assert text.split("\n\n")[0].splitlines() == [
        "email   t.one@oak.",
        "        sch.uk",
        "name    Tom One",
        "status  active",
    ]
    assert all(len(line) <= 20 for line in text.splitlines())


def test_long_tables_are_shortened_one_line_a_row():
    body = [[f"oak-facebook-account-{i}", "word " * 30] for i in range(output.LONG_TABLE + 1)]
    lines = output.table(["account", "message"], body, width=80).splitlines()
    assert len(lines) == len(body) + 2 and lines[-1].endswith("…") and all(len(line) <= 80 for line in lines)


def test_whole_rows_for_pipes_and_wide_whatever_the_width(monkeypatch):
    import click

    monkeypatch.delenv("COLUMNS", raising=False)
    assert output.screen_width() is None  # not a terminal, no COLUMNS
    monkeypatch.setenv("COLUMNS", "90")
    assert output.screen_width() == 90
    with click.Context(click.Command("x")) as ctx:
        ctx.meta[output.WIDE] = True
        assert output.screen_width() is None
    monkeypatch.delenv("COLUMNS")
    monkeypatch.setattr(output, "isatty_stdout", lambda: True)
    monkeypatch.setattr("shutil.get_terminal_size", lambda fallback=(80, 24): os.terminal_size((77, 24)))
    assert output.screen_width() == 77


@given(
    st.lists(st.one_of(values, st.dictionaries(st.sampled_from(["rule", "account", "waived"]), scalars)), max_size=8)
)
def test_records_fast_path_writes_what_the_encoder_writes(records):
    # lists of flat records take a fast path (see _records): the same text as the C encoder, record by record
    assert output._records(records, "  ") == json_text(",\n".join("  " + output._compact(v) for v in records))
    assert output._records([{1: "a", None: True}, {"a": float("inf")}], "") == '{"1": "a", "null": true}\n'[:-1] + (
        ',\n{"a": Infinity}'
    )


def test_long_tables_and_csv_are_written_in_pieces_that_join_to_the_whole(monkeypatch):
    # rows() writes a plain table a batch of lines at a time and CSV about a megabyte at a time: the
    # pieces must join to exactly the one-piece text
    monkeypatch.delenv("COLUMNS", raising=False)
    data = [
        {"a": f"row {i}", "b": "x" * (i % 700), "c": None, "d": i % 3 == 0} for i in range(output.JSON_BATCH * 2 + 5)
    ]
    columns = ["a", "b", "c", "d"]
    body = [[output._table_cell(item.get(c)) for c in columns] for item in data]
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        output.rows(data, columns, "table")
    assert buffer.getvalue() == output.table(columns, body) + "\n"
    whole = io.StringIO()
    csv.writer(whole, lineterminator="\n").writerows([columns] + [[output._cell(v, ";") for v in row] for row in body])
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        output.rows(data, columns, "csv")
    assert len(buffer.getvalue()) > output.OUTPUT_PIECE and buffer.getvalue() == whole.getvalue()


@pytest.mark.parametrize("n", [0, 1, 2, output.JSON_BATCH, output.JSON_BATCH + 1, 2 * output.JSON_BATCH + 3])
def test_records_read_as_they_are_written_give_the_same_json_as_a_list(n):
    """`export` hands iter_json its staff, accounts, approvals and events as iterators: the same text."""
    records = [{"seq": i, "action": "account.review", "details": {"n": i}, "note": None} for i in range(n)]
    document = {"before": 1, "events": records, "after": []}
    streamed = {**document, "events": iter(records), "after": iter([])}
    assert "".join(output.iter_json(streamed)) == "".join(output.iter_json(document))
    assert json.loads("".join(output.iter_json({**document, "events": iter(records)})))["events"] == records
