"""`accountctl demo`: the newcomer's first command."""

import csv
import io
import json
import os
from datetime import datetime

from conftest import ok


def test_demo_builds_a_trust_with_the_promised_problems_and_audits_it(run, tmp_path):
    result = ok(run(["demo", "--dir", str(tmp_path / "demo")]))
    out = result.stdout
    assert (tmp_path / "demo" / "demo.accountctl").exists()
    assert "oakfield demo passphrase" in out
    for rule in (
        "LEAVER_OWNER",
        "APPROVAL_MISSING",
        "SCHOOL_EMAIL",
        "ONE_FACULTY_ONE_STAFF",
        "MFA_NOT_HELD",
        "ROTATE_AFTER_LEAVER",
        "ADMIN_NOT_ELIGIBLE",
        "CASE_INCOMPLETE",
        "PUPILS_UNDER_PLATFORM_AGE",
        "PARENTS_NOT_INFORMED",
        "LINKED_EMAIL_PERSONAL",
        "REQUEST_STALE",
        "SUSPENDED_TOO_LONG",
        "CLOSED_NOT_GONE",
        "UNCLAIMED_ACCOUNT",
        "INCIDENT_OPEN",
        "UNKNOWN_PLATFORM_ADMIN",
        "ATTESTATION_OVERDUE",
        "MFA_WEAK",
        "SINGLE_CUSTODIAN",
        "POLICY_REVIEW_OVERDUE",
        "TRAINING_MISSING",
    ):
        assert rule in out, rule
    assert "Oakfield Social Media Policy 6.1" in out  # the trust's own clause beside its finding
    for name in ("Connect", "Huxley", "Agora", "Dartmoor", "Preston"):
        assert name not in out
    assert out.count("\n  accountctl ") == 13  # thirteen commands to try next (five about safeguarding)
    assert "DPIA_MISSING" in out and "Facebook has one" in out
    assert "ACCOUNTCTL_PASSPHRASE" not in out, "never a passphrase in a line to paste into a shell"


def test_the_demo_audit_fits_a_100_column_window(run, tmp_path):
    out = ok(run(["demo", "--dir", str(tmp_path / "demo")], env={"COLUMNS": "100"})).stdout
    table = out.split("\n\n", 1)[1].split("\n\n", 1)[0]  # between the introduction and the summary
    assert table.startswith("rule") and max(len(line) for line in table.splitlines()) <= 100


def test_the_demo_register_opens_and_its_next_commands_work(run, tmp_path, monkeypatch):
    ok(run(["demo", "--dir", str(tmp_path)]))
    monkeypatch.setenv("ACCOUNTCTL_REGISTER", str(tmp_path / "demo.accountctl"))
    monkeypatch.setenv("ACCOUNTCTL_PASSPHRASE", "oakfield demo passphrase")
    monkeypatch.setenv("ACCOUNTCTL_USER", "ira.patel@oakfieldtrust.org.uk")
    assert "APPROVAL_MISSING" in ok(run("audit --summary"), 1).stdout
    errors = ok(run("audit --severity error --account oakfield-facebook-oakfieldpta --json"), 1).stdout
    assert '"severity": "warning"' not in errors and "APPROVAL_MISSING" in errors
    ok(run("offboard tom.brown@oakfield.sch.uk"), 1)
    # every way in the leaver still has to the Facebook page (SPEC "Ways in"): none of them a password
    page = "oakfield-facebook-oakfieldprimary"
    items = json.loads(ok(run("offboard tom.brown@oakfield.sch.uk --json"), 1).stdout)["items"]
    ways = {(i["kind"], i["account"]) for i in items if page in [i["account"], *i["reaches"]]}
    assert ways == {
        ("contributor", "oakfield-hootsuite-oakfieldposts"),
        ("mailbox", page),
        ("platform_admin", page),
    }
    shown = json.loads(ok(run(f"account show {page} --json")).stdout)
    assert shown["access"] == "roles" and not shown["credentials_held"]
    assert shown["via"] == [
        "central-meta-business-oakfieldtrust",
        "oakfield-hootsuite-oakfieldposts",
    ]
    ok(run("account show oakfield-facebook-oakfieldpta"))
    ok(run("--as helen.ward@oakfield.sch.uk approve oakfield-youtube-oakfieldmusic"))
    gone = ok(run("account gone oakfield-flickr-oakfieldphotos"))
    assert "destroyed: username, password, totp" in gone.stderr
    assert ok(run("account show oakfield-flickr-oakfieldphotos --json")).stdout.count('"gone"') == 1
    assert "head-informed" in ok(run("incident show inc-1")).stdout
    ok(run("account takedown oakfield-instagram-oakfield-school-official --reported-on 2020-01-01"))
    ok(run("login --agent"))
    monkeypatch.delenv("ACCOUNTCTL_PASSPHRASE")
    shown = ok(run('cred show oakfield-x-oakfieldnews --field password --reason "Handover"'))
    assert shown.stdout.strip() and "Handover" in ok(run("log --json")).stdout
    ok(run("verify"))


def test_demo_refuses_to_overwrite(run, tmp_path):
    ok(run(["demo", "--dir", str(tmp_path)]))
    before = (tmp_path / "demo.accountctl").read_bytes()
    result = run(["demo", "--dir", str(tmp_path)])
    assert result.exit_code == 2 and result.stderr.startswith("Error: ")
    assert (tmp_path / "demo.accountctl").read_bytes() == before
    assert os.path.exists(tmp_path / "demo.accountctl")


def test_a_waiver_does_not_reach_back_before_it_was_granted(run, tmp_path, monkeypatch):
    import json
    from datetime import timedelta

    from accountctl import clock

    ok(run(["demo", "--dir", str(tmp_path)]))
    monkeypatch.setenv("ACCOUNTCTL_REGISTER", str(tmp_path / "demo.accountctl"))
    monkeypatch.setenv("ACCOUNTCTL_PASSPHRASE", "oakfield demo passphrase")
    monkeypatch.setenv("ACCOUNTCTL_USER", "ira.patel@oakfieldtrust.org.uk")
    today = clock.today()
    ok(
        run(
            f"--as helen.ward@oakfield.sch.uk waive oakfield-facebook-oakfieldpta ONE_FACULTY_ONE_STAFF "
            f"--reason 'PTA page agreed' --until {(today + timedelta(days=30)).isoformat()}"
        )
    )

    def waived(as_of):
        report = json.loads(run(f"audit --json --rule ONE_FACULTY_ONE_STAFF --as-of {as_of.isoformat()}").stdout)
        return {f["account"]: f["waived"] for f in report["findings"]}["oakfield-facebook-oakfieldpta"]

    assert waived(today) is True
    assert waived(today - timedelta(days=1)) is False  # the day before SLT decided
    assert waived(today + timedelta(days=31)) is False  # after it lapsed


def test_the_demo_shows_safeguarding_and_data_protection(run, tmp_path, monkeypatch):
    from accountctl.core import demo

    folder = tmp_path / "demo"
    ok(run(["demo", "--dir", str(folder)]))
    monkeypatch.setenv("ACCOUNTCTL_REGISTER", str(folder / "demo.accountctl"))
    monkeypatch.setenv("ACCOUNTCTL_PASSPHRASE", demo.PASSPHRASE)
    monkeypatch.setenv("ACCOUNTCTL_USER", demo.CUSTODIAN)
    by_kind = {i["kind"]: i for i in json.loads(ok(run(["incident", "list", "--json"])).stdout)}
    allegation = json.loads(ok(run(["incident", "show", by_kind["allegation"]["id"], "--json"])).stdout)
    assert {s["step"] for s in allegation["checklist"] if s["done"]} >= {"dsl-informed", "lado-informed"}
    log = list(csv.DictReader(io.StringIO(ok(run(["incident", "list", "--kind", "breach", "--format", "csv"])).stdout)))
    assert {(r["reportable"], bool(r["ico_reference"])) for r in log} == {("yes", True), ("no", False)}
    reported = next(r for r in log if r["reportable"] == "yes")
    hours = datetime.fromisoformat(reported["decided_at"][:19]) - datetime.fromisoformat(reported["discovered_at"][:19])
    assert hours.total_seconds() < 72 * 3600
    dpias = json.loads(ok(run(["platform", "list", "--json"])).stdout)
    assert [d["platform"] for d in dpias] == ["facebook"]
    erased = json.loads(ok(run(["incident", "show", by_kind["safeguarding"]["id"], "--json"])).stdout)
    assert erased["summary"].startswith("erased on ")
    ok(run(["verify"]))
