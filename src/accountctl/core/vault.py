"""IT-held credentials: passwords (with history), TOTP seeds, recovery codes. Secrets are encrypted
under the vault key field by field (see store.register.Register.encrypt_field); only custodians hold it.

Nothing here prints or records a secret: events carry which field changed or was revealed, and why.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import string
from dataclasses import asdict, dataclass

from accountctl import clock, model
from accountctl.core import events
from accountctl.core.lookup import get_account
from accountctl.errors import AccessError, InputError

FIELDS = ("username", "password", "totp", "recovery")
GENERATE_DEFAULT = 24
GENERATE_MIN, GENERATE_MAX = 12, 128
_SYMBOLS = "!#$%&()*+,-./:;<=>?@[]^_{}~"
TOTP_ALGORITHMS = ("SHA1", "SHA256", "SHA512")


def require_vault(reg, doing: str = "use credentials") -> None:
    """Only a custodian slot unwraps the vault key."""
    if not reg.is_custodian:
        raise AccessError(f"only an IT custodian can {doing}")


def _held_for(reg, account_id: str) -> dict:
    """The account whose credentials are asked for, unless it is gone: they were destroyed with it."""
    account = get_account(reg.db, account_id)
    if account["status"] == "gone":
        raise InputError(
            f"{account['id']} is gone from {account['platform']} (since {account['gone_on']}): "
            "its credentials were destroyed"
        )
    return account


def _row(reg, account_id: str):
    return reg.db.execute("SELECT * FROM credentials WHERE account = ?", (account_id,)).fetchone()


def _ensure_row(reg, account_id: str) -> None:
    reg.db.execute("INSERT OR IGNORE INTO credentials(account) VALUES (?)", (account_id,))


def _decrypt(reg, account_id: str, column: str, blob: bytes | None) -> bytes | None:
    return None if blob is None else reg.decrypt_field("credentials", account_id, column, blob)


def _store(reg, account_id: str, column: str, value: bytes) -> str:
    now = clock.now_iso()
    _ensure_row(reg, account_id)
    reg.db.execute(
        f"UPDATE credentials SET {column} = ?, {column}_set_at = ?, {column}_set_by = ? WHERE account = ?",
        (reg.encrypt_field("credentials", account_id, column, value), now, reg.actor, account_id),
    )
    return now


# -- passwords ------------------------------------------------------------------------------------
def set_password(reg, account_id: str, password: str, username: str | None = None, *, generated: bool = False) -> dict:
    """Store a new password (keeping the old one, encrypted, in the history)."""
    require_vault(reg, "set passwords")
    account = _held_for(reg, account_id)
    if not password:
        raise InputError("the password is empty")
    if len(password) > 1024:
        raise InputError("the password is longer than 1024 characters")
    if any(ch in password for ch in "\r\n\0"):
        raise InputError("the password contains a line break or NUL")
    row = _row(reg, account["id"])
    if row is not None and row["password"] is not None:
        old = _decrypt(reg, account["id"], "password", row["password"])
        if old == password.encode("utf-8"):
            raise InputError("that is already the current password; a rotation needs a new one")
        cur = reg.db.execute(
            "INSERT INTO password_history(id, account, password, set_at, set_by, replaced_at, password_fp) "
            "VALUES (?, ?, x'', ?, ?, ?, ?)",
            (
                model.new_id(reg.db, "password_history", account["school"]),
                account["id"],
                row["password_set_at"],
                row["password_set_by"],
                clock.now_iso(),
                reg.fingerprint(old),
            ),
        )
        history_id = cur.lastrowid
        reg.db.execute(
            "UPDATE password_history SET password = ? WHERE id = ?",
            (reg.encrypt_field("password_history", str(history_id), "password", old), history_id),
        )
    at = _store(reg, account["id"], "password", password.encode("utf-8"))
    from accountctl.core import quality

    weak, suggestions = quality.assess(password, [account["handle"], account["school"], account["platform"]])
    reg.db.execute(
        "UPDATE credentials SET password_weak = ?, password_fp = ? WHERE account = ?",
        (weak, reg.fingerprint(password.encode("utf-8")), account["id"]),
    )
    details = {"field": "password", "generated": generated}
    if username is not None:
        name = model.nonempty(username, "username", 320)
        _store(reg, account["id"], "username", name.encode("utf-8"))
        details["username_changed"] = True
    events.record(reg.db, reg.actor, "cred.set", account["id"], account=account["id"], details=details)
    from accountctl.core import incidents, secured

    # A hijacked account is only secured by a strong password used nowhere else, and not one it had
    # before the hijack (issue 25).
    also_on = secured.reused_on(reg.db, account["id"], reg.fingerprint(password.encode("utf-8")))
    blocked = (
        f"the new password is weak ({weak})"
        if weak
        else f"the new password is also used on {', '.join(also_on)}"
        if also_on
        else "the new password is one this account had before"
        if _had_before(reg, account["id"], password.encode("utf-8"))
        else None
    )
    ticked, held = incidents.credential_changed(reg.db, reg.actor, account["id"], "password", blocked)
    return {
        "account": account["id"],
        "set_at": at,
        "weak": weak,
        "suggestions": suggestions,
        "incidents": ticked,
        "incidents_held": held,
        "held_because": blocked,
    }


def _had_before(reg, account_id: str, password: bytes) -> bool:
    """Whether this account's password history holds `password` (decrypted: rows older than their
    fingerprints have none)."""
    rows = reg.db.execute("SELECT id, password FROM password_history WHERE account = ?", (account_id,)).fetchall()
    return any(
        row["password"]
        and reg.decrypt_field("password_history", str(row["id"]), "password", row["password"]) == password
        for row in rows
    )


def generate_password(length: int = GENERATE_DEFAULT, symbols: bool = True) -> str:
    """A strong random password with letters, digits and symbols (from `secrets`).

    `symbols=False` for a platform that refuses some (`]~^<`): letters and digits only, which at the
    default 24 characters is still about 143 bits.
    """
    if not GENERATE_MIN <= length <= GENERATE_MAX:
        raise InputError(f"--length must be between {GENERATE_MIN} and {GENERATE_MAX}")
    alphabet = string.ascii_letters + string.digits + (_SYMBOLS if symbols else "")
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        if (
            any(c.islower() for c in candidate)
            and any(c.isupper() for c in candidate)
            and any(c.isdigit() for c in candidate)
            and (not symbols or any(c in _SYMBOLS for c in candidate))
        ):
            return candidate


def password_history(reg, account_id: str) -> list[dict]:
    """When each password was set and by whom, newest first; never the values."""
    require_vault(reg, "read credential history")
    account = get_account(reg.db, account_id)
    out = []
    row = _row(reg, account["id"])
    if row is not None and row["password"] is not None:
        out.append(
            {"set_at": row["password_set_at"], "set_by": row["password_set_by"], "replaced_at": None, "current": True}
        )
    for h in reg.db.execute(
        "SELECT set_at, set_by, replaced_at FROM password_history WHERE account = ? ORDER BY id DESC", (account["id"],)
    ):
        out.append({"set_at": h["set_at"], "set_by": h["set_by"], "replaced_at": h["replaced_at"], "current": False})
    return out


# -- TOTP -----------------------------------------------------------------------------------------
@dataclass
class Totp:
    """A TOTP seed with the parameters an authenticator needs."""

    secret: str
    digits: int = 6
    period: int = 30
    algorithm: str = "SHA1"
    issuer: str | None = None
    name: str | None = None

    def uri(self) -> str:
        from urllib.parse import quote, urlencode

        label = quote(
            f"{self.issuer}:{self.name}" if self.issuer and self.name else (self.name or self.issuer or "account"),
            safe=":@",
        )
        params = {"secret": self.secret, "digits": self.digits, "period": self.period, "algorithm": self.algorithm}
        if self.issuer:
            params["issuer"] = self.issuer
        return f"otpauth://totp/{label}?{urlencode(params)}"


def _clean_base32(text: str) -> str:
    secret = "".join(text.split()).replace("-", "").upper().rstrip("=")
    if len(secret) < 16:
        raise InputError("a TOTP secret needs at least 16 base32 characters (80 bits)")
    try:
        base64.b32decode(secret + "=" * (-len(secret) % 8))
    except (binascii.Error, ValueError):
        raise InputError("the TOTP secret is not valid base32 (letters A-Z and digits 2-7)") from None
    return secret


def parse_totp(text: str) -> Totp:
    """A base32 secret or an otpauth://totp/ URI (issuer, digits, period and algorithm kept)."""
    from urllib.parse import parse_qs, unquote, urlparse

    raw = (text or "").strip()
    if not raw:
        raise InputError("no TOTP secret given")
    if not raw.lower().startswith("otpauth://"):
        return Totp(_clean_base32(raw))
    parsed = urlparse(raw)
    if parsed.netloc.lower() != "totp":
        raise InputError("only time-based codes are supported (otpauth://totp/...)")
    query = {k.lower(): v[-1] for k, v in parse_qs(parsed.query).items()}
    if "secret" not in query:
        raise InputError("the otpauth URI has no secret")
    label = unquote(parsed.path.lstrip("/"))
    issuer, _, name = label.partition(":") if ":" in label else (None, "", label)
    issuer = query.get("issuer") or issuer or None
    try:
        digits = int(query.get("digits", 6))
        period = int(query.get("period", 30))
    except ValueError:
        raise InputError("the otpauth URI's digits and period must be whole numbers") from None
    if not 6 <= digits <= 10:
        raise InputError("TOTP digits must be between 6 and 10")
    if not 1 <= period <= 300:
        raise InputError("TOTP period must be between 1 and 300 seconds")
    algorithm = query.get("algorithm", "SHA1").upper()
    if algorithm not in TOTP_ALGORITHMS:
        raise InputError(f"TOTP algorithm must be one of {', '.join(TOTP_ALGORITHMS)}")
    return Totp(_clean_base32(query["secret"]), digits, period, algorithm, issuer, name.strip() or None)


def set_totp(reg, account_id: str, text: str) -> dict:
    """Store a TOTP seed for an account."""
    require_vault(reg, "set 2FA seeds")
    account = _held_for(reg, account_id)
    seed = parse_totp(text)
    at = _store(reg, account["id"], "totp", json.dumps(asdict(seed)).encode("utf-8"))
    events.record(
        reg.db,
        reg.actor,
        "cred.totp",
        account["id"],
        account=account["id"],
        details={"field": "totp", "digits": seed.digits, "period": seed.period, "algorithm": seed.algorithm},
    )
    from accountctl.core import incidents

    ticked, _ = incidents.credential_changed(reg.db, reg.actor, account["id"], "totp")
    return {"account": account["id"], "set_at": at, "incidents": ticked, "seed": seed}


def labelled(seed: Totp, account: dict) -> Totp:
    """The seed as an authenticator app should list it: a bare secret gets the account's handle and platform.

    A platform's own otpauth:// URI keeps its label; a base32 secret pasted alone has none, and an
    app that scanned it would list it as "account".
    """
    if seed.name:
        return seed
    return Totp(
        seed.secret, seed.digits, seed.period, seed.algorithm, seed.issuer or account["platform"], account["handle"]
    )


def totp_code(seed: Totp, at: float | None = None) -> str:
    """The code for `at` (default now), honouring digits, period and algorithm."""
    import hashlib
    import time

    import pyotp

    class IssuedTotp(pyotp.TOTP):
        # pyotp (2.12+) refuses seeds under 112 bits, NIST's floor for *issuing* one. We only compute
        # codes for seeds a platform already issued (some still issue 80 bits), so decode as RFC 4648.
        def byte_secret(self) -> bytes:
            return base64.b32decode(self.secret + "=" * (-len(self.secret) % 8), casefold=True)

    digest = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}[seed.algorithm]
    totp = IssuedTotp(seed.secret, digits=seed.digits, digest=digest, interval=seed.period)
    return totp.at(int(time.time() if at is None else at))


def load_totp(reg, account_id: str) -> Totp:
    """The stored TOTP seed, or InputError when IT holds none."""
    require_vault(reg, "read 2FA seeds")
    account = _held_for(reg, account_id)
    row = _row(reg, account["id"])
    if row is None or row["totp"] is None:
        raise InputError(f"IT holds no 2FA seed for {account['id']} ('accountctl cred totp {account['id']}')")
    return Totp(**json.loads(_decrypt(reg, account["id"], "totp", row["totp"])))


# -- recovery codes -------------------------------------------------------------------------------
def set_recovery(reg, account_id: str, text: str) -> dict:
    """Store recovery codes, one a line."""
    require_vault(reg, "set recovery codes")
    account = _held_for(reg, account_id)
    codes = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if not codes:
        raise InputError("no recovery codes given (one a line on stdin)")
    if len(codes) > 100 or any(len(c) > 200 for c in codes):
        raise InputError("at most 100 recovery codes of at most 200 characters each")
    at = _store(reg, account["id"], "recovery", json.dumps(codes).encode("utf-8"))
    events.record(
        reg.db,
        reg.actor,
        "cred.recovery",
        account["id"],
        account=account["id"],
        details={"field": "recovery", "count": len(codes)},
    )
    return {"account": account["id"], "set_at": at, "count": len(codes)}


# -- reveal ---------------------------------------------------------------------------------------
def reveal(reg, account_id: str, reason: str, field: str | None = None) -> dict:
    """Decrypt what IT holds for an account; records the reveal and its reason (never the value)."""
    require_vault(reg, "reveal credentials")
    account = _held_for(reg, account_id)
    why = model.nonempty(reason, "--reason", 500)
    wanted = [field] if field else list(FIELDS)
    row = _row(reg, account["id"])
    values: dict = {"account": account["id"]}
    for name in wanted:
        blob = row[name] if row is not None else None
        plain = _decrypt(reg, account["id"], name, blob)
        if plain is None:
            values[name] = None
        elif name == "totp":
            values[name] = labelled(Totp(**json.loads(plain)), account).uri()
        elif name == "recovery":
            values[name] = json.loads(plain)
        else:
            values[name] = plain.decode("utf-8")
    if field and values[field] is None:
        raise InputError(f"IT holds no {field} for {account['id']}")
    events.record(
        reg.db, reg.actor, "cred.show", account["id"], account=account["id"], details={"fields": wanted, "reason": why}
    )
    reg.events_only = True  # the reveal changes nothing else: its save appends one record (file-format.md §5e)
    return values
