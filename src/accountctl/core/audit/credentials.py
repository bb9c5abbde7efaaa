"""Rules about what IT holds in the vault for each account: its password and 2FA seed, and (for a
custodian, who can read them) whether a password is weak or shared with another account.
"""

from __future__ import annotations

from accountctl.core import quality
from accountctl.core.audit.helpers import _active, _live, _login, _some
from accountctl.core.audit.registry import rule
from accountctl.core.audit.snapshot import Snapshot


@rule(
    "CREDENTIALS_NOT_HELD",
    "error",
    "active, its access model is `login`, and IT holds no password",
    "Huxley 6.3(c): 'password or login details ... must be provided to IT who will retain a record'",
    name="IT holds the password",
    principle="IT keeps a secure record of every live account's password, so the school never depends on one "
    "person to get in.",
)
def credentials_not_held(snap: Snapshot):
    for a in _active(snap):
        if not _login(a):
            continue  # a page run through people's own profiles has no password to hold
        if not snap.credentials.get(a["id"], {}).get("password"):
            yield a["id"], a["school"], "IT holds no password for it", f"accountctl cred set {a['id']}"


@rule(
    "MFA_NOT_HELD",
    "warning",
    "active, its access model is `login`, and IT cannot produce its 2FA code (it holds no authenticator seed)",
    "Preston (roles): administrators 'store account details, including passwords securely'; Huxley 6.3(c): "
    "login details 'provided to IT'",
    name="IT can produce the 2FA code",
    principle="Every live account has two-factor sign-in (2FA), and IT can produce its 2FA code, so getting in never "
    "depends on one person's phone.",
)
def mfa_not_held(snap: Snapshot):
    for a in _active(snap):
        if not _login(a):
            continue  # each admin's own profile carries its 2FA: MFA_WEAK reads what the attestation shows
        if not snap.credentials.get(a["id"], {}).get("totp"):
            yield (
                a["id"],
                a["school"],
                "IT cannot produce its 2FA code (no authenticator seed held)",
                f"enable 2FA on the platform, then: accountctl cred totp {a['id']}",
            )


@rule(
    "PASSWORD_WEAK",
    "warning",
    "weak password (needs vault access; skipped otherwise)",
    "Preston (roles): administrators 'store account details, including passwords securely'; Huxley 5.5: 'use "
    "strong passwords'",
    needs_vault=True,
    name="Strong passwords",
    principle="Every account has a strong password that nobody could guess.",
)
def password_weak(snap: Snapshot):
    for a in _live(snap):
        cred = snap.credentials.get(a["id"])
        if cred and cred["password"] and cred["password_weak"]:
            yield (
                a["id"],
                a["school"],
                f"weak password: {cred['password_weak']}",
                f"change it on the platform to a generated one: accountctl cred generate {a['id']}",
            )


@rule(
    "PASSWORD_REUSED",
    "warning",
    "same password on two accounts (needs vault access; skipped otherwise)",
    "Huxley 5.5: 'never use the same password for multiple sites'; Preston (roles): administrators 'store account "
    "details, including passwords securely'",
    needs_vault=True,
    name="One password per account",
    principle="No two accounts share a password, so one leaked password opens only one account.",
)
def password_reused(snap: Snapshot):
    ids = {a["id"]: a for a in _live(snap)}
    # snap.credentials covers every live account (any school), so reuse across schools is found under --school too
    shared = quality.reused(
        {k: c["password_fp"] for k, c in snap.credentials.items() if c["password"] and c["password_fp"]}
    )
    for account_id, others in shared.items():
        if account_id not in ids:
            continue
        a = ids[account_id]
        yield (
            a["id"],
            a["school"],
            f"same password as {_some(others)}",
            f"give each account its own password: accountctl cred generate {a['id']}",
        )
