"""The renderers' fast paths give exactly what the plain library calls give."""

from __future__ import annotations

import json
from datetime import date

from hypothesis import given, strategies as st

from accountctl.cli import output

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text())
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=12)


@given(values)
def test_one_line_encoding_matches_json_dumps(value):
    assert output._compact(value) == json.dumps(value, ensure_ascii=False)


def test_one_line_encoding_writes_other_types_as_text():
    assert output._compact({"on": date(2026, 11, 21)}) == '{"on": "2026-11-21"}'


@given(values)
def test_the_readable_json_parses_back_to_the_same_data(value):
    assert json.loads(output.to_json(value)) == value


@given(st.lists(st.dictionaries(st.sampled_from("abc"), scalars, min_size=1), min_size=1, max_size=output.JSON_BATCH * 2 + 3))
def test_long_lists_come_out_one_record_a_line_across_batches(records):
    text = output.to_json({"findings": records})
    lines = text.split("\n")  # not splitlines(): text may hold U+2028 and other breaks JSON leaves raw
    assert len(lines) == len(records) + 4  # {, "findings": [, one per record, ], }
    assert [json.loads(line.strip().rstrip(",")) for line in lines[2:-2]] == records


@given(st.lists(st.lists(st.one_of(st.none(), st.booleans(), st.text(), st.lists(st.text(), max_size=3)),
                         min_size=2, max_size=2), max_size=20))
def test_table_cells_match_the_general_cell_rendering(rows):
    for a, b in rows:
        for value in (a, b):
            assert output._table_cell(value) == output.escape(output._cell(value, ", "))


def test_a_list_longer_than_two_batches_keeps_every_record_once():
    records = [{"n": i} for i in range(output.JSON_BATCH * 2 + 1)]
    lines = output.to_json({"findings": records}).split("\n")
    assert [json.loads(line.strip().rstrip(",")) for line in lines[2:-2]] == records
    assert all(line.endswith(",") for line in lines[2:-3]) and not lines[-3].endswith(",")
