"""No path around the trust (issue 22): each attack a key holder made with their own passphrase and the store
module, against decisions counted before `verify`, refused opens that still wrote, rollback records signed ahead,
another register at a known address, and a PATH.bak that a revoked person could still open.

Each test failed against the code before its protection (commit 149f8e4).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import CUSTODIAN, HEAD, PASSPHRASE, error_line, ok
from test_trust import SLT, _open, rewrite_history, trust  # noqa: F401 (the fixture)

from accountctl.core import approvals, events
from accountctl.core.events import canonical
from accountctl.store import fileformat as ff, register as store

ID = "oak-facebook-oakprimary"
REQUEST = (
    f"--as {CUSTODIAN} account request --school oak --platform facebook --handle OakPrimary "
    "--url https://www.facebook.com/OakPrimary --category faculty --email office@oak.sch.uk "
    "--owner t.one@oak.sch.uk --admin t.one@oak.sch.uk --admin t.two@oak.sch.uk --aim News --audience Parents "
    "--promotion Newsletter --visibility open --pupils none"
)


def findings(run, who=CUSTODIAN) -> dict:
    result = run(f"--as {who} audit --json --fail-on info")
    assert result.exit_code in (0, 1), result.output
    return {(f["rule"], f["account"]) for f in json.loads(result.stdout)["findings"]}


def local_state(path: Path, tmp_path: Path, keyring) -> dict:
    """Everything an exit 4 must leave as it was: the register and its neighbours, this machine's state, the keyring."""
    files = {p: p.read_bytes() for p in path.parent.iterdir() if p.is_file() and p.name.startswith(path.name)}
    state = tmp_path / "state"
    if state.exists():
        files |= {p: p.read_bytes() for p in state.rglob("*") if p.is_file()}
    return {"files": files, "keyring": dict(keyring.store)}


# -- decisions are checked where they count ------------------------------------------------------------------
def forge_head_approval(path: Path, with_event: bool) -> None:
    """An SLT member writes an approval in the head's name: the head's real public key, a signature that is not
    the head's, and the digest the audit's old shortcut trusted; the account marked approved. Her own save."""
    with _open(path, SLT) as reg:
        account = dict(reg.db.execute("SELECT * FROM accounts WHERE id = ?", (ID,)).fetchone())
        head_key = reg.membership.current_key(HEAD)
        case = approvals.case_of(reg.db, account)
        payload = {
            "v": 1,
            "account": ID,
            "school": "oak",
            **case,
            "case_hash": approvals.case_hash(case),
            "decision": "approved",
            "note": "Agreed",
            "approver": HEAD,
            "approver_roles": ["headteacher", "slt"],
            "approver_school": "oak",
            "at": "2026-12-01T09:00:00Z",
        }
        row = {
            "payload": canonical(payload).decode(),
            "signature": bytes(64),
            "public_key": head_key,
            **{k: payload[k] for k in ("account", "decision", "approver", "at", "note", "case_hash")},
        }
        number = reg.db.execute(
            "INSERT INTO approvals(account, decision, approver, at, note, case_hash, payload, public_key, signature, "
            "verified_digest) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                *(row[k] for k in ("account", "decision", "approver", "at", "note", "case_hash", "payload")),
                head_key,
                bytes(64),
                approvals.signed_digest(row),
            ),
        ).lastrowid
        reg.db.execute("UPDATE accounts SET status = 'approved' WHERE id = ?", (ID,))
        if with_event:  # in her own name: the store refuses an event in anyone else's
            events.record(
                reg.db,
                SLT,
                "account.approve",
                ID,
                account=ID,
                details={"decision": number, "case_hash": payload["case_hash"], "status": "approved", "note": "Agreed"},
            )


@pytest.mark.parametrize("with_event", [False, True])
def test_a_forged_head_approval_is_not_counted_by_the_audit_or_activate(run, trust, with_event):
    ok(run(REQUEST))
    forge_head_approval(trust, with_event)
    assert ("APPROVAL_INVALID", ID) in findings(run)
    assert ("APPROVAL_INVALID", ID) in findings(run, HEAD)  # on every key holder's audit, not only verify's
    ok(run(f"--as {CUSTODIAN} account notify-head {ID}"))
    ok(run(f"--as {CUSTODIAN} cred set {ID}", input="A-long-and-strong-passphrase-9\n"))
    line = error_line(run(f"--as {CUSTODIAN} account activate {ID}"), 2, ID)
    assert "approv" in line


def test_a_real_approval_still_counts_everywhere(run, trust):
    ok(run(REQUEST))
    ok(run(f"--as {HEAD} approve {ID}"))
    assert not {f for f in findings(run) if f[0].startswith("APPROVAL")}
    # on a machine that never saw the register: the first open checks the whole history and the decision
    ok(run(f"--as {HEAD} staff list"), 0)
    import os

    os.environ["XDG_STATE_HOME"] += "-fresh"
    assert not {f for f in findings(run) if f[0].startswith("APPROVAL")}


def test_a_decision_changed_after_it_was_checked_stops_counting(run, trust):
    ok(run(REQUEST))
    ok(run(f"--as {HEAD} approve {ID}"))
    with _open(trust, SLT) as reg:
        reg.db.execute("UPDATE approvals SET note = 'Approved with no conditions at all'")
    assert ("APPROVAL_INVALID", ID) in findings(run)


def test_history_that_does_not_verify_is_refused_on_open_not_only_by_verify(run, trust, monkeypatch, tmp_path):
    ok(run(REQUEST))
    ok(run(f"--as {HEAD} approve {ID}"))
    rewrite_history(  # the SLT member puts the head's approval in her own name and re-chains every hash after it
        trust, SLT, lambda rows: [dict(r, actor=SLT) if r["action"] == "account.approve" else r for r in rows]
    )
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "another-machine"))  # it never saw the real history
    for who in (CUSTODIAN, HEAD):
        for command in ("audit", "account list", "staff list", "log"):
            error_line(run(f"--as {who} {command}"), 4, "history does not verify", "not signed")
    report = run(f"--as {CUSTODIAN} verify --json")  # verify still opens it, to say everything that is wrong
    assert report.exit_code == 1 and json.loads(report.stdout)["problems"]


def test_each_machine_checks_each_event_once(run, trust, monkeypatch):
    """The second open checks nothing it checked before: no signature is verified again."""
    from accountctl import crypto

    ok(run(REQUEST))
    ok(run(f"--as {HEAD} approve {ID}"))
    ok(run(f"--as {CUSTODIAN} staff list"))
    calls = []
    real = crypto.verify_signature
    monkeypatch.setattr(crypto, "verify_signature", lambda *a: calls.append(1) or real(*a))
    ok(run(f"--as {CUSTODIAN} audit --fail-on info"), 1)
    assert calls == []


# -- an exit 4 writes nothing anywhere -----------------------------------------------------------------------
def _flip_body(path: Path) -> None:
    data = bytearray(path.read_bytes())
    header, raw = ff.parse_header(bytes(data))
    data[len(raw) + 10] ^= 1
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-7])


def _unsigned_event(path: Path) -> None:
    from test_trust import _open_unchecked

    with _open_unchecked(path, SLT, sign_events=False) as reg:
        events.record(reg.db, HEAD, "audit.waive", ID, details={"note": "forged"})


def _planted_slot(path: Path) -> None:
    from test_trust import _hidden_slot

    _hidden_slot(path, SLT, ff.ACCESS_REGISTER)


def _rolled_back(path: Path, old: bytes) -> None:
    path.write_bytes(old)


def _another_register(path: Path, run) -> None:
    other = path.with_name("other.accountctl")
    ok(run(f'--register {other} init --trust Elm --email {CUSTODIAN} --name "Ira Tech"'))
    shutil.move(other, path)


@pytest.mark.parametrize(
    "damage", ["flipped body", "truncated", "unsigned event", "planted slot", "rolled back", "another register"]
)
@pytest.mark.parametrize("command", ["staff list", "audit", "account request", "login", "vault status --json"])
def test_every_exit_4_writes_nothing_anywhere(run, trust, tmp_path, isolated, damage, command):
    old = trust.read_bytes()
    ok(run(f"--as {CUSTODIAN} staff add late@oak.sch.uk --name Late --school oak --role staff"))
    ok(run(f"--as {CUSTODIAN} staff list"))
    {
        "flipped body": _flip_body,
        "truncated": _truncate,
        "unsigned event": _unsigned_event,
        "planted slot": _planted_slot,
        "rolled back": lambda p: _rolled_back(p, old),
        "another register": lambda p: _another_register(p, run),
    }[damage](trust)
    before = local_state(trust, tmp_path, isolated)
    argv = f"--as {CUSTODIAN} {command}" + (
        REQUEST.split("account request", 1)[1] if command == "account request" else ""
    )
    result = run(argv)
    if command.startswith("vault status"):
        assert result.exit_code in (0, 4)  # the header alone may still be readable; nothing else is
    else:
        assert result.exit_code == 4, (damage, command, result.output)
    assert local_state(trust, tmp_path, isolated) == before, (damage, command)


# -- a rollback record authorises one restore ----------------------------------------------------------------
def test_a_rollback_record_signed_ahead_for_a_future_generation_is_refused(run, trust, monkeypatch, tmp_path):
    """IT signs, on a machine of their own, a rollback record for a generation far ahead, into a copy they keep;
    weeks later they put that copy back: a machine that saw the newer register refuses it."""
    import json as _json

    own_machine = tmp_path / "it-own-machine"
    ok(run(f"--as {CUSTODIAN} staff list"))
    base = trust.read_bytes()
    monkeypatch.setenv("XDG_STATE_HOME", str(own_machine))
    ok(run(f"--as {CUSTODIAN} staff list"))
    seen_file = own_machine / "accountctl" / "seen.json"
    entries = _json.loads(seen_file.read_text())
    for entry in entries.values():
        entry["generation"] = 999  # "what I saw": a generation far ahead, with a header nobody can know yet
    seen_file.write_text(_json.dumps(entries))
    ok(run(f"--as {CUSTODIAN} vault accept-rollback --reason 'restore'"))
    kept = trust.read_bytes()
    trust.write_bytes(base)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    for n in range(3):
        ok(run(f"--as {CUSTODIAN} staff add n{n}@oak.sch.uk --name N{n} --school oak --role staff"))
    trust.write_bytes(kept)
    error_line(run(f"--as {HEAD} staff list"), 4, "rolled back")


# -- a machine knows which register lives at each address ----------------------------------------------------
def test_another_register_at_a_known_path_is_refused_naming_both(run, trust, tmp_path):
    """Someone swaps in another register the victim also has a slot in (an old test register, say)."""
    mine = ff.parse_header(trust.read_bytes())[0].file_id.hex()
    other = tmp_path / "elm" / "elm.accountctl"
    ok(run(f'--register {other} init --trust Elm --email {CUSTODIAN} --name "Ira Tech"'))
    theirs = ff.parse_header(other.read_bytes())[0].file_id.hex()
    trust.unlink()
    shutil.copyfile(other, trust)
    error_line(run(f"--as {CUSTODIAN} staff list"), 4, mine[:8], theirs[:8])


def test_a_new_register_made_at_a_path_takes_it_over(run, trust, tmp_path):
    trust.unlink()
    trust.with_name(trust.name + ".bak").unlink(missing_ok=True)
    ok(run(f'init --trust Elm --email {CUSTODIAN} --name "Ira Tech"'))
    ok(run("staff list"))


# -- no copy a revoked person can open -----------------------------------------------------------------------
def test_after_a_revoke_no_copy_beside_the_register_opens_with_the_old_passphrase(run, trust):
    from accountctl.errors import AccessError

    ok(run(f"--as {CUSTODIAN} person revoke {SLT}"))
    neighbours = [p for p in trust.parent.iterdir() if p.is_file() and p.name.startswith(trust.name)]
    assert trust.with_name(trust.name + ".bak") in neighbours
    for copy in neighbours:
        if copy.name.endswith(".lock"):
            continue
        with pytest.raises(AccessError):
            with _open(copy, SLT, write=False):
                pass
    ok(run(f"--as {CUSTODIAN} staff list"))
    assert PASSPHRASE


# -- what the witness keeps (mutation audit) --------------------------------------------------------------------
def test_the_witness_keeps_every_key_it_saw_retired_and_every_rollback_it_accepted():
    """A later file that forgets a retired key or an accepted rollback does not make this machine forget it."""
    import sqlite3
    from types import SimpleNamespace

    from accountctl.store.register import seen

    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE meta (key TEXT, value TEXT)")
    db.execute("INSERT INTO meta VALUES ('events_head', '7 abc')")
    membership = SimpleNamespace(
        retired_keys=lambda: [bytes.fromhex("02")],
        rollbacks=[{"digest": "d2"}],
        root_key=bytes.fromhex("aa"),
        head="h",
    )
    reg = SimpleNamespace(
        db=db, membership=membership, header=SimpleNamespace(generation=5, version=4), raw=b"header",
        address=None, rolled_back=False,
    )  # fmt: skip
    current = {"generation": 4, "format": 4, "retired": ["01"], "accepted": ["d1"], "at": ["/srv/a"]}
    entry = seen.witness_entry(reg, current)
    assert (entry["retired"], entry["accepted"], entry["at"]) == (["01", "02"], ["d1", "d2"], ["/srv/a"])
    assert (entry["generation"], entry["seq"], entry["hash"]) == (5, 7, "abc")
    assert seen.witness_entry(reg, {**current, "generation": 6}) is None  # never backwards


def test_checking_the_last_save_needs_the_history(run, oak):
    with store.open_register(oak, actor=CUSTODIAN, passphrase_source=lambda: PASSPHRASE, use_keyring=False) as reg:
        with pytest.raises(ValueError, match=r"^open the register with history=True to check its last save$"):
            reg.save_problems()
