"""Access and identity: init, key slots, grant/revoke with key rotation, passwd, recovery, keyring, status."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import keyring
import pytest

from accountctl.cli import common
from accountctl import crypto
from accountctl.store import fileformat as ff, keyring_cache
from accountctl.store import register as store
from accountctl.crypto import CryptoFailure
from conftest import CUSTODIAN, HEAD, PASSPHRASE, ok

IT2 = "it2@oak.sch.uk"
IT2_PASS = "second custodian passphrase"
HEAD_PASS = "headteacher passphrase"
NEW_PASS = "a brand new passphrase"
RECOVERY_RE = re.compile(r"^[A-Z2-7]{4}(-[A-Z2-7]{1,4})+$")


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and not p.name.endswith(".lock")}


PROMPT = re.compile(r"^(Enter|Repeat|Passphrase|Recovery key)\b.*: ?$|Try again\.$")  # a retry is said, then asked


def refused(result, code: int, *texts: str) -> None:
    """Exit `code` and one `Error: ...` line on stderr (prompts aside) naming each of `texts`."""
    ok(result, code)
    lines = [line for line in result.stderr.strip().splitlines() if not PROMPT.search(line)]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), lines[0]
    for text in texts:
        assert text in lines[0], lines[0]


def as_(email: str, passphrase: str) -> dict:
    return {"ACCOUNTCTL_USER": email, "ACCOUNTCTL_PASSPHRASE": passphrase}


def open_keys(path: Path, email: str, passphrase: str) -> store.Keys:
    with store.open_register(path, actor=email, passphrase_source=lambda: passphrase, use_keyring=False) as reg:
        return reg.keys


def staff_emails(run, env=None, extra="") -> set[str]:
    return {s["email"] for s in json.loads(ok(run(f"staff list --json {extra}", env=env)).stdout)}


@pytest.fixture
def with_recovery(run, register_path):
    """Like `oak`, but keeps the recovery key `init` printed."""
    result = ok(run(f'init --trust "Oak Trust" --email {CUSTODIAN} --name "Ira Tech"'))
    ok(run('school add oak --name "Oak Primary" --domain oak.sch.uk'))
    ok(run(f'staff add {CUSTODIAN} --name "Ira Tech" --school oak --role it'))
    ok(run(f'staff add {HEAD} --name "Hana Head" --school oak --role headteacher --role slt'))
    return result.stdout.strip()


@pytest.fixture
def two_custodians(run, oak):
    """oak plus a second IT custodian (vault) and the headteacher (register only), each with their own passphrase."""
    ok(run(f'staff add {IT2} --name "Ivo Two" --school oak --role it'))
    ok(run(f"person grant {IT2} --access vault", env={"ACCOUNTCTL_NEW_PASSPHRASE": IT2_PASS}))
    ok(run(f"person grant {HEAD} --access register --as {CUSTODIAN}", env={"ACCOUNTCTL_NEW_PASSPHRASE": HEAD_PASS}))
    return oak


# -- init --------------------------------------------------------------------------------------------
def test_init_prints_the_recovery_key_alone_on_stdout(run, register_path):
    result = ok(run(f'init --trust "Oak Trust" --email {CUSTODIAN} --name "Ira Tech"'))
    assert result.stdout.count("\n") == 1
    text = result.stdout.strip()
    assert RECOVERY_RE.match(text), result.stdout
    assert "Recovery key" in result.stderr and text not in result.stderr
    assert PASSPHRASE not in result.stdout + result.stderr
    with store.open_with_recovery_key(register_path, store.parse_recovery_key(text)) as reg:
        assert reg.actor == "recovery-key" and reg.keys.vault_key is not None
        assert {r[0] for r in reg.db.execute("SELECT email FROM people")} == {CUSTODIAN}
    header, _ = store.read_header(register_path)
    assert sorted(s.kind for s in header.slots) == [ff.KIND_PERSON, ff.KIND_RECOVERY]


def test_init_refuses_to_overwrite(run, oak):
    before = snapshot(oak.parent)
    refused(run(f'init --trust "Other" --email {CUSTODIAN} --name "Ira Tech"'), 2, "already exists")
    refused(
        run(f'init --trust "Other" --email other@elm.sch.uk --name "X" --register {oak}'),
        2,
        f"already exists at {oak};",
    )
    assert snapshot(oak.parent) == before
    assert len(staff_emails(run)) == 4


def test_init_needs_a_passphrase_of_at_least_10_characters_that_is_hard_to_guess(run, register_path):
    refused(
        run(f'init --trust "Oak" --email {CUSTODIAN} --name "Ira"', env={"ACCOUNTCTL_NEW_PASSPHRASE": "123456789"}),
        2,
        "at least 10",
    )
    refused(
        run(f'init --trust "Oak" --email {CUSTODIAN} --name "Ira"', env={"ACCOUNTCTL_NEW_PASSPHRASE": "1234567890"}),
        2,
        "too easy to guess",
    )
    assert not register_path.exists()
    assert list(register_path.parent.iterdir()) == []
    ok(run(f'init --trust "Oak" --email {CUSTODIAN} --name "Ira"', env={"ACCOUNTCTL_NEW_PASSPHRASE": NEW_PASS}))


def test_init_without_a_new_passphrase_and_no_terminal_is_refused(run, register_path, monkeypatch):
    monkeypatch.delenv("ACCOUNTCTL_NEW_PASSPHRASE")
    refused(run(f'init --trust "Oak" --email {CUSTODIAN} --name "Ira"'), 2, "ACCOUNTCTL_NEW_PASSPHRASE")
    assert not register_path.exists()


@pytest.fixture
def prompting(monkeypatch):
    """As on a terminal: no ACCOUNTCTL_NEW_PASSPHRASE, the new passphrase is asked twice."""
    monkeypatch.setattr(common, "interactive", lambda: True)
    monkeypatch.delenv("ACCOUNTCTL_NEW_PASSPHRASE")


def test_init_prompt_not_confirmed_asks_again_and_creates_nothing_until_it_matches(run, register_path, prompting):
    result = run(
        f'init --trust "Oak" --email {CUSTODIAN} --name "Ira"',
        input="first passphrase one\nsecond passphrase two\n" * common.NEW_PASSPHRASE_TRIES,
    )
    refused(result, 2, "no acceptable passphrase")
    assert result.stderr.count("did not match. Try again.") == common.NEW_PASSPHRASE_TRIES
    assert not register_path.exists()
    result = ok(
        run(
            f'init --trust "Oak" --email {CUSTODIAN} --name "Ira"',
            input=f"first passphrase one\nsecond passphrase two\n{NEW_PASS}\n{NEW_PASS}\n",
        )
    )
    assert "did not match. Try again." in result.stderr
    assert NEW_PASS not in result.stdout + result.stderr
    open_keys(register_path, CUSTODIAN, NEW_PASS)


def test_passwd_prompt_not_confirmed_or_too_short_is_asked_again_and_changes_nothing(run, oak, prompting):
    before = snapshot(oak.parent)
    refused(
        run("passwd", input="first passphrase one\nsecond passphrase two\n" * common.NEW_PASSPHRASE_TRIES),
        2,
        "no acceptable passphrase",
    )
    assert snapshot(oak.parent) == before
    result = run("passwd", input="short\n" * common.NEW_PASSPHRASE_TRIES)
    refused(result, 2, "no acceptable passphrase")
    assert result.stderr.count("at least 10 characters. Try again.") == common.NEW_PASSPHRASE_TRIES
    assert snapshot(oak.parent) == before
    assert snapshot(oak.parent) == before
    ok(run("passwd", input=f"{NEW_PASS}\n{NEW_PASS}\n"))
    assert snapshot(oak.parent) != before
    refused(run("staff list"), 3, "wrong passphrase")
    ok(run("staff list", env={"ACCOUNTCTL_PASSPHRASE": NEW_PASS}))


def test_grant_prompt_not_confirmed_changes_nothing(run, oak, prompting):
    before = snapshot(oak.parent)
    refused(
        run(
            f"person grant {HEAD} --access register",
            input="first passphrase one\nsecond passphrase two\n" * common.NEW_PASSPHRASE_TRIES,
        ),
        2,
        "no acceptable passphrase",
    )
    assert snapshot(oak.parent) == before


def test_passphrase_prompt_on_a_terminal(run, oak, monkeypatch):
    monkeypatch.delenv("ACCOUNTCTL_PASSPHRASE")
    refused(run("staff list"), 3, "no passphrase")
    monkeypatch.setattr(common, "interactive", lambda: True)
    result = ok(run("staff list --json", input=PASSPHRASE + "\n"))
    assert len(json.loads(result.stdout)) == 4
    refused(run("staff list", input="wrong passphrase here\n"), 3, "wrong passphrase")


# -- person grant -------------------------------------------------------------------------------------
def test_grant_gives_a_staff_member_their_own_slot(run, oak):
    ok(run(f"person grant {HEAD} --access register", env={"ACCOUNTCTL_NEW_PASSPHRASE": HEAD_PASS}))
    people = json.loads(ok(run("person list --json", env=as_(CUSTODIAN, PASSPHRASE))).stdout)
    assert {p["email"]: p["access"] for p in people} == {CUSTODIAN: "vault", HEAD: "register"}
    assert [p["granted_by"] for p in people if p["email"] == HEAD] == [CUSTODIAN]
    refused(run("person list --json", env=as_(HEAD, HEAD_PASS)), 3, "only an IT custodian")  # SPEC: custodian
    # The headteacher opens the register with their passphrase; SLT slots do not unwrap the vault key.
    keys = open_keys(oak, HEAD, HEAD_PASS)
    assert keys.vault_key is None and keys.signing_private is not None
    assert open_keys(oak, CUSTODIAN, PASSPHRASE).vault_key is not None
    refused(run("staff list", env=as_(HEAD, PASSPHRASE)), 3, "wrong passphrase")


def test_grant_short_passphrase_is_refused(run, oak):
    before = snapshot(oak.parent)
    refused(run(f"person grant {HEAD} --access register", env={"ACCOUNTCTL_NEW_PASSPHRASE": "short"}), 2, "at least 10")
    assert snapshot(oak.parent) == before


@pytest.mark.parametrize(
    "args, text",
    [
        ("person grant stranger@oak.sch.uk --access register", "not staff"),
        ("person grant not-an-email --access register", "not a valid email"),
        (f"person grant {CUSTODIAN} --access vault", "already has a key slot"),
        (f"person grant {CUSTODIAN.upper()} --access register", "already has a key slot"),
        (f"person grant {HEAD} --access everything", "everything"),
    ],
)
def test_grant_bad_input_is_refused(run, oak, args, text):
    before = snapshot(oak.parent)
    refused(run(args), 2, text)
    assert snapshot(oak.parent) == before


def test_grant_twice_is_refused(run, oak):
    ok(run(f"person grant {HEAD} --access register"))
    before = snapshot(oak.parent)
    refused(run(f"person grant {HEAD} --access vault --as {CUSTODIAN}"), 2, "already has a key slot")
    assert snapshot(oak.parent) == before


def test_a_register_only_slot_cannot_grant_or_revoke(run, two_custodians):
    before = snapshot(two_custodians.parent)
    head = as_(HEAD, HEAD_PASS)
    refused(run("person grant t.one@oak.sch.uk --access register", env=head), 3, "only an IT custodian")
    refused(run(f"person revoke {IT2}", env=head), 3, "only an IT custodian")
    refused(run(f"person revoke {HEAD}", env=head), 3, "only an IT custodian")
    refused(run("staff add x@oak.sch.uk --name X --school oak", env=head), 3, "only an IT custodian")
    assert snapshot(two_custodians.parent) == before


def test_several_slots_need_as_and_user_env_works_like_as(run, two_custodians, monkeypatch):
    before = snapshot(two_custodians.parent)
    refused(run("staff list"), 3, "--as")
    refused(run("staff add x@oak.sch.uk --name X --school oak"), 3, "--as")
    assert snapshot(two_custodians.parent) == before
    # --as before or after the subcommand, in any case
    assert len(staff_emails(run, extra=f"--as {CUSTODIAN.upper()}")) == 5
    ok(run(f"--as {IT2} staff list", env={"ACCOUNTCTL_PASSPHRASE": IT2_PASS}))
    # ACCOUNTCTL_USER chooses the slot (so the custodian's passphrase fails on the headteacher's slot)...
    refused(run("staff list", env={"ACCOUNTCTL_USER": HEAD}), 3, "wrong passphrase")
    ok(run("staff list", env=as_(HEAD, HEAD_PASS)))
    # ...and the actor recorded is the one chosen.
    ok(run("staff add x@oak.sch.uk --name X --school oak", env=as_(IT2, IT2_PASS)))
    last = json.loads(ok(run("log --json --limit 1", env=as_(IT2, IT2_PASS))).stdout)[0]
    assert (last["actor"], last["action"], last["target"]) == (IT2, "staff.add", "x@oak.sch.uk")
    # --as wins over ACCOUNTCTL_USER
    ok(run(f"staff list --as {CUSTODIAN}", env={"ACCOUNTCTL_USER": HEAD}))
    refused(run("staff list --as nobody@oak.sch.uk", env={"ACCOUNTCTL_USER": CUSTODIAN}), 3, "no key slot")


# -- person revoke: rotation, not a deleted row ---------------------------------------------------------
def _store_a_credential(path: Path) -> None:
    with store.open_register(
        path, actor=CUSTODIAN, passphrase_source=lambda: PASSPHRASE, write=True, use_keyring=False
    ) as reg:
        blob = reg.encrypt_field("credentials", "oak-x-oak", "password", b"hunter2-secret")
        reg.db.execute("INSERT INTO credentials(account, password) VALUES (?, ?)", ("oak-x-oak", blob))


def _read_credential(path: Path, email: str, passphrase: str) -> bytes:
    with store.open_register(path, actor=email, passphrase_source=lambda: passphrase, use_keyring=False) as reg:
        (blob,) = reg.db.execute("SELECT password FROM credentials WHERE account = 'oak-x-oak'").fetchone()
        return reg.decrypt_field("credentials", "oak-x-oak", "password", blob)


def test_revoke_rotates_keys_so_the_old_passphrase_opens_nothing_written_afterwards(
    run, two_custodians, tmp_path, monkeypatch
):
    path = two_custodians
    _store_a_credential(path)
    old_copy = tmp_path / "before-revoke.accountctl"
    shutil.copyfile(path, old_copy)
    me = as_(CUSTODIAN, PASSPHRASE)

    result = ok(run(f"person revoke {IT2}", env=me))
    assert "register key and vault key" in result.stderr
    ok(run("staff add later@oak.sch.uk --name Later --school oak", env=me))  # one more write after the revoke

    # The revoked custodian's passphrase fails on the current file...
    refused(run("staff list", env=as_(IT2, IT2_PASS)), 3, "no key slot")
    # ...but still opens the old copy on their own machine (this one's witness refuses an older copy:
    # LUKS's lesson: it is rotation that protects new data, not a deleted row).
    with monkeypatch.context() as leavers_machine:
        leavers_machine.setenv("XDG_STATE_HOME", str(tmp_path / "leaver-state"))
        assert IT2 in staff_emails(run, env=as_(IT2, IT2_PASS), extra=f"--register {old_copy}")
        assert _read_credential(old_copy, IT2, IT2_PASS) == b"hunter2-secret"
        old_keys = open_keys(old_copy, CUSTODIAN, PASSPHRASE)
        leaked = open_keys(old_copy, IT2, IT2_PASS)
    refused(run(f"staff list --register {old_copy}", env=me), 4, "rolled back")

    # Byte level: the remaining custodian sees new register and vault keys.
    new_keys = open_keys(path, CUSTODIAN, PASSPHRASE)
    assert new_keys.register_key != old_keys.register_key
    assert new_keys.vault_key != old_keys.vault_key
    assert new_keys.x25519_private == old_keys.x25519_private  # the remaining slot itself was not replaced
    # Everything the revoked person could take from the old copy fails on the new file.
    assert leaked.register_key == old_keys.register_key and leaked.vault_key == old_keys.vault_key
    data = path.read_bytes()
    header, raw = ff.parse_header(data)
    with pytest.raises(CryptoFailure):
        crypto.decrypt_with_nonce(leaked.register_key, header.body_nonce, data[len(raw) :], raw)
    for slot in header.slots:
        with pytest.raises(CryptoFailure):
            crypto.open_sealed_to(
                leaked.x25519_private,
                slot.sealed_register,
                ff.LABEL_REGISTER_KEY,
                ff.slot_aad(header.file_id, slot.slot_id),
            )
    assert ff.person_tag(header.file_id, IT2) not in {s.tag for s in header.slots}
    # The credential was re-encrypted under the new vault key: readable by the custodian, not with the old key.
    assert _read_credential(path, CUSTODIAN, PASSPHRASE) == b"hunter2-secret"
    with store.open_register(path, actor=CUSTODIAN, passphrase_source=lambda: PASSPHRASE, use_keyring=False) as reg:
        (blob,) = reg.db.execute("SELECT password FROM credentials").fetchone()
    with pytest.raises(CryptoFailure):
        crypto.open_sealed(leaked.vault_key, blob, store._field_aad("credentials", "oak-x-oak", "password"))
    # The headteacher's slot was re-sealed and still opens; the recovery slot too.
    assert open_keys(path, HEAD, HEAD_PASS).register_key == new_keys.register_key
    # The revoke is in the history, with what was rotated, and the chain still verifies.
    events = json.loads(ok(run("log --json", env=me)).stdout)
    revoke = [e for e in events if e["action"] == "person.revoke"]
    assert revoke and revoke[0]["target"] == IT2 and revoke[0]["actor"] == CUSTODIAN
    assert revoke[0]["details"]["rotated"] == ["register key", "vault key"]
    ok(run("verify", env=me))
    people = {p["email"] for p in json.loads(ok(run("person list --json", env=me)).stdout)}
    assert people == {CUSTODIAN, HEAD}


def test_revoking_a_register_only_slot_rotates_the_register_key_only(run, two_custodians, tmp_path):
    path = two_custodians
    before = open_keys(path, CUSTODIAN, PASSPHRASE)
    result = ok(run(f"person revoke {HEAD}", env=as_(IT2, IT2_PASS)))
    assert "register key" in result.stderr and "vault key" not in result.stderr
    after = open_keys(path, CUSTODIAN, PASSPHRASE)
    assert after.register_key != before.register_key
    assert after.vault_key == before.vault_key
    refused(run("staff list", env=as_(HEAD, HEAD_PASS)), 3, "no key slot")


def test_the_recovery_key_still_opens_after_a_revoke(run, with_recovery, register_path):
    ok(run(f'staff add {IT2} --name "Ivo Two" --school oak --role it'))
    ok(run(f"person grant {IT2} --access vault", env={"ACCOUNTCTL_NEW_PASSPHRASE": IT2_PASS}))
    ok(run(f"person revoke {IT2} --as {CUSTODIAN}"))
    with store.open_with_recovery_key(register_path, store.parse_recovery_key(with_recovery)) as reg:
        assert reg.keys.register_key == open_keys(register_path, CUSTODIAN, PASSPHRASE).register_key


def test_revoking_the_last_custodian_is_refused(run, oak):
    before = snapshot(oak.parent)
    refused(run(f"person revoke {CUSTODIAN}"), 2, "last IT custodian")
    assert snapshot(oak.parent) == before


def test_revoking_the_last_custodian_is_refused_with_slt_slots_around(run, oak):
    ok(run(f"person grant {HEAD} --access register", env={"ACCOUNTCTL_NEW_PASSPHRASE": HEAD_PASS}))
    before = snapshot(oak.parent)
    refused(run(f"person revoke {CUSTODIAN} --as {CUSTODIAN}"), 2, "last IT custodian")
    assert snapshot(oak.parent) == before


def test_revoking_someone_without_a_slot_is_refused(run, oak):
    before = snapshot(oak.parent)
    refused(run(f"person revoke {HEAD}"), 2, "no key slot")
    refused(run("person revoke nobody@nowhere.org"), 2, "no key slot")
    assert snapshot(oak.parent) == before


# -- passwd ------------------------------------------------------------------------------------------
def test_passwd_changes_the_passphrase(run, oak):
    header_before, _ = store.read_header(oak)
    ok(run("passwd", env={"ACCOUNTCTL_NEW_PASSPHRASE": NEW_PASS}))
    refused(run("staff list"), 3, "wrong passphrase")
    assert len(staff_emails(run, env={"ACCOUNTCTL_PASSPHRASE": NEW_PASS})) == 4
    header_after, _ = store.read_header(oak)
    person = [s for s in header_after.slots if s.kind == ff.KIND_PERSON][0]
    old = [s for s in header_before.slots if s.kind == ff.KIND_PERSON][0]
    assert person.salt != old.salt and person.slot_id == old.slot_id
    log = json.loads(ok(run("log --json", env={"ACCOUNTCTL_PASSPHRASE": NEW_PASS})).stdout)
    assert log[-1]["action"] == "person.passwd" and log[-1]["actor"] == CUSTODIAN
    ok(run("verify", env={"ACCOUNTCTL_PASSPHRASE": NEW_PASS}))


def test_passwd_to_a_short_passphrase_is_refused(run, oak):
    before = snapshot(oak.parent)
    refused(run("passwd", env={"ACCOUNTCTL_NEW_PASSPHRASE": "tooshort"}), 2, "at least 10")
    assert snapshot(oak.parent) == before


def test_passwd_with_the_wrong_current_passphrase_is_refused(run, oak):
    before = snapshot(oak.parent)
    refused(
        run("passwd", env={"ACCOUNTCTL_PASSPHRASE": "not my passphrase", "ACCOUNTCTL_NEW_PASSPHRASE": NEW_PASS}),
        3,
        "wrong passphrase",
    )
    assert snapshot(oak.parent) == before


def test_passwd_of_one_person_leaves_the_others_alone(run, two_custodians):
    ok(run("passwd", env={**as_(HEAD, HEAD_PASS), "ACCOUNTCTL_NEW_PASSPHRASE": NEW_PASS}))
    refused(run("staff list", env=as_(HEAD, HEAD_PASS)), 3, "wrong passphrase")
    ok(run("staff list", env=as_(HEAD, NEW_PASS)))
    ok(run("staff list", env=as_(IT2, IT2_PASS)))
    ok(run("staff list", env=as_(CUSTODIAN, PASSPHRASE)))
    assert open_keys(two_custodians, HEAD, NEW_PASS).vault_key is None  # passwd grants nothing new


# -- recovery ----------------------------------------------------------------------------------------
def test_vault_recover_restores_access_with_a_new_passphrase(run, with_recovery, register_path, monkeypatch):
    before = open_keys(register_path, CUSTODIAN, PASSPHRASE)
    monkeypatch.setenv("ACCOUNTCTL_RECOVERY_KEY", with_recovery.lower())  # case and dashes do not matter
    result = ok(run(f"vault recover {CUSTODIAN}", env={"ACCOUNTCTL_NEW_PASSPHRASE": NEW_PASS}))
    assert with_recovery not in result.stdout + result.stderr and NEW_PASS not in result.stdout + result.stderr
    monkeypatch.delenv("ACCOUNTCTL_RECOVERY_KEY")
    refused(run("staff list"), 3, "wrong passphrase")
    assert len(staff_emails(run, env={"ACCOUNTCTL_PASSPHRASE": NEW_PASS})) == 2
    after = open_keys(register_path, CUSTODIAN, NEW_PASS)
    assert after.register_key == before.register_key and after.vault_key == before.vault_key
    assert after.signing_private != before.signing_private  # new key pairs: the old ones could not be unwrapped
    ok(run("staff add x@oak.sch.uk --name X --school oak", env={"ACCOUNTCTL_PASSPHRASE": NEW_PASS}))
    ok(run("verify", env={"ACCOUNTCTL_PASSPHRASE": NEW_PASS}))


def test_vault_recover_from_stdin(run, with_recovery, register_path):
    ok(run(f"vault recover {CUSTODIAN}", input=with_recovery + "\n", env={"ACCOUNTCTL_NEW_PASSPHRASE": NEW_PASS}))
    open_keys(register_path, CUSTODIAN, NEW_PASS)


def test_vault_recover_with_a_wrong_recovery_key_is_refused(run, with_recovery, register_path, monkeypatch):
    wrong = store.format_recovery_key(crypto.random_bytes(store.RECOVERY_KEY_BYTES))
    assert wrong != with_recovery
    before = snapshot(register_path.parent)
    monkeypatch.setenv("ACCOUNTCTL_RECOVERY_KEY", wrong)
    refused(run(f"vault recover {CUSTODIAN}", env={"ACCOUNTCTL_NEW_PASSPHRASE": NEW_PASS}), 3, "wrong recovery key")
    monkeypatch.setenv("ACCOUNTCTL_RECOVERY_KEY", "not-a-key-!!")
    refused(run(f"vault recover {CUSTODIAN}", env={"ACCOUNTCTL_NEW_PASSPHRASE": NEW_PASS}), 2, "not a recovery key")
    monkeypatch.setenv("ACCOUNTCTL_RECOVERY_KEY", with_recovery)
    refused(run(f"vault recover {HEAD}", env={"ACCOUNTCTL_NEW_PASSPHRASE": NEW_PASS}), 2, "no key slot")
    refused(run(f"vault recover {CUSTODIAN}", env={"ACCOUNTCTL_NEW_PASSPHRASE": "short"}), 2, "at least 10")
    assert snapshot(register_path.parent) == before
    ok(run("staff list"))


# -- keyring -----------------------------------------------------------------------------------------
def test_login_caches_a_key_so_no_passphrase_is_needed_and_logout_forgets_it(run, oak, isolated, monkeypatch):
    assert isolated.store == {}
    result = ok(run("login"))
    assert "Logged in" in result.stderr
    assert len(isolated.store) == 1
    (service, username), value = next(iter(isolated.store.items()))
    assert service == keyring_cache.SERVICE
    assert len(base64.b64decode(value)) == 32
    assert PASSPHRASE not in value and PASSPHRASE not in username and CUSTODIAN not in username

    monkeypatch.delenv("ACCOUNTCTL_PASSPHRASE")
    assert len(staff_emails(run)) == 4
    ok(run("staff add x@oak.sch.uk --name X --school oak"))  # writes too
    ok(run("logout"))
    assert isolated.store == {}
    refused(run("staff list"), 3, "no passphrase")


def test_login_with_a_wrong_passphrase_caches_nothing(run, oak, isolated):
    refused(run("login", env={"ACCOUNTCTL_PASSPHRASE": "not the passphrase"}), 3, "wrong passphrase")
    assert isolated.store == {}


def test_a_stale_cached_key_falls_back_to_the_passphrase(run, oak, isolated):
    ok(run("login"))
    key = next(iter(isolated.store))
    isolated.store[key] = base64.b64encode(bytes(32)).decode()
    ok(run("staff list"))
    refused(run("staff list", env={"ACCOUNTCTL_PASSPHRASE": None}), 3, "no passphrase")


def test_passwd_updates_the_cached_key(run, oak, isolated, monkeypatch):
    ok(run("login"))
    ((entry, before),) = isolated.store.items()
    monkeypatch.delenv("ACCOUNTCTL_PASSPHRASE")
    ok(run("passwd", env={"ACCOUNTCTL_NEW_PASSPHRASE": NEW_PASS}))  # unlocked by the cached key alone
    assert list(isolated.store) == [entry]
    assert isolated.store[entry] != before
    assert len(staff_emails(run)) == 4  # the updated cache opens the new slot without any passphrase
    # With a working cache the passphrase is not even asked; forget the cache and the old passphrase fails.
    ok(run("logout"))
    refused(run("staff list", env={"ACCOUNTCTL_PASSPHRASE": PASSPHRASE}), 3, "wrong passphrase")
    ok(run("staff list", env={"ACCOUNTCTL_PASSPHRASE": NEW_PASS}))


def test_passwd_without_login_caches_nothing(run, oak, isolated):
    ok(run("passwd", env={"ACCOUNTCTL_NEW_PASSPHRASE": NEW_PASS}))
    assert isolated.store == {}


def test_after_revoke_the_revoked_persons_cached_key_opens_nothing(run, two_custodians, isolated, monkeypatch):
    path = two_custodians
    ok(run("login", env=as_(IT2, IT2_PASS)))
    ((_, value),) = isolated.store.items()
    cached = base64.b64decode(value)
    ok(run("staff list", env={"ACCOUNTCTL_USER": IT2, "ACCOUNTCTL_PASSPHRASE": None}))  # the cache works
    ok(run(f"person revoke {IT2}", env=as_(CUSTODIAN, PASSPHRASE)))
    refused(run("staff list", env={"ACCOUNTCTL_USER": IT2, "ACCOUNTCTL_PASSPHRASE": None}), 3)
    header, _ = store.read_header(path)
    for slot in header.slots:
        with pytest.raises(CryptoFailure):
            store._unwrap(header, slot, cached)


def test_headless_fallback_says_so_once_and_uses_the_passphrase(run, oak, isolated):
    from keyring.backends import fail

    keyring.set_keyring(fail.Keyring())
    keyring_cache.reset()
    result = ok(run("staff add x@oak.sch.uk --name X --school oak"))
    assert result.stderr.count("no OS keyring") == 1, result.stderr
    keyring_cache.reset()
    result = ok(run("staff list --json"))
    assert "no OS keyring" not in result.stderr, "said once on this machine, not on every run"
    assert len(json.loads(result.stdout)) == 5
    keyring_cache.reset()
    bad = run("staff add not-an-email --name X --school oak")
    assert bad.exit_code == 2 and bad.stderr.strip().count("\n") == 0  # a bad input stays one Error line
    keyring_cache._marker().unlink()
    keyring_cache.reset()
    result = ok(run("staff list --json"))
    assert result.stderr.count("no OS keyring") == 1, result.stderr
    assert len(json.loads(result.stdout)) == 5  # the notice never mixes into the data
    keyring_cache.reset()
    result = ok(run("login"))  # with no keyring, the key goes to the agent instead
    assert "held by the agent" in result.stderr and "no OS keyring" in result.stderr
    assert isolated.store == {}


@pytest.mark.parametrize("backend", ["keyring.backends.null.Keyring", "keyring.backends.fail.Keyring"])
def test_null_and_fail_backends_count_as_no_keyring(backend):
    import importlib

    module, _, name = backend.rpartition(".")
    keyring.set_keyring(getattr(importlib.import_module(module), name)())
    keyring_cache.reset()
    assert not keyring_cache.available()
    assert keyring_cache.put(b"\0" * 16, "x", b"k" * 32) is False


# -- vault status ------------------------------------------------------------------------------------
def test_vault_status_needs_no_passphrase(run, oak, monkeypatch):
    monkeypatch.delenv("ACCOUNTCTL_PASSPHRASE")
    monkeypatch.delenv("ACCOUNTCTL_NEW_PASSPHRASE")
    before = snapshot(oak.parent)
    info = json.loads(ok(run("vault status --json")).stdout)
    assert snapshot(oak.parent) == before
    header, _ = store.read_header(oak)
    assert info["generation"] == header.generation > 0
    assert info["format_version"] == ff.VERSION
    assert info["file_id"] == header.file_id.hex()
    assert info["size_bytes"] == oak.stat().st_size
    assert info["person_slots"] == 1 and info["custodian_slots"] == 1
    kinds = sorted((s["kind"], s["access"], s["kdf"]) for s in info["slots"])
    assert kinds == [("person", "vault", "argon2id"), ("recovery", "vault", "hkdf-sha256")]
    person = [s for s in info["slots"] if s["kind"] == "person"][0]
    assert (person["memory_kib"], person["iterations"], person["lanes"]) == (19456, 2, 1)
    assert CUSTODIAN not in json.dumps(info)  # slots are tagged, not named
    table = ok(run("vault status"))
    assert "generation" in table.stdout and "argon2id" in table.stdout
    assert ok(run("--format json vault status")).stdout == ok(run("vault status --json")).stdout
    ok(run("staff add x@oak.sch.uk --name X --school oak", env={"ACCOUNTCTL_PASSPHRASE": PASSPHRASE}))
    assert json.loads(ok(run("vault status --json")).stdout)["generation"] == info["generation"] + 1


def test_vault_status_counts_slots_after_grants(run, two_custodians):
    info = json.loads(ok(run("vault status --json")).stdout)
    assert info["person_slots"] == 3 and info["custodian_slots"] == 2 and len(info["slots"]) == 4


def test_kdf_setting_outside_the_floor_is_refused(run, register_path):
    refused(
        run(f'init --trust "Oak" --email {CUSTODIAN} --name "Ira"', env={"ACCOUNTCTL_KDF": "m=1024,t=1,p=1"}),
        2,
        "ACCOUNTCTL_KDF",
    )
    assert not register_path.exists()
    assert store.kdf_params() == crypto.KdfParams(19456, 2, 1)  # the tests' own setting, at the floor


@pytest.mark.parametrize("args", ["passwd", f"person grant {HEAD} --access register"])
def test_the_new_passphrase_prompt_does_not_hold_the_writers_lock(run, oak, prompting, monkeypatch, args):
    """A person typing at a prompt must not make every other writer (cron, scripts) fail 'register busy'."""
    import click
    from filelock import FileLock, Timeout

    locked_during_prompt = []
    real_prompt = click.prompt

    def watching_prompt(*a, **kw):
        try:
            with FileLock(str(oak) + ".lock", timeout=0):
                locked_during_prompt.append(False)
        except Timeout:
            locked_during_prompt.append(True)
        return real_prompt(*a, **kw)

    monkeypatch.setattr(click, "prompt", watching_prompt)
    ok(run(args, input=f"{NEW_PASS}\n{NEW_PASS}\n"))
    assert locked_during_prompt == [False, False]


@pytest.mark.parametrize("where", ["--as", "ACCOUNTCTL_USER"])
def test_who_you_act_as_that_is_not_an_email_address_is_bad_input_not_access(run, oak, where):
    # An outside check: `--as 'not an email'` exited 3 ("has no key slot"), as if it were a person.
    argv, env = (["--as", "not an email", "account", "list"], None)
    if where == "ACCOUNTCTL_USER":
        argv, env = ["account", "list"], {"ACCOUNTCTL_USER": "not an email"}
    result = run(argv, env=env)
    refused(result, 2, where, "not a valid email address")
    assert "key slot" not in result.stderr
