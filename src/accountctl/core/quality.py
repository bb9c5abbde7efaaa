"""Password and passphrase quality by zxcvbn's estimate. A stored password is judged once, when it is
stored (reuse is found by keyed fingerprints, see store.register.Register.fingerprint); a new
passphrase for a key slot is judged before it is used."""

from __future__ import annotations

WEAK_BELOW_SCORE = 3  # zxcvbn scores 0..4; 3 is "safely unguessable: moderate protection from offline attack"
MIN_LENGTH = 12
ZXCVBN_MAX = 72  # zxcvbn refuses longer input (ValueError): judge the first 72 characters


def assess(secret: str, context: list[str] | None = None, min_length: int = MIN_LENGTH) -> tuple[str | None, list[str]]:
    """(Why `secret` is weak, or None; zxcvbn's advice). `context`: words an attacker would try first."""
    if not secret:
        return "empty", []
    from zxcvbn import zxcvbn

    result = zxcvbn(secret[:ZXCVBN_MAX], user_inputs=[c for c in (context or []) if c])
    feedback = result.get("feedback") or {}
    warning = (feedback.get("warning") or "").rstrip(".")
    suggestions = list(feedback.get("suggestions") or [])
    if len(secret) < min_length:
        return (
            f"shorter than {min_length} characters",
            ([warning + "."] if warning else []) + [f"Use at least {min_length} characters."] + suggestions,
        )
    if result["score"] >= WEAK_BELOW_SCORE:
        return None, []
    return f"strength {result['score']}/4: {warning or 'easy to guess'}", suggestions


def weakness(password: str, context: list[str] | None = None) -> str | None:
    """Why a password is weak, or None. `context` are words an attacker would try (handle, school)."""
    return assess(password, context)[0]


def passphrase_problem(passphrase: str, context: list[str] | None = None) -> str | None:
    """Why a new key-slot passphrase is refused (zxcvbn score below 3), with zxcvbn's advice; or None."""
    why, suggestions = assess(passphrase, context, min_length=1)
    if why is None:
        return None
    advice = " ".join(suggestions) or "Use a few uncommon words."
    return f"it is too easy to guess ({why}). {advice}"


def reused(values: dict[str, str]) -> dict[str, list[str]]:
    """Accounts whose password (or its fingerprint) equals another's: account id -> the others."""
    groups: dict[str, list[str]] = {}
    for account, value in values.items():
        groups.setdefault(value, []).append(account)
    out = {}
    for members in groups.values():
        if len(members) > 1:
            ordered = sorted(members)  # once a group, not once a member: a password shared by dozens
            for account in members:
                out[account] = [m for m in ordered if m != account]
    return out
