"""Leavers, movers and `offboard`: what a person holds, what is outstanding, the command that closes
each item, exit codes, the JSON schema, CSV, and the HR example script in docs/examples/.

Dates are driven by ACCOUNTCTL_TODAY: set-up on D1, the leaving on D2, and every later step on a
later day, so "set after their access ended" never depends on which second a command ran in.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from conftest import CUSTODIAN, HEAD, PASSPHRASE, ok, refused, reuse

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "schemas" / "offboard.schema.json").read_text(encoding="utf-8"))
SCRIPT = ROOT / "docs" / "examples" / "offboarding-check.py"
ITEM_COLUMNS = ["kind", "account", "school", "field", "set_at", "outstanding", "step", "command"]

T1 = "t.one@oak.sch.uk"
T2 = "t.two@oak.sch.uk"
T3 = "t.three@oak.sch.uk"
E1 = "e.one@elm.sch.uk"
FB = "oak-facebook-oakprimary"  # owner T1, admins T2 T3
IG = "oak-instagram-oakpe"  # owner T2, admins T1 T3
XM = "oak-x-oakmusic"  # owner T2, admin T3, contributor T1
ELM = "elm-youtube-elmchoir"
TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
TOTP2 = "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"
HOSTS = {"bluesky": "bsky.app/profile"}  # where a platform's pages are not www.PLATFORM.com
D1, D2, D3, D4, D5 = "2030-03-01", "2030-03-02", "2030-03-03", "2030-03-04", "2030-03-05"

# What T1 holds in `world`: (kind, account, field).
T1_HOLDINGS = {
    ("owner", FB, None),
    ("admin", FB, None),
    ("admin", IG, None),
    ("contributor", XM, None),
    ("credential", FB, "password"),
    ("credential", FB, "totp"),
    ("credential", FB, "recovery"),
    ("credential", IG, "password"),
    ("credential", IG, "totp"),
}
ALL_CREDENTIALS = {
    ("credential", FB, "password"),
    ("credential", FB, "totp"),
    ("credential", FB, "recovery"),
    ("credential", IG, "password"),
    ("credential", IG, "totp"),
    ("credential", XM, "password"),
}


# -- helpers --------------------------------------------------------------------------------------
@pytest.fixture
def day(monkeypatch):
    """Set the tool's date: day("2030-03-02")."""

    def set_day(value: str) -> None:
        monkeypatch.setenv("ACCOUNTCTL_TODAY", value)

    set_day(D1)
    return set_day


def request(run, account_id, platform, handle, owner, admins, contributors=(), school="oak", category="faculty"):
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
        f"https://{HOSTS.get(platform, f'www.{platform}.com')}/{handle}",  # on the platform's own host
        "--category",
        category,
        "--email",
        f"office@{school}.sch.uk",
        "--owner",
        owner,
        "--aim",
        "News for parents",
        "--audience",
        "Parents",
        "--promotion",
        "Newsletter",
        "--visibility",
        "open",
        "--pupils",
        "none",
    ]
    for a in admins:
        argv += ["--admin", a]
    for c in contributors:
        argv += ["--contributor", c]
    assert ok(run(argv)).stdout.strip() == account_id


@pytest.fixture
def world(day, run, oak, monkeypatch, register_path):
    """oak on D1: three approved accounts with credentials; head has a register slot (so --as is needed)."""
    monkeypatch.setenv("ACCOUNTCTL_USER", CUSTODIAN)

    def build() -> None:
        # T3 also works in IT, so that tests can make them a custodian (vault access needs the it role).
        ok(run(f'staff add {T3} --name "Tad Three" --school oak --role staff --role it --trained-on 2026-09-01'))
        request(run, FB, "facebook", "oakprimary", T1, [T2, T3])
        request(run, IG, "instagram", "oakpe", T2, [T1, T3], category="staff")
        request(run, XM, "x", "oakmusic", T2, [T3], [T1])
        ok(run(f"cred set {FB} --username office@oak.sch.uk", input="Fb-first-Password-01!\n"))
        ok(run(f"cred totp {FB}", input=TOTP + "\n"))
        ok(run(f"cred recovery {FB}", input="rc-1111-aaaa\nrc-2222-bbbb\n"))
        ok(run(f"cred set {IG}", input="Ig-first-Password-02!\n"))
        ok(run(f"cred totp {IG}", input=TOTP + "\n"))
        ok(run(f"cred set {XM}", input="Xm-first-Password-03!\n"))
        ok(run(f"person grant {HEAD} --access register"))
        for account_id in (FB, IG, XM):
            ok(run(["--as", HEAD, "approve", account_id, "--note", "SLT meeting"]))

    reuse("offboarding-world", register_path, build)
    return oak


def board(run, email, code, *extra) -> dict:
    """`offboard EMAIL --format json`, checked against the schema and the exit code."""
    result = ok(run(["offboard", email, "--format", "json", *extra]), code)
    data = json.loads(result.stdout)
    jsonschema.validate(data, SCHEMA)
    assert data["holdings"] == len(data["items"])
    assert data["outstanding"] == sum(1 for i in data["items"] if i["outstanding"])
    return data


def keys(data, outstanding=True) -> set:
    return {(i["kind"], i["account"], i["field"]) for i in data["items"] if i["outstanding"] == outstanding}


def item(data, kind, account, field=None) -> dict:
    found = [i for i in data["items"] if (i["kind"], i["account"], i["field"]) == (kind, account, field)]
    assert len(found) == 1, (kind, account, field, data["items"])
    return found[0]


def close(run, entry: dict, new_owner: str = T2) -> None:
    """Run the exact command an item names (EMAIL replaced by the new owner), giving fresh secrets on stdin."""
    argv = shlex.split(entry["command"])
    assert argv[0] == "accountctl"
    argv = [new_owner if a == "EMAIL" else a for a in argv[1:]]
    secret = {"totp": TOTP2 + "\n", "recovery": "rc-9999-new1\nrc-8888-new2\n"}.get(entry["field"])
    ok(run(argv, input=secret))


def findings(run, *rules) -> list[dict]:
    result = run(["audit", "--format", "json"])
    assert result.exit_code in (0, 1), result.stderr
    return [f for f in json.loads(result.stdout)["findings"] if not rules or f["rule"] in rules]


# -- a leaver who owns and administers accounts ---------------------------------------------------
def test_leaver_every_step_closes_its_own_item_until_exit_0(run, world, day):
    day(D2)
    result = ok(run(["staff", "leave", T1, "--on", D2, "--format", "json"]))
    assert f"Recorded {T1} as leaving on {D2}" in result.stderr
    from_leave = json.loads(result.stdout)
    data = board(run, T1, 1)
    assert from_leave == data, "staff leave prints the same checklist as offboard"
    assert data["status"] == "left" and data["leaver"] and not data["mover"] and data["left_on"] == D2
    assert keys(data) == T1_HOLDINGS and keys(data, False) == set()
    assert data["outstanding"] == data["holdings"] == 9
    # A contributor never held the password: XM's credentials are not T1's to worry about.
    assert not any(i["kind"] == "credential" and i["account"] == XM for i in data["items"])
    # The exact commands.
    assert item(data, "owner", FB)["command"] == f"accountctl account transfer {FB} --to EMAIL --remove-old"
    assert item(data, "admin", IG)["command"] == f"accountctl account admin remove {IG} {T1}"
    assert item(data, "contributor", XM)["command"] == f"accountctl account contributor remove {XM} {T1}"
    assert item(data, "credential", FB, "password")["command"] == f"accountctl cred generate {FB}"
    assert item(data, "credential", FB, "totp")["command"] == f"accountctl cred totp {FB}"
    assert item(data, "credential", FB, "recovery")["command"] == f"accountctl cred recovery {FB}"
    assert {f["account"] for f in findings(run, "LEAVER_OWNER")} == {FB}

    # Rotating while they are still an admin closes nothing: they could read the new password too.
    day(D3)
    ok(run(["cred", "generate", IG]))
    data = board(run, T1, 1)
    assert keys(data) == T1_HOLDINGS
    assert item(data, "credential", IG, "password")["set_at"].startswith(D3)

    # Transfer with --remove-old closes the ownership and the admin role on FB together.
    day(D4)
    close(run, item(data, "owner", FB))
    data = board(run, T1, 1)
    assert keys(data) == T1_HOLDINGS - {("owner", FB, None), ("admin", FB, None)}
    assert data["outstanding"] == 7
    shown = json.loads(ok(run(["account", "show", FB, "--json"])).stdout)
    assert shown["owner"] == T2 and T1 not in shown["admins"]

    remaining = set(keys(data))
    for target in [("admin", IG, None), ("contributor", XM, None)]:
        close(run, item(data, *target))
        data = board(run, T1, 1)
        remaining.discard(target)
        assert keys(data) == remaining
    assert remaining == {k for k in T1_HOLDINGS if k[0] == "credential"}

    # Rotation after the removal: each one closes exactly its own item.
    day(D5)
    ok(run(["cred", "set", FB], input="Fb-second-Password-11!\n"))  # `cred set` closes it as well as `generate`
    data = board(run, T1, 1)
    remaining.discard(("credential", FB, "password"))
    assert keys(data) == remaining and data["outstanding"] == 4
    for target in [("credential", IG, "password"), ("credential", FB, "totp"), ("credential", IG, "totp")]:
        close(run, item(data, *target))
        data = board(run, T1, 1)
        remaining.discard(target)
        assert keys(data) == remaining and data["outstanding"] == len(remaining)
    close(run, item(data, "credential", FB, "recovery"))
    data = board(run, T1, 0)
    assert data["outstanding"] == 0 and data["items"] == []
    # The audit agrees nothing about T1 is left to do.
    assert findings(run, "LEAVER_OWNER", "LEAVER_ADMIN", "ROTATE_AFTER_LEAVER") == []


def test_leaver_table_and_csv_show_the_same_items(run, world, day):
    day(D2)
    ok(run(["staff", "leave", T1, "--on", D2]))
    data = board(run, T1, 1)
    table = ok(run(["offboard", T1]), 1)
    assert "9 outstanding of 9 holding(s)" in table.stderr
    for entry in data["items"]:
        assert entry["command"] in table.stdout
    text = ok(run(["offboard", T1, "--format", "csv"]), 1).stdout
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert list(rows[0].keys()) == ITEM_COLUMNS
    assert len(rows) == len(data["items"])
    for row, entry in zip(rows, data["items"]):
        assert row["kind"] == entry["kind"] and row["command"] == entry["command"]
        assert row["account"] == (entry["account"] or "") and row["field"] == (entry["field"] or "")
        assert row["outstanding"] == ("yes" if entry["outstanding"] else "no")


# -- a custodian leaver ---------------------------------------------------------------------------
def test_custodian_leaver_stays_outstanding_until_slot_revoked_and_credentials_rotated(run, world, day, monkeypatch):
    ok(run(f"person grant {T3} --access vault"))
    monkeypatch.setenv("ACCOUNTCTL_USER", T3)
    day(D2)
    ok(run(["staff", "leave", CUSTODIAN, "--on", D2]))
    data = board(run, CUSTODIAN, 1)
    # A custodian could read every credential while their slot existed.
    assert keys(data) == ALL_CREDENTIALS | {("key_slot", None, None)}
    slot = item(data, "key_slot", None)
    assert slot["role"] == "vault" and slot["command"] == f"accountctl person revoke {CUSTODIAN}"

    # Rotating while their slot still exists closes nothing: the slot could read the new one.
    day(D3)
    ok(run(["cred", "generate", XM]))
    data = board(run, CUSTODIAN, 1)
    assert keys(data) == ALL_CREDENTIALS | {("key_slot", None, None)}

    day(D4)
    close(run, slot)
    data = board(run, CUSTODIAN, 1)
    assert keys(data) == ALL_CREDENTIALS and data["outstanding"] == 6
    assert "key_slot" not in {i["kind"] for i in data["items"]}

    day(D5)
    remaining = set(ALL_CREDENTIALS)
    for target in sorted(ALL_CREDENTIALS, key=str):
        close(run, item(data, *target))
        remaining.discard(target)
        data = board(run, CUSTODIAN, 1 if remaining else 0)
        assert keys(data) == remaining and data["outstanding"] == len(remaining)
    assert data["items"] == []


# -- an upcoming leaver ---------------------------------------------------------------------------
def test_upcoming_leaver_is_outstanding_but_still_active_and_audit_warns(run, world, day):
    day(D2)
    leaving = "2030-03-16"  # 14 days ahead
    result = ok(run(["staff", "leave", T1, "--on", leaving]))
    assert f"leaving on {leaving}" in result.stderr
    assert f"accountctl account transfer {FB} --to EMAIL --remove-old" in result.stdout
    data = board(run, T1, 1)
    assert data["status"] == "leaving" and data["leaver"] and data["left_on"] == leaving
    assert keys(data) == T1_HOLDINGS
    person = {s["email"]: s for s in json.loads(ok(run("staff list --json")).stdout)}[T1]
    assert person["status"] == "active" and person["left_on"] == leaving
    owner = findings(run, "LEAVER_OWNER")
    assert [(f["account"], f["severity"]) for f in owner] == [(FB, "warning")]
    assert leaving in owner[0]["message"]
    assert findings(run, "LEAVER_ADMIN") == []

    day(leaving)  # the day itself counts as gone
    data = board(run, T1, 1)
    assert data["status"] == "left" and keys(data) == T1_HOLDINGS
    person = {s["email"]: s for s in json.loads(ok(run("staff list --json")).stdout)}[T1]
    assert person["status"] == "left"
    assert [(f["account"], f["severity"]) for f in findings(run, "LEAVER_OWNER")] == [(FB, "error")]


# -- movers ---------------------------------------------------------------------------------------
@pytest.fixture
def elm(run, world):
    ok(run('school add elm --name "Elm Academy" --domain elm.sch.uk'))
    ok(run(f'staff add {E1} --name "Eve One" --school elm --role staff --trained-on 2026-09-01'))
    return world


def test_mover_old_school_roles_are_outstanding_new_school_ones_are_not(run, elm, day):
    day(D2)
    result = ok(run(["staff", "move", T1, "--school", "elm"]))
    assert f"Recorded {T1} moving from oak to elm" in result.stderr
    data = board(run, T1, 1)
    assert data["status"] == "moved" and data["mover"] and not data["leaver"]
    assert data["school"] == "elm" and data["moved_from"] == "oak" and data["left_on"] is None
    assert keys(data) == T1_HOLDINGS
    # A role at the new school is a holding, not a step.
    request(run, ELM, "youtube", "elmchoir", T1, [E1], school="elm")
    data = board(run, T1, 1)
    assert keys(data) == T1_HOLDINGS
    assert keys(data, False) == {("owner", ELM, None), ("admin", ELM, None)}
    person = {s["email"]: s for s in json.loads(ok(run("staff list --json")).stdout)}[T1]
    assert person["status"] == "active" and person["school"] == "elm"

    # Transfer without --remove-old leaves the admin role; the admin removal closes it.
    day(D3)
    ok(run(["account", "transfer", FB, "--to", T2, "--reason", "moved to elm"]))
    data = board(run, T1, 1)
    assert keys(data) == T1_HOLDINGS - {("owner", FB, None)}
    for target in [("admin", FB, None), ("admin", IG, None), ("contributor", XM, None)]:
        close(run, item(data, *target))
    data = board(run, T1, 1)
    assert keys(data) == {k for k in T1_HOLDINGS if k[0] == "credential"}
    day(D4)
    for target in sorted(keys(data), key=str):
        close(run, item(data, *target))
    data = board(run, T1, 0)
    assert data["outstanding"] == 0 and data["mover"]
    assert keys(data, False) == {("owner", ELM, None), ("admin", ELM, None)}


def oak_path():
    return Path(os.environ["ACCOUNTCTL_REGISTER"])


def test_a_movers_own_mailbox_is_outstanding_only_on_the_old_schools_accounts(run, elm, day):
    day(D2)
    ok(run(["staff", "move", T1, "--school", "elm"]))
    request(run, ELM, "youtube", "elmchoir", E1, [T1], school="elm")
    from accountctl.store.register import open_register

    # an elm account still linked to T1's old address (from before elm's domain rule, say)
    with open_register(oak_path(), actor=CUSTODIAN, passphrase_source=lambda: PASSPHRASE, write=True) as reg:
        reg.db.execute("UPDATE accounts SET email = ? WHERE id = ?", (T1, ELM))
    ok(run(["account", "update", IG, "--email", T1]))
    data = board(run, T1, 1)
    assert item(data, "linked_email", IG)["outstanding"] is True
    assert item(data, "linked_email", ELM)["outstanding"] is False


def test_credentials_of_accounts_a_person_never_ran_are_skipped_not_the_end_of_the_list(run, world, day):
    """An account earlier in id order that T1 has no role on: its credentials are not T1's, and the rest still are."""
    request(run, "oak-bluesky-aaa", "bluesky", "aaa", T2, [T3])
    ok(run("cred set oak-bluesky-aaa", input="Bs-first-Password-04!\n"))
    data = board(run, T1, 0)
    creds = {k for k in keys(data, False) if k[0] == "credential"}
    assert creds == {k for k in T1_HOLDINGS if k[0] == "credential"}


def test_custodian_mover_only_has_their_account_roles_to_close(run, elm, day, monkeypatch):
    """A custodian who moves keeps their vault slot: credentials they read through it are holdings, and only
    those they could read through an old-school role must be rotated (after the removal) to finish."""
    ok(run(f"person grant {T3} --access vault"))
    day(D2)
    ok(run(["staff", "move", T3, "--school", "elm"]))
    data = board(run, T3, 1)
    assert keys(data) == {("admin", FB, None), ("admin", IG, None), ("admin", XM, None)} | ALL_CREDENTIALS
    assert item(data, "key_slot", None)["outstanding"] is False
    day(D3)
    ok(run(["account", "admin", "add", XM, T1]))
    for account_id in (FB, IG, XM):
        ok(run(["account", "admin", "remove", account_id, T3]))
    data = board(run, T3, 1)
    assert keys(data) == ALL_CREDENTIALS
    day(D4)
    for target in sorted(ALL_CREDENTIALS, key=str):
        close(run, item(data, *target))
    data = board(run, T3, 0)
    # Still readable through the slot, so still listed, but done.
    assert keys(data, False) == ALL_CREDENTIALS | {("key_slot", None, None)}


def test_custodian_mover_with_no_roles_has_nothing_outstanding(run, elm, day):
    day(D2)
    ok(run(["staff", "move", CUSTODIAN, "--school", "elm"]))
    data = board(run, CUSTODIAN, 0)
    assert data["mover"] and data["outstanding"] == 0
    assert keys(data, False) == ALL_CREDENTIALS | {("key_slot", None, None)}


# -- anyone else ----------------------------------------------------------------------------------
def test_active_staff_holdings_are_listed_and_nothing_is_outstanding(run, world):
    data = board(run, T2, 0)
    assert data["status"] == "active" and not data["leaver"] and not data["mover"]
    assert data["name"] == "Tia Two" and data["school"] == "oak"
    assert (
        keys(data, False)
        == {("owner", IG, None), ("owner", XM, None), ("admin", FB, None), ("admin", IG, None), ("admin", XM, None)}
        | ALL_CREDENTIALS
    )
    assert data["outstanding"] == 0 and keys(data) == set()
    table = ok(run(["offboard", T2]))
    assert "not a leaver or mover" in table.stderr and f"accountctl account admin remove {FB} {T2}" in table.stdout
    custodian = board(run, CUSTODIAN, 0)
    assert keys(custodian, False) == ALL_CREDENTIALS | {("key_slot", None, None)}
    # SLT hold a register slot but could never read credentials.
    head = board(run, HEAD, 0)
    assert keys(head, False) == {("key_slot", None, None)}
    assert item(head, "key_slot", None)["role"] == "register"


def test_a_closed_account_drops_out_and_the_holdings_after_it_stay(run, world, day):
    """T1's first account in id order is closed: it no longer counts, and what T1 holds on the others still does."""
    ok(run(["account", "close", FB, "--reason", "Merged into the school page"]))
    data = board(run, T1, 0)
    assert keys(data, False) == {
        ("admin", IG, None),
        ("contributor", XM, None),
        ("credential", IG, "password"),
        ("credential", IG, "totp"),
    }


def test_each_item_names_its_step_and_command_exactly(run, world, day):
    data = board(run, T1, 0)
    owner = item(data, "owner", FB)
    assert owner["step"] == "transfer ownership (or close the account)"
    assert owner["command"] == f"accountctl account transfer {FB} --to EMAIL --remove-old"
    assert owner["school"] == "oak" and owner["role"] == "owner" and owner["set_at"] is None
    admin = item(data, "admin", FB)
    assert admin["step"] == "remove as admin (after the transfer; its --remove-old does this)"
    assert admin["command"] == f"accountctl account admin remove {FB} {T1}"
    assert item(data, "admin", IG)["step"] == "remove as admin"
    assert item(data, "contributor", XM)["step"] == "remove as contributor"
    assert item(data, "credential", FB, "totp")["step"] == "re-seed 2FA (reset it on the platform first)"
    assert item(data, "credential", FB, "totp")["command"] == f"accountctl cred totp {FB}"


def test_a_key_holder_who_is_not_staff_is_listed_by_their_slot(run, register_path):
    """An IT contractor given the first slot at `init` but never added as staff: their slot is all they hold."""
    ok(run(f'init --trust "Oak Trust" --email {CUSTODIAN} --name "Ira Tech"'))
    data = board(run, CUSTODIAN, 0)
    assert data["status"] == "not staff" and not data["leaver"] and not data["mover"]
    assert data["name"] == CUSTODIAN and data["school"] is None and data["left_on"] is None
    assert [(i["kind"], i["school"], i["outstanding"]) for i in data["items"]] == [("key_slot", None, False)]
    assert data["items"][0]["step"].startswith("revoke their vault key slot first")


# -- bad input and access -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "email, words",
    [
        ("nobody@oak.sch.uk", ["unknown", "nobody@oak.sch.uk"]),
        ("t.onne@oak.sch.uk", ["unknown staff t.onne@oak.sch.uk", "did you mean t.one@oak.sch.uk"]),
        ("not-an-email", ["not a valid email"]),
        ("a..b@oak.sch.uk", ["not a valid email"]),
    ],
)
def test_offboard_unknown_or_malformed_email_exits_2(run, world, email, words):
    refused(run, world, ["offboard", email, "--format", "json"], 2, *words)


@pytest.mark.parametrize(
    "args, words",
    [
        (["staff", "leave", T1, "--on", "2030-02-30"], ["not a real date"]),
        (["staff", "leave", T1, "--on", "30/03/2030"], ["YYYY-MM-DD"]),
        (["staff", "leave", "nobody@oak.sch.uk", "--on", D2], ["unknown staff"]),
        (["staff", "leave", "nobody", "--on", D2], ["not a valid email"]),
        (["staff", "move", T1, "--school", "nowhere"], ["unknown school"]),
        (["staff", "move", T1, "--school", "oak"], ["already staff of oak"]),
        (["staff", "move", T1, "--school", "elm", "--on", "2030-13-01"], ["--on"]),
    ],
)
def test_staff_leave_and_move_refuse_bad_input_and_change_nothing(run, elm, args, words):
    refused(run, elm, args, 2, *words)


def test_slt_cannot_record_leavers_or_movers(run, elm):
    refused(run, elm, ["--as", HEAD, "staff", "leave", T1, "--on", D2], 3, "custodian")
    refused(run, elm, ["--as", HEAD, "staff", "move", T1, "--school", "elm"], 3, "custodian")
    # ...but may read the checklist.
    board(run, T1, 0, "--as", HEAD)


# -- the JSON schema ------------------------------------------------------------------------------
def test_schema_is_strict_enough_to_catch_a_wrong_report(run, world, day):
    day(D2)
    ok(run(["staff", "leave", T1, "--on", D2]))
    data = board(run, T1, 1)
    validator = jsonschema.Draft202012Validator(SCHEMA)
    assert not list(validator.iter_errors(data))

    def broken(change) -> bool:
        copy = json.loads(json.dumps(data))
        change(copy)
        return bool(list(validator.iter_errors(copy)))

    assert broken(lambda d: d.pop("items"))
    assert broken(lambda d: d.update(extra=1))
    assert broken(lambda d: d.update(status="gone"))
    assert broken(lambda d: d.update(leaver=False))  # a 'left' person is a leaver
    assert broken(lambda d: d["items"][0].update(kind="boss"))
    assert broken(lambda d: d["items"][0].pop("command"))
    assert broken(lambda d: d["items"][0].update(password="hunter2"))
    assert broken(lambda d: [i.update(set_at=None) for i in d["items"] if i["kind"] == "credential"])
    assert broken(lambda d: [i.update(field="pin") for i in d["items"] if i["kind"] == "credential"])
    # Nobody outside leaving/moving has anything outstanding.
    active = board(run, T2, 0)
    active["items"][0]["outstanding"] = True
    assert list(validator.iter_errors(active))


# -- the HR example script ------------------------------------------------------------------------
def script(*args, env_over=None, drop=()):
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.null.Keyring"  # never touch the machine's real keyring
    env.update(env_over or {})
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def test_example_script_exit_codes_and_checklist(run, world, day, register_path):
    # A member of staff who is not leaving: 0, holdings listed.
    proc = script(T2)
    assert proc.returncode == 0, proc.stderr
    assert "Not a leaver or mover" in proc.stdout and f"owns {IG}" in proc.stdout

    day(D2)
    ok(run(["staff", "leave", T1, "--on", D2]))
    data = board(run, T1, 1)
    # The register named with --register (not the environment), the actor from ACCOUNTCTL_USER.
    proc = script(T1, "--register", str(register_path), drop=("ACCOUNTCTL_REGISTER",))
    assert proc.returncode == 1, proc.stderr
    assert "9 step(s) outstanding" in proc.stdout and f"left on {D2}" in proc.stdout
    for entry in data["items"]:
        assert entry["command"] in proc.stdout
    assert proc.stdout.count("[ ]") == 9

    day(D3)
    while True:  # the transfer with --remove-old also closes the admin item: re-read after each step
        roles = [i for i in board(run, T1, 1)["items"] if i["kind"] != "credential"]
        if not roles:
            break
        close(run, roles[0])
    day(D4)
    for entry in board(run, T1, 1)["items"]:
        close(run, entry)
    proc = script(T1)
    assert proc.returncode == 0, proc.stderr
    assert "nothing outstanding" in proc.stdout and "[ ]" not in proc.stdout

    # accountctl errors: exit 2, accountctl's own error line passed through.
    proc = script("nobody@oak.sch.uk")
    assert proc.returncode == 2
    assert "Error: unknown staff nobody@oak.sch.uk" in proc.stderr and proc.stdout == ""
    proc = script(T1, env_over={"ACCOUNTCTL_PASSPHRASE": "not the passphrase at all"})
    assert proc.returncode == 2 and "Error:" in proc.stderr and "exited 3" in proc.stderr
    proc = script(T1, "--register", str(register_path.parent / "missing.accountctl"))
    assert proc.returncode == 2 and "Error:" in proc.stderr
    assert PASSPHRASE not in proc.stderr + proc.stdout


# -- a custodian leaver: the key slot first, and the audit agrees ------------------------------------
def test_custodian_leaver_checklist_starts_with_the_key_slot(run, world, day, monkeypatch, register_path):
    ok(run(f"person grant {T3} --access vault"))
    monkeypatch.setenv("ACCOUNTCTL_USER", T3)
    day(D2)
    ok(run(["staff", "leave", CUSTODIAN, "--on", D2]))
    data = board(run, CUSTODIAN, 1)
    assert data["items"][0]["kind"] == "key_slot" and "first" in data["items"][0]["step"]
    table = ok(run(["offboard", CUSTODIAN]), 1).stdout.splitlines()
    assert table[2].startswith("key_slot")  # under the header and its dashes
    done = script(CUSTODIAN, "--register", str(register_path), env_over={"ACCOUNTCTL_USER": T3})
    assert done.returncode == 1
    steps = [line for line in done.stdout.splitlines() if line.lstrip().startswith("[ ]")]
    assert "key slot" in steps[0] and "Revoke the key slot first" in done.stdout


def test_audit_reports_every_credential_a_departed_custodian_could_read_until_rotated_after_the_revoke(
    run, world, day, monkeypatch, tmp_path
):
    ok(run(f"person grant {T3} --access vault"))
    monkeypatch.setenv("ACCOUNTCTL_USER", T3)
    assert findings(run, "ROTATE_AFTER_LEAVER") == []
    day(D2)
    ok(run(["staff", "leave", CUSTODIAN, "--on", D2]))
    held = {f["account"]: f for f in findings(run, "ROTATE_AFTER_LEAVER")}
    assert set(held) == {FB, IG, XM}
    assert "still holds a vault key slot" in held[FB]["message"] and CUSTODIAN in held[FB]["message"]
    assert "password, 2FA seed and recovery codes" in held[FB]["message"]
    assert held[FB]["fix"].startswith(f"accountctl person revoke {CUSTODIAN}, then")

    day(D3)
    ok(run(["cred", "generate", XM]))  # rotated while they could still read it: still to do
    assert {f["account"] for f in findings(run, "ROTATE_AFTER_LEAVER")} == {FB, IG, XM}

    day(D4)
    ok(run(["person", "revoke", CUSTODIAN]))
    after = {f["account"]: f for f in findings(run, "ROTATE_AFTER_LEAVER")}
    assert set(after) == {FB, IG, XM}, "the revoke alone changes no password they may have copied"
    assert f"lost vault access on {D4}" in after[XM]["message"] and "revoke" not in after[XM]["fix"]
    figures = json.loads(ok(run(["report", "--out", str(tmp_path / "governors.html"), "--json"])).stdout)
    rotate = next(r for r in figures["rules"] if r["id"] == "ROTATE_AFTER_LEAVER")
    assert rotate["unwaived"] == 3, "the governors' report shows the departed custodian's credentials too"

    day(D5)
    ok(run(["cred", "generate", XM]))
    left = {f["account"]: f for f in findings(run, "ROTATE_AFTER_LEAVER")}
    assert set(left) == {FB, IG}
    ok(run(["cred", "generate", IG]))
    left = {f["account"]: f for f in findings(run, "ROTATE_AFTER_LEAVER")}
    assert left[IG]["message"].startswith("2FA seed set before"), "the password is done, the 2FA seed is not"
    assert left[IG]["fix"].endswith(f"accountctl cred totp {IG}")
