"""Trust between key holders: each attack an insider could make with their own passphrase and the store module.

Every test here performs the attack the way a key holder would (their own unlock, the project's store
module, a few lines of Python) and asserts that it is refused. Written before the protections; each
failed against the code that came before them.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import pytest
from conftest import CUSTODIAN, HEAD, PASSPHRASE, ok, refused

from accountctl import membership
from accountctl.core import approvals, events
from accountctl.core.events import canonical
from accountctl import crypto
from accountctl.store import fileformat as ff, witness
from accountctl.store.register import open_register

IT2 = "it2@oak.sch.uk"
SLT = "slt@oak.sch.uk"


def _open(path, who, write=True):
    return open_register(path, actor=who, passphrase_source=lambda: PASSPHRASE, write=write, use_keyring=False)


def _real_yesterday() -> str:
    return (datetime.now(timezone.utc).date() - timedelta(days=1)).isoformat()


@pytest.fixture
def trust(run, oak, monkeypatch):
    """The oak register with a second custodian (IT2) and an SLT member, each with a slot; acting as CUSTODIAN."""
    monkeypatch.setenv("ACCOUNTCTL_USER", CUSTODIAN)
    ok(run(f'staff add {IT2} --name "Ivy Two" --school oak --role it'))
    ok(run(f'staff add {SLT} --name "Sam Slt" --school oak --role slt'))
    ok(run(f"person grant {IT2} --access vault"))
    ok(run(f"person grant {SLT} --access register"))
    ok(run(f"person grant {HEAD} --access register"))
    return oak


@contextmanager
def _open_unchecked(path, who, *, sign_events=True):
    """As an attacker's own code would: open and save with the membership check (and, if asked, the
    refusal to save events in someone else's name) switched off."""
    from accountctl.store import register as store_module, trust as trust_records

    real_check, real_sign = trust_records.check_header, store_module.Register._sign_new_events
    trust_records.check_header = lambda *a: None
    if not sign_events:
        store_module.Register._sign_new_events = lambda self: None
    try:
        with _open(path, who) as reg:
            yield reg
    finally:
        trust_records.check_header = real_check
        store_module.Register._sign_new_events = real_sign


def rewrite_history(path, who: str, change) -> None:
    """As `who`, with their own code: rewrite the whole history (`change` maps the list of events) and re-chain it."""
    with _open(path, who) as reg:
        reg.load_history()
        rows = change([dict(r) for r in reg.db.execute("SELECT * FROM all_events ORDER BY seq")])
        reg.db.execute("DELETE FROM main.events")
        reg.db.execute("DELETE FROM history.events")
        prev = events.GENESIS
        for seq, r in enumerate(rows, start=1):
            r["seq"], r["prev_hash"] = seq, prev
            r["details"] = json.loads(r["details"])
            r["hash"] = events.event_hash(r, prev)
            cols = [c for c in r if c != "details"]
            reg.db.execute(
                f"INSERT INTO main.events({', '.join(cols)}, details) VALUES ({', '.join('?' for _ in cols)}, ?)",
                [r[c] for c in cols] + [json.dumps(r["details"])],
            )
            prev = r["hash"]
        reg.db.execute("UPDATE meta SET value = ? WHERE key = 'events_head'", (f"{len(rows)} {prev}",))


def _hidden_slot(path, who, access):
    """As `who`, append a key slot for nobody whose private key the attacker keeps (the leaver's back door)."""
    with _open(path, who) as reg:
        x_private, x_public = crypto.x25519_keypair()
        kek = crypto.random_bytes(32)
        slot_id = crypto.random_bytes(16)
        inner = x_private + bytes(32)  # X25519 private, and an Ed25519 private the attacker makes up
        slot = ff.Slot(
            slot_id,
            ff.KIND_PERSON,
            access,
            ff.person_tag(reg.file_id, "ghost@oak.sch.uk"),
            ff.KDF_ARGON2ID,
            crypto.random_bytes(16),
            ff.KDF_FLOOR,
            x_public,
            crypto.seal(kek, inner, ff.LABEL_SLOT_KEYS + ff.slot_aad(reg.file_id, slot_id)),
            b"",
            b"",
        )
        from accountctl.store.register import _seal_keys_into

        _seal_keys_into(slot, reg.file_id, reg.keys)
        reg.header.slots.append(slot)
        reg.header_changed = True
    return slot_id


def test_a_custodian_cannot_hide_a_vault_slot_for_after_they_leave(run, trust):
    slot_id = _hidden_slot(trust, IT2, ff.ACCESS_VAULT)
    # The next command, whoever runs it, refuses the file and names the slot; nothing is written.
    line = refused(run, trust, f"--as {CUSTODIAN} person revoke {IT2}", 4, "slot", slot_id.hex()[:8])
    assert line.endswith(
        f"key slot {slot_id.hex()[:8]} has no grant signed by a custodian "
        "(a slot added behind the register's back); nothing was read or written"
    ), line
    refused(run, trust, f"--as {SLT} staff list", 4, slot_id.hex()[:8])
    refused(run, trust, f"--as {CUSTODIAN} audit", 4)
    refused(run, trust, f"--as {CUSTODIAN} verify", 4)


def test_an_slt_member_cannot_hide_a_register_slot(run, trust):
    slot_id = _hidden_slot(trust, SLT, ff.ACCESS_REGISTER)
    refused(run, trust, f"--as {CUSTODIAN} person revoke {SLT}", 4, slot_id.hex()[:8])
    refused(run, trust, f"--as {HEAD} staff list", 4, slot_id.hex()[:8])


def test_a_slot_retagged_with_another_email_is_refused(run, trust):
    with _open(trust, SLT) as reg:
        mine = reg.slot
        mine.tag = ff.person_tag(reg.file_id, "t.one@oak.sch.uk")
        reg.header_changed = True
    refused(run, trust, "--as t.one@oak.sch.uk staff list", 4, mine.slot_id.hex()[:8])
    refused(run, trust, f"--as {CUSTODIAN} person revoke {SLT}", 4, mine.slot_id.hex()[:8])


def test_a_slot_given_more_access_than_granted_is_refused(run, trust):
    with _open(trust, SLT) as reg:
        reg.slot.access = ff.ACCESS_VAULT
        reg.slot.sealed_vault = crypto.random_bytes(ff.SEALED_KEY_LEN)
        reg.header_changed = True
    refused(run, trust, f"--as {CUSTODIAN} staff list", 4, reg.slot.slot_id.hex()[:8])


def test_a_slot_with_a_swapped_public_key_is_refused(run, trust):
    with _open(trust, SLT) as reg:
        _, reg.slot.public = crypto.x25519_keypair()
        reg.header_changed = True
    refused(run, trust, f"--as {CUSTODIAN} staff list", 4, reg.slot.slot_id.hex()[:8])


def test_a_granted_slot_removed_from_the_header_is_refused(run, trust):
    with _open(trust, SLT) as reg:
        victim = next(s for s in reg.header.slots if s.tag == ff.person_tag(reg.file_id, HEAD))
        reg.header.slots.remove(victim)
        reg.header_changed = True
    refused(run, trust, f"--as {CUSTODIAN} staff list", 4, victim.slot_id.hex()[:8])


def test_a_grant_signed_by_someone_who_is_not_a_custodian_is_refused(run, trust):
    """An SLT member grants a hidden slot with a record she signs with her own, real, key."""

    slot_id = _hidden_slot(trust, CUSTODIAN, ff.ACCESS_REGISTER)  # (refused on open: no grant yet)
    with pytest.raises(Exception):
        with _open(trust, SLT):
            pass
    data = trust.read_bytes()
    with _open_unchecked(trust, SLT) as reg:
        member = membership.Member(
            slot_id,
            "ghost@oak.sch.uk",
            ff.person_tag(reg.file_id, "ghost@oak.sch.uk"),
            next(s.public for s in reg.header.slots if s.slot_id == slot_id),
            crypto.ed25519_keypair()[1],
            "register",
        )
        event = events.record(reg.db, SLT, "person.grant", "ghost@oak.sch.uk", details={"access": "register"})
        membership.append(
            reg.db,
            reg.file_id,
            "grant",
            SLT,
            reg.keys.signing_private,
            event["seq"],
            event["at"],
            event["at_real"],
            member=member.describe(),
        )
        reg.db.execute(
            "INSERT INTO people(email, name, access, slot_id, granted_at) VALUES (?, 'Ghost', 'register', ?, ?)",
            ("ghost@oak.sch.uk", slot_id, event["at"]),
        )
    assert trust.read_bytes() != data
    refused(run, trust, f"--as {CUSTODIAN} staff list", 4, "grant by slt@oak.sch.uk", "not signed by a custodian")


def test_a_record_removed_from_the_membership_chain_is_refused(run, trust):
    with _open(trust, SLT) as reg:
        reg.db.execute("DELETE FROM grants WHERE id = (SELECT max(id) FROM grants)")
        reg.db.execute("DELETE FROM people WHERE email = ?", (HEAD,))
    refused(run, trust, f"--as {CUSTODIAN} staff list", 4)


def test_the_people_table_must_match_the_grants(run, trust):
    with _open(trust, SLT) as reg:
        reg.db.execute("UPDATE people SET access = 'vault' WHERE email = ?", (SLT,))
    refused(run, trust, f"--as {CUSTODIAN} staff list", 4, "signed grants")


def _request(run):
    return ok(
        run(
            f"--as {CUSTODIAN} account request --school oak --platform facebook --handle oakprimary "
            "--url https://facebook.com/oakprimary --category faculty --email office@oak.sch.uk "
            "--owner t.one@oak.sch.uk --admin t.two@oak.sch.uk --aim News --audience Parents "
            "--promotion Newsletter --visibility open --pupils none"
        )
    ).stdout.strip()


def _forge_approval(reg, account_id, approver, private, public):
    account = dict(reg.db.execute("SELECT * FROM accounts WHERE id = ?", (account_id,)).fetchone())
    case = approvals.case_of(reg.db, account)
    payload = {
        "v": 1,
        "account": account_id,
        "school": "oak",
        **case,
        "case_hash": approvals.case_hash(case),
        "decision": "approved",
        "note": None,
        "approver": approver,
        "approver_roles": ["slt", "headteacher"],
        "approver_school": "oak",
        "at": "2026-11-21T10:00:00Z",
    }
    message = canonical(payload)
    reg.db.execute(
        "INSERT INTO approvals(account, decision, approver, at, note, case_hash, payload, public_key, "
        "signature) VALUES (?, 'approved', ?, ?, NULL, ?, ?, ?, ?)",
        (
            account_id,
            approver,
            payload["at"],
            payload["case_hash"],
            message.decode(),
            public,
            crypto.sign(private, message),
        ),
    )
    reg.db.execute("UPDATE accounts SET status = 'approved' WHERE id = ?", (account_id,))


@pytest.mark.parametrize("verifier", [HEAD, SLT, CUSTODIAN])
def test_an_approval_under_a_planted_retired_key_fails_everyones_verify(run, trust, verifier):
    account_id = _request(run)
    with _open(trust, SLT) as reg:
        private, public = crypto.ed25519_keypair()
        if reg.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'signing_keys'").fetchone():
            reg.db.execute(
                "INSERT INTO signing_keys(email, public_key, created_at, retired_at) "
                "VALUES (?, ?, '2026-01-01T00:00:00Z', '2026-02-01T00:00:00Z')",
                (HEAD, public),
            )
        _forge_approval(reg, account_id, HEAD, private, public)
    result = run(f"--as {verifier} verify --json")
    assert result.exit_code == 1, result.output
    problems = json.loads(result.stdout)["problems"]
    assert any(account_id in p and HEAD in p for p in problems), problems
    # And the audit does not count it as an approval.
    audit = json.loads(run(f"--as {CUSTODIAN} audit --json").stdout)
    assert any(f["rule"] == "APPROVAL_INVALID" and f["account"] == account_id for f in audit["findings"])


def test_rewriting_and_rechaining_history_fails_verify(run, trust):
    account_id = _request(run)
    ok(run(f"--as {HEAD} approve {account_id}"))
    # Remove a grant from the history and put the approval in the SLT member's name, then re-chain.
    rewrite_history(
        trust,
        SLT,
        lambda rows: [
            dict(r, actor=SLT) if r["action"] == "account.approve" else r
            for r in rows
            if not (r["action"] == "person.grant" and r["target"] == SLT)
        ],
    )
    for who in (HEAD, CUSTODIAN, SLT):
        result = run(f"--as {who} verify --json")
        assert result.exit_code == 1, result.output
        problems = " ".join(json.loads(result.stdout)["problems"])
        assert "signed" in problems


def test_the_store_refuses_to_save_an_event_in_someone_elses_name(run, trust):
    from accountctl.errors import AccessError

    data = trust.read_bytes()
    with pytest.raises(AccessError, match="in the name of"):
        with _open(trust, SLT) as reg:
            events.record(reg.db, HEAD, "audit.waive", "x", details={"note": "forged"})
    assert trust.read_bytes() == data


@pytest.mark.parametrize("signed_as", ["attacker", "nobody"])
def test_an_event_saved_in_someone_elses_name_by_own_code_fails_verify(run, trust, monkeypatch, signed_as):
    """The attacker bypasses the store's refusal (their own code) and signs the forged event with their own key."""
    from accountctl.store import register as store, trust as trust_records

    def sign_anyway(self):
        seq, digest = self.db.execute("SELECT seq, hash FROM main.events ORDER BY seq DESC LIMIT 1").fetchone()
        if signed_as == "attacker":
            self.db.execute(
                "UPDATE main.events SET signature = ? WHERE seq = ?",
                (trust_records.sign_event(self.file_id, digest, self.keys.signing_private), seq),
            )

    with monkeypatch.context() as own_code:
        own_code.setattr(store.Register, "_sign_new_events", sign_anyway)
        with _open(trust, SLT) as reg:
            events.record(reg.db, HEAD, "audit.waive", "x", details={"note": "forged"})
    result = run(f"--as {CUSTODIAN} verify --json")
    assert result.exit_code == 1, result.output
    assert any(HEAD in p and "not signed" in p for p in json.loads(result.stdout)["problems"])


def test_putting_back_an_older_copy_is_refused_and_names_both_generations(run, trust):
    old = trust.read_bytes()
    old_generation = ff.parse_header(old)[0].generation
    ok(run(f"--as {CUSTODIAN} person revoke {SLT}"))
    ok(run(f"--as {CUSTODIAN} staff list"))
    new_generation = ff.parse_header(trust.read_bytes())[0].generation
    trust.write_bytes(old)
    line = refused(run, trust, f"--as {CUSTODIAN} staff list", 4, str(old_generation), str(new_generation))
    assert "older" in line.lower() or "rollback" in line.lower()
    refused(run, trust, f"--as {SLT} staff list", 4)


def test_a_fork_with_a_higher_generation_but_without_the_last_seen_event_is_refused(run, trust):
    old = trust.read_bytes()
    ok(run('staff add a.one@oak.sch.uk --name "A One" --school oak --role staff'))
    newer = trust.read_bytes()
    # Someone works on the old copy for long enough to pass the generation this machine saw.
    trust.write_bytes(old)
    import os

    state = os.environ["XDG_STATE_HOME"]
    os.environ["XDG_STATE_HOME"] = state + "-elsewhere"  # another machine, which never saw `newer`
    try:
        for n in range(3):
            ok(run(f'staff add f.{n}@oak.sch.uk --name "F {n}" --school oak --role staff'))
    finally:
        os.environ["XDG_STATE_HOME"] = state
    assert ff.parse_header(trust.read_bytes())[0].generation > ff.parse_header(newer)[0].generation
    refused(run, trust, "staff list", 4, "event")


def test_accept_rollback_restores_on_purpose_and_other_machines_follow(run, trust, monkeypatch, tmp_path):
    backup = trust.read_bytes()
    ok(run(f"--as {CUSTODIAN} staff add late@oak.sch.uk --name Late --school oak --role staff"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "machine-b"))
    ok(run(f"--as {HEAD} staff list"))  # machine B sees the newest generation too
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    trust.write_bytes(backup)
    refused(run, trust, f"--as {CUSTODIAN} staff list", 4)
    # Only a custodian may accept, and only with a reason.
    refused(run, trust, f"--as {HEAD} vault accept-rollback --reason 'restore'", 3)
    refused(run, trust, f"--as {CUSTODIAN} vault accept-rollback --reason ' '", 2)
    ok(run(f"--as {CUSTODIAN} vault accept-rollback --reason 'Restored Friday backup after a bad import'"))
    listing = ok(run(f"--as {CUSTODIAN} staff list --json"))
    assert "late@oak.sch.uk" not in listing.stdout
    log = ok(run(f"--as {CUSTODIAN} log --json")).stdout
    assert "rollback.accepted" in log and "bad import" in log
    ok(run(f"--as {CUSTODIAN} verify"))
    # Machine B accepts it with a one-line notice naming who restored it and why; then quietly.
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "machine-b"))
    first = ok(run(f"--as {HEAD} staff list"))
    assert "Notice:" in first.stderr and CUSTODIAN in first.stderr and "bad import" in first.stderr
    assert len(first.stderr.strip().splitlines()) == 1
    second = ok(run(f"--as {HEAD} staff list"))
    assert "Notice:" not in second.stderr
    ok(run(f"--as {HEAD} verify"))


def test_an_old_copy_carrying_an_already_accepted_rollback_is_still_refused(run, trust, monkeypatch, tmp_path):
    backup = trust.read_bytes()
    ok(run(f"--as {CUSTODIAN} staff add late@oak.sch.uk --name Late --school oak --role staff"))
    trust.write_bytes(backup)
    ok(run(f"--as {CUSTODIAN} vault accept-rollback --reason 'restore'"))
    accepted = trust.read_bytes()
    ok(run(f"--as {CUSTODIAN} staff add later@oak.sch.uk --name Later --school oak --role staff"))
    trust.write_bytes(accepted)  # the copy that carries the rollback record, but older than what was seen since
    refused(run, trust, f"--as {CUSTODIAN} staff list", 4)


def test_a_rollback_signed_by_a_custodian_this_machine_saw_revoked_is_refused(run, trust, monkeypatch, tmp_path):
    """IT2 kept a copy from before their revoke and 'accepts a rollback' to it on their own machine, whose
    witness they edited to claim the newest generation: a machine that saw IT2 revoked refuses it."""
    import json as _json

    it2_machine = tmp_path / "it2-machine"
    fork = trust.read_bytes()
    monkeypatch.setenv("XDG_STATE_HOME", str(it2_machine))
    ok(run(f"--as {IT2} staff list"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    ok(run(f"--as {CUSTODIAN} person revoke {IT2}"))
    ok(run(f"--as {CUSTODIAN} staff add late@oak.sch.uk --name Late --school oak --role staff"))
    # IT2, on their own machine: the old copy back, their witness claiming a generation far ahead
    trust.write_bytes(fork)
    seen_file = it2_machine / "accountctl" / "seen.json"
    entries = _json.loads(seen_file.read_text())
    for entry in entries.values():
        entry["generation"] = 10_000
    seen_file.write_text(_json.dumps(entries))
    monkeypatch.setenv("XDG_STATE_HOME", str(it2_machine))
    ok(run(f"--as {IT2} vault accept-rollback --reason 'restore'"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    refused(run, trust, f"--as {CUSTODIAN} staff list", 4, "rolled back")


def test_a_leaver_cannot_act_by_backdating_today(run, trust, monkeypatch):
    account_id = _request(run)
    ok(run(f"--as {CUSTODIAN} staff leave {HEAD} --on {_real_yesterday()}"))
    refused(run, trust, f"--as {HEAD} approve {account_id}", 3, "left")
    monkeypatch.setenv("ACCOUNTCTL_TODAY", "2026-06-01")
    refused(run, trust, f"--as {HEAD} approve {account_id}", 3, "left")
    refused(run, trust, f"--as {HEAD} waive {account_id} TWO_ADMINS --reason x --until 2026-07-01", 3, "left")
    refused(run, trust, f"--as {HEAD} reject {account_id} --reason no", 3, "left")


def test_a_leaver_cannot_write_anything(run, trust, monkeypatch):
    ok(run(f"--as {CUSTODIAN} staff leave {IT2} --on {_real_yesterday()}"))
    monkeypatch.setenv("ACCOUNTCTL_TODAY", "2026-01-01")
    refused(run, trust, f"--as {IT2} staff add x.y@oak.sch.uk --name X --school oak --role staff", 3, "left")
    ok(run(f"--as {IT2} staff list"))  # reading is still possible until the slot is revoked


def test_an_upcoming_leaver_can_still_act(run, trust):
    account_id = _request(run)
    future = (datetime.now(timezone.utc).date() + timedelta(days=20)).isoformat()
    ok(run(f"--as {CUSTODIAN} staff leave {HEAD} --on {future}"))
    ok(run(f"--as {HEAD} approve {account_id}"))


def test_events_record_the_real_time_beside_the_effective_date(run, trust, monkeypatch):
    monkeypatch.setenv("ACCOUNTCTL_TODAY", "2026-01-05")
    ok(run('staff add b.one@oak.sch.uk --name "B One" --school oak --role staff'))
    last = json.loads(ok(run("log --limit 1 --json")).stdout)[-1]
    assert last["at"].startswith("2026-01-05")
    real = datetime.fromisoformat(last["at_real"].replace("Z", "+00:00"))
    assert abs((datetime.now(timezone.utc) - real).total_seconds()) < 300


def test_verify_reports_real_time_going_backwards(run, trust):
    with _open(trust, CUSTODIAN) as reg:
        events.record(
            reg.db,
            CUSTODIAN,
            "staff.note",
            "t.one@oak.sch.uk",
            at_real=(datetime.now(timezone.utc) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
    result = run(f"--as {CUSTODIAN} verify --json")
    assert result.exit_code == 1
    assert any("backwards" in p for p in json.loads(result.stdout)["problems"])


def test_vault_access_needs_the_it_role(run, trust):
    ok(run('staff add vol@oak.sch.uk --name "Val Volunteer" --school oak --role volunteer'))
    refused(run, trust, "person grant vol@oak.sch.uk --access vault", 2, "it")
    refused(run, trust, f"person grant {SLT} --access vault", 2)
    ok(run("person grant vol@oak.sch.uk --access register"))


def test_logout_works_after_a_revoke(run, trust, isolated):
    ok(run(f"--as {SLT} login"))
    assert isolated.store
    ok(run(f"--as {CUSTODIAN} person revoke {SLT}"))
    ok(run(f"--as {SLT} logout"))
    assert not isolated.store


def test_logout_all_forgets_every_cached_key_of_this_register(run, trust, isolated):
    ok(run(f"--as {SLT} login"))
    ok(run(f"--as {CUSTODIAN} login"))
    ok(run(f"--as {HEAD} login"))
    assert len(isolated.store) == 3
    result = ok(run("logout --all"))
    assert not isolated.store
    assert "3" in result.stderr


def test_vault_status_shows_who_saved_last(run, trust):
    ok(run(f"--as {HEAD} staff list"))
    ok(run(f"--as {CUSTODIAN} staff train t.one@oak.sch.uk --on 2026-10-01"))
    info = json.loads(ok(run(f"--as {CUSTODIAN} vault status --json")).stdout)
    assert info["saved_by"] == CUSTODIAN
    assert info["saved_at"].endswith("Z")


# -- any single change to a signed record is caught ------------------------------------------------
SIGNED_COLUMNS = {
    "grants": ("payload", "signature"),
    "events": ("seq", "at", "actor", "action", "target", "details", "prev_hash", "hash", "at_real", "signature"),
    "approvals": ("account", "decision", "approver", "at", "note", "case_hash", "payload", "public_key", "signature"),
}


@pytest.fixture(scope="module")
def signed_register(tmp_path_factory):
    """A register with grants, a revoke, a decision and signed events, built once for the property test."""
    import os

    from click.testing import CliRunner

    from accountctl.cli import cli

    folder = tmp_path_factory.mktemp("signed")
    env = {
        "ACCOUNTCTL_REGISTER": str(folder / "r.accountctl"),
        "ACCOUNTCTL_PASSPHRASE": PASSPHRASE,
        "ACCOUNTCTL_NEW_PASSPHRASE": PASSPHRASE,
        "ACCOUNTCTL_KDF": "m=19456,t=2,p=1",
        "XDG_STATE_HOME": str(folder / "state"),
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
        "ACCOUNTCTL_USER": CUSTODIAN,
    }
    runner = CliRunner()
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        for args in (
            f"init --trust Oak --email {CUSTODIAN} --name Ira",
            "school add oak --name Oak --domain oak.sch.uk",
            f"staff add {CUSTODIAN} --name Ira --school oak --role it",
            f"staff add {HEAD} --name Hana --school oak --role headteacher --role slt",
            f"staff add {SLT} --name Sam --school oak --role slt",
            "staff add t.one@oak.sch.uk --name T1 --school oak --role staff --trained-on 2026-09-01",
            "staff add t.two@oak.sch.uk --name T2 --school oak --role staff --trained-on 2026-09-01",
            f"person grant {HEAD} --access register",
            f"person grant {SLT} --access register",
            "account request --school oak --platform facebook --handle oakprimary "
            "--url https://facebook.com/oakprimary --category faculty --email office@oak.sch.uk "
            "--owner t.one@oak.sch.uk --admin t.two@oak.sch.uk --aim News --audience Parents "
            "--promotion Newsletter --visibility open --pupils none",
            f"--as {HEAD} approve oak-facebook-oakprimary",
            f"person revoke {SLT}",
        ):
            result = runner.invoke(cli, __import__("shlex").split(args), catch_exceptions=False)
            assert result.exit_code == 0, (args, result.output)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return folder / "r.accountctl"


def _mutate(value, choice: int):
    if isinstance(value, int):
        return value + 1 + choice % 5
    if value is None:
        return "x" if choice % 2 else b"\x01" * 64
    data = bytearray(value.encode("utf-8") if isinstance(value, str) else value)
    if not data:
        return "x"
    i = choice % len(data)
    data[i] = (data[i] + 1 + choice % 7) % 128 if isinstance(value, str) else data[i] ^ (1 << (choice % 8))
    return data.decode("utf-8", "replace") if isinstance(value, str) else bytes(data)


from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    table=st.sampled_from(sorted(SIGNED_COLUMNS)),
    row_choice=st.integers(0, 10**6),
    column_choice=st.integers(0, 10**6),
    change=st.integers(0, 10**6),
)
def test_any_single_change_to_a_signed_record_is_caught(
    signed_register, tmp_path_factory, monkeypatch, table, row_choice, column_choice, change
):
    from accountctl.core import verification
    from accountctl.errors import DamagedError

    folder = tmp_path_factory.mktemp("mut")
    path = folder / "r.accountctl"
    path.write_bytes(signed_register.read_bytes())
    monkeypatch.setenv("XDG_STATE_HOME", str(folder / "state"))
    columns = SIGNED_COLUMNS[table]
    column = columns[column_choice % len(columns)]
    # An insider (the head, register access) changes one value with their own code and saves as themselves.
    with _open_unchecked(path, HEAD, sign_events=False) as reg:
        reg.load_history()
        source = "all_events" if table == "events" else table
        keys = [r[0] for r in reg.db.execute(f"SELECT {'seq' if table == 'events' else 'id'} FROM {source}")]
        key = keys[row_choice % len(keys)]
        where = "seq" if table == "events" else "id"
        schema = "main"
        if table == "events" and not reg.db.execute("SELECT 1 FROM main.events WHERE seq = ?", (key,)).fetchone():
            schema = "history"
            reg._history_rewritten = True
        (old,) = reg.db.execute(f"SELECT {column} FROM {schema}.{table} WHERE {where} = ?", (key,)).fetchone()
        new = _mutate(old, change)
        if new == old:
            return
        try:
            reg.db.execute(f"UPDATE {schema}.{table} SET {column} = ? WHERE {where} = ?", (new, key))
        except sqlite3.IntegrityError:
            return  # e.g. a sequence number that another event has: not a change that can be made
        reg.header_changed = True
    try:
        with open_register(
            path, actor=CUSTODIAN, passphrase_source=lambda: PASSPHRASE, use_keyring=False, history=True
        ) as reg:
            problems = verification.verify(reg.db, reg.membership, reg.file_id, reg.save_problems())
    except DamagedError:
        return
    assert problems, f"changing {table}.{column} of row {key} from {old!r} to {new!r} went unnoticed"


# -- file and process hygiene ----------------------------------------------------------------------
def _mode(path):
    import stat

    return stat.S_IMODE(path.stat().st_mode)


def test_register_backup_lock_and_folder_are_private(run, tmp_path, monkeypatch):
    import os

    os.umask(0o022)
    path = tmp_path / "new-folder" / "trust.accountctl"
    monkeypatch.setenv("ACCOUNTCTL_REGISTER", str(path))
    ok(run(f"init --trust Oak --email {CUSTODIAN} --name Ira"))
    ok(run("school add oak --name Oak --domain oak.sch.uk"))
    assert _mode(path.parent) == 0o700
    for name in ("trust.accountctl", "trust.accountctl.bak", "trust.accountctl.lock"):
        assert _mode(path.parent / name) == 0o600, name
    path.chmod(0o644)  # a register made readable by hand, or by an older accountctl
    ok(run("school add elm --name Elm --domain elm.sch.uk"))
    assert _mode(path) == 0o600 and _mode(path.with_name(path.name + ".bak")) == 0o600


def test_a_planted_symlink_at_the_temp_file_is_not_followed(run, oak, tmp_path):
    target = tmp_path / "victim.txt"
    target.write_text("keep me")
    tmp = oak.with_name(oak.name + ".tmp")
    tmp.symlink_to(target)
    ok(run("staff add z.z@oak.sch.uk --name Z --school oak --role staff"))
    assert target.read_text() == "keep me"
    assert not tmp.exists()
    ok(run("staff list"))


def test_a_damaged_history_archive_is_never_rotated_into_the_backup(run, oak):
    from accountctl.store import register as store_module

    for n in range(3):
        ok(run(f'staff add s{n}@oak.sch.uk --name "S {n}" --school oak --role staff'))
    # Force an archive, then damage one bit of it.
    with _open(oak, CUSTODIAN) as reg:
        reg.load_history()
        reg._history_rewritten = True
        reg.header_changed = True
    data = bytearray(oak.read_bytes())
    header, raw = ff.parse_header(bytes(data))
    assert header.history_len
    data[len(raw) + header.body_len + 5] ^= 1
    oak.write_bytes(bytes(data))
    backup = oak.with_name(oak.name + ".bak").read_bytes()
    damaged = oak.read_bytes()
    for _ in range(2):
        refused(run, oak, "staff add late@oak.sch.uk --name Late --school oak --role staff", 4, "history archive")
    assert oak.read_bytes() == damaged
    assert oak.with_name(oak.name + ".bak").read_bytes() == backup
    assert not oak.with_name(oak.name + ".tmp").exists()
    assert store_module  # the store module is what refused


def test_core_dumps_are_off_once_keys_are_in_memory(run, oak):
    import resource

    ok(run("staff list"))
    assert resource.getrlimit(resource.RLIMIT_CORE) == (0, 0)
    import ctypes

    assert ctypes.CDLL(None).prctl(3, 0, 0, 0, 0) == 0  # PR_GET_DUMPABLE: 0 = not dumpable


def test_a_swapped_recovery_slot_is_refused(run, trust):
    """A custodian replaces the recovery slot's key with one of their own, so rotations after their revoke seal to it."""
    from accountctl.store.register import _seal_keys_into

    with _open(trust, IT2) as reg:
        recovery = next(s for s in reg.header.slots if s.kind == ff.KIND_RECOVERY)
        _, recovery.public = crypto.x25519_keypair()
        _seal_keys_into(recovery, reg.file_id, reg.keys)
        reg.header_changed = True
    line = refused(run, trust, f"--as {CUSTODIAN} person revoke {IT2}", 4, f"key slot {recovery.slot_id.hex()[:8]} ")
    assert "recovery slot" in line


def test_a_second_recovery_slot_is_refused(run, trust):
    with _open(trust, SLT) as reg:
        recovery = next(s for s in reg.header.slots if s.kind == ff.KIND_RECOVERY)
        extra = ff.Slot(
            crypto.random_bytes(16),
            ff.KIND_RECOVERY,
            ff.ACCESS_VAULT,
            bytes(16),
            ff.KDF_HKDF,
            crypto.random_bytes(16),
            recovery.kdf,
            crypto.x25519_keypair()[1],
            recovery.wrapped,
            recovery.sealed_register,
            recovery.sealed_vault,
        )
        reg.header.slots.append(extra)
        reg.header_changed = True
    refused(run, trust, f"--as {CUSTODIAN} staff list", 4, f"key slot {extra.slot_id.hex()[:8]} ")


def test_a_key_counts_only_until_the_signed_record_that_retired_it(run, trust, monkeypatch):
    """Keys are valid from the event that granted them up to, not including, the one that retired them."""

    with _open(trust, CUSTODIAN, write=False) as reg:
        before = reg.membership
        head_key, slt_key = before.current_key(HEAD), before.current_key(SLT)
        granted = next(r["seq"] for r in before.records if r["kind"] == "grant" and r["member"]["email"] == HEAD)
    assert before.keys_of(HEAD, granted) == [head_key] and before.keys_of(HEAD, granted - 1) == []
    ok(run(f"person revoke {SLT}"))
    with _open(trust, CUSTODIAN, write=False) as reg:
        after = reg.membership
        revoked = next(r["seq"] for r in after.records if r["kind"] == "revoke")
    assert after.keys_of(SLT, revoked - 1) == [slt_key]
    assert after.keys_of(SLT, revoked) == [] and after.current_key(SLT) is None
    assert after.keys_of(HEAD, revoked) == [head_key]  # nobody else's key was retired
    assert slt_key in after.retired_keys() and head_key not in after.retired_keys()
    assert after.key_owners()[slt_key] == SLT
    assert membership.derive(reg.db).key_owners() == after.key_owners()


def test_a_recovery_retires_only_the_recovered_persons_old_key(run, with_recovery_trust, monkeypatch):
    path, recovery_key = with_recovery_trust
    with _open(path, CUSTODIAN, write=False) as reg:
        old_head, old_it = reg.membership.current_key(HEAD), reg.membership.current_key(CUSTODIAN)
    monkeypatch.setenv("ACCOUNTCTL_RECOVERY_KEY", recovery_key)
    ok(run(f"vault recover {HEAD}"))
    with _open(path, CUSTODIAN, write=False) as reg:
        ms = reg.membership
        recovered = next(r["seq"] for r in ms.records if r["kind"] == "recover")
    new_head = ms.current_key(HEAD)
    assert new_head != old_head and ms.current_key(CUSTODIAN) == old_it
    assert ms.keys_of(HEAD, recovered - 1) == [old_head] and ms.keys_of(HEAD, recovered) == [new_head]
    assert ms.keys_of(CUSTODIAN, recovered) == [old_it]
    ok(run(f"--as {CUSTODIAN} verify"))


@pytest.fixture
def with_recovery_trust(run, register_path, monkeypatch):
    monkeypatch.setenv("ACCOUNTCTL_USER", CUSTODIAN)
    recovery_key = ok(run(f'init --trust "Oak Trust" --email {CUSTODIAN} --name "Ira Tech"')).stdout.strip()
    ok(run('school add oak --name "Oak Primary" --domain oak.sch.uk'))
    ok(run(f'staff add {CUSTODIAN} --name "Ira Tech" --school oak --role it'))
    ok(run(f'staff add {HEAD} --name "Hana Head" --school oak --role headteacher --role slt'))
    ok(run(f"person grant {HEAD} --access register"))
    return register_path, recovery_key.splitlines()[-1]


# -- the membership chain itself, record by record (direct calls on an opened register's database) --------
@pytest.fixture
def members_db(trust):
    """The trust register's decrypted database and file id, to change in memory and re-check."""
    with _open(trust, CUSTODIAN, write=False) as reg:
        yield reg.db, reg.file_id, reg


def _rows(conn):
    return [(r[0], json.loads(r[1]), bytes(r[2])) for r in conn.execute("SELECT id, payload, signature FROM grants")]


def _rewrite(conn, row_id, payload, signature=None):
    conn.execute(
        "UPDATE grants SET payload = ?, signature = coalesce(?, signature) WHERE id = ?",
        (canonical(payload).decode(), signature, row_id),
    )


def _signed_by_custodian(conn, file_id, reg, kind, **fields):
    """A membership record of `kind` appended and signed with the custodian's own key, as an insider's code would."""

    membership.append(
        conn,
        file_id,
        kind,
        CUSTODIAN,
        reg.keys.signing_private,
        99,
        "2026-11-30T00:00:00Z",
        "2026-11-30T00:00:00Z",
        **fields,
    )


def _refused(conn, file_id, *words):
    from accountctl.errors import DamagedError

    with pytest.raises(DamagedError) as caught:
        membership.load(conn, file_id)
    for word in words:
        assert word in str(caught.value), str(caught.value)
    return str(caught.value)


def test_a_membership_record_taken_out_of_the_middle_is_refused(members_db):
    conn, file_id, _ = members_db
    rows = _rows(conn)
    conn.execute("DELETE FROM grants WHERE id = ?", (rows[1][0],))
    _refused(conn, file_id, f"membership record {rows[2][0]}", "out of place")


def test_membership_records_swapped_are_refused(members_db):
    conn, file_id, _ = members_db
    (a, pa, sa), (b, pb, sb) = _rows(conn)[1:3]
    _rewrite(conn, a, pb, sb)
    _rewrite(conn, b, pa, sa)
    _refused(conn, file_id, f"membership record {a}", "out of place")


def test_a_record_from_another_register_is_refused(members_db):

    conn, file_id, reg = members_db
    last_id, last, _ = _rows(conn)[-1]
    forged = dict(last, file="00" * 16)
    _rewrite(
        conn, last_id, forged, crypto.sign(reg.keys.signing_private, membership.LABEL_MEMBERSHIP + canonical(forged))
    )
    _refused(conn, file_id, f"membership record {last_id}", "out of place")


def test_a_record_whose_event_number_goes_back_is_refused(members_db):

    conn, file_id, reg = members_db
    last_id, last, _ = _rows(conn)[-1]
    forged = dict(last, seq=1)
    _rewrite(
        conn, last_id, forged, crypto.sign(reg.keys.signing_private, membership.LABEL_MEMBERSHIP + canonical(forged))
    )
    _refused(conn, file_id, f"membership record {last_id}", "out of place")


@pytest.mark.parametrize("change", [{"v": 2}, {"kind": "promote"}, {"kind": "root"}])
def test_a_record_of_an_unknown_version_or_kind_or_a_second_root_is_refused(members_db, change):

    conn, file_id, reg = members_db
    last_id, last, _ = _rows(conn)[-1]
    forged = dict(last, **change)
    _rewrite(
        conn, last_id, forged, crypto.sign(reg.keys.signing_private, membership.LABEL_MEMBERSHIP + canonical(forged))
    )
    _refused(conn, file_id, f"membership record {last_id}", "out of place")


def test_a_root_that_is_not_first_is_refused(members_db):
    conn, file_id, _ = members_db
    first_id, first, _ = _rows(conn)[0]
    _rewrite(conn, first_id, dict(first, kind="grant"))
    _refused(conn, file_id, f"membership record {first_id}")


def test_an_unreadable_record_is_refused(members_db):
    conn, file_id, _ = members_db
    last_id = _rows(conn)[-1][0]
    conn.execute("UPDATE grants SET payload = '{not json' WHERE id = ?", (last_id,))
    _refused(conn, file_id, f"membership record {last_id} is not readable")


def test_no_membership_records_at_all_is_refused(members_db):
    conn, file_id, _ = members_db
    conn.execute("DELETE FROM grants")
    message = _refused(conn, file_id, "no membership records")
    assert message == "register altered: it has no membership records, so no key slot is granted"


def test_each_record_says_who_signed_it_when_and_after_which(members_db):
    """The signed payload of a record: kind, register, signer, event number, both times and the chain link."""
    conn, file_id, _ = members_db
    rows = _rows(conn)
    first, second = rows[0][1], rows[1][1]
    for record in (first, second):
        assert record["file"] == file_id.hex() and record["v"] == 1
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", record["at"]), record
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", record["at_real"]), record
        assert isinstance(record["seq"], int) and record["by"]
    assert first["kind"] == "root" and first["prev"] == ""
    assert second["prev"] and second["prev"] != first["prev"]


def test_only_the_recovery_key_can_sign_a_recovery(members_db):
    """A custodian who signs a 'recover' record to swap someone's keys for their own is refused."""

    conn, file_id, reg = members_db
    member = reg.membership.by_email(HEAD)
    _, new_public = crypto.x25519_keypair()
    replaced = dict(member.describe(), public=new_public.hex(), signing_key=crypto.ed25519_keypair()[1].hex())
    _signed_by_custodian(conn, file_id, reg, "recover", member=replaced)
    last_id = _rows(conn)[-1][0]
    _refused(conn, file_id, f"membership record {last_id} (recover by {CUSTODIAN}) is not signed")


def test_a_revoke_naming_someone_else_than_the_slot_is_refused(members_db):

    conn, file_id, reg = members_db
    member = reg.membership.by_email(SLT)
    _signed_by_custodian(conn, file_id, reg, "revoke", slot=member.slot_id.hex(), email=HEAD)
    _refused(conn, file_id, "does not apply", "another person")


def test_a_grant_with_a_tag_that_is_not_its_persons_is_refused(members_db):

    conn, file_id, reg = members_db
    slot_id = crypto.random_bytes(16)
    member = membership.Member(
        slot_id,
        "new@oak.sch.uk",
        ff.person_tag(file_id, HEAD),
        crypto.x25519_keypair()[1],
        crypto.ed25519_keypair()[1],
        "register",
    )
    _signed_by_custodian(conn, file_id, reg, "grant", member=member.describe())
    _refused(conn, file_id, "does not apply", "tag")


def test_a_second_grant_to_a_member_is_refused(members_db):

    conn, file_id, reg = members_db
    member = reg.membership.by_email(HEAD)
    again = dict(member.describe(), slot=crypto.random_bytes(16).hex())
    _signed_by_custodian(conn, file_id, reg, "grant", member=again)
    _refused(conn, file_id, "does not apply", "holds a slot already")


@pytest.mark.parametrize(
    "change, reason",
    [
        ("same_slot", "the slot is granted already"),
        ("bad_tag", "its tag or access level is not valid for its person"),
        ("bad_access", "its tag or access level is not valid for its person"),
        ("old_signing_key", "its signing key was granted before"),
    ],
)
def test_a_signed_grant_that_cannot_apply_is_refused_with_why(members_db, change, reason):
    """Each rule a grant must keep, even when a custodian signed it: a new person, a new slot, their own tag."""

    conn, file_id, reg = members_db
    email = "new@oak.sch.uk"
    member = {
        "slot": crypto.random_bytes(16).hex(),
        "email": email,
        "tag": ff.person_tag(file_id, email).hex(),
        "public": crypto.x25519_keypair()[1].hex(),
        "signing_key": crypto.ed25519_keypair()[1].hex(),
        "access": "register",
    }
    head = reg.membership.by_email(HEAD)
    if change == "same_slot":
        member["slot"] = head.slot_id.hex()
    elif change == "bad_tag":
        member["tag"] = ff.person_tag(file_id, HEAD).hex()
    elif change == "bad_access":
        member["access"] = "admin"
    else:
        member["signing_key"] = head.signing_key.hex()
    _signed_by_custodian(conn, file_id, reg, "grant", member=member)
    last_id = _rows(conn)[-1][0]
    message = _refused(conn, file_id)
    assert message == f"register altered: membership record {last_id} (grant) does not apply: {reason}"


def test_the_witness_keeps_the_verified_head_and_the_accepted_rollbacks(run, trust, monkeypatch, tmp_path):
    from accountctl.store import witness

    backup = trust.read_bytes()
    ok(run("staff add late@oak.sch.uk --name Late --school oak --role staff"))
    trust.write_bytes(backup)
    ok(run("vault accept-rollback --reason restore"))
    with _open(trust, CUSTODIAN, write=False) as reg:
        rows = reg.db.execute("SELECT payload, signature FROM grants ORDER BY id").fetchall()
        head = membership.record_digest(rows[-1][0], bytes(rows[-1][1]))
        assert reg.membership.head == head
        assert reg.membership.rollbacks[-1]["digest"] == head  # the rollback is the last record
    entry = witness.seen(reg.file_id)
    assert entry["members"] == head and head in entry["accepted"]


def test_an_event_whose_details_are_not_json_is_damage_for_log_and_a_problem_for_verify(run, trust):
    with _open_unchecked(trust, SLT, sign_events=False) as reg:
        reg.db.execute("UPDATE main.events SET details = '{not json' WHERE seq = 2")
        reg.header_changed = True
    refused(run, trust, "log", 4, "details of event 2")
    result = run("verify --json")
    assert result.exit_code == 1 and any("event 2" in p for p in json.loads(result.stdout)["problems"])


# -- the witness file itself ------------------------------------------------------------------------------
def test_the_witness_folder_and_file_are_the_users_alone(tmp_path, monkeypatch):
    from accountctl.store import witness

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    old = os.umask(0o022)
    try:
        witness.remember(b"\x01" * 16, {"generation": 3})
    finally:
        os.umask(old)
    folder = witness.state_dir()
    assert oct(folder.stat().st_mode & 0o777) == oct(0o700)
    assert oct((folder / witness.FILE).stat().st_mode & 0o777) == oct(0o600)
    assert witness.seen(b"\x01" * 16) == {"generation": 3}


def test_the_witness_never_writes_through_a_planted_link(tmp_path, monkeypatch):
    """Someone who can write the state folder plants the temporary file's name as a link to a file of the user's."""
    from accountctl.store import witness

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    folder = witness.state_dir()
    folder.mkdir(parents=True, mode=0o700)
    victim = tmp_path / "victim.txt"
    victim.write_text("the user's own file\n")
    (folder / f".{witness.FILE}.{os.getpid()}.tmp").symlink_to(victim)
    witness.remember(b"\x02" * 16, {"generation": 1})  # refused quietly: a witness that cannot be written is not fatal
    assert victim.read_text() == "the user's own file\n"


def test_a_witness_entry_that_is_not_a_record_counts_as_never_seen(tmp_path, monkeypatch):
    from accountctl.store import witness

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    witness.remember(b"\x03" * 16, {"generation": 1})
    path = witness.state_dir() / witness.FILE
    path.write_text(json.dumps({(b"\x03" * 16).hex(): [1, 2], (b"\x04" * 16).hex(): "x"}))
    assert witness.seen(b"\x03" * 16) is None and witness.seen(b"\x04" * 16) is None
    path.write_text("[1, 2]")  # not even a table of registers
    assert witness.load_all() == {} and witness.seen(b"\x03" * 16) is None


def test_a_machine_that_only_audits_still_remembers_the_newest_copy(run, trust, monkeypatch, tmp_path):
    """An audit with findings exits 1: a result, not a failure. What its open learnt must still be kept.

    The attack: a monitoring machine runs nothing but `audit`; someone puts back an older copy of the
    register (before a revoke, say). If exit 1 discarded the witness, that machine would never have
    recorded the newer copy, and would read the old one without a word.
    """
    old = trust.read_bytes()
    ok(run(f"--as {CUSTODIAN} staff add late@oak.sch.uk --name Late --school oak --role staff"))
    newer_generation = ff.parse_header(trust.read_bytes())[0].generation
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "audit-box"))
    result = run(f"--as {CUSTODIAN} audit --fail-on info")
    assert result.exit_code == 1, result.output  # findings (at least SINGLE_CUSTODIAN, POLICY_REVIEW_OVERDUE)
    assert witness.load_all()[ff.parse_header(old)[0].file_id.hex()]["generation"] == newer_generation
    assert witness.load_checked(ff.parse_header(old)[0].file_id), "the history it checked was not remembered"
    trust.write_bytes(old)
    refused(run, trust, f"--as {CUSTODIAN} audit", 4, "rolled back")
    result = run(f"--as {CUSTODIAN} offboard --leaving-before 2099-01-01")
    assert result.exit_code == 4, result.output
