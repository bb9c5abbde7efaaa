"""The policy, all of it: a complete business case before approval, eligible admins, training as a gate,
pupils and the platforms' ages, parents told, personal mailboxes, things left hanging (stale requests,
long suspensions, closed accounts still on the platform, one custodian), the policy's own review, and
`account gone`.

Registers start from `base` (see test_audit_rules): a compliant oak Facebook account (`FB`) on TODAY,
two IT custodians, the policy reviewed on TODAY. Each date rule is checked on its boundary day and one
day either side.
"""

from __future__ import annotations

import json
from datetime import date

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from accountctl import model
from accountctl.core import eligibility
from accountctl.errors import InputError
from conftest import CUSTODIAN, ok, refused
from test_audit_rules import (
    ELM,
    FB,
    IT2,
    LEGACY,
    SLT,
    STRONG,
    T1,
    T2,
    T3,
    TODAY,
    TOTP,
    audit,
    base,  # noqa: F401
    complete_case,
    day,
    fix_argv,
    found,
    import_accounts,
    one,
    request_argv,
    rules_of,
    waive,
)
from test_offboarding import SCHEMA as OFFBOARD_SCHEMA

VOL = "v.helper@oak.sch.uk"  # a volunteer (a parent who helps)
NEW = "oak-tiktok-oak4b"


def add_volunteer(run, email: str = VOL, trained: str | None = "2026-09-01") -> None:
    ok(
        run(
            ["staff", "add", email, "--name", "Val Helper", "--school", "oak", "--role", "volunteer"]
            + (["--trained-on", trained] if trained else [])
        )
    )


def request(run, account_id: str = NEW, platform: str = "tiktok", pupils: str | None = "none", **over) -> None:
    argv = request_argv(account_id, platform=platform, handle=account_id.rsplit("-", 1)[1], **over)
    i = argv.index("--pupils")
    del argv[i : i + 2]
    ok(run(argv + (["--pupils", pupils] if pupils is not None else [])))


def go_live(run, account_id: str) -> None:
    ok(run(SLT + ["approve", account_id]))
    ok(run(["account", "notify-head", account_id]))
    ok(run(["cred", "set", account_id], input=f"{STRONG}-{account_id}\n"))
    ok(run(["cred", "totp", account_id], input=TOTP + "\n"))
    ok(run(["account", "activate", account_id]))
    ok(run(["monitor", account_id]))


def at(when: str) -> dict:
    return {"ACCOUNTCTL_TODAY": when}


# -- the complete business case -----------------------------------------------------------------------------
def test_approve_refuses_an_incomplete_case_naming_each_missing_part(run, base, tmp_path):
    import_accounts(run, tmp_path, {"admins": "", "status": "requested"})  # a legacy request: no case, one admin
    line = refused(run, base, SLT + ["approve", LEGACY], 2, LEGACY, "incomplete")
    for part in (
        "the aim",
        "the audience",
        "how it will be promoted",
        "whether it is open or closed",
        "whether it is aimed at pupils (--pupils none|AGE)",
        "1 eligible admin(s), two needed",
    ):
        assert part in line, part
    # `account update` completes it, part by part; approve names only what is still missing
    ok(run(["account", "update", LEGACY, "--aim", "Fixtures", "--audience", "Parents", "--promotion", "Newsletter"]))
    line = refused(run, base, SLT + ["approve", LEGACY], 2, "open or closed", "aimed at pupils", "eligible admin")
    assert "the aim" not in line and "the audience" not in line
    result = ok(run(["account", "update", LEGACY, "--visibility", "closed", "--pupils", "none"]))
    assert "lacks" not in result.stderr
    line = refused(run, base, SLT + ["approve", LEGACY], 2, "1 eligible admin(s)")
    assert "missing" not in line
    ok(run(["account", "admin", "add", LEGACY, T3]))
    ok(run(SLT + ["approve", LEGACY]))
    shown = json.loads(ok(run(["account", "show", LEGACY, "--json"])).stdout)
    assert shown["status"] == "approved" and shown["pupils"] == "none" and shown["case_missing"] == []


def test_approve_refuses_an_owner_or_admin_who_may_not_run_the_account(run, base, tmp_path):
    add_volunteer(run)
    import_accounts(run, tmp_path, {"owner": VOL, "admins": f"{T2};{T3}", "status": "requested"})
    complete_case(run, LEGACY)
    refused(run, base, SLT + ["approve", LEGACY], 2, "owner", VOL, "volunteer")
    ok(run(["account", "transfer", LEGACY, "--to", T2, "--remove-old"]))
    ok(run(SLT + ["approve", LEGACY]))


def test_rejecting_needs_no_complete_case(run, base, tmp_path):
    import_accounts(run, tmp_path, {"status": "requested"})
    ok(run(SLT + ["reject", LEGACY, "--reason", "No business case"]))


def test_a_request_without_the_pupils_answer_says_what_to_complete(run, base):
    argv = request_argv(NEW, platform="tiktok", handle="oak4b")
    i = argv.index("--pupils")
    result = ok(run(argv[:i] + argv[i + 2 :]))  # without --pupils
    assert "complete its business case (--pupils none|AGE)" in result.stderr
    shown = json.loads(ok(run(["account", "show", NEW, "--json"])).stdout)
    assert shown["pupils"] is None and shown["case_missing"] == ["whether it is aimed at pupils"]


def test_the_pupils_answer_is_part_of_the_approved_case(run, base):
    # Saying whom it is for after approval is a material change: SLT approves again.
    ok(run(["account", "update", FB, "--pupils", "11"]))
    report, _ = audit(run, "--rule", "CHANGED_SINCE_APPROVAL")
    one(report, "CHANGED_SINCE_APPROVAL")
    ok(run(SLT + ["approve", FB]))
    assert found(audit(run, "--rule", "CHANGED_SINCE_APPROVAL")[0], "CHANGED_SINCE_APPROVAL") == []
    # the date parents were told is a record, not the case: no new approval
    result = ok(run(["account", "update", FB, "--parents-informed-on", TODAY]))
    assert "approve" not in result.stderr
    assert found(audit(run, "--rule", "CHANGED_SINCE_APPROVAL")[0], "CHANGED_SINCE_APPROVAL") == []
    ok(run("verify"))


@pytest.mark.parametrize(
    "args,words",
    [
        (["--pupils", "teens"], ["--pupils", "teens"]),
        (["--pupils", "Year 4"], ["--pupils"]),
        (["--pupils", "8-9"], ["--pupils"]),
        (["--pupils", "2"], ["3 to 19"]),
        (["--pupils", "20"], ["3 to 19"]),
        (["--pupils", "-5"], ["--pupils"]),
        (["--pupils", ""], ["--pupils"]),
        (["--pupils", "١٢"], ["--pupils"]),  # Arabic-Indic digits: not an age we read
        (["--parents-informed-on", "2026-02-30"], ["--parents-informed-on"]),
        (["--parents-informed-on", "yesterday"], ["--parents-informed-on"]),
        (["--parents-informed-on", "2026-10-02"], ["future"]),
        (["--pupils", "none"], ["already has"]),
        ([], ["nothing to change", "--pupils", "--parents-informed-on"]),
    ],
)
def test_account_update_refuses_bad_pupils_and_dates(run, base, args, words):
    refused(run, base, ["account", "update", FB, *args], 2, *words)


@given(st.text(max_size=6))
def test_the_pupils_answer_is_none_or_an_age_from_3_to_19(text):
    cleaned = text.strip().lower()
    valid = cleaned == "none" or (cleaned.isascii() and cleaned.isdigit() and 3 <= int(cleaned) <= 19)
    if valid:
        assert model.pupils(text) == ("none" if cleaned == "none" else str(int(cleaned)))
    else:
        with pytest.raises(InputError):
            model.pupils(text)


@pytest.mark.parametrize("age", ["3", "03", " 19 ", "NONE"])
def test_the_pupils_answer_accepts_the_edges(age):
    assert model.pupils(age) in ("3", "19", "none")


# -- eligible admins ----------------------------------------------------------------------------------------
def test_two_volunteer_admins_do_not_make_two_admins(run, base, tmp_path):
    """Two `volunteer` records, one a parent's Gmail address, do not satisfy TWO_ADMINS."""
    add_volunteer(run)
    add_volunteer(run, "parent@gmail.com", trained=None)  # untrained: not even an additional admin
    import_accounts(run, tmp_path, {"owner": VOL, "admins": "parent@gmail.com", "status": "requested"})
    report, _ = audit(run)
    assert one(report, "TWO_ADMINS", LEGACY)["message"] == "0 eligible admin(s): none"
    hits = found(report, "ADMIN_NOT_ELIGIBLE", LEGACY)
    assert sorted(h["message"] for h in hits) == [
        "admin Val Helper <parent@gmail.com> is only a volunteer (may contribute, or once trained be an additional admin, but never own an account or count as one of its two admins)",
        f"owner Val Helper <{VOL}> is only a volunteer (may contribute, or once trained be an additional admin, but never own an account or count as one of its two admins)",
    ]
    assert {h["severity"] for h in hits} == {"error"}
    listed = {a["id"]: a for a in json.loads(ok(run("account list --json")).stdout)}
    assert listed[LEGACY]["admin_count"] == 0 and listed[FB]["admin_count"] == 3
    # the fixes the findings name: transfer the owner, take the volunteer off (they may stay a contributor)
    admin_hit = next(h for h in hits if h["message"].startswith("admin"))
    ok(run(fix_argv(admin_hit)))
    ok(run(["account", "transfer", LEGACY, "--to", T2, "--remove-old"]))
    ok(run(["account", "contributor", "add", LEGACY, VOL]))
    ok(run(["account", "admin", "add", LEGACY, T3]))
    report, _ = audit(run, "--rule", "ADMIN_NOT_ELIGIBLE", "--rule", "TWO_ADMINS")
    assert report["findings"] == []
    assert {a["id"]: a for a in json.loads(ok(run("account list --json")).stdout)}[LEGACY]["admin_count"] == 2


def test_import_warns_naming_the_people_it_does_not_know(run, base, tmp_path):
    add_volunteer(run)
    lines = [
        "id,school,platform,handle,url,category,email,owner,admins,contributors,status",
        f"oak-x-one,oak,x,one,,faculty,office@oak.sch.uk,nobody@oak.sch.uk,{VOL},,active",
        f"oak-x-two,oak,x,two,,faculty,office@oak.sch.uk,{T1},{ELM};{T2},stranger@gmail.com,requested",
        f"oak-x-three,oak,x,three,,faculty,office@oak.sch.uk,{T1},{T2},{ELM},requested",
    ]
    path = tmp_path / "legacy.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = ok(run(["account", "import", str(path)]))
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning: ")]
    assert warnings == [
        "Warning: nobody@oak.sch.uk is not staff in this register (owner of oak-x-one)",
        f"Warning: {VOL} is only a volunteer (may contribute, or once trained be an additional admin, but never own an account or count as one of its two admins) (admin of oak-x-one)",
        f"Warning: {ELM} is staff of elm, not oak (admin of oak-x-two)",
        "Warning: stranger@gmail.com is not staff in this register (contributor of oak-x-two)",
    ]  # another school's teacher may contribute (oak-x-three): no warning
    assert "Imported 3 account(s)" in result.stderr.splitlines()[-1]
    # the list counts admins as the audit does
    listed = {a["id"]: a["admin_count"] for a in json.loads(ok(run("account list --json")).stdout)}
    report, _ = audit(run, "--rule", "TWO_ADMINS")
    assert listed["oak-x-one"] == 0 and one(report, "TWO_ADMINS", "oak-x-one")["message"].startswith("0 eligible")
    assert listed["oak-x-two"] == listed["oak-x-three"] == 2  # elm's teacher is not counted on oak-x-two
    assert found(report, "TWO_ADMINS", "oak-x-two") == found(report, "TWO_ADMINS", "oak-x-three") == []


def test_import_names_at_most_twenty_people_then_counts(run, base, tmp_path):
    lines = ["id,school,platform,handle,url,category,email,owner,admins,contributors,status"]
    lines += [f"oak-x-{i},oak,x,h{i},,faculty,office@oak.sch.uk,ghost{i}@oak.sch.uk,,,requested" for i in range(23)]
    path = tmp_path / "many.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    warnings = [
        line for line in ok(run(["account", "import", str(path)])).stderr.splitlines() if line.startswith("Warning: ")
    ]
    assert len(warnings) == 21 and "and 3 more" in warnings[-1] and "audit" in warnings[-1]


def test_the_central_team_runs_any_schools_account_and_other_schools_only_contribute(run, base, tmp_path):
    ok(run('school add trust --name "Oak Trust central team" --domain oaktrust.org.uk --central'))
    ok(run("staff add comms@oaktrust.org.uk --name 'Cora Comms' --school trust --role staff --trained-on 2026-09-01"))
    ok(run(["staff", "train", "comms@oaktrust.org.uk", "--on", "2026-09-01", "--kind", "cyber"]))
    ok(run(["account", "admin", "add", FB, "comms@oaktrust.org.uk"]))
    refused(run, base, ["account", "admin", "add", FB, ELM], 2, ELM, "staff of elm, not oak")
    ok(run(["account", "contributor", "add", FB, ELM]))
    ok(run(SLT + ["approve", FB]))
    report, code = audit(run, "--fail-on", "warning")
    assert report["findings"] == [] and code == 0


def test_admin_add_on_the_day_a_person_leaves(run, base):
    leaves = day(10)
    ok(run(["staff", "add", "n.new@oak.sch.uk", "--name", "Nia New", "--school", "oak", "--trained-on", TODAY]))
    ok(run(["staff", "leave", "n.new@oak.sch.uk", "--on", leaves]))
    ok(run(["account", "admin", "add", FB, "n.new@oak.sch.uk"], env=at(day(9))))  # the day before: still staff
    ok(run(["account", "admin", "remove", FB, "n.new@oak.sch.uk"], env=at(day(9))))
    for when in (leaves, day(11)):
        refused(run, base, ["account", "admin", "add", FB, "n.new@oak.sch.uk"], 2, "left", env=at(when))


def test_an_upcoming_mover_runs_the_old_schools_account_until_the_move(run, base):
    moves = day(10)
    ok(run(["staff", "move", T3, "--school", "elm", "--on", moves]))
    report, _ = audit(run, "--rule", "TWO_ADMINS", "--rule", "ADMIN_NOT_ELIGIBLE", "--as-of", day(9))
    assert report["findings"] == []
    for when in (moves, day(11)):
        report, _ = audit(run, "--rule", "ADMIN_NOT_ELIGIBLE", "--rule", "LEAVER_ADMIN", "--as-of", when)
        assert rules_of(report) == {"LEAVER_ADMIN"}  # a mover was staff here: a leaver rule, not eligibility
        assert f"moved to elm on {moves}" in one(report, "LEAVER_ADMIN")["message"]


# -- training, a gate and a rule ---------------------------------------------------------------------------
def ready_to_activate(run, account_id: str = NEW) -> None:
    request(run, account_id)
    ok(run(SLT + ["approve", account_id]))
    ok(run(["account", "notify-head", account_id]))
    ok(run(["cred", "set", account_id], input=f"{STRONG}-x\n"))


def test_activate_is_gated_on_training(run, base):
    ok(run(["staff", "add", "n.new@oak.sch.uk", "--name", "Nia New", "--school", "oak"]))  # never trained
    request(run, NEW, owner="n.new@oak.sch.uk")
    ok(run(SLT + ["approve", NEW]))
    ok(run(["account", "notify-head", NEW]))
    ok(run(["cred", "set", NEW], input=f"{STRONG}-x\n"))
    line = refused(
        run,
        base,
        ["account", "activate", NEW],
        2,
        "owner n.new@oak.sch.uk: no training recorded",
        "staff train n.new@oak.sch.uk",
    )
    assert T2 not in line  # the others are trained
    ok(run(["staff", "train", "n.new@oak.sch.uk", "--on", TODAY]))
    ok(run(["account", "activate", NEW]))


def test_activate_needs_the_current_policy_acknowledged(run, base):
    ready_to_activate(run)
    ok(run("config set policy_version 2026.2"))
    refused(run, base, ["account", "activate", NEW], 2, "has not acknowledged policy 2026.2", T1, T2, T3)
    for email in (T1, T2, T3):
        ok(run(["staff", "train", email, "--on", TODAY, "--policy-ack", "2026.2"]))
    ok(run(["account", "activate", NEW]))


def test_training_expires_after_training_valid_days(run, base):
    """Trained on 2026-09-01, valid for 30 days: good to 2026-10-01, expired from 2026-10-02."""
    ready_to_activate(run)
    ok(run("config set training.valid_days 30"))
    boundary, after = "2026-10-01", "2026-10-02"  # TODAY is the boundary day itself
    ok(run(["account", "activate", NEW], env=at(boundary)))
    ok(run(["account", "suspend", NEW, "--reason", "Term break"], env=at(boundary)))
    refused(run, base, ["account", "activate", NEW], 2, "training of 2026-09-01 is older than 30 days", env=at(after))
    for when, expected in (("2026-09-30", 0), (boundary, 0), (after, 3)):
        report, _ = audit(run, "--rule", "TRAINING_MISSING", "--school", "oak", "--as-of", when)
        assert len(found(report, "TRAINING_MISSING", FB)) == expected, when
    hit = found(audit(run, "--rule", "TRAINING_MISSING", "--as-of", after)[0], "TRAINING_MISSING", FB)[0]
    assert "older than 30 days" in hit["message"]
    ok(run(["config", "set", "training.valid_days", ""]))  # empty: training never expires
    assert found(audit(run, "--rule", "TRAINING_MISSING", "--as-of", "2030-01-01")[0], "TRAINING_MISSING") == []


# -- pupils and the platforms' minimum ages -------------------------------------------------------------------
@pytest.mark.parametrize(
    "platform,age,expected",
    [
        ("tiktok", "12", True),
        ("tiktok", "13", False),
        ("tiktok", "14", False),
        ("linkedin", "15", True),
        ("linkedin", "16", False),
        ("linkedin", "17", False),
        ("instagram", "8", True),
        ("other", "3", False),
    ],
)
def test_pupils_under_platform_age_at_the_boundary(run, base, platform, age, expected):
    request(run, f"oak-{platform}-p{age}", platform=platform, pupils=age)
    ok(run(["account", "update", f"oak-{platform}-p{age}", "--pupils-join", "yes"]))
    report, _ = audit(run, "--rule", "PUPILS_UNDER_PLATFORM_AGE")
    hits = found(report, "PUPILS_UNDER_PLATFORM_AGE")
    assert len(hits) == expected
    if expected:
        assert hits[0]["severity"] == "error"
        assert f"aimed at pupils from age {int(age)}; {platform} is for" in hits[0]["message"]


def test_a_year_4_tiktok_account_that_pupils_join_is_an_error_even_as_a_request(run, base):
    request(run, NEW, pupils="8")
    ok(run(["account", "update", NEW, "--pupils-join", "yes"]))
    report, code = audit(run)
    hit = one(report, "PUPILS_UNDER_PLATFORM_AGE", NEW)
    assert hit["message"].startswith("aimed at pupils from age 8; tiktok is for 13 and over, and pupils") and code == 1
    assert found(report, "PARENTS_NOT_INFORMED") == []  # not live yet
    # the fix it names: close it (or say it is not for those pupils)
    assert "close" in hit["fix"]
    ok(run(["account", "close", NEW, "--reason", "Under 13s"]))
    assert found(audit(run)[0], "PUPILS_UNDER_PLATFORM_AGE") == []


def test_videos_year_4_watch_without_accounts_are_a_warning_not_an_error(run, base):
    request(run, "oak-youtube-y4", platform="youtube", pupils="8")
    hit = one(audit(run)[0], "PUPILS_UNDER_PLATFORM_AGE", "oak-youtube-y4")
    assert hit["severity"] == "warning" and "without accounts of their own" in hit["message"]
    assert "--pupils-join yes" in hit["fix"]
    ok(run(SLT + ["approve", "oak-youtube-y4"]))
    ok(run(["account", "notify-head", "oak-youtube-y4"]))
    ok(run(["cred", "set", "oak-youtube-y4"], input=f"{STRONG}-y4\n"))
    ok(run(["account", "activate", "oak-youtube-y4"]))  # a warning does not hold it back


def test_activate_refuses_while_pupils_would_join_under_age_unless_waived(run, base):
    request(run, NEW, pupils="11")
    ok(run(["account", "update", NEW, "--pupils-join", "yes"]))
    ok(run(SLT + ["approve", NEW]))
    ok(run(["account", "notify-head", NEW]))
    ok(run(["cred", "set", NEW], input=f"{STRONG}-new\n"))
    refused(run, base, ["account", "activate", NEW], 2, "PUPILS_UNDER_PLATFORM_AGE", "would join")
    ok(run(SLT + ["waive", NEW, "PUPILS_UNDER_PLATFORM_AGE", "--reason", "Year 7 club, DPIA", "--until", day(30)]))
    ok(run(["account", "activate", NEW]))


def test_min_age_is_the_trusts_to_set(run, base):
    request(run, "oak-other-club", platform="other", pupils="9")
    request(run, NEW, pupils="12")
    ok(run("config set min_age.other 11"))
    ok(run("config set min_age.tiktok 12"))
    report, _ = audit(run, "--rule", "PUPILS_UNDER_PLATFORM_AGE")
    assert [f["account"] for f in report["findings"]] == ["oak-other-club"]
    assert "other is for 11 and over" in report["findings"][0]["message"]
    ok(run("config set min_age.other none"))
    assert audit(run, "--rule", "PUPILS_UNDER_PLATFORM_AGE")[0]["findings"] == []


# -- parents told ----------------------------------------------------------------------------------------------
def test_parents_not_informed_at_the_boundary(run, base):
    request(run, "oak-youtube-oakchoir", platform="youtube", pupils="13")
    assert found(audit(run)[0], "PARENTS_NOT_INFORMED") == []  # a request: parents are told before it goes live
    go_live(run, "oak-youtube-oakchoir")
    report, _ = audit(run, "--fail-on", "warning")
    hit = one(report, "PARENTS_NOT_INFORMED", "oak-youtube-oakchoir")
    assert hit["severity"] == "warning" and "from age 13" in hit["message"]
    told = day(5)
    ok(run(fix_argv(hit, DATE=told), env=at(told)))
    for when, expected in ((day(4), 1), (told, 0), (day(6), 0)):
        assert len(found(audit(run, "--as-of", when)[0], "PARENTS_NOT_INFORMED")) == expected, when
    assert found(audit(run)[0], "PARENTS_NOT_INFORMED") != []  # as of TODAY, before they were told
    shown = json.loads(ok(run(["account", "show", "oak-youtube-oakchoir", "--json"])).stdout)
    assert shown["parents_informed_on"] == told


def test_an_account_not_for_pupils_needs_no_parents_date(run, base):
    assert found(audit(run, "--fail-on", "info")[0], "PARENTS_NOT_INFORMED") == []  # FB says --pupils none


# -- a person's own mailbox ---------------------------------------------------------------------------------
def test_linked_email_personal_warns_then_errs_from_the_leaving_day(run, base):
    request(run, "oak-instagram-oakart", platform="instagram", email=T1)
    leaves = day(20)
    ok(run(["staff", "leave", T1, "--on", leaves]))
    for when, severity in ((day(19), "warning"), (leaves, "error"), (day(21), "error")):
        hit = one(
            audit(run, "--rule", "LINKED_EMAIL_PERSONAL", "--as-of", when)[0],
            "LINKED_EMAIL_PERSONAL",
            "oak-instagram-oakart",
        )
        assert hit["severity"] == severity, when
        assert T1 in hit["message"] and (("left on " + leaves) in hit["message"]) == (severity == "error")
    # once he has left, the account is in his offboarding checklist
    result = run(["offboard", T1, "--format", "json"], env=at(leaves))
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    jsonschema.validate(data, OFFBOARD_SCHEMA)
    (item,) = [i for i in data["items"] if i["kind"] == "linked_email"]
    assert item == {
        "kind": "linked_email",
        "account": "oak-instagram-oakart",
        "school": "oak",
        "role": None,
        "field": None,
        "set_at": None,
        "outstanding": True,
        "step": "link the account to a shared school mailbox (change it on the platform first)",
        "command": "accountctl account update oak-instagram-oakart --email EMAIL",
        "reaches": [],
        "mailbox": None,
    }
    ok(run(["account", "update", "oak-instagram-oakart", "--email", "art@oak.sch.uk"], env=at(leaves)))
    data = json.loads(run(["offboard", T1, "--format", "json"], env=at(leaves)).stdout)
    assert [i for i in data["items"] if i["kind"] == "linked_email"] == []
    assert found(audit(run, "--as-of", leaves)[0], "LINKED_EMAIL_PERSONAL") == []


def test_a_shared_mailbox_is_not_personal(run, base):
    assert found(audit(run)[0], "LINKED_EMAIL_PERSONAL") == []  # office@ is no one's own
    data = json.loads(ok(run(["offboard", T2, "--format", "json"])).stdout)
    assert all(i["kind"] != "linked_email" for i in data["items"])


# -- things left hanging ----------------------------------------------------------------------------------------
def test_request_stale_after_30_days(run, base):
    request(run, NEW)
    for when, expected in ((day(30), 0), (day(31), 1), (day(32), 1)):
        assert len(found(audit(run, "--as-of", when)[0], "REQUEST_STALE")) == expected, when
    hit = one(audit(run, "--as-of", day(31))[0], "REQUEST_STALE", NEW)
    assert hit["severity"] == "warning" and f"requested on {TODAY}, 31 days ago" in hit["message"]
    ok(run(SLT + fix_argv(hit), env=at(day(31))))  # SLT decides
    assert found(audit(run, "--as-of", day(31))[0], "REQUEST_STALE") == []


def test_suspended_too_long_after_90_days(run, base):
    suspended = day(10)
    ok(run(["account", "suspend", FB, "--reason", "Parent complaint"], env=at(suspended)))
    for when, expected in ((day(100), 0), (day(101), 1), (day(102), 1)):
        assert len(found(audit(run, "--as-of", when)[0], "SUSPENDED_TOO_LONG")) == expected, when
    hit = one(audit(run, "--as-of", day(101))[0], "SUSPENDED_TOO_LONG")
    assert f"suspended since {suspended} (91 days)" == hit["message"]
    check_waiver = found(audit(run, "--as-of", day(101), today=day(101))[0], "SUSPENDED_TOO_LONG")
    assert check_waiver and not check_waiver[0]["waived"]
    waive(run, FB, "SUSPENDED_TOO_LONG", until=day(120), today=day(101))
    assert one(audit(run, today=day(101))[0], "SUSPENDED_TOO_LONG")["waived"] is True
    ok(run(fix_argv(hit), env=at(day(101))))  # reactivated through the gate
    assert found(audit(run, today=day(101))[0], "SUSPENDED_TOO_LONG") == []


def test_closed_not_gone_after_30_days_and_account_gone_destroys_the_credentials(run, base):
    closed = day(2)
    ok(run(["account", "close", FB, "--reason", "Replaced by the trust's page"], env=at(closed)))
    for when, expected in ((day(32), 0), (day(33), 1), (day(34), 1)):
        assert len(found(audit(run, "--as-of", when)[0], "CLOSED_NOT_GONE")) == expected, when
    hit = one(audit(run, "--as-of", day(33))[0], "CLOSED_NOT_GONE")
    assert hit["severity"] == "warning" and f"closed on {closed} (31 days ago)" in hit["message"]
    assert "IT still holds its credentials" in hit["message"]
    # a closed account's audit is filtered by school like any other
    assert found(audit(run, "--as-of", day(33), "--school", "elm")[0], "CLOSED_NOT_GONE") == []

    gone_on = day(33)
    result = ok(run(fix_argv(hit) + ["--on", gone_on], env=at(day(34))))
    assert f"{FB} is gone from facebook since {gone_on}" in result.stderr
    assert "destroyed: password, totp" in result.stderr
    assert found(audit(run, "--as-of", day(34))[0], "CLOSED_NOT_GONE") == []
    shown = json.loads(ok(run(["account", "show", FB, "--json"])).stdout)
    assert (shown["status"], shown["gone_on"], shown["credentials_held"]) == ("gone", gone_on, False)
    refused(run, base, ["cred", "show", FB, "--reason", "check"], 2, "gone", "destroyed")
    refused(run, base, ["cred", "set", FB], 2, "gone")
    refused(run, base, ["otp", FB], 2)
    from test_audit_rules import underneath

    with underneath(base) as db:
        assert db.execute("SELECT count(*) FROM credentials WHERE account = ?", (FB,)).fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM password_history WHERE account = ?", (FB,)).fetchone()[0] == 0
    events = json.loads(ok(run(["log", "--account", FB, "--json"])).stdout)
    gone = [e for e in events if e["action"] == "account.gone"]
    assert len(gone) == 1 and gone[0]["details"]["destroyed"] == ["password", "totp"]
    assert STRONG not in json.dumps(events)
    ok(run("verify"))
    assert [a["id"] for a in json.loads(ok(run("account list --status gone --json")).stdout)] == [FB]


def test_account_gone_refusals(run, base):
    refused(run, base, ["account", "gone", FB], 2, FB, "active", "close it first")
    refused(run, base, ["account", "gone", "oak-x-nope"], 2, "oak-x-nope")
    ok(run(["account", "close", FB, "--reason", "Retired"]))
    refused(run, base, SLT + ["account", "gone", FB], 3, "custodian")
    refused(run, base, ["account", "gone", FB, "--on", day(1)], 2, "future")
    refused(run, base, ["account", "gone", FB, "--on", "soon"], 2, "--on")
    ok(run(["account", "gone", FB]))
    refused(run, base, ["account", "gone", FB], 2, "already gone", TODAY)
    for args in (
        ["account", "update", FB, "--pupils", "11"],
        ["account", "activate", FB],
        ["account", "admin", "add", FB, ELM],
        ["account", "close", FB, "--reason", "again"],
        SLT + ["approve", FB],
        SLT + ["reject", FB, "--reason", "x"],
        SLT + ["review", FB],
        ["monitor", FB],
    ):
        refused(run, base, args, 2, "gone")


def test_single_custodian_from_the_day_the_second_leaves(run, base):
    leaves = day(10)
    ok(run(["staff", "leave", IT2, "--on", leaves]))
    for when, expected in ((day(9), 0), (leaves, 1), (day(11), 1)):
        assert len(found(audit(run, "--as-of", when)[0], "SINGLE_CUSTODIAN", None)) == expected, when
    hit = one(audit(run, "--as-of", leaves)[0], "SINGLE_CUSTODIAN", None)
    assert (hit["severity"], hit["school"], hit["account"]) == ("warning", None, None)
    assert hit["message"] == f"1 current custodian(s) hold vault access: {CUSTODIAN}"
    # shown whatever the school filter: it concerns the whole register
    assert one(audit(run, "--as-of", leaves, "--school", "elm")[0], "SINGLE_CUSTODIAN", None)
    # a register slot is not vault access
    ok(run(["person", "revoke", IT2], env=at(leaves)))
    assert one(audit(run, "--as-of", leaves)[0], "SINGLE_CUSTODIAN", None)


def test_policy_review_overdue_after_365_days(run, base):
    for when, expected in ((day(364), 0), (day(365), 0), (day(366), 1)):
        assert len(found(audit(run, "--as-of", when)[0], "POLICY_REVIEW_OVERDUE", None)) == expected, when
    hit = one(audit(run, "--as-of", day(366))[0], "POLICY_REVIEW_OVERDUE", None)
    assert f"last reviewed on {TODAY} (366 days ago" in hit["message"] and hit["school"] is None
    ok(run(fix_argv(hit, DATE=day(366)), env=at(day(366))))
    assert found(audit(run, today=day(366))[0], "POLICY_REVIEW_OVERDUE") == []
    ok(run(["config", "set", "policy.reviewed_on", ""]))
    assert (
        one(audit(run)[0], "POLICY_REVIEW_OVERDUE", None)["message"] == "no review of the social-media policy on record"
    )


def test_case_incomplete_names_the_missing_parts_and_its_fix_completes_them(run, base, tmp_path):
    import_accounts(run, tmp_path, {"admins": f"{T2};{T3}", "status": "requested"})
    hit = one(audit(run, "--fail-on", "warning")[0], "CASE_INCOMPLETE", LEGACY)
    assert hit["severity"] == "warning"
    assert hit["message"] == (
        "its business case lacks the aim, the audience, how it will be promoted, whether it is "
        "open or closed, whether it is aimed at pupils"
    )
    ok(run(["account", "update", LEGACY, "--aim", "Fixtures", "--audience", "Parents", "--promotion", "Newsletter"]))
    hit = one(audit(run)[0], "CASE_INCOMPLETE", LEGACY)
    assert hit["fix"] == (
        f"accountctl account update {LEGACY} --visibility open|closed --pupils none|AGE "
        "(then SLT approves the complete case)"
    )
    ok(run(fix_argv(hit, **{"open|closed": "open", "none|AGE": "none"})))
    assert found(audit(run)[0], "CASE_INCOMPLETE") == []
    # closed and rejected accounts are not audited for it
    import_accounts(run, tmp_path, {"id": "oak-x-old", "platform": "x", "handle": "old", "status": "closed"})
    assert found(audit(run)[0], "CASE_INCOMPLETE") == []


# -- the core over plain data -----------------------------------------------------------------------------------
def staff(**over) -> dict:
    return {
        "school": "oak",
        "roles": ["staff"],
        "left_on": None,
        "moved_from": None,
        "moved_on": None,
        "trained_on": "2026-09-01",
        "policy_ack": None,
        **over,
    }


@pytest.mark.parametrize(
    "person,reason",
    [
        (None, "is not staff in this register"),
        (staff(), None),
        (staff(roles='["volunteer"]'), "is only a volunteer"),
        (staff(roles=["volunteer", "staff"]), None),
        (staff(roles=["slt", "headteacher"]), None),
        (staff(school="elm"), "is staff of elm, not oak"),
        (staff(school="trust"), None),
        (staff(left_on="2026-10-01"), "left on 2026-10-01"),
        (staff(left_on="2026-10-02"), None),
        (staff(school="elm", moved_from="oak", moved_on="2026-10-02"), None),
        (staff(school="elm", moved_from="oak", moved_on="2026-10-01"), "is staff of elm, not oak"),
    ],
)
def test_core_eligibility(person, reason):
    got = eligibility.ineligible(person, "oak", frozenset({"trust"}), date(2026, 10, 1))
    assert (got is None) if reason is None else (got is not None and got.startswith(reason))


def test_core_eligibility_in_sql_agrees_with_the_function():
    """`account list` counts eligible admins in SQL; every case `ineligible` distinguishes, it judges the same."""
    from accountctl.store.db import new_database

    conn = new_database()
    for school, central in (("oak", 0), ("elm", 0), ("trust", 1)):
        conn.execute(
            "INSERT INTO schools(id, name, domains, central, created_at) VALUES (?, ?, '[]', ?, 'x')",
            (school, school, central),
        )
    conn.execute(
        "INSERT INTO accounts(id, school, platform, handle, category, status, requested_at) "
        "VALUES ('a', 'oak', 'x', 'h', 'faculty', 'active', 'x')"
    )
    people = [
        None,
        staff(),
        staff(roles=["volunteer"]),
        staff(roles=["staff", "volunteer"]),
        staff(roles=[]),
        staff(school="elm"),
        staff(school="trust"),
        staff(left_on="2026-10-01"),
        staff(left_on="2026-09-30"),
        staff(left_on="2026-10-02"),
        staff(school="elm", moved_from="oak", moved_on="2026-10-02"),
        staff(school="elm", moved_from="oak", moved_on="2026-10-01"),
        staff(school="elm", moved_from="ash", moved_on="2026-10-02"),
        staff(roles=["volunteer"], school="trust"),
    ]
    on = date(2026, 10, 1)
    for i, person in enumerate(people):
        email = f"p{i}@oak.sch.uk"
        if person is not None:
            conn.execute(
                "INSERT INTO staff(email, name, school, roles, left_on, moved_from, moved_on, created_at) "
                "VALUES (?, 'n', ?, ?, ?, ?, ?, 'x')",
                (
                    email,
                    person["school"],
                    json.dumps(person["roles"]),
                    person["left_on"],
                    person["moved_from"],
                    person["moved_on"],
                ),
            )
        stored = None if person is None else {**person, "roles": json.dumps(person["roles"])}
        expected = eligibility.ineligible(stored, "oak", frozenset({"trust"}), on) is None
        (got,) = conn.execute(
            f"SELECT {eligibility.ELIGIBLE_SQL} FROM accounts a LEFT JOIN staff s ON s.email = ? WHERE a.id = 'a'",
            (on.isoformat(), on.isoformat(), email),
        ).fetchone()
        assert bool(got) is expected, person
    assert sum(eligibility.ineligible(p, "oak", frozenset({"trust"}), on) is None for p in people) == 6


def test_core_training_gaps():
    on = date(2026, 10, 1)
    settings = {"training.valid_days": "30", "policy_version": "2026.2"}
    assert eligibility.training_gaps(staff(policy_ack="2026.2"), settings, on) == []
    assert eligibility.training_gaps(staff(trained_on="2026-08-31", policy_ack="2026.2"), settings, on) == [
        "training of 2026-08-31 is older than 30 days"
    ]
    assert eligibility.training_gaps(staff(trained_on=None), settings, on) == [
        "no training recorded",
        "has not acknowledged policy 2026.2",
    ]
    assert eligibility.training_gaps(staff(trained_on="2020-01-01"), {}, on) == []


def test_a_register_written_before_these_columns_opens_and_gains_them(run, base):
    from test_audit_rules import underneath

    from accountctl.store.db import ADDED_COLUMNS

    with underneath(base) as db:  # the body as an older accountctl wrote it
        for column in ADDED_COLUMNS["accounts"]:
            db.execute(f"ALTER TABLE accounts DROP COLUMN {column}")
        db.execute("UPDATE accounts SET monitored_on = monitored_on")  # a row change, so the body is saved
    report, code = audit(run)
    assert code == 0 and found(report, "CASE_INCOMPLETE", FB)  # its pupils answer is not on record yet
    assert json.loads(ok(run(["account", "show", FB, "--json"])).stdout)["pupils"] is None
    ok(run(["account", "update", FB, "--pupils", "none"]))  # a write keeps the columns
    assert audit(run, "--fail-on", "warning")[0]["findings"] == []  # the case is as SLT approved it again
    ok(run("verify"))


def test_pupils_join_a_group_unless_the_request_says_they_do_not(run, base):
    """SPEC: --pupils-join defaults to yes for a `group` account (a WhatsApp group), no otherwise."""
    request(run, "oak-whatsapp-y6club", platform="whatsapp", pupils="10", access=None)  # its default: group
    hit = one(audit(run)[0], "PUPILS_UNDER_PLATFORM_AGE", "oak-whatsapp-y6club")
    assert hit["severity"] == "error"
    ok(run(["account", "update", "oak-whatsapp-y6club", "--pupils-join", "no"]))
    assert one(audit(run)[0], "PUPILS_UNDER_PLATFORM_AGE", "oak-whatsapp-y6club")["severity"] == "warning"
    request(run, "oak-tiktok-y6", pupils="10")  # a login account: they join only when the request says so
    assert one(audit(run)[0], "PUPILS_UNDER_PLATFORM_AGE", "oak-tiktok-y6")["severity"] == "warning"
