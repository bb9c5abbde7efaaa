"""Attacks by someone who holds a key slot, beyond what a stolen file allows."""

from __future__ import annotations

from conftest import CUSTODIAN, HEAD, PASSPHRASE, ok

from accountctl import crypto
from accountctl.store import fileformat as ff
from accountctl.store.register import open_register


def _forge_vault_slot(path, as_email):
    """As a register-only holder, add a custodian-looking slot whose keys the attacker holds."""
    with open_register(path, actor=as_email, passphrase_source=lambda: PASSPHRASE, write=True) as reg:
        assert not reg.is_custodian
        x_private, x_public = crypto.x25519_keypair()
        kek = crypto.random_bytes(32)
        slot_id = crypto.random_bytes(16)
        forged = ff.Slot(
            slot_id,
            ff.KIND_PERSON,
            ff.ACCESS_VAULT,
            ff.person_tag(reg.file_id, "mallory@oak.sch.uk"),
            ff.KDF_ARGON2ID,
            crypto.random_bytes(16),
            ff.KDF_FLOOR,
            x_public,
            crypto.seal(kek, x_private + bytes(32), ff.LABEL_SLOT_KEYS + ff.slot_aad(reg.file_id, slot_id)),
            crypto.random_bytes(ff.SEALED_KEY_LEN),
            crypto.random_bytes(ff.SEALED_KEY_LEN),
        )
        reg.header.slots.append(forged)
        reg.header_changed = True
    return x_private


def test_a_register_only_holder_cannot_plant_a_custodian_slot(run, oak):
    ok(run(f"person grant {HEAD} --access register"))
    x_private = _forge_vault_slot(oak, HEAD)
    forged_file = oak.read_bytes()
    # The custodian's next command sees the altered slot list and refuses before sealing anything.
    result = run(f"--as {CUSTODIAN} person revoke {HEAD}")
    assert result.exit_code == 4, result.stderr
    assert "has no grant" in result.stderr
    assert oak.read_bytes() == forged_file
    # And no vault key was ever sealed to the attacker's public key.
    header, _ = ff.parse_header(oak.read_bytes())
    forged = [s for s in header.slots if s.public == crypto.x25519_public_of(x_private)][0]
    try:
        crypto.open_sealed_to(
            x_private, forged.sealed_vault, ff.LABEL_VAULT_KEY, ff.slot_aad(header.file_id, forged.slot_id)
        )
        opened = True
    except crypto.CryptoFailure:
        opened = False
    assert not opened


def test_a_register_only_holder_can_still_write_without_breaking_custodian_access(run, oak):
    ok(run(f"person grant {HEAD} --access register"))
    ok(run(f"--as {HEAD} staff list"))
    with open_register(oak, actor=HEAD, passphrase_source=lambda: PASSPHRASE, write=True) as reg:
        reg.db.execute("UPDATE meta SET value = value WHERE key = 'trust'")
        reg.header_changed = True  # an SLT-side save rewrites the header without the vault key
    ok(run(f"--as {CUSTODIAN} person list"))


def _request(run, requested_by=CUSTODIAN):
    result = ok(
        run(
            f"--as {CUSTODIAN} account request --school oak --platform facebook --handle oakprimary "
            "--url https://facebook.com/oakprimary --category faculty --email office@oak.sch.uk "
            "--owner t.one@oak.sch.uk --admin t.two@oak.sch.uk --aim News --audience Parents "
            "--promotion Newsletter --visibility open --pupils none"
        )
    )
    return result.stdout.strip()


def test_the_real_approvers_own_decisions_pass_their_verify(run, oak):
    ok(run(f"person grant {HEAD} --access register"))
    account_id = _request(run)
    ok(run(f"--as {HEAD} approve {account_id}"))
    ok(run(f"--as {HEAD} verify"))
