"""The history: every change is an event; `log` renders it; `verify` catches rows altered underneath."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from accountctl.core import events as events_mod
from accountctl.store import register as store
from conftest import CUSTODIAN, HEAD, PASSPHRASE, ok, error_line as refused

ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
HEAD_PASS = "headteacher passphrase"
IT2 = "it2@oak.sch.uk"
IT2_PASS = "second custodian secret"
NEW_PASS = "my fresh passphrase 42"


def log(run, env=None) -> list[dict]:
    return json.loads(ok(run("log --json", env=env)).stdout)


def tamper(path: Path, *sql: tuple[str, tuple]) -> None:
    """Change the events table underneath, as someone with the key but not the tool might, and save."""
    with store.open_register(
        path, actor=CUSTODIAN, passphrase_source=lambda: PASSPHRASE, write=True, use_keyring=False
    ) as reg:
        for statement, args in sql:
            reg.db.execute(statement, args)
        assert reg.dirty


# -- every change is an event -------------------------------------------------------------------------
def test_every_change_makes_an_event(run, register_path, tmp_path):
    def step(args, action, target, actor=CUSTODIAN, count=1, env=None, who=None):
        before = log(run, env=who) if register_path.exists() else []
        result = ok(run(args, env=env))
        after = log(run, env=who)
        assert after[: len(before)] == before, "earlier events changed"
        new = after[len(before) :]
        assert len(new) == count, (args, new)
        for i, event in enumerate(new):
            assert event["action"] == action and event["actor"] == actor
            assert ISO_Z.match(event["at"]), event["at"]
            assert event["seq"] == len(before) + 1 + i
        if target is not None:
            assert [e["target"] for e in new] == ([target] if isinstance(target, str) else target)
        return result

    step(f'init --trust "Oak Trust" --email {CUSTODIAN} --name "Ira Tech"', "register.init", None)
    assert log(run)[0]["details"] == {"trust": "Oak Trust", "custodian": CUSTODIAN}
    step('school add oak --name "Oak Primary" --domain oak.sch.uk', "school.add", "oak")
    step(f'staff add {CUSTODIAN} --name "Ira Tech" --school oak --role it', "staff.add", CUSTODIAN)
    step(f'staff add {HEAD} --name "Hana Head" --school oak --role headteacher', "staff.add", HEAD)
    csv_path = tmp_path / "s.csv"
    csv_path.write_text(
        f"email,name,school,roles,trained_on,policy_ack\n{IT2},Ivo,oak,it,,\nt.one@oak.sch.uk,Tom,oak,staff,,\n"
    )
    step(f"staff import {csv_path}", "staff.add", [IT2, "t.one@oak.sch.uk"], count=2)
    step("staff train t.one@oak.sch.uk --on 2026-09-01", "staff.train", "t.one@oak.sch.uk")
    me = {"ACCOUNTCTL_USER": CUSTODIAN}
    step(
        f"person grant {HEAD} --access register",
        "person.grant",
        HEAD,
        env={"ACCOUNTCTL_NEW_PASSPHRASE": HEAD_PASS},
        who=me,
    )
    step(
        f"person grant {IT2} --access vault",
        "person.grant",
        IT2,
        env={**me, "ACCOUNTCTL_NEW_PASSPHRASE": IT2_PASS},
        who=me,
    )
    step(
        "passwd",
        "person.passwd",
        HEAD,
        actor=HEAD,
        env={"ACCOUNTCTL_USER": HEAD, "ACCOUNTCTL_PASSPHRASE": HEAD_PASS, "ACCOUNTCTL_NEW_PASSPHRASE": NEW_PASS},
        who=me,
    )
    step(f"person revoke {IT2}", "person.revoke", IT2, env=me, who=me)
    ok(run("verify", env=me))
    # Reads and refused commands record nothing.
    before = log(run, env=me)
    for args in (
        "staff list",
        "school list",
        "person list",
        "vault status",
        "log",
        "verify",
        "export",
        "staff add bad --name X --school oak",
        "school add oak --name Dup --domain oak2.sch.uk",
    ):
        run(args, env=me)
    assert log(run, env=me) == before


# -- log -----------------------------------------------------------------------------------------------
def test_log_renders_table_json_and_csv(run, oak):
    items = log(run)
    assert [e["action"] for e in items] == ["register.init", "school.add"] + ["staff.add"] * 4
    assert [e["seq"] for e in items] == list(range(1, 7))
    for e in items:
        assert set(e) >= {"seq", "at", "actor", "action", "target", "account", "details", "prev_hash", "hash"}
        assert e["actor"] == CUSTODIAN and ISO_Z.match(e["at"])
    assert items[0]["prev_hash"] == events_mod.GENESIS
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(items, items[1:]))

    rows = list(csv.DictReader(io.StringIO(ok(run("log --format csv")).stdout)))
    assert [r["seq"] for r in rows] == [str(e["seq"]) for e in items]
    assert [r["action"] for r in rows] == [e["action"] for e in items]
    assert json.loads(rows[2]["details"]) == items[2]["details"]

    table = ok(run("log")).stdout
    assert table.splitlines()[0].split()[:5] == ["seq", "at", "actor", "action", "target"]
    assert table.count("staff.add") == 4 and "register.init" in table

    last_two = json.loads(ok(run("log --json --limit 2")).stdout)
    assert last_two == items[-2:]
    assert ok(run("--format json log --limit 1")).stdout == ok(run("log --limit 1 --json")).stdout
    refused(run("log --json --account oak-facebook-oakprimry"), 2, "unknown account")  # an id, not a filter
    refused(run("log --limit 0"), 2)


# -- verify --------------------------------------------------------------------------------------------
def test_verify_passes_on_an_intact_register(run, oak):
    result = ok(run("verify"))
    assert "OK" in result.stderr
    data = json.loads(ok(run("verify --json")).stdout)
    assert data["ok"] is True and data["problems"] == [] and data["events"] == 6


def _verify_fails(run, *expected: str) -> list[str]:
    result = run("verify --json")
    ok(result, 1)
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["problems"]
    text = " ".join(data["problems"])
    for part in expected:
        assert part in text, data["problems"]
    table = run("verify")
    ok(table, 1)
    assert "FAILED" in table.stderr
    return data["problems"]


@pytest.mark.parametrize(
    "statement, args, expected",
    [
        ("UPDATE events SET target = ? WHERE seq = 3", ("someone@else.org",), "event 3 was altered"),
        ("UPDATE events SET actor = ? WHERE seq = 4", (HEAD,), "event 4 was altered"),
        ("UPDATE events SET action = 'staff.remove' WHERE seq = 5", (), "event 5 was altered"),
        ("UPDATE events SET at = '2020-01-01T00:00:00Z' WHERE seq = 2", (), "event 2 was altered"),
        ('UPDATE events SET details = \'{"name": "Forged"}\' WHERE seq = 4', (), "event 4 was altered"),
        ("UPDATE events SET account = 'oak-x' WHERE seq = 6", (), "event 6 was altered"),
        ("UPDATE events SET hash = ? WHERE seq = 3", ("0" * 64,), "event 3"),
        ("UPDATE events SET prev_hash = ? WHERE seq = 1", ("f" * 64,), "event 1"),
    ],
)
def test_verify_fails_when_an_event_row_is_altered(run, oak, statement, args, expected):
    tamper(oak, (statement, args))
    _verify_fails(run, expected)


def test_verify_fails_when_an_altered_event_is_rehashed(run, oak):
    """Recomputing the altered event's own hash is not enough: the next event no longer follows it."""
    with store.open_register(
        oak, actor=CUSTODIAN, passphrase_source=lambda: PASSPHRASE, write=True, use_keyring=False
    ) as reg:
        row = dict(reg.db.execute("SELECT * FROM events WHERE seq = 3").fetchone())
        row["details"] = {"name": "Forged", "school": "oak"}
        new_hash = events_mod.event_hash(row, row["prev_hash"])
        reg.db.execute("UPDATE events SET details = ?, hash = ? WHERE seq = 3", (json.dumps(row["details"]), new_hash))
    _verify_fails(run, "event 4 does not follow")


@pytest.mark.parametrize("seq", [1, 3, 5])
def test_verify_fails_when_an_event_row_is_deleted(run, oak, seq):
    tamper(oak, ("DELETE FROM events WHERE seq = ?", (seq,)))
    _verify_fails(run)


def test_verify_fails_when_the_last_event_is_deleted(run, oak):
    tamper(oak, ("DELETE FROM events WHERE seq = (SELECT max(seq) FROM events)", ()))
    _verify_fails(run)


def test_verify_fails_when_every_event_is_deleted(run, oak):
    tamper(oak, ("DELETE FROM events", ()))
    _verify_fails(run)


def test_verify_fails_when_events_are_reordered(run, oak):
    """Swap the contents of events 3 and 4 (each row's own hash still matches its own content)."""
    tamper(
        oak,
        ("UPDATE events SET seq = -3 WHERE seq = 3", ()),
        ("UPDATE events SET seq = 3 WHERE seq = 4", ()),
        ("UPDATE events SET seq = 4 WHERE seq = -3", ()),
    )
    _verify_fails(run)


def test_verify_fails_when_contents_are_swapped_but_seq_kept(run, oak):
    with store.open_register(
        oak, actor=CUSTODIAN, passphrase_source=lambda: PASSPHRASE, write=True, use_keyring=False
    ) as reg:
        three = reg.db.execute("SELECT * FROM events WHERE seq = 3").fetchone()
        four = reg.db.execute("SELECT * FROM events WHERE seq = 4").fetchone()
        for seq, row in ((3, four), (4, three)):
            reg.db.execute(
                "UPDATE events SET at=?, actor=?, action=?, target=?, account=?, details=?, prev_hash=?, "
                "hash=? WHERE seq=?",
                (
                    row["at"],
                    row["actor"],
                    row["action"],
                    row["target"],
                    row["account"],
                    row["details"],
                    row["prev_hash"],
                    row["hash"],
                    seq,
                ),
            )
    _verify_fails(run)


def test_verify_fails_when_an_event_is_inserted(run, oak):
    with store.open_register(
        oak, actor=CUSTODIAN, passphrase_source=lambda: PASSPHRASE, write=True, use_keyring=False
    ) as reg:
        reg.db.execute("UPDATE events SET seq = seq + 100 WHERE seq > 3")
        reg.db.execute("UPDATE events SET seq = seq - 99 WHERE seq > 100")
        last = reg.db.execute("SELECT hash FROM events WHERE seq = 3").fetchone()[0]
        forged = {
            "seq": 4,
            "at": "2026-01-01T00:00:00Z",
            "actor": CUSTODIAN,
            "action": "staff.add",
            "target": "ghost@oak.sch.uk",
            "account": None,
            "details": {},
        }
        reg.db.execute(
            "INSERT INTO events(seq, at, actor, action, target, account, details, prev_hash, hash) "
            "VALUES (4,?,?,?,?,?,?,?,?)",
            (
                forged["at"],
                forged["actor"],
                forged["action"],
                forged["target"],
                None,
                "{}",
                last,
                events_mod.event_hash(forged, last),
            ),
        )
    _verify_fails(run, "event 5 does not follow")


def test_verify_still_passes_after_more_writes(run, oak):
    for i in range(3):
        ok(run(f"staff add s{i}@oak.sch.uk --name S{i} --school oak"))
    ok(run("staff train s1@oak.sch.uk --on 2026-09-01"))
    assert json.loads(ok(run("verify --json")).stdout)["events"] == 10


# -- no secret in the history ------------------------------------------------------------------------------
def test_no_passphrase_or_recovery_key_appears_in_any_output_or_in_the_history(run, register_path, monkeypatch):
    secrets_ = [PASSPHRASE, HEAD_PASS, IT2_PASS, NEW_PASS]
    outputs = []

    def go(args, env=None, code=0):
        result = run(args, env=env)
        ok(result, code)
        outputs.append(result.stdout + result.stderr)
        return result

    recovery = go(f'init --trust "Oak Trust" --email {CUSTODIAN} --name "Ira Tech"').stdout.strip()
    go('school add oak --name "Oak Primary" --domain oak.sch.uk')
    go(f'staff add {CUSTODIAN} --name "Ira Tech" --school oak --role it')
    go(f'staff add {HEAD} --name "Hana Head" --school oak --role headteacher --role slt')
    go(f'staff add {IT2} --name "Ivo" --school oak --role it')
    go(f"person grant {HEAD} --access register", env={"ACCOUNTCTL_NEW_PASSPHRASE": HEAD_PASS})
    me = {"ACCOUNTCTL_USER": CUSTODIAN}
    go(f"person grant {IT2} --access vault", env={**me, "ACCOUNTCTL_NEW_PASSPHRASE": IT2_PASS})
    go("login", env=me)
    go("passwd", env={**me, "ACCOUNTCTL_NEW_PASSPHRASE": NEW_PASS})
    go("staff list", env={"ACCOUNTCTL_USER": HEAD, "ACCOUNTCTL_PASSPHRASE": "wrong wrong wrong"}, code=3)
    monkeypatch.setenv("ACCOUNTCTL_RECOVERY_KEY", recovery)
    go(f"vault recover {HEAD}", env={"ACCOUNTCTL_NEW_PASSPHRASE": PASSPHRASE + "!"})
    monkeypatch.delenv("ACCOUNTCTL_RECOVERY_KEY")
    go(f"person revoke {IT2}", env=me)
    for fmt in ("--json", "--format csv", ""):
        go(f"log {fmt}", env=me)
    go("export", env=me)
    go("verify --json", env=me)
    go("person list --json", env=me)
    go("vault status --json")
    history = log(run, env=me)
    assert {e["action"] for e in history} >= {"person.grant", "person.passwd", "person.recover", "person.revoke"}
    haystack = "\n".join(outputs[1:]) + json.dumps(history)  # outputs[0] is init's recovery key itself
    for secret in secrets_ + [PASSPHRASE + "!", recovery, recovery.replace("-", "")]:
        assert secret not in haystack
    assert recovery in outputs[0]
    # Nor anywhere in the decrypted database (events, people, meta ...).
    with store.open_register(
        register_path, actor=CUSTODIAN, passphrase_source=lambda: NEW_PASS, use_keyring=False
    ) as reg:
        plain = reg.db.serialize()
    for secret in secrets_ + [recovery, recovery.replace("-", "")]:
        assert secret.encode() not in plain
    # ...nor in the file on disk.
    raw = register_path.read_bytes()
    assert not any(s.encode() in raw for s in secrets_)
