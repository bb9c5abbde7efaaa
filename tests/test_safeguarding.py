"""Safeguarding and data protection (issue 25): DPIAs per platform, pupil images and their consent check,
the trust's own windows, a changed URL and the head's notification.

Registers start from `base` (see test_audit_rules) on TODAY, where every platform has a trust-wide DPIA.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

from conftest import ok, refused
from test_audit_rules import (
    FB,
    SLT,
    TODAY,
    audit,
    base,  # noqa: F401
    day,
    found,
    one,
    underneath,
)


def no_dpias(base) -> None:
    with underneath(base) as db:
        db.execute("DELETE FROM dpias")


def test_dpia_missing_is_a_warning_and_an_error_for_an_account_aimed_at_pupils(run, base):
    no_dpias(base)
    hit = one(audit(run)[0], "DPIA_MISSING")
    assert hit["severity"] == "warning" and "platform dpia facebook" in hit["fix"]
    ok(run(["account", "update", FB, "--pupils", "14"]))
    assert one(audit(run)[0], "DPIA_MISSING")["severity"] == "error"
    # the school's own DPIA covers it; so does the trust's
    ok(run(["platform", "dpia", "facebook", "--ref", "OAK-1", "--approved-on", TODAY, "--school", "oak"]))
    assert found(audit(run)[0], "DPIA_MISSING") == []
    with underneath(base) as db:
        db.execute("DELETE FROM dpias")
    ok(run(["platform", "dpia", "facebook", "--ref", "TRUST-1", "--approved-on", TODAY]))
    assert found(audit(run)[0], "DPIA_MISSING") == []
    # another school's DPIA does not
    with underneath(base) as db:
        db.execute("UPDATE dpias SET school = 'elm'")
    assert one(audit(run)[0], "DPIA_MISSING")


def test_dpia_review_due_on_its_boundary(run, base):
    no_dpias(base)
    ok(run(["platform", "dpia", "facebook", "--ref", "T-1", "--approved-on", TODAY, "--review-days", "30"]))
    assert found(audit(run, "--as-of", day(30))[0], "DPIA_REVIEW_DUE") == []  # due that day: not yet late
    hit = one(audit(run, "--as-of", day(31))[0], "DPIA_REVIEW_DUE")
    assert hit["severity"] == "warning" and day(30) in hit["message"] and "T-1" in hit["message"]
    assert found(audit(run, "--as-of", day(29))[0], "DPIA_REVIEW_DUE") == []


def test_platform_dpia_and_list(run, base):
    no_dpias(base)
    ok(run(["platform", "dpia", "youtube", "--ref", "YT-9", "--approved-on", day(-10), "--school", "oak"]))
    rows = json.loads(ok(run(["platform", "list", "--json"])).stdout)
    assert [(r["platform"], r["school"], r["ref"], r["review_due"]) for r in rows] == [
        ("youtube", "oak", "YT-9", day(355))
    ]
    text = ok(run(["platform", "list"]))
    assert "No DPIA covers facebook at oak" in text.stderr
    for argv, word in (
        (["platform", "dpia", "myspace", "--ref", "x", "--approved-on", TODAY], "platform"),
        (["platform", "dpia", "x", "--ref", "x", "--approved-on", day(1)], "future"),
        (["platform", "dpia", "x", "--ref", "x", "--approved-on", "01/10/2026"], "yyyy-mm-dd"),
        (["platform", "dpia", "x", "--ref", " ", "--approved-on", TODAY], "ref"),
        (["platform", "dpia", "x", "--ref", "x", "--approved-on", TODAY, "--review-days", "0"], "review-days"),
        (["platform", "dpia", "x", "--ref", "x", "--approved-on", TODAY, "--school", "nope"], "nope"),
    ):
        refused(run, base, argv, 2, word)
    refused(run, base, SLT + ["platform", "dpia", "x", "--ref", "x", "--approved-on", TODAY], 3, "data protection")


def test_approve_shows_slt_the_dpia_or_that_there_is_none(run, base):
    from test_audit_rules import request_argv

    ok(run(request_argv("oak-x-one", platform="x", handle="oakone")))
    approved = ok(run(SLT + ["approve", "oak-x-one"]))
    assert "DPIA for x: DPIA-x" in approved.stderr
    no_dpias(base)
    ok(run(request_argv("oak-x-two", platform="x", handle="oaktwo")))
    approved = ok(run(SLT + ["approve", "oak-x-two"]))
    assert "No DPIA is recorded for x at oak" in approved.stderr


def test_consent_check_lapsed_on_its_boundary(run, base):
    ok(run(["account", "update", FB, "--pupil-images", "yes"]))
    shown = json.loads(ok(run(["account", "show", FB, "--json"])).stdout)
    assert shown["pupil_images"] == "yes" and shown["approval"]["current"] is False  # SLT approves it again
    ok(run(SLT + ["approve", FB]))
    hit = one(audit(run)[0], "CONSENT_CHECK_LAPSED")
    assert hit["severity"] == "warning" and f"monitor {FB} --consent-checked" in hit["fix"]
    ok(run(["monitor", FB, "--consent-checked"]))
    for offset, lapsed in ((29, False), (30, False), (31, True)):
        assert bool(found(audit(run, "--as-of", day(offset))[0], "CONSENT_CHECK_LAPSED")) is lapsed, offset
    ok(run(["config", "set", "window.consent_check_lapsed", "10"]))
    assert found(audit(run, "--as-of", day(10))[0], "CONSENT_CHECK_LAPSED") == []
    assert one(audit(run, "--as-of", day(11))[0], "CONSENT_CHECK_LAPSED")
    # an account without pupil images needs no consent check, and cannot record one
    ok(run(["account", "update", FB, "--pupil-images", "no"]))
    assert found(audit(run, "--as-of", day(60))[0], "CONSENT_CHECK_LAPSED") == []
    refused(run, base, ["monitor", FB, "--consent-checked"], 2, "pupil-images yes")
    refused(run, base, ["account", "update", FB, "--pupil-images", "maybe"], 2)


def test_windows_are_the_trusts(run, base):
    refused(
        run, base, ["config", "set", "window.nope", "5"], 2, "unknown window 'NOPE'", "INCIDENT_OPEN", "REVIEW_OVERDUE"
    )
    refused(run, base, ["config", "set", "window.INCIDENT_OPEN", "0"], 2, "whole number")
    refused(run, base, ["config", "set", "window.INCIDENT_OPEN", "x"], 2, "whole number")
    shown = json.loads(ok(run(["config", "show", "--json"])).stdout)
    assert json.dumps(shown).count("window.") >= 8


def test_a_new_url_needs_the_head_notified_again(run, base):
    assert found(audit(run)[0], "HEAD_NOT_NOTIFIED") == []
    ok(run(["account", "update", FB, "--url", "https://www.facebook.com/oakprimaryschool"]))
    hit = one(audit(run)[0], "HEAD_NOT_NOTIFIED")
    assert hit["severity"] == "error"
    # a notification dated before the new address existed is not one of it (an outside check saw it accepted)
    yesterday = (date.fromisoformat(TODAY) - timedelta(days=1)).isoformat()
    refused(run, base, ["account", "notify-head", FB, "--on", yesterday], 2, "before", "address")
    ok(run(["account", "notify-head", FB, "--on", TODAY]))
    assert found(audit(run)[0], "HEAD_NOT_NOTIFIED") == []
    # other changes keep the notification
    ok(run(["account", "update", FB, "--aim", "News, celebrations and term dates"]))
    assert found(audit(run)[0], "HEAD_NOT_NOTIFIED") == []


def test_vimeo_is_for_16_and_over(run, base):
    from accountctl.core import config

    assert config.min_age(config.DEFAULTS, "vimeo") == 16 and config.min_age(config.DEFAULTS, "youtube") == 13


def test_every_window_is_the_trusts_on_its_boundary(run, base):
    from test_incidents import open_incident

    inc = open_incident(run, "impersonation")
    ok(run(["config", "set", "window.INCIDENT_OPEN", "21"]))  # a LADO or police case stays open for weeks
    for offset, severity in ((20, "warning"), (21, "warning"), (22, "error")):
        assert one(audit(run, "--as-of", day(offset), "--fail-on", "info")[0], "INCIDENT_OPEN")["severity"] == severity
    assert inc
    ok(run(["config", "set", "policy.reviewed_on", day(-1000)], env={"ACCOUNTCTL_TODAY": TODAY}))
    ok(run(["config", "set", "window.POLICY_REVIEW_OVERDUE", "1095"]))  # a policy reviewed every three years
    for offset, late in ((94, False), (95, False), (96, True)):
        hits = found(audit(run, "--as-of", day(offset))[0], "POLICY_REVIEW_OVERDUE", None)
        assert bool(hits) is late, offset


def test_suspension_and_request_windows(run, base):
    from test_audit_rules import request_argv

    ok(run(["config", "set", "window.SUSPENDED_TOO_LONG", "10"]))
    ok(run(["account", "suspend", FB, "--reason", "Term break"]))
    assert found(audit(run, "--as-of", day(10))[0], "SUSPENDED_TOO_LONG") == []
    assert one(audit(run, "--as-of", day(11))[0], "SUSPENDED_TOO_LONG")
    ok(run(["config", "set", "window.REQUEST_STALE", "5"]))
    ok(run(request_argv("oak-x-one", platform="x", handle="oakone")))
    assert found(audit(run, "--as-of", day(5))[0], "REQUEST_STALE") == []
    assert one(audit(run, "--as-of", day(6))[0], "REQUEST_STALE", "oak-x-one")


def test_trust_level_findings_are_waived_for_the_trust(run, base):
    ceo = "c.eo@oak.sch.uk"
    ok(run(["staff", "add", ceo, "--name", "Cee Eo", "--school", "oak", "--role", "ceo"]))
    ok(run(["person", "grant", ceo, "--access", "register"]))
    ok(run(["config", "set", "policy.reviewed_on", day(-400)]))
    hit = one(audit(run, "--fail-on", "warning")[0], "POLICY_REVIEW_OVERDUE", None)
    assert hit["waived"] is False
    # waiving it on an account is refused, and says how
    refused(run, base, SLT + ["waive", FB, "POLICY_REVIEW_OVERDUE", "--reason", "x", "--until", day(30)], 2, "--trust")
    # two schools: only the CEO
    argv = ["waive", "--trust", "POLICY_REVIEW_OVERDUE", "--reason", "Rewrite due in June", "--until", day(30)]
    refused(run, base, SLT + argv, 3, "ceo")
    refused(
        run, base, ["--as", ceo, "waive", "--trust", "TWO_ADMINS", "--reason", "x", "--until", day(30)], 2, "--trust"
    )
    refused(run, base, ["--as", ceo, "waive", FB, "--trust", "SINGLE_CUSTODIAN", "--reason", "x", "--until", day(3)], 2)
    refused(run, base, ["--as", ceo, *argv[:-1], day(400)], 2, "one year")
    ok(run(["--as", ceo, *argv]))
    report, code = audit(run, "--fail-on", "warning")
    hit = one(report, "POLICY_REVIEW_OVERDUE", None)
    assert hit["waived"] is True and hit["waived_until"] == day(30) and code == 0
    # until its end date, not after
    assert one(audit(run, "--as-of", day(30))[0], "POLICY_REVIEW_OVERDUE", None)["waived"] is True
    assert one(audit(run, "--as-of", day(31))[0], "POLICY_REVIEW_OVERDUE", None)["waived"] is False


def test_monitoring_counts_school_days_in_term_once_terms_are_set(run, base):
    # TODAY (2026-10-01) is a Thursday; half term 26-30 October
    refused(run, base, ["config", "set", "terms", "2026-09-03"], 2, "start:end")
    refused(run, base, ["config", "set", "terms", "2026-10-23:2026-09-03"], 2, "ends before")
    refused(run, base, ["config", "set", "terms", "2026-11-02:2026-12-18,2026-09-03:2026-10-23"], 2, "in order")
    ok(run(["config", "set", "terms", "2026-09-03:2026-10-23,2026-11-02:2026-12-18"]))
    ok(run(["config", "set", "monitoring_period_days", "5"]))
    # monitored on TODAY: five school days later (Thu 8 Oct) is in time, the sixth (Fri 9 Oct) is not
    assert found(audit(run, "--as-of", "2026-10-08", "--fail-on", "info")[0], "MONITORING_LAPSED") == []
    hit = one(audit(run, "--as-of", "2026-10-09", "--fail-on", "info")[0], "MONITORING_LAPSED")
    assert "6 school days ago" in hit["message"]
    # a check on the last day of term is not overdue through the half-term holiday
    ok(run(["monitor", FB], env={"ACCOUNTCTL_TODAY": "2026-10-23"}))
    assert found(audit(run, "--as-of", "2026-11-01", "--fail-on", "info")[0], "MONITORING_LAPSED") == []
    assert found(audit(run, "--as-of", "2026-11-06", "--fail-on", "info")[0], "MONITORING_LAPSED") == []
    assert one(audit(run, "--as-of", "2026-11-09", "--fail-on", "info")[0], "MONITORING_LAPSED")
    # without terms, every day counts
    ok(run(["config", "set", "terms", ""]))
    assert one(audit(run, "--as-of", "2026-10-29", "--fail-on", "info")[0], "MONITORING_LAPSED")


def test_publish_lists_only_what_parents_may_trust(run, base, tmp_path):
    from test_audit_rules import T1, import_accounts

    # a PTA page nobody approved, on a gmail login; and the approved main page, whose owner then leaves
    import_accounts(run, tmp_path, {"id": "oak-facebook-pta", "handle": "oakpta", "email": "oakpta@gmail.com"})
    data = json.loads(ok(publish := run(["publish", "--school", "oak", "--format", "json"])).stdout)
    assert [c["handle"] for c in data["schools"][0]["channels"]] == ["oakprimary"]
    assert "Left out oak-facebook-pta: it has no SLT approval." in publish.stderr
    with underneath(base) as db:  # approved, but linked to a personal mailbox
        db.execute("UPDATE accounts SET email = 'oakoffice@gmail.com' WHERE id = ?", (FB,))
    result = run(["publish", "--school", "oak", "--format", "json"])
    assert f"Left out {FB}: it is linked to oakoffice@gmail.com, not a school mailbox." in result.stderr
    with underneath(base) as db:
        db.execute("UPDATE accounts SET email = 'office@oak.sch.uk' WHERE id = ?", (FB,))
    ok(run(["staff", "leave", T1, "--on", TODAY]))
    result = run(["publish", "--school", "oak", "--format", "json"])
    assert json.loads(result.stdout)["schools"][0]["channels"] == []
    assert f"Left out {FB}: its owner has left." in result.stderr
    page = tmp_path / "channels.html"
    ok(run(["publish", "--school", "oak", "--out", str(page)]))
    assert "oakprimary" not in page.read_text(encoding="utf-8") and "oakpta" not in page.read_text(encoding="utf-8")


def test_publish_leaves_out_a_case_changed_since_approval_and_says_why_it_leaves_out_a_service_record(
    run, base, tmp_path
):
    from test_audit_rules import import_accounts

    # a new address after SLT approved: parents must not be given a URL nobody approved (a lookalike)
    ok(run(["account", "update", FB, "--url", "https://www.facebook.com/0akprimary"]))
    result = ok(run(["publish", "--school", "oak", "--format", "json"]))
    assert json.loads(result.stdout)["schools"][0]["channels"] == []
    assert f"Left out {FB}: its business case changed since SLT approved it (approve it again)." in result.stderr
    ok(run(SLT + ["approve", FB]))
    ok(run(["account", "notify-head", FB]))
    result = ok(run(["publish", "--school", "oak", "--format", "json"]))
    assert [c["url"] for c in json.loads(result.stdout)["schools"][0]["channels"]] == [
        "https://www.facebook.com/0akprimary"
    ]
    # a tool the school posts through is active but never published, and stderr says so
    tool = {"id": "oak-hootsuite-oakposts", "platform": "hootsuite", "handle": "oakposts", "category": "service"}
    import_accounts(run, tmp_path, {**tool, "url": "https://hootsuite.com"})
    result = ok(run(["publish", "--school", "oak", "--format", "json"]))
    assert "oakposts" not in result.stdout
    assert (
        "Left out oak-hootsuite-oakposts: it is a service record (a tool or business portfolio), never published."
        in (result.stderr)
    )


def test_an_erased_incident_is_nowhere_and_verify_still_passes(run, base, tmp_path):
    from accountctl.store.register import open_register
    from conftest import CUSTODIAN, PASSPHRASE
    from test_incidents import open_incident

    secret = "Mrs Example's son in 5B was named in a comment"
    inc = ok(run(["incident", "open", FB, "--kind", "breach", "--summary", secret])).stdout.strip()
    ok(run(["incident", "step", inc, "dpo-informed", "--note", "Told the DPO about " + secret]))
    ok(run(SLT + ["incident", "decide", inc, "--reportable", "no", "--reason", "Only " + secret]))
    for step in ("head-informed", "password-rotated"):
        ok(run(["incident", "step", inc, step]))
    ok(run(["incident", "close", inc, "--outcome", "Removed: " + secret]))
    assert secret in ok(run(["log", "--format", "json"])).stdout
    other = open_incident(run, "abuse")  # another incident's text is untouched
    refused(run, base, SLT + ["erase", "incident", inc, "--reason", "x"], 3, "data protection")
    refused(run, base, ["erase", "incident", inc, "--reason", " "], 2, "reason")
    refused(run, base, ["erase", "incident", "inc-99", "--reason", "x"], 2, "unknown incident")
    ok(run(["erase", "incident", inc, "--reason", "Retention period over"]))
    refused(run, base, ["erase", "incident", inc, "--reason", "again"], 2, "already erased")
    ok(run(["monitor", FB]))  # one more save: PATH.bak is now the erasing save's
    notice = f"erased on {TODAY} by "
    shown = ok(run(["incident", "show", inc, "--json"])).stdout
    assert secret not in shown and notice in shown and "Retention period over" in shown
    for argv in (["log", "--format", "json"], ["export"], ["incident", "list", "--kind", "breach", "--format", "csv"]):
        text = ok(run(argv)).stdout
        assert secret not in text, argv
    assert "Posts we did not write" in ok(run(["incident", "show", other])).stdout
    ok(run(["verify"]))
    # nowhere in the bytes either: the decrypted body, its history, the file and PATH.bak
    with open_register(base, actor=CUSTODIAN, passphrase_source=lambda: PASSPHRASE, history=True) as reg:
        from accountctl.store import db as store_db

        body = store_db.serialize(reg.db) + store_db.serialize(reg.db, "history")
    for blob in (body, base.read_bytes(), base.with_name(base.name + ".bak").read_bytes()):
        assert secret.encode() not in blob and b"5B was named" not in blob


def test_retention_due_on_its_boundary(run, base):
    from test_incidents import open_incident

    inc = open_incident(run, "abuse")
    for step in ("content-removed", "head-informed"):
        ok(run(["incident", "step", inc, step]))
    ok(run(["incident", "close", inc, "--outcome", "Removed"]))
    assert found(audit(run, "--as-of", day(5000), "--fail-on", "info")[0], "RETENTION_DUE") == []  # not set
    refused(run, base, ["config", "set", "retention.incident", "ten"], 2, "whole number")
    ok(run(["config", "set", "retention.incident", "100"]))
    assert found(audit(run, "--as-of", day(100), "--fail-on", "info")[0], "RETENTION_DUE") == []
    hit = one(audit(run, "--as-of", day(101), "--fail-on", "info")[0], "RETENTION_DUE")
    assert hit["severity"] == "info" and f"erase incident {inc}" in hit["fix"]
    assert found(audit(run, "--as-of", day(99), "--fail-on", "info")[0], "RETENTION_DUE") == []
    ok(run(["erase", "incident", inc, "--reason", "Retention period over"]))
    assert found(audit(run, "--as-of", day(101), "--fail-on", "info")[0], "RETENTION_DUE") == []


def test_the_digital_lead_and_link_governor_are_named_and_in_the_governors_report(run, base, tmp_path):
    from test_audit_rules import HEAD, T1

    gov = "g.ov@oak.sch.uk"
    ok(run(["staff", "add", gov, "--name", "Gil Gov", "--school", "oak", "--role", "governor"]))
    refused(run, base, ["school", "update", "oak"], 2, "--digital-lead")
    refused(run, base, ["school", "update", "oak", "--digital-lead", T1], 2, "slt")
    refused(run, base, ["school", "update", "oak", "--link-governor", T1], 2, "governor")
    refused(run, base, ["school", "update", "nope", "--link-governor", gov], 2, "nope")
    refused(run, base, SLT + ["school", "update", "oak", "--link-governor", gov], 3, "custodian")
    ok(run(["school", "update", "oak", "--digital-lead", HEAD, "--link-governor", gov]))
    data = json.loads(ok(run(["report", "--out", str(tmp_path / "r.html"), "--json"])).stdout)
    oak = next(lead for lead in data["leads"] if lead["school"] == "oak")
    assert (oak["digital_lead"], oak["link_governor_name"]) == (HEAD, "Gil Gov")
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Digital lead and link governor" in page and "Gil Gov" in page and "No data breach in the period" in page
    assert "DPIA coverage" in page and "DPIA-facebook" in page
    # a breach in the period appears in the log, with the DPO's decision and never its text
    ok(run(["incident", "open", FB, "--kind", "breach", "--summary", "Class list posted by mistake"]))
    ok(run(SLT + ["incident", "decide", "inc-1", "--reportable", "no", "--reason", "Removed at once"]))
    data = json.loads(ok(run(["report", "--out", str(tmp_path / "r.html"), "--json"])).stdout)
    assert [(b["id"], b["decision"], b["ico_reference"]) for b in data["breaches"]] == [
        ("inc-1", "not reportable", None)
    ]
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Breach log" in page and "not reportable" in page and "Class list posted" not in page


def test_cyber_training_due_on_its_boundary(run, base):
    from test_audit_rules import T2

    refused(run, base, ["staff", "train", T2, "--on", TODAY, "--kind", "fire"], 2, "--kind")
    refused(
        run, base, ["staff", "train", T2, "--on", TODAY, "--kind", "cyber", "--policy-ack", "2026"], 2, "policy-ack"
    )
    # trained on 2026-09-01 in the base register: due after 365 days
    assert found(audit(run, "--as-of", "2027-09-01")[0], "CYBER_TRAINING_DUE") == []
    hit = one(audit(run, "--as-of", "2027-09-02")[0], "CYBER_TRAINING_DUE")
    assert hit["severity"] == "warning" and T2 in hit["message"] and "--kind cyber" in hit["fix"]
    ok(run(["staff", "train", T2, "--on", TODAY, "--kind", "cyber"]))
    assert T2 not in one(audit(run, "--as-of", "2027-09-02")[0], "CYBER_TRAINING_DUE")["message"]
    assert json.loads(ok(run(["staff", "show", T2, "--json"])).stdout)["cyber_trained_on"] == TODAY


def test_cyber_training_is_never_asked_of_someone_who_has_left(run, base):
    from test_audit_rules import T2, T3

    # T2 and T3 (admins) trained on 2026-09-01; a year later T3 has left: LEAVER_ADMIN names them, not this rule.
    ok(run(["staff", "leave", T3, "--on", "2027-08-31"]))
    audit_late = audit(run, "--as-of", "2027-09-02")[0]
    hit = one(audit_late, "CYBER_TRAINING_DUE")
    assert T2 in hit["message"] and T3 not in hit["message"]
    assert any(T3 in f["message"] for f in found(audit_late, "LEAVER_ADMIN"))


def test_the_asset_register_has_one_row_per_account(run, base, tmp_path):
    import csv

    from test_audit_rules import HEAD

    target = tmp_path / "assets.csv"
    refused(run, base, ["export", "--asset-register", str(tmp_path / "assets.xlsx")], 2, ".csv")
    ok(run(["export", "--asset-register", str(target)]))
    (row,) = list(csv.DictReader(target.open(encoding="utf-8")))
    assert (row["school"], row["platform"], row["handle"], row["status"]) == ("oak", "facebook", "oakprimary", "active")
    assert row["approved_by"] == HEAD and row["approved_on"] == TODAY and row["dpia_ref"] == "DPIA-facebook"
    assert row["linked_mailbox"] == "office@oak.sch.uk" and row["access_model"] == "login"
    assert set(row) == {
        "school", "platform", "handle", "url", "access_model", "category", "status", "owner", "admins",
        "linked_mailbox", "approved_on", "approved_by", "last_review", "dpia_ref", "retention_days",
    }  # fmt: skip


def test_closed_and_found_account_windows_on_their_boundaries(run, base):
    def hits(rule, offset):
        return found(audit(run, "--as-of", day(offset))[0], rule)

    ok(run(["config", "set", "window.SUSPENDED_TOO_LONG", "10"]))
    ok(run(["account", "suspend", FB, "--reason", "Paused"]))
    assert [bool(hits("SUSPENDED_TOO_LONG", d)) for d in (9, 10, 11)] == [False, False, True]
    ok(run(["config", "set", "window.CLOSED_NOT_GONE", "5"]))
    ok(run(["account", "close", FB, "--reason", "Merged"]))
    assert [bool(hits("CLOSED_NOT_GONE", d)) for d in (4, 5, 6)] == [False, False, True]
    argv = ["account", "found", "--school", "oak", "--platform", "x", "--handle", "oakfake"]
    ok(run([*argv, "--url", "https://x.com/oakfake", "--source", "A parent"]))
    ok(run(["config", "set", "window.UNCLAIMED_ACCOUNT", "3"]))
    assert [bool(hits("UNCLAIMED_ACCOUNT", d)) for d in (2, 3, 4)] == [False, False, True]
    ok(run(["account", "takedown", "oak-x-oakfake", "--reported-on", TODAY]))
    ok(run(["config", "set", "window.UNCLAIMED_ACCOUNT_GONE", "7"]))
    assert [bool(hits("UNCLAIMED_ACCOUNT", d)) for d in (6, 7, 8)] == [False, False, True]
