"""The audit's command line: exit codes, filters, output formats and their schema, the vault-only rules,
`rules`, waivers (who, how long, expiry), `review`, `monitor` and `config`.

Registers start from `base` (see test_audit_rules): a compliant oak Facebook account on TODAY.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import jsonschema
import pytest

from conftest import CUSTODIAN, HEAD, ok, refused
from test_audit_rules import (
    ALL_RULES,
    ELM,
    FB,
    SLT,
    SPEC_SEVERITY,
    T1,
    T2,
    T3,
    TODAY,
    audit,
    day,
    found,
    import_accounts,
    one,
    request_argv,
    waive,
)
from test_audit_rules import base  # noqa: F401  (a fixture: tests name it as a parameter)

SCHEMA = Path(__file__).resolve().parent.parent / "schemas" / "audit-report.schema.json"
FINDING_COLUMNS = ["rule", "severity", "account", "school", "message", "fix", "waived"]
CEO = "ceo@oaktrust.org.uk"
SEED_NAMES = re.compile(r"Connect|Huxley|Agora|Dartmoor|Preston")  # the published policies the rules are drawn from


def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def problems(instance) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in validator().iter_errors(instance)]


def exit_code(run, *args) -> int:
    result = run(["audit", *args])
    assert result.exit_code in (0, 1), result.stderr
    return result.exit_code


def add_one_admin_account(run, tmp_path, **over):
    """A legacy request with a single admin: one TWO_ADMINS error."""
    row = {"id": "oak-x-oakpe", "platform": "x", "handle": "oakpe", "admins": "", "status": "requested"}
    import_accounts(run, tmp_path, {**row, **over})


# -- exit codes and --fail-on -------------------------------------------------------------------------------
def test_fail_on_each_level(run, base, tmp_path):
    late = ["--as-of", day(8)]  # the monitoring check is 8 days old: one info finding
    expected_info_only = {"error": 0, "warning": 0, "info": 1}
    for level, code in expected_info_only.items():
        assert exit_code(run, *late, "--fail-on", level) == code, level
    assert exit_code(run, *late) == 0  # default: error

    ok(run(["account", "admin", "remove", FB, T3]))  # CHANGED_SINCE_APPROVAL: a warning
    for level, code in {"error": 0, "warning": 1, "info": 1}.items():
        assert exit_code(run, *late, "--fail-on", level) == code, level
        assert exit_code(run, "--fail-on", level) == (1 if level != "error" else 0), level
    assert exit_code(run, *late) == 0

    add_one_admin_account(run, tmp_path)  # TWO_ADMINS: an error
    for level in ("error", "warning", "info"):
        assert exit_code(run, *late, "--fail-on", level) == 1, level
        assert exit_code(run, *late, "--fail-on", level, "--format", "csv") == 1, level
    assert exit_code(run, *late) == 1

    waive(run, "oak-x-oakpe", "TWO_ADMINS")  # a waived error no longer fails the run
    assert exit_code(run, *late) == 0
    assert exit_code(run, *late, "--fail-on", "warning") == 1
    report, code = audit(run, *late)
    assert report["summary"]["counts"]["error"] == 1 and report["summary"]["unwaived"]["error"] == 0
    assert report["summary"]["fail_on"] == "error" and code == 0


def test_fail_on_rejects_an_unknown_level(run, base):
    result = run(["audit", "--fail-on", "fatal"])
    assert result.exit_code == 2 and result.stdout == ""


# -- --rule ---------------------------------------------------------------------------------------------------
def test_rule_filter(run, base, tmp_path):
    add_one_admin_account(run, tmp_path, email="pe@gmail.com")  # TWO_ADMINS and SCHOOL_EMAIL
    report, code = audit(run)
    assert {"TWO_ADMINS", "SCHOOL_EMAIL"} <= {f["rule"] for f in report["findings"]} and code == 1

    report, code = audit(run, "--rule", "SCHOOL_EMAIL")
    assert [f["rule"] for f in report["findings"]] == ["SCHOOL_EMAIL"] and code == 1
    assert report["summary"]["rules"] == ["SCHOOL_EMAIL"]

    report, _ = audit(run, "--rule", "school_email", "--rule", " two_admins ")  # case and spaces forgiven
    assert sorted(f["rule"] for f in report["findings"]) == ["SCHOOL_EMAIL", "TWO_ADMINS"]
    assert report["summary"]["rules"] == ["SCHOOL_EMAIL", "TWO_ADMINS"]

    report, code = audit(run, "--rule", "MFA_NOT_HELD")
    assert report["findings"] == [] and code == 0

    report, _ = audit(run, "--rule", "TWO_ADMINS", "--rule", "TWO_ADMINS")  # given twice, applied once
    assert len(report["findings"]) == 1 and report["summary"]["rules"] == ["TWO_ADMINS"]


@pytest.mark.parametrize("bad", ["NO_SUCH_RULE", "", "TWO ADMINS"])
def test_rule_filter_unknown_rule(run, base, bad):
    refused(run, base, ["audit", "--rule", "TWO_ADMINS", "--rule", bad], 2, "unknown rule", "accountctl rules")
    refused(run, base, ["audit", "--json", "--rule", bad], 2, "unknown rule")


# -- --school ---------------------------------------------------------------------------------------------------
def test_school_filter(run, base, tmp_path):
    import_accounts(
        run,
        tmp_path,
        {
            "id": "elm-x-main",
            "school": "elm",
            "platform": "x",
            "handle": "elmmain",
            "email": "office@elm.sch.uk",
            "owner": ELM,
            "admins": "",
            "status": "requested",
        },
    )
    report, code = audit(run)
    assert {f["account"] for f in report["findings"]} == {"elm-x-main"} and code == 1
    assert report["summary"]["accounts_audited"] == 2 and report["summary"]["school"] is None

    report, code = audit(run, "--school", "oak")
    assert report["findings"] == [] and code == 0
    assert report["summary"]["school"] == "oak" and report["summary"]["accounts_audited"] == 1

    report, code = audit(run, "--school", " ELM ")
    assert {(f["account"], f["school"]) for f in report["findings"]} == {("elm-x-main", "elm")} and code == 1
    assert report["summary"]["school"] == "elm" and report["summary"]["accounts_audited"] == 1


@pytest.mark.parametrize("bad", ["ash", "oak-primary", ""])
def test_school_filter_unknown_school(run, base, bad):
    refused(run, base, ["audit", "--school", bad], 2, "unknown school")


# -- --as-of and ACCOUNTCTL_TODAY ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad", ["2026-13-01", "2026-02-30", "01/10/2026", "2026-1-1", "tomorrow", "", "2026-10-01T00:00"]
)
def test_bad_as_of(run, base, bad):
    line = refused(run, base, ["audit", "--as-of", bad], 2, "--as-of")
    assert line.startswith("Error: --as-of must be a date as YYYY-MM-DD") or line.startswith(
        "Error: --as-of is not a real date"
    ), line
    refused(run, base, ["audit", "--json", "--as-of", bad], 2, "--as-of")


def test_bad_accountctl_today(run, base):
    refused(run, base, ["audit"], 2, "ACCOUNTCTL_TODAY", env={"ACCOUNTCTL_TODAY": "2026-02-30"})


def test_as_of_overrides_accountctl_today(run, base):
    report, _ = audit(run, "--as-of", "2027-01-15", today="2026-11-01")
    assert report["summary"]["as_of"] == "2027-01-15"
    report, _ = audit(run, today="2026-11-01")
    assert report["summary"]["as_of"] == "2026-11-01"


# -- output formats ------------------------------------------------------------------------------------------------
def busy_register(run, base, tmp_path):
    """Findings of every severity, one with commas and quotes in its message, a waived one, a person-level one."""
    ok(run(request_argv("oak-facebook-oakpe", handle="oakpe")))  # ONE_FACULTY_ONE_STAFF on both (", " in message)
    add_one_admin_account(run, tmp_path, email="pe.sports@gmail.com")  # TWO_ADMINS and SCHOOL_EMAIL
    waive(run, "oak-facebook-oakpe", "ONE_FACULTY_ONE_STAFF")
    ok(run(["staff", "leave", HEAD, "--on", day(3)]))  # CUSTODIAN_LEFT from day 3 (account null)
    ok(run(["staff", "leave", T1, "--on", day(20)]))  # the upcoming leaver warning


def test_csv_output_parses_and_matches_json(run, base, tmp_path):
    busy_register(run, base, tmp_path)
    result = run(["audit", "--format", "csv", "--as-of", day(10)])
    assert result.exit_code == 1
    rows = list(csv.DictReader(io.StringIO(result.stdout, newline="")))
    assert list(rows[0].keys()) == FINDING_COLUMNS
    report, _ = audit(run, "--as-of", day(10))
    assert len(rows) == len(report["findings"]) >= 6
    for row, finding in zip(rows, report["findings"]):
        assert row == {
            **{k: str(finding[k]) for k in FINDING_COLUMNS},
            "account": finding["account"] or "",
            "waived": "yes" if finding["waived"] else "no",
        }
    assert any(", " in r["message"] for r in rows)
    assert {"error", "warning", "info"} == {r["severity"] for r in rows}
    assert "Audited" not in result.stdout  # the summary line is a message, not data


def test_csv_output_with_no_findings_is_just_the_header(run, base):
    result = ok(run(["audit", "--format", "csv"]))
    assert list(csv.reader(io.StringIO(result.stdout)))[0] == FINDING_COLUMNS
    assert len(list(csv.reader(io.StringIO(result.stdout)))) == 1


def test_table_output_and_summary_line(run, base, tmp_path):
    busy_register(run, base, tmp_path)
    result = run(["audit", "--as-of", day(10)])
    assert result.exit_code == 1
    header = result.stdout.splitlines()[0].split()
    assert header == FINDING_COLUMNS
    assert "CUSTODIAN_LEFT" in result.stdout and "ONE_FACULTY_ONE_STAFF" in result.stdout
    assert result.stderr.strip().splitlines()[-1].startswith(f"Audited 3 account(s) as of {day(10)}:")


def test_json_output_validates_against_the_schema(run, base, tmp_path):
    reports = [audit(run)[0]]  # no findings
    busy_register(run, base, tmp_path)
    reports += [
        audit(run, "--as-of", day(10))[0],
        audit(run, "--as-of", day(10), who=HEAD)[0],  # with skipped rules
        audit(run, "--school", "oak", "--rule", "CUSTODIAN_LEFT", "--fail-on", "info", "--as-of", day(10))[0],
    ]
    for report in reports:
        assert problems(report) == [], report
    busy = reports[1]
    assert {f["severity"] for f in busy["findings"]} == {"error", "warning", "info"}
    assert any(f["account"] is None for f in busy["findings"])
    assert any(f["waived"] for f in busy["findings"])
    assert reports[2]["summary"]["skipped"]
    assert reports[3]["summary"]["school"] == "oak"


def test_the_schema_is_strict(run, base, tmp_path):
    busy_register(run, base, tmp_path)
    good, _ = audit(run, "--as-of", day(10))
    assert problems(good) == []
    waived = next(i for i, f in enumerate(good["findings"]) if f["waived"])
    mutations = [
        lambda r: r.update(extra=1),
        lambda r: r["summary"].pop("failed"),
        lambda r: r["summary"].update(fail_on="fatal"),
        lambda r: r["summary"]["counts"].update(critical=0),
        lambda r: r["summary"].update(as_of="01/10/2026"),
        lambda r: r["summary"]["skipped"].append({"rule": "PASSWORD_WEAK"}),
        lambda r: r["findings"][0].update(severity="critical"),
        lambda r: r["findings"][0].update(rule="NOT_A_RULE"),
        lambda r: r["findings"][0].pop("fix"),
        lambda r: r["findings"][0].update(waived="no"),
        lambda r: r["findings"][0].update(password="hunter2"),
        lambda r: r["findings"][0].update(account=""),
        lambda r: r["findings"][waived].update(waived_until=None),
        lambda r: r["findings"][0].update(waived=False, waived_until="2026-12-31"),
    ]
    for number, mutate in enumerate(mutations):
        bad = json.loads(json.dumps(good))
        mutate(bad)
        assert problems(bad), f"mutation {number} passed the schema"


# -- the vault-only rules ------------------------------------------------------------------------------------------
def test_slt_audit_skips_the_password_rules_and_says_so_once(run, base):
    ok(run(["cred", "set", FB], input="password\n"))  # weak, so the custodian sees PASSWORD_WEAK
    custodian = run(["audit"])
    assert "PASSWORD_WEAK" in custodian.stdout and "Skipped" not in custodian.stderr

    result = run(SLT + ["audit"])
    assert result.exit_code == 0
    assert "PASSWORD_WEAK" not in result.stdout
    skipped = [line for line in result.stderr.splitlines() if "skipped" in line.lower()]
    assert len(skipped) == 1, result.stderr
    assert "PASSWORD_WEAK" in skipped[0] and "PASSWORD_REUSED" in skipped[0] and "vault" in skipped[0]

    report, _ = audit(run, who=HEAD)
    assert [s["rule"] for s in report["summary"]["skipped"]] == ["PASSWORD_WEAK", "PASSWORD_REUSED"]
    assert found(report, "PASSWORD_WEAK") == []
    assert report["summary"]["rules"] == ALL_RULES
    custodian_report, _ = audit(run)
    assert custodian_report["summary"]["skipped"] == []

    report, _ = audit(run, "--rule", "PASSWORD_WEAK", who=HEAD)
    assert report["findings"] == [] and [s["rule"] for s in report["summary"]["skipped"]] == ["PASSWORD_WEAK"]
    result = run(SLT + ["audit", "--rule", "PASSWORD_REUSED"])
    assert "Skipped PASSWORD_REUSED" in result.stderr and "PASSWORD_WEAK" not in result.stderr


# -- rules -------------------------------------------------------------------------------------------------------
def test_rules_lists_every_rule_in_plain_words_and_sources_only_when_asked(run, tmp_path, monkeypatch):
    monkeypatch.setenv("ACCOUNTCTL_REGISTER", str(tmp_path / "none" / "missing.accountctl"))  # needs no register
    data = json.loads(ok(run("rules --json")).stdout)
    assert [r["id"] for r in data] == ALL_RULES
    assert {r["id"]: r["severity"] for r in data} == SPEC_SEVERITY
    for r in data:
        assert r["name"].strip() and r["principle"].strip() and r["checks"].strip(), r
        assert r["clause"] is None and "sources" not in r  # no clause of the trust's yet; sources only when asked
        assert not SEED_NAMES.search(r["name"] + r["principle"] + r["checks"]), r
    assert len({r["name"] for r in data}) == len(data)

    sources = {r["id"]: r["sources"] for r in json.loads(ok(run("rules --sources --json")).stdout)}
    assert "Huxley 6.2" in sources["ONE_FACULTY_ONE_STAFF"] and "Huxley 6.3(a)" in sources["SCHOOL_EMAIL"]
    assert "Huxley 6.3(b)" in sources["HEAD_NOT_NOTIFIED"] and "Huxley 6.3(c)" in sources["CREDENTIALS_NOT_HELD"]
    assert "Dartmoor 6.1" in sources["PUPILS_UNDER_PLATFORM_AGE"] and "Dartmoor 7.2" in sources["PARENTS_NOT_INFORMED"]
    assert "Dartmoor 1.7" in sources["POLICY_REVIEW_OVERDUE"] and "Huxley 2.2" in sources["POLICY_REVIEW_OVERDUE"]
    # reviewing accounts is not the policy's own annual review, and nothing cites a source outside the five policies
    assert "1.7" not in sources["REVIEW_OVERDUE"] and "Connect" in sources["REVIEW_OVERDUE"]
    for rule_id in ALL_RULES:
        assert SEED_NAMES.search(sources[rule_id]), rule_id
        assert "NCSC" not in sources[rule_id], rule_id

    table = ok(run("rules")).stdout
    assert table.splitlines()[0].split() == ["id", "name", "severity", "principle", "checks", "clause"]
    for rule_id, severity in SPEC_SEVERITY.items():
        line = next(line for line in table.splitlines() if line.startswith(rule_id + " "))
        assert severity in line.split()
    assert not SEED_NAMES.search(table)

    rows = list(csv.DictReader(io.StringIO(ok(run("rules --sources --format csv")).stdout, newline="")))
    assert [(r["id"], r["severity"]) for r in rows] == list(SPEC_SEVERITY.items())
    assert all(r["sources"] for r in rows)


def test_the_trusts_own_clause_shows_in_rules_and_the_audit(run, base, tmp_path):
    ok(run(["config", "set", "clause.two_admins", "Oak Trust Social Media Policy 4.2"]))
    data = {r["id"]: r for r in json.loads(ok(run("rules --json")).stdout)}
    assert data["TWO_ADMINS"]["clause"] == "Oak Trust Social Media Policy 4.2"
    assert data["SCHOOL_EMAIL"]["clause"] is None
    add_one_admin_account(run, tmp_path)
    report, _ = audit(run)
    assert one(report, "TWO_ADMINS", "oak-x-oakpe")["clause"] == "Oak Trust Social Media Policy 4.2"
    assert one(report, "CASE_INCOMPLETE", "oak-x-oakpe")["clause"] is None
    assert problems(report) == []
    table = run(["audit"]).stdout
    assert table.splitlines()[0].split() == FINDING_COLUMNS + ["clause"]
    assert "Oak Trust Social Media Policy 4.2" in table
    rows = list(csv.DictReader(io.StringIO(run(["audit", "--format", "csv"]).stdout, newline="")))
    assert {r["clause"] for r in rows if r["rule"] == "TWO_ADMINS"} == {"Oak Trust Social Media Policy 4.2"}
    # cleared: the rule has no clause of the trust's again, and the column goes
    ok(run(["config", "set", "clause.TWO_ADMINS", ""]))
    assert one(audit(run)[0], "TWO_ADMINS", "oak-x-oakpe")["clause"] is None
    assert run(["audit"]).stdout.splitlines()[0].split() == FINDING_COLUMNS


@pytest.mark.parametrize(
    "key,value,words",
    [
        ("clause.NO_SUCH_RULE", "Policy 1.1", ["unknown rule"]),
        ("clause.", "Policy 1.1", ["unknown setting"]),
        ("clause.TWO_ADMINS", "x" * 201, ["200 characters"]),
        ("min_age.tiktok", "22", ["0 to 21"]),
        ("min_age.tiktok", "-1", ["0 to 21"]),
        ("min_age.tiktok", "thirteen", ["0 to 21"]),
        ("min_age.myspace", "13", ["platform"]),
        ("training.valid_days", "0", ["at least 1"]),
        ("training.valid_days", "a year", ["whole number"]),
        ("policy.reviewed_on", "2026-02-30", ["policy.reviewed_on"]),
        ("policy.reviewed_on", "last week", ["policy.reviewed_on"]),
        ("policy.reviewed_on", "2026-10-02", ["future"]),
    ],
)
def test_config_set_refuses_bad_policy_settings(run, base, key, value, words):
    refused(run, base, ["config", "set", "--", key, value], 2, *words)


def test_config_policy_settings_are_normalised(run, base):
    ok(run(["config", "set", "min_age.Twitter", "16"]))
    ok(run(["config", "set", "min_age.other", "13"]))
    ok(run(["config", "set", "min_age.linkedin", "none"]))
    ok(run(["config", "set", "training.valid_days", "0365"]))
    settings = json.loads(ok(run("config show --json")).stdout)
    assert (settings["min_age.x"], settings["min_age.other"], settings["min_age.linkedin"]) == ("16", "13", "")
    assert settings["training.valid_days"] == "365"
    table = ok(run("config show")).stdout
    assert "PUPILS_UNDER_PLATFORM_AGE" in next(line for line in table.splitlines() if line.startswith("min_age.x "))


# -- waivers -------------------------------------------------------------------------------------------------------
def test_waiver_expiry(run, base, tmp_path):
    add_one_admin_account(run, tmp_path)
    until = day(30)
    result = waive(run, "oak-x-oakpe", "TWO_ADMINS", until=until)
    assert until in result.stderr
    for as_of in (TODAY, day(29), until):
        report, code = audit(run, "--as-of", as_of)
        hit = one(report, "TWO_ADMINS", "oak-x-oakpe")
        assert (hit["waived"], hit["waived_until"], code) == (True, until, 0), as_of
    report, code = audit(run, "--as-of", day(31))
    hit = one(report, "TWO_ADMINS", "oak-x-oakpe")
    assert (hit["waived"], hit["waived_until"], code) == (False, None, 1)
    assert report["summary"]["waived"] == 0
    # the same through ACCOUNTCTL_TODAY
    assert audit(run, today=until)[1] == 0
    assert audit(run, today=day(31))[1] == 1
    # and a waiver covers only its own account and rule
    ok(run(["staff", "leave", T2, "--on", TODAY]))
    report, _ = audit(run)
    assert one(report, "LEAVER_ADMIN", FB)["waived"] is False


def test_waiver_renewed_counts_from_the_latest(run, base, tmp_path):
    add_one_admin_account(run, tmp_path)
    waive(run, "oak-x-oakpe", "TWO_ADMINS", until=day(10))
    waive(run, "oak-x-oakpe", "TWO_ADMINS", until=day(40), today=day(9))
    assert one(audit(run, "--as-of", day(20))[0], "TWO_ADMINS", "oak-x-oakpe")["waived_until"] == day(40)
    assert audit(run, "--as-of", day(41))[1] == 1


def test_waiver_limits(run, base, tmp_path):
    add_one_admin_account(run, tmp_path)
    argv = SLT + ["waive", "oak-x-oakpe", "TWO_ADMINS", "--reason", "Second admin starts in January", "--until"]
    refused(run, base, argv + [day(-1)], 2, "past")
    refused(run, base, argv + ["2027-10-02"], 2, "one year", "2027-10-01")
    refused(run, base, argv + ["2026-02-30"], 2, "--until")
    refused(run, base, argv + ["next year"], 2, "--until")
    refused(
        run, base, SLT + ["waive", "oak-x-oakpe", "NO_SUCH_RULE", "--reason", "x", "--until", day(5)], 2, "unknown rule"
    )
    refused(
        run, base, SLT + ["waive", "oak-x-nope", "TWO_ADMINS", "--reason", "x", "--until", day(5)], 2, "unknown account"
    )
    refused(run, base, SLT + ["waive", "oak-x-oakpe", "TWO_ADMINS", "--reason", "  ", "--until", day(5)], 2, "reason")
    assert run(SLT + ["waive", "oak-x-oakpe", "TWO_ADMINS", "--until", day(5)]).exit_code == 2  # --reason required
    ok(run(argv + [TODAY]))  # today is the last day: allowed
    ok(run(argv + ["2027-10-01"]))  # exactly one year ahead: allowed
    ok(run(SLT + ["waive", "oak-x-oakpe", "two_admins", "--reason", "lower case id", "--until", day(5)]))


def test_waiver_one_calendar_year_across_a_leap_day(run, base, tmp_path):
    add_one_admin_account(run, tmp_path)
    leap = {"ACCOUNTCTL_TODAY": "2027-06-01"}  # 2028-06-01 is one year, and 366 days, later
    argv = SLT + ["waive", "oak-x-oakpe", "TWO_ADMINS", "--reason", "Pilot", "--until"]
    refused(run, base, argv + ["2028-06-02"], 2, "one year", "2028-06-01", env=leap)
    ok(run(argv + ["2028-06-01"], env=leap))


def test_waiver_needs_slt_of_that_school_or_the_ceo(run, base, tmp_path):
    add_one_admin_account(run, tmp_path)
    argv = ["waive", "oak-x-oakpe", "TWO_ADMINS", "--reason", "Accepted", "--until", day(30)]
    refused(run, base, ["--as", CUSTODIAN] + argv, 3, "SLT")  # IT, not SLT
    ok(run("staff add elm.head@elm.sch.uk --name 'Elle Head' --school elm --role headteacher --role slt"))
    ok(run("person grant elm.head@elm.sch.uk --access register"))
    ok(run(f"person grant {T1} --access register"))
    refused(run, base, ["--as", "elm.head@elm.sch.uk"] + argv, 3, "oak")  # SLT, but of another school
    refused(run, base, ["--as", T1] + argv, 3)  # staff
    # input is checked too: a bad date from a non-SLT member is still bad input
    refused(run, base, ["--as", T1, "waive", "oak-x-oakpe", "TWO_ADMINS", "--reason", "x", "--until", "soon"], 2)

    ok(run('school add trust --name "Oak Trust central team" --domain oaktrust.org.uk --central'))
    ok(run(f"staff add {CEO} --name 'Cleo Exec' --school trust --role ceo"))
    ok(run(f"person grant {CEO} --access register"))
    ok(run(["--as", CEO] + argv))
    report, code = audit(run)
    assert one(report, "TWO_ADMINS", "oak-x-oakpe")["waived"] is True and code == 0
    log = json.loads(ok(run(["log", "--account", "oak-x-oakpe", "--json"])).stdout)
    waived = [e for e in log if e["action"] == "audit.waive"]
    assert len(waived) == 1 and waived[0]["actor"] == CEO


def test_a_leaver_from_slt_can_no_longer_waive(run, base, tmp_path):
    add_one_admin_account(run, tmp_path)
    ok(run(["staff", "leave", HEAD, "--on", TODAY]))
    refused(run, base, SLT + ["waive", "oak-x-oakpe", "TWO_ADMINS", "--reason", "x", "--until", day(5)], 3, "left")


# -- review and monitor ------------------------------------------------------------------------------------------------
def test_review(run, base):
    late = {"ACCOUNTCTL_TODAY": day(400)}
    refused(run, base, ["--as", CUSTODIAN, "review", FB], 3, "SLT", env=late)
    refused(run, base, SLT + ["review", "oak-x-nope"], 2, "unknown account", env=late)
    assert len(found(audit(run, today=day(400))[0], "REVIEW_OVERDUE")) == 1
    result = ok(run(SLT + ["review", FB, "--note", "Still needed"], env=late))
    assert day(400) in result.stderr
    shown = json.loads(ok(run(["account", "show", FB, "--json"])).stdout)
    assert shown["reviewed_on"] == day(400)
    assert found(audit(run, today=day(400))[0], "REVIEW_OVERDUE") == []
    actions = [e["action"] for e in json.loads(ok(run(["log", "--account", FB, "--json"])).stdout)]
    assert "account.review" in actions
    ok(run(["account", "close", FB, "--reason", "Retired"]))
    refused(run, base, SLT + ["review", FB], 2, "closed")


def test_monitor(run, base):
    late = {"ACCOUNTCTL_TODAY": day(9)}
    ok(run(f"person grant {T2} --access register"))  # an admin of FB with a key slot
    ok(run(f"person grant {ELM} --access register"))  # not an admin of FB
    refused(run, base, SLT + ["monitor", FB], 3, "admin")  # SLT, not an admin of it
    refused(run, base, ["--as", ELM, "monitor", FB], 3, "admin")
    refused(run, base, ["monitor", "oak-x-nope"], 2, "unknown account")
    assert len(found(audit(run, "--fail-on", "info", today=day(9))[0], "MONITORING_LAPSED")) == 1
    result = ok(run(["--as", T2, "monitor", FB, "--note", "Replied to two comments"], env=late))
    assert day(9) in result.stderr
    assert found(audit(run, today=day(9))[0], "MONITORING_LAPSED") == []
    assert len(found(audit(run, today=day(17))[0], "MONITORING_LAPSED")) == 1
    ok(run(["monitor", FB], env={"ACCOUNTCTL_TODAY": day(17)}))  # the custodian
    assert found(audit(run, today=day(17))[0], "MONITORING_LAPSED") == []
    shown = json.loads(ok(run(["account", "show", FB, "--json"])).stdout)
    assert shown["monitored_on"] == day(17)


# -- config ---------------------------------------------------------------------------------------------------------
def test_config_show(run, base):
    refused_line = ok(run("--as " + HEAD + " config show"), 3).stderr  # SPEC: config show is the custodian's
    assert "only an IT custodian" in refused_line
    settings = json.loads(ok(run("config show --json")).stdout)
    ages = {
        f"min_age.{p}": "13"
        for p in (
            "facebook",
            "instagram",
            "x",
            "youtube",
            "tiktok",
            "threads",
            "bluesky",
            "whatsapp",
            "snapchat",
            "pinterest",
            "flickr",
            "threads",
        )
    }
    platforms = ("x", "instagram", "tiktok", "threads", "bluesky", "snapchat", "pinterest", "flickr", "vimeo", "other")
    access = {f"access.{p}": "login" for p in platforms + ("meta-business", "hootsuite", "sprout", "buffer", "later")}
    access |= {f"access.{p}": "login" for p in ("classdojo", "seesaw", "tapestry")}
    access |= {"access.facebook": "roles", "access.linkedin": "roles", "access.youtube": "roles"}
    access |= {"access.whatsapp": "group"}  # SPEC: login for the rest, a business portfolio too
    # tools staff sign in to, and apps a school invites families to, have no minimum age
    ages |= {f"min_age.{p}": "" for p in ("meta-business", "hootsuite", "sprout", "buffer", "later")}
    ages |= {f"min_age.{p}": "" for p in ("classdojo", "seesaw", "tapestry")}
    windows = {
        "window.INCIDENT_OPEN": "7",
        "window.REQUEST_STALE": "30",
        "window.SUSPENDED_TOO_LONG": "90",
        "window.CLOSED_NOT_GONE": "30",
        "window.UNCLAIMED_ACCOUNT": "14",
        "window.UNCLAIMED_ACCOUNT_GONE": "30",
        "window.POLICY_REVIEW_OVERDUE": "365",
        "window.CONSENT_CHECK_LAPSED": "30",
        "window.DORMANT": "180",
    }
    assert settings == {
        "policy_version": "",
        "review_period_days": "365",
        "monitoring_period_days": "7",
        "upcoming_leaver_days": "30",
        "limit.faculty": "1",
        "limit.staff": "1",
        "policy.reviewed_on": TODAY,
        "training.valid_days": "",
        "terms": "",
        "retention.incident": "",
        "retention.leaver": "",
        "retention.closed-account": "",
        **ages,
        "min_age.linkedin": "16",
        "min_age.vimeo": "16",
        "min_age.other": "",
        **access,
        **windows,
    }
    table = ok(run("config show")).stdout
    for key in settings:
        assert key in table
    ok(run("config set limit.twitter.staff 3"))  # the alias is stored under the platform's id
    assert json.loads(ok(run(["config", "show", "--json"])).stdout)["limit.x.staff"] == "3"


def test_config_limit_clears_one_faculty_one_staff(run, base):
    ok(run(request_argv("oak-facebook-oakpe", handle="oakpe")))
    report, code = audit(run, "--fail-on", "warning")
    assert len(found(report, "ONE_FACULTY_ONE_STAFF")) == 2 and code == 1
    result = ok(run("config set limit.facebook.faculty 2"))
    assert "limit.facebook.faculty = 2" in result.stderr
    report, code = audit(run, "--fail-on", "warning")
    assert found(report, "ONE_FACULTY_ONE_STAFF") == [] and code == 0
    assert json.loads(ok(run("config show --json")).stdout)["limit.facebook.faculty"] == "2"
    # a third faculty account breaks the new limit; instagram still has the default of one
    ok(run(request_argv("oak-facebook-oakart", handle="oakart")))
    report, _ = audit(run, "--rule", "ONE_FACULTY_ONE_STAFF")
    assert len(report["findings"]) == 3 and "guideline: 2" in report["findings"][0]["message"]
    ok(run(request_argv("oak-instagram-a", platform="instagram", handle="a")))
    ok(run(request_argv("oak-instagram-b", platform="instagram", handle="b")))
    report, _ = audit(run, "--rule", "ONE_FACULTY_ONE_STAFF")
    assert len(report["findings"]) == 5
    ok(run("config set limit.faculty 3"))  # the default for every platform; facebook's own limit still wins
    report, _ = audit(run, "--rule", "ONE_FACULTY_ONE_STAFF")
    assert sorted(f["account"] for f in report["findings"]) == sorted([FB, "oak-facebook-oakpe", "oak-facebook-oakart"])


def test_config_policy_version_triggers_training_missing(run, base):
    assert found(audit(run)[0], "TRAINING_MISSING") == []
    ok(run("config set policy_version 2026.2"))
    report, code = audit(run, "--fail-on", "warning")
    assert sorted(f["message"] for f in found(report, "TRAINING_MISSING")) == sorted(
        f"{role} {name} <{email}>: has not acknowledged policy 2026.2"
        for role, name, email in (("owner", "Tom One", T1), ("admin", "Tia Two", T2), ("admin", "Teo Three", T3))
    )
    assert code == 1
    for email in (T1, T2, T3):
        ok(run(["staff", "train", email, "--on", TODAY, "--policy-ack", "2026.2"]))
    report, code = audit(run, "--fail-on", "warning")
    assert found(report, "TRAINING_MISSING") == [] and code == 0
    ok(run("config set policy_version 2027.1"))
    assert len(found(audit(run)[0], "TRAINING_MISSING")) == 3
    ok(run(["config", "set", "policy_version", ""]))  # empty: the acknowledgement is not checked
    assert found(audit(run)[0], "TRAINING_MISSING") == []


@pytest.mark.parametrize(
    "key,value,words",
    [
        ("no_such_setting", "1", ["unknown setting"]),
        ("limit", "2", ["unknown setting"]),
        ("limit.myspace.faculty", "2", ["platform"]),
        ("limit.facebook.owner", "2", ["unknown setting"]),
        ("limit.facebook.faculty", "0", ["at least 1"]),
        ("limit.facebook.faculty", "-1", ["at least 1"]),
        ("limit.facebook.faculty", "two", ["whole number"]),
        ("limit.staff", "1.5", ["whole number"]),
        ("review_period_days", "", ["whole number"]),
        ("monitoring_period_days", "7 days", ["whole number"]),
        ("upcoming_leaver_days", "0", ["at least 1"]),
        ("policy_version", "v" * 51, ["50 characters"]),
    ],
)
def test_config_set_refuses_bad_input(run, base, key, value, words):
    refused(run, base, ["config", "set", "--", key, value], 2, *words)


def test_config_set_is_for_custodians(run, base):
    refused(run, base, SLT + ["config", "set", "limit.facebook.faculty", "2"], 3, "custodian")


def test_a_date_written_past_the_cli_that_is_no_date_is_an_altered_register_not_an_internal_error(run, base):
    from test_audit_rules import T1, underneath

    with underneath(base) as db:  # an insider with the store module and their own passphrase
        db.execute("UPDATE staff SET left_on = '2026-13-45' WHERE email = ?", (T1,))
    folder = base.parent
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    result = run(["audit", "--format", "json"])
    assert result.exit_code == 4 and result.stdout == ""
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before  # nothing written anywhere
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: register damaged or altered:") and "cannot read" in line
