"""The history archive: older events encrypted on their own, read only by log, verify, export and report."""

from __future__ import annotations

import json

import pytest

from accountctl import crypto
from accountctl.store import fileformat as ff, register as store
from conftest import CUSTODIAN, HEAD, PASSPHRASE, error_line, ok

HEAD_PASS = "head passphrase for the archive tests"


@pytest.fixture
def small_batches(monkeypatch):
    """Archive every 5 events, so a handful of commands exercise it."""
    monkeypatch.setattr(store.state, "ARCHIVE_AT", 5)


def regions(path) -> tuple[ff.Header, bytes, bytes, bytes]:
    """The header, its bytes, the body and the archive, split as the header says."""
    data = path.read_bytes()
    header, raw = ff.parse_header(data)
    body = data[len(raw) : len(raw) + header.body_len]
    return header, raw, body, data[len(raw) + header.body_len :]


def add_staff(run, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        ok(run(f'staff add s{i}@oak.sch.uk --name "Staff {i}" --school oak --role staff'))


def seqs(run) -> list[int]:
    return [e["seq"] for e in json.loads(ok(run("log --format json")).stdout)]


def test_a_small_register_has_no_archive(run, oak):
    header, _, _, archive = regions(oak)
    assert (header.history_len, header.history_nonce, archive) == (0, bytes(12), b"")


def test_events_move_to_the_archive_in_batches_and_the_history_stays_whole(run, oak, small_batches):
    before = seqs(run)
    add_staff(run, 7)
    header, _, _, archive = regions(oak)
    assert header.history_len == len(archive) > 0
    after = seqs(run)
    assert after == list(range(1, len(before) + 8))  # every event, in order, none twice
    verified = json.loads(ok(run("verify --format json")).stdout)
    assert verified["ok"] and verified["events"] == len(after)
    account = json.loads(ok(run("log --format json --limit 2")).stdout)
    assert [e["seq"] for e in account] == after[-2:]


def test_a_save_between_batches_copies_the_archive_unchanged(run, oak, small_batches):
    add_staff(run, 6)
    header, _, body, archive = regions(oak)
    ok(run('staff add late@oak.sch.uk --name "Late" --school oak --role staff'))
    header2, _, body2, archive2 = regions(oak)
    assert archive2 == archive and header2.history_nonce == header.history_nonce
    assert body2 != body and header2.generation == header.generation + 1


def test_commands_that_do_not_read_history_never_touch_a_damaged_archive(run, oak, small_batches):
    add_staff(run, 6)
    data = bytearray(oak.read_bytes())
    data[-1] ^= 0x01  # the archive's last byte (its GCM tag)
    oak.write_bytes(bytes(data))
    ok(run("staff list"))
    ok(run("audit"))
    ok(run("account list"))
    for command in ("log", "verify", "export", f"report --out {oak.parent / 'r.html'}"):
        error_line(run(command), 4, "history archive does not authenticate")


def test_a_damaged_archive_stops_writes_and_is_reported(run, oak, small_batches):
    add_staff(run, 6)
    data = bytearray(oak.read_bytes())
    data[-1] ^= 0x01
    oak.write_bytes(bytes(data))
    bak = oak.with_name(oak.name + ".bak").read_bytes()
    # Copying it into a new file would make PATH.bak damaged too on the next write: refused, both kept.
    error_line(run('staff add late@oak.sch.uk --name "Late" --school oak --role staff'), 4, "history archive")
    assert oak.read_bytes() == bytes(data) and oak.with_name(oak.name + ".bak").read_bytes() == bak
    error_line(run("log"), 4, "history archive does not authenticate")


def test_a_file_cut_inside_the_archive_is_damage(run, oak, small_batches):
    add_staff(run, 6)
    oak.write_bytes(oak.read_bytes()[:-1])
    assert error_line(run("staff list"), 4) == "Error: register damaged: the file is truncated"
    # `vault status` reads only the header, and the size still tells it the archive is cut short
    assert error_line(run("vault status"), 4) == "Error: register damaged: the file is truncated"


def test_a_byte_after_the_archive_is_an_unfinished_tail_record_and_the_next_save_drops_it(run, oak, small_batches):
    """Past the archive starts the tail (file-format.md §5e): too short to be a record, it is left out."""
    add_staff(run, 6)
    data = oak.read_bytes()
    oak.write_bytes(data + b"\0")
    ok(run("staff list"))
    add_staff(run, 1, start=20)
    total, body, history = ff.file_lengths(oak.read_bytes())
    assert oak.stat().st_size == total + body + history


def test_an_archive_from_an_earlier_save_cannot_be_put_back(run, oak, small_batches):
    add_staff(run, 6)
    _, _, _, old_archive = regions(oak)
    add_staff(run, 6, start=10)  # the next batch re-encrypts the archive under a new nonce
    header, raw, body, archive = regions(oak)
    assert archive != old_archive
    # Same length or not, the header the body authenticates pins the newer nonce and length.
    oak.write_bytes(raw + body + old_archive[: len(archive)].ljust(len(archive), b"\0"))
    error_line(run("log"), 4, "history archive does not authenticate")


def test_revoking_someone_re_encrypts_the_archive_under_the_new_key(run, oak, small_batches, monkeypatch):
    ok(run(f"person grant {HEAD} --access register", env={"ACCOUNTCTL_NEW_PASSPHRASE": HEAD_PASS}))
    monkeypatch.setenv("ACCOUNTCTL_USER", CUSTODIAN)
    add_staff(run, 6)
    with store.open_register(oak, actor=HEAD, passphrase_source=lambda: HEAD_PASS, use_keyring=False) as reg:
        leaked_key = reg.keys.register_key
    history = seqs(run)
    ok(run(f"person revoke {HEAD}"))
    header, _, _, archive = regions(oak)
    assert header.history_len == len(archive) > 0
    with pytest.raises(crypto.CryptoFailure):
        crypto.decrypt_with_nonce(leaked_key, header.history_nonce, archive, ff.LABEL_HISTORY + header.file_id)
    assert seqs(run)[: len(history)] == history
    assert json.loads(ok(run("verify --format json")).stdout)["ok"]


def test_removing_archived_events_is_caught_by_verify(run, oak, small_batches):
    add_staff(run, 6)
    with store.open_register(
        oak, actor=CUSTODIAN, passphrase_source=lambda: PASSPHRASE, write=True, use_keyring=False, history=True
    ) as reg:
        reg.db.execute("DELETE FROM history.events WHERE seq = 3")
        reg._history_rewritten = True  # a key holder rewriting the archive, as a tool of their own could
    result = ok(run("verify --format json"), 1)
    assert any("event 3 is missing" in p for p in json.loads(result.stdout)["problems"])


def test_export_holds_every_event(run, oak, small_batches):
    add_staff(run, 6)
    exported = json.loads(ok(run("export")).stdout)
    assert [e["seq"] for e in exported["events"]] == seqs(run)


def test_readers_take_the_archive_from_the_same_read_as_the_body(run, oak, small_batches, monkeypatch):
    # A writer may replace the file between two reads; a reader must never pair this header with
    # another file's archive, so it reads the file once.
    add_staff(run, 6)

    def second_read(*args):
        raise AssertionError("a reader read the file twice")

    from accountctl.store.stores import FileStore

    monkeypatch.setattr(FileStore, "read_archive", second_read)
    assert seqs(run)[-1] > 6
    ok(run("verify"))


def test_a_save_after_the_archive_checks_its_own_events_without_reading_the_archive(
    run, oak, small_batches, monkeypatch
):
    archived, added = regions(oak)[0].history_len, 0
    while regions(oak)[0].history_len == archived:  # until a save moves every event into the archive
        add_staff(run, 1, start=added)
        added += 1
    monkeypatch.setattr(store.state, "ARCHIVE_AT", 1000)  # no more archiving: only the check could read it
    ok(run("staff list"))  # this machine has checked up to the newest event, which is now in the archive
    reads = []
    original = store.state.Register.load_history
    monkeypatch.setattr(store.state.Register, "load_history", lambda reg, *a: reads.append(1) or original(reg, *a))
    ok(run('staff add next@oak.sch.uk --name "Next" --school oak --role staff'))
    ok(run("staff list"))
    # The new event names the archived one it follows; that link is enough (at 10,000 accounts the archive
    # is 26 MB and reading it put a save at 155 MB).
    assert reads == []
    assert json.loads(ok(run("verify --format json")).stdout)["ok"]


def test_a_checked_event_the_file_no_longer_holds_starts_the_check_afresh(run, oak, small_batches):
    """A copy restored from elsewhere: the event this machine checked last is not the one the file has."""
    from accountctl.store import checking

    archived, added = regions(oak)[0].history_len, 0
    while regions(oak)[0].history_len == archived:
        add_staff(run, 1, start=added)
        added += 1
    add_staff(run, 1, start=added)  # the newest event is in the body, the one before it in the archive
    with store.open_register(oak, actor=CUSTODIAN, passphrase_source=lambda: PASSPHRASE, use_keyring=False) as reg:
        head = reg.checked
        elsewhere = checking.Checked(head.seq - 1, "0" * 64)  # checked on another branch of the history
        assert (checking.check_history(reg, elsewhere).seq, checking.check_history(reg, elsewhere).hash) == (
            head.seq,
            head.hash,
        )
