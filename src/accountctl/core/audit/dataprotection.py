"""Rules about children's data on the platforms: a DPIA for every platform in use, reviewed in time,
and the pupil images an account publishes checked against the consent and no-photo lists.
"""

from __future__ import annotations

from datetime import date, timedelta

from accountctl.core.audit.helpers import _runners, _window
from accountctl.core.audit.registry import ESCALATED, rule
from accountctl.core.audit.snapshot import Snapshot

# An account that holds children's data on a platform from the day it is approved.
DPIA_STATUSES = ("approved", "active", "suspended")


def _dpia(snap: Snapshot, a: dict) -> dict | None:
    """The DPIA covering an account's platform: its school's own, else the trust's."""
    return snap.dpias.get((a["platform"], a["school"])) or snap.dpias.get((a["platform"], ""))


def _aimed_at_pupils(a: dict) -> bool:
    return bool(a["pupils"]) and a["pupils"] != "none"


@rule(
    "DPIA_MISSING",
    "warning",
    "a live account on a platform with no DPIA for its school or the trust (an error when aimed at pupils)",
    "Connect §6: 'Risk assessment, including legal risk'; Dartmoor 7.1: official use 'in line with existing "
    "policies, including ... Data Protection' (UK GDPR Art. 35: a DPIA before processing children's data)",
    name="Every platform has a DPIA",
    principle="Before the school puts children's data on a platform, it assesses the risks in a data protection "
    "impact assessment, once for the trust or for the school.",
)
def dpia_missing(snap: Snapshot):
    for a in snap.accounts:
        if a["status"] not in DPIA_STATUSES or _dpia(snap, a) is not None:
            continue
        item = (
            a["id"],
            a["school"],
            f"no DPIA is recorded for {a['platform']} at {a['school']} or for the trust"
            + (" and the account is aimed at pupils" if _aimed_at_pupils(a) else ""),
            f"the DPO records it once done: accountctl platform dpia {a['platform']} --ref T --approved-on DATE",
        )
        yield ESCALATED(*item) if _aimed_at_pupils(a) else item


@rule(
    "DPIA_REVIEW_DUE",
    "warning",
    "the DPIA covering a live account's platform is past its review date",
    "Connect §6: 'Risk assessment, including legal risk'; Dartmoor 1.7: reviewed annually (UK GDPR Art. 35(11): "
    "a DPIA is reviewed when the risk changes)",
    name="DPIAs are kept under review",
    principle="A platform's DPIA is reviewed on the date the trust set, since platforms change what they do with data.",
)
def dpia_review_due(snap: Snapshot):
    for a in snap.accounts:
        found = _dpia(snap, a) if a["status"] in DPIA_STATUSES else None
        if found and found["review_due"] < snap.day:
            yield (
                a["id"],
                a["school"],
                f"the DPIA for {a['platform']} ({found['ref']}) was due for review on {found['review_due']}",
                f"review it, then: accountctl platform dpia {a['platform']} --ref T --approved-on DATE"
                + (f" --school {found['school']}" if found["school"] else ""),
            )


@rule(
    "CONSENT_CHECK_LAPSED",
    "warning",
    "an active account that publishes pupil images with no consent check within window.CONSENT_CHECK_LAPSED days (30)",
    "Huxley 6.3(e): 'parent/carer consent to use, post or publish a photograph or video image of the student'; "
    "Huxley 7.1: the list of those who have objected; Dartmoor 7.3(e): 'appropriate consent before sharing images'; "
    "Connect §5: 'If anyone ... asks not to be filmed or photographed then their wishes should be respected'",
    name="Pupil images checked against consent",
    principle="Someone checks, at least monthly, that the pupils in an account's recent posts all have consent and "
    "none is on the no-photo list (the lists stay in the school's own systems).",
)
def consent_check_lapsed(snap: Snapshot):
    days = _window(snap, "CONSENT_CHECK_LAPSED")
    for a in snap.accounts:
        if a["status"] != "active" or a["pupil_images"] != "yes":
            continue
        checked = a["consent_checked_on"]
        if checked and date.fromisoformat(checked) + timedelta(days=days) >= snap.as_of:
            continue
        yield (
            a["id"],
            a["school"],
            "publishes pupil images and "
            + (f"its posts were last checked against the consent lists on {checked}" if checked else "no consent check")
            + f" (every {days} days)",
            f"check recent posts against the consent and no-photo lists, then: accountctl monitor {a['id']} "
            "--consent-checked",
        )


@rule(
    "RETENTION_DUE",
    "info",
    "a closed incident's text, a leaver's record or a closed account kept past the trust's retention period "
    "(retention.incident, retention.leaver, retention.closed-account; not checked until set)",
    "Connect §6: 'data protection'; Dartmoor 7.1: official use 'in line with existing policies, including ... "
    "Data Protection' (UK GDPR Art. 5(1)(e): kept no longer than necessary; the IRMS toolkit's periods)",
    name="Nothing kept longer than it should be",
    principle="Free text about people, leavers' records and closed accounts are erased once the retention period "
    "the trust set for them is over.",
)
def retention_due(snap: Snapshot):
    def days(kind: str) -> int | None:
        value = snap.settings.get(f"retention.{kind}") or ""
        return int(value) if value else None

    if (keep := days("incident")) is not None:
        for inc in snap.erasable:
            age = snap.days_since(inc["closed_at"])
            if age > keep:
                yield (
                    inc["account"],
                    inc["school"],
                    f"incident {inc['id']} closed {age} days ago: its text is past the {keep}-day retention period",
                    f'accountctl erase incident {inc["id"]} --reason "Retention period over"',
                )
    if (keep := days("closed-account")) is not None:
        for a in snap.closed:
            age = snap.days_since(a["closed_on"])
            if age is not None and age > keep:
                yield (
                    a["id"],
                    a["school"],
                    f"closed {age} days ago, past the {keep}-day retention period",
                    f"once deleted on the platform: accountctl account gone {a['id']}",
                )
    if (keep := days("leaver")) is not None:
        for email, person in sorted(snap.staff.items()):
            age = snap.days_since(person["left_on"]) if person["left_on"] else None
            if age is not None and age > keep:
                yield (
                    None,
                    person["school"],
                    f"{email} left {age} days ago, past the {keep}-day retention period for leavers' records",
                    "remove what the trust no longer needs of them from its own systems; the register keeps only the "
                    "record its history needs",
                )


@rule(
    "CYBER_TRAINING_DUE",
    "warning",
    "an owner or admin of a live account without cyber-security training in the last 365 days",
    "Connect §6: 'Training to include: acceptable use, social media risks, checking of settings, data protection'; "
    "Preston (roles): runners 'have read and understood this policy and received appropriate training' (the DfE's "
    "cyber security standard: training every year for everyone with access)",
    name="Cyber-security training every year",
    principle="Everyone who runs an account has had cyber-security training (phishing, passwords, two-factor "
    "sign-in) within the last year.",
)
def cyber_training_due(snap: Snapshot):
    cutoff = (snap.as_of - timedelta(days=365)).isoformat()
    late: dict[str, bool] = {}  # people run several accounts: each judged once
    for a in snap.accounts:
        if a["status"] not in DPIA_STATUSES:
            continue
        due = []
        for _, email in _runners(snap, a):
            overdue = late.get(email)
            if overdue is None:
                person = snap.staff.get(email)
                # Leavers and people not on the staff list: LEAVER_* and ADMIN_NOT_ELIGIBLE cover them.
                overdue = late[email] = (
                    person is not None
                    and not (person["left_on"] and person["left_on"] <= snap.day)
                    and (not person["cyber_trained_on"] or person["cyber_trained_on"] < cutoff)
                )
            if overdue:
                due.append(email)
        if due:
            yield (
                a["id"],
                a["school"],
                f"no cyber-security training in the last 365 days: {', '.join(due)}",
                f"accountctl staff train {due[0]} --on DATE --kind cyber",
            )
