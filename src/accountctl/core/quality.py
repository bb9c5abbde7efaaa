"""Password quality for the audit: weak (zxcvbn's estimate) and reused across accounts."""

from __future__ import annotations

import hashlib

WEAK_BELOW_SCORE = 3  # zxcvbn scores 0..4; 3 is "safely unguessable: moderate protection from offline attack"
MIN_LENGTH = 12


def weakness(password: str, context: list[str] | None = None) -> str | None:
    """Why a password is weak, or None. `context` are words an attacker would try (handle, school)."""
    if len(password) < MIN_LENGTH:
        return f"shorter than {MIN_LENGTH} characters"
    from zxcvbn import zxcvbn

    result = zxcvbn(password[:100], user_inputs=[c for c in (context or []) if c])
    if result["score"] < WEAK_BELOW_SCORE:
        warning = (result.get("feedback") or {}).get("warning") or "easy to guess"
        return f"strength {result['score']}/4: {warning.rstrip('.')}"
    return None


def reused(passwords: dict[str, str]) -> dict[str, list[str]]:
    """Accounts sharing a password with another account: account id -> the others."""
    groups: dict[str, list[str]] = {}
    for account, password in passwords.items():
        groups.setdefault(hashlib.sha256(password.encode("utf-8")).hexdigest(), []).append(account)
    out = {}
    for members in groups.values():
        if len(members) > 1:
            for account in members:
                out[account] = sorted(m for m in members if m != account)
    return out
