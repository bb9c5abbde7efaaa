"""Rules about accounts in trouble or at the end of their life: incidents and data breaches dealt
with in time, unofficial accounts found on a platform claimed or taken down, suspended accounts
resolved and closed ones deleted.
"""

from __future__ import annotations

from datetime import datetime, time, timezone

from accountctl import model

from accountctl.core.audit.helpers import _live, _window
from accountctl.core.audit.registry import UPCOMING, rule
from accountctl.core.audit.snapshot import Snapshot

SUSPENDED_DAYS = model.WINDOWS["SUSPENDED_TOO_LONG"]  # SUSPENDED_TOO_LONG
CLOSED_DAYS = model.WINDOWS[
    "CLOSED_NOT_GONE"
]  # CLOSED_NOT_GONE: closed longer, and not confirmed gone from the platform
FOUND_DAYS = model.WINDOWS[
    "UNCLAIMED_ACCOUNT"
]  # UNCLAIMED_ACCOUNT: a found account neither claimed nor reported for longer
REPORTED_DAYS = model.WINDOWS[
    "UNCLAIMED_ACCOUNT_GONE"
]  # UNCLAIMED_ACCOUNT: reported for takedown and still not gone for longer


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
    limit = _window(snap, "SUSPENDED_TOO_LONG")
    for a in _live(snap):
        if a["status"] != "suspended":
            continue
        since = a["suspended_on"] or a["requested_at"][:10]
        days = snap.days_since(since)
        if days > limit:
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
    limit = _window(snap, "CLOSED_NOT_GONE")
    for a in snap.closed:
        since = a["closed_on"] or a["requested_at"][:10]
        days = snap.days_since(since)
        if days > limit:
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
    claim, gone = _window(snap, "UNCLAIMED_ACCOUNT"), _window(snap, "UNCLAIMED_ACCOUNT_GONE")
    for a in snap.found:
        if a["status"] == "found":
            days = snap.days_since(a["found_on"] or a["requested_at"])
            if days > claim:
                yield (
                    a["id"],
                    a["school"],
                    f"found on {a['platform']} ({a['url']}) {days} days ago and neither claimed nor reported",
                    f"accountctl account claim {a['id']} (or report it to {a['platform']}: accountctl account "
                    f"takedown {a['id']} --reported-on DATE)",
                )
        else:
            days = snap.days_since(a["reported_on"])
            if days > gone:
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
    "an incident open for more than 7 days (window.INCIDENT_OPEN; a warning before)",
    "Connect §6: 'Systems for reporting and dealing with abuse and misuse'; Huxley 6.3(h): abuse 'should "
    "immediately be removed and reported to the Headteacher'",
    name="Incidents are dealt with",
    principle="An incident on an account (a hijack, abuse, a safeguarding concern, an impersonation, a data "
    "breach) is worked through its checklist and closed within a week.",
)
def incident_open(snap: Snapshot):

    limit = _window(snap, "INCIDENT_OPEN")
    for inc in snap.incidents:
        days = snap.days_since(inc["opened_at"])
        todo = ", ".join(inc["outstanding"]) or "none (close it)"
        item = (
            inc["account"],
            inc["school"],
            f"{inc['kind']} incident {inc['id']} open since {inc['opened_at'][:10]} ({days} days); still to do: {todo}",
            f"accountctl incident show {inc['id']}",
        )
        yield item if days > limit else UPCOMING(*item)


@rule(
    "BREACH_NOT_REPORTED",
    "error",
    "a breach the DPO decided is reportable, or has not decided on, not reported to the ICO within 72 hours of "
    "its discovery",
    "Connect §6: 'Systems for reporting and dealing with abuse and misuse'; UK GDPR Art. 33: a reportable "
    "breach is notified to the ICO within 72 hours of becoming aware of it",
    name="Data breaches reach the ICO in time",
    principle="The data protection officer decides quickly whether a data breach must be reported, and a "
    "reportable one reaches the ICO within 72 hours of its discovery.",
)
def breach_not_reported(snap: Snapshot):
    from accountctl.core.incidents import BREACH_HOURS

    now = snap.now or datetime.combine(snap.as_of, time.max, timezone.utc)
    for inc in snap.incidents:
        decision = inc.get("decision")
        if inc["kind"] != "breach" or (decision and not decision["reportable"]):
            continue
        since = inc.get("discovered_at") or inc["opened_at"]
        discovered = datetime.fromisoformat(since.replace("Z", "+00:00"))
        if inc.get("reported_at"):
            # Reported, but late: the notification must give the reasons for the delay (Art. 33(1)); it
            # stays a finding while the incident is open, as a record the DPO can answer for.
            late = (datetime.fromisoformat(inc["reported_at"].replace("Z", "+00:00")) - discovered).total_seconds()
            if late / 3600 > BREACH_HOURS:
                yield (
                    inc["account"],
                    inc["school"],
                    f"breach {inc['id']} discovered {since} was reported to the ICO {int(late // 3600)} hours later, "
                    f"after the {BREACH_HOURS} hours allowed",
                    "the ICO must be given the reasons for the delay (UK GDPR Art. 33(1)); once every step is done: "
                    f"accountctl incident close {inc['id']} --outcome T",
                )
            continue
        hours = (now - discovered).total_seconds() / 3600
        if hours > BREACH_HOURS:
            state = "decided reportable" if decision else "not yet decided by the data protection officer"
            fix = (
                f"report it to the ICO now, then: accountctl incident step {inc['id']} ico-reported --reference T"
                if decision
                else f"the DPO decides now: accountctl incident decide {inc['id']} --reportable yes|no --reason T"
            )
            yield (
                inc["account"],
                inc["school"],
                f"breach {inc['id']} discovered {since} ({int(hours)} hours ago), {state}, and not reported to the ICO",
                fix,
            )
