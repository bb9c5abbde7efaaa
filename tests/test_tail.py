"""The file's tail (docs/file-format.md §5e): a reveal appends one signed record instead of rewriting the file.

The attacks are an insider's: a custodian who holds the register key, with this project's own store
module and their own passphrase, adding events in a colleague's name, or removing, moving or
reordering records.
"""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import given, settings, strategies as st

from accountctl.core import events
from accountctl.errors import DamagedError
from accountctl import crypto
from accountctl.store import fileformat as ff, files, trust as trust_records
from accountctl.store import register as store
from conftest import CUSTODIAN, PASSPHRASE, error_line, ok

IT2 = "it2@oak.sch.uk"
PASSWORD = "Vq7#kestrel-Lantern-91!zz"


def _open(path, who=CUSTODIAN, write=False):
    return store.open_register(path, actor=who, passphrase_source=lambda: PASSPHRASE, write=write, use_keyring=False)


def _layout(path) -> tuple[int, int]:
    """(where the tail starts, the file's size)."""
    data = path.read_bytes()
    total, body, history = ff.file_lengths(data)
    return total + body + history, len(data)


def _generation(path) -> int:
    return store.read_header(path)[0].generation


def _log(run) -> list[dict]:
    return json.loads(ok(run("log --json")).stdout)


@pytest.fixture
def vaulted(run, oak, monkeypatch):
    """The oak register with an account whose password IT holds, and a second custodian (IT2)."""
    monkeypatch.setenv("ACCOUNTCTL_USER", CUSTODIAN)
    account = ok(
        run(
            "account request --school oak --platform facebook --handle oakprimary --url https://facebook.com/oakprimary "
            "--category faculty --email office@oak.sch.uk --owner t.one@oak.sch.uk --admin t.two@oak.sch.uk "
            '--aim "News for parents" --audience Parents --promotion Newsletter --visibility open --pupils none'
        )
    ).stdout.strip()
    ok(run(f"cred set {account}", input=PASSWORD + "\n"))
    ok(run(f'staff add {IT2} --name "Ivy Two" --school oak --role it'))
    ok(run(f"person grant {IT2} --access vault"))
    return oak, account


def _reveal(run, account, reason="checking"):
    return ok(run(f'cred show {account} --field password --reason "{reason}"'))


def test_a_reveal_appends_one_record_and_leaves_the_rest_of_the_file_as_it_was(run, vaulted):
    path, account = vaulted
    before = path.read_bytes()
    generation = _generation(path)
    assert _reveal(run, account).stdout.strip() == PASSWORD
    after = path.read_bytes()
    start, size = _layout(path)
    assert after[: len(before)] == before and size > len(before) == start  # only added to, after the archive
    assert _generation(path) == generation
    assert PASSWORD.encode() not in after
    _reveal(run, account, "second look")
    assert _layout(path)[1] > size
    shown = [e for e in _log(run) if e["action"] == "cred.show"]
    assert [e["details"]["reason"] for e in shown] == ["checking", "second look"]
    ok(run("verify"))


def test_the_next_other_write_folds_the_tail_into_the_body(run, vaulted):
    path, account = vaulted
    _reveal(run, account)
    _reveal(run, account, "again")
    generation = _generation(path)
    ok(run("monitor " + account + ' --note "fine"'))
    start, size = _layout(path)
    assert start == size  # no tail: its events are in the body now
    assert _generation(path) == generation + 1
    assert [e["details"]["reason"] for e in _log(run) if e["action"] == "cred.show"] == ["checking", "again"]
    ok(run("verify"))


def test_a_command_that_changes_more_than_events_saves_the_whole_file(run, vaulted):
    path, account = vaulted
    generation = _generation(path)
    ok(run(f"cred set {account}", input="Another-Long-passw0rd-77!\n"))
    assert _generation(path) == generation + 1 and _layout(path)[0] == _layout(path)[1]


def test_events_only_is_checked_against_what_the_database_changed(run, vaulted):
    """A command that claims to record only events, but changed a row too, is saved whole: nothing is lost."""
    path, account = vaulted
    generation = _generation(path)
    with _open(path, write=True) as reg:
        events.record(reg.db, reg.actor, "cred.show", account, account=account, details={"fields": [], "reason": "x"})
        reg.db.execute("UPDATE accounts SET aim = 'changed' WHERE id = ?", (account,))
        reg.events_only = True
    assert _generation(path) == generation + 1
    with _open(path) as reg:
        assert reg.db.execute("SELECT aim FROM accounts WHERE id = ?", (account,)).fetchone()[0] == "changed"


def _forge(path, insider, victim, account):
    """As `insider` (a custodian with the register key): append a record of a reveal in `victim`'s name."""
    start, size = _layout(path)
    with _open(path, insider) as reg:
        event = events.record(
            reg.db, victim, "cred.show", account, account=account, details={"fields": [], "reason": "x"}
        )
        event["signature"] = trust_records.sign_event(reg.file_id, event["hash"], reg.keys.signing_private).hex()
        event.pop("prev_hash", None)
        event["prev_hash"] = reg.db.execute(
            "SELECT prev_hash FROM main.events WHERE seq = ?", (event["seq"],)
        ).fetchone()[0]
        sealed = crypto.seal(
            reg.keys.register_key, json.dumps({"events": [event]}).encode(), ff.tail_aad(reg.raw, reg._tail_count)
        )
    files.append(path, size, ff.tail_record(sealed))


def test_attack_an_insider_appends_a_reveal_in_a_colleagues_name(run, vaulted, monkeypatch):
    path, account = vaulted
    _forge(path, IT2, CUSTODIAN, account)
    error_line(run("account list"), 4, "record 1 at the end of the file", f"names {CUSTODIAN} but is not signed")


def test_an_insider_may_append_in_their_own_name_and_it_reads_as_theirs(run, vaulted):
    """The same tool, used honestly: the record is theirs, signed by them, and `verify` agrees."""
    path, account = vaulted
    _forge(path, IT2, IT2, account)
    assert _log(run)[-1]["actor"] == IT2
    ok(run("verify"))


def test_attack_removing_the_last_record_is_a_rollback_on_a_machine_that_saw_it(run, vaulted):
    path, account = vaulted
    _reveal(run, account)
    _, size_one = _layout(path)
    _reveal(run, account, "the one to hide")
    with open(path, "r+b") as handle:
        handle.truncate(size_one)
    error_line(run("account list"), 4, "rolled back", "does not contain event")


def test_attack_records_swapped_do_not_authenticate(run, vaulted):
    path, account = vaulted
    start, _ = _layout(path)
    _reveal(run, account, "one")
    _, end_one = _layout(path)
    _reveal(run, account, "two")
    data = path.read_bytes()
    path.write_bytes(data[:start] + data[end_one:] + data[start:end_one])
    error_line(run("account list"), 4, "record 1 at the end of the file does not authenticate")


def test_attack_a_record_carried_onto_the_next_save_does_not_authenticate(run, vaulted):
    """Records are bound to the header they follow: kept past a save, they add nothing twice."""
    path, account = vaulted
    start, _ = _layout(path)
    _reveal(run, account)
    record = path.read_bytes()[start:]
    ok(run("monitor " + account))
    with open(path, "ab") as handle:
        handle.write(record)
    error_line(run("account list"), 4, "record 1 at the end of the file does not authenticate")


def test_attack_a_changed_byte_in_a_record_is_damage(run, vaulted):
    path, account = vaulted
    _reveal(run, account)
    data = bytearray(path.read_bytes())
    data[-5] ^= 1
    path.write_bytes(bytes(data))
    error_line(run("account list"), 4, "does not authenticate")


def test_another_machine_without_the_witness_reads_the_records(run, vaulted, tmp_path, monkeypatch):
    path, account = vaulted
    _reveal(run, account)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "other-machine"))
    assert [e["action"] for e in _log(run)][-1] == "cred.show"


def test_the_tail_is_folded_once_it_holds_its_most_records(run, vaulted, monkeypatch):
    path, account = vaulted
    monkeypatch.setattr(store.tail, "MAX_TAIL_RECORDS", 2)
    generation = _generation(path)
    for reason in ("one", "two"):
        _reveal(run, account, reason)
    assert _generation(path) == generation
    _reveal(run, account, "three")
    assert _generation(path) == generation + 1 and _layout(path)[0] == _layout(path)[1]
    assert [e["details"]["reason"] for e in _log(run) if e["action"] == "cred.show"] == ["one", "two", "three"]


def test_a_postgresql_like_store_without_append_saves_whole(run, vaulted):
    path, account = vaulted
    generation = _generation(path)
    with _open(path, write=True) as reg:
        reg.store = _NoAppend(reg.store)
        events.record(reg.db, reg.actor, "cred.show", account, account=account, details={"fields": [], "reason": "x"})
        reg.events_only = True
    assert _generation(path) == generation + 1


def test_a_register_reached_through_a_link_is_saved_whole_never_appended_through_it(run, vaulted, tmp_path):
    path, account = vaulted
    link = tmp_path / "link.accountctl"
    link.symlink_to(path)
    generation = _generation(path)
    ok(run(f'--register {link} cred show {account} --field password --reason "via a link"'))
    assert _generation(link) == generation + 1 and _layout(link)[0] == _layout(link)[1]


class _NoAppend:
    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        if name in ("appendable", "append", "read_from"):
            raise AttributeError(name)
        return getattr(self.inner, name)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_split_tail_takes_any_bytes_and_raises_only_damage(data):
    try:
        records, used = ff.split_tail(data)
    except DamagedError:
        return
    assert used <= len(data) and len(data) - used < 4 + ff.MAX_TAIL_RECORD
    assert sum(4 + len(r) for r in records) == used


def test_append_refuses_a_file_shorter_than_expected_and_cuts_an_unfinished_record(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    with pytest.raises(DamagedError) as caught:
        files.append(path, 10, b"x")
    assert str(caught.value) == "register damaged: the file is truncated" and path.read_bytes() == b"abc"
    path.write_bytes(b"abcdef")
    assert files.append(path, 3, b"XY") == 5
    assert path.read_bytes() == b"abcXY"
    assert os.stat(path).st_size == 5


def test_vault_copy_of_a_register_with_a_tail_saves_it_whole_first(run, vaulted, tmp_path):
    path, account = vaulted
    _reveal(run, account)
    target = tmp_path / "copy.accountctl"
    ok(run(f"vault copy --to {target}"))
    assert _layout(path)[0] == _layout(path)[1]  # folded, then copied byte for byte
    assert target.read_bytes() == path.read_bytes()
    ok(run(f"--register {target} verify"))
    assert [e["action"] for e in _log(run)][-1] == "cred.show"


def test_a_records_plaintext_is_what_its_schema_says(run, vaulted):
    import jsonschema

    from pathlib import Path

    path, account = vaulted
    _reveal(run, account)
    _reveal(run, account, "again")
    schema = json.loads((Path(__file__).parent.parent / "schemas" / "tail-record.schema.json").read_text())
    start, _ = _layout(path)
    with _open(path) as reg:
        records, _ = ff.split_tail(path.read_bytes()[start:])
        assert len(records) == 2
        for index, sealed in enumerate(records):
            plain = json.loads(crypto.open_sealed(reg.keys.register_key, bytes(sealed), ff.tail_aad(reg.raw, index)))
            jsonschema.validate(plain, schema)
            assert "signature" in plain["events"][-1] and PASSWORD not in json.dumps(plain)


def _seal_record(path, events_value, who=CUSTODIAN):
    """As an insider with the register key: a record whose plaintext is `{"events": events_value}`."""
    start, size = _layout(path)
    with _open(path, who) as reg:
        sealed = crypto.seal(
            reg.keys.register_key, json.dumps({"events": events_value}).encode(), ff.tail_aad(reg.raw, reg._tail_count)
        )
    files.append(path, size, ff.tail_record(sealed))


@pytest.mark.parametrize("value", [[], {}, "x"], ids=["empty", "object", "text"])
def test_a_record_that_holds_no_list_of_events_is_damage(run, vaulted, value):
    path, _ = vaulted
    _seal_record(path, value)
    assert error_line(run("account list"), 4) == (
        "Error: register damaged or altered: record 1 at the end of the file does not continue the history (no events)"
    )


def test_one_register_appends_again_and_again_and_every_record_reads_back(run, vaulted):
    """The agent's copy appends reveal after reveal: each record at its own place, nothing saved whole."""
    path, account = vaulted
    generation = _generation(path)
    with _open(path, write=True) as reg:
        for reason in ("one", "two", "three"):
            events.record(reg.db, reg.actor, "cred.show", account, account=account, details={"reason": reason})
            reg.events_only = True
            reg.save()
        assert not reg.dirty and not reg.events_only
    assert _generation(path) == generation
    assert [e["details"]["reason"] for e in _log(run) if e["action"] == "cred.show"] == ["one", "two", "three"]
    ok(run("verify"))


def test_two_events_of_one_command_are_one_record(run, vaulted):
    path, account = vaulted
    generation = _generation(path)
    start, _ = _layout(path)
    with _open(path, write=True) as reg:
        for reason in ("one", "two"):
            events.record(reg.db, reg.actor, "cred.show", account, account=account, details={"reason": reason})
        reg.events_only = True
    assert _generation(path) == generation
    assert len(ff.split_tail(path.read_bytes()[start:])[0]) == 1
    ok(run("verify"))


@pytest.mark.parametrize("change", ["header", "archive", "format 3", "no tail yet"])
def test_a_save_that_changes_more_than_events_is_whole_even_if_it_says_events_only(run, vaulted, change):
    path, account = vaulted
    generation = _generation(path)
    with _open(path, write=True) as reg:
        events.record(reg.db, reg.actor, "cred.show", account, account=account, details={"reason": "x"})
        reg.events_only = True
        if change == "header":
            reg.header_changed = True
        elif change == "archive":
            reg._history_rewritten = True
            reg.load_history()
        elif change == "format 3":
            reg.header.version = ff.SAME_LAYOUT
        else:
            reg._tail_end = None
    assert _generation(path) == generation + 1 and _layout(path)[0] == _layout(path)[1]
    ok(run("verify"))


def test_refresh_tail_adds_what_another_process_appended(run, vaulted):
    path, account = vaulted
    with _open(path) as reg:
        pass
    _reveal(run, account, "meanwhile")
    assert reg.refresh_tail() is True
    assert (
        reg.db.execute("SELECT details FROM main.events ORDER BY seq DESC LIMIT 1").fetchone()[0].find("meanwhile") > 0
    )
    assert reg._tail_end == path.stat().st_size and not reg.dirty
    assert reg.refresh_tail() is True  # nothing new: nothing added
    events.record(reg.db, reg.actor, "x", None)
    assert reg.refresh_tail() is False  # a copy with changes of its own is never refreshed
    reg.store = _NoAppend(reg.store)
    assert reg.refresh_tail() is False
    with _open(path) as fresh:
        fresh._tail_end = None  # a register that never knew its tail (just created) is never refreshed
        assert fresh.refresh_tail() is False


class _Claims:
    """A store whose size says there is a tail its bytes do not hold (the file changed while read)."""

    def __init__(self, path):
        self.path = path

    def read(self, upto=None, tail_at=None):
        data, size = files.read_register(self.path, upto=upto)
        return data, size + 10


def test_a_file_that_changed_while_it_was_read_is_refused(vaulted):
    path, _ = vaulted
    with pytest.raises(DamagedError) as caught:
        store._load(_Claims(path))
    assert str(caught.value) == "register damaged: the file is truncated"


def _record(n: int) -> bytes:
    return n.to_bytes(4, "big") + bytes(n)


def test_split_tail_takes_whole_records_and_leaves_an_unfinished_one():
    smallest = ff.NONCE_LEN + ff.TAG_LEN
    data = _record(smallest) + _record(40) + _record(smallest)
    records, used = ff.split_tail(data + _record(50)[:-1])
    assert [len(r) for r in records] == [smallest, 40, smallest] and used == len(data)
    assert [len(r) for r in ff.split_tail(data + b"\0\0")[0]] == [smallest, 40, smallest]
    assert ff.split_tail(_record(ff.MAX_TAIL_RECORD))[1] == 4 + ff.MAX_TAIL_RECORD
    assert ff.split_tail(b"") == ([], 0) and ff.split_tail(b"\0\0\0") == ([], 0)


@pytest.mark.parametrize(
    "data, which",
    [
        ((0).to_bytes(4, "big"), 1),
        ((ff.NONCE_LEN + ff.TAG_LEN - 1).to_bytes(4, "big") + bytes(40), 1),
        (_record(30) + (ff.MAX_TAIL_RECORD + 1).to_bytes(4, "big"), 2),
    ],
    ids=["zero", "shorter than a nonce and tag", "over 1 MiB"],
)
def test_split_tail_refuses_an_impossible_length(data, which):
    with pytest.raises(DamagedError) as caught:
        ff.split_tail(data)
    assert str(caught.value) == f"register damaged: record {which} at the end of the file has an impossible length"


def test_append_never_writes_through_a_link(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_bytes(b"abc")
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(DamagedError) as caught:
        files.append(link, 3, b"x")
    assert str(caught.value) == f"cannot write {link}: Too many levels of symbolic links"
    assert target.read_bytes() == b"abc"


def test_read_rest_reads_to_the_end_and_refuses_a_file_too_short(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abcdef")
    assert files.read_rest(path, 4) == b"ef" and files.read_rest(path, 6) == b""
    with pytest.raises(DamagedError) as caught:
        files.read_rest(path, 7)
    assert str(caught.value) == "register damaged: the file is truncated"
    with pytest.raises(DamagedError) as caught:
        files.read_rest(tmp_path / "gone", 0)
    assert str(caught.value) == f"cannot read {tmp_path / 'gone'}: No such file or directory"


def test_a_register_made_read_only_by_hand_is_saved_whole_as_before(run, vaulted, monkeypatch):
    from accountctl.store import stores

    path, account = vaulted
    generation = _generation(path)
    path.chmod(0o400)
    real_access = os.access  # root may write any file: the check is what a normal user's would answer
    monkeypatch.setattr(stores.os, "access", lambda p, mode: False if mode == os.W_OK else real_access(p, mode))
    ok(run(f'cred show {account} --field password --reason "read-only file"'))
    assert _generation(path) == generation + 1 and _layout(path)[0] == _layout(path)[1]


def test_append_to_a_file_it_may_not_write_is_refused_as_bad_input(tmp_path, monkeypatch):
    from accountctl.errors import InputError

    path = tmp_path / "f"
    path.write_bytes(b"abc")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(files.os, "open", denied)
    with pytest.raises(InputError) as caught:
        files.append(path, 3, b"x")
    assert str(caught.value) == f"cannot write {path}: permission denied"
