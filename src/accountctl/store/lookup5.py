"""Format 5's trust lookup (file-format.md F4): which school holds an id, without decrypting every school.

Each entry is a tag and a scope id: the tag is an HMAC of "account/ID" (or "incident/", "staff/")
under a key derived from that school's records key, so only the school's readers can compute it. A
school-scoped reader learns how many ids each school has, not which. The lookup is a hint: a
command checks that the school it names holds the id, and otherwise looks in every school it reads.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import sqlite3

from accountctl import crypto

LABEL_LOOKUP = b"accountctl/v5/lookup"
TAG_LEN = 16  # 128 bits: no two of a trust's ids meet by chance
ENTRY_LEN = TAG_LEN + 16
KINDS = {
    "account": "SELECT id FROM main.accounts WHERE school = ?",
    "incident": "SELECT i.id FROM main.incidents i JOIN main.accounts a ON a.id = i.account WHERE a.school = ?",
    # the central team's staff are the trust's rows (split.ROUTES), in no school's segment
    "staff": "SELECT email FROM main.staff WHERE school = ? AND school NOT IN (SELECT id FROM main.schools WHERE central)",
}


def lookup_key(school_key: bytes) -> bytes:
    """The tag key of a school, from its records key (never the key itself)."""
    return crypto.hkdf(school_key, b"", LABEL_LOOKUP)


def tag(key: bytes, kind: str, ident: str) -> bytes:
    return hmac.new(key, f"{kind}/{ident}".encode("utf-8"), hashlib.sha256).digest()[:TAG_LEN]


def entries_of(conn: sqlite3.Connection, school: str, scope: bytes, school_key: bytes) -> list[bytes]:
    """One school's entries (tag, scope), from the rows of the merged database."""
    key = lookup_key(school_key)
    out = []
    for kind, sql in KINDS.items():
        out += [tag(key, kind, row[0]) + scope for row in conn.execute(sql, (school,))]
    return out


def ids_digest(conn: sqlite3.Connection, school: str) -> str:
    """SHA-256 of a school's ids of every kind, sorted: equal digests, the same entries."""
    digest = hashlib.sha256()
    for kind, sql in KINDS.items():
        for ident in sorted(row[0] for row in conn.execute(sql, (school,))):
            digest.update(f"{kind}/{ident}\n".encode("utf-8"))
    return digest.hexdigest()


def ids_digest_of(records: bytes, school: str) -> str:
    """`ids_digest` of a school's records segment as it was read (its own database, not the merged one)."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.deserialize(records)
        return ids_digest(conn, school)
    finally:
        conn.close()


def update(previous: bytes, rebuilt: dict[bytes, list[bytes]]) -> bytes:
    """The lookup with the entries of each school in `rebuilt` (scope -> entries) replaced; sorted by tag."""
    if len(previous) % ENTRY_LEN:
        raise ValueError("a lookup is whole entries")
    kept = [
        previous[at : at + ENTRY_LEN]
        for at in range(0, len(previous), ENTRY_LEN)
        if previous[at + TAG_LEN : at + ENTRY_LEN] not in rebuilt
    ]
    return b"".join(sorted(kept + [e for entries in rebuilt.values() for e in entries]))


def find(lookup: bytes, school_keys: dict[bytes, bytes], kind: str, ident: str) -> bytes | None:
    """The scope the lookup names for an id, trying the tag of each school whose key is held; None if none."""
    count = len(lookup) // ENTRY_LEN
    tags = _Tags(lookup, count)
    for scope, school_key in school_keys.items():
        wanted = tag(lookup_key(school_key), kind, ident)
        at = bisect.bisect_left(tags, wanted)
        if at < count and tags[at] == wanted and lookup[at * ENTRY_LEN + TAG_LEN : (at + 1) * ENTRY_LEN] == scope:
            return scope
    return None


class _Tags:
    """The lookup's tags as a sequence, for bisect, without copying them out."""

    def __init__(self, lookup: bytes, count: int):
        self.lookup, self.count = lookup, count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, n: int) -> bytes:
        return self.lookup[n * ENTRY_LEN : n * ENTRY_LEN + TAG_LEN]
