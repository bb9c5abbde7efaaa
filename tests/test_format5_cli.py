"""Format 5 through the commands: `vault upgrade` from format 4, and a school-scoped person's commands.

The demo trust (Oakfield Primary, Brookside Academy and the central team) upgraded once per session;
each test gets its own copy on a machine that has never seen it. The attack tests play a
headteacher with the project's own store module and their own passphrase.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import date
from pathlib import Path

import jsonschema

import pytest

from conftest import demo_format_4, error_line, ok

from accountctl.core import demo

CUSTODIAN, CEO = demo.CUSTODIAN, demo.CEO
OAK_HEAD, BROOK_HEAD = demo.HEADS["oakfield"], demo.HEADS["brookside"]
BROOK_ACCOUNT = "brookside-x-brooksidehead"
_BUILT: dict[str, bytes] = {}


def _env(path) -> dict:
    return {"ACCOUNTCTL_REGISTER": str(path), "ACCOUNTCTL_PASSPHRASE": demo.PASSPHRASE}


@pytest.fixture
def five(run, tmp_path, monkeypatch):
    """The demo register, upgraded to format 5 (built once); the path of this test's copy."""
    path = tmp_path / "five" / "demo.accountctl"
    if "five" not in _BUILT:
        demo_format_4(path.parent)
        _BUILT["four"] = path.read_bytes()
        ok(run(["--as", CUSTODIAN, "vault", "upgrade", "--yes"], env=_env(path)))
        _BUILT["five"] = path.read_bytes()
    else:
        path.parent.mkdir(mode=0o700)
        path.write_bytes(_BUILT["five"])
    path.chmod(0o600)
    monkeypatch.setenv("ACCOUNTCTL_REGISTER", str(path))
    monkeypatch.setenv("ACCOUNTCTL_PASSPHRASE", demo.PASSPHRASE)
    return path


def as_(run, who: str, *args: str, input=None):
    return run(["--as", who, *args], input=input)


def test_the_upgrade_writes_format_5_and_lists_each_persons_schools(run, tmp_path, monkeypatch):
    path = demo_format_4(tmp_path / "d")
    monkeypatch.setenv("ACCOUNTCTL_REGISTER", str(path))
    monkeypatch.setenv("ACCOUNTCTL_PASSPHRASE", demo.PASSPHRASE)
    before = path.read_bytes()
    # Without a terminal and without --yes it lists, then refuses: nothing is written.
    result = as_(run, CUSTODIAN, "vault", "upgrade", "--json")
    assert result.exit_code == 2 and "confirmation" in result.stderr
    rows = {r["person"]: r for r in json.loads(result.stdout)}
    assert rows[OAK_HEAD]["schools"] == "oakfield" and rows[BROOK_HEAD]["schools"] == "brookside"
    assert rows[CUSTODIAN]["schools"] == "all" and rows[CEO]["schools"] == "all"
    assert path.read_bytes() == before
    # A head may not upgrade; an unknown school, or a person with no slot, is refused.
    assert as_(run, OAK_HEAD, "vault", "upgrade", "--yes").exit_code == 3
    error_line(as_(run, CUSTODIAN, "vault", "upgrade", "--yes", "--school", f"{OAK_HEAD}=nowhere"), 2, "nowhere")
    error_line(as_(run, CUSTODIAN, "vault", "upgrade", "--yes", "--school", "nobody@x.org=oakfield"), 2, "nobody")
    assert path.read_bytes() == before
    ok(as_(run, CUSTODIAN, "vault", "upgrade", "--yes", "--school", f"{OAK_HEAD}=brookside,oakfield"))
    status = json.loads(ok(run(["vault", "status", "--json"])).stdout)
    assert status["format_version"] == 5
    # The backup beside it is the new file: no format-4 copy that every key holder could read.
    assert path.with_name(path.name + ".bak").read_bytes() == path.read_bytes()
    shown = ok(as_(run, OAK_HEAD, "account", "list", "--json"))
    assert {a["school"] for a in json.loads(shown.stdout)} == {"oakfield", "brookside"}
    error_line(as_(run, CUSTODIAN, "vault", "upgrade", "--yes"), 2, "format 5 already")


def test_the_custodian_audits_format_5_exactly_as_format_4(run, five, tmp_path, monkeypatch):
    after = json.loads(as_(run, CUSTODIAN, "audit", "--format", "json").stdout)
    four = tmp_path / "four.accountctl"
    four.write_bytes(_BUILT["four"])
    four.chmod(0o600)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "another-machine"))
    before = json.loads(run(["--register", str(four), "--as", CUSTODIAN, "audit", "--format", "json"]).stdout)

    def findings(report):
        return sorted((f["rule"], f.get("account") or "", f["message"]) for f in report["findings"])

    assert findings(after) == findings(before) and len(findings(after)) > 20


def test_the_custodian_reads_the_same_history_in_format_5_as_in_format_4(run, five, tmp_path, monkeypatch):
    """Every event the format-4 register recorded is in format 5's `log` as it was: who, what, on what,
    when, and its details; then the upgrade's own events."""
    after = json.loads(ok(as_(run, CUSTODIAN, "log", "--json")).stdout)
    four = tmp_path / "four.accountctl"
    four.write_bytes(_BUILT["four"])
    four.chmod(0o600)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "another-machine"))
    before = json.loads(ok(run(["--register", str(four), "--as", CUSTODIAN, "log", "--json"])).stdout)
    assert len(before) > 50 and after[: len(before)] == before
    assert {e["action"] for e in after[len(before) :]} == {"school.scope", "person.schools"}
    shown = json.loads(ok(as_(run, CUSTODIAN, "log", "--limit", "3", "--json")).stdout)
    assert shown == after[-3:]


def test_a_head_sees_their_school_only_and_says_so_in_one_line(run, five):
    result = ok(as_(run, BROOK_HEAD, "incident", "list", "--json"))
    assert json.loads(result.stdout) == []  # every demo incident is Oakfield's
    assert result.stderr.strip().splitlines() == ["Showing Brookside Academy only: your key opens 1 of 3 schools."]
    listed = json.loads(ok(as_(run, OAK_HEAD, "incident", "list", "--json")).stdout)
    assert listed and {i["account"].split("-")[0] for i in listed} == {"oakfield"}
    accounts = json.loads(ok(as_(run, BROOK_HEAD, "account", "list", "--json")).stdout)
    assert accounts and {a["school"] for a in accounts} == {"brookside"}
    assert as_(run, BROOK_HEAD, "account", "show", listed[0]["account"]).exit_code == 2  # unknown to them
    # The custodian and the CEO read every school, and no line says otherwise.
    for who in (CUSTODIAN, CEO):
        everything = ok(as_(run, who, "incident", "list", "--json"))
        assert len(json.loads(everything.stdout)) == len(listed) and everything.stderr == ""
    # An audit that finds problems (exit 1) still says what it covered.
    audit = as_(run, BROOK_HEAD, "audit", "--format", "json")
    assert audit.exit_code == 1 and "Showing Brookside Academy only" in audit.stderr
    assert {f["school"] for f in json.loads(audit.stdout)["findings"]} <= {
        "brookside",
        None,
    }  # None: trust-wide findings


def test_writes_by_a_head_and_the_custodian_are_read_back_by_each_other(run, five):
    opened = ok(as_(run, BROOK_HEAD, "incident", "open", BROOK_ACCOUNT, "--kind", "impersonation", "--summary", "x"))
    assert opened.stdout.startswith("inc-brookside-1")  # ids carry their school: nobody counts another's
    ok(as_(run, BROOK_HEAD, "review", "brookside-facebook-brooksideacademy"))
    ok(as_(run, CUSTODIAN, "incident", "step", "inc-brookside-1", "platform-reported", "--note", "ref 1"))
    shown = json.loads(ok(as_(run, BROOK_HEAD, "incident", "show", "inc-brookside-1", "--json")).stdout)
    assert "platform-reported" in json.dumps(shown)
    schemas = Path(__file__).resolve().parents[1] / "schemas"
    jsonschema.validate(shown, json.loads((schemas / "incident.schema.json").read_text()))
    listed = json.loads(ok(as_(run, BROOK_HEAD, "incident", "list", "--json")).stdout)
    jsonschema.validate(listed, json.loads((schemas / "incident-list.schema.json").read_text()))
    assert json.loads(ok(as_(run, OAK_HEAD, "incident", "list", "--json")).stdout)  # Oakfield's still there
    for who in (CUSTODIAN, BROOK_HEAD, OAK_HEAD):
        verified = json.loads(ok(as_(run, who, "verify", "--json")).stdout)
        assert verified["ok"], (who, verified)
    log = ok(as_(run, OAK_HEAD, "log", "--json")).stdout
    assert "inc-brookside-1" not in log and "brookside-facebook-brooksideacademy" not in log
    assert "inc-brookside-1" in ok(as_(run, CUSTODIAN, "log", "--json")).stdout
    asked = _request("x", "NewOne", "https://x.com/NewOne", "office@brookside.sch.uk", "ben.carter@brookside.sch.uk")
    error_line(as_(run, BROOK_HEAD, *asked, "--id", "mine"), 2, "brookside-")


def _request(platform: str, handle: str, url: str, email: str, admin: str) -> list[str]:
    """`account request` of a Brookside account: its head the owner, `admin` and the head its admins."""
    return [
        *("account", "request", "--school", "brookside", "--platform", platform, "--handle", handle, "--url", url),
        *("--category", "faculty", "--email", email, "--owner", BROOK_HEAD, "--admin", admin, "--admin", BROOK_HEAD),
        *("--aim", "a", "--audience", "b", "--promotion", "c", "--visibility", "open"),
    ]


def test_credentials_are_plain_only_inside_the_vault_segment(run, five):
    secret = "Correct-Horse-Battery-77!"
    ok(as_(run, CUSTODIAN, "cred", "set", BROOK_ACCOUNT, input=secret + "\n"))
    shown = ok(as_(run, CUSTODIAN, "cred", "show", BROOK_ACCOUNT, "--field", "password", "--reason", "check"))
    assert shown.stdout.strip() == secret
    assert secret.encode() not in five.read_bytes()
    error_line(as_(run, BROOK_HEAD, "cred", "show", BROOK_ACCOUNT, "--field", "password", "--reason", "x"), 3)
    for who in (CUSTODIAN, BROOK_HEAD):
        assert secret not in as_(run, who, "log", "--json").stdout + as_(run, who, "export").stdout


def test_a_machine_that_saw_format_5_refuses_the_format_4_copy(run, five):
    ok(as_(run, CUSTODIAN, "account", "list"))
    five.write_bytes(_BUILT["four"])
    error_line(as_(run, OAK_HEAD, "account", "list"), 4, "format 4", "format 5")


@pytest.fixture
def recoverable(run, tmp_path, monkeypatch):
    """A two-school trust whose recovery key the test keeps, upgraded to format 5; its head reads elm only."""
    path = tmp_path / "r" / "trust.accountctl"
    path.parent.mkdir(mode=0o700)
    monkeypatch.setenv("ACCOUNTCTL_REGISTER", str(path))
    return path, build_recoverable(run, monkeypatch)


def build_recoverable(run, monkeypatch) -> str:
    """`recoverable`'s trust, where ACCOUNTCTL_REGISTER says (a file or PostgreSQL); its recovery key."""
    monkeypatch.setenv("ACCOUNTCTL_PASSPHRASE", demo.PASSPHRASE)
    monkeypatch.setenv("ACCOUNTCTL_NEW_PASSPHRASE", demo.PASSPHRASE)
    key = ok(run(["init", "--trust", "Two Trust", "--email", "it@two.org.uk", "--name", "Ira Tech"])).stdout.strip()
    for school in ("oak", "elm"):
        ok(run(["school", "add", school, "--name", f"{school.title()} Primary", "--domain", f"{school}.sch.uk"]))
    ok(run(["staff", "add", "it@two.org.uk", "--name", "Ira Tech", "--school", "oak", "--role", "it"]))
    ok(run(["staff", "add", "h@elm.sch.uk", "--name", "Hal Head", "--school", "elm", "--role", "headteacher"]))
    ok(run(["staff", "add", "t@oak.sch.uk", "--name", "Tia Oak", "--school", "oak"]))
    ok(run(["staff", "add", "e@elm.sch.uk", "--name", "Eve Elm", "--school", "elm"]))
    ok(run(["person", "grant", "h@elm.sch.uk", "--access", "register"]))
    ok(run(["--as", "it@two.org.uk", "vault", "upgrade", "--yes"]))
    return key


def test_vault_recover_gives_a_head_new_keys_and_their_school_only(run, recoverable, monkeypatch):
    from accountctl.store import register as store

    path, key = recoverable
    new = "a brand new passphrase 2026"
    monkeypatch.setenv("ACCOUNTCTL_RECOVERY_KEY", key)
    result = ok(run(["vault", "recover", "h@elm.sch.uk"], env={"ACCOUNTCTL_NEW_PASSPHRASE": new}))
    assert key not in result.output and new not in result.output
    monkeypatch.delenv("ACCOUNTCTL_RECOVERY_KEY")
    error_line(run(["--as", "h@elm.sch.uk", "staff", "list"]), 3, "wrong passphrase")
    shown = ok(run(["--as", "h@elm.sch.uk", "staff", "list", "--json"], env={"ACCOUNTCTL_PASSPHRASE": new}))
    assert {s["email"] for s in json.loads(shown.stdout)} == {"h@elm.sch.uk", "e@elm.sch.uk"}  # elm's, no more
    # Their keyring was sealed again to their new key: with the store module they open elm and nothing else.
    with store.open_register(path, actor="h@elm.sch.uk", passphrase_source=lambda: new, use_keyring=False) as reg:
        assert reg.schools == {"elm"}
        ring = reg.opened.ring
        assert {scope for scope, _kind in ring} == {bytes(16), bytes.fromhex(reg.membership.school_scopes["elm"])}
    request = "account request --school elm --platform x --handle ElmNews --url https://x.com/ElmNews --category "
    request += "faculty --email office@elm.sch.uk --owner h@elm.sch.uk --admin e@elm.sch.uk --aim News "
    request += "--audience Parents --promotion Newsletter --visibility open --pupils none"
    ok(run(["--as", "h@elm.sch.uk", *request.split()], env={"ACCOUNTCTL_PASSPHRASE": new}))  # signed with new keys
    ok(run(["--as", "it@two.org.uk", "verify"]))
    events = json.loads(ok(run(["--as", "it@two.org.uk", "log", "--json"])).stdout)
    assert any(e["action"] == "person.recover" and e["target"] == "h@elm.sch.uk" for e in events)


def test_vault_recover_of_format_5_refuses_a_wrong_key_and_writes_nothing(run, recoverable, monkeypatch):
    from accountctl import crypto
    from accountctl.store import register as store

    path, key = recoverable
    before = path.read_bytes()
    monkeypatch.setenv(
        "ACCOUNTCTL_RECOVERY_KEY", store.format_recovery_key(crypto.random_bytes(store.RECOVERY_KEY_BYTES))
    )
    error_line(run(["vault", "recover", "h@elm.sch.uk"]), 3, "wrong recovery key")
    monkeypatch.setenv("ACCOUNTCTL_RECOVERY_KEY", key)
    error_line(run(["vault", "recover", "t@oak.sch.uk"]), 2, "no key slot")
    assert path.read_bytes() == before
    ok(run(["vault", "recover", "it@two.org.uk"], env={"ACCOUNTCTL_NEW_PASSPHRASE": "the custodian's new one"}))
    monkeypatch.delenv("ACCOUNTCTL_RECOVERY_KEY")
    audit = run(["--as", "it@two.org.uk", "audit"], env={"ACCOUNTCTL_PASSPHRASE": "the custodian's new one"})
    assert audit.exit_code in (0, 1), audit.output


def test_a_grant_names_the_schools_its_slot_reads(run, five, monkeypatch):
    sara = "sara.lee@brookside.sch.uk"  # SLT at Brookside
    monkeypatch.setenv("ACCOUNTCTL_NEW_PASSPHRASE", "sara's own long passphrase 2026")
    error_line(
        as_(run, CUSTODIAN, "person", "grant", sara, "--access", "register", "--school", "nowhere"), 2, "nowhere"
    )
    error_line(as_(run, CUSTODIAN, "person", "grant", sara, "--access", "vault", "--school", "brookside"), 2)
    granted = ok(as_(run, CUSTODIAN, "person", "grant", sara, "--access", "register"))
    assert "brookside only" in granted.stderr
    people = {p["email"]: p["schools"] for p in json.loads(ok(as_(run, CUSTODIAN, "person", "list", "--json")).stdout)}
    assert people[sara] == "brookside" and people[CUSTODIAN] == "*" and people[OAK_HEAD] == "oakfield"
    as_sara = run(
        ["--as", sara, "account", "list", "--json"], env={"ACCOUNTCTL_PASSPHRASE": "sara's own long passphrase 2026"}
    )
    assert {a["school"] for a in json.loads(ok(as_sara).stdout)} == {"brookside"}
    ok(as_(run, CUSTODIAN, "person", "revoke", sara))
    ok(as_(run, CUSTODIAN, "person", "grant", sara, "--access", "register", "--school", "*"))
    as_sara = run(
        ["--as", sara, "account", "list", "--json"], env={"ACCOUNTCTL_PASSPHRASE": "sara's own long passphrase 2026"}
    )
    assert {a["school"] for a in json.loads(ok(as_sara).stdout)} == {"brookside", "oakfield", "central"}
    assert json.loads(ok(as_(run, CUSTODIAN, "verify", "--json")).stdout)["ok"]


def _ring_of(path, who: str, passphrase: str = demo.PASSPHRASE) -> dict:
    """What a person can take away: every key their own keyring in this copy of the file holds."""
    from accountctl.store import fileformat5 as ff5, opening5
    from accountctl.store.register.keys import _kek_from_passphrase, _unwrap_own, choose_slot

    data = path.read_bytes()
    header, _ = ff5.parse_header(data)
    slot = choose_slot(header, who)
    keys = _unwrap_own(header, slot, _kek_from_passphrase(slot, passphrase))
    return opening5.open_image(data, slot.slot_id, keys.x25519_private, write=False).ring


def _school_records(path, school_scope: bytes, key: bytes) -> bytes:
    """Decrypt one school's records segment of `path` with a key someone kept (raises on the wrong key)."""
    from accountctl.store import fileformat5 as ff5, segments as sg

    data = path.read_bytes()
    header, raw = ff5.parse_header(data)
    index, _ = ff5.read_index(data, header, raw)
    at = len(raw) + header.index_len
    offsets = index.offsets()
    entry = next(e for e in index.segments if e.kind == sg.SCHOOL_RECORDS and e.scope == school_scope)
    blob = data[at + offsets[entry.seg_id] : at + offsets[entry.seg_id] + entry.length]
    return sg.open_segment(key, header.file_id, entry, blob)


def _scope_of(path, school: str) -> bytes:
    with _open(path, CUSTODIAN) as reg:
        return bytes.fromhex(reg.membership.school_scopes[school])


def test_a_head_who_moves_school_keeps_a_key_that_opens_nothing_new(run, five):
    from accountctl.store import segments as sg

    brook = _scope_of(five, "brookside")
    kept = _ring_of(five, BROOK_HEAD)[(brook, sg.KEY_K)][1]  # the key they could copy before they moved
    _school_records(five, brook, kept)  # it opens Brookside's records today
    moved = ok(as_(run, CUSTODIAN, "staff", "move", BROOK_HEAD, "--school", "oakfield"))
    assert "keys were replaced" in moved.stderr
    shown = ok(as_(run, BROOK_HEAD, "account", "list", "--json"))
    assert {a["school"] for a in json.loads(shown.stdout)} == {"oakfield"}
    with pytest.raises(Exception):
        _school_records(five, brook, kept)  # Brookside was rotated: the kept key opens nothing written since
    assert five.with_name(five.name + ".bak").read_bytes() == five.read_bytes()  # no older copy left beside it
    for who in (CUSTODIAN, OAK_HEAD, BROOK_HEAD):
        assert json.loads(ok(as_(run, who, "verify", "--json")).stdout)["ok"], who


def test_a_revoked_head_keeps_a_key_that_opens_nothing_new(run, five):
    from accountctl.store import segments as sg

    oak = _scope_of(five, "oakfield")
    ring = _ring_of(five, OAK_HEAD)
    kept, kept_trust = ring[(oak, sg.KEY_K)][1], ring[(sg.TRUST, sg.KEY_K)][1]
    revoked = ok(as_(run, CUSTODIAN, "person", "revoke", OAK_HEAD))
    assert "trust's and oakfield's keys" in revoked.stderr
    with pytest.raises(Exception):
        _school_records(five, oak, kept)
    assert kept_trust != _ring_of(five, CUSTODIAN)[(sg.TRUST, sg.KEY_K)][1]
    error_line(as_(run, OAK_HEAD, "account", "list"), 3)
    # Brookside's head and the custodian carry on; Brookside's own key was not rotated.
    assert ok(as_(run, BROOK_HEAD, "verify"))
    assert _ring_of(five, BROOK_HEAD)[(_scope_of(five, "brookside"), sg.KEY_K)][0] == 1


def test_a_custodian_revoked_takes_every_key_with_them_and_reuse_is_still_found(run, five, monkeypatch):
    from accountctl.store import segments as sg

    monkeypatch.setenv("ACCOUNTCTL_NEW_PASSPHRASE", "second custodian long passphrase")
    second = "fatima.noor@oakfieldtrust.org.uk"
    ok(as_(run, CUSTODIAN, "person", "revoke", second))  # she held register access; now make her a custodian
    ok(
        run(
            [
                "--as",
                CUSTODIAN,
                "staff",
                "add",
                "it2@oakfieldtrust.org.uk",
                "--name",
                "Ivo Two",
                "--school",
                "central",
                "--role",
                "it",
            ]
        )
    )
    ok(as_(run, CUSTODIAN, "person", "grant", "it2@oakfieldtrust.org.uk", "--access", "vault"))
    shared = "Shared-Password-Across-Schools-1!"
    for account in (BROOK_ACCOUNT, "oakfield-x-oakfieldnews"):
        result = as_(run, CUSTODIAN, "cred", "set", account, input=shared + "\n")
        assert result.exit_code == 0, result.stderr

    def reused():
        findings = json.loads(as_(run, CUSTODIAN, "audit", "--format", "json").stdout)["findings"]
        return {f["account"] for f in findings if "REUSE" in f["rule"]}

    before = reused()
    assert {BROOK_ACCOUNT, "oakfield-x-oakfieldnews"} <= before
    v_before = _ring_of(five, CUSTODIAN)[(sg.TRUST, sg.KEY_V)][1]
    ok(as_(run, CUSTODIAN, "person", "revoke", "it2@oakfieldtrust.org.uk"))
    assert _ring_of(five, CUSTODIAN)[(sg.TRUST, sg.KEY_V)][1] != v_before
    assert reused() == before  # the fingerprints were keyed afresh, and still match each other
    third = "brookside-instagram-brooksidesport"
    ok(as_(run, CUSTODIAN, "cred", "set", third, input=shared + "\n"))
    assert reused() == before | {third}  # a password set after the rotation matches those set before it
    assert (
        ok(as_(run, CUSTODIAN, "cred", "show", BROOK_ACCOUNT, "--field", "password", "--reason", "t")).stdout.strip()
        == shared
    )


# -- attacks: a head with the store module and their own passphrase --------------------------------------
def _open(path, who: str, write: bool = False):
    from accountctl.store.register import open_register

    return open_register(path, actor=who, passphrase_source=lambda: demo.PASSPHRASE, use_keyring=False, write=write)


def test_a_head_reading_the_file_with_their_own_code_gets_no_other_school(five):
    with _open(five, BROOK_HEAD) as reg:
        schools = {r[0] for r in reg.db.execute("SELECT DISTINCT school FROM accounts")}
        incidents = reg.db.execute("SELECT count(*) FROM incidents").fetchone()[0]
        staff = {r[0] for r in reg.db.execute("SELECT DISTINCT school FROM staff")}
    # The central team's staff are the trust's: every key holder reads who they are (F4).
    assert schools == {"brookside"} and incidents == 0 and staff == {"brookside", "central"}
    with _open(five, OAK_HEAD) as reg:
        summaries = [r[0] for r in reg.db.execute("SELECT id FROM incidents")]
    assert summaries  # Oakfield's head reads them; Brookside's found none above


def test_a_head_cannot_write_into_another_school(five):
    before = five.read_bytes()
    with pytest.raises(sqlite3.IntegrityError):
        with _open(five, BROOK_HEAD, write=True) as reg:
            reg.db.execute(
                "INSERT INTO staff(email, name, school, roles, status, created_at) "
                "VALUES ('spy@oakfield.sch.uk', 'Spy', 'oakfield', '[\"slt\"]', 'active', '2026-12-01T00:00:00Z')"
            )
    assert five.read_bytes() == before


def test_a_save_that_wrote_in_another_persons_name_is_refused(five):
    from accountctl import chain

    before = five.read_bytes()
    with pytest.raises(Exception, match="in the name of"):
        with _open(five, BROOK_HEAD, write=True) as reg:
            chain.record(reg.db, OAK_HEAD, "account.review", account="brookside-facebook-brooksideacademy")
    assert five.read_bytes() == before


# -- the trust's history batches (F8 step 3), made small so that the demo has many ------------------------
@pytest.fixture
def batched(run, tmp_path, monkeypatch):
    return _upgraded_in_batches(run, tmp_path, monkeypatch, 5)


def _upgraded_in_batches(run, tmp_path, monkeypatch, size: int):
    from accountctl.store import format5

    monkeypatch.setattr(format5, "BATCH", size)
    path = demo_format_4(tmp_path / "b")
    monkeypatch.setenv("ACCOUNTCTL_REGISTER", str(path))
    monkeypatch.setenv("ACCOUNTCTL_PASSPHRASE", demo.PASSPHRASE)
    ok(as_(run, CUSTODIAN, "vault", "upgrade", "--yes"))
    return path


def _batches(path) -> list:
    from accountctl.store import fileformat5 as ff5, segments as sg

    data = path.read_bytes()
    header, raw = ff5.parse_header(data)
    index, _ = ff5.read_index(data, header, raw)
    return [e for e in index.segments if e.kind == sg.TRUST_BATCH]


def test_old_history_moves_into_batches_that_every_machine_checks(run, batched, tmp_path, monkeypatch):
    made = _batches(batched)
    assert len(made) > 20  # the demo's ~140 events, 5 to a batch, fewer than 10 left in the journal
    everything = json.loads(ok(as_(run, CUSTODIAN, "log", "--json")).stdout)
    assert [e["seq"] for e in everything] == list(range(1, len(everything) + 1))
    ok(as_(run, BROOK_HEAD, "review", "brookside-facebook-brooksideacademy"))
    assert {e.seg_id for e in made} <= {e.seg_id for e in _batches(batched)}  # written once, kept as they were
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "a-new-machine"))  # checks every batch from the start
    for who in (CUSTODIAN, OAK_HEAD):
        assert json.loads(ok(as_(run, who, "verify", "--json")).stdout)["ok"]
    ok(as_(run, CUSTODIAN, "person", "revoke", OAK_HEAD))  # the trust's key rotates: every batch encrypted again
    assert {(e.seg_id, e.epoch) for e in _batches(batched)} != {(e.seg_id, e.epoch) for e in made}
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "a-third-machine"))
    assert json.loads(ok(as_(run, BROOK_HEAD, "verify", "--json")).stdout)["ok"]


def test_a_head_who_rewrites_an_old_batch_is_caught_by_every_machine(run, tmp_path, monkeypatch):
    """Brookside's head holds the trust's key. With the store's own save they drop the oldest batch and put its
    events back, one of them gone, into the journal, which their save re-batches and signs in their name. The
    journal is long enough that what this machine checked last is still in it: only the rule that a batch is
    written once stops it there (a machine checking from the start finds the gap in the chain)."""
    from accountctl import chain
    from accountctl.store import files, format5, segments as sg, split

    batched = _upgraded_in_batches(run, tmp_path, monkeypatch, 50)

    ok(as_(run, CUSTODIAN, "account", "list"))  # this machine has checked the register
    with _open(batched, BROOK_HEAD, write=True) as reg:
        image = reg.previous
        oldest = min(
            _batches(batched),
            key=lambda e: json.loads(
                sg.open_segment(
                    reg.opened.ring[(sg.TRUST, sg.KEY_K)][1], reg.file_id, e, format5._raw(image.blobs()[e.seg_id])
                )
            )[0]["seq"],
        )
        plain = sg.open_segment(
            reg.opened.ring[(sg.TRUST, sg.KEY_K)][1], reg.file_id, oldest, format5._raw(image.blobs()[oldest.seg_id])
        )
        kept = json.loads(plain)[:-1]  # the batch's last event, erased
        at = image.index.segments.index(oldest)
        del image.index.segments[at]
        del image.pieces[2 + at]
        image.skeletons[:0] = kept
        event = chain.record(reg.db, BROOK_HEAD, "account.review", account="brookside-facebook-brooksideacademy")
        scope = bytes.fromhex(reg.membership.school_scopes["brookside"])
        forged = format5.save(
            reg.db,
            reg.header.slots,
            reg.slot,
            reg.keys.signing_private,
            [(event, [scope])],
            previous=image,
            dirty=split.dirty(reg.db),
            state=reg.membership,
            dirty_vault=set(),
        )
        files.atomic_write(batched, lambda handle: handle.writelines(map(format5._raw, forged.pieces)))
        reg.db.execute("DELETE FROM main.events")  # their own code wrote the file: the store saves nothing more
        reg._changes_at_open = reg.db.total_changes
    for state in (None, tmp_path / "fresh"):
        if state is not None:
            monkeypatch.setenv("XDG_STATE_HOME", str(state))
        error_line(as_(run, CUSTODIAN, "account", "list"), 4)


def test_a_school_the_key_does_not_open_is_refused_by_name_not_answered_empty(run, five, tmp_path):
    before = five.read_bytes()
    for args in (
        ["audit", "--school", "oakfield"],
        ["staff", "list", "--school", "oakfield"],
        ["report", "--school", "oakfield", "--out", str(tmp_path / "r.html")],
        [
            "account",
            "found",
            "--school",
            "oakfield",
            "--platform",
            "x",
            "--handle",
            "Fake",
            "--url",
            "https://x.com/Fake",
            "--source",
            "a parent",
        ],
    ):
        error_line(as_(run, BROOK_HEAD, *args), 3, "oakfield")
    assert five.read_bytes() == before and not (tmp_path / "r.html").exists()
    ok(as_(run, BROOK_HEAD, "report", "--out", str(tmp_path / "mine.html")))
    page = (tmp_path / "mine.html").read_text()
    assert "Brookside Academy" in page and "Oakfield Primary" not in page  # no empty rows for sealed schools
    ok(as_(run, CUSTODIAN, "report", "--out", str(tmp_path / "all.html")))
    assert "Oakfield Primary" in (tmp_path / "all.html").read_text()


def test_a_command_about_one_account_opens_only_its_school(run, five):
    from accountctl.store.register import open_register

    unlock = dict(actor=CUSTODIAN, passphrase_source=lambda: demo.PASSPHRASE, use_keyring=False)
    with open_register(five, focus=("account", BROOK_ACCOUNT), **unlock) as reg:
        assert reg.opened.schools == {"brookside"} and reg.schools == reg.all_schools  # the key opens all three
    with open_register(five, focus=("account", "no-such-account"), **unlock) as reg:
        assert reg.opened.schools == reg.all_schools  # the lookup names no school: every school is looked in
    ok(as_(run, CUSTODIAN, "cred", "set", BROOK_ACCOUNT, input="Another-Long-Password-42!\n"))
    shown = ok(as_(run, CUSTODIAN, "cred", "show", BROOK_ACCOUNT, "--field", "password", "--reason", "r"))
    assert shown.stdout == "Another-Long-Password-42!\n" and "Showing" not in shown.stderr
    assert ok(as_(run, CUSTODIAN, "monitor", BROOK_ACCOUNT)).stderr.startswith("Recorded a monitoring check")
    error_line(as_(run, CUSTODIAN, "otp", "brookside-x-brooksidehedd"), 2, "did you mean")
    assert json.loads(ok(as_(run, CUSTODIAN, "verify", "--json")).stdout)["ok"]


def test_a_reveal_is_a_record_at_the_end_and_any_head_saves_after_it(run, five):
    ok(as_(run, CUSTODIAN, "cred", "set", BROOK_ACCOUNT, input="Revealed-Password-Number-9!\n"))
    generation = json.loads(ok(run(["vault", "status", "--json"])).stdout)["generation"]
    size = five.stat().st_size
    shown = ok(as_(run, CUSTODIAN, "cred", "show", BROOK_ACCOUNT, "--field", "password", "--reason", "handover"))
    assert shown.stdout == "Revealed-Password-Number-9!\n"
    assert json.loads(ok(run(["vault", "status", "--json"])).stdout)["generation"] == generation  # no save
    assert 0 < five.stat().st_size - size < 4096  # one record: the reveal's skeleton and its sealed body
    ok(as_(run, OAK_HEAD, "review", "oakfield-facebook-oakfieldprimary"))  # cannot read it: carries it forward
    log = json.loads(ok(as_(run, BROOK_HEAD, "log", "--json")).stdout)
    assert any(e["action"] == "cred.show" and e["account"] == BROOK_ACCOUNT for e in log)
    assert not any(e["action"] == "cred.show" for e in json.loads(ok(as_(run, OAK_HEAD, "log", "--json")).stdout))
    ok(as_(run, BROOK_HEAD, "review", "brookside-facebook-brooksideacademy"))  # reads it: folds it in
    for who in (CUSTODIAN, OAK_HEAD, BROOK_HEAD):
        assert json.loads(ok(as_(run, who, "verify", "--json")).stdout)["ok"], who
    assert "handover" not in five.read_bytes().decode("latin-1")  # the reason is in the sealed body only


def test_a_school_added_gets_its_own_key_and_only_its_head_and_the_trust_read_it(run, five, monkeypatch):
    monkeypatch.setenv("ACCOUNTCTL_NEW_PASSPHRASE", "elm head long passphrase 2026")
    ok(as_(run, CUSTODIAN, "school", "add", "elm", "--name", "Elm Infants", "--domain", "elm.sch.uk"))
    for email, roles in (("head@elm.sch.uk", ["headteacher", "slt"]), ("t1@elm.sch.uk", ["staff"])):
        args = ["staff", "add", email, "--name", email.split("@")[0], "--school", "elm", "--trained-on", "2026-09-01"]
        ok(as_(run, CUSTODIAN, *args, *[x for r in roles for x in ("--role", r)]))
    ok(as_(run, CUSTODIAN, "person", "grant", "head@elm.sch.uk", "--access", "register"))
    mine = run(
        ["--as", "head@elm.sch.uk", "staff", "list", "--json"],
        env={"ACCOUNTCTL_PASSPHRASE": "elm head long passphrase 2026"},
    )
    assert {s["school"] for s in json.loads(ok(mine).stdout)} == {"elm", "central"}  # the central team: the trust's
    assert "1 of 4 schools" in mine.stderr
    error_line(as_(run, BROOK_HEAD, "staff", "list", "--school", "elm"), 3, "elm")
    assert {s["school"] for s in json.loads(ok(as_(run, CEO, "staff", "list", "--json")).stdout)} >= {"elm", "oakfield"}
    with _open(five, BROOK_HEAD) as reg:
        assert reg.db.execute("SELECT count(*) FROM staff WHERE school = 'elm'").fetchone()[0] == 0
    for who in (CUSTODIAN, BROOK_HEAD):
        assert json.loads(ok(as_(run, who, "verify", "--json")).stdout)["ok"]


def test_campaigns_by_a_head_and_by_the_trust_have_ids_that_cannot_collide(run, five):
    trust_wide = ok(as_(run, CUSTODIAN, "attest", "start", "--due", "2027-01-31")).stdout.strip()
    assert trust_wide.startswith("att-trust-")
    assert ok(as_(run, BROOK_HEAD, "attest", "start", "--due", "2027-01-31")).stdout.strip() == "att-brookside-1"
    assert ok(as_(run, OAK_HEAD, "attest", "start", "--due", "2027-01-31")).stdout.strip() == "att-oakfield-1"
    status = json.loads(ok(as_(run, CUSTODIAN, "attest", "status", "--campaign", "att-brookside-1", "--json")).stdout)
    assert status["school"] == "brookside"  # their own school, by default
    schemas = Path(__file__).resolve().parents[1] / "schemas"
    jsonschema.validate(status, json.loads((schemas / "attest-status.schema.json").read_text()))


def test_the_agent_answers_from_a_format_5_register_and_sees_another_process_write(run, five, monkeypatch):
    ok(as_(run, CUSTODIAN, "login", "--agent"))
    try:
        monkeypatch.setenv("ACCOUNTCTL_NO_AGENT", "1")
        direct = ok(as_(run, CUSTODIAN, "account", "show", BROOK_ACCOUNT, "--json")).stdout
        monkeypatch.delenv("ACCOUNTCTL_NO_AGENT")
        monkeypatch.delenv("ACCOUNTCTL_PASSPHRASE")  # from here only the agent can open it
        assert ok(as_(run, CUSTODIAN, "account", "show", BROOK_ACCOUNT, "--json")).stdout == direct
        monkeypatch.setenv("ACCOUNTCTL_NO_AGENT", "1")
        monkeypatch.setenv("ACCOUNTCTL_PASSPHRASE", demo.PASSPHRASE)
        ok(as_(run, CUSTODIAN, "monitor", BROOK_ACCOUNT, "--note", "written by another process"))
        monkeypatch.delenv("ACCOUNTCTL_NO_AGENT")
        monkeypatch.delenv("ACCOUNTCTL_PASSPHRASE")
        log = ok(as_(run, CUSTODIAN, "log", "--account", BROOK_ACCOUNT, "--json")).stdout
        assert "written by another process" in log
        shown = json.loads(ok(as_(run, CUSTODIAN, "account", "show", BROOK_ACCOUNT, "--json")).stdout)
        today = os.environ.get("ACCOUNTCTL_TODAY") or date.today().isoformat()
        assert json.loads(direct)["monitored_on"] != today and shown["monitored_on"] == today  # not a stale copy
        assert json.loads(ok(as_(run, CUSTODIAN, "verify", "--json")).stdout)["ok"]
    finally:
        run(["agent", "stop"])


def test_the_agent_takes_up_another_processes_save_by_the_school_it_changed(run, five, monkeypatch):
    """Commands as a shell runs them (the console script hands them to the agent): after another
    process's save, the agent's register is taken up again by the segments that changed, and answers
    as a direct open does."""
    import subprocess
    import sys

    from accountctl.agent import client as agent_client

    def sh(*args: str) -> str:
        child = dict(os.environ, PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring")
        child.pop("ACCOUNTCTL_PASSPHRASE", None)
        done = subprocess.run(
            [sys.executable, "-m", "accountctl.fast", "--as", CUSTODIAN, *args],
            env=child,
            capture_output=True,
            text=True,
        )
        assert done.returncode in (0, 1), done.stderr
        return done.stdout

    ok(as_(run, CUSTODIAN, "login", "--agent"))
    try:
        sh("account", "show", BROOK_ACCOUNT, "--json")
        assert agent_client.request({"op": "status"})["reread"] == 0
        monkeypatch.setenv("ACCOUNTCTL_NO_AGENT", "1")
        ok(as_(run, CUSTODIAN, "monitor", BROOK_ACCOUNT, "--note", "written by another process"))
        direct = ok(as_(run, CUSTODIAN, "audit", "--format", "json"), 1).stdout
        monkeypatch.delenv("ACCOUNTCTL_NO_AGENT")
        shown = json.loads(sh("account", "show", BROOK_ACCOUNT, "--json"))
        assert shown["monitored_on"] == (os.environ.get("ACCOUNTCTL_TODAY") or date.today().isoformat())
        assert agent_client.request({"op": "status"})["reread"] == 1  # by the school that changed, not whole
        assert sh("audit", "--format", "json") == direct
    finally:
        run(["agent", "stop"])


def test_vault_copy_copies_a_format_5_register_as_it_is(run, five, tmp_path):
    ok(as_(run, CUSTODIAN, "cred", "set", BROOK_ACCOUNT, input="Copied-Password-Number-7!\n"))
    ok(as_(run, CUSTODIAN, "cred", "show", BROOK_ACCOUNT, "--field", "password", "--reason", "r"))  # a tail record
    copy = tmp_path / "copy" / "copy.accountctl"
    error_line(as_(run, OAK_HEAD, "vault", "copy", "--to", str(copy)), 3)  # the custodian rule
    ok(as_(run, CUSTODIAN, "vault", "copy", "--to", str(copy)))
    assert copy.read_bytes() == five.read_bytes()
    listed = run(["--register", str(copy), "--as", BROOK_HEAD, "incident", "list", "--json"])
    assert json.loads(ok(listed).stdout) == [] and "Brookside Academy only" in listed.stderr
    error_line(as_(run, CUSTODIAN, "vault", "copy", "--to", str(copy)), 2, "already exists")


def test_school_options_of_format_5_are_refused_on_format_4_and_change_nothing(run, oak, monkeypatch):
    from conftest import CUSTODIAN as OAK_CUSTODIAN, refused

    monkeypatch.setenv("ACCOUNTCTL_NEW_PASSPHRASE", "a long new passphrase for tom")
    args = ["--as", OAK_CUSTODIAN, "person", "grant", "t.one@oak.sch.uk", "--access", "register", "--school", "oak"]
    refused(run, oak, args, 2, "format 5", "vault upgrade")
    refused(
        run, oak, ["--as", OAK_CUSTODIAN, "vault", "upgrade", "--yes", "--school", "nobody-equals-sign"], 2, "EMAIL="
    )


def test_a_save_that_would_copy_a_damaged_segment_writes_nothing(run, five):
    """F8, choice (a): Brookside's head saves, which copies Oakfield's segments they never read; one of
    them was damaged on disk, so the save stops (exit 4) and the file is as it was, damage and all."""
    from accountctl.store import fileformat5 as ff5, register as store, segments as sg

    with store.open_register(five, actor=CUSTODIAN, passphrase_source=lambda: demo.PASSPHRASE) as reg:
        oak_scope = bytes.fromhex(reg.membership.school_scopes["oakfield"])
    data = bytearray(five.read_bytes())
    header, raw = ff5.parse_header(bytes(data))
    index, _ = ff5.read_index(bytes(data), header, raw)
    oak = next(e for e in index.segments if e.kind == sg.SCHOOL_RECORDS and e.scope == oak_scope)
    data[len(raw) + header.index_len + index.offsets()[oak.seg_id] + oak.length // 2] ^= 1
    five.write_bytes(bytes(data))
    backup = five.with_name(five.name + ".bak")
    kept = backup.read_bytes() if backup.exists() else None
    state = Path(os.environ["XDG_STATE_HOME"])

    def remembered() -> dict:
        return {p: p.read_bytes() for p in state.rglob("*") if p.is_file()}

    ok(as_(run, BROOK_HEAD, "account", "list"))  # this machine knows the head's view before the save
    known = remembered()
    result = as_(run, BROOK_HEAD, "review", "brookside-facebook-brooksideacademy")
    # The command's own message is written before its save: the exit code and the last line say it failed.
    assert result.exit_code == 4 and "does not match its index; nothing was written" in result.stderr.splitlines()[-1]
    assert five.read_bytes() == bytes(data)
    assert not five.with_name(five.name + ".tmp").exists()
    assert (backup.read_bytes() if backup.exists() else None) == kept
    assert remembered() == known  # nor what this machine remembers of the register


def _school_batches(path) -> list:
    from accountctl.store import fileformat5 as ff5, segments as sg

    data = path.read_bytes()
    header, raw = ff5.parse_header(data)
    index, _ = ff5.read_index(data, header, raw)
    return [e for e in index.segments if e.kind == sg.SCHOOL_BATCH]


def test_a_schools_old_records_move_into_write_once_batches_that_every_reader_reads(run, tmp_path, monkeypatch):
    """F8 step 3 for a school: at 5 records (256 in use) they leave its records segment for a batch of
    their own, written once; the history reads the same, a rotation re-encrypts them, and a machine
    that never saw the register checks every record, the batches' included."""
    from accountctl.store import format5

    monkeypatch.setattr(format5, "SCHOOL_BATCH_AT", 5)
    path = demo_format_4(tmp_path / "s")
    monkeypatch.setenv("ACCOUNTCTL_REGISTER", str(path))
    monkeypatch.setenv("ACCOUNTCTL_PASSPHRASE", demo.PASSPHRASE)
    four = json.loads(ok(as_(run, CUSTODIAN, "log", "--json")).stdout)
    ok(as_(run, CUSTODIAN, "vault", "upgrade", "--yes"))
    made = _school_batches(path)
    assert len({e.scope for e in made}) >= 2
    assert json.loads(ok(as_(run, CUSTODIAN, "log", "--json")).stdout)[: len(four)] == four
    brook_before = json.loads(ok(as_(run, BROOK_HEAD, "log", "--json")).stdout)
    assert brook_before and not any((e.get("account") or "").startswith("oakfield") for e in brook_before)
    for _ in range(5):
        ok(as_(run, BROOK_HEAD, "review", "brookside-facebook-brooksideacademy"))
    after = _school_batches(path)
    assert {(e.seg_id, e.digest) for e in made} < {(e.seg_id, e.digest) for e in after}  # kept, one more
    brook_after = json.loads(ok(as_(run, BROOK_HEAD, "log", "--json")).stdout)
    assert brook_after[: len(brook_before)] == brook_before and len(brook_after) == len(brook_before) + 5
    ok(as_(run, CUSTODIAN, "person", "revoke", OAK_HEAD))  # Oakfield's keys replaced
    oak_scope = {e.scope for e in after} - {e.scope for e in _school_batches(path) if e.epoch == 1}
    assert oak_scope  # Oakfield's batches were encrypted again, under its new key
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "a-new-machine"))
    for who in (CUSTODIAN, BROOK_HEAD):
        assert json.loads(ok(as_(run, who, "verify", "--json")).stdout)["ok"], who
    assert json.loads(ok(as_(run, CUSTODIAN, "log", "--json")).stdout)[: len(four)] == four


CENTRAL_STAFF = "marcus.green@oakfieldtrust.org.uk"


def test_a_head_sees_the_central_team_who_work_on_their_schools_accounts(run, five):
    """The central team's staff are the trust's records: a head whose key opens only their school
    audits a central admin on their account as the custodian does, and may name one as an admin."""
    ok(as_(run, CUSTODIAN, "account", "admin", "add", BROOK_ACCOUNT, CENTRAL_STAFF))

    def findings(*args: str) -> list:
        report = json.loads(run(["--as", *args, "audit", "--format", "json", "--school", "brookside"]).stdout)
        return sorted((f["rule"], f.get("account") or "", f["message"]) for f in report["findings"])

    by_head, by_custodian = findings(BROOK_HEAD), findings(CUSTODIAN)
    assert by_head == by_custodian
    assert not [f for f in by_head if CENTRAL_STAFF in f[2] and f[0] == "ADMIN_NOT_ELIGIBLE"]
    staff = json.loads(ok(as_(run, BROOK_HEAD, "staff", "list", "--json")).stdout)
    assert {s["school"] for s in staff} == {"brookside", "central"}
    central = json.loads(ok(as_(run, BROOK_HEAD, "staff", "list", "--school", "central", "--json")).stdout)
    assert {s["school"] for s in central} == {"central"} and CENTRAL_STAFF in {s["email"] for s in central}
    error_line(as_(run, BROOK_HEAD, "account", "list", "--school", "central"), 3, "central")
    url = "https://www.instagram.com/brooksiderowing"
    request = as_(
        run, BROOK_HEAD, *_request("instagram", "brooksiderowing", url, "sport@brookside.sch.uk", CENTRAL_STAFF)
    )
    assert request.exit_code == 0, request.stderr
    # Their records are the trust's: nothing of the central school's own segment is opened for it.
    assert json.loads(ok(as_(run, CUSTODIAN, "staff", "show", CENTRAL_STAFF, "--json")).stdout)["school"] == "central"


def test_a_head_sees_their_channel_is_reached_through_a_record_their_key_does_not_open(run, five):
    """Oakfield's page is owned by the central team's business portfolio: its head's `account show`
    names that way in and says they cannot see its people, where it used to fail as unknown."""
    page = "oakfield-facebook-oakfieldprimary"
    shown = json.loads(ok(as_(run, OAK_HEAD, "account", "show", page, "--json")).stdout)
    portfolio = "central-meta-business-oakfieldtrust"
    assert portfolio in shown["via"]
    line = next(w for w in shown["ways_in"] if portfolio in w)
    assert "your key does not open" in line
    by_custodian = json.loads(ok(as_(run, CUSTODIAN, "account", "show", page, "--json")).stdout)
    assert "marcus.green@oakfieldtrust.org.uk (admin)" in next(w for w in by_custodian["ways_in"] if portfolio in w)


@pytest.mark.parametrize("batch_at,trust_batch", [(None, None), (5, 5), (2, None)])
def test_log_of_the_last_events_or_one_account_is_the_whole_logs_own(run, tmp_path, monkeypatch, batch_at, trust_batch):
    """`log --limit N` and `log --account ID` load only those events (F8): the same as the whole log
    cut down, for a custodian and each head, with bodies in the records or moved into history batches."""
    from accountctl.store import format5

    if batch_at is not None:  # (2, None): the newest records in school batches, behind a long journal
        monkeypatch.setattr(format5, "SCHOOL_BATCH_AT", batch_at)
    if trust_batch is not None:
        monkeypatch.setattr(format5, "BATCH", trust_batch)
    path = demo_format_4(tmp_path / "l")
    monkeypatch.setenv("ACCOUNTCTL_REGISTER", str(path))
    monkeypatch.setenv("ACCOUNTCTL_PASSPHRASE", demo.PASSPHRASE)
    ok(as_(run, CUSTODIAN, "vault", "upgrade", "--yes"))
    for _ in range(3):
        ok(as_(run, BROOK_HEAD, "review", "brookside-facebook-brooksideacademy"))
    for who in (CUSTODIAN, OAK_HEAD, BROOK_HEAD):
        whole = json.loads(ok(as_(run, who, "log", "--json")).stdout)
        for n in (1, 4, 9, 60, 10_000):
            assert json.loads(ok(as_(run, who, "log", "--limit", str(n), "--json")).stdout) == whole[-n:], (who, n)
        accounts = {e["account"] for e in whole if e["account"]}
        for account in sorted(accounts)[:6] + ["brookside-facebook-brooksideacademy"] * (who != OAK_HEAD):
            mine = [e for e in whole if e["account"] == account]
            assert json.loads(ok(as_(run, who, "log", "--account", account.upper(), "--json")).stdout) == mine
            limited = as_(run, who, "log", "--account", account, "--limit", "2", "--json")
            assert json.loads(ok(limited).stdout) == mine[-2:]


def test_a_record_that_names_an_account_in_escapes_is_still_read_for_its_log():
    """`log --account` parses only the records whose text names the account; a record a writer escaped
    (JSON allows \\u0061 for a) or spaced is read too."""
    from accountctl.store.register.history5 import may_name

    quoted = json.dumps("oak-x-news")
    assert may_name('{"account":"oak-x-news","seq":3}', quoted)
    assert may_name('{"account" : "oak-x-news"}', quoted)
    assert may_name('{"account":"\\u006fak-x-news"}', quoted)
    assert json.loads('{"account":"\\u006fak-x-news"}')["account"] == "oak-x-news"
    assert not may_name('{"account":"oak-x-newsletter"}', quoted)
    assert not may_name('{"account":"brook-x-news"}', quoted)


OAK_NEWS = "oakfield-x-oakfieldnews"


def test_the_report_reads_the_transfers_from_format_5_as_from_format_4(run, five, tmp_path, monkeypatch):
    """The report loads only the history's ownership transfers (core.report.TRANSFER): its figures are
    those of the whole history, in format 5 as in format 4."""

    def changes(*register: str) -> None:  # two transfers, and an event of another kind
        for account, to in ((BROOK_ACCOUNT, "sara.lee@brookside.sch.uk"), (OAK_NEWS, "raj.mehta@oakfield.sch.uk")):
            ok(run([*register, "--as", CUSTODIAN, "account", "transfer", account, "--to", to, "--reason", "handover"]))
        ok(run([*register, "--as", CUSTODIAN, "account", "admin", "add", BROOK_ACCOUNT, "ben.carter@brookside.sch.uk"]))

    def report(who: str, register=None) -> dict:
        args = ["--register", str(register)] if register else []
        out = tmp_path / "r.html"
        return json.loads(ok(run([*args, "--as", who, "report", "--out", str(out), "--json"])).stdout)

    changes()
    by_custodian = report(CUSTODIAN)
    assert {t["account"] for t in by_custodian["transfers"]} == {BROOK_ACCOUNT, OAK_NEWS}
    assert [t["account"] for t in report(BROOK_HEAD)["transfers"]] == [BROOK_ACCOUNT]
    four = tmp_path / "four" / "demo.accountctl"
    four.parent.mkdir(mode=0o700)
    four.write_bytes(_BUILT["four"])
    four.chmod(0o600)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "another-machine"))
    changes("--register", str(four))

    def transfers(data: dict) -> list:  # `at` is the second each was made
        return [{k: v for k, v in t.items() if k != "at"} for t in data["transfers"]]

    assert transfers(report(CUSTODIAN, four)) == transfers(by_custodian)


def test_verify_checks_from_the_start_what_this_machine_checked_before(run, five, tmp_path, monkeypatch):
    """Brookside's head alters an old event's record in their own school and saves with the store's own
    save, signed as themselves. A machine that checked that event before does not check it again, so its
    commands still open; its `verify` checks everything from the start, names the altered record (exit 1),
    and a machine that never saw the register refuses it (exit 4)."""
    from accountctl import chain
    from accountctl.store import format5

    ok(as_(run, CUSTODIAN, "account", "list"))  # this machine has checked the whole history
    assert json.loads(ok(as_(run, CUSTODIAN, "verify", "--json")).stdout)["ok"]
    with _open(five, BROOK_HEAD, write=True) as reg:
        scope = bytes.fromhex(reg.membership.school_scopes["brookside"])
        conn = sqlite3.connect(":memory:")
        conn.deserialize(reg.opened.plain[scope][0])
        seq, text = conn.execute("SELECT seq, body FROM event_bodies ORDER BY seq LIMIT 1").fetchone()
        altered = chain.canonical({**json.loads(text), "details": {"note": "nothing happened"}}).decode()
        real = format5._earlier

        def earlier(previous, where, old_keys):  # their own code: the records their save carries over
            found = real(previous, where, old_keys)
            return [(s, altered if (where, s) == (scope, seq) else t) for s, t in found]

        monkeypatch.setattr(format5, "_earlier", earlier)
        reg.db.execute("UPDATE accounts SET reviewed_on = '2026-12-01' WHERE id = ?", (BROOK_ACCOUNT,))
        chain.record(reg.db, BROOK_HEAD, "account.review", account=BROOK_ACCOUNT)
    monkeypatch.setattr(format5, "_earlier", real)
    ok(as_(run, CUSTODIAN, "account", "list"))
    result = as_(run, CUSTODIAN, "verify", "--json")
    assert result.exit_code == 1
    assert any(f"event {seq}'s record was altered" in p for p in json.loads(result.stdout)["problems"])
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "a-new-machine"))
    error_line(as_(run, CUSTODIAN, "account", "list"), 4, "altered")


def test_verify_by_a_head_checks_the_bytes_of_schools_their_key_does_not_open(run, five):
    """A flipped byte in Oakfield's records: Brookside's head never decrypts that segment, but their
    `verify` checks every segment's bytes against the signed index, a segment at a time."""
    from accountctl.store import fileformat5 as ff5, segments as sg

    data = bytearray(five.read_bytes())
    header, raw = ff5.parse_header(bytes(data))
    index, _ = ff5.read_index(bytes(data), header, raw)
    with _open(five, CUSTODIAN) as reg:
        oak = bytes.fromhex(reg.membership.school_scopes["oakfield"])
    entry = next(e for e in index.segments if e.kind == sg.SCHOOL_RECORDS and e.scope == oak)
    at = len(raw) + header.index_len + index.offsets()[entry.seg_id] + entry.length // 2
    data[at] ^= 1
    five.write_bytes(bytes(data))
    ok(as_(run, BROOK_HEAD, "account", "list"))  # what they read is whole
    result = as_(run, BROOK_HEAD, "verify", "--json")
    assert result.exit_code == 1
    assert [p for p in json.loads(result.stdout)["problems"] if "is not the one the index names" in p]
    error_line(as_(run, CUSTODIAN, "account", "list"), 4)


def test_a_save_that_adds_no_membership_record_checks_none_of_their_signatures_again(five, monkeypatch):
    """The open verified the membership chain up to its head; a one-account save that adds no record
    does not verify every record's signature again (50 ms at the large trust), and one that adds a
    record does."""
    from accountctl import chain, crypto, membership
    from accountctl.errors import DamagedError

    calls = []
    real = crypto.verify_signature

    def counting(key, signature, message):
        if message.startswith(membership.LABEL_MEMBERSHIP):
            calls.append(1)
        return real(key, signature, message)

    monkeypatch.setattr(crypto, "verify_signature", counting)
    with _open(five, CUSTODIAN, write=True) as reg:
        reg.db.execute("UPDATE accounts SET reviewed_on = '2026-12-01' WHERE id = ?", (BROOK_ACCOUNT,))
        chain.record(reg.db, CUSTODIAN, "account.review", account=BROOK_ACCOUNT)
        calls.clear()
    assert calls == []
    with _open(five, CUSTODIAN, write=True) as reg:
        calls.clear()
        reg.db.execute("UPDATE grants SET signature = X'00' WHERE id = (SELECT max(id) FROM grants)")
        chain.record(reg.db, CUSTODIAN, "account.review", account=BROOK_ACCOUNT)
        with pytest.raises(DamagedError):
            reg.reload_membership()  # the chain no longer ends at the head it verified: all checked again
        reg.db.execute("DELETE FROM main.events")  # nothing to save
        reg._changes_at_open = reg.db.total_changes


def test_a_register_that_kept_the_central_teams_staff_in_its_segment_moves_them_at_the_next_save(
    run, tmp_path, monkeypatch
):
    """Format 5 as written before the central team's staff were the trust's rows: every reader still
    opens it, and the next save by a reader of the central school moves them, after which a head sees them."""
    from accountctl.store import lookup5, split

    path = demo_format_4(tmp_path / "old")
    monkeypatch.setenv("ACCOUNTCTL_REGISTER", str(path))
    monkeypatch.setenv("ACCOUNTCTL_PASSPHRASE", demo.PASSPHRASE)
    with monkeypatch.context() as before:  # the routes of stops 34 and 35
        before.setitem(split.ROUTES, "staff", "{r}.school")
        before.setitem(split.MEMBERS, "staff", "{r}.school = :school")
        before.setitem(split._OWN_ROWS, "staff", "r.school = :school")
        before.setitem(lookup5.KINDS, "staff", "SELECT email FROM main.staff WHERE school = ?")
        ok(as_(run, CUSTODIAN, "vault", "upgrade", "--yes"))

    def central_seen_by_head() -> set:
        listed = json.loads(ok(as_(run, BROOK_HEAD, "staff", "list", "--json")).stdout)
        return {s["email"] for s in listed if s["school"] == "central"}

    # A machine that never saw it checks every segment's rows, the central school's staff among them.
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "another-machine"))
    assert central_seen_by_head() == set()  # in central's segment, which their key does not open
    ok(as_(run, CUSTODIAN, "account", "list"))
    ok(as_(run, BROOK_HEAD, "review", BROOK_ACCOUNT))  # a head's save cannot move them: it leaves them
    assert central_seen_by_head() == set()
    ok(as_(run, CUSTODIAN, "staff", "train", "ben.carter@brookside.sch.uk", "--on", "2026-11-01"))  # moves them
    assert CENTRAL_STAFF in central_seen_by_head()
    with _open(path, CUSTODIAN) as reg:
        assert not reg.opened.legacy
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "a-new-machine"))
    for who in (CUSTODIAN, OAK_HEAD, BROOK_HEAD):
        assert json.loads(ok(as_(run, who, "verify", "--json")).stdout)["ok"], who
