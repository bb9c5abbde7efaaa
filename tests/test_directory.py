"""Schools and staff: add, import, train, show, list; bad input refused with one line and nothing written."""

from __future__ import annotations

import csv
import io
import json
import shlex
from pathlib import Path

import keyring
import pytest
from click.testing import CliRunner

from accountctl.cli import cli
from accountctl.store import keyring_cache
from conftest import CUSTODIAN, HEAD, PASSPHRASE, TEST_KDF, MemoryKeyring, ok, error_line as refused

OAK_STAFF = [CUSTODIAN, HEAD, "t.one@oak.sch.uk", "t.two@oak.sch.uk"]
HEADER = "email,name,school,roles,trained_on,policy_ack\n"


# -- the `oak` register of conftest, built once per module and copied per test ----------------------------
@pytest.fixture(scope="module")
def template(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("template") / "oak.accountctl"
    runner = CliRunner()
    env = {
        "ACCOUNTCTL_KDF": TEST_KDF,
        "ACCOUNTCTL_REGISTER": str(path),
        "ACCOUNTCTL_PASSPHRASE": PASSPHRASE,
        "ACCOUNTCTL_NEW_PASSPHRASE": PASSPHRASE,
        "ACCOUNTCTL_USER": None,
        "ACCOUNTCTL_TODAY": None,
    }
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    keyring_cache.reset()
    try:
        for args in (
            f'init --trust "Oak Trust" --email {CUSTODIAN} --name "Ira Tech"',
            'school add oak --name "Oak Primary" --domain oak.sch.uk',
            f'staff add {CUSTODIAN} --name "Ira Tech" --school oak --role it',
            f'staff add {HEAD} --name "Hana Head" --school oak --role headteacher --role slt',
            'staff add t.one@oak.sch.uk --name "Tom One" --school oak --role staff --trained-on 2026-09-01',
            'staff add t.two@oak.sch.uk --name "Tia Two" --school oak --role staff --trained-on 2026-09-01',
        ):
            result = runner.invoke(cli, shlex.split(args), env=env, catch_exceptions=False)
            assert result.exit_code == 0, result.stderr
    finally:
        keyring.set_keyring(previous)
        keyring_cache.reset()
    return path.read_bytes()


@pytest.fixture
def reg(register_path, template) -> Path:
    register_path.write_bytes(template)
    return register_path


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes()
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name.startswith("oak.accountctl") and not p.name.endswith(".lock")
    }


def refused_unchanged(run, reg: Path, args, code: int, *texts: str, **kwargs) -> None:
    before = snapshot(reg.parent)
    refused(run(args, **kwargs), code, *texts)
    assert snapshot(reg.parent) == before, "a refused command wrote to the register"


def staff(run, extra="") -> list[dict]:
    return json.loads(ok(run(f"staff list --json {extra}")).stdout)


def events(run) -> list[dict]:
    return json.loads(ok(run("log --json")).stdout)


# -- schools -----------------------------------------------------------------------------------------
def test_school_add_and_list(run, reg):
    n = len(events(run))
    result = ok(
        run(
            'school add elm-central --name "Elm Trust Central" --domain @ELM.org.uk --domain elm.sch.uk '
            "--domain elm.sch.uk --central"
        )
    )
    assert "elm-central" in result.stderr and result.stdout == ""
    schools = {s["id"]: s for s in json.loads(ok(run("school list --json")).stdout)}
    assert set(schools) == {"oak", "elm-central"}
    assert schools["elm-central"]["domains"] == ["elm.org.uk", "elm.sch.uk"]  # normalised, de-duplicated
    assert schools["elm-central"]["central"] is True and schools["oak"]["central"] is False
    rows = list(csv.DictReader(io.StringIO(ok(run("school list --format csv")).stdout)))
    assert [r["id"] for r in rows] == ["elm-central", "oak"]
    assert rows[0]["domains"] == "elm.org.uk;elm.sch.uk"
    table = ok(run("school list")).stdout
    assert "Elm Trust Central" in table and "Oak Primary" in table
    added = events(run)[n:]
    assert [(e["action"], e["target"], e["actor"]) for e in added] == [("school.add", "elm-central", CUSTODIAN)]


@pytest.mark.parametrize(
    "args, text",
    [
        ('school add "Elm School" --name Elm --domain elm.sch.uk', "lower-case letters"),
        ("school add --name Elm --domain elm.sch.uk -- -elm", "lower-case letters"),
        ("school add ELM --name Elm --domain elm.sch.uk", "lower-case letters"),
        ("school add elm_1 --name Elm --domain elm.sch.uk", "lower-case letters"),
        ("school add elm --name Elm --domain gmail.com", "personal mail provider"),
        ("school add elm --name Elm --domain elm.sch.uk --domain Hotmail.co.uk", "personal mail provider"),
        ("school add elm --name Elm --domain not_a_domain", "not a valid email domain"),
        ("school add elm --name Elm --domain localhost", "not a valid email domain"),
        ('school add elm --name "  " --domain elm.sch.uk', "must not be empty"),
        ("school add oak --name Oak --domain oak2.sch.uk", "already exists"),
        ("school add elm --name Elm", "--domain"),
    ],
)
def test_school_add_bad_input(run, reg, args, text):
    refused_unchanged(run, reg, args, 2, text)
    assert [s["id"] for s in json.loads(ok(run("school list --json")).stdout)] == ["oak"]


# -- staff add ---------------------------------------------------------------------------------------
def test_staff_add_records_training_and_policy(run, reg):
    ok(
        run(
            "staff add New.Teacher@Oak.SCH.uk --name 'Nia New' --school OAK --role slt --role staff --role slt "
            "--trained-on 2026-09-01 --policy-ack 2026-v2"
        )
    )
    person = json.loads(ok(run("staff show new.teacher@oak.sch.uk --json")).stdout)
    assert person["email"] == "new.teacher@oak.sch.uk"
    assert person["school"] == "oak"
    assert person["roles"] == ["slt", "staff"]
    assert (person["trained_on"], person["policy_ack"]) == ("2026-09-01", "2026-v2")
    assert (person["status"], person["left_on"]) == ("active", None)
    last = events(run)[-1]
    assert (last["action"], last["target"], last["actor"]) == ("staff.add", "new.teacher@oak.sch.uk", CUSTODIAN)
    assert last["details"]["trained_on"] == "2026-09-01" and last["details"]["policy_ack"] == "2026-v2"


def test_staff_add_defaults_to_the_staff_role_and_no_training(run, reg):
    ok(run("staff add v@oak.sch.uk --name Vee --school oak"))
    person = json.loads(ok(run("staff show V@OAK.SCH.UK --json")).stdout)
    assert person["roles"] == ["staff"] and person["trained_on"] is None and person["policy_ack"] is None


@pytest.mark.parametrize(
    "args, text",
    [
        ("staff add not-an-email --name X --school oak", "not a valid email"),
        ("staff add x@oak --name X --school oak", "not a valid email"),
        ("staff add x..y@oak.sch.uk --name X --school oak", "not a valid email"),
        ("staff add 'x y@oak.sch.uk' --name X --school oak", "not a valid email"),
        ("staff add @oak.sch.uk --name X --school oak", "not a valid email"),
        ("staff add x@oak.sch.uk --name X --school elm", "unknown school"),
        ("staff add x@oak.sch.uk --name X --school oak --role teacher", "unknown role"),
        ("staff add x@oak.sch.uk --name X --school oak --role staff --role admin", "unknown role"),
        (f"staff add {HEAD} --name Dup --school oak", "already exists"),
        ("staff add Head@Oak.Sch.UK --name Dup --school oak", "already exists"),
        ("staff add ' head@oak.sch.uk ' --name Dup --school oak", "already exists"),
        ("staff add x@oak.sch.uk --name X --school oak --trained-on 2026-13-01", "not a real date"),
        ("staff add x@oak.sch.uk --name X --school oak --trained-on 2026-02-30", "not a real date"),
        ("staff add x@oak.sch.uk --name X --school oak --trained-on 01/02/2026", "YYYY-MM-DD"),
        ("staff add x@oak.sch.uk --name X --school oak --trained-on 2026-1-5", "YYYY-MM-DD"),
        ("staff add x@oak.sch.uk --name X --school oak --trained-on tomorrow", "YYYY-MM-DD"),
        ("staff add x@oak.sch.uk --name '' --school oak", "must not be empty"),
        ("staff add x@oak.sch.uk --name X --school oak --policy-ack " + "v" * 51, "longer than 50"),
        ("staff add x@oak.sch.uk --school oak", "--name"),
    ],
)
def test_staff_add_bad_input(run, reg, args, text):
    refused_unchanged(run, reg, args, 2, text)
    assert sorted(s["email"] for s in staff(run)) == sorted(OAK_STAFF)


# -- staff import ------------------------------------------------------------------------------------
def write_csv(tmp_path: Path, text: str, name="staff.csv", encoding="utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


GOOD_CSV = HEADER + (
    "a.one@oak.sch.uk,Ann One,oak,staff,2026-09-01,2026\n"
    "B.Two@Oak.sch.uk,Ben Two,oak,slt;headteacher,,\n"
    '"c.three@oak.sch.uk","Three, Cat",oak,,2026-01-31,\n'
)


def test_staff_import_imports_every_row(run, reg, tmp_path):
    n = len(events(run))
    result = ok(run(f"staff import {write_csv(tmp_path, GOOD_CSV)}"))
    assert "Imported 3" in result.stderr
    people = {s["email"]: s for s in staff(run)}
    assert set(people) == set(OAK_STAFF) | {"a.one@oak.sch.uk", "b.two@oak.sch.uk", "c.three@oak.sch.uk"}
    assert people["b.two@oak.sch.uk"]["roles"] == ["slt", "headteacher"]
    assert people["c.three@oak.sch.uk"]["name"] == "Three, Cat"
    assert people["c.three@oak.sch.uk"]["roles"] == ["staff"]
    assert people["a.one@oak.sch.uk"]["trained_on"] == "2026-09-01"
    assert people["a.one@oak.sch.uk"]["policy_ack"] == "2026"
    assert people["b.two@oak.sch.uk"]["trained_on"] is None
    added = events(run)[n:]
    assert sorted(e["target"] for e in added) == ["a.one@oak.sch.uk", "b.two@oak.sch.uk", "c.three@oak.sch.uk"]
    assert {e["action"] for e in added} == {"staff.add"}
    ok(run("verify"))


def test_staff_import_handles_bom_crlf_blank_lines_and_column_order(run, reg, tmp_path):
    text = (
        "\ufeffName,Email,School,Roles,Trained_On,Policy_Ack\r\n"
        "Ann One,a.one@oak.sch.uk,oak,staff,,\r\n"
        "\r\n"
        "Ben Two,b.two@oak.sch.uk,oak,it,,\r\n"
    )
    ok(run(f"staff import {write_csv(tmp_path, text)}"))
    people = {s["email"]: s for s in staff(run)}
    assert people["a.one@oak.sch.uk"]["name"] == "Ann One" and people["b.two@oak.sch.uk"]["roles"] == ["it"]


@pytest.mark.parametrize(
    "row3, text",
    [
        ("not-an-email,Bad Row,oak,staff,,", "not a valid email"),
        ("bad@oak.sch.uk,Bad Row,elm,staff,,", "unknown school"),
        ("bad@oak.sch.uk,Bad Row,oak,teacher,,", "unknown role"),
        ("bad@oak.sch.uk,Bad Row,oak,staff,2026-13-01,", "trained_on"),
        ("bad@oak.sch.uk,Bad Row,oak,staff,01/09/2026,", "trained_on"),
        ("bad@oak.sch.uk,,oak,staff,,", "name must not be empty"),
        (",Bad Row,oak,staff,,", "not a valid email"),
        ("bad@oak.sch.uk,Bad Row,,staff,,", "unknown school"),
        ("bad@oak.sch.uk,Bad Row,oak,staff,,,extra", "more cells than columns"),
        ("HEAD@oak.sch.uk,Hana Again,oak,slt,,", "already exists"),
    ],
)
def test_staff_import_with_a_bad_row_on_line_3_names_it_and_imports_nothing(run, reg, tmp_path, row3, text):
    csv_text = HEADER + "ok.one@oak.sch.uk,Ok One,oak,staff,,\n" + row3 + "\nok.two@oak.sch.uk,Ok Two,oak,staff,,\n"
    path = write_csv(tmp_path, csv_text)
    n = len(events(run))
    refused_unchanged(run, reg, f"staff import {path}", 2, "line 3", text)
    assert sorted(s["email"] for s in staff(run)) == sorted(OAK_STAFF)
    assert len(events(run)) == n


def test_staff_import_duplicate_within_the_file(run, reg, tmp_path):
    path = write_csv(tmp_path, HEADER + "dup@oak.sch.uk,One,oak,,,\nDUP@oak.sch.uk,Two,oak,,,\n")
    refused_unchanged(run, reg, f"staff import {path}", 2, "line 3", "already on line 2")


@pytest.mark.parametrize(
    "content, text",
    [
        ("email,name,school,trained_on,policy_ack\nx@oak.sch.uk,X,oak,,\n", "missing column(s): roles"),
        ("email,name\nx@oak.sch.uk,X\n", "missing column(s): school, roles, trained_on, policy_ack"),
        ("", "empty"),
        ("\n\n  \n", "empty"),
        (HEADER, "no rows"),
        (HEADER + "\n,,,,,\n", "no rows"),
        ("x@oak.sch.uk,X,oak,staff,,\n", "missing column"),  # no header line at all
    ],
)
def test_staff_import_bad_files(run, reg, tmp_path, content, text):
    refused_unchanged(run, reg, f"staff import {write_csv(tmp_path, content)}", 2, text)


def test_staff_import_missing_path_folder_and_non_utf8(run, reg, tmp_path):
    refused_unchanged(run, reg, f"staff import {tmp_path / 'nope.csv'}", 2, "no such file")
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    refused_unchanged(run, reg, f"staff import {folder}", 2, "is a folder")
    latin = write_csv(tmp_path, HEADER + "z@oak.sch.uk,Zoë,oak,,,\n", name="latin1.csv", encoding="latin-1")
    refused_unchanged(run, reg, f"staff import {latin}", 2, "not UTF-8")


# -- train, show, list -------------------------------------------------------------------------------
def test_staff_train_records_date_and_keeps_policy_ack(run, reg):
    ok(run("staff train T.One@oak.sch.uk --on 2026-10-02 --policy-ack 2026"))
    person = json.loads(ok(run("staff show t.one@oak.sch.uk --json")).stdout)
    assert (person["trained_on"], person["policy_ack"]) == ("2026-10-02", "2026")
    ok(run("staff train t.one@oak.sch.uk --on 2026-11-03"))
    person = json.loads(ok(run("staff show t.one@oak.sch.uk --json")).stdout)
    assert (person["trained_on"], person["policy_ack"]) == ("2026-11-03", "2026")
    last = events(run)[-1]
    assert (last["action"], last["target"], last["details"]["trained_on"]) == (
        "staff.train",
        "t.one@oak.sch.uk",
        "2026-11-03",
    )


@pytest.mark.parametrize(
    "args, text",
    [
        ("staff train nobody@oak.sch.uk --on 2026-10-02", "unknown staff"),
        ("staff train t.one@oak.sch.uk --on 2026-10-32", "not a real date"),
        ("staff train t.one@oak.sch.uk --on 02/10/2026", "YYYY-MM-DD"),
        ("staff train nonsense --on 2026-10-02", "not a valid email"),
    ],
)
def test_staff_train_bad_input(run, reg, args, text):
    refused_unchanged(run, reg, args, 2, text)


def test_staff_show(run, reg):
    table = ok(run(f"staff show {HEAD.upper()}")).stdout
    lines = dict(line.split(None, 1) for line in table.splitlines() if len(line.split(None, 1)) == 2)
    assert lines["email"] == HEAD and lines["roles"] == "slt, headteacher" and lines["school"] == "oak"
    data = json.loads(ok(run(f"staff show {HEAD} --format json")).stdout)
    assert data["name"] == "Hana Head"
    rows = list(csv.DictReader(io.StringIO(ok(run(f"staff show {HEAD} --format csv")).stdout)))
    assert len(rows) == 1 and rows[0]["email"] == HEAD and rows[0]["roles"] == "slt;headteacher"
    refused(run("staff show nobody@oak.sch.uk"), 2, "unknown staff")


def test_staff_list_filters_by_school_and_renders_every_format(run, reg):
    ok(run("school add elm --name Elm --domain elm.sch.uk"))
    ok(run('staff add e.one@elm.sch.uk --name "One, Elm" --school elm --role staff --role volunteer'))
    assert [s["email"] for s in staff(run, "--school elm")] == ["e.one@elm.sch.uk"]
    assert [s["email"] for s in staff(run, "--school OAK")] == sorted(OAK_STAFF)
    everyone = staff(run)
    assert [s["email"] for s in everyone] == sorted(OAK_STAFF + ["e.one@elm.sch.uk"])
    rows = list(csv.DictReader(io.StringIO(ok(run("staff list --format csv --school elm")).stdout)))
    assert rows == [
        {
            "email": "e.one@elm.sch.uk",
            "name": "One, Elm",
            "school": "elm",
            "roles": "staff;volunteer",
            "status": "active",
            "left_on": "",
            "trained_on": "",
            "policy_ack": "",
        }
    ]
    full = list(csv.DictReader(io.StringIO(ok(run("staff list --format csv")).stdout)))
    assert [r["email"] for r in full] == [s["email"] for s in everyone]
    table = ok(run("staff list --school elm")).stdout
    assert "e.one@elm.sch.uk" in table and HEAD not in table
    refused(run("staff list --school pine"), 2, "unknown school")


def test_an_empty_list_prints_no_data(run, reg):
    ok(run("school add elm --name Elm --domain elm.sch.uk"))
    assert json.loads(ok(run("staff list --school elm --json")).stdout) == []
    assert ok(run("staff list --school elm --format csv")).stdout.strip() == ",".join(
        ["email", "name", "school", "roles", "status", "left_on", "trained_on", "policy_ack"]
    )
    result = ok(run("staff list --school elm"))
    assert result.stdout == "" and "(none)" in result.stderr


def test_global_options_work_before_and_after_the_subcommand(run, reg, tmp_path, monkeypatch):
    expected = ok(run("staff list --json")).stdout
    assert json.loads(expected)
    assert ok(run("--format json staff list")).stdout == expected
    assert ok(run("--json staff list")).stdout == expected
    assert ok(run("staff list --format json")).stdout == expected
    assert ok(run("--format csv staff list")).stdout == ok(run("staff list --format csv")).stdout
    assert ok(run("--format csv staff list")).stdout.startswith("email,name,")
    # the inner (later) one wins
    assert ok(run("--format csv staff list --json")).stdout == expected
    # --register and --as, before or after
    elsewhere = tmp_path / "elsewhere" / "oak.accountctl"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(reg.read_bytes())
    monkeypatch.setenv("ACCOUNTCTL_REGISTER", str(tmp_path / "missing.accountctl"))
    assert ok(run(f"--register {elsewhere} --as {CUSTODIAN} staff list --json")).stdout == expected
    assert ok(run(f"staff list --json --register {elsewhere} --as {CUSTODIAN}")).stdout == expected
    ok(run(f"--register {elsewhere} staff add w@oak.sch.uk --name W --school oak"))
    assert elsewhere.read_bytes() != reg.read_bytes()
    refused(run("staff list"), 2, "no register")


@pytest.mark.parametrize("kind", ["missing", "folder", "missing-folder"])
def test_a_register_path_that_is_missing_or_a_folder_says_how_to_create_one(run, tmp_path, monkeypatch, kind):
    target = {
        "missing": tmp_path / "none.accountctl",
        "folder": tmp_path,
        "missing-folder": tmp_path / "no" / "such" / "reg.accountctl",
    }[kind]
    monkeypatch.setenv("ACCOUNTCTL_REGISTER", str(target))
    before = sorted(p.name for p in tmp_path.rglob("*"))
    for args in (
        "staff list",
        "school add elm --name Elm --domain elm.sch.uk",
        f"staff list --register {target}",
        "vault status",
        "log",
    ):
        refused(run(args), 2, str(target), "accountctl init")
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_accountctl_today_sets_the_dates_recorded(run, reg, monkeypatch):
    monkeypatch.setenv("ACCOUNTCTL_TODAY", "2031-02-03")
    ok(run("school add elm --name Elm --domain elm.sch.uk"))
    ok(run("staff add e@elm.sch.uk --name E --school elm"))
    ok(run("staff train e@elm.sch.uk --on 2031-01-01"))
    ok(run("person grant e@elm.sch.uk --access register", env={"ACCOUNTCTL_NEW_PASSPHRASE": "elm passphrase"}))
    recent = json.loads(ok(run(f"log --json --as {CUSTODIAN}")).stdout)[-4:]  # two slots now: say who
    assert [e["action"] for e in recent] == ["school.add", "staff.add", "staff.train", "person.grant"]
    assert all(e["at"].startswith("2031-02-03T") and e["at"].endswith("Z") for e in recent), recent
    older = json.loads(ok(run(f"log --json --as {CUSTODIAN}")).stdout)[:-4]
    assert not any(e["at"].startswith("2031-02-03") for e in older)
    person = json.loads(ok(run(f"staff show e@elm.sch.uk --json --as {CUSTODIAN}")).stdout)
    assert person["created_at"].startswith("2031-02-03T")
    school = json.loads(ok(run(f"school list --json --as {CUSTODIAN}")).stdout)
    assert [s["created_at"][:10] for s in school if s["id"] == "elm"] == ["2031-02-03"]
    people = json.loads(ok(run(f"person list --json --as {CUSTODIAN}")).stdout)
    assert [p["granted_at"][:10] for p in people if p["email"] == "e@elm.sch.uk"] == ["2031-02-03"]


def test_a_malformed_accountctl_today_is_refused(run, reg, monkeypatch):
    monkeypatch.setenv("ACCOUNTCTL_TODAY", "03/02/2031")
    refused_unchanged(run, reg, "staff add e@oak.sch.uk --name E --school oak", 2, "ACCOUNTCTL_TODAY")


def test_only_a_custodian_changes_the_directory(run, reg, tmp_path):
    ok(run(f"person grant {HEAD} --access register", env={"ACCOUNTCTL_NEW_PASSPHRASE": "head passphrase"}))
    head = {"ACCOUNTCTL_USER": HEAD, "ACCOUNTCTL_PASSPHRASE": "head passphrase"}
    path = write_csv(tmp_path, GOOD_CSV)
    for args in (
        "school add elm --name Elm --domain elm.sch.uk",
        "staff add x@oak.sch.uk --name X --school oak",
        f"staff import {path}",
        "staff train t.one@oak.sch.uk --on 2026-10-01",
    ):
        refused_unchanged(run, reg, args, 3, "only an IT custodian", env=head)
    # ...while anyone with a slot can read it
    assert len(json.loads(ok(run("staff list --json", env=head)).stdout)) == 4
    ok(run(f"staff show {CUSTODIAN}", env=head))


def test_the_last_custodian_cannot_be_recorded_as_leaving_which_would_lock_the_register_for_good(
    run, oak, tmp_path, monkeypatch
):
    # The attack of an outside check: the only custodian records their own leaving today, and every
    # later write (a new custodian, a corrected date) exits 3, for ever, recovery key or not.
    monkeypatch.setenv("ACCOUNTCTL_USER", CUSTODIAN)
    before = oak.read_bytes()
    for on in ("2026-01-01", "2099-07-31"):  # a date past, or ahead (the lock comes when it does)
        line = refused(run(["staff", "leave", CUSTODIAN, "--on", on]), 2, "last IT custodian", "--access vault")
        assert CUSTODIAN in line
    assert oak.read_bytes() == before
    roster = tmp_path / "roster.csv"  # the MIS export has no row for IT: sync would make them a leaver
    roster.write_text(HEADER + f"{HEAD},Hana Head,oak,headteacher;slt,,\n", encoding="utf-8")
    refused(run(["staff", "sync", str(roster), "--school", "oak", "--apply"]), 2, "last IT custodian")
    assert oak.read_bytes() == before
    # with a second custodian who is staying, the first one's leaving is recorded
    ok(run(["staff", "add", "it.two@oak.sch.uk", "--name", "Ivo Two", "--school", "oak", "--role", "it"]))
    ok(
        run(
            ["person", "grant", "it.two@oak.sch.uk", "--access", "vault"],
            env={"ACCOUNTCTL_NEW_PASSPHRASE": "ivo two's own passphrase 2026"},
        )
    )
    ok(run(["staff", "leave", CUSTODIAN, "--on", "2099-07-31"]))
    # and now the second is the one who stays: their leaving, even before the first's, would lock it too
    refused(run(["staff", "leave", "it.two@oak.sch.uk", "--on", "2099-07-30"]), 2, "last IT custodian")


def test_a_training_date_ahead_is_refused_everywhere_and_today_is_not(run, oak, tmp_path, monkeypatch):
    # An outside check: training "on 2030-01-01" was stored, cleared TRAINING_MISSING and let an account go live.
    monkeypatch.setenv("ACCOUNTCTL_TODAY", "2026-12-07")
    before = oak.read_bytes()
    refused(run(["staff", "add", "f@oak.sch.uk", "--name", "F", "--school", "oak", "--trained-on", "2026-12-08"]), 2)
    for kind in ("social-media", "cyber"):
        line = refused(run(["staff", "train", "t.one@oak.sch.uk", "--on", "2026-12-08", "--kind", kind]), 2)
        assert "2026-12-08 is in the future" in line
    path = tmp_path / "staff.csv"
    path.write_text(HEADER + "f@oak.sch.uk,F,oak,staff,2026-12-08,\n", encoding="utf-8")
    assert "line 2" in refused(run(["staff", "import", str(path)]), 2, "in the future")
    refused(run(["staff", "sync", str(path), "--school", "oak"]), 2, "in the future")
    assert oak.read_bytes() == before
    ok(run(["staff", "train", "t.one@oak.sch.uk", "--on", "2026-12-07", "--kind", "cyber"]))


@pytest.mark.parametrize("day", ["0001-01-01", "1899-12-31", "9001-01-01", "01/01/0001"])
def test_a_date_no_school_record_can_hold_is_one_line_and_exit_2(run, oak, day):
    line = refused(run(["audit", "--as-of", day]), 2, "--as-of")
    assert "internal error" not in line
    ok(run(["audit", "--as-of", "1900-01-01"]))
