"""The spec's vocabulary (roles, platforms, statuses) and the validators every command shares."""

from __future__ import annotations

import re

from accountctl.errors import InputError, shown
from accountctl.safetext import INVISIBLE

ROLES = ("slt", "headteacher", "ceo", "it", "staff", "volunteer", "dsl", "dpo", "governor", "chair")
# The days each time-bound audit rule allows by default (`config set window.RULE DAYS` changes them).
WINDOWS = {
    "INCIDENT_OPEN": 7,
    "REQUEST_STALE": 30,
    "SUSPENDED_TOO_LONG": 90,
    "CLOSED_NOT_GONE": 30,
    "UNCLAIMED_ACCOUNT": 14,
    "UNCLAIMED_ACCOUNT_GONE": 30,
    "POLICY_REVIEW_OVERDUE": 365,
    "CONSENT_CHECK_LAPSED": 30,
    "DORMANT": 180,  # days since an active account's last recorded post (SPEC "Ways in")
}
# Findings about the whole register, not one account: waived with `waive --trust RULE`.
TRUST_RULES = ("SINGLE_CUSTODIAN", "POLICY_REVIEW_OVERDUE")
# Roles that make nobody staff: a person with only these may contribute to an account, never run one.
NON_STAFF_ROLES = ("volunteer", "governor", "chair")
APPROVER_ROLES = ("slt", "headteacher")
PLATFORMS = (
    "facebook",
    "instagram",
    "x",
    "youtube",
    "tiktok",
    "linkedin",
    "threads",
    "bluesky",
    "whatsapp",
    "snapchat",
    "pinterest",
    "flickr",
    "vimeo",
    "other",
    # Ways in (SPEC "Ways in"): records a channel is reached through, then platforms schools use with parents.
    "meta-business",
    "hootsuite",
    "sprout",
    "buffer",
    "later",
    "classdojo",
    "seesaw",
    "tapestry",
)
PLATFORM_ALIASES = {"twitter": "x"}
CATEGORIES = ("faculty", "staff")
# A record a channel is reached through (a business portfolio, a management tool): audited like an
# account, never published and never counted by the one-faculty-one-staff guideline.
SERVICE = "service"
ACCOUNT_CATEGORIES = (*CATEGORIES, SERVICE)
SERVICE_PLATFORMS = ("meta-business", "hootsuite", "sprout", "buffer", "later")
# How people get into an account: its own sign-in (IT holds the password), roles held through their own
# profiles (a page, a channel), or a group run by member admins. `config set access.PLATFORM` overrides.
ACCESS_MODELS = ("login", "roles", "group")
DEFAULT_ACCESS = {
    "facebook": "roles",
    "linkedin": "roles",
    "youtube": "roles",
    "whatsapp": "group",
}
MAILBOX_KINDS = ("shared", "group", "person")
SIGN_IN_STATES = ("blocked", "allowed")
VISIBILITIES = ("open", "closed")
ACCOUNT_STATUSES = ("requested", "approved", "rejected", "active", "suspended", "closed", "gone", "found", "reported")
# What an existing account may be recorded as: one already gone from its platform is not an account to
# import, and a found one is recorded with `account found` (it has no owner, case or people).
IMPORT_STATUSES = tuple(s for s in ACCOUNT_STATUSES if s not in ("gone", "found", "reported"))
# Pupils' ages an account may name: from nursery (3) to the sixth form (19).
PUPIL_AGES = (3, 19)
STAFF_STATUSES = ("active", "left")
ACCESS_LEVELS = ("register", "vault")

# Consumer mail providers: an official account must never hang off one of these.
PERSONAL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "hotmail.com",
        "hotmail.co.uk",
        "outlook.com",
        "live.com",
        "live.co.uk",
        "msn.com",
        "yahoo.com",
        "yahoo.co.uk",
        "ymail.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "aol.co.uk",
        "btinternet.com",
        "sky.com",
        "virginmedia.com",
        "talktalk.net",
        "protonmail.com",
        "proton.me",
        "gmx.com",
        "gmx.co.uk",
        "mail.com",
        "zoho.com",
        "yandex.com",
    }
)

_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+)$"
)
_DOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$")
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


def email(value: str | None, what: str = "email") -> str:
    """A normalised (lower-case) email address, or InputError."""
    text = (value or "").strip()
    if len(text) > 254 or not _EMAIL.match(text) or ".." in text or text.startswith(".") or ".@" in text:
        raise InputError(f"{what} is not a valid email address: {shown(text)}")
    return text.lower()


def email_domain(address: str) -> str:
    return address.rsplit("@", 1)[1].lower()


def domain(value: str) -> str:
    """A normalised school email domain; personal mail providers are refused."""
    text = (value or "").strip().lower().lstrip("@")
    if not _DOMAIN.match(text) or len(text) > 253:
        raise InputError(f"not a valid email domain: {shown(value)}")
    if text in PERSONAL_DOMAINS:
        raise InputError(f"{text} is a personal mail provider, not a school domain")
    return text


def slug(value: str, what: str = "id") -> str:
    """A lower-case id of letters, digits and dashes."""
    text = (value or "").strip()
    if not _SLUG.match(text):
        raise InputError(f"{what} must be lower-case letters, digits and dashes (at most 64), not {shown(text)}")
    return text


def slugify(text: str) -> str:
    """Make a slug out of free text (handles, names)."""
    out = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return out[:64].strip("-") or "x"


def role(value: str) -> str:
    text = (value or "").strip().lower()
    if text not in ROLES:
        raise InputError(f"unknown role {shown(value)}; roles are {', '.join(ROLES)}{did_you_mean(text, ROLES)}")
    return text


def roles(values) -> list[str]:
    """Validated, de-duplicated roles in the spec's order."""
    chosen = {role(v) for v in values}
    return [r for r in ROLES if r in chosen]


def choice(value: str, allowed, what: str) -> str:
    text = (value or "").strip().lower()
    if text not in allowed:
        raise InputError(
            f"unknown {what} {shown(value)}; choose one of {', '.join(allowed)}{did_you_mean(text, allowed)}"
        )
    return text


def platform(value: str) -> str:
    text = (value or "").strip().lower()
    return choice(PLATFORM_ALIASES.get(text, text), PLATFORMS, "platform")


# Control characters (tab aside), lone surrogates (what undecodable bytes in argv or a file become), and
# the bidi and zero-width characters that reorder or hide text (safetext.INVISIBLE) have no place in a
# name, handle or note: refused on input, so they never reach a screen, a spreadsheet or a page. (The
# zero-width non-joiner some Persian names use is refused too: docs/output.md says why.)
_NOT_TEXT = re.compile(f"[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff{INVISIBLE}]")


def plain_text(text: str, what: str) -> str:
    """`text` unchanged, or InputError when it holds a control, bidi or zero-width character or is not UTF-8."""
    bad = _NOT_TEXT.search(text)
    if bad is None:
        return text
    ch = bad.group()
    if "\ud800" <= ch <= "\udfff":
        raise InputError(f"{what} is not valid UTF-8 text")
    if ch > "\x9f":
        raise InputError(
            f"{what} contains an invisible character that can reorder or hide text (U+{ord(ch):04X}); "
            "only printable text is accepted"
        )
    raise InputError(f"{what} contains a control character ({ch!r}); only printable text is accepted")


def nonempty(value: str | None, what: str, limit: int = 2000) -> str:
    """Required free text (a name, a reason): stripped, at most `limit` characters, no control characters."""
    text = (value or "").strip()
    if not text:
        raise InputError(f"{what} must not be empty")
    if len(text) > limit:
        raise InputError(f"{what} is longer than {limit} characters")
    return plain_text(text, what)


def optional_text(value: str | None, what: str, limit: int = 2000) -> str | None:
    """Optional free text (a note): as `nonempty`, but empty gives None."""
    return nonempty(value, what, limit) if (value or "").strip() else None


def did_you_mean(given: object, known, most: int = 3) -> str:
    """' (did you mean X or Y?)' naming the known values a typo away from `given`, or '' when none is.

    difflib finds the similar ones; an edit distance then keeps only real typos (about one edit in
    six characters), since ids and emails share long parts (a school, a domain) that make
    unrelated ones look similar.
    """
    import difflib

    text = str(given or "").strip()
    if not text:
        return ""
    similar = difflib.get_close_matches(text, [str(k) for k in known], n=10, cutoff=0.6)
    allowed = max(1, len(text) // 6)
    near = sorted(
        (d, -difflib.SequenceMatcher(None, text, k).ratio(), k)
        for k in similar
        if (d := edit_distance(text.lower(), k.lower())) <= allowed
    )
    if not near:
        return ""
    return f" (did you mean {' or '.join(k for _, _, k in near[:most])}?)"


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours."""
    previous2, previous = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], previous2[j - 2] + 1)
        previous2, previous = previous, row
    return previous[len(b)]


def pupils(value: str | None) -> str:
    """Whom an account is aimed at among pupils: 'none', or the youngest pupils' age as a whole number."""
    text = (value or "").strip().lower()
    if text == "none":
        return text
    youngest, oldest = PUPIL_AGES
    if not (text.isascii() and text.isdigit()) or not youngest <= int(text) <= oldest:
        raise InputError(
            f"--pupils must be 'none' or the youngest pupils' age ({youngest} to {oldest}), not {shown(value)}"
        )
    return str(int(text))


# The register's settings and bookkeeping live in its `meta` table (key, value), which both the store
# (schema version, events head) and the core (trust name, settings) read and write.
# The history's two homes (store/db.py attaches the archive as HISTORY) and the view over both, oldest
# first, for the few readers that need the whole history (log, verify, export, report).
HISTORY = "history"
ALL_EVENTS = "all_events"


def get_meta(conn, key: str, default: str | None = None) -> str | None:
    """One value from the meta table."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else default


# Set by the upgrade to format 5 (a key per school): new ids must not collide between schools whose
# people cannot see each other's (file-format.md F4), so they carry their school's id.
IDS_PER_SCHOOL = "ids.per_school"


def school_id_prefix(conn, chosen: str, school: str, what: str) -> str:
    """`chosen` (an id given by hand), refused when ids are per school and it does not start with `SCHOOL-`."""
    if get_meta(conn, IDS_PER_SCHOOL) and not chosen.startswith(f"{school}-"):
        raise InputError(f"{what} {chosen!r} must start with its school's id: {school}-...")
    return chosen


ID_SPAN = 1 << 32  # each school's range of row ids, where ids are per school


class RowIds:
    """Ids for new rows of one table: SQLite's own (None) unless ids are per school (format 5).

    Where they are, each school has its own range (`ids.base.SCHOOL` in meta, set when the school is
    bound to its key): a headteacher who sees only their school's rows still never picks an id another
    school's rows hold, so the custodian's merged view never meets two rows with one id.
    """

    def __init__(self, conn, table: str):
        self.conn, self.table, self.top = conn, table, {}

    def next(self, school: str | None) -> int | None:
        base = get_meta(self.conn, f"ids.base.{school}") if school else None
        if base is None:
            return None
        if school not in self.top:
            low = int(base) * ID_SPAN
            found = self.conn.execute(
                f"SELECT max(id) FROM {self.table} WHERE id BETWEEN ? AND ?", (low, low + ID_SPAN - 1)
            ).fetchone()[0]
            self.top[school] = found or low
        self.top[school] += 1
        return self.top[school]


def new_id(conn, table: str, school: str | None) -> int | None:
    """One new row's id (see `RowIds`)."""
    return RowIds(conn, table).next(school)


def school_of_account(conn, account_id: str) -> str | None:
    row = conn.execute("SELECT school FROM accounts WHERE id = ?", (account_id,)).fetchone()
    return row[0] if row else None


def set_meta(conn, key: str, value: str) -> None:
    """Set one value in the meta table."""
    conn.execute(
        "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value)
    )
