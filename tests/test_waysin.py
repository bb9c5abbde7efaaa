"""Ways in (SPEC "Ways in"): access models and their activation, records reached --via, temporary
access, mailboxes and their rules, DORMANT, and offboard listing every way in.

Registers start from `base` (see test_audit_rules) on TODAY: FB is a `login` Facebook page run by
t.one (owner), t.two and t.three, its password and 2FA seed held by IT.
"""

from __future__ import annotations

import json

from conftest import ok, refused
from test_audit_rules import (
    FB,
    SLT,
    T1,
    T2,
    T3,
    TODAY,
    audit,
    base,  # noqa: F401
    day,
    found,
    import_accounts,
    one,
    request_argv,
)
from test_schemas import problems, validator

YT = "oak-youtube-oakchannel"
TOOL = "oak-hootsuite-oakposts"
BOX = "office@oak.sch.uk"


def approved(run, account_id: str, *argv_extra, **request) -> None:
    """Request, approve and notify the head of an account (not yet active)."""
    ok(run(request_argv(account_id, **request) + list(argv_extra)))
    ok(run(SLT + ["approve", account_id]))
    ok(run(["account", "notify-head", account_id]))


def channel(run) -> None:
    """A YouTube channel with its platform's default access model (roles), approved."""
    approved(run, YT, platform="youtube", handle="oakchannel", access=None)


def attest(run, account: str, admins: str = f"{T1},{T2},{T3}", today: str | None = None) -> None:
    env = {"ACCOUNTCTL_TODAY": today} if today else None
    ok(run(["attest", "record", account, "--admins", admins, "--mfa", "app"], env=env))


def show(run, account: str) -> dict:
    return json.loads(ok(run(["account", "show", account, "--json"])).stdout)


# -- access models ------------------------------------------------------------------------------------
def test_a_channel_takes_its_platforms_default_access_model(run, base):
    channel(run)
    assert show(run, YT)["access"] == "roles"
    assert show(run, FB)["access"] == "login"  # asked for: behaves as today
    ok(run("config set access.youtube login"))
    approved(run, "oak-youtube-second", "--category", "staff", platform="youtube", handle="second", access=None)
    assert show(run, "oak-youtube-second")["access"] == "login"


def test_the_defaults_are_the_specs_roles_for_pages_group_for_whatsapp_login_for_the_rest(run, base):
    settings = json.loads(ok(run("config show --json")).stdout)
    assert {k: v for k, v in settings.items() if k.startswith("access.") and v != "login"} == {
        "access.facebook": "roles",
        "access.linkedin": "roles",
        "access.youtube": "roles",
        "access.whatsapp": "group",
    }
    # A business portfolio and the tools are "the rest": login, unless the trust says otherwise.
    approved(
        run, "oak-meta-business-oakbm", "--category", "service", platform="meta-business", handle="oakbm", access=None
    )
    assert show(run, "oak-meta-business-oakbm")["access"] == "login"


def test_a_roles_page_activates_on_an_attestation_not_a_password(run, base):
    channel(run)
    line = refused(run, base, ["account", "activate", YT], 2, "attestation", "attest record")
    assert "password" not in line
    attest(run, YT)
    ok(run(["account", "activate", YT]))
    report, _ = audit(run)
    assert found(report, "CREDENTIALS_NOT_HELD", YT) == [] and found(report, "MFA_NOT_HELD", YT) == []


def test_the_attestation_must_be_at_most_30_days_old(run, base):
    channel(run)
    attest(run, YT)
    refused(run, base, ["account", "activate", YT], 2, "within 30 days", env={"ACCOUNTCTL_TODAY": day(31)})
    ok(run(["account", "activate", YT], env={"ACCOUNTCTL_TODAY": day(30)}))  # day 29 is inside too, a fortiori


def test_the_attestation_must_show_two_eligible_admins_and_nobody_else(run, base):
    channel(run)
    attest(run, YT, T1)
    refused(run, base, ["account", "activate", YT], 2, "1 of its eligible admins")
    attest(run, YT, f"{T1},{T2},Mystery Person")
    refused(run, base, ["account", "activate", YT], 2, "not registered", "Mystery Person")
    attest(run, YT, f"{T1},{T2}")
    ok(run(["account", "activate", YT]))


def test_a_login_account_still_needs_the_password(run, base):
    approved(run, "oak-youtube-login", platform="youtube", handle="login", access="login")
    attest(run, "oak-youtube-login")
    refused(run, base, ["account", "activate", "oak-youtube-login"], 2, "password", "cred set")


def test_an_existing_account_gets_its_platforms_default(run, base, tmp_path):
    import_accounts(
        run,
        tmp_path,
        {"id": "oak-facebook-old", "platform": "facebook", "handle": "old", "url": "https://www.facebook.com/old"},
        {"id": "oak-x-old", "platform": "x", "handle": "old", "url": "https://x.com/old"},
    )
    report, _ = audit(run)
    assert found(report, "CREDENTIALS_NOT_HELD", "oak-facebook-old") == []
    assert one(report, "CREDENTIALS_NOT_HELD", "oak-x-old")["severity"] == "error"


def test_a_group_is_named_with_spaces(run, base):
    argv = request_argv("ignored", platform="whatsapp", handle="Y6 Parents", access=None)
    argv.remove("--id")
    argv.remove("ignored")
    argv[argv.index("--url") + 1] = "https://chat.whatsapp.com/AbCdEf123"
    ok(run(argv))
    data = show(run, "oak-whatsapp-y6-parents")
    assert (data["handle"], data["access"]) == ("Y6 Parents", "group")
    refused(run, base, request_argv("oak-x-two", platform="x", handle="Two Words"), 2, "one word")


def test_an_existing_or_found_group_is_named_with_spaces(run, base, tmp_path):
    import_accounts(
        run,
        tmp_path,
        {"id": "", "platform": "whatsapp", "handle": "Y5 Parents", "url": "https://chat.whatsapp.com/Zz1"},
    )
    assert (show(run, "oak-whatsapp-y5-parents")["handle"], show(run, "oak-whatsapp-y5-parents")["access"]) == (
        "Y5 Parents",
        "group",
    )
    row = {
        "id": "",
        "school": "oak",
        "platform": "whatsapp",
        "handle": "Y5 Parents",
        "url": "https://chat.whatsapp.com/Zz1",
    }
    row |= {"category": "faculty", "email": BOX, "owner": T1, "admins": [], "contributors": [], "status": "active"}
    assert problems(validator("account-import.schema.json"), [row]) == []  # its schema agrees
    assert problems(validator("account-import.schema.json"), [{**row, "platform": "x"}]) != []
    argv = ["account", "found", "--school", "oak", "--platform", "whatsapp", "--handle", "Oak Parents Chat"]
    ok(run(argv + ["--url", "https://chat.whatsapp.com/Fake1", "--source", "a parent's tip"]))
    assert show(run, "oak-whatsapp-oak-parents-chat")["handle"] == "Oak Parents Chat"
    refused(
        run,
        base,
        argv[:-3] + ["x", "--handle", "Two Words", "--url", "https://x.com/a", "--source", "t"],
        2,
        "one word",
    )


def test_a_group_named_with_spaces_cannot_become_a_page_or_a_login(run, base):
    argv = request_argv("oak-facebook-pta", platform="facebook", handle="PTA Parents", access="group")
    argv[argv.index("--url") + 1] = "https://www.facebook.com/groups/ptaparents"
    ok(run(argv))
    for model in ("roles", "login"):  # a page or a login has a one-word handle, as `account request` asks
        refused(run, base, ["account", "update", "oak-facebook-pta", "--access", model], 2, "one word")
    assert show(run, "oak-facebook-pta")["access"] == "group"


def test_a_bad_access_model_is_refused(run, base):
    refused(run, base, request_argv("oak-x-bad", platform="x", handle="bad", access="password"), 2, "access model")
    refused(run, base, ["account", "update", FB, "--access", "nope"], 2, "access model")


def test_mfa_weak_on_a_roles_page_never_asks_it_to_hold_a_seed(run, base):
    channel(run)  # a roles channel: no password and no 2FA seed of its own (SPEC "Ways in")
    ok(run(["attest", "record", YT, "--admins", f"{T1},{T2},{T3}", "--mfa", "sms"]))
    fix = one(audit(run)[0], "MFA_WEAK", YT)["fix"]
    assert "cred totp" not in fix and f"accountctl attest record {YT}" in fix
    ok(run(["attest", "record", FB, "--admins", f"{T1},{T2},{T3}", "--mfa", "sms"]))
    assert "accountctl cred totp" in one(audit(run)[0], "MFA_WEAK", FB)["fix"]  # a login account: as before


# -- records reached --via ----------------------------------------------------------------------------
def tool(run) -> None:
    approved(run, TOOL, "--category", "service", platform="hootsuite", handle="oakposts", access="login")


def test_a_channel_reached_through_a_tool_shows_every_way_in(run, base):
    tool(run)
    ok(run(["account", "contributor", "add", TOOL, "i.two@oak.sch.uk"]))
    ok(run(["account", "update", FB, "--via", TOOL]))
    data = show(run, FB)
    assert data["via"] == [TOOL] and data["ways_in"][0] == "password: held by IT"
    assert (
        f"via {TOOL} (hootsuite): {T1} (admin), {T3} (admin), {T2} (admin), i.two@oak.sch.uk (contributor)"
        in data["ways_in"]
    )
    ok(run(["account", "update", FB, "--no-via", TOOL]))
    assert show(run, FB)["via"] == []


def test_via_refuses_a_channel_and_service_refuses_a_channel_platform(run, base):
    channel(run)
    refused(run, base, ["account", "update", FB, "--via", YT], 2, "service")
    refused(run, base, request_argv("oak-hootsuite-x", platform="hootsuite", handle="x"), 2, "category service")
    refused(run, base, request_argv("oak-x-svc", platform="x", handle="svc", category="service"), 2, "category service")
    refused(run, base, ["account", "update", FB, "--via", "oak-nothing"], 2, "unknown account")
    as_group = request_argv("oak-buffer-x", platform="buffer", handle="x", category="service", access="group")
    refused(run, base, as_group, 2, "not a group")


def test_service_records_are_never_counted_nor_published(run, base, tmp_path):
    tool(run)
    approved(run, "oak-hootsuite-two", "--category", "service", platform="hootsuite", handle="two", access="login")
    for account in (TOOL, "oak-hootsuite-two"):
        ok(run(["cred", "set", account], input="Xk8#pQ2!vLm9@wRt4zYb-Tool" + account + "\n"))
        ok(run(["account", "activate", account]))
    report, _ = audit(run)
    assert found(report, "ONE_FACULTY_ONE_STAFF") == []
    page = json.loads(ok(run(["publish", "--format", "json"])).stdout)
    assert [c["platform"] for s in page["schools"] for c in s["channels"]] == ["facebook"]


# -- temporary access ---------------------------------------------------------------------------------
def test_access_expired_from_the_day_after_until(run, base):
    ok(run(["account", "contributor", "add", FB, "i.two@oak.sch.uk", "--until", day(10)]))
    assert found(audit(run, "--as-of", day(9))[0], "ACCESS_EXPIRED") == []
    assert found(audit(run, "--as-of", day(10))[0], "ACCESS_EXPIRED") == []
    hit = one(audit(run, "--as-of", day(11))[0], "ACCESS_EXPIRED")
    assert hit["severity"] == "error" and day(10) in hit["message"]
    assert hit["fix"].endswith(f"accountctl account contributor remove {FB} i.two@oak.sch.uk")


def test_an_until_in_the_past_is_refused_and_changes_nothing(run, base):
    refused(run, base, ["account", "admin", "add", FB, "i.two@oak.sch.uk", "--until", day(-1)], 2, "past")
    refused(run, base, ["account", "admin", "add", FB, "i.two@oak.sch.uk", "--until", "31/12/2026"], 2, "--until")


# -- mailboxes ----------------------------------------------------------------------------------------
def test_mailbox_member_left_on_the_leaving_day_and_not_before(run, base):
    ok(run(["mailbox", "member", "add", BOX, T3]))
    ok(run(["staff", "leave", T3, "--on", day(5)]))
    assert found(audit(run, "--as-of", day(4))[0], "MAILBOX_MEMBER_LEFT") == []
    hit = one(audit(run, "--as-of", day(5))[0], "MAILBOX_MEMBER_LEFT")
    assert hit["severity"] == "error" and BOX in hit["message"]
    assert one(audit(run, "--as-of", day(6))[0], "MAILBOX_MEMBER_LEFT")["message"] == hit["message"]
    assert hit["fix"].endswith(f"accountctl mailbox member remove {BOX} {T3}")
    ok(run(["mailbox", "member", "remove", BOX, T3]))
    assert found(audit(run, "--as-of", day(6))[0], "MAILBOX_MEMBER_LEFT") == []


def test_mailbox_sign_in_and_unknown_linked_mailbox(run, base):
    ok(run(["mailbox", "add", BOX, "--kind", "shared", "--school", "oak", "--sign-in", "allowed"]))
    hit = one(audit(run)[0], "MAILBOX_SIGN_IN")
    assert hit["severity"] == "warning" and "allowed" in hit["message"]
    ok(run(["mailbox", "add", BOX, "--kind", "group", "--school", "oak"]))
    assert found(audit(run)[0], "MAILBOX_SIGN_IN") == []
    ok(run(["account", "update", FB, "--email", "media@oak.sch.uk"]))
    unknown = one(audit(run, "--fail-on", "info")[0], "LINKED_MAILBOX_UNKNOWN")
    assert unknown["severity"] == "info" and "media@oak.sch.uk" in unknown["message"]


def test_mailbox_refusals_change_nothing(run, base):
    refused(run, base, ["mailbox", "add", "x@gmail.com", "--kind", "shared", "--school", "oak"], 2, "domains")
    refused(run, base, ["mailbox", "add", BOX, "--kind", "cupboard", "--school", "oak"], 2, "mailbox kind")
    refused(run, base, ["mailbox", "member", "remove", BOX, T1], 2, "not a member")
    refused(run, base, ["mailbox", "show", "nobody@oak.sch.uk"], 2, "unknown mailbox")


def test_mailbox_list_and_show(run, base):
    ok(run(["mailbox", "member", "add", BOX, T1]))
    data = json.loads(ok(run(["mailbox", "show", BOX, "--json"])).stdout)
    assert data["members"] == [T1] and data["accounts"] == [FB] and data["sign_in"] == "blocked"
    rows = json.loads(ok(run(["mailbox", "list", "--json"])).stdout)
    assert [r["email"] for r in rows] == [BOX]


# -- offboard: every way in ---------------------------------------------------------------------------
def test_offboard_lists_the_page_role_the_tool_seat_and_the_mailbox(run, base):
    tool(run)
    ok(run(["account", "update", FB, "--via", TOOL]))
    ok(run(["mailbox", "member", "add", BOX, T3]))
    ok(run(["staff", "leave", T3, "--on", TODAY]))
    data = json.loads(ok(run(["offboard", T3, "--json"]), 1).stdout)
    assert problems(validator("offboard.schema.json"), data) == []
    kinds = {(i["kind"], i["account"]) for i in data["items"]}
    assert ("admin", FB) in kinds and ("admin", TOOL) in kinds and ("mailbox", FB) in kinds
    seat = next(i for i in data["items"] if i["kind"] == "admin" and i["account"] == TOOL)
    assert seat["reaches"] == [FB] and "hootsuite" in seat["step"] and FB in seat["step"]
    box = next(i for i in data["items"] if i["kind"] == "mailbox")
    assert box["mailbox"] == BOX and box["outstanding"] and box["command"].endswith(f"remove {BOX} {T3}")


def test_platform_admin_missing_is_never_raised_on_a_leaver(run, base):
    ok(run(["attest", "record", FB, "--admins", f"{T1},{T2}", "--mfa", "app"]))
    assert [f["message"] for f in found(audit(run)[0], "PLATFORM_ADMIN_MISSING")] != []
    ok(run(["staff", "leave", T3, "--on", TODAY]))
    report, _ = audit(run)
    assert found(report, "PLATFORM_ADMIN_MISSING") == [] and found(report, "LEAVER_ADMIN", FB) != []


# -- DORMANT ------------------------------------------------------------------------------------------
def test_dormant_after_the_window_from_the_last_post(run, base):
    ok(run(["monitor", FB, "--last-post", day(-10)]))
    assert found(audit(run, "--as-of", day(169))[0], "DORMANT") == []
    assert found(audit(run, "--as-of", day(170))[0], "DORMANT") == []  # 180 days: the window itself
    hit = one(audit(run, "--as-of", day(171))[0], "DORMANT")
    assert hit["severity"] == "warning" and day(-10) in hit["message"]
    ok(run("config set window.DORMANT 365"))
    assert found(audit(run, "--as-of", day(355))[0], "DORMANT") == []
    assert one(audit(run, "--as-of", day(356))[0], "DORMANT")


def test_dormant_counts_from_activation_when_no_post_is_recorded(run, base):
    assert found(audit(run, "--as-of", day(180))[0], "DORMANT") == []
    assert "no post recorded" in one(audit(run, "--as-of", day(181))[0], "DORMANT")["message"]


def test_a_last_post_in_the_future_is_refused(run, base):
    refused(run, base, ["monitor", FB, "--last-post", day(1)], 2, "future")


# -- trust mailboxes and domains ----------------------------------------------------------------------
def test_a_trust_mailbox_serves_every_school(run, base):
    refused(run, base, ["account", "update", FB, "--email", "socialmedia@oaktrust.org.uk"], 2, "domains")
    ok(run('school add trust --name "Oak Trust central team" --domain oaktrust.org.uk --central'))
    ok(run(["account", "update", FB, "--email", "socialmedia@oaktrust.org.uk"]))
    assert found(audit(run)[0], "SCHOOL_EMAIL") == []
    # the central team's domain serves every school: it stays while any school's account or mailbox uses it
    ok(run(["school", "update", "trust", "--add-domain", "oaktrust.ac.uk"]))
    refused(run, base, ["school", "update", "trust", "--remove-domain", "oaktrust.org.uk"], 2, "still", FB)
    ok(run(["account", "update", FB, "--email", BOX]))
    ok(run(["mailbox", "add", "socialmedia@oaktrust.org.uk", "--kind", "shared", "--school", "oak"]))
    refused(run, base, ["school", "update", "trust", "--remove-domain", "oaktrust.org.uk"], 2, "still", "socialmedia@")
    assert found(audit(run)[0], "SCHOOL_EMAIL") == []


def test_school_update_adds_and_removes_domains(run, base):
    ok(run(["school", "update", "oak", "--add-domain", "oakacademy.org.uk", "--name", "Oak Academy"]))
    ok(run(["account", "update", FB, "--email", "media@oakacademy.org.uk"]))
    refused(run, base, ["school", "update", "oak", "--remove-domain", "oakacademy.org.uk"], 2, "still", FB)
    refused(run, base, ["school", "update", "oak", "--remove-domain", "nope.org.uk"], 2, "no domain")
    refused(run, base, ["school", "update", "oak", "--add-domain", "gmail.com"], 2, "personal")
    refused(run, base, ["school", "update", "elm", "--remove-domain", "elm.sch.uk"], 2, "at least one")
    ok(run(["account", "update", FB, "--email", "office@oak.sch.uk"]))
    ok(run(["school", "update", "oak", "--remove-domain", "oakacademy.org.uk"]))
    schools = {s["id"]: s for s in json.loads(ok(run("school list --json")).stdout)}
    assert schools["oak"]["domains"] == ["oak.sch.uk"] and schools["oak"]["name"] == "Oak Academy"


def test_a_teachers_own_school_mailbox_on_a_staff_account_is_advice(run, base):
    ok(run(request_argv("oak-instagram-tom", platform="instagram", handle="tom", category="staff", email=T1)))
    ok(run(["staff", "leave", T1, "--on", day(20)]))
    for when, severity in ((day(19), "info"), (day(20), "error"), (day(21), "error")):
        report, _ = audit(run, "--fail-on", "info", "--rule", "LINKED_EMAIL_PERSONAL", "--as-of", when)
        hit = one(report, "LINKED_EMAIL_PERSONAL", "oak-instagram-tom")
        assert hit["severity"] == severity, when
    advice = one(audit(run, "--fail-on", "info")[0], "LINKED_EMAIL_PERSONAL", "oak-instagram-tom")
    assert "school mailbox" in advice["message"] and "personal" not in advice["message"]


# -- safety settings and house rules ------------------------------------------------------------------
def test_safety_settings_on_an_account_aimed_at_pupils(run, base):
    safe = "messages-from-pupils=off,follows-pupils=no,tagging=review,comments=off"
    ok(run(["attest", "record", FB, "--admins", f"{T1},{T2},{T3}", "--mfa", "app", "--safety", safe]))
    assert found(audit(run)[0], "SAFETY_SETTINGS") == []
    ok(run(["attest", "record", FB, "--admins", f"{T1},{T2},{T3}", "--mfa", "app", "--safety", "tagging=on"]))
    assert found(audit(run)[0], "SAFETY_SETTINGS") == []  # FB is not aimed at pupils
    ok(run(["account", "update", FB, "--pupils", "13"]))
    hit = one(audit(run)[0], "SAFETY_SETTINGS")
    assert hit["severity"] == "warning" and "tagging=on" in hit["message"]


def test_house_rules_where_comments_are_open(run, base):
    ok(run(["attest", "record", FB, "--admins", f"{T1},{T2},{T3}", "--mfa", "app", "--safety", "comments=off"]))
    assert found(audit(run)[0], "HOUSE_RULES_MISSING") == []
    ok(run(["attest", "record", FB, "--admins", f"{T1},{T2},{T3}", "--mfa", "app", "--safety", "comments=filtered"]))
    hit = one(audit(run)[0], "HOUSE_RULES_MISSING")
    assert hit["severity"] == "warning" and hit["fix"].endswith("--house-rules-url URL")
    ok(run(["account", "update", FB, "--house-rules-url", "https://oak.sch.uk/social-media-rules"]))
    assert found(audit(run)[0], "HOUSE_RULES_MISSING") == []
    refused(run, base, ["account", "update", FB, "--house-rules-url", "javascript:alert(1)"], 2, "--house-rules-url")


def test_bad_safety_settings_are_refused(run, base):
    attest_argv = ["attest", "record", FB, "--admins", f"{T1},{T2}", "--mfa", "app", "--safety"]
    refused(run, base, attest_argv + ["tagging=maybe"], 2, "tagging")
    refused(run, base, attest_argv + ["dms=off"], 2, "--safety")
    refused(run, base, attest_argv + ["tagging=on,tagging=off"], 2, "tagging twice")


# -- volunteers as additional admins ------------------------------------------------------------------
VOL = "v.helper@oak.sch.uk"


def test_a_trained_volunteer_is_an_additional_admin_who_never_counts(run, base):
    ok(run(["staff", "add", VOL, "--name", "Val Helper", "--school", "oak", "--role", "volunteer"]))
    refused(run, base, ["account", "admin", "add", FB, VOL], 2, "volunteer", "once trained")
    ok(run(["staff", "train", VOL, "--on", TODAY]))
    ok(run(["account", "admin", "add", FB, VOL]))
    report, _ = audit(run)
    assert found(report, "ADMIN_NOT_ELIGIBLE") == [] and found(report, "TWO_ADMINS") == []
    listed = {a["id"]: a for a in json.loads(ok(run("account list --json")).stdout)}
    assert listed[FB]["admin_count"] == 3  # t.one, t.two, t.three: never the volunteer
    ok(run(["account", "admin", "remove", FB, T3]))
    refused(run, base, ["account", "admin", "remove", FB, T2], 2, "fewer than two eligible")
    refused(run, base, ["account", "transfer", FB, "--to", VOL], 2, "new owner", "volunteer")


def test_a_request_needs_two_staff_admins_besides_any_volunteer(run, base):
    ok(run(["staff", "add", VOL, "--name", "Val Helper", "--school", "oak", "--role", "volunteer"]))
    ok(run(["staff", "train", VOL, "--on", TODAY]))
    refused(run, base, request_argv("oak-x-pta", platform="x", handle="pta", admins=(VOL,)), 2, "does not count")
    ok(run(request_argv("oak-x-pta", platform="x", handle="pta", admins=(T2, VOL))))
    assert show(run, "oak-x-pta")["admins"] == [T1, T2, VOL]


# -- mailbox sync from GAM and Exchange Online exports ------------------------------------------------
GAM_MEMBERS = f"""group,type,role,id,email,status
{BOX},USER,OWNER,1001,{T1},ACTIVE
{BOX},USER,MEMBER,1002,{T2},ACTIVE
{BOX},USER,MEMBER,1003,former@oak.sch.uk,SUSPENDED
{BOX},GROUP,MEMBER,1004,office-team@oak.sch.uk,
"""
EXO_PERMISSIONS = f"""#TYPE Deserialized.Microsoft.Exchange.Management.RecipientTasks.MailboxAcePresentationObject
"AccessRights","Deny","InheritanceType","User","Identity","IsInherited","IsValid","ObjectState"
"{{FullAccess, ReadPermission}}","False","All","NT AUTHORITY\\SELF","{BOX}","False","True","Unchanged"
"{{FullAccess}}","False","All","{T3}","{BOX}","False","True","Unchanged"
"{{FullAccess}}","False","All","S-1-5-21-1111","{BOX}","False","True","Unchanged"
"{{FullAccess}}","False","All","admin@oak.sch.uk","{BOX}","True","True","Unchanged"
"{{ReadPermission}}","False","All","{T2}","{BOX}","False","True","Unchanged"
"""


def test_mailbox_sync_reads_a_gam_export_then_an_exchange_one(run, base, tmp_path):
    ok(run(["mailbox", "member", "add", BOX, T3]))
    gam = tmp_path / "members.csv"
    gam.write_text(GAM_MEMBERS, encoding="utf-8")
    ok(run(["mailbox", "sync", BOX, str(gam)]))
    assert json.loads(ok(run(["mailbox", "show", BOX, "--json"])).stdout)["members"] == [T1, T2]
    exo = tmp_path / "permissions.csv"
    exo.write_text("\ufeff" + EXO_PERMISSIONS, encoding="utf-8")
    ok(run(["mailbox", "sync", BOX, str(exo)]))
    assert json.loads(ok(run(["mailbox", "show", BOX, "--json"])).stdout)["members"] == [T3]


def test_a_mailbox_export_with_a_bad_row_is_refused_whole(run, base, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(GAM_MEMBERS + f"{BOX},USER,MEMBER,1005,not-an-email,ACTIVE\n", encoding="utf-8")
    refused(run, base, ["mailbox", "sync", BOX, str(bad)], 2, "line 6", "not-an-email")
    other = tmp_path / "other.csv"
    other.write_text(f"group,type,role,id,email,status\nstaff@oak.sch.uk,USER,MEMBER,1,{T1},ACTIVE\n")
    refused(run, base, ["mailbox", "sync", BOX, str(other)], 2, "line 2", "staff@oak.sch.uk")
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("name,address\nTom,t.one@oak.sch.uk\n")
    refused(run, base, ["mailbox", "sync", BOX, str(unknown)], 2, "unrecognised mailbox export")


def test_the_mailbox_exports_match_their_schemas():
    import csv
    import io
    from pathlib import Path

    import jsonschema

    schemas = Path(__file__).resolve().parents[1] / "schemas"
    for text, name in (
        (GAM_MEMBERS, "gam-group-members.schema.json"),
        (EXO_PERMISSIONS.split("\n", 1)[1], "exchange-mailbox-permissions.schema.json"),
    ):
        schema = json.loads((schemas / name).read_text())
        rows = list(csv.DictReader(io.StringIO(text)))
        assert rows
        for row in rows:
            jsonschema.validate(row, schema)
        assert list(jsonschema.Draft202012Validator(schema).iter_errors({}))  # required columns


def test_export_holds_the_ways_in(run, base):
    tool(run)
    ok(run(["account", "update", FB, "--via", TOOL]))
    ok(run(["mailbox", "member", "add", BOX, T2]))
    data = json.loads(ok(run(["export"])).stdout)
    assert problems(validator("register-export.schema.json"), data) == []
    assert {a["id"]: a["via"] for a in data["accounts"]}[FB] == [TOOL]
    assert data["mailboxes"] == [
        {
            "email": BOX,
            "school": "oak",
            "kind": "shared",
            "sign_in": "blocked",
            "created_at": data["mailboxes"][0]["created_at"],
            "members": [T2],
        }
    ]


def test_access_model_changes_are_recorded_in_the_history(run, base):
    ok(run(["account", "update", FB, "--access", "roles"]))
    assert show(run, FB)["access"] == "roles"
    ok(run(["account", "update", FB, "--access", "login", "--aim", "News, notices and celebrations"]))
    data = show(run, FB)
    assert data["access"] == "login" and data["aim"] == "News, notices and celebrations"
    log = json.loads(ok(run(["log", "--account", FB, "--json"])).stdout)
    ways = [e["details"] for e in log if e["action"] == "account.ways"]
    assert [w["access"] for w in ways] == [{"from": "login", "to": "roles"}, {"from": "roles", "to": "login"}]
    refused(run, base, ["account", "update", FB, "--access", "login"], 2, "already has")
