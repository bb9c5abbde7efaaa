"""Password quality: weak by zxcvbn's estimate, judged once when a password is stored (reuse is found
by keyed fingerprints, see store.register.Register.fingerprint)."""

from __future__ import annotations

WEAK_BELOW_SCORE = 3  # zxcvbn scores 0..4; 3 is "safely unguessable: moderate protection from offline attack"
MIN_LENGTH = 12


def weakness(password: str, context: list[str] | None = None) -> str | None:
    """Why a password is weak, or None. `context` are words an attacker would try (handle, school)."""
    if len(password) < MIN_LENGTH:
        return f"shorter than {MIN_LENGTH} characters"
    from zxcvbn import zxcvbn

    # zxcvbn refuses input longer than 72 characters (ValueError); judge the first 72.
    result = zxcvbn(password[:72], user_inputs=[c for c in (context or []) if c])
    if result["score"] < WEAK_BELOW_SCORE:
        warning = (result.get("feedback") or {}).get("warning") or "easy to guess"
        return f"strength {result['score']}/4: {warning.rstrip('.')}"
    return None


def reused(values: dict[str, str]) -> dict[str, list[str]]:
    """Accounts whose password (or its fingerprint) equals another's: account id -> the others."""
    groups: dict[str, list[str]] = {}
    for account, value in values.items():
        groups.setdefault(value, []).append(account)
    out = {}
    for members in groups.values():
        if len(members) > 1:
            for account in members:
                out[account] = sorted(m for m in members if m != account)
    return out
