"""`staff sync`: a school's full roster from the MIS (staff CSV) or Google Workspace (GAM export).

Without --apply nothing changes (the register file is byte-identical); --apply records joiners,
leavers, moves and updates; a second --apply changes nothing; nobody is ever deleted; a bad row
refuses the whole file, naming its line.
"""

from __future__ import annotations

import json

import pytest

from conftest import CUSTODIAN, HEAD, ok, refused

TODAY = "2030-03-02"
T1, T2, T3 = "t.one@oak.sch.uk", "t.two@oak.sch.uk", "t.three@oak.sch.uk"
E1 = "e.one@elm.sch.uk"
GONE = "gone@oak.sch.uk"

STAFF_CSV = f"""email,name,school,roles,trained_on,policy_ack
{CUSTODIAN},Ira Tech,oak,it,,
{HEAD},Hana Head,oak,headteacher;slt,,
T.One@Oak.sch.uk,Tom One,OAK,staff,2026-09-01,2030.1
{T2},Tia Two-Smith,,staff,2026-09-01,
n.new@oak.sch.uk,"New, Nia",oak,staff;volunteer,2030-02-01,2030.1
{E1},Eve One,oak,staff,,
"""
CSV_CHANGES = [
    ("join", "n.new@oak.sch.uk"),
    ("move", E1),
    ("update", T1),
    ("update", T2),
    ("leave", T3),
]

GAM = f"""primaryEmail,name.fullName,suspended
{CUSTODIAN},Ira Tech,False
{HEAD},Hana Head,False
{T1},Tom One,True
{T2},Tia Two,False
{T3},Tad Threeson,false
g.new@oak.sch.uk,Gil New,False
x.never@oak.sch.uk,Never Here,True
{E1},Eve One,False
"""
# Eve is on elm's domain: a GAM export can cover a whole trust's Workspace, so she is ignored, not moved.
GAM_CHANGES = [
    ("join", "g.new@oak.sch.uk"),
    ("update", T3),
    ("leave", T1),
]


@pytest.fixture
def school(monkeypatch, run, oak):
    """oak (with a third teacher and someone who left in January) and elm (with Eve)."""
    monkeypatch.setenv("ACCOUNTCTL_TODAY", TODAY)
    ok(run(f'staff add {T3} --name "Tad Three" --school oak --role staff --trained-on 2026-09-01'))
    ok(run(f'staff add {GONE} --name "Gwen Gone" --school oak --role staff'))
    ok(run(f"staff leave {GONE} --on 2030-01-31"))
    ok(run('school add elm --name "Elm Academy" --domain elm.sch.uk'))
    ok(run(f'staff add {E1} --name "Eve One" --school elm --role staff'))
    return oak


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def staff(run) -> dict[str, dict]:
    return {s["email"]: s for s in json.loads(ok(run("staff list --json")).stdout)}


def sync(run, *args, code=0) -> dict:
    result = ok(run(["staff", "sync", *args, "--format", "json"]), code)
    return json.loads(result.stdout)


def changes(data) -> list[tuple[str, str]]:
    return [(c["change"], c["email"]) for c in data["changes"]]


# -- the staff CSV --------------------------------------------------------------------------------
def test_staff_csv_shows_then_applies_then_changes_nothing(run, school, tmp_path):
    roster = write(tmp_path, "mis.csv", STAFF_CSV)
    before_file = school.read_bytes()
    before = staff(run)

    # Show: every kind of change, nothing written.
    dry = sync(run, roster, "--school", "oak")
    assert dry["school"] == "oak" and dry["format"] == "staff-csv" and dry["applied"] is False
    assert changes(dry) == CSV_CHANGES
    detail = {c["email"]: c["detail"] for c in dry["changes"]}
    assert "elm" in detail[E1] and "oak" in detail[E1]
    assert "policy_ack" in detail[T1] and "Tia Two-Smith" in detail[T2]
    assert TODAY in detail[T3]
    table = ok(run(["staff", "sync", roster, "--school", "oak"]))
    assert "Would apply (use --apply): 1 join, 1 move, 2 update, 1 leave (6 on the staff-csv roster)" in table.stderr
    for _, email in CSV_CHANGES:
        assert email in table.stdout
    assert school.read_bytes() == before_file, "sync without --apply changed the register"

    # Apply.
    applied = sync(run, roster, "--school", "oak", "--apply")
    assert applied["applied"] is True and changes(applied) == CSV_CHANGES
    after = staff(run)
    assert set(before) <= set(after) and len(after) == len(before) + 1
    new = after["n.new@oak.sch.uk"]
    assert (new["name"], new["school"], new["roles"], new["trained_on"], new["policy_ack"], new["status"]) == (
        "New, Nia",
        "oak",
        ["staff", "volunteer"],
        "2030-02-01",
        "2030.1",
        "active",
    )
    assert after[E1]["school"] == "oak" and after[E1]["moved_from"] == "elm" and after[E1]["moved_on"] == TODAY
    assert after[T1]["policy_ack"] == "2030.1" and after[T1]["trained_on"] == "2026-09-01"
    assert after[T2]["name"] == "Tia Two-Smith"
    assert after[T3]["left_on"] == TODAY and after[T3]["status"] == "left"
    assert after[GONE] == before[GONE], "someone who had already left is left alone"
    assert after[HEAD] == before[HEAD] and after[CUSTODIAN] == before[CUSTODIAN]
    # The recorded leaver and mover are what offboard sees.
    offboard = json.loads(ok(run(["offboard", T3, "--json"])).stdout)
    assert offboard["status"] == "left" and offboard["left_on"] == TODAY
    mover = json.loads(ok(run(["offboard", E1, "--json"])).stdout)
    assert mover["status"] == "moved" and mover["moved_from"] == "elm"
    actions = [e["action"] for e in json.loads(ok(run("log --json")).stdout)]
    assert {"staff.sync.join", "staff.sync.move", "staff.sync.update", "staff.sync.leave"} <= set(actions)

    # A second run: nothing to do, nothing written.
    file_after = school.read_bytes()
    again = ok(run(["staff", "sync", roster, "--school", "oak", "--apply"]))
    assert "Applied: no changes" in again.stderr
    assert sync(run, roster, "--school", "oak", "--apply")["changes"] == []
    assert staff(run) == after
    assert school.read_bytes() == file_after


def test_gam_export_shows_then_applies_with_left_on_then_changes_nothing(run, school, tmp_path):
    roster = write(tmp_path, "users.csv", GAM)
    before_file = school.read_bytes()
    before = staff(run)

    dry = sync(run, roster, "--school", "oak", "--left-on", "2030-03-31")
    assert dry["format"] == "gam" and dry["applied"] is False and dry["ignored"] == 1
    assert changes(dry) == GAM_CHANGES
    leaver = [c for c in dry["changes"] if c["change"] == "leave"][0]
    assert "suspended" in leaver["detail"] and "2030-03-31" in leaver["detail"]
    assert school.read_bytes() == before_file

    applied = sync(run, roster, "--school", "oak", "--apply", "--left-on", "2030-03-31")
    assert changes(applied) == GAM_CHANGES
    after = staff(run)
    assert "x.never@oak.sch.uk" not in after, "a suspended user who was never staff is not added"
    assert len(after) == len(before) + 1
    assert after["g.new@oak.sch.uk"]["roles"] == ["staff"] and after["g.new@oak.sch.uk"]["school"] == "oak"
    assert after[T3]["name"] == "Tad Threeson" and after[T3]["roles"] == ["staff"]  # GAM says nothing of roles
    assert after[HEAD]["roles"] == before[HEAD]["roles"] == ["slt", "headteacher"]
    # --left-on: an upcoming leaver, still active today.
    assert after[T1]["left_on"] == "2030-03-31" and after[T1]["status"] == "active"
    assert after[E1]["school"] == "elm" and not after[E1]["moved_from"]

    file_after = school.read_bytes()
    assert sync(run, roster, "--school", "oak", "--apply", "--left-on", "2030-03-31")["changes"] == []
    assert (
        sync(run, roster, "--school", "oak", "--apply")["changes"] == []
    )  # a different --left-on changes nothing either
    assert staff(run) == after and school.read_bytes() == file_after


def test_left_on_defaults_to_today_and_never_deletes_anyone(run, school, tmp_path):
    # A roster naming only the custodian: everyone else at oak leaves; nobody disappears; elm is untouched.
    roster = write(
        tmp_path, "one.csv", f"email,name,school,roles,trained_on,policy_ack\n{CUSTODIAN},Ira Tech,oak,it,,\n"
    )
    before = staff(run)
    data = sync(run, roster, "--school", "oak", "--apply")
    assert changes(data) == [("leave", HEAD), ("leave", T1), ("leave", T3), ("leave", T2)]  # sorted by email
    after = staff(run)
    assert set(after) == set(before)
    for email in (HEAD, T1, T2, T3):
        assert after[email]["left_on"] == TODAY and after[email]["status"] == "left"
    assert after[GONE]["left_on"] == "2030-01-31"
    assert after[E1] == before[E1]


def test_only_a_custodian_may_compare_or_apply_a_roster(run, school, tmp_path, monkeypatch):
    # SPEC's command table: `staff sync` is the custodian's (a roster names every member of staff)
    ok(run(f"person grant {HEAD} --access register"))
    monkeypatch.setenv("ACCOUNTCTL_USER", CUSTODIAN)
    roster = write(tmp_path, "users.csv", GAM)
    assert changes(sync(run, roster, "--school", "oak")) == GAM_CHANGES
    refused(run, school, ["--as", HEAD, "staff", "sync", roster, "--school", "oak"], 3, "custodian")
    refused(run, school, ["--as", HEAD, "staff", "sync", roster, "--school", "oak", "--apply"], 3, "custodian")


# -- refusals -------------------------------------------------------------------------------------
HEADER = "email,name,school,roles,trained_on,policy_ack\n"
GAM_HEADER = "primaryEmail,name.fullName,suspended\n"
GOOD = f"{T1},Tom One,oak,staff,,\n"
GOOD_GAM = f"{T1},Tom One,False\n"


@pytest.mark.parametrize(
    "text, words",
    [
        (HEADER + GOOD + "not-an-email,Nia New,oak,staff,,\n", ["line 3", "not a valid email"]),
        (HEADER + GOOD + "n.new@oak.sch.uk,Nia New,elm,staff,,\n", ["line 3", "elm", "one school"]),
        (HEADER + GOOD + f"{T2},Tia,oak,,,\nT.ONE@oak.sch.uk,Tom,oak,,,\n", ["line 4", "already on line 2"]),
        (HEADER + GOOD + "n.new@oak.sch.uk,Nia New,oak,staff,2030-02-30,\n", ["line 3", "trained_on"]),
        (HEADER + GOOD + "n.new@oak.sch.uk,Nia New,oak,staff,01/02/2030,\n", ["line 3", "YYYY-MM-DD"]),
        (HEADER + GOOD + "n.new@oak.sch.uk,Nia New,oak,boss,,\n", ["line 3", "boss"]),
        (HEADER + GOOD + "n.new@oak.sch.uk,,oak,staff,,\n", ["line 3", "name"]),
        (HEADER + GOOD + "n.new@oak.sch.uk,Nia,oak,staff,,,extra\n", ["line 3", "more cells"]),
        (GAM_HEADER + GOOD_GAM + "n.new@oak.sch.uk,Nia New,maybe\n", ["line 3", "suspended", "maybe"]),
        (GAM_HEADER + GOOD_GAM + "nope@,Nia New,False\n", ["line 3", "not a valid email"]),
        (GAM_HEADER + GOOD_GAM + f"{T1.upper()},Tom Again,True\n", ["line 3", "already on line 2"]),
        ("email,name,school\n" + f"{T1},Tom One,oak\n", ["unrecognised roster"]),
        ("primaryEmail,fullName\n" + f"{T1},Tom One\n", ["unrecognised roster"]),
        ("", ["empty"]),
        (HEADER, ["no rows"]),
    ],
    ids=[
        "email",
        "other-school",
        "duplicate",
        "no-such-date",
        "date-format",
        "role",
        "no-name",
        "extra-cell",
        "suspended",
        "gam-email",
        "gam-duplicate",
        "staff-header",
        "gam-header",
        "empty",
        "header-only",
    ],
)
@pytest.mark.parametrize("apply", [False, True], ids=["show", "apply"])
def test_bad_roster_is_refused_whole_and_changes_nothing(run, school, tmp_path, text, words, apply):
    roster = write(tmp_path, "bad.csv", text)
    before = staff(run)
    refused(run, school, ["staff", "sync", roster, "--school", "oak", *(["--apply"] if apply else [])], 2, *words)
    assert staff(run) == before


@pytest.mark.parametrize(
    "args, words",
    [
        (["--school", "nowhere", "--apply"], ["unknown school"]),
        (["--school", "oak", "--apply", "--left-on", "2030-02-30"], ["--left-on"]),
        (["--school", "oak", "--apply", "--left-on", "31/03/2030"], ["--left-on"]),
    ],
)
def test_bad_options_are_refused(run, school, tmp_path, args, words):
    roster = write(tmp_path, "users.csv", GAM)
    refused(run, school, ["staff", "sync", roster, *args], 2, *words)


def test_missing_file_is_refused(run, school, tmp_path):
    refused(run, school, ["staff", "sync", str(tmp_path / "nope.csv"), "--school", "oak", "--apply"], 2, "no such file")


def test_a_leaver_back_on_the_roster_is_shown_but_reinstated_only_with_rejoin(run, school, tmp_path):
    ok(run(f"staff leave {T2} --on 2026-01-31"))
    roster = write(
        tmp_path,
        "users.csv",
        f"""primaryEmail,name.fullName,suspended
{CUSTODIAN},Ira Tech,False
{HEAD},Hana Head,False
{T1},Tom One,False
{T2},Tia Two,False
{T3},Tad Three,False
""",
    )
    held = ok(run(["staff", "sync", str(roster), "--school", "oak", "--apply"]))
    assert "Not reinstated" in held.stderr and T2 in held.stderr
    assert staff(run)[T2]["left_on"] == "2026-01-31", "a lagging roster must not undo a leaver"
    again = json.loads(ok(run(["staff", "sync", str(roster), "--school", "oak", "--apply", "--json"])).stdout)
    assert [(c["change"], c["applied"]) for c in again["changes"]] == [("rejoin", False)]
    ok(run(["staff", "sync", str(roster), "--school", "oak", "--apply", "--rejoin"]))
    assert staff(run)[T2]["left_on"] is None
    final = json.loads(ok(run(["staff", "sync", str(roster), "--school", "oak", "--apply", "--json"])).stdout)
    assert final["changes"] == []


def test_sync_report_and_gam_rows_match_their_schemas(run, school, tmp_path):
    import csv
    import io
    from pathlib import Path

    import jsonschema

    schemas = Path(__file__).resolve().parents[1] / "schemas"
    report = sync(run, write(tmp_path, "users.csv", GAM), "--school", "oak")
    jsonschema.validate(report, json.loads((schemas / "staff-sync.schema.json").read_text()))
    row_schema = json.loads((schemas / "gam-users.schema.json").read_text())
    for row in csv.DictReader(io.StringIO(GAM)):
        jsonschema.validate(row, row_schema)
    bad = {"primaryEmail": "not-an-email", "name.fullName": "X", "suspended": "maybe"}
    assert list(jsonschema.Draft202012Validator(row_schema).iter_errors(bad))


# -- Microsoft Entra (Microsoft 365) -----------------------------------------------------------------
ENTRA_HEADER = (
    "userPrincipalName,displayName,surname,mail,givenName,objectId,userType,jobTitle,department,"
    "accountEnabled,usageLocation\n"
)
ENTRA = (
    ENTRA_HEADER
    + f"""{CUSTODIAN},Ira Tech,Tech,{CUSTODIAN},Ira,id-1,Member,IT,IT,True,GB
{HEAD},Hana Head,Head,{HEAD},Hana,id-2,Member,Head,SLT,True,GB
{T1},Tom One,One,{T1},Tom,id-3,Member,Teacher,Y6,False,GB
{T2},Tia Two,Two,{T2},Tia,id-4,Member,Teacher,Y4,TRUE,GB
{T3},Tad Threeson,Threeson,{T3},Tad,id-5,Member,Teacher,Y2,true,GB
g.new@oak.sch.uk,Gil New,New,g.new@oak.sch.uk,Gil,id-6,Member,TA,Y1,True,GB
x.never@oak.sch.uk,Never Here,Here,,Never,id-7,Member,,,False,GB
{E1},Eve One,One,{E1},Eve,id-8,Member,Teacher,Y1,True,GB
parent_gmail.com#EXT#@oaktrust.onmicrosoft.com,A Parent,,parent@gmail.com,,id-9,Guest,,,True,
"""
)


def test_entra_download_is_recognised_and_follows_the_gam_rules(run, school, tmp_path):
    roster = write(tmp_path, "exportUsers_2030-3-2.csv", "\ufeff" + ENTRA)  # Excel-friendly BOM, as Entra writes
    before_file = school.read_bytes()
    dry = sync(run, roster, "--school", "oak", "--left-on", "2030-03-31")
    assert dry["format"] == "entra" and dry["applied"] is False
    assert dry["ignored"] == 2, "Eve (elm's domain) and the guest are left out"
    assert changes(dry) == GAM_CHANGES  # blocked sign-in (accountEnabled False) is a leaver, as suspended in GAM
    assert school.read_bytes() == before_file
    applied = sync(run, roster, "--school", "oak", "--apply", "--left-on", "2030-03-31")
    assert changes(applied) == GAM_CHANGES
    after = staff(run)
    assert "x.never@oak.sch.uk" not in after and after[T1]["left_on"] == "2030-03-31"
    assert after[E1]["school"] == "elm"
    assert sync(run, roster, "--school", "oak", "--apply")["changes"] == []


def test_entra_never_undoes_a_leaver_without_rejoin(run, school, tmp_path):
    ok(run(f"staff leave {T2} --on 2026-01-31"))
    rows = f"{CUSTODIAN},Ira Tech,,,,,Member,,,True,GB\n{T2},Tia Two,,,,,Member,,,True,GB\n"  # IT stays
    roster = write(tmp_path, "users.csv", ENTRA_HEADER + rows)
    held = ok(run(["staff", "sync", roster, "--school", "oak", "--apply"]))
    assert "Not reinstated" in held.stderr and staff(run)[T2]["left_on"] == "2026-01-31"


@pytest.mark.parametrize(
    "row, words",
    [
        (f"{T1},Tom One,,,,,Member,,,maybe,GB\n", ["line 3", "accountEnabled", "maybe"]),
        (f"{T1},Tom One,,,,,Member,,,,GB\n", ["line 3", "accountEnabled"]),
        ("nope@,Nia,,,,,Member,,,True,GB\n", ["line 3", "userPrincipalName", "not a valid email"]),
        (f"{T2},,,,,,Member,,,True,GB\n", ["line 3", "displayName"]),
    ],
    ids=["enabled-word", "enabled-blank", "upn", "no-name"],
)
def test_bad_entra_row_is_refused_whole(run, school, tmp_path, row, words):
    roster = write(tmp_path, "bad.csv", ENTRA_HEADER + f"{CUSTODIAN},Ira Tech,,,,,Member,,,True,GB\n" + row)
    refused(run, school, ["staff", "sync", roster, "--school", "oak", "--apply"], 2, *words)


def test_entra_example_and_rows_match_the_schema():
    import csv
    import io
    from pathlib import Path

    import jsonschema

    root = Path(__file__).resolve().parents[1]
    row_schema = json.loads((root / "schemas" / "entra-users.schema.json").read_text())
    example = (root / "docs" / "examples" / "entra-users.csv").read_text(encoding="utf-8-sig")
    for text in (example, ENTRA):
        rows = list(csv.DictReader(io.StringIO(text)))
        assert rows
        for row in rows:
            jsonschema.validate(row, row_schema)
    bad = {"userPrincipalName": "x", "displayName": "", "accountEnabled": ""}
    assert len(list(jsonschema.Draft202012Validator(row_schema).iter_errors(bad))) == 3


# -- Microsoft 365 admin centre, and people no roster of employees lists -------------------------------
M365_HEADER = "Block credential,City,Country/Region,Department,Display name,First name,Last name,User principal name\n"
M365 = (
    M365_HEADER
    + f"""False,,,IT,Ira Tech,Ira,Tech,{CUSTODIAN}
False,,,SLT,Hana Head,Hana,Head,{HEAD}
True,,,Y6,Tom One,Tom,One,{T1}
False,,,Y4,Tia Two,Tia,Two,{T2}
FALSE,,,Y2,Tad Threeson,Tad,Threeson,{T3}
False,,,Y1,Gil New,Gil,New,g.new@oak.sch.uk
True,,,,Never Here,Never,Here,x.never@oak.sch.uk
False,,,Y1,Eve One,Eve,One,{E1}
"""
)


def test_m365_admin_centre_export_is_recognised_and_follows_the_gam_rules(run, school, tmp_path):
    roster = write(tmp_path, "users.csv", "\ufeff" + M365)
    dry = sync(run, roster, "--school", "oak", "--left-on", "2030-03-31")
    assert dry["format"] == "m365" and dry["ignored"] == 1
    assert changes(dry) == GAM_CHANGES  # Block credential True is a leaver
    jsonschema_validate_rows(M365, "m365-users.schema.json")


def jsonschema_validate_rows(text: str, schema: str) -> None:
    import csv
    import io
    from pathlib import Path

    import jsonschema

    row_schema = json.loads((Path(__file__).resolve().parents[1] / "schemas" / schema).read_text())
    for row in csv.DictReader(io.StringIO(text)):
        jsonschema.validate(row, row_schema)


def test_a_bad_m365_row_is_refused_whole(run, school, tmp_path):
    roster = write(tmp_path, "bad.csv", M365_HEADER + f"maybe,,,,Tom One,Tom,One,{T1}\n")
    refused(run, school, ["staff", "sync", roster, "--school", "oak", "--apply"], 2, "line 2", "Block credential")


def test_volunteers_and_other_domains_are_never_proposed_as_leavers(run, school, tmp_path):
    ok(run('staff add v.helper@oak.sch.uk --name "Val Helper" --school oak --role volunteer'))
    ok(run("school update oak --add-domain oakacademy.org.uk"))
    ok(run('staff add a.cad@oakacademy.org.uk --name "Ann Cad" --school oak --role staff'))
    roster = write(tmp_path, "users.csv", M365)
    leavers = {email for change, email in changes(sync(run, roster, "--school", "oak")) if change == "leave"}
    assert leavers == {T1}  # not the volunteer, nor Ann on a domain the export does not cover
    ok(run('staff add p.helper@oak.sch.uk --name "Pat Helper" --school oak --role volunteer --role staff'))
    leavers = {email for change, email in changes(sync(run, roster, "--school", "oak")) if change == "leave"}
    assert leavers == {T1, "p.helper@oak.sch.uk"}  # also staff: an employee the roster should list


def test_governors_chairs_and_volunteers_are_never_proposed_as_leavers(run, school, tmp_path):
    # they are on no staff roster: their absence from one says nothing (issue 25)
    ok(run('staff add g.ov@oak.sch.uk --name "Gil Gov" --school oak --role governor --role chair'))
    ok(run('staff add v.ol@oak.sch.uk --name "Val Vol" --school oak --role volunteer'))
    data = sync(run, write(tmp_path, "mis.csv", STAFF_CSV), "--school", "oak")
    proposed = {email for change, email in changes(data) if change == "leave"}
    assert "g.ov@oak.sch.uk" not in proposed and "v.ol@oak.sch.uk" not in proposed and T3 in proposed


def test_a_volunteer_the_export_shows_blocked_is_still_never_proposed_as_a_leaver(run, school, tmp_path):
    # SPEC: never, for someone whose only roles are volunteer, governor or chair (docs/guide-it.md says so too)
    ok(run('staff add v.ol@oak.sch.uk --name "Val Vol" --school oak --role volunteer'))
    ok(run('staff add g.ov@oak.sch.uk --name "Gil Gov" --school oak --role governor'))
    blocked = "True,,,,Val Vol,Val,Vol,v.ol@oak.sch.uk\nTrue,,,,Gil Gov,Gil,Gov,g.ov@oak.sch.uk\n"
    proposed = {
        email
        for change, email in changes(sync(run, write(tmp_path, "u.csv", M365 + blocked), "--school", "oak"))
        if change == "leave"
    }
    assert proposed == {T1}  # Tom One, staff and blocked, is; the volunteer and the governor are not
