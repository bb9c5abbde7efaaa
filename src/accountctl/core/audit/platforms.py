"""Rules about the accounts as the platforms themselves show them: each term's attestation (who holds
admin rights there, which two-factor method) and the regular monitoring of every live account.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import date

from accountctl.core.audit.helpers import _active, _attested, _days_before, _live, _login, _runners, _who
from accountctl.core.audit.registry import ESCALATED, rule
from accountctl.core.audit.snapshot import Snapshot


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
    name="Nobody else is admin on the platform",
    principle="Only the people the register names as running an account hold admin rights on the platform itself; "
    "a former teacher's personal profile keeps no role on the school's page.",
)
def unknown_platform_admin(snap: Snapshot):
    for a, seen in _attested(snap):
        runners = {email for _, email in _runners(snap, a)}
        for email, shown in seen["admins"]:
            if email in runners:
                continue
            who = _who(snap, email) if email else shown
            if email and snap.has_left(email):
                who += f" (left on {snap.staff[email]['left_on']})"
            elif email is None:
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
    "a registered admin (not a leaver) the last attestation did not find on the platform",
    "Connect §6: administration 'involving at least two members of staff'",
    name="The register matches the platform",
    principle="The people the register names as running an account really hold admin rights on the platform, so "
    "the account never depends on fewer people than it appears to.",
)
def platform_admin_missing(snap: Snapshot):
    for a, seen in _attested(snap):
        there = {email for email, _ in seen["admins"]}
        for role, email in _runners(snap, a):
            gone = snap.gone_on(email, a["school"])
            if gone is not None and gone <= snap.as_of:
                continue  # never tell IT to give a leaver rights: LEAVER_OWNER and LEAVER_ADMIN cover them
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
        if not _login(a):  # no sign-in of its own: each admin's own profile has the 2FA (SPEC "Ways in")
            fix = f"ask each admin to use an authenticator app or a passkey on their own profile, {_platform_fix(a)}"
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
    "active account with no monitoring check recorded in the monitoring period (default 7 days; school days in "
    "term only once `terms` are set)",
    "Connect §5 (monitoring): 'School accounts must be monitored regularly and frequently (preferably 5 days a week "
    "during term time ...)'",
    name="Checked regularly",
    principle="Every live account is checked regularly, and comments on it are answered promptly.",
)
def monitoring_lapsed(snap: Snapshot):
    period = int(snap.settings["monitoring_period_days"])
    cutoff = _days_before(snap, period)
    days_in_term = snap.school_days
    for a in _active(snap):
        if a["monitored_on"] and days_in_term is not None:
            # Term dates set: only school days count, so a holiday never makes a check overdue.
            since = date.fromisoformat(a["monitored_on"])
            gone = bisect_right(days_in_term, snap.as_of) - bisect_right(days_in_term, since)
            if gone <= period:
                continue
            yield (
                a["id"],
                a["school"],
                f"monitoring check last {a['monitored_on']} ({gone} school days ago); period {period} school days",
                f"accountctl monitor {a['id']}",
            )
        elif not a["monitored_on"] or a["monitored_on"] < cutoff:
            days = snap.days_since(a["monitored_on"])
            seen = "never" if days is None else f"last {a['monitored_on']} ({days} days ago)"
            yield (
                a["id"],
                a["school"],
                f"monitoring check {seen}; period {period} days",
                f"accountctl monitor {a['id']}",
            )
