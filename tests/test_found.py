"""Found accounts: recorded, claimed or reported for takedown, gone; UNCLAIMED_ACCOUNT at 14 and 30 days.

Registers start from `base` (see test_audit_rules) on TODAY.
"""

from __future__ import annotations

import json

from accountctl.core import accounts as core
from conftest import ok, refused
from test_audit_rules import (
    FB,
    HEAD,
    T1,
    T2,
    audit,
    base,  # noqa: F401
    day,
    fix_argv,
    found,
    one,
    underneath,
)

PTA = "oak-facebook-oakpta"
FOUND = [
    "account",
    "found",
    "--school",
    "oak",
    "--platform",
    "facebook",
    "--handle",
    "oakpta",
    "--url",
    "https://facebook.com/oakpta",
    "--source",
    "A parent's tip",
]


def at(today: str) -> dict:
    return {"ACCOUNTCTL_TODAY": today}


def record_found(run, today: str | None = None) -> str:
    result = ok(run(FOUND, env=at(today) if today else None))
    assert result.stdout.strip() == PTA
    return PTA


def test_found_is_recorded_listed_and_shown(run, base):
    record_found(run)
    listed = json.loads(ok(run(["account", "list", "--status", "found", "--json"])).stdout)
    assert [a["id"] for a in listed] == [PTA]
    shown = json.loads(ok(run(["account", "show", PTA, "--json"])).stdout)
    assert (shown["status"], shown["found_source"], shown["owner"]) == ("found", "A parent's tip", None)
    csv_out = ok(run(["account", "list", "--status", "found", "--format", "csv"])).stdout
    assert PTA in csv_out and FB not in csv_out
    # anyone with access may record one: an SLT member without vault access
    ok(run(["--as", HEAD, *FOUND[:7], "oakpta2", "--url", "https://facebook.com/oakpta2", "--source", "search"]))
    with underneath(base) as db:
        actions = [r[0] for r in db.execute("SELECT action FROM events WHERE account = ?", (PTA,))]
    assert actions == ["account.found"]


def test_unclaimed_after_14_days_and_claim_clears_it(run, base):
    record_found(run)
    for when, expected in ((day(14), 0), (day(15), 1)):
        assert len(found(audit(run, "--as-of", when)[0], "UNCLAIMED_ACCOUNT")) == expected, when
    hit = one(audit(run, "--as-of", day(15))[0], "UNCLAIMED_ACCOUNT", PTA)
    assert hit["severity"] == "error" and "15 days ago" in hit["message"]
    ok(run(fix_argv(hit), env=at(day(15))))
    shown = json.loads(ok(run(["account", "show", PTA, "--json"])).stdout)
    assert shown["status"] == "requested"
    report = audit(run, "--as-of", day(15))[0]
    assert found(report, "UNCLAIMED_ACCOUNT") == []
    assert found(report, "TWO_ADMINS", PTA)  # now a request like any other: it needs its people
    # its people and case can then be completed like any request
    ok(run(["account", "transfer", PTA, "--to", T1]))
    ok(run(["account", "admin", "add", PTA, T2]))
    ok(run(["account", "update", PTA, "--email", "pta@oak.sch.uk"]))


def test_reported_not_gone_after_30_days_then_gone(run, base):
    record_found(run)
    ok(run(["account", "takedown", PTA, "--reported-on", day(10), "--reference", "FB-123"], env=at(day(10))))
    assert found(audit(run, "--as-of", day(20))[0], "UNCLAIMED_ACCOUNT") == []  # reported in time
    for when, expected in ((day(40), 0), (day(41), 1)):
        assert len(found(audit(run, "--as-of", when)[0], "UNCLAIMED_ACCOUNT")) == expected, when
    hit = one(audit(run, "--as-of", day(41))[0], "UNCLAIMED_ACCOUNT", PTA)
    assert "FB-123" in hit["fix"]
    ok(run(fix_argv(hit), env=at(day(41))))
    assert found(audit(run, "--as-of", day(41))[0], "UNCLAIMED_ACCOUNT") == []
    shown = json.loads(ok(run(["account", "show", PTA, "--json"])).stdout)
    assert (shown["status"], shown["reported_on"], shown["takedown_reference"]) == ("gone", day(10), "FB-123")


def test_a_found_account_can_be_gone_directly(run, base):
    record_found(run)
    ok(run(["account", "gone", PTA]))
    assert json.loads(ok(run(["account", "show", PTA, "--json"])).stdout)["status"] == "gone"


def test_bad_input_is_refused_and_changes_nothing(run, base):
    record_found(run)
    refused(run, base, ["account", "claim", FB], 2, "only a found account")
    refused(run, base, ["account", "takedown", FB, "--reported-on", day(0)], 2, "only a found account")
    refused(run, base, ["account", "gone", FB], 2, "active", "close it first")
    refused(run, base, FOUND, 2, "already")
    refused(run, base, ["account", "takedown", PTA, "--reported-on", day(5)], 2, "future")
    refused(run, base, [*FOUND[:-1], ""], 2, "source")
    ok(run(["account", "takedown", PTA, "--reported-on", day(0)]))
    refused(run, base, ["account", "claim", PTA], 2, "reported")
    refused(run, base, ["account", "takedown", PTA, "--reported-on", day(0)], 2, "reported")
    refused(run, base, ["--as", HEAD, "account", "claim", PTA], 3)


def test_core_found_refuses_a_bad_handle(run, base):
    import pytest

    from accountctl.errors import InputError

    with underneath(base) as db, pytest.raises(InputError, match="handle"):
        core.found(db, "x@oak.sch.uk", "oak", "facebook", "two words", "https://facebook.com/x", "tip")
