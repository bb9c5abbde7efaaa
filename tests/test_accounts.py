"""Accounts and approvals: request, signed SLT/CEO decisions, activation gate, people, lifecycle, history.

Every refusal is checked for its exit code, one `Error: ...` line on stderr, nothing on stdout and
a register file that is byte-for-byte what it was before.
"""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from accountctl import clock
from accountctl.store.register import open_register
from conftest import CUSTODIAN, HEAD, PASSPHRASE, ok, refused, reuse

T1 = "t.one@oak.sch.uk"
T2 = "t.two@oak.sch.uk"
VOL = "v.helper@oak.sch.uk"  # a volunteer: staff with role volunteer, who may contribute (once trained, an additional admin) but never own an account
T3 = "t.three@oak.sch.uk"
ELM_TEACHER = "e.teacher@elm.sch.uk"
CEO = "ceo@oaktrust.org.uk"
TRUST_SLT = "cfo@oaktrust.org.uk"
TRUST_STAFF = "comms@oaktrust.org.uk"
TRUST_STAFF2 = "events@oaktrust.org.uk"
ID = "oak-facebook-oakprimary"
PASSWORD = b"Correct-Staple-Horse-42!"


# -- helpers --------------------------------------------------------------------------------------
@contextmanager
def underneath(path, write=True):
    """The register's database through the store API, as an attacker with a custodian's passphrase would."""
    with open_register(path, actor=CUSTODIAN, passphrase_source=lambda: PASSPHRASE, write=write) as reg:
        yield reg


def request_argv(**over) -> list[str]:
    """`account request` with every business-case field; keyword overrides (None drops the option)."""
    fields = {
        "school": "oak",
        "platform": "facebook",
        "handle": "oakprimary",
        "url": "https://www.facebook.com/oakprimary",
        "category": "faculty",
        "email": "office@oak.sch.uk",
        "owner": T1,
        "admin": [T2],
        "contributor": [],
        "aim": "News and celebrations for parents",
        "audience": "Parents and carers of Oak pupils",
        "promotion": "Weekly newsletter and the school website",
        "visibility": "open",
        "pupils": "none",
        "access": "login",  # IT holds its password, as before access models
    }
    fields.update(over)
    argv = ["account", "request"]
    for key, value in fields.items():
        if value is None:
            continue
        flag = "--" + key.replace("_", "-")
        for item in value if isinstance(value, (list, tuple)) else [value]:
            argv += [flag, item]
    return argv


def show(run, account_id=ID, who=None) -> dict:
    prefix = ["--as", who] if who else []
    return json.loads(ok(run(prefix + ["account", "show", account_id, "--json"])).stdout)


def log_actions(run, account_id=ID) -> list[str]:
    events = json.loads(ok(run(["log", "--account", account_id, "--json"])).stdout)
    assert events and all(e["account"] == account_id for e in events)
    return [e["action"] for e in events]


def hold_password(run, account_id=ID, who=CUSTODIAN):
    """IT holds the password: piped on stdin to `cred set`, as a technician would in a script."""
    ok(run(["--as", who, "cred", "set", account_id], input=PASSWORD.decode() + "\n"))


def mark_left(run, email, on="2026-01-31"):
    """A leaver, as the custodian records one (a past date: they have left)."""
    ok(run(["staff", "leave", email, "--on", on]))


@pytest.fixture
def world(run, oak, monkeypatch):
    """oak plus a volunteer, a second school (elm), and the headteacher holding a register slot.

    With two slots every command needs an identity: the custodian's by default (ACCOUNTCTL_USER),
    others with --as.
    """
    monkeypatch.setenv("ACCOUNTCTL_USER", CUSTODIAN)

    def build() -> None:
        ok(run(f'staff add {VOL} --name "Val Helper" --school oak --role volunteer --trained-on 2026-09-01'))
        ok(run(f'staff add {T3} --name "Teo Three" --school oak --role staff --trained-on 2026-09-01'))
        ok(run('school add elm --name "Elm Primary" --domain elm.sch.uk'))
        ok(run(f'staff add {ELM_TEACHER} --name "Eve Teacher" --school elm --role staff'))
        ok(run(f"person grant {HEAD} --access register"))

    reuse("accounts-world", oak, build)
    return oak


@pytest.fixture
def trust(run, world):
    """A trust's central team (CEO approves its accounts); the CEO and a central SLT member hold slots."""
    ok(run('school add trust --name "Oak Trust central team" --domain oaktrust.org.uk --central'))
    ok(run(f'staff add {CEO} --name "Cleo Exec" --school trust --role ceo'))
    ok(run(f'staff add {TRUST_SLT} --name "Finn Ance" --school trust --role slt'))
    ok(run(f'staff add {TRUST_STAFF} --name "Cora Comms" --school trust --role staff'))
    ok(run(f'staff add {TRUST_STAFF2} --name "Evan Events" --school trust --role staff'))
    ok(run(f"person grant {CEO} --access register"))
    ok(run(f"person grant {TRUST_SLT} --access register"))
    return world


@pytest.fixture
def requested(run, world):
    assert ok(run(request_argv())).stdout == ID + "\n"
    return world


@pytest.fixture
def approved(run, requested):
    ok(run(["--as", HEAD, "approve", ID, "--note", "Approved at SLT 12 Nov"]))
    return requested


# -- request --------------------------------------------------------------------------------------
def test_request_with_every_field_prints_the_id_alone_and_records_the_business_case(run, world):
    result = ok(run(request_argv(contributor=[VOL], requested_by=HEAD)))
    assert result.stdout == ID + "\n"
    data = show(run)
    assert data["id"] == ID and data["school"] == "oak" and data["platform"] == "facebook"
    assert data["handle"] == "oakprimary" and data["url"] == "https://www.facebook.com/oakprimary"
    assert data["category"] == "faculty" and data["email"] == "office@oak.sch.uk"
    assert data["owner"] == T1 and data["admins"] == [T1, T2] and data["contributors"] == [VOL]
    assert data["aim"] == "News and celebrations for parents"
    assert data["audience"] == "Parents and carers of Oak pupils"
    assert data["promotion"] == "Weekly newsletter and the school website"
    assert data["visibility"] == "open" and data["status"] == "requested"
    assert data["requested_by"] == HEAD and data["approval"] is None and data["legacy"] is False
    assert log_actions(run) == ["account.request"]


def test_request_owner_is_always_an_admin_and_volunteers_and_other_schools_may_only_contribute(run, world):
    # The owner is not given as --admin, yet is one; a volunteer and another school's teacher contribute.
    out = ok(
        run(
            request_argv(
                platform="twitter",
                handle="@OakNews",
                url="https://x.com/OakNews",
                category="staff",
                owner=T2,
                admin=[T3],
                contributor=[T1, VOL, ELM_TEACHER],
                id="oak-news",
            )
        )
    ).stdout
    assert out == "oak-news\n"
    data = show(run, "oak-news")
    assert data["platform"] == "x"  # twitter is an alias of x
    assert data["owner"] == T2 and data["admins"] == [T3, T2] and data["contributors"] == sorted([T1, VOL, ELM_TEACHER])
    assert data["requested_by"] == CUSTODIAN


def test_the_central_teams_staff_may_run_any_schools_account(run, trust):
    ok(run(request_argv(admin=[TRUST_STAFF])))
    assert show(run)["admins"] == [TRUST_STAFF, T1]
    assert json.loads(ok(run("account list --json")).stdout)[0]["admin_count"] == 2


def test_request_default_id_is_school_platform_handle(run, world):
    assert (
        ok(run(request_argv(platform="Instagram", handle="@Oak_PE", url="https://instagram.com/oak_pe"))).stdout
        == "oak-instagram-oak-pe\n"
    )


REQUEST_REFUSALS = [
    ({"school": "nowhere"}, ["school", "nowhere"]),
    ({"platform": "myspace"}, ["platform", "myspace"]),
    ({"admin": []}, ["two admins"]),
    ({"admin": [T1]}, ["two admins"]),  # the owner again is still one admin
    ({"owner": "nobody@oak.sch.uk"}, ["owner", "nobody@oak.sch.uk"]),
    ({"owner": ELM_TEACHER}, ["owner", ELM_TEACHER]),
    ({"owner": "not-an-email"}, ["owner"]),
    ({"admin": ["nobody@oak.sch.uk"]}, ["admin", "nobody@oak.sch.uk"]),
    ({"admin": [ELM_TEACHER]}, ["admin", ELM_TEACHER]),
    ({"owner": VOL}, ["owner", VOL, "volunteer"]),
    ({"admin": [VOL]}, ["two admins", VOL, "volunteer", "does not count"]),  # a trained volunteer never counts
    ({"contributor": ["nobody@oak.sch.uk"]}, ["contributor", "nobody@oak.sch.uk", "not staff"]),
    ({"pupils": "teens"}, ["--pupils", "teens"]),
    ({"pupils": "8-9"}, ["--pupils", "8-9"]),
    ({"pupils": "2"}, ["--pupils", "3 to 19"]),
    ({"pupils": "20"}, ["--pupils", "3 to 19"]),
    ({"pupils": ""}, ["--pupils"]),
    ({"parents_informed_on": "last week"}, ["--parents-informed-on"]),
    ({"parents_informed_on": "2999-09-01"}, ["--parents-informed-on", "future"]),
    ({"email": "office@elm.sch.uk"}, ["linked email", "office@elm.sch.uk"]),
    ({"email": "oakprimary@gmail.com"}, ["linked email", "personal"]),
    ({"email": "office.oak.sch.uk"}, ["linked email"]),
    ({"url": "ftp://files.oak.sch.uk/oakprimary"}, ["url"]),
    ({"url": "javascript:alert(1)"}, ["url"]),
    ({"url": "www.facebook.com/oakprimary"}, ["url"]),
    ({"url": "https://"}, ["url"]),
    ({"url": "https://[oak.sch.uk/news"}, ["url"]),
    ({"url": "https://www.facebook.com/oak\tprimary"}, ["url"]),
    ({"url": "https://www.facebook.com/oak\nprimary"}, ["url"]),
    ({"handle": "oak primary"}, ["handle"]),
    ({"handle": " "}, ["handle"]),
    ({"category": "department"}, ["category"]),
    ({"visibility": "secret"}, ["visibility"]),
    ({"aim": "  "}, ["aim"]),
    ({"audience": ""}, ["audience"]),
    ({"promotion": " "}, ["promotion"]),
    ({"requested_by": "stranger@example.org"}, ["requested-by"]),
    ({"id": "Oak Facebook!"}, ["account id"]),
]


def test_request_refusals_name_the_field_and_change_nothing(run, world):
    """One register for every case (each is refused, so none changes it); failures are reported together."""
    failures = []
    for over, words in REQUEST_REFUSALS:
        try:
            refused(run, world, request_argv(**over), 2, *words)
        except AssertionError as exc:
            failures.append(f"{over}: {exc}")
    assert not failures, "\n\n".join(failures)
    assert json.loads(ok(run("account list --json")).stdout) == []


def test_request_refuses_a_leaver_as_owner_admin_or_contributor(run, world):
    mark_left(run, T2)
    refused(run, world, request_argv(admin=[T2, T3]), 2, "admin", T2, "left")
    refused(run, world, request_argv(owner=T2, admin=[T1]), 2, "owner", T2, "left")
    refused(run, world, request_argv(admin=[T3], contributor=[T2]), 2, "contributor", T2, "left")


def test_request_refuses_the_same_school_platform_and_handle_twice(run, requested):
    path = requested
    refused(run, path, request_argv(id="oak-fb-2"), 2, "oak", "oakprimary")
    refused(run, path, request_argv(handle="@OakPrimary", id="oak-fb-3"), 2, "oakprimary")  # @ and case do not matter
    refused(run, path, request_argv(handle="another", url="https://facebook.com/another", id=ID), 2, ID, "exists")
    # same handle on x, asked for as twitter the second time
    ok(run(request_argv(platform="x", handle="oaknews", url="https://x.com/oaknews")))
    refused(
        run,
        path,
        request_argv(platform="twitter", handle="OakNews", url="https://x.com/oaknews", id="oak-tw"),
        2,
        "oaknews",
    )
    # another school may have the same handle
    ok(run(["staff", "add", "e.two@elm.sch.uk", "--name", "Ed Two", "--school", "elm"]))
    assert (
        ok(
            run(request_argv(school="elm", email="office@elm.sch.uk", owner=ELM_TEACHER, admin=["e.two@elm.sch.uk"]))
        ).stdout
        == "elm-facebook-oakprimary\n"
    )


# -- approve / reject: who may decide -------------------------------------------------------------
def test_headteacher_approves_with_an_ed25519_signature_that_verifies(run, requested):
    ok(run(["--as", HEAD, "approve", ID, "--note", "Approved at SLT 12 Nov"]))
    data = show(run)
    assert data["status"] == "approved"
    assert data["approval"]["decision"] == "approved" and data["approval"]["approver"] == HEAD
    assert data["approval"]["note"] == "Approved at SLT 12 Nov" and data["approval"]["current"] is True
    with underneath(requested, write=False) as reg:
        row = dict(reg.db.execute("SELECT * FROM approvals WHERE account = ?", (ID,)).fetchone())
        key = reg.membership.current_key(HEAD)  # the key the head's signed grant names
    assert row["public_key"] == key
    Ed25519PublicKey.from_public_bytes(key).verify(row["signature"], row["payload"].encode("utf-8"))  # raises if bad
    payload = json.loads(row["payload"])
    assert payload["account"] == ID and payload["approver"] == HEAD and payload["decision"] == "approved"
    assert payload["case"]["aim"] == "News and celebrations for parents"
    assert payload["people"] == {"owner": T1, "admins": [T1, T2], "contributors": []}
    result = ok(run("verify --json"))
    assert json.loads(result.stdout)["ok"] is True and json.loads(result.stdout)["approvals"] == 1
    # the table view shows the approver, time and note
    table = ok(run(["account", "show", ID])).stdout
    assert "approved by head@oak.sch.uk" in table and "Approved at SLT 12 Nov" in table


def test_slt_member_rejects_with_a_reason(run, requested):
    ok(run('staff add d.slt@oak.sch.uk --name "Dee Deputy" --school oak --role slt'))
    ok(run("person grant d.slt@oak.sch.uk --access register"))
    ok(run(["--as", "d.slt@oak.sch.uk", "reject", ID, "--reason", "No second admin trained yet"]))
    data = show(run)
    assert data["status"] == "rejected"
    assert data["approval"]["decision"] == "rejected" and data["approval"]["note"] == "No second admin trained yet"
    assert ok(run("verify")).exit_code == 0
    assert log_actions(run) == ["account.request", "account.reject"]


def test_ceo_from_the_central_team_approves_a_school_account(run, trust):
    ok(run(request_argv()))
    ok(run(["--as", CEO, "approve", ID, "--note", "CEO approval"]))
    data = show(run)
    assert data["status"] == "approved" and data["approval"]["approver"] == CEO
    assert ok(run("verify")).exit_code == 0


def test_ceo_of_another_school_approves(run, world):
    ok(run('staff add boss@elm.sch.uk --name "Bo Boss" --school elm --role ceo'))
    ok(run("person grant boss@elm.sch.uk --access register"))
    ok(run(request_argv()))
    ok(run(["--as", "boss@elm.sch.uk", "approve", ID]))
    assert show(run)["approval"]["approver"] == "boss@elm.sch.uk"


def test_only_the_ceo_decides_for_a_central_school(run, trust):
    argv = request_argv(
        school="trust",
        handle="oaktrust",
        url="https://www.facebook.com/oaktrust",
        email="comms@oaktrust.org.uk",
        owner=TRUST_STAFF,
        admin=[TRUST_STAFF2],
    )
    assert ok(run(argv)).stdout == "trust-facebook-oaktrust\n"
    refused(run, trust, ["--as", TRUST_SLT, "approve", "trust-facebook-oaktrust"], 3, "ceo")
    refused(run, trust, ["--as", TRUST_SLT, "reject", "trust-facebook-oaktrust", "--reason", "no"], 3, "ceo")
    refused(run, trust, ["--as", HEAD, "approve", "trust-facebook-oaktrust"], 3, "ceo")
    ok(run(["--as", CEO, "approve", "trust-facebook-oaktrust"]))
    assert show(run, "trust-facebook-oaktrust")["status"] == "approved"
    assert ok(run("verify")).exit_code == 0


@pytest.mark.parametrize("who", [T1, CUSTODIAN, "e.head@elm.sch.uk", VOL])
def test_anyone_but_slt_head_or_ceo_gets_exit_3(run, requested, who):
    if who == "e.head@elm.sch.uk":  # SLT, but of another school
        ok(run(f'staff add {who} --name "Ezra Head" --school elm --role headteacher --role slt'))
    if who != CUSTODIAN:
        ok(run(f"person grant {who} --access register"))
    refused(run, requested, ["--as", who, "approve", ID], 3)
    refused(run, requested, ["--as", who, "reject", ID, "--reason", "Not needed"], 3)
    assert show(run)["status"] == "requested"


def test_a_person_without_a_slot_cannot_decide(run, requested):
    refused(run, requested, ["--as", T1, "approve", ID], 3, T1)


def test_requester_cannot_approve_their_own_request(run, world):
    ok(run(request_argv(requested_by=HEAD)))
    refused(run, world, ["--as", HEAD, "approve", ID], 2, "you requested")
    refused(run, world, ["--as", HEAD, "reject", ID, "--reason", "changed my mind"], 2, "you requested")
    # the headteacher asking for it themselves, as anyone with access may
    ok(run(["--as", HEAD] + request_argv(platform="instagram", handle="oakpe", url="https://instagram.com/oakpe")))
    assert show(run, "oak-instagram-oakpe")["requested_by"] == HEAD
    refused(run, world, ["--as", HEAD, "approve", "oak-instagram-oakpe"], 2, "you requested")


def test_deciding_twice_is_refused(run, approved):
    refused(run, approved, ["--as", HEAD, "approve", ID], 2, "already approved")
    refused(run, approved, ["--as", HEAD, "reject", ID, "--reason", "second thoughts"], 2, "already approved")


def test_rejecting_twice_is_refused(run, requested):
    ok(run(["--as", HEAD, "reject", ID, "--reason", "Needs a clearer aim"]))
    refused(run, requested, ["--as", HEAD, "reject", ID, "--reason", "Still no"], 2, "already rejected")


def test_deciding_a_closed_account_is_refused(run, requested):
    ok(run(["account", "close", ID, "--reason", "Request withdrawn"]))
    refused(run, requested, ["--as", HEAD, "approve", ID], 2, "closed")
    refused(run, requested, ["--as", HEAD, "reject", ID, "--reason", "x"], 2, "closed")


def test_deciding_an_unknown_account_is_refused(run, world):
    refused(run, world, ["--as", HEAD, "approve", "oak-nothing"], 2, "oak-nothing")


# -- tampering underneath -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "sql, words",
    [
        ("UPDATE approvals SET note = 'Approved at governors'", ["note"]),
        ("UPDATE approvals SET payload = replace(payload, 'News and celebrations', 'Adverts')", ["signature"]),
        ("UPDATE approvals SET approver = 't.one@oak.sch.uk'", ["approver"]),
        ("UPDATE approvals SET signature = zeroblob(64)", ["signature"]),
        ("UPDATE accounts SET aim = 'Selling uniform second hand'", [ID, "business case"]),
        ("UPDATE accounts SET email = 'oakprimary@oak.sch.uk'", [ID, "business case"]),
        ("UPDATE accounts SET owner = 't.two@oak.sch.uk'", [ID, "business case"]),
        (
            "INSERT INTO account_people(account, email, role, added_at) "
            "VALUES ('oak-facebook-oakprimary', 'v.helper@oak.sch.uk', 'admin', '2026-01-01T00:00:00Z')",
            [ID],
        ),
    ],
)
def test_verify_detects_approvals_and_business_cases_altered_underneath(run, approved, sql, words):
    assert ok(run("verify")).exit_code == 0
    with underneath(approved) as reg:
        assert reg.db.execute(sql).rowcount == 1
    result = run("verify --json")
    assert result.exit_code == 1, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["problems"]
    text = " ".join(report["problems"]).lower()
    for word in words:
        assert word.lower() in text
    assert run("verify").exit_code == 1  # the table form too


def test_an_altered_approval_no_longer_counts_for_activation(run, approved):
    ok(run(["account", "notify-head", ID]))
    hold_password(run)
    with underneath(approved) as reg:
        reg.db.execute("UPDATE accounts SET aim = 'Selling uniform second hand'")
    assert show(run)["approval"]["current"] is False
    refused(run, approved, ["account", "activate", ID], 2, "approv")


def test_a_legitimate_change_keeps_verify_green_but_needs_a_new_approval(run, approved):
    ok(run(["account", "admin", "add", ID, T3]))
    assert ok(run("verify")).exit_code == 0  # a recorded change is not tampering
    data = show(run)
    assert data["approval"]["current"] is False and T3 in data["admins"]
    ok(run(["account", "notify-head", ID]))
    hold_password(run)
    refused(run, approved, ["account", "activate", ID], 2, "new approval")
    # SLT approves the changed case: now it is a new decision, not "deciding twice"
    ok(run(["--as", HEAD, "approve", ID, "--note", "Teo added"]))
    assert show(run)["approval"]["current"] is True
    ok(run(["account", "activate", ID]))
    assert show(run)["status"] == "active"
    assert ok(run("verify")).exit_code == 0


# -- activation -----------------------------------------------------------------------------------
def test_full_path_as_it_and_the_headteacher_type_it(run, oak):
    """Request -> approve -> notify-head -> IT holds the password -> activate; every command names its user."""
    it = ["--as", CUSTODIAN]
    ok(run(f"person grant {HEAD} --access register"))
    result = ok(
        run(
            it
            + [
                "account",
                "request",
                "--school",
                "oak",
                "--platform",
                "facebook",
                "--access",
                "login",
                "--handle",
                "oakprimary",
                "--url",
                "https://www.facebook.com/oakprimary",
                "--category",
                "faculty",
                "--email",
                "office@oak.sch.uk",
                "--owner",
                T1,
                "--admin",
                T2,
                "--aim",
                "News and celebrations for parents",
                "--audience",
                "Parents and carers",
                "--promotion",
                "Newsletter",
                "--visibility",
                "open",
                "--pupils",
                "none",
            ]
        )
    )
    account_id = result.stdout.strip()
    assert result.stdout == f"{account_id}\n" and account_id == ID
    ok(run(["--as", HEAD, "account", "show", account_id]))  # the head reads the business case first
    ok(run(["--as", HEAD, "approve", account_id, "--note", "Approved at SLT 12 Nov"]))
    ok(run(it + ["account", "notify-head", account_id]))
    hold_password(run, account_id)
    ok(run(it + ["account", "activate", account_id]))
    data = json.loads(ok(run(it + ["account", "show", account_id, "--json"])).stdout)
    assert data["status"] == "active" and data["credentials_held"] is True
    assert data["head_notified_on"] == clock.today().isoformat() and data["activated_on"] == clock.today().isoformat()
    assert data["approval"]["approver"] == HEAD and data["approval"]["current"] is True
    events = json.loads(ok(run(it + ["log", "--account", account_id, "--json"])).stdout)
    assert all(e["account"] == account_id for e in events)
    steps = [
        e["action"]
        for e in events
        if e["action"] in ("account.request", "account.approve", "account.notify-head", "account.activate")
    ]
    assert steps == ["account.request", "account.approve", "account.notify-head", "account.activate"]
    assert [e["actor"] for e in events if e["action"] == "account.approve"] == [HEAD]
    assert all(PASSWORD.decode() not in json.dumps(e) for e in events)
    assert ok(run(it + ["verify"])).exit_code == 0


def test_activate_names_every_missing_step(run, world, tmp_path):
    # A legacy "approved" account with no approval, one admin, a personal email: everything is missing.
    csv_file = tmp_path / "legacy.csv"
    csv_file.write_text(
        "id,school,platform,handle,url,category,email,owner,admins,contributors,status\n"
        f"oak-fb-old,oak,instagram,oakold,https://instagram.com/oakold,faculty,oakpta@gmail.com,{T1},,,"
        "approved\n",
        encoding="utf-8",
    )
    ok(run(["account", "import", str(csv_file)]))
    message = refused(run, world, ["account", "activate", "oak-fb-old"], 2)
    for step in (
        "not approved",
        "headteacher not notified",
        "fewer than two eligible admins",
        "linked email oakpta@gmail.com is not on a school domain",
        "does not hold the password",
    ):
        assert step in message, f"{step!r} missing from {message!r}"


def test_activate_of_a_request_names_the_missing_steps(run, requested):
    message = refused(run, requested, ["account", "activate", ID], 2)
    for step in ("not approved", "headteacher not notified", "does not hold the password"):
        assert step in message, f"{step!r} missing from {message!r}"
    assert "eligible admins" not in message and "linked email" not in message


def test_activate_of_an_approved_account_names_only_what_is_left(run, approved):
    message = refused(run, approved, ["account", "activate", ID], 2, "headteacher not notified", "password")
    assert "not approved" not in message and "admins" not in message and "linked email" not in message
    ok(run(["account", "notify-head", ID]))
    message = refused(run, approved, ["account", "activate", ID], 2, "password")
    assert "headteacher" not in message
    hold_password(run)
    mark_left(run, T2)  # an admin leaves before go-live: only one active admin
    refused(run, approved, ["account", "activate", ID], 2, "fewer than two eligible admins (1)")


def test_activate_and_notify_head_are_for_custodians(run, approved):
    refused(run, approved, ["--as", HEAD, "account", "notify-head", ID], 3, "custodian")
    refused(run, approved, ["--as", HEAD, "account", "activate", ID], 3, "custodian")


def test_notify_head_dates(run, approved):
    refused(run, approved, ["account", "notify-head", ID, "--on", "2999-01-01"], 2, "future")
    refused(run, approved, ["account", "notify-head", ID, "--on", "20/11/2026"], 2, "--on")
    refused(run, approved, ["account", "notify-head", ID, "--on", "2026-02-30"], 2, "--on")
    refused(run, approved, ["account", "notify-head", "oak-nothing"], 2, "oak-nothing")
    ok(run(["account", "notify-head", ID, "--on", "2026-01-15"]))
    assert show(run)["head_notified_on"] == "2026-01-15"


def test_activate_refuses_active_or_closed_accounts(run, approved):
    ok(run(["account", "notify-head", ID]))
    hold_password(run)
    ok(run(["account", "activate", ID]))
    refused(run, approved, ["account", "activate", ID], 2, "active")
    ok(run(["account", "close", ID, "--reason", "Replaced by the trust account"]))
    refused(run, approved, ["account", "activate", ID], 2, "closed")


# -- show / list ----------------------------------------------------------------------------------
@pytest.fixture
def many(run, world, tmp_path):
    rows = [
        f"oak-fb,oak,facebook,oakprimary,https://facebook.com/oakprimary,faculty,office@oak.sch.uk,{T1},{T2},,active",
        f"oak-x,oak,twitter,oaknews,https://x.com/oaknews,faculty,office@oak.sch.uk,{T1},{T2},,requested",
        f"oak-ig,oak,instagram,oakpe,https://instagram.com/oakpe,staff,pe@oak.sch.uk,{T2},{T1},,suspended",
        f"elm-fb,elm,facebook,elmprimary,https://facebook.com/elmprimary,faculty,office@elm.sch.uk,{ELM_TEACHER},,,active",
        f"elm-x,elm,x,elmnews,https://x.com/elmnews,faculty,office@elm.sch.uk,{ELM_TEACHER},,,closed",
    ]
    path = tmp_path / "accounts.csv"
    path.write_text(
        "id,school,platform,handle,url,category,email,owner,admins,contributors,status\n" + "\n".join(rows) + "\n",
        encoding="utf-8",
    )
    ok(run(["account", "import", str(path)]))
    return world


@pytest.mark.parametrize(
    "filters, expected",
    [
        ([], ["elm-fb", "elm-x", "oak-fb", "oak-ig", "oak-x"]),
        (["--school", "oak"], ["oak-fb", "oak-ig", "oak-x"]),
        (["--school", "ELM"], ["elm-fb", "elm-x"]),
        (["--status", "active"], ["elm-fb", "oak-fb"]),
        (["--platform", "twitter"], ["elm-x", "oak-x"]),
        (["--platform", "x", "--school", "elm"], ["elm-x"]),
        (["--school", "oak", "--status", "suspended", "--platform", "instagram"], ["oak-ig"]),
        (["--school", "oak", "--status", "closed"], []),
    ],
)
def test_list_filters(run, many, filters, expected):
    rows = json.loads(ok(run(["account", "list", "--json"] + filters)).stdout)
    assert [r["id"] for r in rows] == expected


def test_list_formats(run, many):
    rows = json.loads(ok(run("account list --json --school oak")).stdout)
    oak_fb = next(r for r in rows if r["id"] == "oak-fb")
    assert oak_fb["admin_count"] == 2 and oak_fb["owner"] == T1 and oak_fb["platform"] == "facebook"
    lines = ok(run("account list --format csv --status active")).stdout.splitlines()
    assert lines[0] == "id,school,platform,handle,category,status,owner,admin_count,email"
    assert [line.split(",")[0] for line in lines[1:]] == ["elm-fb", "oak-fb"]
    table = ok(run("account list --school elm")).stdout
    assert "elm-fb" in table and "elm-x" in table and "oak-fb" not in table


@pytest.mark.parametrize(
    "filters, word",
    [(["--status", "live"], "status"), (["--school", "nowhere"], "school"), (["--platform", "myspace"], "platform")],
)
def test_list_refuses_unknown_filters(run, many, filters, word):
    refused(run, many, ["account", "list"] + filters, 2, word)


def test_show_unknown_account(run, world):
    refused(run, world, ["account", "show", "oak-nothing", "--json"], 2, "oak-nothing")


def test_show_formats(run, approved):
    csv_out = ok(run(["account", "show", ID, "--format", "csv"])).stdout.splitlines()
    assert csv_out[0].startswith("id,school,platform,handle,url") and csv_out[1].startswith(ID + ",oak,facebook")
    assert show(run, who=HEAD)["aim"] == "News and celebrations for parents"  # SLT reads the business case


# -- people ---------------------------------------------------------------------------------------
def test_admin_remove_refusals_then_success_after_a_replacement(run, requested):
    refused(run, requested, ["account", "admin", "remove", ID, T1], 2, "owns", "transfer")
    refused(run, requested, ["account", "admin", "remove", ID, T2], 2, "fewer than two eligible admins")
    refused(run, requested, ["account", "admin", "remove", ID, T3], 2, "not an admin")
    refused(run, requested, ["--as", HEAD, "account", "admin", "remove", ID, T2], 3, "custodian")
    ok(run(["account", "admin", "add", ID, T3]))
    ok(run(["account", "admin", "remove", ID, T2.upper()]))
    data = show(run)
    assert data["admins"] == [T1, T3] and data["owner"] == T1
    refused(run, requested, ["account", "admin", "remove", ID, T3], 2, "fewer than two eligible admins")


def test_admin_remove_counts_only_active_admins(run, requested):
    ok(run(["account", "admin", "add", ID, HEAD]))
    mark_left(run, T2)
    # three admins listed, but T2 has left: removing the head would leave one active admin
    refused(run, requested, ["account", "admin", "remove", ID, HEAD], 2, "fewer than two eligible admins")
    ok(run(["account", "admin", "remove", ID, T2]))  # removing the leaver is always fine
    assert show(run)["admins"] == [HEAD, T1]


def test_admin_add_refusals(run, requested):
    refused(run, requested, ["account", "admin", "add", ID, T2], 2, "already an admin")
    refused(run, requested, ["account", "admin", "add", ID, ELM_TEACHER], 2, ELM_TEACHER)
    refused(run, requested, ["account", "admin", "add", ID, "nobody@oak.sch.uk"], 2, "nobody@oak.sch.uk")
    refused(run, requested, ["account", "admin", "add", ID, "not-an-email"], 2, "admin")
    refused(run, requested, ["account", "admin", "add", "oak-nothing", T3], 2, "oak-nothing")
    mark_left(run, T3)
    refused(run, requested, ["account", "admin", "add", ID, T3], 2, "left")


def test_contributors_add_and_remove(run, requested):
    ok(run(["account", "contributor", "add", ID, VOL]))
    assert show(run)["contributors"] == [VOL]
    refused(run, requested, ["account", "contributor", "add", ID, VOL], 2, "already a")
    refused(run, requested, ["account", "contributor", "add", ID, T2], 2, "already an admin")
    refused(run, requested, ["account", "contributor", "add", ID, "nobody@oak.sch.uk"], 2, "not staff")
    refused(run, requested, ["account", "contributor", "remove", ID, HEAD], 2, "not a")
    ok(run(["account", "contributor", "add", ID, ELM_TEACHER]))  # another school's staff may contribute
    ok(run(["account", "contributor", "remove", ID, ELM_TEACHER]))
    ok(run(["account", "contributor", "remove", ID, VOL]))
    assert show(run)["contributors"] == []
    # promoting a contributor to admin leaves them in one role only
    ok(run(["account", "contributor", "add", ID, HEAD]))
    ok(run(["account", "admin", "add", ID, HEAD]))
    data = show(run)
    assert HEAD in data["admins"] and data["contributors"] == []


def test_transfer_makes_the_new_owner_an_admin(run, requested):
    ok(run(["account", "transfer", ID, "--to", HEAD, "--reason", "Tom leaves at Christmas"]))
    data = show(run)
    assert data["owner"] == HEAD and data["admins"] == [HEAD, T1, T2]
    ok(run(["account", "transfer", ID, "--to", T3, "--remove-old"]))
    data = show(run)
    assert data["owner"] == T3 and data["admins"] == [T1, T3, T2]
    events = json.loads(ok(run(["log", "--account", ID, "--json"])).stdout)
    transfers = [e["details"] for e in events if e["action"] == "account.transfer"]
    assert transfers[0]["from"] == T1 and transfers[0]["to"] == HEAD
    assert transfers[0]["reason"] == "Tom leaves at Christmas"
    assert transfers[1]["from"] == HEAD and transfers[1]["old_owner_removed"] is True


def test_a_transfer_to_an_upcoming_leaver_says_so_at_once(run, requested):
    ok(run(["staff", "leave", T3, "--on", "2099-07-31"]))
    result = ok(run(["account", "transfer", ID, "--to", T3]))
    assert f"Note: {T3} leaves on 2099-07-31" in result.stderr and "LEAVER_OWNER" in result.stderr
    assert "leaves on" not in ok(run(["account", "transfer", ID, "--to", HEAD])).stderr


def test_transfer_from_a_leaver_with_remove_old(run, requested):
    mark_left(run, T1)
    ok(run(["account", "transfer", ID, "--to", HEAD, "--remove-old", "--reason", "Tom has left"]))
    data = show(run)
    assert data["owner"] == HEAD and data["admins"] == [HEAD, T2]


def test_transfer_refusals(run, requested):
    path = requested
    refused(run, path, ["account", "transfer", ID, "--to", ELM_TEACHER], 2, "new owner", ELM_TEACHER, "elm")
    refused(run, path, ["account", "transfer", ID, "--to", "nobody@oak.sch.uk"], 2, "new owner")
    refused(run, path, ["account", "transfer", ID, "--to", "nobody"], 2, "new owner")
    refused(run, path, ["account", "transfer", ID, "--to", T1], 2, "already owns")
    refused(run, path, ["account", "transfer", "oak-nothing", "--to", HEAD], 2, "oak-nothing")
    # T2 is already the other admin: dropping T1 would leave one active admin
    refused(run, path, ["account", "transfer", ID, "--to", T2, "--remove-old"], 2, "fewer than two eligible admins")
    refused(run, path, ["--as", HEAD, "account", "transfer", ID, "--to", HEAD], 3, "custodian")
    refused(run, path, ["account", "transfer", ID, "--to", VOL], 2, "new owner", "volunteer")
    mark_left(run, T3)
    refused(run, path, ["account", "transfer", ID, "--to", T3], 2, "new owner", "left")
    assert show(run)["owner"] == T1


# -- lifecycle ------------------------------------------------------------------------------------
def test_suspend_and_close(run, approved):
    refused(run, approved, ["account", "suspend", ID, "--reason", " "], 2, "reason")
    ok(run(["account", "suspend", ID, "--reason", "Parent complaint under investigation"]))
    data = show(run)
    assert data["status"] == "suspended" and data["status_reason"] == "Parent complaint under investigation"
    refused(run, approved, ["account", "suspend", ID, "--reason", "again"], 2, "suspended")
    ok(run(["account", "close", ID, "--reason", "Merged into the trust account"]))
    data = show(run)
    assert data["status"] == "closed" and data["status_reason"] == "Merged into the trust account"
    refused(run, approved, ["account", "close", ID, "--reason", "again"], 2, "closed")
    refused(run, approved, ["account", "suspend", ID, "--reason", "again"], 2, "closed")
    refused(run, approved, ["account", "admin", "add", ID, VOL], 2, "closed")
    refused(run, approved, ["account", "transfer", ID, "--to", HEAD], 2, "closed")
    refused(run, approved, ["--as", HEAD, "approve", ID], 2, "closed")
    refused(run, approved, ["--as", HEAD, "account", "close", ID, "--reason", "x"], 3, "custodian")
    assert log_actions(run)[-2:] == ["account.suspend", "account.close"]


def test_suspend_refuses_a_request_that_was_never_approved(run, requested):
    refused(run, requested, ["account", "suspend", ID, "--reason", "Not yet"], 2, "requested")


def test_reactivating_a_suspended_account_goes_through_the_gate(run, approved):
    ok(run(["account", "notify-head", ID]))
    hold_password(run)
    ok(run(["account", "activate", ID]))
    ok(run(["account", "suspend", ID, "--reason", "Investigation"]))
    ok(run(["account", "activate", ID]))
    assert show(run)["status"] == "active"


# -- history --------------------------------------------------------------------------------------
def test_every_change_is_an_event_carrying_the_account_id(run, requested):
    other = ok(
        run(request_argv(platform="instagram", handle="oakpe", url="https://instagram.com/oakpe"))
    ).stdout.strip()
    ok(run(["account", "contributor", "add", ID, VOL]))
    ok(run(["account", "contributor", "remove", ID, VOL]))
    ok(run(["account", "admin", "add", ID, HEAD]))
    ok(run(["account", "admin", "remove", ID, T2]))
    ok(run(["account", "transfer", ID, "--to", T2, "--reason", "New lead"]))
    ok(run(["--as", HEAD, "approve", ID]))
    ok(run(["account", "notify-head", ID]))
    ok(run(["account", "suspend", ID, "--reason", "Half-term pause"]))
    ok(run(["account", "close", ID, "--reason", "No longer needed"]))
    assert log_actions(run) == [
        "account.request",
        "account.contributor.add",
        "account.contributor.remove",
        "account.admin.add",
        "account.admin.remove",
        "account.transfer",
        "account.approve",
        "account.notify-head",
        "account.suspend",
        "account.close",
    ]
    assert log_actions(run, other) == ["account.request"]
    assert ok(run("verify")).exit_code == 0


def test_account_update_fixes_a_personal_email_and_needs_a_new_approval(run, oak):
    import json

    legacy = oak.parent / "legacy.csv"
    legacy.write_text(
        "id,school,platform,handle,url,category,email,owner,admins,contributors,status\n"
        ",oak,facebook,oakpta,https://facebook.com/oakpta,faculty,oakpta@gmail.com,t.one@oak.sch.uk,"
        "t.two@oak.sch.uk,,active\n"
    )
    ok(run(f"account import {legacy}"))

    def rules():
        report = json.loads(run("audit --json --rule SCHOOL_EMAIL --rule CHANGED_SINCE_APPROVAL").stdout)
        return {f["rule"] for f in report["findings"]}

    assert rules() == {"SCHOOL_EMAIL"}
    before = oak.read_bytes()
    for bad in (
        "--email pta@gmail.com",
        "--email pta@elsewhere.sch.uk",
        "--url ftp://x",
        "",
        "--email oakpta@gmail.com",
    ):
        result = run(f"account update oak-facebook-oakpta {bad}")
        assert result.exit_code == 2 and result.stderr.startswith("Error: "), bad
    assert oak.read_bytes() == before
    ok(run("account update oak-facebook-oakpta --email pta@oak.sch.uk"))
    assert rules() == set()
    shown = json.loads(ok(run("account show oak-facebook-oakpta --json")).stdout)
    assert shown["email"] == "pta@oak.sch.uk"
    ok(run("verify"))
    events = json.loads(ok(run("log --account oak-facebook-oakpta --json")).stdout)
    assert events[-1]["action"] == "account.update"
    assert events[-1]["details"]["email"] == {"from": "oakpta@gmail.com", "to": "pta@oak.sch.uk"}
