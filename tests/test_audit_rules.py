"""The audit rules, one by one: a register that breaks each rule, the fix the finding suggests (run as
the very command it names), and an SLT waiver that marks the finding without hiding it.

Every register starts from `base`: school oak (and elm) with a fully compliant, active Facebook account
(`FB`: owner t.one, admins t.two and t.three, approved by the headteacher, headteacher notified, IT holds
the password and the 2FA seed, monitored, not aimed at pupils), two IT custodians and a policy reviewed,
all recorded on TODAY. Its audit as of TODAY is empty.
The last tests build `Snapshot`s by hand: the rules are plain functions over plain data.
"""

from __future__ import annotations

import json
import re
import shlex
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import pytest

from accountctl.core import audit as core
from accountctl.core import config
from accountctl.model import PLATFORMS
from accountctl.store.register import open_register
from conftest import CUSTODIAN, HEAD, PASSPHRASE, ok

TODAY = "2026-10-01"
T1 = "t.one@oak.sch.uk"
T2 = "t.two@oak.sch.uk"
T3 = "t.three@oak.sch.uk"
ELM = "e.one@elm.sch.uk"
ELM2 = "e.two@elm.sch.uk"
FB = "oak-facebook-oakprimary"
STRONG = "Xk8#pQ2!vLm9@wRt4zYb-Oak"
OTHER_STRONG = "Quartz-Lantern-97!Pelican"
TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
SLT = ["--as", HEAD]
# Every rule, in the registry's order, with the spec's severity.
SPEC_SEVERITY = {
    "TWO_ADMINS": "error",
    "ADMIN_NOT_ELIGIBLE": "error",
    "SCHOOL_EMAIL": "error",
    "APPROVAL_MISSING": "error",
    "APPROVAL_INVALID": "error",
    "CHANGED_SINCE_APPROVAL": "warning",
    "HEAD_NOT_NOTIFIED": "error",
    "CREDENTIALS_NOT_HELD": "error",
    "MFA_NOT_HELD": "warning",
    "LEAVER_OWNER": "error",
    "LEAVER_ADMIN": "error",
    "ROTATE_AFTER_LEAVER": "error",
    "ONE_FACULTY_ONE_STAFF": "warning",
    "TRAINING_MISSING": "warning",
    "REVIEW_OVERDUE": "warning",
    "POLICY_REVIEW_OVERDUE": "warning",
    "CASE_INCOMPLETE": "warning",
    "PUPILS_UNDER_PLATFORM_AGE": "error",
    "PARENTS_NOT_INFORMED": "warning",
    "LINKED_EMAIL_PERSONAL": "warning",
    "REQUEST_STALE": "warning",
    "SUSPENDED_TOO_LONG": "warning",
    "CLOSED_NOT_GONE": "warning",
    "UNCLAIMED_ACCOUNT": "error",
    "SINGLE_CUSTODIAN": "warning",
    "INCIDENT_OPEN": "error",
    "BREACH_NOT_REPORTED": "error",
    "ATTESTATION_OVERDUE": "warning",
    "UNKNOWN_PLATFORM_ADMIN": "error",
    "PLATFORM_ADMIN_MISSING": "warning",
    "MFA_WEAK": "warning",
    "PASSWORD_WEAK": "warning",
    "PASSWORD_REUSED": "warning",
    "CUSTODIAN_LEFT": "error",
    "MONITORING_LAPSED": "info",
    "ACCESS_EXPIRED": "error",
    "MAILBOX_MEMBER_LEFT": "error",
    "MAILBOX_SIGN_IN": "warning",
    "LINKED_MAILBOX_UNKNOWN": "info",
    "DORMANT": "warning",
    "SAFETY_SETTINGS": "warning",
    "HOUSE_RULES_MISSING": "warning",
}
SPEC_SEVERITY |= {
    "DPIA_MISSING": "warning",
    "DPIA_REVIEW_DUE": "warning",
    "CONSENT_CHECK_LAPSED": "warning",
    "RETENTION_DUE": "info",
    "CYBER_TRAINING_DUE": "warning",
}
ALL_RULES = list(SPEC_SEVERITY)
IT2 = "i.two@oak.sch.uk"  # the second IT custodian: with one, SINGLE_CUSTODIAN
IMPORT_HEADER = "id,school,platform,handle,url,category,email,owner,admins,contributors,status"


def day(offset: int, start: str = TODAY) -> str:
    """TODAY (or `start`) plus `offset` days, as YYYY-MM-DD."""
    return (date.fromisoformat(start) + timedelta(days=offset)).isoformat()


# -- the register every test starts from ------------------------------------------------------------
_TEMPLATE: dict[str, bytes] = {}


def request_argv(
    account_id: str,
    platform: str = "facebook",
    handle: str = "oakprimary",
    category: str = "faculty",
    school: str = "oak",
    owner: str = T1,
    admins=(T2, T3),
    email: str = "office@oak.sch.uk",
    access: str | None = "login",
) -> list[str]:
    argv = [
        "account",
        "request",
        "--id",
        account_id,
        "--school",
        school,
        "--platform",
        platform,
        "--handle",
        handle,
        "--url",
        f"https://www.{platform}.com/{handle}",
        "--category",
        category,
        "--email",
        email,
        "--owner",
        owner,
        "--aim",
        "News and celebrations for parents",
        "--audience",
        "Parents and carers",
        "--promotion",
        "Weekly newsletter",
        "--visibility",
        "open",
        "--pupils",
        "none",
    ]
    if access:  # by default the account behaves as before access models: IT holds its password
        argv += ["--access", access]
    for admin in admins:
        argv += ["--admin", admin]
    return argv


def _build(run) -> None:
    ok(run(f'init --trust "Oak Trust" --email {CUSTODIAN} --name "Ira Tech"'))
    ok(run('school add oak --name "Oak Primary" --domain oak.sch.uk'))
    ok(run('school add elm --name "Elm Primary" --domain elm.sch.uk'))
    ok(run(f'staff add {CUSTODIAN} --name "Ira Tech" --school oak --role it'))
    ok(run(f'staff add {HEAD} --name "Hana Head" --school oak --role headteacher --role slt'))
    for email, name, school in (
        (T1, "Tom One", "oak"),
        (T2, "Tia Two", "oak"),
        (T3, "Teo Three", "oak"),
        (ELM, "Eve One", "elm"),
        (ELM2, "Eli Two", "elm"),
    ):
        ok(run(f'staff add {email} --name "{name}" --school {school} --role staff --trained-on 2026-09-01'))
        ok(run(["staff", "train", email, "--on", "2026-09-01", "--kind", "cyber"]))
    ok(run(f"person grant {HEAD} --access register"))
    ok(run(f'staff add {IT2} --name "Ivy Two" --school oak --role it'))
    ok(run(f"person grant {IT2} --access vault"))
    ok(run(f"config set policy.reviewed_on {TODAY}"))
    for platform in PLATFORMS:  # every platform assessed for the trust, reviewed in three years: DPIA tests remove them
        ok(
            run(
                [
                    "platform",
                    "dpia",
                    platform,
                    "--ref",
                    f"DPIA-{platform}",
                    "--approved-on",
                    TODAY,
                    "--review-days",
                    "1095",
                ]
            )
        )
    ok(run(request_argv(FB)))
    ok(run(SLT + ["approve", FB]))
    ok(run(["account", "notify-head", FB]))
    ok(run(["cred", "set", FB], input=STRONG + "\n"))
    ok(run(["cred", "totp", FB], input=TOTP + "\n"))
    ok(run(["account", "activate", FB]))
    ok(run(["monitor", FB]))
    ok(run(["mailbox", "add", "office@oak.sch.uk", "--kind", "shared", "--school", "oak", "--sign-in", "blocked"]))


@pytest.fixture
def base(run, register_path: Path, monkeypatch) -> Path:
    """The compliant register on TODAY, acting as the custodian unless --as says otherwise."""
    monkeypatch.setenv("ACCOUNTCTL_TODAY", TODAY)
    monkeypatch.setenv("ACCOUNTCTL_USER", CUSTODIAN)
    if "base" not in _TEMPLATE:
        _build(run)
        _TEMPLATE["base"] = register_path.read_bytes()
    else:
        register_path.write_bytes(_TEMPLATE["base"])
    return register_path


# -- helpers -------------------------------------------------------------------------------------------
def audit(run, *args, who: str | None = None, today: str | None = None) -> tuple[dict, int]:
    """`audit --json ARGS`: (report, exit code); the exit code always agrees with summary.failed."""
    argv = (["--as", who] if who else []) + ["audit", "--json", *args]
    result = run(argv, env={"ACCOUNTCTL_TODAY": today} if today else None)
    assert result.exit_code in (0, 1), f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    report = json.loads(result.stdout)
    assert report["summary"]["failed"] is (result.exit_code == 1)
    return report, result.exit_code


def found(report: dict, rule: str, account: str | None = "any") -> list[dict]:
    return [f for f in report["findings"] if f["rule"] == rule and (account == "any" or f["account"] == account)]


def one(report: dict, rule: str, account: str | None = FB) -> dict:
    hits = found(report, rule, account)
    assert len(hits) == 1, f"expected one {rule} on {account}, got {report['findings']}"
    return hits[0]


def rules_of(report: dict, severity: str | None = None, waived: bool | None = None) -> set[str]:
    return {
        f["rule"]
        for f in report["findings"]
        if (severity is None or f["severity"] == severity) and (waived is None or f["waived"] is waived)
    }


def fix_argv(finding: dict, **placeholders: str) -> list[str]:
    """The command a finding's `fix` names, as argv: text before 'accountctl ' and a trailing remark
    in brackets are dropped; placeholders (EMAIL, DATE) are filled in."""
    text = finding["fix"]
    assert "accountctl " in text, f"the fix names no command: {text!r}"
    command = re.sub(r"\s*\([^)]*\)\s*$", "", text.split("accountctl ", 1)[1])
    argv = shlex.split(command)
    assert finding["account"] is None or finding["account"] in argv or "staff" in argv[:1], argv
    return [placeholders.get(a, a) for a in argv]


def waive(run, account: str, rule: str, until: str = "2026-12-31", who: str = HEAD, today: str | None = None):
    return ok(
        run(
            ["--as", who, "waive", account, rule, "--reason", "Accepted by SLT for now", "--until", until],
            env={"ACCOUNTCTL_TODAY": today} if today else None,
        )
    )


def complete_case(run, account: str, pupils: str = "none") -> None:
    """`account update` fills in a legacy account's business case (an import records none)."""
    ok(
        run(
            [
                "account",
                "update",
                account,
                "--aim",
                "Fixtures and results",
                "--audience",
                "Parents and carers",
                "--promotion",
                "Newsletter",
                "--visibility",
                "open",
                "--pupils",
                pupils,
            ]
        )
    )


def import_accounts(run, tmp_path: Path, *rows: dict) -> None:
    """`account import` of legacy rows (defaults: an active oak Instagram faculty account, owner t.one, admin t.two)."""
    lines = [IMPORT_HEADER]
    for i, over in enumerate(rows):
        row = {
            "id": f"oak-instagram-legacy{i}",
            "school": "oak",
            "platform": "instagram",
            "handle": f"legacy{i}",
            "url": f"https://www.instagram.com/legacy{i}",
            "category": "faculty",
            "email": "office@oak.sch.uk",
            "owner": T1,
            "admins": T2,
            "contributors": "",
            "status": "active",
            **over,
        }
        lines.append(",".join(row[k] for k in IMPORT_HEADER.split(",")))
    path = tmp_path / "legacy.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ok(run(["account", "import", str(path)]))


@contextmanager
def underneath(path: Path):
    """The register's database through the store API (for states no command produces)."""
    with open_register(path, actor=CUSTODIAN, passphrase_source=lambda: PASSPHRASE, write=True) as reg:
        yield reg.db


def check_waiver_marks(
    run, account: str, rule: str, fail_on: str = "error", today: str | None = None, as_of: str | None = None
) -> dict:
    """Waive `rule` on `account` (it must be the only unwaived finding at or above `fail_on`): the finding is
    still listed, marked waived with its end date, and the audit now passes."""
    extra = ["--fail-on", fail_on] + (["--as-of", as_of] if as_of else [])
    before, code = audit(run, *extra, today=today)
    assert code == 1 and one(before, rule, account)["waived"] is False
    until = day(60, today or TODAY)
    waive(run, account, rule, until=until, today=today)
    after, code = audit(run, *extra, today=today)
    hit = one(after, rule, account)
    assert hit["waived"] is True and hit["waived_until"] == until
    assert code == 0, after["findings"]
    assert after["summary"]["waived"] >= 1
    return hit


# -- the starting point ----------------------------------------------------------------------------------
def test_the_base_register_is_compliant(run, base):
    report, code = audit(run, "--fail-on", "info")
    assert code == 0
    assert report["findings"] == []
    assert report["summary"]["accounts_audited"] == 1
    assert report["summary"]["as_of"] == TODAY
    assert report["summary"]["rules"] == ALL_RULES


def test_the_registry_has_exactly_the_spec_rules_with_their_severities():
    assert {r.id: r.severity for r in core.RULES.values()} == SPEC_SEVERITY
    assert list(core.RULES) == ALL_RULES
    assert {r.id for r in core.RULES.values() if r.needs_vault} == {"PASSWORD_WEAK", "PASSWORD_REUSED"}


# -- TWO_ADMINS ---------------------------------------------------------------------------------------------
def test_two_admins_legacy_account_with_one_admin(run, base, tmp_path):
    import_accounts(
        run, tmp_path, {"id": "oak-x-oakpe", "platform": "x", "handle": "oakpe", "admins": "", "status": "requested"}
    )
    report, code = audit(run)
    hit = one(report, "TWO_ADMINS", "oak-x-oakpe")
    assert (hit["severity"], hit["school"]) == ("error", "oak")
    assert "1 eligible admin" in hit["message"] and T1 in hit["message"]
    assert code == 1 and rules_of(report, "error") == {"TWO_ADMINS"}

    check_waiver_marks(run, "oak-x-oakpe", "TWO_ADMINS")

    ok(run(fix_argv(hit, EMAIL=T2)))
    report, code = audit(run)
    assert found(report, "TWO_ADMINS") == [] and code == 0


def test_two_admins_counts_only_admins_who_have_not_left(run, base):
    ok(run(["staff", "leave", T2, "--on", day(10)]))
    ok(run(["staff", "leave", T3, "--on", day(20)]))
    ok(run(["staff", "leave", T1, "--on", day(30)]))
    report, _ = audit(run, "--rule", "TWO_ADMINS", "--as-of", day(10))
    assert report["findings"] == []  # t.one and t.three remain
    report, _ = audit(run, "--rule", "TWO_ADMINS", "--as-of", day(19))
    assert report["findings"] == []  # t.three is still staff the day before they leave
    report, _ = audit(run, "--rule", "TWO_ADMINS", "--as-of", day(20))
    assert "1 eligible admin(s): t.one@oak.sch.uk" in one(report, "TWO_ADMINS")["message"]
    report, _ = audit(run, "--rule", "TWO_ADMINS", "--as-of", day(30))
    assert "0 eligible admin(s): none" in one(report, "TWO_ADMINS")["message"]


# -- SCHOOL_EMAIL ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "email,words",
    [
        ("oakpe.sports@gmail.com", ["oakpe.sports@gmail.com", "oak.sch.uk"]),
        ("pe@elm.sch.uk", ["pe@elm.sch.uk"]),
        ("", ["no linked email"]),
    ],
)
def test_school_email(run, base, tmp_path, email, words):
    import_accounts(
        run, tmp_path, {"id": "oak-x-oakpe", "platform": "x", "handle": "oakpe", "email": email, "status": "requested"}
    )
    report, code = audit(run)
    hit = one(report, "SCHOOL_EMAIL", "oak-x-oakpe")
    assert (hit["severity"], hit["school"]) == ("error", "oak")
    for word in words:
        assert word in hit["message"]
    assert code == 1 and rules_of(report, "error") == {"SCHOOL_EMAIL"}
    check_waiver_marks(run, "oak-x-oakpe", "SCHOOL_EMAIL")
    # The fix is on the platform; no command records a new linked email, so retire the account instead.
    ok(run(["account", "close", "oak-x-oakpe", "--reason", "Replaced by an account on the school email"]))
    assert found(audit(run)[0], "SCHOOL_EMAIL") == []


def test_school_email_accepts_any_of_the_schools_domains(run, base, tmp_path):
    ok(run("school add ash --name 'Ash Academy' --domain ash.sch.uk --domain ashacademy.org.uk"))
    ok(run("staff add a.one@ash.sch.uk --name 'Ada One' --school ash --trained-on 2026-09-01"))
    import_accounts(
        run,
        tmp_path,
        {
            "id": "ash-x-main",
            "school": "ash",
            "platform": "x",
            "handle": "ashmain",
            "email": "office@ashacademy.org.uk",
            "owner": "a.one@ash.sch.uk",
            "admins": "",
            "status": "requested",
        },
    )
    report, _ = audit(run, "--rule", "SCHOOL_EMAIL")
    assert report["findings"] == []


# -- the activation gates on a legacy active account ------------------------------------------------------------
LEGACY = "oak-instagram-legacy0"
GATES = {  # rule: (severity, how to satisfy it)
    "APPROVAL_MISSING": ("error", lambda run: ok(run(SLT + ["approve", LEGACY]))),
    "HEAD_NOT_NOTIFIED": ("error", lambda run: ok(run(["account", "notify-head", LEGACY]))),
    "CREDENTIALS_NOT_HELD": ("error", lambda run: ok(run(["cred", "set", LEGACY], input=OTHER_STRONG + "\n"))),
    "MFA_NOT_HELD": ("warning", lambda run: ok(run(["cred", "totp", LEGACY], input=TOTP + "\n"))),
}


@pytest.mark.parametrize("rule", list(GATES))
def test_activation_gates_on_a_legacy_active_account(run, base, tmp_path, rule):
    import_accounts(run, tmp_path, {"admins": f"{T2};{T3}"})
    complete_case(run, LEGACY)
    report, code = audit(run)
    assert code == 1
    assert {f["rule"] for f in report["findings"] if f["account"] == LEGACY} >= set(GATES)
    for other, (_, satisfy) in GATES.items():
        if other != rule:
            satisfy(run)
    severity = GATES[rule][0]
    report, code = audit(run, "--fail-on", "warning")
    hit = one(report, rule, LEGACY)
    assert (hit["severity"], hit["school"]) == (severity, "oak")
    assert rules_of(report, "error") | rules_of(report, "warning") == {rule}, report["findings"]

    check_waiver_marks(run, LEGACY, rule, fail_on=severity)

    who = SLT if rule == "APPROVAL_MISSING" else []  # "(by SLT or the headteacher of oak)"
    ok(
        run(
            who + fix_argv(hit),
            input={"CREDENTIALS_NOT_HELD": OTHER_STRONG + "\n", "MFA_NOT_HELD": TOTP + "\n"}.get(rule),
        )
    )
    report, code = audit(run, "--fail-on", "warning")
    assert found(report, rule) == [] and code == 0, report["findings"]


def test_approval_missing_covers_approved_and_active_but_not_requested(run, base, tmp_path):
    import_accounts(
        run, tmp_path, {"status": "approved"}, {"status": "requested"}, {"status": "suspended"}, {"status": "active"}
    )
    report, _ = audit(run, "--rule", "APPROVAL_MISSING")
    assert {f["account"] for f in report["findings"]} == {"oak-instagram-legacy0", "oak-instagram-legacy3"}
    assert "approved with no SLT approval" in one(report, "APPROVAL_MISSING", "oak-instagram-legacy0")["message"]


def test_gates_other_than_approval_apply_only_to_active_accounts(run, base, tmp_path):
    import_accounts(run, tmp_path, {"status": "approved"}, {"status": "requested"}, {"status": "suspended"})
    report, _ = audit(
        run,
        "--rule",
        "HEAD_NOT_NOTIFIED",
        "--rule",
        "CREDENTIALS_NOT_HELD",
        "--rule",
        "MFA_NOT_HELD",
        "--rule",
        "MONITORING_LAPSED",
        "--rule",
        "REVIEW_OVERDUE",
    )
    assert report["findings"] == []


# -- APPROVAL_INVALID ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "tamper,words",
    [
        ("UPDATE approvals SET note = 'approved at SLT' WHERE account = ?", ["note differs from what was signed"]),
        ("UPDATE approvals SET approver = 'it@oak.sch.uk' WHERE account = ?", ["it@oak.sch.uk"]),
        ("UPDATE accounts SET requested_by = 'head@oak.sch.uk' WHERE id = ?", ["approved their own request"]),
    ],
)
def test_approval_invalid_is_found_and_can_be_waived(run, base, tamper, words):
    with underneath(base) as db:
        assert db.execute(tamper, (FB,)).rowcount == 1
    report, code = audit(run)
    hit = one(report, "APPROVAL_INVALID")
    assert (hit["severity"], hit["school"]) == ("error", "oak")
    for word in words:
        assert word in hit["message"]
    assert found(report, "APPROVAL_MISSING") == []  # an approval is on record; it is the invalid one
    assert rules_of(report, "error") == {"APPROVAL_INVALID"} and code == 1
    check_waiver_marks(run, FB, "APPROVAL_INVALID")


def test_approval_invalid_fix_a_new_decision_clears_it(run, base):
    with underneath(base) as db:
        db.execute("UPDATE approvals SET note = 'approved at SLT' WHERE account = ?", (FB,))
    hit = one(audit(run)[0], "APPROVAL_INVALID")
    ok(run(SLT + fix_argv(hit)))
    report, code = audit(run)
    assert found(report, "APPROVAL_INVALID") == [] and code == 0


# -- CHANGED_SINCE_APPROVAL ------------------------------------------------------------------------------------
def test_changed_since_approval(run, base):
    ok(run(["account", "contributor", "add", FB, T2]), 2)  # t.two is already an admin: refused, nothing changes
    report, code = audit(run, "--fail-on", "warning")
    assert found(report, "CHANGED_SINCE_APPROVAL") == [] and code == 0
    ok(run(["account", "admin", "remove", FB, T3]))  # a named person changed after the approval
    report, code = audit(run, "--fail-on", "warning")
    hit = one(report, "CHANGED_SINCE_APPROVAL")
    assert (hit["severity"], hit["school"]) == ("warning", "oak")
    assert HEAD in hit["message"] and TODAY in hit["message"]
    assert code == 1 and rules_of(report, "warning") == {"CHANGED_SINCE_APPROVAL"}
    assert audit(run)[1] == 0  # a warning does not fail the default --fail-on error

    check_waiver_marks(run, FB, "CHANGED_SINCE_APPROVAL", fail_on="warning")

    ok(run(SLT + fix_argv(hit)))
    report, code = audit(run, "--fail-on", "warning")
    assert found(report, "CHANGED_SINCE_APPROVAL") == [] and code == 0


def test_changed_since_approval_a_business_case_field(run, base):
    ok(run(["account", "transfer", FB, "--to", T2]))
    report, _ = audit(run, "--rule", "CHANGED_SINCE_APPROVAL")
    one(report, "CHANGED_SINCE_APPROVAL")


# -- LEAVER_OWNER --------------------------------------------------------------------------------------------
def test_leaver_owner_upcoming_warning_then_error_from_the_day(run, base):
    leaves = day(30)
    ok(run(["staff", "leave", T1, "--on", leaves]))
    # 31 days ahead: nothing yet
    report, _ = audit(run, "--as-of", day(-1))
    assert found(report, "LEAVER_OWNER") == []
    # 30 days ahead (today): a warning, and nothing from the other leaver rules
    report, code = audit(run, "--fail-on", "warning")
    hit = one(report, "LEAVER_OWNER")
    assert (hit["severity"], hit["school"]) == ("warning", "oak")
    assert T1 in hit["message"] and leaves in hit["message"]
    assert rules_of(report) - {"MONITORING_LAPSED"} == {"LEAVER_OWNER"} and code == 1
    assert audit(run)[1] == 0
    # the day before: still a warning (via ACCOUNTCTL_TODAY rather than --as-of)
    report, _ = audit(run, today=day(29))
    assert one(report, "LEAVER_OWNER")["severity"] == "warning"
    # the leaving day itself, that day included: an error; the other leaver rules apply from then
    for report, _ in (audit(run, "--as-of", leaves), audit(run, today=leaves)):
        hit = one(report, "LEAVER_OWNER")
        assert hit["severity"] == "error" and f"left on {leaves}" in hit["message"]
        assert {"LEAVER_ADMIN", "ROTATE_AFTER_LEAVER"} <= rules_of(report, "error")
    # long after: still an error
    assert one(audit(run, "--as-of", day(400))[0], "LEAVER_OWNER")["severity"] == "error"


def test_leaver_owner_upcoming_window_follows_the_setting(run, base):
    ok(run(["staff", "leave", T1, "--on", day(45)]))
    assert found(audit(run)[0], "LEAVER_OWNER") == []
    ok(run("config set upcoming_leaver_days 60"))
    assert one(audit(run)[0], "LEAVER_OWNER")["severity"] == "warning"


def test_leaver_owner_upcoming_warning_can_be_waived_and_fixed(run, base):
    ok(run(["staff", "leave", T1, "--on", day(20)]))
    hit = one(audit(run)[0], "LEAVER_OWNER")
    check_waiver_marks(run, FB, "LEAVER_OWNER", fail_on="warning")
    ok(run(fix_argv(hit, EMAIL=T3)))
    report, code = audit(run, "--fail-on", "warning", "--as-of", day(20))
    assert found(report, "LEAVER_OWNER") == []


def test_leaver_owner_on_the_day_transfer_clears_it(run, base):
    leaves = day(5)
    ok(run(["staff", "leave", T1, "--on", leaves]))
    report, code = audit(run, today=leaves)
    hit = one(report, "LEAVER_OWNER")
    assert hit["severity"] == "error" and code == 1
    waive(run, FB, "LEAVER_OWNER", until=day(30), today=leaves)
    report, code = audit(run, "--rule", "LEAVER_OWNER", today=leaves)
    assert one(report, "LEAVER_OWNER")["waived"] is True and code == 0
    ok(run(fix_argv(hit, EMAIL=T3), env={"ACCOUNTCTL_TODAY": leaves}))
    report, _ = audit(run, today=leaves)
    assert found(report, "LEAVER_OWNER") == []
    assert ok(run(["account", "show", FB, "--json"])).stdout.count(T3) >= 1


def test_leaver_owner_mover(run, base):
    ok(run(["staff", "move", T1, "--school", "elm"]))
    report, code = audit(run)
    hit = one(report, "LEAVER_OWNER")
    assert (hit["severity"], hit["school"]) == ("error", "oak")
    assert one(report, "LEAVER_ADMIN")["severity"] == "error"
    ok(run(fix_argv(hit, EMAIL=T2)))
    assert found(audit(run)[0], "LEAVER_OWNER") == []


def test_leaver_owner_upcoming_mover(run, base):
    ok(run(["staff", "move", T1, "--school", "elm", "--on", day(10)]))
    report, _ = audit(run)
    assert one(report, "LEAVER_OWNER")["severity"] == "warning"
    assert found(report, "LEAVER_ADMIN") == []
    assert one(audit(run, "--as-of", day(10))[0], "LEAVER_OWNER")["severity"] == "error"


# -- LEAVER_ADMIN --------------------------------------------------------------------------------------------
def test_leaver_admin(run, base):
    ok(run(["staff", "leave", T2, "--on", TODAY]))
    assert found(audit(run, "--as-of", day(-1))[0], "LEAVER_ADMIN") == []  # no upcoming warning for admins
    report, code = audit(run)
    hit = one(report, "LEAVER_ADMIN")
    assert (hit["severity"], hit["school"]) == ("error", "oak")
    assert "admin" in hit["message"] and T2 in hit["message"] and f"left on {TODAY}" in hit["message"]
    assert rules_of(report, "error") == {"LEAVER_ADMIN"} and code == 1  # t.one and t.three remain

    check_waiver_marks(run, FB, "LEAVER_ADMIN")

    ok(run(fix_argv(hit)))
    report, code = audit(run)
    assert found(report, "LEAVER_ADMIN") == [] and code == 0


def test_leaver_admin_contributor(run, base):
    helper = "v.helper@oak.sch.uk"
    ok(run(f"staff add {helper} --name 'Val Helper' --school oak --role volunteer --trained-on 2026-09-01"))
    ok(run(["account", "contributor", "add", FB, helper]))
    ok(run(["staff", "leave", helper, "--on", day(3)]))
    assert found(audit(run)[0], "LEAVER_ADMIN") == []
    report, _ = audit(run, today=day(3))
    hit = one(report, "LEAVER_ADMIN")
    assert "contributor" in hit["message"] and helper in hit["message"]
    ok(run(fix_argv(hit), env={"ACCOUNTCTL_TODAY": day(3)}))
    assert found(audit(run, today=day(3))[0], "LEAVER_ADMIN") == []


def test_leaver_owner_legacy_account_without_an_owner(run, base, tmp_path):
    import_accounts(
        run,
        tmp_path,
        {"owner": "", "admins": f"{T2};{T3}", "status": "requested"},
        {"owner": "stranger@oak.sch.uk", "admins": f"{T2};{T3}", "status": "requested"},
    )
    report, _ = audit(run, "--rule", "LEAVER_OWNER", "--rule", "ADMIN_NOT_ELIGIBLE")
    assert one(report, "LEAVER_OWNER", LEGACY)["message"] == "no owner (lead member of staff) recorded"
    # an owner who never was staff has not left: they were never eligible
    assert found(report, "LEAVER_OWNER", "oak-instagram-legacy1") == []
    assert "stranger@oak.sch.uk is not staff" in one(report, "ADMIN_NOT_ELIGIBLE", "oak-instagram-legacy1")["message"]
    ok(run(fix_argv(one(report, "LEAVER_OWNER", LEGACY), EMAIL=T2)))
    assert found(audit(run, "--rule", "LEAVER_OWNER")[0], "LEAVER_OWNER", LEGACY) == []


def test_an_admin_who_never_was_staff_is_not_eligible_rather_than_a_leaver(run, base, tmp_path):
    import_accounts(run, tmp_path, {"admins": f"{T2};stranger@oak.sch.uk", "status": "requested"})
    report, _ = audit(run, "--rule", "LEAVER_ADMIN", "--rule", "ADMIN_NOT_ELIGIBLE")
    assert found(report, "LEAVER_ADMIN") == []
    hit = one(report, "ADMIN_NOT_ELIGIBLE", LEGACY)
    assert "admin stranger@oak.sch.uk is not staff in this register" == hit["message"]
    ok(run(fix_argv(hit)))
    assert audit(run, "--rule", "ADMIN_NOT_ELIGIBLE")[0]["findings"] == []


# -- ROTATE_AFTER_LEAVER ------------------------------------------------------------------------------------
def test_rotate_after_leaver(run, base):
    leaves = day(20)
    ok(run(["staff", "leave", T2, "--on", leaves]))
    assert found(audit(run, "--as-of", day(19))[0], "ROTATE_AFTER_LEAVER") == []
    report, _ = audit(run, "--as-of", leaves)
    hit = one(report, "ROTATE_AFTER_LEAVER")
    assert (hit["severity"], hit["school"]) == ("error", "oak")
    assert f"password set {TODAY}" in hit["message"] and T2 in hit["message"] and leaves in hit["message"]
    assert STRONG not in json.dumps(report)

    # removing the leaver does not help: they knew the password
    ok(run(["account", "admin", "remove", FB, T2], env={"ACCOUNTCTL_TODAY": leaves}))
    report, code = audit(run, today=leaves)
    assert rules_of(report, "error") == {"ROTATE_AFTER_LEAVER"} and code == 1

    check_waiver_marks(run, FB, "ROTATE_AFTER_LEAVER", today=leaves)

    ok(run(fix_argv(hit), input=OTHER_STRONG + "\n", env={"ACCOUNTCTL_TODAY": leaves}))
    report, code = audit(run, today=leaves)
    assert found(report, "ROTATE_AFTER_LEAVER") == [] and code == 0


def test_rotate_not_needed_for_someone_removed_before_the_password_was_set(run, base):
    ok(run(["account", "admin", "remove", FB, T2], env={"ACCOUNTCTL_TODAY": day(5)}))
    ok(run(["cred", "set", FB], input=OTHER_STRONG + "\n", env={"ACCOUNTCTL_TODAY": day(6)}))
    ok(run(["staff", "leave", T2, "--on", day(20)]))
    report, _ = audit(run, "--as-of", day(20), "--rule", "ROTATE_AFTER_LEAVER")
    assert report["findings"] == []


def test_rotate_needed_for_an_admin_added_after_the_password_was_set(run, base):
    helper = "p.four@oak.sch.uk"
    ok(run(f"staff add {helper} --name 'Pia Four' --school oak --trained-on 2026-09-01"))
    ok(run(["account", "admin", "add", FB, helper], env={"ACCOUNTCTL_TODAY": day(2)}))
    ok(run(["staff", "leave", helper, "--on", day(10)]))
    report, _ = audit(run, "--as-of", day(10), "--rule", "ROTATE_AFTER_LEAVER")
    assert helper in one(report, "ROTATE_AFTER_LEAVER")["message"]


def test_rotate_not_for_a_leaver_who_never_held_the_account(run, base):
    ok(run(["staff", "leave", HEAD, "--on", day(3)]))
    report, _ = audit(run, "--as-of", day(3), "--rule", "ROTATE_AFTER_LEAVER")
    assert report["findings"] == []


def test_rotate_after_leaver_for_a_mover(run, base):
    ok(run(["staff", "move", T3, "--school", "elm", "--on", day(4)]))
    report, _ = audit(run, "--as-of", day(4), "--rule", "ROTATE_AFTER_LEAVER")
    assert T3 in one(report, "ROTATE_AFTER_LEAVER")["message"]


# -- ONE_FACULTY_ONE_STAFF -----------------------------------------------------------------------------------
def test_one_faculty_one_staff(run, base):
    second = "oak-facebook-oakpe"
    ok(run(request_argv(second, handle="oakpe")))  # a request counts
    report, code = audit(run, "--fail-on", "warning")
    hits = found(report, "ONE_FACULTY_ONE_STAFF")
    assert sorted(f["account"] for f in hits) == sorted([FB, second])  # reported on every account in the group
    for hit in hits:
        assert (hit["severity"], hit["school"]) == ("warning", "oak")
        assert "2 faculty accounts on facebook" in hit["message"] and "guideline: 1" in hit["message"]
    assert code == 1 and rules_of(report, "warning") == {"ONE_FACULTY_ONE_STAFF"}

    # Waiving the second page: it no longer counts towards the limit, so the main page is compliant.
    waive(run, second, "ONE_FACULTY_ONE_STAFF")
    report, code = audit(run, "--fail-on", "warning")
    assert {f["account"]: f["waived"] for f in found(report, "ONE_FACULTY_ONE_STAFF")} == {second: True}
    assert code == 0
    # a third page breaks the limit again, for the two that are not waived
    third = "oak-facebook-oakart"
    ok(run(request_argv(third, handle="oakart")))
    report, code = audit(run, "--fail-on", "warning")
    assert {f["account"]: f["waived"] for f in found(report, "ONE_FACULTY_ONE_STAFF")} == {
        FB: False,
        second: True,
        third: False,
    }
    assert "3 faculty accounts" in one(report, "ONE_FACULTY_ONE_STAFF", FB)["message"] and code == 1
    ok(run(["account", "close", third, "--reason", "Not needed"]))

    # the fix: close (or merge) the extra account
    assert "close" in hits[0]["fix"]
    ok(run(["account", "close", second, "--reason", "Merged into the main page"]))
    report, _ = audit(run, "--fail-on", "warning")
    assert found(report, "ONE_FACULTY_ONE_STAFF") == []


@pytest.mark.parametrize(
    "status,counts",
    [
        ("requested", True),
        ("approved", True),
        ("active", True),
        ("suspended", True),
        ("closed", False),
        ("rejected", False),
    ],
)
def test_one_faculty_one_staff_counts_live_statuses(run, base, tmp_path, status, counts):
    import_accounts(
        run, tmp_path, {"id": "oak-facebook-old", "platform": "facebook", "handle": "oldpage", "status": status}
    )
    report, _ = audit(run, "--rule", "ONE_FACULTY_ONE_STAFF")
    assert len(report["findings"]) == (2 if counts else 0)


def test_one_faculty_one_staff_separates_category_platform_and_school(run, base, tmp_path):
    import_accounts(
        run,
        tmp_path,
        {"id": "oak-facebook-mrone", "platform": "facebook", "handle": "mrone", "category": "staff"},
        {"id": "oak-instagram-main", "platform": "instagram", "handle": "main"},
        {
            "id": "elm-facebook-main",
            "school": "elm",
            "platform": "facebook",
            "handle": "main",
            "email": "office@elm.sch.uk",
            "owner": ELM,
            "admins": ELM2,
        },
    )
    assert audit(run, "--rule", "ONE_FACULTY_ONE_STAFF")[0]["findings"] == []
    import_accounts(
        run, tmp_path, {"id": "oak-facebook-mrstwo", "platform": "facebook", "handle": "mrstwo", "category": "staff"}
    )
    report, _ = audit(run, "--rule", "ONE_FACULTY_ONE_STAFF")
    assert sorted(f["account"] for f in report["findings"]) == ["oak-facebook-mrone", "oak-facebook-mrstwo"]
    assert "2 staff accounts on facebook" in report["findings"][0]["message"]


# -- TRAINING_MISSING --------------------------------------------------------------------------------------------
def test_training_missing_no_training_date(run, base):
    newbie = "n.new@oak.sch.uk"
    ok(run(f"staff add {newbie} --name 'Nia New' --school oak"))
    ok(run(["account", "admin", "add", FB, newbie]))
    ok(run(["staff", "train", newbie, "--on", TODAY, "--kind", "cyber"]))  # (cyber training is apart)
    ok(run(SLT + ["approve", FB]))
    report, code = audit(run, "--fail-on", "warning")
    hit = one(report, "TRAINING_MISSING")
    assert (hit["severity"], hit["school"]) == ("warning", "oak")
    assert newbie in hit["message"] and "no training" in hit["message"]
    assert rules_of(report, "warning") == {"TRAINING_MISSING"} and code == 1

    check_waiver_marks(run, FB, "TRAINING_MISSING", fail_on="warning")

    ok(run(fix_argv(hit, DATE=TODAY)))
    report, code = audit(run, "--fail-on", "warning")
    assert found(report, "TRAINING_MISSING") == [] and code == 0


def test_training_missing_policy_version(run, base):
    ok(run("config set policy_version 2026.2"))
    report, _ = audit(run)
    hits = found(report, "TRAINING_MISSING", FB)
    assert sorted(h["message"].split("<")[1].split(">")[0] for h in hits) == sorted([T1, T2, T3])
    assert all("has not acknowledged policy 2026.2" in h["message"] for h in hits)
    for hit in hits:
        assert "--policy-ack 2026.2" in hit["fix"]
        ok(run(fix_argv(hit, DATE=TODAY)))
    assert found(audit(run)[0], "TRAINING_MISSING") == []


def test_training_missing_covers_contributors_but_not_leavers(run, base):
    newbie = "n.new@oak.sch.uk"
    ok(run(f"staff add {newbie} --name 'Nia New' --school oak --role volunteer"))
    ok(run(["account", "contributor", "add", FB, newbie]))
    hit = one(audit(run)[0], "TRAINING_MISSING")
    assert hit["message"] == f"contributor Nia New <{newbie}>: no training recorded"
    ok(run(fix_argv(hit, DATE=TODAY)))
    assert found(audit(run)[0], "TRAINING_MISSING") == []
    ok(run(["account", "contributor", "remove", FB, newbie]))
    ok(run("config set policy_version 2026.2"))
    ok(run(["staff", "train", T1, "--on", TODAY, "--policy-ack", "2026.2"]))
    ok(run(["staff", "train", T3, "--on", TODAY, "--policy-ack", "2026.2"]))
    ok(run(["staff", "leave", T2, "--on", TODAY]))
    assert found(audit(run)[0], "TRAINING_MISSING") == []  # t.two is a leaver: LEAVER_ADMIN covers them


# -- REVIEW_OVERDUE -------------------------------------------------------------------------------------------
def test_review_overdue(run, base):
    assert found(audit(run, "--as-of", day(365))[0], "REVIEW_OVERDUE") == []
    late = day(366)
    ok(run("config set policy.reviewed_on " + late, env={"ACCOUNTCTL_TODAY": late}))  # the policy's own review is apart
    ok(run(["monitor", FB, "--last-post", late], env={"ACCOUNTCTL_TODAY": late}))  # in use: not DORMANT
    for person in (T1, T2, T3):  # a year on, their yearly cyber training is renewed too
        ok(run(["staff", "train", person, "--on", late, "--kind", "cyber"], env={"ACCOUNTCTL_TODAY": late}))
    report, code = audit(run, "--fail-on", "warning", today=late)
    hit = one(report, "REVIEW_OVERDUE")
    assert (hit["severity"], hit["school"]) == ("warning", "oak")
    assert TODAY in hit["message"] and "366 days" in hit["message"]
    assert rules_of(report, "warning") == {"REVIEW_OVERDUE"} and code == 1

    check_waiver_marks(run, FB, "REVIEW_OVERDUE", fail_on="warning", today=late)

    assert "SLT" in hit["fix"]
    ok(run(SLT + fix_argv(hit), env={"ACCOUNTCTL_TODAY": late}))
    report, code = audit(run, "--fail-on", "warning", today=late)
    assert found(report, "REVIEW_OVERDUE") == [] and code == 0
    # the next review is due a year after this one
    assert found(audit(run, "--as-of", day(365, late))[0], "REVIEW_OVERDUE") == []
    assert len(found(audit(run, "--as-of", day(366, late))[0], "REVIEW_OVERDUE")) == 1


@pytest.mark.parametrize("key", ["review_period_days", "window.REVIEW_OVERDUE", "window.review_overdue"])
def test_review_period_is_configurable(run, base, key):
    ok(run(["config", "set", key, "30"]))  # SPEC: `config set window.RULE DAYS` names REVIEW_OVERDUE too
    assert found(audit(run, "--as-of", day(30))[0], "REVIEW_OVERDUE") == []
    assert "period 30" in one(audit(run, "--as-of", day(31))[0], "REVIEW_OVERDUE")["message"]


# -- PASSWORD_WEAK / PASSWORD_REUSED ----------------------------------------------------------------------------
def test_password_weak(run, base):
    weak = "oakprimary1"
    ok(run(["cred", "set", FB], input=weak + "\n"))
    result = run(["audit"])
    assert weak not in result.stdout + result.stderr
    report, code = audit(run, "--fail-on", "warning")
    hit = one(report, "PASSWORD_WEAK")
    assert (hit["severity"], hit["school"]) == ("warning", "oak")
    assert "weak password" in hit["message"] and weak not in json.dumps(report)
    assert rules_of(report, "warning") == {"PASSWORD_WEAK"} and code == 1

    check_waiver_marks(run, FB, "PASSWORD_WEAK", fail_on="warning")

    generated = ok(run(fix_argv(hit))).stdout.strip()
    assert len(generated) >= 20
    report, code = audit(run, "--fail-on", "warning")
    assert found(report, "PASSWORD_WEAK") == [] and code == 0


def test_password_reused(run, base):
    second = "oak-instagram-oakprimary"
    ok(run(request_argv(second, platform="instagram")))
    ok(run(["cred", "set", second], input=STRONG + "\n"))
    report, code = audit(run, "--fail-on", "warning")
    hits = found(report, "PASSWORD_REUSED")
    assert sorted(h["account"] for h in hits) == sorted([second, FB])
    by_account = {h["account"]: h for h in hits}
    assert second in by_account[FB]["message"] and FB in by_account[second]["message"]
    assert all((h["severity"], h["school"]) == ("warning", "oak") for h in hits)
    assert STRONG not in json.dumps(report)
    assert rules_of(report, "warning") == {"PASSWORD_REUSED"} and code == 1

    waive(run, FB, "PASSWORD_REUSED")
    waive(run, second, "PASSWORD_REUSED")
    report, code = audit(run, "--fail-on", "warning")
    assert all(h["waived"] for h in found(report, "PASSWORD_REUSED")) and code == 0

    ok(run(fix_argv(by_account[second])))
    assert found(audit(run)[0], "PASSWORD_REUSED") == []


def test_password_reused_ignores_closed_accounts(run, base):
    second = "oak-instagram-oakprimary"
    ok(run(request_argv(second, platform="instagram")))
    ok(run(["cred", "set", second], input=STRONG + "\n"))
    ok(run(["account", "close", second, "--reason", "Never used"]))
    assert found(audit(run)[0], "PASSWORD_REUSED") == []


def test_password_reused_across_schools_is_still_found_with_a_school_filter(run, base):
    elm = "elm-facebook-elmprimary"
    ok(run(request_argv(elm, school="elm", handle="elmprimary", owner=ELM, admins=[ELM2], email="office@elm.sch.uk")))
    ok(run(["cred", "set", elm], input=STRONG + "\n"))
    report, _ = audit(run, "--rule", "PASSWORD_REUSED")
    assert sorted(h["account"] for h in report["findings"]) == [elm, FB]
    for school, account in (("oak", FB), ("elm", elm)):
        report, _ = audit(run, "--rule", "PASSWORD_REUSED", "--school", school)
        assert [h["account"] for h in report["findings"]] == [account]


@pytest.mark.parametrize("rule", ["PASSWORD_WEAK", "PASSWORD_REUSED"])
def test_password_rules_are_skipped_without_vault_access(run, base, rule):
    ok(run(["cred", "set", FB], input="password\n"))
    ok(run(request_argv("oak-instagram-oakprimary", platform="instagram")))
    ok(run(["cred", "set", "oak-instagram-oakprimary"], input="password\n"))
    assert found(audit(run)[0], rule)
    report, _ = audit(run, who=HEAD)
    assert found(report, rule) == []
    assert {"rule": rule, "reason": "needs vault access (an IT custodian's key slot)"} in report["summary"]["skipped"]


# -- CUSTODIAN_LEFT --------------------------------------------------------------------------------------------
def test_custodian_left(run, base):
    leaves = day(7)
    ok(run(["staff", "leave", HEAD, "--on", leaves]))
    assert found(audit(run)[0], "CUSTODIAN_LEFT") == []  # not before the leaving day
    report, code = audit(run, today=leaves)
    hit = one(report, "CUSTODIAN_LEFT", None)
    assert (hit["severity"], hit["school"], hit["account"]) == ("error", "oak", None)
    assert HEAD in hit["message"] and "register" in hit["message"]
    assert rules_of(report, "error") == {"CUSTODIAN_LEFT"} and code == 1
    assert found(audit(run, "--school", "elm", today=leaves)[0], "CUSTODIAN_LEFT") == []
    assert one(audit(run, "--school", "oak", today=leaves)[0], "CUSTODIAN_LEFT", None)

    # it is about a person, not an account: no waiver can cover it
    result = run(
        ["--as", CUSTODIAN, "waive", FB, "CUSTODIAN_LEFT", "--reason", "x", "--until", day(30)],
        env={"ACCOUNTCTL_TODAY": leaves},
    )
    ok(result, 2)
    assert "CUSTODIAN_LEFT" in result.stderr

    ok(run(fix_argv(hit), env={"ACCOUNTCTL_TODAY": leaves}))
    report, code = audit(run, today=leaves)
    assert found(report, "CUSTODIAN_LEFT") == [] and code == 0


# -- MONITORING_LAPSED -----------------------------------------------------------------------------------------
def test_monitoring_lapsed(run, base):
    assert found(audit(run, "--as-of", day(7))[0], "MONITORING_LAPSED") == []
    late = day(8)
    report, code = audit(run, "--fail-on", "info", today=late)
    hit = one(report, "MONITORING_LAPSED")
    assert (hit["severity"], hit["school"]) == ("info", "oak")
    assert TODAY in hit["message"] and "8 days" in hit["message"]
    assert rules_of(report) == {"MONITORING_LAPSED"} and code == 1
    assert audit(run, "--fail-on", "warning", today=late)[1] == 0

    check_waiver_marks(run, FB, "MONITORING_LAPSED", fail_on="info", today=late)

    ok(run(fix_argv(hit), env={"ACCOUNTCTL_TODAY": late}))
    report, code = audit(run, "--fail-on", "info", today=late)
    assert found(report, "MONITORING_LAPSED") == [] and code == 0


def test_monitoring_never_recorded_and_period_setting(run, base, tmp_path):
    import_accounts(run, tmp_path, {"admins": f"{T2};{T3}"})
    assert "never" in one(audit(run)[0], "MONITORING_LAPSED", LEGACY)["message"]
    ok(run("config set monitoring_period_days 14"))
    assert found(audit(run, "--as-of", day(14))[0], "MONITORING_LAPSED", FB) == []
    assert "period 14 days" in one(audit(run, "--as-of", day(15))[0], "MONITORING_LAPSED", FB)["message"]


# -- the rules as plain functions over a hand-made Snapshot -------------------------------------------------------
def snapshot(
    accounts: list[dict],
    memberships: dict,
    staff: dict,
    *,
    as_of: str = TODAY,
    settings: dict | None = None,
    credentials: dict | None = None,
    slot_holders: list | None = None,
    vault: bool = True,
    closed: list | None = None,
) -> core.Snapshot:
    columns = {
        **dict.fromkeys(core.ACCOUNT_COLUMNS),
        "aim": "News",
        "audience": "Parents",
        "promotion": "Newsletter",
        "visibility": "open",
        "pupils": "none",
    }
    rows = [{**columns, "status": "active", "requested_at": f"{TODAY}T09:00:00Z", **a} for a in accounts]
    custodians = [{"email": "it1@oak.sch.uk", "access": "vault"}, {"email": "it2@oak.sch.uk", "access": "vault"}]
    group: dict = {}
    for a in rows:
        group.setdefault((a["school"], a["platform"], a["category"]), []).append(a["id"])
    return core.Snapshot(
        as_of=date.fromisoformat(as_of),
        settings={**config.DEFAULTS, "policy.reviewed_on": TODAY, **(settings or {})},
        schools={"oak": {"id": "oak", "domains": ["oak.sch.uk"], "central": False}},
        staff={
            email: {
                "email": email,
                "name": email.split("@")[0],
                "school": "oak",
                "trained_on": "2026-09-01",
                "policy_ack": None,
                "left_on": None,
                "moved_on": None,
                "moved_from": None,
                "roles": '["staff"]',
                **extra,
            }
            for email, extra in staff.items()
        },
        accounts=rows,
        memberships={
            k: [core.Membership(e, r, f"{TODAY}T09:00:00Z", None) for e, r in v] for k, v in memberships.items()
        },
        approval={a["id"]: (None, [], False) for a in rows},
        credentials=credentials or {},
        slot_holders=custodians if slot_holders is None else slot_holders,
        vault=vault,
        group=group,
        closed=closed or [],
    )


def test_core_two_admins_and_school_email_over_plain_data():
    snap = snapshot(
        [
            {"id": "a", "school": "oak", "platform": "x", "category": "faculty", "email": "a@gmail.com", "owner": T1},
            {
                "id": "b",
                "school": "oak",
                "platform": "facebook",
                "category": "faculty",
                "email": "b@oak.sch.uk",
                "owner": T1,
            },
        ],
        {"a": [(T1, "admin")], "b": [(T1, "admin"), (T2, "admin")]},
        {T1: {}, T2: {}},
    )
    assert [item[0] for item in core.RULES["TWO_ADMINS"].check(snap)] == ["a"]
    assert [(item[0], item[1]) for item in core.two_admins(snap)] == [("a", "oak")]
    emails = list(core.school_email(snap))
    assert len(emails) == 1 and emails[0][0] == "a" and "a@gmail.com" in emails[0][2]


def test_core_leaver_owner_upcoming_is_one_severity_lower():
    accounts = [
        {"id": "a", "school": "oak", "platform": "x", "category": "faculty", "email": "a@oak.sch.uk", "owner": T1}
    ]
    people = {"a": [(T1, "admin"), (T2, "admin")]}
    for as_of, expected in (
        (day(-31, "2026-12-31"), []),
        (day(-30, "2026-12-31"), ["warning"]),
        (day(-1, "2026-12-31"), ["warning"]),
        ("2026-12-31", ["error"]),
    ):
        snap = snapshot(accounts, people, {T1: {"left_on": "2026-12-31"}, T2: {}}, as_of=as_of)
        findings, skipped = core.run(snap, {}, ["LEAVER_OWNER"])
        assert [f["severity"] for f in findings] == expected, as_of
        assert skipped == []


def test_core_one_faculty_one_staff_limits_and_waivers():
    accounts = [
        {
            "id": i,
            "school": "oak",
            "platform": "facebook",
            "category": "faculty",
            "email": f"{i}@oak.sch.uk",
            "owner": T1,
        }
        for i in ("f1", "f2")
    ]
    people = {i: [(T1, "admin"), (T2, "admin")] for i in ("f1", "f2")}
    snap = snapshot(accounts, people, {T1: {}, T2: {}})
    findings, _ = core.run(snap, {}, ["ONE_FACULTY_ONE_STAFF"])
    assert [(f["account"], f["waived"]) for f in findings] == [("f1", False), ("f2", False)]
    summary = core.summarize(findings, snap, [], "warning", ["ONE_FACULTY_ONE_STAFF"])
    assert summary["failed"] is True and summary["unwaived"]["warning"] == 2
    assert core.summarize(findings, snap, [], "error", ["ONE_FACULTY_ONE_STAFF"])["failed"] is False
    # the waived page is the accepted exception: it is listed, waived, and no longer counts against f1
    findings, _ = core.run(snap, {("f2", "ONE_FACULTY_ONE_STAFF"): {"until": "2026-12-31"}}, ["ONE_FACULTY_ONE_STAFF"])
    assert [(f["account"], f["waived"], f["waived_until"]) for f in findings] == [("f2", True, "2026-12-31")]
    assert core.summarize(findings, snap, [], "warning", ["ONE_FACULTY_ONE_STAFF"])["failed"] is False
    relaxed = snapshot(accounts, people, {T1: {}, T2: {}}, settings={"limit.facebook.faculty": "2"})
    assert list(core.one_faculty_one_staff(relaxed)) == []


def test_core_custodian_left_and_password_rules_need_the_vault():
    accounts = [
        {
            "id": "a",
            "school": "oak",
            "platform": "x",
            "category": "faculty",
            "email": "a@oak.sch.uk",
            "owner": T1,
            "status": "requested",
        }
    ]
    people = {"a": [(T1, "admin"), (T2, "admin")]}
    staff = {T1: {}, T2: {}, HEAD: {"left_on": "2026-09-30"}}
    creds = {
        "a": {
            "password": True,
            "password_set_at": "2026-09-01T10:00:00Z",
            "totp": True,
            "password_weak": "shorter than 12 characters",
            "password_fp": "fp",
        }
    }
    holders = [
        {"email": HEAD, "access": "register"},
        {"email": "it1@oak.sch.uk", "access": "vault"},
        {"email": "it2@oak.sch.uk", "access": "vault"},
    ]
    snap = snapshot(accounts, people, staff, credentials=creds, slot_holders=holders, vault=False)
    findings, skipped = core.run(snap, {})
    assert [(f["rule"], f["account"], f["school"]) for f in findings] == [("CUSTODIAN_LEFT", None, "oak")]
    assert [s["rule"] for s in skipped] == ["PASSWORD_WEAK", "PASSWORD_REUSED"]
    snap.vault = True
    findings, skipped = core.run(snap, {}, ["PASSWORD_WEAK"])
    assert [f["rule"] for f in findings] == ["PASSWORD_WEAK"] and skipped == []


def test_core_rotate_after_leaver_over_plain_data():
    accounts = [
        {"id": "a", "school": "oak", "platform": "x", "category": "faculty", "email": "a@oak.sch.uk", "owner": T1}
    ]
    people = {"a": [(T1, "admin"), (T2, "admin"), (T3, "admin")]}
    creds = {
        "a": {
            "password": True,
            "password_set_at": "2026-09-01T10:00:00Z",
            "totp": True,
            "password_weak": None,
            "password_fp": "fp",
        }
    }
    staff = {T1: {}, T2: {"left_on": "2026-09-20"}, T3: {"left_on": "2026-09-01"}}
    snap = snapshot(accounts, people, staff, credentials=creds)
    messages = [m for _, _, m, _ in core.rotate_after_leaver(snap)]
    assert len(messages) == 1 and T2 in messages[0]  # t.three left the day it was set: not before it


def test_core_quick_answers_for_current_staff_agree_with_the_full_judgements():
    # gone_on, ineligible and training_gaps answer the usual person from one lookup (see Snapshot): the
    # answers must be the ones eligibility and _gone_on give, for every kind of person and school
    from accountctl.core import eligibility

    people = {
        "plain@oak.sch.uk": {},
        "volunteer@oak.sch.uk": {"roles": '["volunteer"]'},
        "both@oak.sch.uk": {"roles": '["staff", "volunteer"]'},
        "left@oak.sch.uk": {"left_on": "2026-09-01"},
        "leaving@oak.sch.uk": {"left_on": "2026-12-01"},
        "moved@oak.sch.uk": {"school": "elm", "moved_from": "oak", "moved_on": "2026-09-01"},
        "moving@oak.sch.uk": {"school": "elm", "moved_from": "oak", "moved_on": "2026-12-01"},
        "elm@elm.sch.uk": {"school": "elm"},
        "untrained@oak.sch.uk": {"trained_on": None},
        "acked@oak.sch.uk": {"policy_ack": "2026.1"},
    }
    for settings in ({}, {"policy_version": "2026.1"}, {"training.valid_days": "20"}):
        snap = snapshot([], {}, people, settings=settings)
        snap.schools["elm"] = {"id": "elm", "domains": ["elm.sch.uk"], "central": False}
        for email in [*people, "stranger@oak.sch.uk", None]:
            for school in ("oak", "elm"):
                person = snap.staff.get(email or "")
                expected = eligibility.ineligible(person, school, snap.central, snap.as_of)
                assert snap.ineligible(email, school) == expected, (email, school)
                assert snap.gone_on(email, school) == snap._gone_on(email, school), (email, school)
            if email in people:
                assert snap.training_gaps(email) == eligibility.training_gaps(
                    snap.staff[email], snap.settings, snap.as_of
                ), (email, settings)


# -- the rule table and the wording helpers ----------------------------------------------------------
def test_each_rule_is_registered_under_its_own_id_with_its_parts():
    assert len(core.RULES) >= 35
    for rule_id, r in core.RULES.items():
        assert r.id == rule_id and re.fullmatch(r"[A-Z][A-Z_]+", rule_id)
        assert r.severity in core.SEVERITIES
        assert r.description and r.sources and r.name and r.principle, rule_id
        assert callable(r.check)
    # Only the rules that read passwords need the vault; every other rule runs for SLT too.
    assert {r.id for r in core.RULES.values() if r.needs_vault} == {"PASSWORD_WEAK", "PASSWORD_REUSED"}
    table = {r["id"]: r for r in core.rules_table()}
    assert table.keys() == core.RULES.keys()
    assert table["PASSWORD_REUSED"]["needs_vault"] is True and table["TWO_ADMINS"]["needs_vault"] is False
    assert all(row["sources"] == core.RULES[i].sources for i, row in table.items())


def test_a_long_list_is_cut_to_five_and_a_count():
    items = [f"a{i}" for i in range(8)]
    assert core._some(items[:5]) == "a0, a1, a2, a3, a4"
    assert core._some(items[:6]) == "a0, a1, a2, a3, a4 and 1 more"
    assert core._some(items) == "a0, a1, a2, a3, a4 and 3 more"
    assert core._some(items, most=2) == "a0, a1 and 6 more"
    assert core._some([]) == ""


def test_how_someone_stopped_being_staff_is_worded():
    from types import SimpleNamespace

    snap = SimpleNamespace(
        staff={
            "left@oak.sch.uk": {"left_on": "2026-07-31", "school": "oak"},
            "moved@oak.sch.uk": {"left_on": None, "school": "elm"},
        }
    )
    on = date(2026, 7, 31)
    assert core._gone_text(snap, "x@oak.sch.uk", core.NEVER) == "is not staff of the school"
    assert core._gone_text(snap, "left@oak.sch.uk", on) == "left on 2026-07-31"
    assert core._gone_text(snap, "moved@oak.sch.uk", on) == "moved to elm on 2026-07-31"
    assert core._gone_text(snap, None, on) == "left on 2026-07-31"


# -- custodians who have gone, and the credentials they could read ----------------------------------
def _custodian_snap(vault_slots, staff, accounts=(), credentials=None, as_of=date(2026, 6, 1)):
    from types import SimpleNamespace

    return SimpleNamespace(
        vault_slots=list(vault_slots), staff=staff, as_of=as_of, accounts=list(accounts), credentials=credentials or {}
    )


def test_departed_custodians_staff_who_left_and_others_from_the_day_their_slot_went():
    staff = {
        "left@oak.sch.uk": {"left_on": "2026-04-01", "name": "Lee Left"},
        "later@oak.sch.uk": {"left_on": "2026-06-02", "name": "Lou Later"},
        "here@oak.sch.uk": {"left_on": None, "name": "Hal Here"},
    }
    snap = _custodian_snap(
        [
            ("left@oak.sch.uk", None),  # left, slot still there
            ("later@oak.sch.uk", None),  # leaves after the audit date
            ("here@oak.sch.uk", "2026-03-01T09:00:00Z"),  # staff still: a removed slot is not leaving
            ("contractor@it.example", "2026-05-01T09:00:00Z"),  # not staff: gone when the slot went
            ("contractor@it.example", "2026-05-20T09:00:00Z"),  # ... the last one
            ("today@it.example", "2026-06-01T08:00:00Z"),  # gone on the audit date itself
            ("kept@it.example", "2026-05-01T09:00:00Z"),
            ("kept@it.example", None),  # not staff, but a slot still there: not gone
            ("future@it.example", "2026-06-03T09:00:00Z"),  # removed after the audit date: still held then
        ],
        staff,
    )
    assert core._departed_custodians(snap) == [
        ("left@oak.sch.uk", date(2026, 4, 1), None),
        ("contractor@it.example", date(2026, 5, 20), "2026-05-20T09:00:00Z"),
        ("today@it.example", date(2026, 6, 1), "2026-06-01T08:00:00Z"),
    ]


def test_credentials_readable_by_departed_custodians_name_the_one_still_holding_a_slot_and_count_the_rest():
    staff = {
        "a@oak.sch.uk": {"left_on": "2026-04-01", "name": "Ann A"},
        "b@oak.sch.uk": {"left_on": "2026-04-01", "name": "Bob B"},
    }
    accounts = [
        {"id": "oak-a-no-creds", "school": "oak"},
        {"id": "oak-b-creds", "school": "oak"},
    ]
    credentials = {
        "oak-b-creds": {"password": True, "password_set_at": "2026-01-01T00:00:00Z", "totp": False, "recovery": False}
    }
    snap = _custodian_snap(
        [("a@oak.sch.uk", None), ("b@oak.sch.uk", "2026-04-02T00:00:00Z")], staff, accounts, credentials
    )
    ((account, school, message, fix),) = list(core._rotate_after_custodian(snap))
    assert (account, school) == ("oak-b-creds", "oak")
    assert message == (
        "password readable by custodian Ann A <a@oak.sch.uk>, who left on 2026-04-01 and still holds a vault key "
        "slot (and 1 other departed custodian(s))"
    )
    assert fix == (
        "accountctl person revoke a@oak.sch.uk, then change them on the platform and store the new ones: "
        "accountctl cred generate oak-b-creds"
    )


def test_of_custodians_who_lost_access_the_finding_names_the_last_to_lose_it():
    staff = {
        "a@oak.sch.uk": {"left_on": "2026-04-01", "name": "Ann A"},
        "b@oak.sch.uk": {"left_on": "2026-04-01", "name": "Bob B"},
    }
    accounts = [{"id": "oak-b-creds", "school": "oak"}]
    credentials = {
        "oak-b-creds": {"password": True, "password_set_at": "2026-01-01T00:00:00Z", "totp": False, "recovery": False}
    }
    slots = [("a@oak.sch.uk", "2026-04-02T00:00:00Z"), ("b@oak.sch.uk", "2026-04-10T00:00:00Z")]
    ((_, _, message, fix),) = list(core._rotate_after_custodian(_custodian_snap(slots, staff, accounts, credentials)))
    assert message == (
        "password set before custodian Bob B <b@oak.sch.uk> (left on 2026-04-01) lost vault access on 2026-04-10 "
        "(and 1 other departed custodian(s))"
    )
    assert fix == "change them on the platform and store the new ones: accountctl cred generate oak-b-creds"
