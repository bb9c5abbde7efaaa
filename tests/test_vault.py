"""The credential vault: field encryption, cred/otp commands, TOTP, secrecy, custodian-only access, rotation."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import time

import pyotp
import pytest

from accountctl.cli import cli
from accountctl.core import quality, vault
from accountctl.errors import DamagedError
from accountctl import crypto
from accountctl.store import register as store
from conftest import CUSTODIAN, HEAD, PASSPHRASE, ok

IT2 = "it.two@oak.sch.uk"
PASSWORD = "Vq7#kestrel-Lantern-91!zz"
SEED = base64.b32encode(b"accountctl-secret-seed!!xy").decode().rstrip("=")  # 42 base32 characters
RECOVERY = ["RCV-4471-ALPHA-9QX", "RCV-8812-BRAVO-3MK", "RCV-0093-CHARLIE-7ZP"]
TOTP_URI = (
    f"otpauth://totp/Facebook:office%40oak.sch.uk?secret={SEED}&issuer=Facebook&digits=8&period=60&algorithm=SHA256"
)


def new_account(run, handle: str = "oakprimary", platform: str = "facebook") -> str:
    result = ok(
        run(
            f"account request --school oak --platform {platform} --handle {handle} --url https://{platform}.com/{handle} "
            "--category faculty --email office@oak.sch.uk --owner t.one@oak.sch.uk --admin t.two@oak.sch.uk "
            '--aim "News for parents" --audience Parents --promotion Newsletter --visibility open --pupils none'
        )
    )
    account_id = result.stdout.strip()
    assert account_id and "\n" not in account_id
    return account_id


def b32(ascii_seed: str) -> str:
    return base64.b32encode(ascii_seed.encode("ascii")).decode("ascii")


def show(run, account_id: str, field: str | None = None, extra: str = "") -> str:
    args = f'cred show {account_id} --reason "checking" {extra}'
    if field:
        args += f" --field {field}"
    return ok(run(args)).stdout


def open_reg(path, actor=None, write=False):
    return store.open_register(path, actor=actor, passphrase_source=lambda: PASSPHRASE, write=write, use_keyring=False)


def events(run, account_id=None):
    args = "log --json" + (f" --account {account_id}" if account_id else "")
    return json.loads(ok(run(args)).stdout)


@pytest.fixture
def acct(run, oak):
    return new_account(run)


@pytest.fixture
def secrets_set(run, acct):
    """An account with a known password, username, TOTP seed and recovery codes."""
    for args, stdin in [
        (f"cred set {acct} --username office@oak.sch.uk", PASSWORD + "\n"),
        (f"cred totp {acct}", TOTP_URI + "\n"),
        (f"cred recovery {acct}", "\n".join(RECOVERY) + "\n"),
    ]:
        result = ok(run(args, input=stdin))
        # storing prints nothing, but cred totp prints the current code to confirm the platform's set-up
        if "totp" in args:  # the code now, or the one before it if the period turned over meanwhile
            seed, now = vault.parse_totp(TOTP_URI), time.time()
            assert result.stdout.strip() in {vault.totp_code(seed, now - d) for d in (0, seed.period)}
        else:
            assert result.stdout == ""
        _assert_clean(args, result)
    return acct


# -- TOTP: RFC 6238 Appendix B ---------------------------------------------------------------------
RFC_SEEDS = {
    "SHA1": "12345678901234567890",
    "SHA256": "12345678901234567890123456789012",
    "SHA512": "1234567890123456789012345678901234567890123456789012345678901234",
}
RFC_VECTORS = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]


@pytest.mark.parametrize("algorithm,column", [("SHA1", 1), ("SHA256", 2), ("SHA512", 3)])
@pytest.mark.parametrize("vector", RFC_VECTORS, ids=[str(v[0]) for v in RFC_VECTORS])
def test_totp_code_matches_rfc6238_vectors(algorithm, column, vector):
    seed = vault.Totp(b32(RFC_SEEDS[algorithm]), digits=8, period=30, algorithm=algorithm)
    assert vault.totp_code(seed, at=vector[0]) == vector[column]


@pytest.mark.parametrize(
    "digits,period,algorithm", [(6, 30, "SHA1"), (8, 60, "SHA256"), (7, 15, "SHA512"), (10, 30, "SHA1")]
)
@pytest.mark.parametrize("at", [0, 59, 1_700_000_000, 1_700_000_029.9, 1_893_456_000])
def test_totp_code_matches_pyotp(digits, period, algorithm, at):
    digest = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}[algorithm]
    expected = pyotp.TOTP(SEED, digits=digits, interval=period, digest=digest).at(int(at))
    code = vault.totp_code(vault.Totp(SEED, digits, period, algorithm), at=at)
    assert code == expected
    assert len(code) == digits and code.isdigit()


def test_parse_totp_keeps_uri_parameters():
    seed = vault.parse_totp(TOTP_URI)
    assert (seed.secret, seed.digits, seed.period, seed.algorithm, seed.issuer, seed.name) == (
        SEED,
        8,
        60,
        "SHA256",
        "Facebook",
        "office@oak.sch.uk",
    )
    plain = vault.parse_totp(SEED.lower()[:8] + " " + SEED.lower()[8:] + "\n")
    assert (plain.secret, plain.digits, plain.period, plain.algorithm) == (SEED, 6, 30, "SHA1")


def test_otp_command_honours_digits_and_period_from_uri(run, acct, monkeypatch):
    ok(run(f"cred totp {acct}", input=TOTP_URI + "\n"))
    fixed = 1_700_000_047.25
    expected = pyotp.TOTP(SEED, digits=8, interval=60, digest=hashlib.sha256).at(int(fixed))
    default_params = pyotp.TOTP(SEED).at(int(fixed))
    monkeypatch.setattr(time, "time", lambda: fixed)
    result = ok(run(f"otp {acct}"))
    assert result.stdout == expected + "\n"
    assert expected != default_params  # the URI's parameters made the difference


def test_otp_command_against_rfc_vector(run, acct, monkeypatch):
    """Independent of pyotp: RFC 6238's SHA512 vector through the CLI, from an otpauth URI."""
    uri = f"otpauth://totp/Test:rfc?secret={b32(RFC_SEEDS['SHA512'])}&digits=8&period=30&algorithm=sha512"
    ok(run(f"cred totp {acct}", input=uri + "\n"))
    monkeypatch.setattr(time, "time", lambda: 1111111111.0)
    assert ok(run(f"otp {acct}")).stdout == "99943326\n"


def test_otp_without_seed_is_refused(run, acct):
    result = ok(run(f"otp {acct}"), 2)
    assert result.stdout == ""


MALFORMED_TOTP = [
    "0189018901890189018",  # 0, 1, 8, 9 are not base32
    "JBSWY3DP!!EHPK3PXP",
    "JBSWY3DP",  # too short
    f"otpauth://hotp/Facebook:x?secret={SEED}&counter=1",
    f"otpauth://totp/Facebook:x?secret={SEED}&digits=5",
    f"otpauth://totp/Facebook:x?secret={SEED}&digits=11",
    f"otpauth://totp/Facebook:x?secret={SEED}&digits=six",
    f"otpauth://totp/Facebook:x?secret={SEED}&period=0",
    f"otpauth://totp/Facebook:x?secret={SEED}&period=301",
    f"otpauth://totp/Facebook:x?secret={SEED}&period=abc",
    f"otpauth://totp/Facebook:x?secret={SEED}&algorithm=MD5",
    "otpauth://totp/Facebook:x?issuer=Facebook",
    "otpauth://totp/Facebook:x?secret=JBSWY3DP",
    "otpauth://totp/Facebook:x?secret=0189018901890189",
    "",
    "   ",
]


def test_malformed_totp_is_refused_and_changes_nothing(run, acct, register_path):
    ok(run(f"cred totp {acct}", input=SEED + "\n"))
    before = register_path.read_bytes()
    for text in MALFORMED_TOTP:
        result = run(f"cred totp {acct}", input=text + "\n")
        assert result.exit_code == 2, (text, result.stderr)
        assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
        assert SEED not in result.stderr + result.stdout
        assert register_path.read_bytes() == before, text
    # and the stored seed is still the original one
    assert vault.parse_totp(show(run, acct, "totp").strip()).secret == SEED


@pytest.mark.parametrize("text", MALFORMED_TOTP)
def test_parse_totp_rejects(text):
    from accountctl.errors import InputError

    with pytest.raises(InputError):
        vault.parse_totp(text)


# -- field encryption: ciphertext bound to table, row and column -----------------------------------
def test_ciphertext_moved_to_another_account_does_not_decrypt(run, oak, register_path):
    a = new_account(run, "alpha")
    b = new_account(run, "bravo")
    ok(run(f"cred set {a}", input="Alpha-password-0001!\n"))
    ok(run(f"cred set {b}", input="Bravo-password-0002!\n"))
    ok(run(f"cred totp {a}", input=SEED + "\n"))
    with open_reg(register_path, write=True) as reg:
        reg.db.execute(
            "UPDATE credentials SET password = (SELECT password FROM credentials WHERE account = ?), "
            "totp = (SELECT totp FROM credentials WHERE account = ?) WHERE account = ?",
            (a, a, b),
        )
    result = run(f'cred show {b} --field password --reason "handover"')
    assert result.exit_code == 4, result.stderr
    assert "Alpha-password-0001!" not in result.stdout + result.stderr
    assert "Bravo-password-0002!" not in result.stdout
    result = run(f"otp {b}")
    assert result.exit_code == 4 and result.stdout == ""
    # the source account is untouched
    assert show(run, a, "password") == "Alpha-password-0001!\n"


def test_ciphertext_moved_to_another_column_does_not_decrypt(run, acct, register_path):
    ok(run(f"cred set {acct}", input=PASSWORD + "\n"))
    with open_reg(register_path, write=True) as reg:
        reg.db.execute("UPDATE credentials SET username = password WHERE account = ?", (acct,))
    result = run(f'cred show {acct} --field username --reason "x"')
    assert result.exit_code == 4
    assert PASSWORD not in result.stdout + result.stderr


def test_field_encryption_is_aes_gcm_bound_to_row(run, acct, register_path):
    ok(run(f"cred set {acct}", input=PASSWORD + "\n"))
    with open_reg(register_path) as reg:
        blob = reg.db.execute("SELECT password FROM credentials WHERE account = ?", (acct,)).fetchone()[0]
        assert PASSWORD.encode() not in blob
        assert reg.decrypt_field("credentials", acct, "password", blob) == PASSWORD.encode()
        with pytest.raises(DamagedError):
            reg.decrypt_field("credentials", acct + "-other", "password", blob)
        with pytest.raises(DamagedError):
            reg.decrypt_field("password_history", acct, "password", blob)
        tampered = bytearray(blob)
        tampered[-1] ^= 1
        with pytest.raises(DamagedError):
            reg.decrypt_field("credentials", acct, "password", bytes(tampered))
        # two encryptions of the same value differ (fresh nonce)
        assert reg.encrypt_field("credentials", acct, "password", b"x") != reg.encrypt_field(
            "credentials", acct, "password", b"x"
        )


# -- the secret grep --------------------------------------------------------------------------------
WEAK = "qwertyuiop12345"


def _forbidden():
    return [
        PASSWORD,
        SEED,
        SEED.lower(),
        *RECOVERY,
        "office%40oak.sch.uk?secret",
        WEAK,
        "Second-password-for-history-77!",
    ]


def _assert_clean(label, result):
    text = result.stdout + result.stderr
    for secret in _forbidden():
        assert secret not in text, f"{label!r} leaked {secret!r}:\n{text}"


def test_no_secret_in_any_output_file_or_backup(run, secrets_set, register_path, monkeypatch):
    acct = secrets_set
    # a second password, so there is an encrypted history entry too (the grep target stays the first)
    ok(run(f"cred set {acct}", input="Second-password-for-history-77!\n"))
    # and accounts the quality rules will flag: one reusing that password, one weak
    reuser, weak = new_account(run, "reuser", "instagram"), new_account(run, "weakling", "youtube")
    ok(run(f"cred set {reuser}", input="Second-password-for-history-77!\n"))
    ok(run(f"cred set {weak}", input=WEAK + "\n"))
    reads = [
        "log",
        "log --json",
        "log --format csv",
        "log --format table",
        f"log --account {acct}",
        f"log --account {acct} --json",
        "export",
        "export --json",
        f"account show {acct}",
        f"account show {acct} --json",
        f"account show {acct} --format csv",
        "account list",
        "account list --json",
        "account list --format csv",
        f"cred history {acct}",
        f"cred history {acct} --json",
        f"cred history {acct} --format csv",
        "vault status",
        "vault status --json",
        "verify",
        "verify --json",
        "staff list",
        "staff list --json",
        "person list",
        "person list --json",
        "school list",
    ]
    if "audit" in cli.commands:
        reads += [
            "audit --format json",
            "audit",
            "audit --format csv",
            "audit --fail-on info --json",
            "audit --as-of 2030-01-01 --json",
        ]
    for optional in ("offboard t.one@oak.sch.uk --json", f"offboard {CUSTODIAN}", "rules", "config show"):
        if optional.split()[0] in cli.commands:
            reads.append(optional)
    for args in reads:
        result = run(args)
        assert result.exit_code in (0, 1), (args, result.exit_code, result.stderr)
        _assert_clean(args, result)

    failing = [
        ("cred show nope-acct --reason x", None, None),
        ("cred show nope-acct --reason x --field password", None, None),
        ("cred history nope-acct", None, None),
        ("otp nope-acct", None, None),
        ("account show nope-acct", None, None),
        ("cred set nope-acct", PASSWORD + "\n", None),
        ("cred totp nope-acct", TOTP_URI + "\n", None),
        ("cred recovery nope-acct", "\n".join(RECOVERY) + "\n", None),
        (f"cred set {acct}", "Second-password-for-history-77!\n", None),  # already current
        (f"cred totp {acct}", TOTP_URI.replace("digits=8", "digits=99") + "\n", None),
        (f"cred totp {acct}", TOTP_URI.replace("totp/", "hotp/") + "\n", None),
        (f"cred totp {acct}", SEED + "1\n", None),
        (f"cred set {acct}", PASSWORD + "\nsecond line\n", None),
        (f"cred generate {acct} --length 11", None, None),
        (f"cred show {acct} --reason x", None, {"ACCOUNTCTL_PASSPHRASE": "wrong passphrase entirely"}),
        (f"cred show {acct} --reason x --field password", None, {"ACCOUNTCTL_PASSPHRASE": "wrong passphrase entirely"}),
        (f"cred set {acct}", PASSWORD + "\n", {"ACCOUNTCTL_PASSPHRASE": "wrong passphrase entirely"}),
        (f"otp {acct}", None, {"ACCOUNTCTL_PASSPHRASE": "wrong passphrase entirely"}),
        ("log", None, {"ACCOUNTCTL_PASSPHRASE": "wrong passphrase entirely"}),
        (f"cred show {acct} --reason ''", None, None),
        (f"cred show {acct} --reason x --field nonsense", None, None),
        (f"--as nobody@oak.sch.uk cred show {acct} --reason x", None, None),
    ]
    before = register_path.read_bytes()
    for args, stdin, env in failing:
        result = run(args, input=stdin, env=env)
        expected = 3 if env or args.startswith("--as nobody") else 2
        assert result.exit_code == expected, (args, result.exit_code, result.stdout, result.stderr)
        assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, (args, result.stderr)
        assert result.stdout == "", (args, result.stdout)
        _assert_clean(args, result)
    assert register_path.read_bytes() == before

    # at rest: the register and its previous generation hold no secret in the clear
    bak = register_path.with_name(register_path.name + ".bak")
    assert bak.exists()
    for path in (register_path, bak):
        raw = path.read_bytes()
        for secret in _forbidden():
            assert secret.encode() not in raw, (path, secret)
        assert base64.b32decode(SEED + "=" * (-len(SEED) % 8)) not in raw
    for extra in register_path.parent.iterdir():
        if extra.is_file():
            assert PASSWORD.encode() not in extra.read_bytes(), extra


def test_cred_show_reveals_and_records_reason_not_value(run, secrets_set):
    acct = secrets_set
    full = show(run, acct)
    assert PASSWORD in full and SEED in full and all(code in full for code in RECOVERY)
    assert "office@oak.sch.uk" in full
    as_json = json.loads(show(run, acct, extra="--json"))
    assert as_json["password"] == PASSWORD and as_json["recovery"] == RECOVERY
    assert vault.parse_totp(as_json["totp"]).secret == SEED
    assert show(run, acct, "password") == PASSWORD + "\n"
    assert show(run, acct, "username") == "office@oak.sch.uk\n"
    assert show(run, acct, "recovery") == "\n".join(RECOVERY) + "\n"
    seed = vault.parse_totp(show(run, acct, "totp").strip())
    assert (seed.secret, seed.digits, seed.period, seed.algorithm, seed.issuer) == (SEED, 8, 60, "SHA256", "Facebook")

    reason = "Handover to new owner ticket-4821"
    result = ok(run(["cred", "show", acct, "--field", "password", "--reason", reason]))
    assert result.stdout == PASSWORD + "\n"
    assert PASSWORD not in result.stderr
    log = events(run, acct)
    reveals = [e for e in log if e["action"] == "cred.show"]
    assert len(reveals) == 7  # every successful show above, and only those
    text = json.dumps(log)
    assert reason in text
    for secret in _forbidden():
        assert secret not in text


def test_cred_show_requires_reason(run, secrets_set):
    result = run(f"cred show {secrets_set} --field password")
    assert result.exit_code == 2 and result.stdout == ""
    result = run(f'cred show {secrets_set} --field password --reason "  "')
    assert result.exit_code == 2 and result.stdout == ""
    assert not [e for e in events(run, secrets_set) if e["action"] == "cred.show"]


def test_show_field_not_held_is_refused(run, acct):
    ok(run(f"cred set {acct}", input=PASSWORD + "\n"))
    for field in ("totp", "recovery", "username"):
        result = run(f'cred show {acct} --field {field} --reason "x"')
        assert result.exit_code == 2 and result.stdout == "", field


# -- custodian only -----------------------------------------------------------------------------
def test_slt_and_no_slot_users_get_exit_3_from_every_cred_command(run, secrets_set, register_path, monkeypatch):
    acct = secrets_set
    ok(run(f"person grant {HEAD} --access register"))
    monkeypatch.setenv("ACCOUNTCTL_USER", CUSTODIAN)
    before = register_path.read_bytes()
    commands = [
        (f"cred set {acct}", "Slt-tried-a-password-1!\n"),
        (f"cred set {acct} --username x@oak.sch.uk", "Slt-tried-a-password-1!\n"),
        (f"cred generate {acct}", None),
        (f"cred generate {acct} --length 30", None),
        (f"cred totp {acct}", SEED + "\n"),
        (f"cred recovery {acct}", "a-code\n"),
        (f'cred show {acct} --reason "curious"', None),
        (f'cred show {acct} --reason "curious" --field password', None),
        (f'cred show {acct} --reason "curious" --json', None),
        (f"cred history {acct}", None),
        (f"otp {acct}", None),
    ]
    for who in (HEAD, "t.one@oak.sch.uk"):
        for args, stdin in commands:
            result = run(f"--as {who} {args}", input=stdin)
            assert result.exit_code == 3, (who, args, result.exit_code, result.stderr)
            assert result.stdout == "", (who, args)
            _assert_clean(args, result)
    assert register_path.read_bytes() == before
    # the SLT member can still open the register for what they are allowed to do
    ok(run(f"--as {HEAD} account show {acct}"))
    # and nothing the SLT member tried was stored
    assert show(run, acct, "password") == PASSWORD + "\n"


def test_slt_slot_does_not_unwrap_the_vault_key(run, secrets_set, register_path, monkeypatch):
    ok(run(f"person grant {HEAD} --access register"))
    with open_reg(register_path, actor=HEAD) as reg:
        assert reg.keys.vault_key is None and not reg.is_custodian
        blob = reg.db.execute("SELECT password FROM credentials").fetchone()[0]
        with pytest.raises(Exception) as info:
            reg.decrypt_field("credentials", secrets_set, "password", blob)
        assert getattr(info.value, "exit_code", None) == 3


def _second_custodian(run):
    ok(run(f"staff add {IT2} --name 'Ivo Two' --school oak --role it"))
    ok(run(f"person grant {IT2} --access vault"))


def test_revoked_custodian_gets_exit_3(run, secrets_set, monkeypatch):
    acct = secrets_set
    _second_custodian(run)
    ok(run(f"--as {IT2} cred show {acct} --reason x --field password"))  # works while granted
    ok(run(f"--as {CUSTODIAN} person revoke {IT2}"))
    for args, stdin in [
        (f"cred set {acct}", "Another-one-123456!\n"),
        (f"cred generate {acct}", None),
        (f"cred totp {acct}", SEED + "\n"),
        (f"cred recovery {acct}", "c\n"),
        (f"cred show {acct} --reason x", None),
        (f"cred history {acct}", None),
        (f"otp {acct}", None),
    ]:
        result = run(f"--as {IT2} {args}", input=stdin)
        assert result.exit_code == 3, (args, result.exit_code, result.stderr)
        assert result.stdout == ""
        _assert_clean(args, result)


def _blobs(path, actor):
    out = {}
    with open_reg(path, actor=actor) as reg:
        for table, (key_col, columns) in store.ENCRYPTED_COLUMNS.items():
            for row in reg.db.execute(f"SELECT {key_col}, {', '.join(columns)} FROM {table}"):
                for col in columns:
                    if row[col] is not None:
                        out[(table, str(row[key_col]), col)] = bytes(row[col])
        return out, reg.keys.vault_key


def test_custodian_revoke_reencrypts_every_secret(run, secrets_set, register_path, tmp_path, monkeypatch):
    acct = secrets_set
    ok(run(f"cred set {acct}", input="Second-password-for-history-77!\n"))
    _second_custodian(run)
    monkeypatch.setenv("ACCOUNTCTL_USER", CUSTODIAN)
    before_copy = tmp_path / "before-revoke.accountctl"
    shutil.copyfile(register_path, before_copy)
    old_blobs, old_key = _blobs(before_copy, CUSTODIAN)
    assert {k[0] for k in old_blobs} == {"credentials", "password_history"}
    assert len(old_blobs) == 5  # username, password, totp, recovery, one earlier password

    result = ok(run(f"person revoke {IT2}"))
    assert "vault key" in result.stderr

    # still readable by the remaining custodian
    assert show(run, acct, "password") == "Second-password-for-history-77!\n"
    assert show(run, acct, "recovery") == "\n".join(RECOVERY) + "\n"
    assert vault.parse_totp(show(run, acct, "totp").strip()).secret == SEED
    assert show(run, acct, "username") == "office@oak.sch.uk\n"
    assert len(json.loads(ok(run(f"cred history {acct} --json")).stdout)) == 2

    new_blobs, new_key = _blobs(register_path, CUSTODIAN)
    assert new_key != old_key
    assert set(new_blobs) == set(old_blobs)
    # The old copy opens on another machine (this one has seen newer and refuses it as a rollback).
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "elsewhere"))
    with open_reg(before_copy, actor=CUSTODIAN) as old_reg, open_reg(register_path, actor=CUSTODIAN) as new_reg:
        assert old_reg.keys.vault_key == old_key
        for where, blob in new_blobs.items():
            assert blob != old_blobs[where], where
            # the old key still opens the old blob (so the failure below is about the key) ...
            plain = old_reg.decrypt_field(*where, old_blobs[where])
            # ... but not the new one, which the new key opens to the same value
            with pytest.raises(DamagedError):
                old_reg.decrypt_field(*where, blob)
            with pytest.raises(crypto.CryptoFailure):
                crypto.open_sealed(old_key, blob, store._field_aad(*where))
            assert new_reg.decrypt_field(*where, blob) == plain
        history_id = next(k[1] for k in new_blobs if k[0] == "password_history")
        assert (
            new_reg.decrypt_field(
                "password_history", history_id, "password", new_blobs[("password_history", history_id, "password")]
            )
            == PASSWORD.encode()
        )


def test_register_only_revoke_keeps_vault_key(run, secrets_set, register_path, monkeypatch):
    ok(run(f"person grant {HEAD} --access register"))
    monkeypatch.setenv("ACCOUNTCTL_USER", CUSTODIAN)
    old_blobs, old_key = _blobs(register_path, CUSTODIAN)
    ok(run(f"person revoke {HEAD}"))
    new_blobs, new_key = _blobs(register_path, CUSTODIAN)
    assert new_key == old_key and new_blobs == old_blobs
    assert show(run, secrets_set, "password") == PASSWORD + "\n"


# -- cred set and history -------------------------------------------------------------------------
def test_cred_set_keeps_history_without_values(run, acct, register_path):
    first, second = "First-password-aaaa-111!", "Second-password-bbbb-222!"
    r1 = ok(run(f"cred set {acct} --username office@oak.sch.uk", input=first + "\n"))
    r2 = ok(run(f"cred set {acct}", input=second + "\n"))
    for r in (r1, r2):
        assert r.stdout == ""
        assert first not in r.stderr and second not in r.stderr
    assert show(run, acct, "password") == second + "\n"
    assert show(run, acct, "username") == "office@oak.sch.uk\n"  # kept when --username is not given

    rows = json.loads(ok(run(f"cred history {acct} --json")).stdout)
    assert len(rows) == 2
    assert [r["current"] for r in rows] == [True, False]
    assert all(r["set_by"] == CUSTODIAN and r["set_at"] for r in rows)
    assert rows[1]["replaced_at"]
    for args in (f"cred history {acct}", f"cred history {acct} --json", f"cred history {acct} --format csv"):
        result = ok(run(args))
        assert first not in result.stdout + result.stderr
        assert second not in result.stdout + result.stderr
    table = ok(run(f"cred history {acct}")).stdout
    assert table.count(CUSTODIAN) == 2

    # the earlier password is kept, encrypted
    with open_reg(register_path) as reg:
        hist = reg.db.execute("SELECT id, password FROM password_history WHERE account = ?", (acct,)).fetchall()
        assert len(hist) == 1
        assert first.encode() not in hist[0]["password"]
        assert (
            reg.decrypt_field("password_history", str(hist[0]["id"]), "password", hist[0]["password"]) == first.encode()
        )

    # the events say a password was set, never which
    log = json.dumps(events(run, acct))
    assert log.count("cred.set") == 2
    assert first not in log and second not in log


def test_setting_current_password_again_is_refused(run, acct, register_path):
    ok(run(f"cred set {acct}", input=PASSWORD + "\n"))
    before = register_path.read_bytes()
    result = run(f"cred set {acct}", input=PASSWORD + "\n")
    assert result.exit_code == 2
    assert PASSWORD not in result.stdout + result.stderr
    assert register_path.read_bytes() == before
    assert len(json.loads(ok(run(f"cred history {acct} --json")).stdout)) == 1


@pytest.mark.parametrize("stdin", ["", "\n", "line one\nline two\n", "x" * 1025 + "\n"])
def test_bad_password_input_is_refused(run, acct, register_path, stdin):
    before = register_path.read_bytes()
    result = run(f"cred set {acct}", input=stdin)
    assert result.exit_code == 2, result.stderr
    assert register_path.read_bytes() == before


def test_password_is_never_an_argument(run, acct):
    result = run(["cred", "set", acct, "--password", PASSWORD])
    assert result.exit_code == 2
    result = run(["cred", "set", acct, PASSWORD])
    assert result.exit_code == 2
    assert PASSWORD not in json.dumps(events(run, acct))
    assert ok(run(f"cred history {acct} --json")).stdout.strip() == "[]"


def test_cred_set_unknown_account(run, oak):
    result = run("cred set nope-account", input=PASSWORD + "\n")
    assert result.exit_code == 2 and PASSWORD not in result.stderr


def test_password_with_spaces_and_unicode_round_trips(run, acct):
    pw = "  naïve café — ünïcödé pass  "
    ok(run(f"cred set {acct}", input=pw + "\r\n"))
    assert show(run, acct, "password") == pw + "\n"


# -- prompt asked twice -----------------------------------------------------------------------
@pytest.fixture
def terminal(monkeypatch):
    import accountctl.cli.common
    import accountctl.cli.creds

    monkeypatch.setattr(accountctl.cli.common, "interactive", lambda: True)
    monkeypatch.setattr(accountctl.cli.creds, "interactive", lambda: True)


def test_prompt_twice_mismatch_stores_nothing(run, acct, register_path, terminal):
    before = register_path.read_bytes()
    result = run(f"cred set {acct}", input="Typed-once-AAAA-1111!\nTyped-twice-BBBB-2222!\n")
    assert result.exit_code == 2, result.stderr
    assert "match" in result.stderr
    assert register_path.read_bytes() == before
    assert "Typed-once" not in result.stdout + result.stderr and "Typed-twice" not in result.stdout + result.stderr
    result = run(f'cred show {acct} --field password --reason "x"')
    assert result.exit_code == 2 and result.stdout == ""


def test_prompt_twice_match_stores_and_hides(run, acct, terminal):
    pw = "Typed-both-times-CCCC-3333!"
    result = ok(run(f"cred set {acct}", input=f"{pw}\n{pw}\n"))
    assert pw not in result.stdout + result.stderr  # hidden input is not echoed
    assert "Repeat" in result.stderr
    assert show(run, acct, "password") == pw + "\n"


def test_prompted_recovery_codes(run, acct, terminal):
    ok(run(f"cred recovery {acct}", input="\n".join(RECOVERY) + "\n\n"))
    assert show(run, acct, "recovery") == "\n".join(RECOVERY) + "\n"


# -- cred generate ---------------------------------------------------------------------------
def test_generate_default_length_alone_on_stdout_and_stored(run, acct):
    result = ok(run(f"cred generate {acct}"))
    pw = result.stdout[:-1]
    assert result.stdout == pw + "\n" and "\n" not in pw
    assert len(pw) == vault.GENERATE_DEFAULT == 24
    assert pw not in result.stderr
    assert show(run, acct, "password") == pw + "\n"
    assert quality.weakness(pw) is None
    log = events(run, acct)
    gen = [e for e in log if e["action"] == "cred.set"]
    assert len(gen) == 1 and pw not in json.dumps(log)


@pytest.mark.parametrize("length", [12, 128])
def test_generate_bounds_ok(run, acct, length):
    result = ok(run(f"cred generate {acct} --length {length}"))
    pw = result.stdout.rstrip("\n")
    assert result.stdout == pw + "\n" and len(pw) == length
    assert show(run, acct, "password") == pw + "\n"


@pytest.mark.parametrize("length", [11, 129, 0, -5])
def test_generate_out_of_bounds_refused(run, acct, register_path, length):
    before = register_path.read_bytes()
    result = run(f"cred generate {acct} --length {length}")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert register_path.read_bytes() == before


def test_generate_twice_keeps_history_and_differs(run, acct):
    a = ok(run(f"cred generate {acct}")).stdout
    b = ok(run(f"cred generate {acct}")).stdout
    assert a != b
    assert len(json.loads(ok(run(f"cred history {acct} --json")).stdout)) == 2


def test_generate_password_character_classes():
    import string

    seen = set()
    for _ in range(50):
        pw = vault.generate_password()
        assert len(pw) == 24
        assert any(c.islower() for c in pw) and any(c.isupper() for c in pw) and any(c.isdigit() for c in pw)
        assert any(c in vault._SYMBOLS for c in pw)
        assert all(c in string.ascii_letters + string.digits + vault._SYMBOLS for c in pw)
        seen.add(pw)
    assert len(seen) == 50


# -- recovery codes ---------------------------------------------------------------------------
def test_recovery_codes_from_stdin(run, acct):
    result = ok(run(f"cred recovery {acct}", input="  code-one  \n\ncode-two\r\ncode-three\n"))
    assert "3" in result.stderr and result.stdout == ""
    assert show(run, acct, "recovery") == "code-one\ncode-two\ncode-three\n"
    assert "code-one" not in json.dumps(events(run, acct))


def test_recovery_codes_empty_refused(run, acct, register_path):
    before = register_path.read_bytes()
    result = run(f"cred recovery {acct}", input="\n \n")
    assert result.exit_code == 2
    assert register_path.read_bytes() == before


# -- password quality ----------------------------------------------------------------------------
def test_weakness_flags_weak_and_short_passwords():
    assert quality.weakness("password123") is not None
    assert quality.weakness("password1234") is not None  # long enough, still guessable
    assert "strength" in quality.weakness("password1234")
    assert quality.weakness("Ab1!") is not None
    assert "shorter" in quality.weakness("Xy7#qL")
    assert quality.weakness("oakprimary2024", context=["oakprimary"]) is not None


def test_weakness_passes_strong_passwords():
    assert quality.weakness(vault.generate_password()) is None
    assert quality.weakness(vault.generate_password(12)) is None
    assert quality.weakness(PASSWORD) is None


def test_reused_groups_accounts_sharing_a_password():
    assert quality.reused({"a": "Same-pass-1!", "b": "Same-pass-1!", "c": "Other-pass-2!"}) == {"a": ["b"], "b": ["a"]}
    assert quality.reused({"a": "x1", "b": "x1", "c": "x1", "d": "y"}) == {
        "a": ["b", "c"],
        "b": ["a", "c"],
        "c": ["a", "b"],
    }
    assert quality.reused({"a": "p1", "b": "p2"}) == {}
    assert quality.reused({}) == {}
    assert quality.reused({"a": "Case", "b": "case"}) == {}


def test_stored_passwords_feed_quality(run, oak, register_path):
    a, b, c = new_account(run, "alpha"), new_account(run, "bravo"), new_account(run, "charlie")
    ok(run(f"cred set {a}", input="Shared-Secret-Pass-55!\n"))
    ok(run(f"cred set {b}", input="Shared-Secret-Pass-55!\n"))
    ok(run(f"cred set {c}", input="password1234\n"))
    with open_reg(register_path) as reg:
        pws = {
            row["account"]: reg.decrypt_field("credentials", row["account"], "password", row["password"]).decode()
            for row in reg.db.execute("SELECT account, password FROM credentials")
        }
    assert pws == {a: "Shared-Secret-Pass-55!", b: "Shared-Secret-Pass-55!", c: "password1234"}
    assert quality.reused(pws) == {a: [b], b: [a]}
    assert quality.weakness(pws[c]) is not None
    assert quality.weakness(pws[a]) is None


def test_weakness_accepts_long_passwords():
    """zxcvbn itself refuses more than 72 characters; weakness must still answer."""
    assert quality.weakness(vault.generate_password(128)) is None
    assert quality.weakness("a" * 200) is not None


@pytest.mark.parametrize("length", [73, 200, 1024])
def test_cred_set_long_password(run, acct, length):
    pw = (vault.generate_password(128) * 9)[:length]
    ok(run(f"cred set {acct}", input=pw + "\n"))
    assert show(run, acct, "password") == pw + "\n"


def _rfc6238(seed_base32: str, counter: int) -> str:
    """A 6-digit SHA-1 TOTP code, by the RFC's own steps (an independent check of the product)."""
    import hmac
    import struct

    digest = hmac.new(base64.b32decode(seed_base32), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return str((struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 10**6).zfill(6)


def test_an_80_bit_seed_a_platform_issued_still_gives_codes(run, oak):
    """pyotp refuses seeds under 112 bits; platforms still issue 80-bit ones, and IT must hold them."""
    result = ok(
        run(
            f"--as {CUSTODIAN} account request --school oak --platform facebook --handle seed80 "
            "--url https://facebook.com/seed80 --category faculty --email office@oak.sch.uk "
            "--owner t.one@oak.sch.uk --admin t.two@oak.sch.uk --aim a --audience b --promotion c "
            "--visibility open --pupils none"
        )
    )
    account = result.stdout.strip()
    ok(run(f"cred totp {account}", input="JBSWY3DPEHPK3PXP\n"))
    before = int(time.time()) // 30
    code = ok(run(f"otp {account}")).stdout.strip()
    after = int(time.time()) // 30
    assert code in {_rfc6238("JBSWY3DPEHPK3PXP", c) for c in (before, after)}
