"""Attestation campaigns: start, record (matching by email or exact staff name), status, the four rules at
their boundaries, a whole campaign over three accounts, and every bad input refused with the file unchanged.

Registers start from `base` (see test_audit_rules) on TODAY: FB is run by t.one (owner), t.two and t.three.
"""

from __future__ import annotations

import json

from conftest import CUSTODIAN, ok, refused
from test_audit_rules import (
    FB,
    HEAD,
    T3,
    TODAY,
    audit,
    base,  # noqa: F401
    day,
    found,
    import_accounts,
    one,
)
from test_schemas import problems, validator

CLEAN = "Tom One,t.two@oak.sch.uk,Teo Three"
ATTEST_RULES = ("ATTESTATION_OVERDUE", "UNKNOWN_PLATFORM_ADMIN", "PLATFORM_ADMIN_MISSING", "MFA_WEAK")


def start(run, *extra: str, due: str = day(14)) -> str:
    return ok(run(["attest", "start", "--due", due, *extra])).stdout.strip()


def attest(run, account: str = FB, admins: str = CLEAN, mfa: str = "app", *extra: str) -> None:
    ok(run(["attest", "record", account, "--admins", admins, "--mfa", mfa, *extra]))


def status(run, *extra: str) -> dict:
    data = json.loads(ok(run(["attest", "status", "--json", *extra])).stdout)
    assert problems(validator("attest-status.schema.json"), data) == []
    return data


def test_a_clean_attestation_matches_by_email_and_exact_name(run, base):
    campaign = start(run)
    assert campaign == "att-1"
    assert status(run)["accounts"][0]["state"] == "outstanding"
    attest(run)
    data = status(run, "--campaign", campaign)
    row = data["accounts"][0]
    assert (data["attested"], data["outstanding"]) == (1, 0)
    assert row["state"] == "attested" and row["attested_by"] == CUSTODIAN and row["mfa"] == "app"
    assert row["admins"] == ["Tom One", "t.two@oak.sch.uk", "Teo Three"]
    report, _ = audit(run)
    assert [f for f in report["findings"] if f["rule"] in ATTEST_RULES] == []


def test_a_name_that_is_not_exact_is_a_stranger(run, base):
    start(run)
    attest(run, FB, "Tom One,Tia Two,teo three")
    finding = one(audit(run)[0], "UNKNOWN_PLATFORM_ADMIN")
    assert "teo three (not in the staff register)" in finding["message"]
    assert finding["severity"] == "error"
    missing = one(audit(run)[0], "PLATFORM_ADMIN_MISSING")
    assert T3 in missing["message"]


def test_attestation_overdue_at_the_due_date_and_a_day_either_side(run, base):
    start(run, due=day(14))
    assert found(audit(run, "--as-of", day(13))[0], "ATTESTATION_OVERDUE") == []
    assert found(audit(run, "--as-of", day(14))[0], "ATTESTATION_OVERDUE") == []
    late = one(audit(run, "--as-of", day(15))[0], "ATTESTATION_OVERDUE")
    assert late["severity"] == "warning" and "att-1" in late["message"] and day(14) in late["message"]
    ok(run(["attest", "record", FB, "--admins", CLEAN, "--mfa", "app"], env={"ACCOUNTCTL_TODAY": day(15)}))
    assert found(audit(run, today=day(15))[0], "ATTESTATION_OVERDUE") == []


def test_a_newer_campaign_supersedes_an_older_one(run, base):
    start(run, due=day(3))
    start(run, "--school", "oak", due=day(30))
    assert found(audit(run, "--as-of", day(10))[0], "ATTESTATION_OVERDUE") == []
    assert one(audit(run, "--as-of", day(31))[0], "ATTESTATION_OVERDUE")["message"].count("att-2") == 1


def test_unknown_platform_admin_names_a_leaver_who_still_holds_rights(run, base):
    ok(run('staff add o.ld@oak.sch.uk --name "Olly Old" --school oak --role staff --trained-on 2026-09-01'))
    ok(run(["staff", "leave", "o.ld@oak.sch.uk", "--on", TODAY]))
    start(run)
    attest(run, FB, CLEAN + ",Olly Old")
    finding = one(audit(run)[0], "UNKNOWN_PLATFORM_ADMIN")
    assert f"Olly Old <o.ld@oak.sch.uk> (left on {TODAY})" in finding["message"]
    assert FB in finding["fix"] and "attest record" in finding["fix"]


def test_platform_admin_missing_names_the_registered_admin_not_found(run, base):
    start(run)
    attest(run, FB, "Tom One,Tia Two")
    finding = one(audit(run)[0], "PLATFORM_ADMIN_MISSING")
    assert finding["severity"] == "warning" and T3 in finding["message"] and "admin remove" in finding["fix"]
    assert found(audit(run)[0], "UNKNOWN_PLATFORM_ADMIN") == []


def test_mfa_weak_sms_is_a_warning_none_an_error_and_an_app_is_fine(run, base):
    start(run)
    for method, severity in (("sms", "warning"), ("none", "error")):
        attest(run, FB, CLEAN, method)
        assert one(audit(run)[0], "MFA_WEAK")["severity"] == severity
    for method in ("totp", "app", "passkey"):
        attest(run, FB, CLEAN, method)
        assert found(audit(run)[0], "MFA_WEAK") == []


def test_a_campaign_over_three_accounts(run, base, tmp_path):
    """One attested clean, one with a stranger admin, one overdue."""
    import_accounts(run, tmp_path, {}, {})
    stranger_acc, overdue_acc = "oak-instagram-legacy0", "oak-instagram-legacy1"
    campaign = start(run, "--school", "oak", due=day(7))
    attest(run, FB)
    attest(run, stranger_acc, "Tom One,Tia Two,Sam Stranger", "totp", "--recovery", "codes held by IT")
    data = status(run)
    assert {a["account"]: a["state"] for a in data["accounts"]} == {
        FB: "attested",
        stranger_acc: "attested",
        overdue_acc: "outstanding",
    }
    report, _ = audit(run, "--as-of", day(8))
    hits = sorted((f["rule"], f["account"]) for f in report["findings"] if f["rule"] in ATTEST_RULES)
    assert hits == [("ATTESTATION_OVERDUE", overdue_acc), ("UNKNOWN_PLATFORM_ADMIN", stranger_acc)]
    assert "Sam Stranger" in one(report, "UNKNOWN_PLATFORM_ADMIN", stranger_acc)["message"]
    overdue = json.loads(ok(run(["attest", "status", "--json"], env={"ACCOUNTCTL_TODAY": day(8)})).stdout)
    assert [a["account"] for a in overdue["accounts"] if a["state"] == "overdue"] == [overdue_acc]
    table = ok(run(["attest", "status", "--campaign", campaign])).stdout
    assert overdue_acc in table and "outstanding" in table
    csv = ok(run(["attest", "status", "--format", "csv"])).stdout.splitlines()
    assert csv[0].startswith("account,school,platform,state") and len(csv) == 4
    log = ok(run(["log", "--json"])).stdout
    assert '"attest.start"' in log and log.count('"attest.record"') == 2


def test_who_may_act(run, base):
    refused(run, base, ["--as", HEAD, "attest", "start", "--due", day(14)], 3, "custodian", "--school")
    ok(run(["--as", HEAD, "attest", "start", "--due", day(14), "--school", "oak"]))
    refused(run, base, ["--as", HEAD, "attest", "record", FB, "--admins", CLEAN, "--mfa", "app"], 3, "owner")
    assert status(run, "--as", HEAD)["started_by"] == HEAD


def test_bad_input_is_refused_and_changes_nothing(run, base):
    refused(run, base, ["attest", "status"], 2, "no attestation campaign")
    start(run)
    refused(run, base, ["attest", "status", "--campaign", "att-9"], 2, "unknown campaign", "att-1")
    refused(run, base, ["attest", "record", FB, "--admins", CLEAN, "--mfa", "email"], 2, "--mfa", "passkey")
    refused(run, base, ["attest", "record", FB, "--admins", "Tom One,,", "--mfa", "app"], 2, "--admins")
    refused(run, base, ["attest", "record", "nope", "--admins", CLEAN, "--mfa", "app"], 2, "unknown account")
    refused(run, base, ["attest", "start", "--due", "12/12/2026"], 2, "--due")
    refused(run, base, ["attest", "start", "--due", day(-1)], 2, "past")
    refused(run, base, ["attest", "start", "--due", day(9), "--school", "elm"], 2, "no active")


def test_offboard_lists_platform_admin_rights_the_last_attestation_still_shows(run, base):
    ok(run('staff add o.ld@oak.sch.uk --name "Olly Old" --school oak --role staff --trained-on 2026-09-01'))
    ok(run(["staff", "leave", "o.ld@oak.sch.uk", "--on", TODAY]))
    start(run)
    attest(run, FB, CLEAN + ",Olly Old")
    data = json.loads(ok(run(["offboard", "o.ld@oak.sch.uk", "--json"]), 1).stdout)
    assert problems(validator("offboard.schema.json"), data) == []
    (item,) = [i for i in data["items"] if i["kind"] == "platform_admin"]
    at = item["set_at"]
    assert at[:10] == TODAY
    assert item == {
        "kind": "platform_admin",
        "account": FB,
        "school": "oak",
        "role": "admin",
        "field": None,
        "set_at": at,
        "outstanding": True,
        "step": f"remove their admin rights on facebook (attested {TODAY}), then record what it shows",
        "command": f"accountctl attest record {FB} --admins LIST --mfa METHOD",
        "reaches": [],
        "mailbox": None,
    }
    # someone the attestation does not name has no platform item
    other = json.loads(ok(run(["offboard", CUSTODIAN, "--json"])).stdout)
    assert [i for i in other["items"] if i["kind"] == "platform_admin"] == []
    attest(run, FB, CLEAN)  # removed on the platform, and attested again
    data = json.loads(ok(run(["offboard", "o.ld@oak.sch.uk", "--json"])).stdout)
    assert [i for i in data["items"] if i["kind"] == "platform_admin"] == []


def test_the_summer_checklist_lists_the_same_platform_rights_as_each_persons_offboard(run, base):
    """`offboard --leaving-before` reads the attestations once for everyone: it must agree with each person's own."""
    for email, name in (("o.ld@oak.sch.uk", "Olly Old"), ("jo.ld@oak.sch.uk", "Jo Old"), ("al.so@oak.sch.uk", "Al So")):
        ok(
            run(
                [
                    "staff",
                    "add",
                    email,
                    "--name",
                    name,
                    "--school",
                    "oak",
                    "--role",
                    "staff",
                    "--trained-on",
                    "2026-09-01",
                ]
            )
        )
        ok(run(["staff", "leave", email, "--on", TODAY]))
    start(run)
    attest(run, FB, CLEAN + ",Olly Old,jo.ld@oak.sch.uk,Jo Old")  # Jo twice: one item, not two
    batch = json.loads(ok(run(["offboard", "--leaving-before", TODAY, "--json"]), 1).stdout)
    rights = {p["email"]: [i for i in p["items"] if i["kind"] == "platform_admin"] for p in batch["people"]}
    for email in ("o.ld@oak.sch.uk", "jo.ld@oak.sch.uk", "al.so@oak.sch.uk"):
        alone = json.loads(run(["offboard", email, "--json"]).stdout)
        assert rights[email] == [i for i in alone["items"] if i["kind"] == "platform_admin"]
    assert [len(rights[e]) for e in ("o.ld@oak.sch.uk", "jo.ld@oak.sch.uk", "al.so@oak.sch.uk")] == [1, 1, 0]


def test_the_governors_report_shows_attestation_progress(run, base, tmp_path):
    import_accounts(run, tmp_path, {})
    start(run, "--school", "oak", due=day(7))
    attest(run, FB)
    out = tmp_path / "report.html"
    result = ok(run(["report", "--out", str(out), "--json", "--as-of", day(8)], env={"ACCOUNTCTL_TODAY": day(8)}))
    data = json.loads(result.stdout)
    assert problems(validator("report.schema.json"), data) == []
    assert data["attestation"] == [
        {
            "id": "att-1",
            "school": "oak",
            "started": TODAY,
            "due": day(7),
            "accounts": 2,
            "attested": 1,
            "outstanding": 1,
            "overdue": 1,
        }
    ]
    assert "Platform access reviews" in out.read_text(encoding="utf-8")
    elm = json.loads(ok(run(["report", "--out", str(tmp_path / "elm.html"), "--json", "--school", "elm"])).stdout)
    assert elm["attestation"] == []  # an oak campaign has nothing in elm


def test_a_row_holding_two_json_values_never_shifts_another_accounts_admins(base):
    """The audit parses the last attestations in one call; a row an insider wrote as `[...], [...]` must stop it.

    Parsed as one array, that row would count twice and every later account would be read with the admins of
    the account before it: a stranger on one page would move to another, or go unseen.
    """
    from datetime import date

    import pytest

    from accountctl.core import audit as core
    from accountctl.store.register import open_register
    from conftest import PASSPHRASE

    with open_register(base, actor=CUSTODIAN, passphrase_source=lambda: PASSPHRASE) as reg:
        db = reg.db
        db.execute("CREATE TEMP TABLE copy AS SELECT * FROM accounts WHERE id = ?", (FB,))
        db.execute("UPDATE copy SET id = 'oak-facebook-zzz', handle = 'zzz', url = 'https://www.facebook.com/zzz'")
        db.execute("INSERT INTO accounts SELECT * FROM copy")
        rows = [
            (FB, '[{"shown": "A", "email": null}], [{"shown": "B", "email": null}]'),
            ("oak-facebook-zzz", '[{"shown": "C", "email": null}]'),
        ]
        db.executemany(
            "INSERT INTO attestations(campaign, account, at, attested_by, admins, mfa) "
            f"VALUES ('', ?, '{TODAY}T10:00:00Z', '{CUSTODIAN}', ?, 'app')",
            rows,
        )
        with pytest.raises(ValueError):
            core.load(db, date.fromisoformat(TODAY), vault=True)
        # one JSON value per row: read as it was written
        db.execute('UPDATE attestations SET admins = \'[{"shown": "A", "email": null}]\' WHERE account = ?', (FB,))
        snap = core.load(db, date.fromisoformat(TODAY), vault=True)
        assert snap.attested["oak-facebook-zzz"]["admins"] == ((None, "C"),)
        assert snap.attested[FB]["admins"] == ((None, "A"),)
