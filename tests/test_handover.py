"""The summer handover: `offboard --leaving-before DATE [--school S]`, one checklist grouped by person."""

from __future__ import annotations

import json

from conftest import ok, refused
from test_audit_rules import (
    ELM,
    FB,
    T1,
    T3,
    base,  # noqa: F401
    day,
)


def test_everyone_leaving_by_the_date_grouped_by_person(run, base):
    ok(run(["staff", "leave", T1, "--on", day(30)]))
    ok(run(["staff", "leave", T3, "--on", day(60)]))
    ok(run(["staff", "leave", ELM, "--on", day(20)]))
    result = run(["offboard", "--leaving-before", day(35), "--json"])
    assert result.exit_code == 1
    batch = json.loads(result.stdout)
    assert [p["email"] for p in batch["people"]] == [ELM, T1]  # by leaving date: T3 leaves later
    assert batch["outstanding"] == sum(p["outstanding"] for p in batch["people"]) > 0
    assert any(i["account"] == FB for i in batch["people"][1]["items"])
    from test_schemas import problems, validator

    assert problems(validator("offboard-batch.schema.json"), batch) == []
    for person in batch["people"]:
        assert problems(validator("offboard.schema.json"), person) == []
    oak_only = json.loads(run(["offboard", "--leaving-before", day(35), "--school", "oak", "--json"]).stdout)
    assert [p["email"] for p in oak_only["people"]] == [T1]
    # the table groups by person; CSV carries the person on every row
    table = run(["offboard", "--leaving-before", day(35)]).stdout
    assert table.index(ELM) < table.index(T1) and T3 not in table
    csv_out = run(["offboard", "--leaving-before", day(35), "--format", "csv"]).stdout
    assert csv_out.splitlines()[0].startswith("email,left_on,kind")
    # nobody with anything outstanding: exit 0
    elm_only = ok(run(["offboard", "--leaving-before", day(35), "--school", "elm", "--json"]))
    assert json.loads(elm_only.stdout)["outstanding"] == 0
    ok(run(["offboard", "--leaving-before", day(-1)]))


def test_bad_input(run, base):
    line = refused(run, base, ["offboard", "--leaving-before", "2027-02-30"], 2, "not a real date")
    assert "--leaving-before is not a real date: '2027-02-30'" in line  # the option named as typed
    refused(run, base, ["offboard", T1, "--leaving-before", day(3)], 2, "either")
    refused(run, base, ["offboard"], 2, "either")
    refused(run, base, ["offboard", T1, "--school", "oak"], 2, "--leaving-before")
    refused(run, base, ["offboard", "--leaving-before", day(3), "--school", "nope"], 2, "unknown school")
