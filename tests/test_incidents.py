"""Incidents: the per-kind checklists, a whole hijack runbook, INCIDENT_OPEN at 7 days and
BREACH_NOT_REPORTED at 72 hours, and every bad input refused with the file unchanged.

Registers start from `base` (see test_audit_rules) on TODAY.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from accountctl.core import audit as core
from accountctl.core import incidents
from conftest import ok, refused
from test_audit_rules import (
    FB,
    HEAD,
    OTHER_STRONG,
    SLT,
    STRONG,
    TODAY,
    audit,
    base,  # noqa: F401
    day,
    found,
    one,
    underneath,
)

TOTP2 = "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"


def at(today: str) -> dict:
    return {"ACCOUNTCTL_TODAY": today}


def open_incident(run, kind: str = "hijack", account: str = FB, today: str | None = None) -> str:
    result = ok(
        run(
            ["incident", "open", account, "--kind", kind, "--summary", "Posts we did not write"],
            env=at(today) if today else None,
        )
    )
    return result.stdout.strip()


def test_the_checklists_are_the_specs():
    ids = {kind: [(s.id, s.required) for s in steps] for kind, steps in incidents.CHECKLISTS.items()}
    assert set(ids["hijack"]) == {
        ("head-informed", True),
        ("password-rotated", True),
        ("mfa-reseeded", True),
        ("email-secured", True),
        ("sessions-revoked", True),
        ("platform-reported", True),
        ("parents-informed", False),
        ("action-fraud-reported", False),
    }
    assert set(ids["abuse"]) == {("head-informed", True), ("content-removed", True), ("dsl-informed", False)}
    assert set(ids["safeguarding"]) == {("head-informed", True), ("dsl-informed", True), ("content-removed", True)}
    assert set(ids["impersonation"]) == {
        ("head-informed", True),
        ("platform-reported", True),
        ("parents-informed", True),
    }
    assert set(ids["breach"]) == {("head-informed", True), ("dpo-informed", True), ("password-rotated", True)}
    assert set(ids["allegation"]) == {("dsl-informed", True), ("lado-informed", True), ("head-informed", True)}
    assert set(ids["illegal"]) == {
        ("police-informed", True),
        ("dsl-informed", True),
        ("head-informed", True),
        ("content-reported", True),
    }
    # a breach gains the ICO's and the people's steps: required as the DPO's decision says (undecided: reportable)
    breach = {"kind": "breach"}
    extra = {s.id: s.required for s in incidents.checklist(breach)[3:]}
    assert extra == {"ico-reported": True, "data-subjects-told": False}
    decided = {"reportable": 0, "high_risk": 0}
    assert {s.id: s.required for s in incidents.checklist(breach, decided)[3:]} == {
        "ico-reported": False,
        "data-subjects-told": False,
    }
    decided = {"reportable": 1, "high_risk": 1}
    assert all(s.required for s in incidents.checklist(breach, decided)[3:])
    # about the headteacher, the chair of governors is told instead
    about_head = [s.id for s in incidents.checklist({"kind": "allegation", "about_head": "1"})]
    assert about_head == ["dsl-informed", "lado-informed", "chair-informed"]


def test_no_step_tells_anyone_to_screenshot_copy_or_save_content():
    steps = [s for kind in incidents.KINDS for s in incidents.checklist({"kind": kind, "about_head": "1"})]
    for s in steps:
        words = s.do.lower()
        for banned in ("screenshot", "copy", "save", "print"):
            # only ever as a prohibition: "Do not screenshot, copy or save it"
            assert banned not in words or "do not screenshot, copy or save" in words, (s.id, s.do)
    meeting_content = [s for s in steps if s.id in ("content-removed", "dsl-informed", "police-informed")]
    assert meeting_content and all(
        "link, date and time" in s.do or "dsl says so" in s.do.lower() for s in meeting_content
    )


def test_a_whole_hijack_runbook(run, base):
    inc = open_incident(run)
    assert inc == "inc-1"
    shown = json.loads(ok(run(["account", "show", FB, "--json"])).stdout)
    assert shown["status"] == "suspended" and "inc-1" in shown["status_reason"]
    # the runbook: every step in one line with the command that records it
    text = ok(run(["incident", "show", inc])).stdout
    for step in ("head-informed", "password-rotated", "mfa-reseeded", "email-secured", "sessions-revoked"):
        assert "[ ] " in text and step in text
    assert f"accountctl cred totp {FB}" in text and f"accountctl incident step {inc} email-secured" in text
    refused(run, base, ["incident", "close", inc, "--outcome", "fine"], 2, "password-rotated", "mfa-reseeded")
    # the rotations tick themselves
    result = ok(run(["cred", "set", FB], input=OTHER_STRONG + "\n"))
    assert "inc-1: password-rotated done" in result.stderr
    ok(run(["cred", "totp", FB], input=TOTP2 + "\n"))
    data = json.loads(ok(run(["incident", "show", inc, "--json"])).stdout)
    done = {s["step"]: s for s in data["checklist"] if s["done"]}
    assert set(done) == {"password-rotated", "mfa-reseeded"}
    assert done["mfa-reseeded"]["note"] == "recorded by cred totp"
    for step in ("email-secured", "sessions-revoked", "head-informed"):
        ok(run(["incident", "step", inc, step]))
    ok(run(["--as", HEAD, "incident", "step", inc, "platform-reported", "--note", "Meta case 123"]))
    assert json.loads(ok(run(["incident", "list", "--open", "--json"])).stdout)[0]["outstanding"] == []
    ok(run(["incident", "close", inc, "--outcome", "Recovered; no data lost"]))
    assert json.loads(ok(run(["incident", "list", "--open", "--json"])).stdout) == []
    listed = json.loads(ok(run(["incident", "list", "--json"])).stdout)
    assert (listed[0]["status"], listed[0]["outcome"]) == ("closed", "Recovered; no data lost")
    assert "inc-1" in ok(run(["incident", "list", "--format", "csv"])).stdout
    with underneath(base) as db:
        actions = [r[0] for r in db.execute("SELECT action FROM events WHERE target = ? ORDER BY seq", (inc,))]
    assert actions[0] == "incident.open" and actions[-1] == "incident.close"
    assert actions.count("incident.step") == 6
    # after the close, a new password ticks nothing
    assert "Incident" not in ok(run(["cred", "set", FB], input="Another-Strong-Pass-4521!\n")).stderr


def test_bad_input_is_refused_and_changes_nothing(run, base):
    refused(run, base, ["incident", "open", FB, "--kind", "hijak", "--summary", "x"], 2, "hijack")
    refused(run, base, ["incident", "open", "nope", "--kind", "abuse", "--summary", "x"], 2, "unknown account")
    inc = open_incident(run, "abuse")
    refused(run, base, ["incident", "step", inc, "dpo-informed"], 2, "unknown step", "content-removed")
    refused(run, base, ["incident", "step", "inc-9", "head-informed"], 2, "unknown incident")
    refused(run, base, ["incident", "show", "inc-9"], 2, "unknown incident")
    ok(run(["incident", "step", inc, "head-informed"]))
    refused(run, base, ["incident", "step", inc, "head-informed"], 2, "already done")
    refused(run, base, ["incident", "close", inc, "--outcome", "x"], 2, "content-removed")
    ok(run(["incident", "step", inc, "content-removed"]))  # dsl-informed is optional
    ok(run(["incident", "close", inc, "--outcome", "Removed"]))
    refused(run, base, ["incident", "close", inc, "--outcome", "again"], 2, "already closed")
    refused(run, base, ["incident", "step", inc, "dsl-informed"], 2, "closed")


def test_incident_open_warns_then_errors_after_7_days(run, base):
    inc = open_incident(run, "impersonation")
    for when, severity in ((day(0), "warning"), (day(7), "warning"), (day(8), "error")):
        hit = one(audit(run, "--as-of", when, "--fail-on", "info")[0], "INCIDENT_OPEN")
        assert hit["severity"] == severity, when
        assert inc in hit["message"] and "platform-reported" in hit["message"]
    assert found(audit(run, "--as-of", day(-1))[0], "INCIDENT_OPEN") == []  # not yet opened
    for step in ("platform-reported", "head-informed", "parents-informed"):
        ok(run(["incident", "step", inc, step]))
    ok(run(["incident", "close", inc, "--outcome", "Taken down"]))
    assert found(audit(run, "--as-of", day(8))[0], "INCIDENT_OPEN") == []


def test_breach_not_reported_72_hours_after_discovery(run, base):
    inc = open_incident(run, "breach")
    discovered = datetime(2026, 10, 1, 9, 0, tzinfo=timezone.utc)
    with underneath(base) as db:
        # opened later than it was discovered: the clock runs from discovery
        db.execute(
            "UPDATE incidents SET opened_at = ?, discovered_at = ? WHERE id = ?",
            ("2026-10-02T09:00:00Z", "2026-10-01T09:00:00Z", inc),
        )

    def hits(now: datetime) -> list:
        with underneath(base) as db:
            snap = core.load(db, now.date(), now=now)
        return [f for f in core.run(snap, {}, ["BREACH_NOT_REPORTED"])[0]]

    assert hits(discovered + timedelta(hours=72)) == []
    late = hits(discovered + timedelta(hours=72, seconds=1))
    assert len(late) == 1 and late[0]["severity"] == "error" and f"incident decide {inc}" in late[0]["fix"]
    # the DPO's step alone is not enough: the ICO must hear
    ok(run(["incident", "step", inc, "dpo-informed"]))
    assert len(hits(discovered + timedelta(hours=73))) == 1
    # decided reportable: still due until the ICO's reference is recorded
    ok(run(SLT + ["incident", "decide", inc, "--reportable", "yes", "--reason", "Pupils' names and photos"]))
    late = hits(discovered + timedelta(hours=73))
    assert len(late) == 1 and f"incident step {inc} ico-reported --reference" in late[0]["fix"]
    ok(run(["incident", "step", inc, "ico-reported", "--reference", "IC-123456"]))
    # reported late is not reported in time: an outside check saw the finding vanish once the step was done
    for after, findings in ((timedelta(hours=72), 0), (timedelta(hours=72, seconds=1), 1), (timedelta(days=9), 1)):
        with underneath(base) as db:
            at = (discovered + after).strftime("%Y-%m-%dT%H:%M:%SZ")
            db.execute("UPDATE incident_steps SET done_at = ? WHERE incident = ? AND step = 'ico-reported'", (at, inc))
        late = hits(discovered + timedelta(days=10))
        assert len(late) == findings
    assert "reported to the ICO 216 hours later" in late[0]["message"] and "reasons for the delay" in late[0]["fix"]


def test_a_breach_decided_not_reportable_is_not_reported_and_is_logged(run, base):
    inc = open_incident(run, "breach")
    refused(run, base, ["incident", "close", inc, "--outcome", "x"], 2, "has not decided", "incident decide")
    ok(run(SLT + ["incident", "decide", inc, "--reportable", "no", "--reason", "Encrypted file, key not lost"]))
    assert found(audit(run, "--as-of", day(5))[0], "BREACH_NOT_REPORTED") == []
    for step in ("dpo-informed", "head-informed", "password-rotated"):
        ok(run(["incident", "step", inc, step]))
    ok(run(["incident", "close", inc, "--outcome", "Contained"]))
    log = ok(run(["incident", "list", "--kind", "breach", "--format", "csv"])).stdout
    header, row = log.splitlines()[:2]
    assert header.startswith("id,account,school,status,discovered_at")
    assert inc in row and "Encrypted file, key not lost" in row and HEAD in row
    listed = json.loads(ok(run(["incident", "list", "--kind", "breach", "--json"])).stdout)
    assert listed[0]["reportable"] is False and listed[0]["decided"] is True


def test_only_the_dpo_decides_when_there_is_one_and_the_decision_is_signed(run, base):
    inc = open_incident(run, "breach", today=None)
    refused(run, base, ["incident", "decide", inc, "--reportable", "no", "--reason", "x"], 3, "slt")
    dpo = "d.po@oak.sch.uk"
    ok(run(["staff", "add", dpo, "--name", "Dee Po", "--school", "oak", "--role", "dpo"]))
    ok(run(["person", "grant", dpo, "--access", "register"]))
    refused(run, base, SLT + ["incident", "decide", inc, "--reportable", "no", "--reason", "x"], 3, dpo)
    refused(
        run, base, ["--as", dpo, "incident", "decide", inc, "--reportable", "no", "--high-risk", "--reason", "x"], 2
    )
    refused(run, base, ["--as", dpo, "incident", "decide", inc, "--reportable", "no", "--reason", " "], 2, "reason")
    ok(run(["--as", dpo, "incident", "decide", inc, "--reportable", "yes", "--high-risk", "--reason", "Health data"]))
    shown = json.loads(ok(run(["--as", dpo, "incident", "show", inc, "--json"])).stdout)
    assert shown["decision"]["decided_by"] == dpo and shown["decision"]["high_risk"] is True
    assert {"ico-reported", "data-subjects-told"} <= set(shown["outstanding"])
    ok(run(["verify"]))
    # a decision changed underneath (reportable turned to no) fails verify, and the audit does not count it
    with underneath(base) as db:
        db.execute("UPDATE breach_decisions SET reportable = 0, high_risk = 0")
    result = run(["verify"])
    assert result.exit_code == 1 and "breach decision 1" in result.stdout + result.stderr
    hit = one(audit(run, "--as-of", day(4))[0], "BREACH_NOT_REPORTED")
    assert "not yet decided" in hit["message"]


def test_a_found_account_can_have_an_impersonation_incident(run, base):
    ok(
        run(
            [
                "account",
                "found",
                "--school",
                "oak",
                "--platform",
                "x",
                "--handle",
                "oakfake",
                "--url",
                "https://x.com/oakfake",
                "--source",
                "tip",
            ]
        )
    )
    assert open_incident(run, "impersonation", "oak-x-oakfake") == "inc-1"
    assert TODAY in ok(run(["incident", "list"])).stdout


def test_json_output_matches_the_schemas(run, base):
    from test_schemas import problems, validator

    inc = open_incident(run, "safeguarding")
    ok(run(["incident", "step", inc, "dsl-informed", "--note", "Told Ms Lee"]))
    opened = json.loads(ok(run(["incident", "open", FB, "--kind", "breach", "--summary", "x", "--json"])).stdout)
    assert problems(validator("incident.schema.json"), opened) == []
    shown = json.loads(ok(run(["incident", "show", inc, "--json"])).stdout)
    assert problems(validator("incident.schema.json"), shown) == []
    listed = json.loads(ok(run(["incident", "list", "--json"])).stdout)
    assert len(listed) == 2 and problems(validator("incident-list.schema.json"), listed) == []
    shown["kind"] = "fire"
    assert problems(validator("incident.schema.json"), shown)


def test_the_governors_report_lists_the_periods_incidents_without_their_summaries(run, base, tmp_path):
    from test_schemas import problems, validator

    handled = open_incident(run, "safeguarding")
    ok(run(["incident", "step", handled, "dsl-informed"]))
    ok(run(["incident", "step", handled, "content-removed"]))
    ok(run(["incident", "step", handled, "head-informed"]))
    ok(run(["incident", "close", handled, "--outcome", "Content removed, DSL informed"]))
    still_open = open_incident(run, "breach")
    out = tmp_path / "report.html"
    data = json.loads(ok(run(["report", "--out", str(out), "--json"])).stdout)
    assert problems(validator("report.schema.json"), data) == []
    by_id = {i["id"]: i for i in data["incidents"]}
    assert set(by_id) == {handled, still_open}
    assert by_id[handled]["closed_at"] and by_id[handled]["outstanding"] == []
    assert by_id[still_open]["closed_at"] is None
    assert {"dpo-informed", "password-rotated"} <= set(by_id[still_open]["outstanding"])
    page = out.read_text(encoding="utf-8")
    assert "Incidents in the period" in page and still_open in page and "still open" in page
    assert "Posts we did not write" not in page and "Posts we did not write" not in json.dumps(data)
    # Another school's report has none of them.
    other = json.loads(ok(run(["report", "--out", str(tmp_path / "elm.html"), "--json", "--school", "elm"])).stdout)
    assert other["incidents"] == []


def test_only_custodians_and_slt_read_incidents(run, base, monkeypatch):
    from test_audit_rules import T1

    inc = open_incident(run, "abuse")
    ok(run(["person", "grant", T1, "--access", "register"]))  # (the head has a slot already)
    refused(run, base, ["--as", T1, "incident", "list"], 3, "custodian", "slt")
    refused(run, base, ["--as", T1, "incident", "show", inc], 3, "read incidents")
    assert [i["id"] for i in json.loads(ok(run(["--as", HEAD, "incident", "list", "--json"])).stdout)] == [inc]
    ok(run(["--as", HEAD, "incident", "show", inc]))


def test_an_allegation_goes_to_the_lado_and_the_person_concerned_never_sees_it(run, base):
    from test_audit_rules import T1

    refused(run, base, ["incident", "open", FB, "--kind", "allegation", "--summary", "x"], 2, "--about")
    refused(
        run, base, ["incident", "open", FB, "--kind", "allegation", "--about", "nobody@oak.sch.uk", "--summary", "x"], 2
    )
    refused(run, base, ["incident", "open", FB, "--kind", "abuse", "--about", T1, "--summary", "x"], 2, "allegation")
    refused(run, base, ["incident", "open", FB, "--kind", "abuse", "--discovered-at", TODAY, "--summary", "x"], 2)
    inc = ok(run(["incident", "open", FB, "--kind", "allegation", "--about", T1, "--summary", "DMs to a pupil"]))
    inc = inc.stdout.strip()
    text = ok(run(["incident", "show", inc])).stdout
    assert "lado-informed" in text and "within one working day" in text and "head-informed" in text
    assert "chair-informed" not in text
    ok(run(["person", "grant", T1, "--access", "register"]))
    refused(run, base, ["--as", T1, "incident", "show", inc], 3)  # (T1 is neither SLT nor a DSL)
    ok(run(["--as", HEAD, "incident", "show", inc]))
    about_head = ok(
        run(["incident", "open", FB, "--kind", "allegation", "--about", HEAD, "--summary", "Posts about a pupil"])
    ).stdout.strip()
    shown = json.loads(ok(run(["incident", "show", about_head, "--json"])).stdout)
    assert shown["about_head"] is True
    assert [s["step"] for s in shown["checklist"]] == ["dsl-informed", "lado-informed", "chair-informed"]
    assert "chair of governors" in shown["checklist"][2]["do"]
    # the head reads every other incident of the school, never the one about themselves; nor is told why
    for argv in (["show", about_head], ["step", about_head, "dsl-informed"], ["close", about_head, "--outcome", "x"]):
        line = refused(run, base, ["--as", HEAD, "incident", *argv], 3, "may not", about_head)
        assert "about" not in line and "allegation" not in line
    listed = [i["id"] for i in json.loads(ok(run(["--as", HEAD, "incident", "list", "--json"])).stdout)]
    assert listed == [inc]
    for step in ("dsl-informed", "lado-informed", "head-informed"):
        ok(run(["incident", "step", inc, step]))
    ok(run(["incident", "close", inc, "--outcome", "LADO: no further action"]))


def test_a_dsl_reads_and_records_their_schools_incidents(run, base):
    dsl = "d.sl@oak.sch.uk"
    ok(run(["staff", "add", dsl, "--name", "Dee Sl", "--school", "oak", "--role", "staff", "--role", "dsl"]))
    ok(run(["person", "grant", dsl, "--access", "register"]))
    inc = open_incident(run, "illegal")
    text = ok(run(["--as", dsl, "incident", "show", inc])).stdout
    assert "999" in text and "police-informed" in text and "iwf" in text.lower()
    ok(run(["--as", dsl, "incident", "step", inc, "police-informed", "--reference", "CAD 123"]))
    shown = json.loads(ok(run(["--as", dsl, "incident", "show", inc, "--json"])).stdout)
    assert shown["checklist"][0]["reference"] == "CAD 123"
    assert [i["id"] for i in json.loads(ok(run(["--as", dsl, "incident", "list", "--json"])).stdout)] == [inc]


def test_governors_and_chairs_never_run_an_account(run, base):
    from accountctl.core import eligibility

    gov = "g.ov@oak.sch.uk"
    ok(run(["staff", "add", gov, "--name", "Gil Gov", "--school", "oak", "--role", "governor", "--role", "chair"]))
    refused(run, base, ["account", "admin", "add", FB, gov], 2, "governor")
    assert eligibility.volunteer_only(["governor"]) and eligibility.volunteer_only('["volunteer", "chair"]')
    assert not eligibility.volunteer_only(["staff", "governor"]) and not eligibility.volunteer_only(["dsl"])
    assert '["governor", "chair"]' in eligibility.ELIGIBLE_SQL


def test_a_hijack_password_rotation_ticks_only_for_a_strong_password_used_nowhere_else(run, base):
    from test_audit_rules import request_argv

    ok(run(request_argv("oak-x-other", platform="x", handle="oakother")))
    ok(run(["cred", "set", "oak-x-other"], input="Reused-Harbour-Lantern-82!\n"))
    inc = open_incident(run)
    weak = ok(run(["cred", "set", FB], input="password123\n"))
    assert f"Incident {inc}: password-rotated is NOT done: the new password is weak" in weak.stderr
    reused = ok(run(["cred", "set", FB], input="Reused-Harbour-Lantern-82!\n"))
    assert "NOT done: the new password is also used on oak-x-other" in reused.stderr
    shown = json.loads(ok(run(["incident", "show", inc, "--json"])).stdout)
    assert "password-rotated" in shown["outstanding"]
    # nor can it be ticked by hand while the password IT holds is reused (or weak): the attack test of an
    # outside check, which saw the step ticked with "password1" still on the hijacked account
    manual = ["incident", "step", inc, "password-rotated", "--note", "done by hand"]
    refused(run, base, manual, 2, "also used on oak-x-other", f"cred generate {FB}")
    ok(run(["cred", "set", FB], input="password1\n"))
    refused(run, base, manual, 2, "weak", f"cred generate {FB}")
    # putting back the password the account had before is no rotation either
    back = ok(run(["cred", "set", FB], input=STRONG + "\n"))
    assert "NOT done: the new password is one this account had before" in back.stderr
    refused(run, base, manual, 2, "one this account had before")
    ok(run(["cred", "set", FB], input=OTHER_STRONG + "\n"))
    shown = json.loads(ok(run(["incident", "show", inc, "--json"])).stdout)
    assert "password-rotated" not in shown["outstanding"]


def test_a_hijack_rotation_is_not_ticked_by_hand_for_a_password_stored_before_it_opened(run, base):
    inc = open_incident(run)  # FB's password was stored when the register was built, before the hijack
    refused(run, base, ["incident", "step", inc, "password-rotated"], 2, "before the incident opened")
    # a page with no password of its own (people act through their own profiles): a tick by hand is the record
    from test_audit_rules import request_argv

    ok(run(request_argv("oak-linkedin-oakpage", platform="linkedin", handle="oakpage")))
    other = open_incident(run, account="oak-linkedin-oakpage")
    ok(run(["incident", "step", other, "password-rotated", "--note", "admins changed their own passwords"]))


def test_log_and_export_withhold_an_incident_from_those_who_may_not_read_it(run, base):
    from test_audit_rules import T1

    ok(run(["incident", "open", FB, "--kind", "allegation", "--about", HEAD, "--summary", "Messages to a pupil"]))
    ok(run(["incident", "open", FB, "--kind", "abuse", "--summary", "Rude comment about Mr Example"]))
    ok(run(["person", "grant", T1, "--access", "register"]))
    for who, sees_allegation, sees_abuse in ((HEAD, False, True), (T1, False, False)):
        for argv in (["log", "--format", "json"], ["export"]):
            text = ok(run(["--as", who, *argv])).stdout
            assert ("Messages to a pupil" in text) is sees_allegation, (who, argv)
            assert ("Rude comment" in text) is sees_abuse, (who, argv)
            assert "withheld" in text
    text = ok(run(["log", "--format", "json"])).stdout  # the custodian reads both
    assert "Messages to a pupil" in text and "Rude comment" in text and "withheld" not in text


def test_a_rotation_back_to_an_earlier_password_is_still_seen_after_the_vault_key_changes(run, base):
    inc = open_incident(run)
    ok(run(["cred", "set", FB], input="password1\n"))  # held: weak
    ok(run(["cred", "set", FB], input=STRONG + "\n"))  # held: FB's password before the hijack
    it2 = "it.two@oak.sch.uk"
    ok(run(["staff", "add", it2, "--name", "Ivo Two", "--school", "oak", "--role", "it"]))
    ok(run(["person", "grant", it2, "--access", "vault"], env={"ACCOUNTCTL_NEW_PASSPHRASE": "ivo two passphrase 2026"}))
    ok(run(["person", "revoke", it2]))  # a new vault key: every fingerprint is made again under it
    refused(run, base, ["incident", "step", inc, "password-rotated"], 2, "one this account had before")
