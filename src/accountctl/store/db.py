"""The register's body: an in-memory SQLite database, its schema, and (de)serialization."""

from __future__ import annotations

import re
import sqlite3

from accountctl.errors import DamagedError
from accountctl.model import ALL_EVENTS, HISTORY, get_meta, set_meta  # noqa: F401 (shared with the core)

SCHEMA_VERSION = 2  # 2: membership records (grants), signed events with real time; no signing_keys

# The events table exists twice: in the main database (the newest events, appended by every write)
# and in the attached "history" archive (older ones, moved there in batches; see register.py).
EVENTS_SCHEMA = """
CREATE TABLE {schema}.events (
    seq INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
    target TEXT, account TEXT, details TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,
    at_real TEXT,    -- the real UTC time, whatever ACCOUNTCTL_TODAY made `at`
    signature BLOB   -- the actor's Ed25519 signature of `hash`, on the last event of each save (store/trust.py)
);
CREATE INDEX {schema}.events_account ON events(account);
"""

# Emails are stored lower-cased (the spec makes them case-insensitive), so plain equality works
# everywhere and indexes stay usable. JSON lists (roles, domains, details) are TEXT.
SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE schools (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, domains TEXT NOT NULL, central INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL, digital_lead TEXT, link_governor TEXT  -- DfE digital and technology standards
);
CREATE TABLE staff (
    email TEXT PRIMARY KEY, name TEXT NOT NULL, school TEXT NOT NULL REFERENCES schools(id),
    roles TEXT NOT NULL, trained_on TEXT, policy_ack TEXT,
    status TEXT NOT NULL DEFAULT 'active', left_on TEXT,
    moved_from TEXT, moved_on TEXT, created_at TEXT NOT NULL,
    cyber_trained_on TEXT  -- annual cyber-security training (DfE standards; CYBER_TRAINING_DUE)
);
CREATE INDEX staff_school ON staff(school);
CREATE TABLE people (
    email TEXT PRIMARY KEY, name TEXT NOT NULL, access TEXT NOT NULL, slot_id BLOB NOT NULL UNIQUE,
    granted_at TEXT NOT NULL, granted_by TEXT
);
CREATE TABLE slot_history (
    id INTEGER PRIMARY KEY, email TEXT NOT NULL, access TEXT NOT NULL,
    granted_at TEXT NOT NULL, revoked_at TEXT
);
CREATE INDEX slot_history_email ON slot_history(email);
-- Membership records: each grant, revoke, recovery and accepted rollback, signed and hash-chained
-- (store/trust.py). The only source of who holds which slot and signing key.
CREATE TABLE grants (id INTEGER PRIMARY KEY, payload TEXT NOT NULL, signature BLOB NOT NULL);
CREATE TABLE accounts (
    id TEXT PRIMARY KEY, school TEXT NOT NULL REFERENCES schools(id), platform TEXT NOT NULL,
    handle TEXT NOT NULL, url TEXT, category TEXT NOT NULL, email TEXT, owner TEXT,
    aim TEXT, audience TEXT, promotion TEXT, visibility TEXT,
    status TEXT NOT NULL, status_reason TEXT, legacy INTEGER NOT NULL DEFAULT 0,
    requested_by TEXT, requested_at TEXT NOT NULL, case_changed_at TEXT,
    case_hash TEXT,  -- hash of the current business case and people, kept by every change (verify recomputes it)
    head_notified_on TEXT, activated_on TEXT, reviewed_on TEXT, monitored_on TEXT,
    pupils TEXT,  -- 'none', or the youngest pupils' age the account is aimed at; NULL: not yet said
    parents_informed_on TEXT, suspended_on TEXT, closed_on TEXT, gone_on TEXT,
    found_on TEXT, found_source TEXT,  -- a found account: when, and how it came to light
    reported_on TEXT, takedown_reference TEXT,  -- reported to the platform for takedown
    pupil_images TEXT, pupils_join TEXT, consent_checked_on TEXT,  -- 'yes'/'no'; NULL: not said
    UNIQUE (school, platform, handle)
);
CREATE INDEX accounts_owner ON accounts(owner);
-- Memberships are never deleted: removed_at closes them, so "who was an admin while this password
-- was in force" (ROTATE_AFTER_LEAVER, offboard) stays answerable.
CREATE TABLE account_people (
    id INTEGER PRIMARY KEY, account TEXT NOT NULL REFERENCES accounts(id), email TEXT NOT NULL,
    role TEXT NOT NULL, added_at TEXT NOT NULL, removed_at TEXT
);
CREATE UNIQUE INDEX account_people_current ON account_people(account, email, role) WHERE removed_at IS NULL;
CREATE INDEX account_people_email ON account_people(email);
CREATE TABLE approvals (
    id INTEGER PRIMARY KEY, account TEXT NOT NULL REFERENCES accounts(id), decision TEXT NOT NULL,
    approver TEXT NOT NULL, at TEXT NOT NULL, note TEXT, case_hash TEXT NOT NULL,
    payload TEXT NOT NULL, public_key BLOB NOT NULL, signature BLOB NOT NULL,
    verified_digest TEXT  -- sha256(payload, signature, key) when last verified: lets audit skip re-verifying
);
CREATE INDEX approvals_account ON approvals(account);
CREATE TABLE credentials (
    account TEXT PRIMARY KEY REFERENCES accounts(id),
    username BLOB, username_set_at TEXT, username_set_by TEXT,
    password BLOB, password_set_at TEXT, password_set_by TEXT,
    totp BLOB, totp_set_at TEXT, totp_set_by TEXT,
    recovery BLOB, recovery_set_at TEXT, recovery_set_by TEXT,
    -- Judged when the password is stored, so the audit neither decrypts nor re-scores 10,000 of them:
    password_weak TEXT,  -- why zxcvbn finds it weak, or NULL
    password_fp TEXT     -- HMAC-SHA256 under the vault key: equal fingerprints = a reused password
);
CREATE TABLE password_history (
    id INTEGER PRIMARY KEY, account TEXT NOT NULL, password BLOB NOT NULL,
    set_at TEXT NOT NULL, set_by TEXT, replaced_at TEXT NOT NULL
);
CREATE INDEX password_history_account ON password_history(account);
CREATE TABLE waivers (
    id INTEGER PRIMARY KEY, account TEXT NOT NULL REFERENCES accounts(id), rule TEXT NOT NULL,
    reason TEXT NOT NULL, until TEXT NOT NULL, waived_by TEXT NOT NULL, at TEXT NOT NULL
);
CREATE INDEX waivers_account ON waivers(account);
"""
# Tables added after registers were already written: a register opened without them gains them empty.
ADDED_TABLES = """
-- Incidents, their checklist steps done, attestation campaigns and what each attestation saw.
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY, account TEXT NOT NULL REFERENCES accounts(id), kind TEXT NOT NULL,
    summary TEXT NOT NULL, opened_at TEXT NOT NULL, opened_by TEXT NOT NULL,
    closed_at TEXT, closed_by TEXT, outcome TEXT, about TEXT, about_head TEXT, discovered_at TEXT
);
CREATE INDEX IF NOT EXISTS incidents_account ON incidents(account);
CREATE TABLE IF NOT EXISTS incident_steps (
    incident TEXT NOT NULL REFERENCES incidents(id), step TEXT NOT NULL,
    done_at TEXT NOT NULL, done_by TEXT NOT NULL, note TEXT, reference TEXT, PRIMARY KEY (incident, step)
);
CREATE TABLE IF NOT EXISTS campaigns (
    id TEXT PRIMARY KEY, school TEXT, due TEXT NOT NULL, started_at TEXT NOT NULL, started_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS campaign_accounts (
    campaign TEXT NOT NULL REFERENCES campaigns(id), account TEXT NOT NULL REFERENCES accounts(id),
    PRIMARY KEY (campaign, account)
);
CREATE TABLE IF NOT EXISTS attestations (
    id INTEGER PRIMARY KEY, campaign TEXT NOT NULL, account TEXT NOT NULL, at TEXT NOT NULL,
    attested_by TEXT NOT NULL, admins TEXT NOT NULL, mfa TEXT NOT NULL, recovery TEXT, note TEXT
);
CREATE INDEX IF NOT EXISTS attestations_account ON attestations(account);
-- Ways in: the records (business portfolios, management tools) whose people reach an account, and the
-- mailboxes accounts are linked to, with who reads them. Never deleted: removed_at closes a row.
CREATE TABLE IF NOT EXISTS account_via (
    id INTEGER PRIMARY KEY, account TEXT NOT NULL REFERENCES accounts(id), via TEXT NOT NULL REFERENCES accounts(id),
    added_at TEXT NOT NULL, removed_at TEXT
);
CREATE INDEX IF NOT EXISTS account_via_account ON account_via(account);
CREATE INDEX IF NOT EXISTS account_via_via ON account_via(via);
CREATE TABLE IF NOT EXISTS mailboxes (
    email TEXT PRIMARY KEY, school TEXT NOT NULL REFERENCES schools(id), kind TEXT NOT NULL,
    sign_in TEXT, created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS mailbox_members (
    id INTEGER PRIMARY KEY, mailbox TEXT NOT NULL REFERENCES mailboxes(email), email TEXT NOT NULL,
    added_at TEXT NOT NULL, removed_at TEXT
);
CREATE INDEX IF NOT EXISTS mailbox_members_email ON mailbox_members(email);
CREATE INDEX IF NOT EXISTS mailbox_members_mailbox ON mailbox_members(mailbox);
CREATE INDEX IF NOT EXISTS accounts_email ON accounts(email);  -- the accounts a mailbox resets (offboard)
-- The DPO's decisions on breaches (UK GDPR art. 33), each signed like an approval.
CREATE TABLE IF NOT EXISTS breach_decisions (
    id INTEGER PRIMARY KEY, incident TEXT NOT NULL REFERENCES incidents(id), reportable INTEGER NOT NULL,
    high_risk INTEGER NOT NULL, reason TEXT NOT NULL, decided_by TEXT NOT NULL, at TEXT NOT NULL,
    payload TEXT NOT NULL, public_key BLOB NOT NULL, signature BLOB NOT NULL
);
-- Data protection impact assessments, per platform, for one school or (school '') the whole trust.
CREATE TABLE IF NOT EXISTS dpias (
    platform TEXT NOT NULL, school TEXT NOT NULL, ref TEXT NOT NULL, approved_on TEXT NOT NULL,
    review_days INTEGER NOT NULL, recorded_by TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (platform, school)
);
-- Waivers of findings about the whole register (SINGLE_CUSTODIAN, POLICY_REVIEW_OVERDUE).
CREATE TABLE IF NOT EXISTS trust_waivers (
    id INTEGER PRIMARY KEY, rule TEXT NOT NULL, reason TEXT NOT NULL, until TEXT NOT NULL,
    waived_by TEXT NOT NULL, at TEXT NOT NULL
);
-- Free text about people, each under a key of its own, outside the signed history (core/texts.py).
CREATE TABLE IF NOT EXISTS texts (
    id TEXT PRIMARY KEY, subject TEXT NOT NULL, key BLOB, body BLOB, sha256 TEXT NOT NULL, at TEXT NOT NULL,
    erased_at TEXT, erased_by TEXT, erase_reason TEXT
);
CREATE INDEX IF NOT EXISTS texts_subject ON texts(subject);
"""
SCHEMA += ADDED_TABLES


def new_database() -> sqlite3.Connection:
    """A fresh in-memory database with the current schema."""
    conn = _connect()
    conn.executescript(SCHEMA + EVENTS_SCHEMA.format(schema="main"))
    _add_missing_columns(conn)
    conn.execute("INSERT INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    conn.commit()
    attach_history(conn, None)
    return conn


def attach_history(conn: sqlite3.Connection, data: bytes | None) -> None:
    """Attach the history archive (its decrypted bytes, or a new empty one) and the `all_events` view."""
    conn.execute(f"ATTACH DATABASE ':memory:' AS {HISTORY}")
    try:
        if data is None:
            conn.executescript(EVENTS_SCHEMA.format(schema=HISTORY))
        else:
            conn.deserialize(data, name=HISTORY)
            conn.execute(
                f"SELECT seq, at, actor, action, target, account, details, prev_hash, hash "
                f"FROM {HISTORY}.events LIMIT 1"
            ).fetchall()
            if not _has_column(conn, HISTORY, "events", "signature"):
                upgrade_events(conn, HISTORY)
    except sqlite3.DatabaseError:
        raise DamagedError("register damaged: its history archive is not a valid database") from None
    conn.execute(f"CREATE TEMP VIEW {ALL_EVENTS} AS SELECT * FROM {HISTORY}.events UNION ALL SELECT * FROM main.events")


def _has_column(conn: sqlite3.Connection, schema: str, table: str, column: str) -> bool:
    return any(row[1] == column for row in conn.execute(f"PRAGMA {schema}.table_info({table})"))


def upgrade_events(conn: sqlite3.Connection, schema: str) -> None:
    """Schema 1 to 2 for one events table: the real-time and signature columns."""
    conn.execute(f"ALTER TABLE {schema}.events ADD COLUMN at_real TEXT")
    conn.execute(f"ALTER TABLE {schema}.events ADD COLUMN signature BLOB")


def history_attached(conn: sqlite3.Connection) -> bool:
    return any(row[1] == HISTORY for row in conn.execute("PRAGMA database_list"))


def _connect() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.row_factory = sqlite3.Row
    # Which decisions an open has checked (store/checking.py installs the real answer): none until then.
    conn.create_function("checked_decision", 1, lambda number: None)
    return conn


def serialize(conn: sqlite3.Connection, name: str = "main") -> bytes:
    """A database's bytes (the main one, or the history archive), as SQLite stores them in a file."""
    return conn.serialize(name=name)


def check(conn: sqlite3.Connection, full: bool = False) -> None:
    """SQLite's own consistency check (`quick_check`, or `integrity_check` with `full`); DamagedError if it fails."""
    try:
        (result,) = conn.execute("PRAGMA integrity_check" if full else "PRAGMA quick_check").fetchone()
    except sqlite3.DatabaseError:
        result = "unreadable"
    if result != "ok":
        raise DamagedError("register damaged: its database fails SQLite's integrity check")


def deserialize(data: bytes) -> sqlite3.Connection:
    """Load a serialized database that AES-GCM has already authenticated.

    Authentication proves these are exactly the bytes an authorised writer saved, and every save
    runs `check` first, so reads skip the scan (37 ms at 10,000 accounts); a schema probe still
    turns garbage into DamagedError, and `verify` runs the full integrity check.
    """
    conn = _connect()
    try:
        conn.deserialize(data)
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.DatabaseError:
        raise DamagedError("register damaged: its body is not a valid database") from None
    if row is None:
        raise DamagedError("register damaged: no schema version")
    if int(row[0]) > SCHEMA_VERSION:
        raise DamagedError(f"register was written by a newer accountctl (schema {row[0]}); upgrade accountctl")
    _add_missing_columns(conn)
    return conn


# Columns added to a table after registers were already written with it: nullable, so adding them
# changes no existing value (nor any case hash) and the next save keeps them.
ADDED_COLUMNS = {
    "accounts": (
        "pupils",
        "parents_informed_on",
        "suspended_on",
        "closed_on",
        "gone_on",
        "found_on",
        "found_source",
        "reported_on",
        "takedown_reference",
        # Ways in: the access model (NULL: the platform's default), the last recorded post (DORMANT), where
        # parents are told the house rules (HOUSE_RULES_MISSING).
        "access",
        "last_post_on",
        "house_rules_url",
        "pupil_images",
        "pupils_join",
        "consent_checked_on",
    ),
    "account_people": ("until",),  # temporary access (ACCESS_EXPIRED): the last day it is meant to last
    "attestations": ("safety",),  # the safety settings the platform showed, as JSON (SAFETY_SETTINGS)
    "incidents": ("about", "about_head", "discovered_at"),
    "incident_steps": ("reference",),
    "schools": ("digital_lead", "link_governor"),
    "staff": ("cyber_trained_on",),
    # The fingerprint (credentials.password_fp) an earlier password had: a hijack's rotation back to it
    # is no rotation, and SLT, who hold no vault key, can see that without decrypting anything.
    "password_history": ("password_fp",),
}


# Every table ADDED_TABLES makes: a register written before any of them gets them all (empty) on open.
ADDED_TABLE_NAMES = tuple(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", ADDED_TABLES))
ADDED_INDEX_NAMES = tuple(re.findall(r"CREATE INDEX IF NOT EXISTS (\w+)", ADDED_TABLES))


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    have = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")}
    if not have.issuperset(ADDED_TABLE_NAMES + ADDED_INDEX_NAMES):
        conn.executescript(ADDED_TABLES)  # tables added since: empty in a register written before them
    for table, columns in ADDED_COLUMNS.items():
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for column in columns:
            if column not in have:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT")
    # Temporary access is rare: the audit finds it through this index, not by reading every membership.
    conn.execute("CREATE INDEX IF NOT EXISTS account_people_until ON account_people(until) WHERE until IS NOT NULL")


# Indexes registers saved before they were retired still carry, which cost every command more than
# they saved. SQLite answers `accounts` by school (and platform) from the UNIQUE (school, platform,
# handle) index; every read of `account_people` by account asks only for current rows, which
# `account_people_current` holds; and the one search by password fingerprint (`cred set`, for reuse)
# scans 10,000 credentials in under 1 ms. They were 1.7 MB of a 31.5 MB body at 10,000 accounts,
# and an open holds the body twice.
RETIRED_INDEXES = ("account_people_account", "accounts_school", "credentials_fp")


def drop_retired_indexes(conn: sqlite3.Connection) -> bool:
    """Drop the retired indexes a database still has, then compact it; True if there were any.

    A dropped index's pages stay in the database as free pages until VACUUM (a one-off ~0.1 s at
    10,000 accounts, on the first save after an upgrade).
    """
    have = {row[0] for row in conn.execute("SELECT name FROM main.sqlite_master WHERE type = 'index'")}
    retired = [name for name in RETIRED_INDEXES if name in have]
    for name in retired:
        conn.execute(f"DROP INDEX main.{name}")
    if retired:
        conn.execute("VACUUM main")
    return bool(retired)


def schema_version(conn: sqlite3.Connection) -> int:
    return int(get_meta(conn, "schema_version", "0"))


def upgrade_schema(conn: sqlite3.Connection) -> None:
    """Schema 1 to 2, in place (the format-2 upgrade): grants replace signing_keys; events gain columns."""
    conn.executescript(
        "CREATE TABLE grants (id INTEGER PRIMARY KEY, payload TEXT NOT NULL, signature BLOB NOT NULL);"
        "DROP TABLE signing_keys;"
    )
    upgrade_events(conn, "main")
    set_meta(conn, "schema_version", str(SCHEMA_VERSION))


def events_head_seq(conn: sqlite3.Connection) -> int:
    """The number of the last event (0 before the first), from meta: no history read."""
    head = get_meta(conn, "events_head")
    return int(head.split(" ", 1)[0]) if head else 0
