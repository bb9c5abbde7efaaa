"""The JSON Schemas in schemas/ are valid, and describe what accountctl really reads and writes."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest

from accountctl import clock
from conftest import CUSTODIAN, HEAD, PASSPHRASE, ok

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
DRAFT = "https://json-schema.org/draft/2020-12/schema"

STAFF_CSV = """email,name,school,roles,trained_on,policy_ack
s.one@oak.sch.uk,Sam One,oak,staff,2026-09-01,2026.1
P.Two@Oak.sch.uk,Pat Two,OAK,slt; headteacher,,
v.three@oak.sch.uk,"Three, Vic",oak,,2026-10-15,
m.four@oak.sch.uk,Mo Four,oak,volunteer;staff,,
"""
GOOD_ROW = {
    "email": "x.new@oak.sch.uk",
    "name": "Xan New",
    "school": "oak",
    "roles": "staff",
    "trained_on": "2026-09-01",
    "policy_ack": "2026.1",
}
BAD_CELLS = [
    ("email", "not-an-email"),
    ("email", "a..b@oak.sch.uk"),
    ("email", ""),
    ("name", ""),
    ("school", ""),
    ("roles", "staff;boss"),
    ("trained_on", "01/09/2026"),
    ("trained_on", "2026-02-30"),
    ("policy_ack", "v" * 51),
    ("name", "Eve\x1b]0;PWNED\x07"),
    ("name", "Carl\rALL CLEAR"),
    ("policy_ack", "v1\x00"),
    ("name", "Bea\u202eTwo"),
    ("name", "Bea\u200bTwo"),
    ("policy_ack", "2026\u2066.1"),
]

SECRET_PASSWORD = "Tr0ub4dor&3-never-exported"
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
RECOVERY_CODES = ["rc-1111-aaaa", "rc-2222-bbbb"]
LEGACY_CSV = """id,school,platform,handle,url,category,email,owner,admins,contributors,status
,oak,twitter,@oakpe,,staff,,,,,active
"""


def load(name: str) -> dict:
    return json.loads((SCHEMAS / name).read_text(encoding="utf-8"))


def validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load(name), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def problems(v: jsonschema.Draft202012Validator, instance) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in v.iter_errors(instance)]


def csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


# -- the schemas themselves ---------------------------------------------------------------------
def test_the_schemas_are_there():
    names = {p.name for p in SCHEMAS.glob("*.json")}
    assert {"staff-import.schema.json", "register-export.schema.json"} <= names


@pytest.mark.parametrize("path", sorted(SCHEMAS.glob("*.json")), ids=lambda p: p.name)
def test_every_schema_is_a_valid_draft_2020_12_schema(path):
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert schema.get("$schema") == DRAFT
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema.get("title") and schema.get("description")


# -- staff CSV ----------------------------------------------------------------------------------
def test_sample_staff_csv_rows_match_the_schema():
    v = validator("staff-import.schema.json")
    rows = csv_rows(STAFF_CSV)
    assert len(rows) == 4
    for number, row in enumerate(rows, 2):
        assert problems(v, row) == [], f"line {number}"


@pytest.mark.parametrize("column,value", BAD_CELLS)
def test_a_bad_staff_row_fails_the_schema(column, value):
    v = validator("staff-import.schema.json")
    assert problems(v, GOOD_ROW) == []
    assert problems(v, {**GOOD_ROW, column: value}), f"{column}={value!r} should fail"


def test_a_row_missing_a_column_fails_the_schema():
    v = validator("staff-import.schema.json")
    row = dict(GOOD_ROW)
    del row["policy_ack"]
    assert problems(v, row)


def test_the_tool_accepts_the_sample_and_refuses_each_bad_row(run, oak, tmp_path):
    """The schema and `staff import` agree: the sample imports, each bad row is refused and nothing is imported."""
    header = ",".join(GOOD_ROW)
    for column, value in BAD_CELLS:
        bad = tmp_path / "bad.csv"
        row = {**GOOD_ROW, column: value}
        buf = io.StringIO()
        csv.DictWriter(buf, fieldnames=list(GOOD_ROW), lineterminator="\n").writerows([row])
        bad.write_text(f"{header}\n{buf.getvalue()}", encoding="utf-8")
        result = run(f"--as {CUSTODIAN} staff import {bad}")
        assert result.exit_code == 2, f"{column}={value!r}: exit {result.exit_code} {result.stderr}"
        assert "line 2" in result.stderr
    good = tmp_path / "staff.csv"
    good.write_text(STAFF_CSV, encoding="utf-8")
    ok(run(f"--as {CUSTODIAN} staff import {good}"))
    emails = {s["email"] for s in json.loads(ok(run("--as it@oak.sch.uk staff list --json")).stdout)}
    assert {"s.one@oak.sch.uk", "p.two@oak.sch.uk", "v.three@oak.sch.uk", "m.four@oak.sch.uk"} <= emails
    assert "x.new@oak.sch.uk" not in emails


# -- export -------------------------------------------------------------------------------------
@pytest.fixture
def busy_register(run, oak, tmp_path):
    """The oak register with every kind of record the export holds."""
    me = f"--as {CUSTODIAN}"
    head = f"--as {HEAD}"
    today = clock.today()
    ok(run(f"{me} person grant {HEAD} --access register"))
    (tmp_path / "staff.csv").write_text(STAFF_CSV, encoding="utf-8")
    ok(run(f"{me} staff import {tmp_path / 'staff.csv'}"))
    ok(run(f"{me} school add elm --name 'Elm Academy' --domain elm.sch.uk --domain elm-academy.org.uk"))

    fb = "oak-facebook-oakprimary"
    ok(
        run(
            f"{me} account request --school oak --platform facebook --handle oakprimary "
            "--url https://www.facebook.com/oakprimary --category faculty --email office@oak.sch.uk "
            "--owner t.one@oak.sch.uk --admin t.two@oak.sch.uk --contributor s.one@oak.sch.uk "
            "--aim 'News for parents' --audience Parents --promotion Newsletter --visibility open --pupils none "
            "--access login"
        )
    )
    ok(run(f"{head} approve {fb} --note 'Go ahead'"))
    ok(run(f"{me} cred set {fb} --username office@oak.sch.uk", input=SECRET_PASSWORD + "\n"))
    ok(run(f"{me} cred totp {fb}", input=TOTP_SECRET + "\n"))
    ok(run(f"{me} cred recovery {fb}", input="\n".join(RECOVERY_CODES) + "\n"))
    ok(run(f"{me} account notify-head {fb}"))
    ok(run(f"{me} account activate {fb}"))
    ok(run(f"{head} review {fb}"))
    ok(run(f"{me} monitor {fb}"))
    ok(
        run(
            f"{head} waive {fb} ONE_FACULTY_ONE_STAFF --reason 'Pilot' --until {(today + timedelta(days=30)).isoformat()}"
        )
    )

    ok(
        run(
            f"{me} account request --school oak --platform instagram --handle oakprimary "
            "--url https://www.instagram.com/oakprimary --category faculty --email office@oak.sch.uk "
            "--owner t.one@oak.sch.uk --admin t.two@oak.sch.uk "
            "--aim Photos --audience Parents --promotion Newsletter --visibility closed --pupils 11"
        )
    )
    ok(run(f"{head} reject oak-instagram-oakprimary --reason 'One account is enough'"))

    (tmp_path / "legacy.csv").write_text(LEGACY_CSV, encoding="utf-8")
    ok(run(f"{me} account import {tmp_path / 'legacy.csv'}"))

    leave = run(f"{me} staff leave v.three@oak.sch.uk --on {(today + timedelta(days=10)).isoformat()}")
    assert leave.exit_code in (0, 1), leave.stderr
    ok(run(f"{me} staff move m.four@oak.sch.uk --school elm"))
    return oak


def test_export_matches_its_schema(run, busy_register):
    result = ok(run(f"--as {CUSTODIAN} export"))
    data = json.loads(result.stdout)
    assert problems(validator("register-export.schema.json"), data) == []

    # The fixture reached every kind of record, so the schema was tested on real values, nulls included.
    accounts = {a["id"]: a for a in data["accounts"]}
    fb = accounts["oak-facebook-oakprimary"]
    assert fb["status"] == "active" and fb["contributors"] == ["s.one@oak.sch.uk"]
    assert fb["credentials"]["password_held"] and fb["credentials"]["totp_held"]
    assert fb["credentials"]["recovery_codes_held"] and fb["credentials"]["username_held"]
    legacy = next(a for a in data["accounts"] if a["legacy"])
    assert legacy["url"] is None and legacy["email"] is None and legacy["owner"] is None
    assert {a["decision"] for a in data["approvals"]} == {"approved", "rejected"}
    assert len(data["waivers"]) == 1
    staff = {s["email"]: s for s in data["staff"]}
    assert staff["v.three@oak.sch.uk"]["left_on"] and staff["m.four@oak.sch.uk"]["moved_from"] == "oak"
    assert {p["access"] for p in data["people"]} == {"vault", "register"}


def test_export_schema_refuses_what_the_code_never_writes(run, busy_register):
    data = json.loads(ok(run(f"--as {CUSTODIAN} export")).stdout)
    v = validator("register-export.schema.json")
    assert problems(v, {**data, "surprise": 1})
    account = dict(data["accounts"][0])
    account["password"] = "x"
    assert problems(v, {**data, "accounts": [account]})
    event = dict(data["events"][0], hash="not-a-hash")
    assert problems(v, {**data, "events": [event]})


def test_export_holds_no_secret(run, busy_register):
    text = ok(run(f"--as {CUSTODIAN} export")).stdout
    for secret in (PASSPHRASE, SECRET_PASSWORD, TOTP_SECRET, *RECOVERY_CODES):
        assert secret not in text
    log = ok(run(f"--as {CUSTODIAN} log --json")).stdout
    for secret in (PASSPHRASE, SECRET_PASSWORD, TOTP_SECRET, *RECOVERY_CODES):
        assert secret not in log


def test_every_schema_that_names_rule_ids_names_every_rule():
    """A rule added to the registry is added to each schema's list of rule ids (a merge once left one behind)."""
    from accountctl.core.audit.registry import RULES

    def enums(node):
        if isinstance(node, dict):
            if isinstance(node.get("enum"), list) and "TWO_ADMINS" in node["enum"]:
                yield node["enum"]
            for value in node.values():
                yield from enums(value)
        elif isinstance(node, list):
            for value in node:
                yield from enums(value)

    found = {}
    for path in sorted((Path(__file__).resolve().parents[1] / "schemas").glob("*.schema.json")):
        for enum in enums(json.loads(path.read_text(encoding="utf-8"))):
            found[path.name] = sorted(enum)
    assert {"audit-report.schema.json", "audit-summary.schema.json"} <= set(found)
    assert all(ids == sorted(RULES) for ids in found.values()), found
