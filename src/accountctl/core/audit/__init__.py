"""The audit: every policy rule, in one place, as a small function over a snapshot of plain data.

Adding a rule is adding one decorated function here (and its tests). Each rule yields
(account id or None, school id or None, message, fix); `run` attaches id, severity, the trust's
own clause reference and waivers. Each rule states its principle in plain words and names the
published school policies it is drawn from (`sources`): those appear in `rules --sources` and
docs/rules.md, never in an audit or report, which cite only the trust's own clauses.
The snapshot is read with a fixed number of set-based queries, never one per account.
"""

from __future__ import annotations

from datetime import datetime, time, timezone
from typing import Iterator

from accountctl.core.audit import people  # noqa: F401  (importing a theme registers its rules)
from accountctl.core.audit import approval  # noqa: F401  (importing a theme registers its rules)
from accountctl.core.audit import leavers  # noqa: F401  (importing a theme registers its rules)
from accountctl.core.audit import credentials  # noqa: F401  (importing a theme registers its rules)
from accountctl.core.audit import trust  # noqa: F401  (importing a theme registers its rules)
from accountctl.core.audit.engine import as_of_from, rules_table, run, summarize, waivers_in_force
from accountctl.core.audit.helpers import _active, _days_before, _gone_text, _live, _runners, _some, _who
from accountctl.core.audit.leavers import _departed_custodians, _rotate_after_custodian, rotate_after_leaver
from accountctl.core.audit.people import one_faculty_one_staff, school_email, two_admins
from accountctl.core.audit.registry import ESCALATED, POLICIES, RULES, SEVERITIES, UPCOMING, Rule, arrange, rule
from accountctl.core.audit.snapshot import ACCOUNT_COLUMNS, LIVE, NEVER, Membership, Snapshot, load

# -- the rules not yet moved to their theme's module ----------------------------------------------
SUSPENDED_DAYS = 90  # SUSPENDED_TOO_LONG
CLOSED_DAYS = 30  # CLOSED_NOT_GONE: closed longer, and not confirmed gone from the platform
FOUND_DAYS = 14  # UNCLAIMED_ACCOUNT: a found account neither claimed nor reported for longer
REPORTED_DAYS = 30  # UNCLAIMED_ACCOUNT: reported for takedown and still not gone for longer


@rule(
    "SUSPENDED_TOO_LONG",
    "warning",
    f"suspended for more than {SUSPENDED_DAYS} days",
    "Preston (roles): administrators control managing an account 'closing or transferring'; Huxley 6.2: 'the "
    'greater the number of accounts the greater the risk ... of those accounts being "hacked"\'',
    name="Suspended accounts are resolved",
    principle="A suspended account is restored or closed within three months, not left hanging.",
)
def suspended_too_long(snap: Snapshot):
    for a in _live(snap):
        if a["status"] != "suspended":
            continue
        since = a["suspended_on"] or a["requested_at"][:10]
        days = snap.days_since(since)
        if days > SUSPENDED_DAYS:
            yield (
                a["id"],
                a["school"],
                f"suspended since {since} ({days} days)",
                f"accountctl account activate {a['id']} (or close it: accountctl account close {a['id']} --reason T)",
            )


@rule(
    "CLOSED_NOT_GONE",
    "warning",
    f"closed more than {CLOSED_DAYS} days ago and not confirmed gone from the platform (credentials still held)",
    "Huxley 6.2: 'the greater the number of accounts the greater the risk ... of those accounts being \"hacked\"'; "
    "Preston (roles): administrators control 'closing' an account",
    name="Closed accounts are deleted",
    principle="A closed account is deleted on the platform within a month, and the passwords kept for it are "
    "destroyed.",
)
def closed_not_gone(snap: Snapshot):
    for a in snap.closed:
        since = a["closed_on"] or a["requested_at"][:10]
        days = snap.days_since(since)
        if days > CLOSED_DAYS:
            held = " IT still holds its credentials." if a["credentials_held"] else ""
            yield (
                a["id"],
                a["school"],
                f"closed on {since} ({days} days ago) and not confirmed gone from {a['platform']}.{held}",
                f"delete it on the platform, then: accountctl account gone {a['id']}",
            )


@rule(
    "UNCLAIMED_ACCOUNT",
    "error",
    f"a found account neither claimed nor reported within {FOUND_DAYS} days, or reported and not gone within "
    f"{REPORTED_DAYS}",
    "Connect §6: 'Systems for reporting and dealing with abuse and misuse'; Huxley 6.3(h): abuse of "
    "school-sanctioned social media 'should immediately be removed and reported to the Headteacher'",
    name="Unofficial accounts are dealt with",
    principle="An account that claims to be the school's but was never approved is claimed or reported to the "
    "platform within two weeks, and followed up until it is gone.",
)
def unclaimed_account(snap: Snapshot):
    for a in snap.found:
        if a["status"] == "found":
            days = snap.days_since(a["found_on"] or a["requested_at"])
            if days > FOUND_DAYS:
                yield (
                    a["id"],
                    a["school"],
                    f"found on {a['platform']} ({a['url']}) {days} days ago and neither claimed nor reported",
                    f"accountctl account claim {a['id']} (or report it to {a['platform']}: accountctl account "
                    f"takedown {a['id']} --reported-on DATE)",
                )
        else:
            days = snap.days_since(a["reported_on"])
            if days > REPORTED_DAYS:
                yield (
                    a["id"],
                    a["school"],
                    f"reported to {a['platform']} on {a['reported_on']} ({days} days ago) and still not gone",
                    f"chase {a['platform']} (reference {a['takedown_reference'] or 'none recorded'}); once removed: "
                    f"accountctl account gone {a['id']}",
                )


@rule(
    "INCIDENT_OPEN",
    "error",
    "an incident open for more than 7 days (warning before)",
    "Connect §6: 'Systems for reporting and dealing with abuse and misuse'; Huxley 6.3(h): abuse 'should "
    "immediately be removed and reported to the Headteacher'",
    name="Incidents are dealt with",
    principle="An incident on an account (a hijack, abuse, a safeguarding concern, an impersonation, a data "
    "breach) is worked through its checklist and closed within a week.",
)
def incident_open(snap: Snapshot):
    from accountctl.core.incidents import OPEN_DAYS

    for inc in snap.incidents:
        days = snap.days_since(inc["opened_at"])
        todo = ", ".join(inc["outstanding"]) or "none (close it)"
        item = (
            inc["account"],
            inc["school"],
            f"{inc['kind']} incident {inc['id']} open since {inc['opened_at'][:10]} ({days} days); still to do: {todo}",
            f"accountctl incident show {inc['id']}",
        )
        yield item if days > OPEN_DAYS else UPCOMING(*item)


@rule(
    "BREACH_NOT_REPORTED",
    "error",
    "a breach incident open for more than 72 hours without the `dpo-informed` step",
    "Connect §6: 'Systems for reporting and dealing with abuse and misuse'; UK GDPR Art. 33: a reportable "
    "breach is notified to the ICO within 72 hours of discovery",
    name="Data breaches reach the DPO in time",
    principle="A data breach is passed to the data protection officer quickly enough for a reportable one to "
    "reach the ICO within 72 hours.",
)
def breach_not_reported(snap: Snapshot):
    from accountctl.core.incidents import BREACH_HOURS

    now = snap.now or datetime.combine(snap.as_of, time.max, timezone.utc)
    for inc in snap.incidents:
        if inc["kind"] != "breach" or "dpo-informed" in inc["done"]:
            continue
        opened = datetime.fromisoformat(inc["opened_at"].replace("Z", "+00:00"))
        hours = (now - opened).total_seconds() / 3600
        if hours > BREACH_HOURS:
            yield (
                inc["account"],
                inc["school"],
                f"breach {inc['id']} opened {inc['opened_at']} ({int(hours)} hours ago) and the data protection "
                "officer is not recorded as told",
                f"tell the DPO now, then: accountctl incident step {inc['id']} dpo-informed",
            )


def _attested(snap: Snapshot) -> Iterator[tuple[dict, dict]]:
    """(account, its last attestation) for each live account attested at least once."""
    for a in _live(snap):
        seen = snap.attested.get(a["id"])
        if seen is not None:
            yield a, seen


def _platform_fix(a: dict) -> str:
    return f"then record what {a['platform']} shows: accountctl attest record {a['id']} --admins LIST --mfa METHOD"


@rule(
    "ATTESTATION_OVERDUE",
    "warning",
    "an account in an open campaign not attested by its due date",
    "Connect §6: administration 'involving at least two members of staff'; Preston (roles): administrators "
    "'control the process for managing an account after the lead staff member has left'",
    name="Platform access is checked each term",
    principle="Each term, the people who run each account check the platform's own settings (who really has admin "
    "rights, which two-factor method) and record what they see, by the date asked.",
)
def attestation_overdue(snap: Snapshot):
    for a in _live(snap):
        campaign = snap.campaign_due.get(a["id"])
        if campaign is None:
            continue
        campaign_id, due, done = campaign
        if not done and snap.as_of.isoformat() > due:
            yield (
                a["id"],
                a["school"],
                f"not attested for campaign {campaign_id}, due {due} ({snap.days_since(due)} days ago)",
                f"check {a['platform']}'s settings, " + _platform_fix(a),
            )


@rule(
    "UNKNOWN_PLATFORM_ADMIN",
    "error",
    "the last attestation lists someone with admin rights on the platform who is not a registered owner or admin "
    "(named; said if they have left)",
    "Preston (roles): administrators 'control the process for managing an account after the lead staff member has "
    "left'; Connect §6: administration 'involving at least two members of staff'",
    name="Nobody else holds admin rights on the platform",
    principle="Only the people the register names as running an account hold admin rights on the platform itself; "
    "a former teacher's personal profile keeps no role on the school's page.",
)
def unknown_platform_admin(snap: Snapshot):
    for a, seen in _attested(snap):
        runners = {email for _, email in _runners(snap, a)}
        for person in seen["admins"]:
            if person["email"] in runners:
                continue
            who = _who(snap, person["email"]) if person["email"] else person["shown"]
            if person["email"] and snap.has_left(person["email"]):
                who += f" (left on {snap.staff[person['email']]['left_on']})"
            elif person["email"] is None:
                who += " (not in the staff register)"
            yield (
                a["id"],
                a["school"],
                f"{who} holds admin rights on {a['platform']} (attested {seen['at'][:10]}) and is not a registered "
                "owner or admin",
                f"remove them in {a['platform']}'s page roles (or, if they should run it: accountctl account admin add "
                f"{a['id']} EMAIL), " + _platform_fix(a),
            )


@rule(
    "PLATFORM_ADMIN_MISSING",
    "warning",
    "a registered admin the last attestation did not find on the platform",
    "Connect §6: administration 'involving at least two members of staff'",
    name="The register matches the platform",
    principle="The people the register names as running an account really hold admin rights on the platform, so "
    "the account never depends on fewer people than it appears to.",
)
def platform_admin_missing(snap: Snapshot):
    for a, seen in _attested(snap):
        there = {p["email"] for p in seen["admins"]}
        for role, email in _runners(snap, a):
            if email not in there:
                yield (
                    a["id"],
                    a["school"],
                    f"{role} {_who(snap, email)} was not among the admins on {a['platform']} (attested "
                    f"{seen['at'][:10]})",
                    f"give them admin rights on {a['platform']} (or: accountctl account admin remove {a['id']} "
                    f"{email}), " + _platform_fix(a),
                )


@rule(
    "MFA_WEAK",
    "warning",
    "the last attestation says the platform's 2FA is SMS (error when `none`)",
    "Huxley 6.3(c): login details 'provided to IT who will retain a record'; Preston: administrators 'store "
    "account details, including passwords securely'",
    name="Two-factor sign-in is strong",
    principle="Every account's two-factor sign-in uses an authenticator app, a passkey or a code IT holds, not a text "
    "message to one person's phone, and never nothing.",
)
def mfa_weak(snap: Snapshot):
    for a, seen in _attested(snap):
        if seen["mfa"] not in ("sms", "none"):
            continue
        fix = f"switch {a['platform']}'s 2FA to an authenticator app and store the seed: accountctl cred totp {a['id']}"
        if seen["mfa"] == "none":
            yield ESCALATED(
                a["id"], a["school"], f"no two-factor sign-in on {a['platform']} (attested {seen['at'][:10]})", fix
            )
        else:
            yield (
                a["id"],
                a["school"],
                f"two-factor sign-in on {a['platform']} is by text message (attested {seen['at'][:10]})",
                fix,
            )


@rule(
    "MONITORING_LAPSED",
    "info",
    "active account with no monitoring check recorded in the monitoring period (default 7 days)",
    "Connect §5 (monitoring): 'School accounts must be monitored regularly and frequently (preferably 5 days a week "
    "during term time ...)'",
    name="Checked regularly",
    principle="Every live account is checked regularly, and comments on it are answered promptly.",
)
def monitoring_lapsed(snap: Snapshot):
    period = int(snap.settings["monitoring_period_days"])
    cutoff = _days_before(snap, period)
    for a in _active(snap):
        if not a["monitored_on"] or a["monitored_on"] < cutoff:
            days = snap.days_since(a["monitored_on"])
            seen = "never" if days is None else f"last {a['monitored_on']} ({days} days ago)"
            yield (
                a["id"],
                a["school"],
                f"monitoring check {seen}; period {period} days",
                f"accountctl monitor {a['id']}",
            )


arrange()  # the rules in their published order, whichever module registered them (see registry.ORDER)

__all__ = [
    "ACCOUNT_COLUMNS",
    "ESCALATED",
    "LIVE",
    "NEVER",
    "POLICIES",
    "RULES",
    "SEVERITIES",
    "UPCOMING",
    "Membership",
    "Rule",
    "Snapshot",
    "_departed_custodians",
    "_gone_text",
    "_rotate_after_custodian",
    "_some",
    "as_of_from",
    "load",
    "one_faculty_one_staff",
    "rotate_after_leaver",
    "rule",
    "rules_table",
    "run",
    "school_email",
    "summarize",
    "two_admins",
    "waivers_in_force",
]
