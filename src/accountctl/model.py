"""The spec's vocabulary (roles, platforms, statuses) and the validators every command shares."""

from __future__ import annotations

import re

from accountctl.errors import InputError

ROLES = ("slt", "headteacher", "ceo", "it", "staff", "volunteer")
APPROVER_ROLES = ("slt", "headteacher")
PLATFORMS = ("facebook", "instagram", "x", "youtube", "tiktok", "linkedin", "threads", "bluesky", "whatsapp",
             "snapchat", "pinterest", "flickr", "vimeo", "other")
PLATFORM_ALIASES = {"twitter": "x"}
CATEGORIES = ("faculty", "staff")
VISIBILITIES = ("open", "closed")
ACCOUNT_STATUSES = ("requested", "approved", "rejected", "active", "suspended", "closed")
STAFF_STATUSES = ("active", "left")
ACCESS_LEVELS = ("register", "vault")

# Consumer mail providers: an official account must never hang off one of these.
PERSONAL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "hotmail.com", "hotmail.co.uk", "outlook.com", "live.com", "live.co.uk",
    "msn.com", "yahoo.com", "yahoo.co.uk", "ymail.com", "icloud.com", "me.com", "mac.com", "aol.com",
    "aol.co.uk", "btinternet.com", "sky.com", "virginmedia.com", "talktalk.net", "protonmail.com",
    "proton.me", "gmx.com", "gmx.co.uk", "mail.com", "zoho.com", "yandex.com",
})

_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+)$")
_DOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$")
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


def email(value: str | None, what: str = "email") -> str:
    """A normalised (lower-case) email address, or InputError."""
    text = (value or "").strip()
    if len(text) > 254 or not _EMAIL.match(text) or ".." in text or text.startswith(".") or ".@" in text:
        raise InputError(f"{what} is not a valid email address: {text!r}")
    return text.lower()


def email_domain(address: str) -> str:
    return address.rsplit("@", 1)[1].lower()


def domain(value: str) -> str:
    """A normalised school email domain; personal mail providers are refused."""
    text = (value or "").strip().lower().lstrip("@")
    if not _DOMAIN.match(text) or len(text) > 253:
        raise InputError(f"not a valid email domain: {value!r}")
    if text in PERSONAL_DOMAINS:
        raise InputError(f"{text} is a personal mail provider, not a school domain")
    return text


def slug(value: str, what: str = "id") -> str:
    """A lower-case id of letters, digits and dashes."""
    text = (value or "").strip()
    if not _SLUG.match(text):
        raise InputError(f"{what} must be lower-case letters, digits and dashes (at most 64), not {text!r}")
    return text


def slugify(text: str) -> str:
    """Make a slug out of free text (handles, names)."""
    out = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return out[:64].strip("-") or "x"


def role(value: str) -> str:
    text = (value or "").strip().lower()
    if text not in ROLES:
        raise InputError(f"unknown role {value!r}; roles are {', '.join(ROLES)}")
    return text


def roles(values) -> list[str]:
    """Validated, de-duplicated roles in the spec's order."""
    chosen = {role(v) for v in values}
    return [r for r in ROLES if r in chosen]


def choice(value: str, allowed, what: str) -> str:
    text = (value or "").strip().lower()
    if text not in allowed:
        raise InputError(f"unknown {what} {value!r}; choose one of {', '.join(allowed)}")
    return text


def platform(value: str) -> str:
    text = (value or "").strip().lower()
    return choice(PLATFORM_ALIASES.get(text, text), PLATFORMS, "platform")


def nonempty(value: str | None, what: str, limit: int = 2000) -> str:
    text = (value or "").strip()
    if not text:
        raise InputError(f"{what} must not be empty")
    if len(text) > limit:
        raise InputError(f"{what} is longer than {limit} characters")
    return text


# The register's settings and bookkeeping live in its `meta` table (key, value), which both the store
# (schema version, events head) and the core (trust name, settings) read and write.
def get_meta(conn, key: str, default: str | None = None) -> str | None:
    """One value from the meta table."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else default


def set_meta(conn, key: str, value: str) -> None:
    """Set one value in the meta table."""
    conn.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                 (key, value))
