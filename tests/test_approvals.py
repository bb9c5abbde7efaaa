"""The checks of `core/approvals.py`, called directly: who may decide, and what makes a stored decision good.

The CLI tests (test_accounts.py, test_trust.py) show the same checks at work through `approve`,
`audit` and `verify`; here each check gets the input that only it refuses, so removing it fails a
test (the mutation audit in docs/mutation.md).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from accountctl import clock
from accountctl import chain
from accountctl.core import approvals
from accountctl.core.events import canonical
from accountctl.errors import AccessError, InputError
from accountctl import crypto
from test_accounts import CEO, HEAD, ID, T1, T2, T3, approved, requested, trust, underneath, world  # noqa: F401

OAK = {"id": "oak", "central": False}
CENTRAL = {"id": "trust", "central": True}


def staff(email="s@oak.sch.uk", school="oak", roles=("slt",), left_on=None) -> dict:
    return {"email": email, "school": school, "roles": list(roles), "left_on": left_on}


# -- may_decide: who may decide on a school's accounts -----------------------------------------------
def test_someone_who_is_not_staff_may_not_decide():
    assert approvals.may_decide(None, OAK) == (
        "only SLT, the headteacher or the CEO can decide on accounts, and you are not staff in this register"
    )


@pytest.mark.parametrize("roles", [("slt",), ("headteacher",), ("staff", "slt")])
def test_slt_or_the_headteacher_of_the_school_may_decide(roles):
    assert approvals.may_decide(staff(roles=roles), OAK) is None


@pytest.mark.parametrize("roles", [("staff",), ("it",), ("volunteer",), ()])
def test_other_staff_of_the_school_may_not(roles):
    assert approvals.may_decide(staff(roles=roles), OAK) == (
        "only SLT or the headteacher of oak (or the CEO) can decide on its accounts"
    )


def test_slt_of_another_school_may_not():
    assert "only SLT or the headteacher of oak" in approvals.may_decide(staff(school="elm"), OAK)


def test_the_ceo_may_decide_anywhere_and_only_the_ceo_for_a_central_team():
    assert approvals.may_decide(staff(school="trust", roles=("ceo",)), OAK) is None
    assert approvals.may_decide(staff(school="trust", roles=("ceo",)), CENTRAL) is None
    assert approvals.may_decide(staff(school="trust", roles=("slt",)), CENTRAL) == (
        "only the CEO can decide on trust's accounts (a trust's central team)"
    )


def test_a_leaver_may_not_decide_from_the_day_they_leave_by_the_real_date(monkeypatch):
    real = clock.real_today()
    monkeypatch.setenv("ACCOUNTCTL_TODAY", "2020-01-01")  # the date recorded cannot bring them back
    gone = staff(roles=("ceo",), left_on=real.isoformat())
    assert approvals.may_decide(gone, OAK) == "s@oak.sch.uk has left and can no longer decide on accounts"
    tomorrow = staff(roles=("ceo",), left_on=(real + timedelta(days=1)).isoformat())
    assert approvals.may_decide(tomorrow, OAK) is None


# -- case_from / case_hash ------------------------------------------------------------------------
def test_the_case_holds_the_business_case_and_the_people_and_pupils_only_once_said():
    account = {k: f"<{k}>" for k in approvals.CASE_KEYS} | {"owner": T1, "pupils": None, "other": "x"}
    case = approvals.case_from(account, [T1, T2], [T3])
    assert case == {
        "case": {k: f"<{k}>" for k in approvals.CASE_KEYS},
        "people": {"owner": T1, "admins": [T1, T2], "contributors": [T3]},
    }
    said = approvals.case_from(account | {"pupils": "13+"}, [T1], [])
    assert said["case"]["pupils"] == "13+"
    assert approvals.case_hash(case) != approvals.case_hash(said)
    assert approvals.case_hash(case) == approvals.case_hash(json.loads(json.dumps(case)))
    assert len(approvals.case_hash(case)) == 64


# -- a stored decision and its full check ------------------------------------------------------------
def signed(private=None, **over) -> tuple[dict, bytes]:
    """A stored approval as `decide` writes it, signed by `private` (a new key when None); (row, public key)."""
    if private is None:
        private, _ = crypto.ed25519_keypair()
    public = crypto.ed25519_public_of(private)
    case = {"case": {"platform": "facebook", "handle": "oakprimary"}, "people": {"owner": T1, "admins": [T1, T2]}}
    payload = {
        "v": 1,
        "account": ID,
        "school": "oak",
        **case,
        "case_hash": approvals.case_hash(case),
        "decision": "approved",
        "note": "Agreed",
        "approver": HEAD,
        "approver_roles": ["headteacher"],
        "approver_school": "oak",
        "at": "2026-11-12T09:00:00Z",
    }
    payload.update(over)
    message = canonical(payload)
    row = {
        "id": 7,
        "payload": message.decode("utf-8"),
        "signature": crypto.sign(private, message),
        "public_key": public,
        **{k: payload[k] for k in ("account", "decision", "approver", "at", "note", "case_hash")},
    }
    return row, public


# the signed payload rewritten to say its approver was of another school (so the signature fails too)
ANOTHER_SCHOOL = (
    """UPDATE approvals SET payload = replace(payload, '"approver_school":"oak"', '"approver_school":"elm"')"""
)
ACCOUNT = {"id": ID, "school": "oak", "requested_by": T3}


def test_a_good_decision_has_no_problems():
    row, _ = signed()
    assert approvals.signature_problems(row, HEAD) == []
    assert approvals.authority_problems_in(row, ACCOUNT, False) == []


def test_a_signature_that_does_not_verify():
    row, _ = signed()
    row["signature"] = bytes(64)
    assert approvals.signature_problems(row, HEAD) == [f"decision 7 on {ID}: the signature does not verify"]


def test_a_key_that_is_not_the_approvers():
    row, _ = signed()
    assert approvals.signature_problems(row, T1) == [f"decision 7 on {ID}: signed with a key that is not {HEAD}'s"]
    assert approvals.signature_problems(row, None) == [f"decision 7 on {ID}: signed with a key that is not {HEAD}'s"]


@pytest.mark.parametrize("field", ["account", "decision", "approver", "at", "note", "case_hash"])
def test_each_stored_column_must_be_what_was_signed(field):
    row, _ = signed()
    row[field] = "changed"
    problems = approvals.signature_problems(row, row["approver"])
    assert problems == [f"decision 7 on {row['account']}: the stored {field} differs from what was signed"]


@pytest.mark.parametrize("payload", ["not json", "[1, 2]", "null", "3"])
def test_an_unreadable_payload(payload):
    row, _ = signed()
    row["payload"] = payload
    assert approvals.signature_problems(row, HEAD) == [f"decision 7 on {ID}: its signed payload is not readable"]


def test_a_signed_case_that_does_not_match_its_hash():
    row, _ = signed(case_hash="0" * 64)
    assert approvals.signature_problems(row, HEAD) == [
        f"decision 7 on {ID}: the signed business case does not match its hash"
    ]


@pytest.mark.parametrize("drop", ["case", "people"])
def test_a_signed_payload_without_a_business_case(drop):
    row, _ = signed(**{drop: None})
    assert approvals.signature_problems(row, HEAD) == [f"decision 7 on {ID}: the signed payload has no business case"]


# -- authority: what the signer was when they signed ---------------------------------------------------
@pytest.mark.parametrize(
    "over",
    [
        {"approver_roles": ["staff"]},
        {"approver_roles": []},
        {"approver_roles": None},
        {"approver_school": "elm"},
        {"approver_school": None},
    ],
)
def test_a_signer_who_was_not_slt_or_head_of_the_school(over):
    row, _ = signed(**over)
    assert approvals.authority_problems_in(row, ACCOUNT, False) == [f"{HEAD} was not SLT or headteacher of oak"]


def test_the_ceo_may_approve_anywhere_and_only_the_ceo_a_central_teams_account():
    ceo, _ = signed(approver_roles=["ceo"], approver_school="trust")
    assert approvals.authority_problems_in(ceo, ACCOUNT, False) == []
    assert approvals.authority_problems_in(ceo, ACCOUNT | {"school": "trust"}, True) == []
    slt, _ = signed(approver_school="trust", approver_roles=["slt"])
    assert approvals.authority_problems_in(slt, ACCOUNT | {"school": "trust"}, True) == [f"{HEAD} was not the CEO"]


def test_an_approval_of_ones_own_request():
    row, _ = signed()
    mine = ACCOUNT | {"requested_by": HEAD}
    assert approvals.authority_problems_in(row, mine, False) == [f"{HEAD} approved their own request"]
    assert approvals.authority_problems_in(row, ACCOUNT | {"requested_by": None}, False) == []


@pytest.mark.parametrize("payload", ["not json", "[1]"])
def test_an_unreadable_payload_grants_no_authority(payload):
    row, _ = signed()
    row["payload"] = payload
    assert approvals.authority_problems_in(row, ACCOUNT, False) == [f"{HEAD} was not SLT or headteacher of oak"]


# -- audit_problems: a decision counts while it is the row the open checked ----------------------------
def test_a_decision_as_checked_needs_no_signature_check_but_not_its_own_requester():
    row, _ = signed(approver_roles=["staff"])  # would fail the full authority check
    row["checked_digest"] = approvals.signed_digest(row)
    assert approvals.audit_problems(row, ACCOUNT, False, HEAD) == []
    assert approvals.audit_problems(row, ACCOUNT | {"requested_by": HEAD}, False, HEAD) == [
        f"{HEAD} approved their own request"
    ]


@pytest.mark.parametrize("column", [*chain.DECISION_COLUMNS, "payload", "signature", "public_key"])
def test_any_change_to_a_checked_decision_brings_back_the_full_check(column):
    row, _ = signed()
    row["checked_digest"] = approvals.signed_digest(row)
    row[column] = b"\x00" * 32 if column in ("signature", "public_key") else "changed"
    assert approvals.signed_digest(row) != row["checked_digest"]
    assert approvals.audit_problems(row, ACCOUNT, False, HEAD)  # the full check finds something


def test_a_decision_the_open_did_not_check_gets_the_full_check():
    row, _ = signed(approver_roles=["staff"])
    for digest in (None, ""):
        row["checked_digest"] = digest
        assert approvals.audit_problems(row, ACCOUNT, False, HEAD) == [f"{HEAD} was not SLT or headteacher of oak"]


def test_a_well_signed_decision_no_signed_save_recorded_does_not_count():
    """A row an insider copied in, signed by the head for something else at another time: nothing vouches for it."""
    row, _ = signed()
    row["checked_digest"] = None
    assert approvals.audit_problems(row, ACCOUNT, False, HEAD) == [
        f"decision 7 on {ID} is not the one its approver's signed save recorded"
    ]


def test_the_digest_covers_each_part_with_its_length():
    row, _ = signed()
    moved = dict(row, note=row["note"] + "x", at=row["at"][:-1])  # same bytes overall, split differently
    assert approvals.signed_digest(row) != approvals.signed_digest(moved)
    assert approvals.signed_digest(row) == approvals.signed_digest(dict(row))


# -- over a register: approval_state, decide, verify_all -------------------------------------------------
def test_approval_state_of_an_account(run, approved):
    with underneath(approved, write=False) as reg:
        account = dict(reg.db.execute("SELECT * FROM accounts WHERE id = ?", (ID,)).fetchone())
        decision, problems, changed = approvals.approval_state(reg.db, account)
        assert decision["approver"] == HEAD and decision["decision"] == "approved"
        assert problems == [] and changed is False
        assert approvals.approval_state(reg.db, account | {"aim": "Something else"})[2] is True
        assert approvals.approval_state(reg.db, account | {"requested_by": HEAD})[1] == [
            f"{HEAD} approved their own request"
        ]
        # a decision changed underneath gets the full check, and the school's central flag reaches it
        reg.db.execute("UPDATE approvals SET signature = zeroblob(64)")
        assert approvals.approval_state(reg.db, account)[1] == [f"decision 1 on {ID}: the signature does not verify"]
        reg.db.execute("UPDATE schools SET central = 1 WHERE id = 'oak'")
        assert approvals.approval_state(reg.db, account)[1] == [
            f"decision 1 on {ID}: the signature does not verify",
            f"{HEAD} was not the CEO",
        ]


def test_approval_state_without_an_approval(run, requested):
    with underneath(requested) as reg:
        account = dict(reg.db.execute("SELECT * FROM accounts WHERE id = ?", (ID,)).fetchone())
        assert approvals.approval_state(reg.db, account) == (None, [], False)


def test_a_rejection_is_no_approval(run, requested):
    from conftest import ok

    ok(run(["--as", HEAD, "reject", ID, "--reason", "Not now"]))
    with underneath(requested) as reg:
        account = dict(reg.db.execute("SELECT * FROM accounts WHERE id = ?", (ID,)).fetchone())
        assert approvals.approval_state(reg.db, account) == (None, [], False)


def refusal(kind, text):
    """pytest.raises for exactly this message (the whole of it, so a changed word fails)."""
    import re

    return pytest.raises(kind, match=f"^{re.escape(text)}$")


def test_decide_refusals_in_order(run, requested):
    with underneath(requested) as reg:
        db = reg.db
        with refusal(
            AccessError,
            "only SLT, the headteacher or the CEO can decide on accounts, and you are not staff in this register",
        ):
            approvals.decide(db, "nobody@oak.sch.uk", None, ID, "approved", None)
        with refusal(AccessError, "only SLT or the headteacher of oak (or the CEO) can decide on its accounts"):
            approvals.decide(db, T1, None, ID, "approved", None)
        for blank in (None, "", "   ", "\t\n"):
            with refusal(InputError, "a rejection needs a reason (--reason)"):
                approvals.decide(db, HEAD, None, ID, "rejected", blank)
        with refusal(
            AccessError, "deciding needs your own signing key: unlock with your passphrase, not the recovery key"
        ):
            approvals.decide(db, HEAD, None, ID, "approved", "ok")
        stranger, _ = crypto.ed25519_keypair()
        with refusal(AccessError, f"{HEAD} has no signing key in this register, or yours is not the one granted"):
            approvals.decide(db, HEAD, stranger, ID, "approved", "ok")
        db.execute("UPDATE accounts SET requested_by = ? WHERE id = ?", (HEAD, ID))
        with refusal(InputError, f"you requested {ID}; someone else in SLT must decide on it"):
            approvals.decide(db, HEAD, None, ID, "approved", None)
        for status in ("closed", "gone"):
            db.execute("UPDATE accounts SET status = ? WHERE id = ?", (status, ID))
            with refusal(InputError, f"{ID} is {status}; there is nothing to decide"):
                approvals.decide(db, HEAD, None, ID, "approved", None)


def test_an_incomplete_case_names_every_gap_and_how_to_complete_it(run, requested):
    with underneath(requested) as reg:
        reg.db.execute("UPDATE accounts SET aim = NULL, audience = ' ' WHERE id = ?", (ID,))
        with refusal(
            InputError,
            f"cannot approve {ID}: its business case is incomplete: missing the aim (--aim T); "
            f"missing the audience (--audience T); IT completes it with 'accountctl account update {ID}'",
        ):
            approvals.decide(reg.db, HEAD, None, ID, "approved", None)


def test_a_complete_case_with_too_few_eligible_admins_is_not_sent_to_account_update(run, requested):
    with underneath(requested) as reg:
        reg.db.execute("DELETE FROM account_people WHERE account = ? AND email = ?", (ID, T2))
        with refusal(
            InputError,
            f"cannot approve {ID}: its business case is incomplete: 1 eligible admin(s), two needed "
            f"(accountctl account admin add {ID} EMAIL)",
        ):
            approvals.decide(reg.db, HEAD, None, ID, "approved", None)


@pytest.mark.parametrize("decision, option", [("approved", "--note"), ("rejected", "--reason")])
def test_a_note_too_long_names_the_option_it_came_from(run, requested, decision, option):
    from accountctl.store.register import open_register
    from conftest import PASSPHRASE

    with open_register(requested, actor=HEAD, passphrase_source=lambda: PASSPHRASE, write=True) as reg:
        with refusal(InputError, f"{option} is longer than 2000 characters"):
            approvals.decide(reg.db, HEAD, reg.keys.signing_private, ID, decision, "x" * 2001)


def test_decide_returns_and_records_the_decision(run, requested):
    from accountctl.store.register import open_register
    from conftest import PASSPHRASE

    with open_register(requested, actor=HEAD, passphrase_source=lambda: PASSPHRASE, write=True) as reg:
        result = approvals.decide(reg.db, HEAD, reg.keys.signing_private, ID, "approved", "Agreed at SLT")
        row = dict(reg.db.execute("SELECT * FROM approvals").fetchone())
        event = dict(reg.db.execute("SELECT * FROM events ORDER BY seq DESC LIMIT 1").fetchone())
    assert result == {"account": ID, "decision": "approved", "approver": HEAD, "at": row["at"], "status": "approved"}
    assert (event["actor"], event["action"], event["target"], event["account"]) == (HEAD, "account.approve", ID, ID)
    assert json.loads(event["details"]) == {
        "note": "Agreed at SLT",
        "case_hash": row["case_hash"],
        "status": "approved",
        "decision": row["id"],
    }


def test_the_signed_payload_holds_what_a_later_check_reads(run, approved):
    with underneath(approved, write=False) as reg:
        row = dict(reg.db.execute("SELECT * FROM approvals").fetchone())
    payload = json.loads(row["payload"])
    assert payload["v"] == approvals.PAYLOAD_VERSION == 1
    assert payload["school"] == "oak" and payload["account"] == ID
    assert payload["approver"] == HEAD and payload["approver_school"] == "oak"
    assert set(payload["approver_roles"]) == {"headteacher", "slt"}
    assert payload["decision"] == "approved" and payload["note"] == row["note"]
    assert set(payload) == {
        "v",
        "account",
        "school",
        "case",
        "people",
        "case_hash",
        "decision",
        "note",
        "approver",
        "approver_roles",
        "approver_school",
        "at",
    }
    assert row["payload"].encode("utf-8") == canonical(payload)
    assert crypto.verify_signature(bytes(row["public_key"]), bytes(row["signature"]), row["payload"].encode())
    assert row["verified_digest"] is None  # nothing trusts a digest in the register: the open checks decisions


def test_decisions_move_the_status(run, requested):
    """approve: requested or rejected -> approved; reject: requested or approved -> rejected."""
    from accountctl.store.register import open_register
    from conftest import PASSPHRASE

    def decide(decision, aim):
        with open_register(requested, actor=HEAD, passphrase_source=lambda: PASSPHRASE, write=True) as reg:
            reg.db.execute("UPDATE accounts SET aim = ? WHERE id = ?", (aim, ID))  # a new case each time
            result = approvals.decide(reg.db, HEAD, reg.keys.signing_private, ID, decision, "why")
        assert result["status"] == _status(requested)
        return result["status"]

    assert decide("rejected", "First aim") == "rejected"
    assert decide("approved", "Second aim") == "approved"
    assert decide("approved", "Third aim") == "approved"
    assert decide("rejected", "Fourth aim") == "rejected"
    assert decide("rejected", "Fifth aim") == "rejected"


def test_a_decision_on_an_active_account_keeps_it_active(run, approved):
    from conftest import ok
    from test_accounts import hold_password

    ok(run(["account", "notify-head", ID]))
    hold_password(run)
    ok(run(["account", "activate", ID]))
    ok(run(["account", "update", ID, "--aim", "Term dates for parents"]))
    ok(run(["--as", HEAD, "reject", ID, "--reason", "Not this"]))
    assert _status(approved) == "active"
    ok(run(["account", "update", ID, "--aim", "News for parents"]))
    ok(run(["--as", HEAD, "approve", ID]))
    assert _status(approved) == "active"


def _status(path) -> str:
    with underneath(path, write=False) as reg:
        return reg.db.execute("SELECT status FROM accounts WHERE id = ?", (ID,)).fetchone()[0]


def test_a_decision_whose_signature_no_longer_checks_out_may_be_replaced(run, approved):
    from conftest import ok

    ok(run(["--as", HEAD, "approve", ID]), 2)  # the same case, still good: deciding twice is refused
    with underneath(approved) as reg:
        reg.db.execute("UPDATE approvals SET signature = zeroblob(64), verified_digest = NULL")
    ok(run(["--as", HEAD, "approve", ID]))  # the stored decision no longer verifies: a new one is allowed


def test_an_approval_whose_signer_no_longer_had_authority_may_be_replaced(run, trust):
    """oak becomes a central team: the head's approval (signed and intact) no longer counts, so the CEO may decide."""
    from conftest import ok
    from test_accounts import request_argv

    ok(run(request_argv()))
    ok(run(["--as", HEAD, "approve", ID]))
    with underneath(trust) as reg:
        reg.db.execute("UPDATE schools SET central = 1 WHERE id = 'oak'")
    ok(run(["--as", CEO, "approve", ID]))
    ok(run(["--as", CEO, "approve", ID]), 2)  # and the CEO's own stands: deciding twice is refused


def test_a_rejection_is_replaced_only_when_its_signature_fails(run, trust):
    """A rejection carries no authority check: the same case, rejected by a head of what is now a central team, stands."""
    from conftest import ok
    from test_accounts import request_argv

    ok(run(request_argv()))
    ok(run(["--as", HEAD, "reject", ID, "--reason", "Not now"]))
    with underneath(trust) as reg:
        reg.db.execute("UPDATE schools SET central = 1 WHERE id = 'oak'")
    ok(run(["--as", CEO, "reject", ID, "--reason", "Still no"]), 2)


def test_verify_all_names_each_problem(run, approved):
    with underneath(approved) as reg:
        db = reg.db
        assert approvals.verify_all(db) == []
        db.execute("UPDATE accounts SET case_hash = ? WHERE id = ?", ("0" * 64, ID))
        assert approvals.verify_all(db) == [f"account {ID}: its stored case hash does not match its business case"]
        db.execute("UPDATE accounts SET case_hash = NULL, aim = 'Other' WHERE id = ?", (ID,))
        at = db.execute("SELECT at FROM approvals").fetchone()[0]
        underneath_msg = (
            f"account {ID}: its business case or people differ from the decision of {at} "
            "and no recorded change explains it"
        )
        for changed_at in (None, "2000-01-01T00:00:00Z"):
            db.execute("UPDATE accounts SET case_changed_at = ? WHERE id = ?", (changed_at, ID))
            assert approvals.verify_all(db) == [underneath_msg]
        db.execute("UPDATE accounts SET case_changed_at = ? WHERE id = ?", ("2999-01-01T00:00:00Z", ID))
        assert approvals.verify_all(db) == []  # a recorded change after the decision explains it
        db.execute("UPDATE accounts SET case_changed_at = ? WHERE id = ?", (at, ID))
        assert approvals.verify_all(db) == []  # the same moment is not before the decision
        db.execute(ANOTHER_SCHOOL)
        problems = approvals.verify_all(db)
        assert f"decision 1 on {ID}: {HEAD} was not SLT or headteacher of oak" in problems
        assert f"decision 1 on {ID}: the signature does not verify" in problems


def test_verify_all_reports_every_decision_not_only_the_last(run, requested):
    from conftest import ok

    ok(run(["--as", HEAD, "reject", ID, "--reason", "Not now"]))
    with underneath(requested) as reg:
        reg.db.execute(
            "UPDATE accounts SET status = 'requested', aim = 'Term dates', case_hash = NULL WHERE id = ?", (ID,)
        )
    ok(run(["--as", HEAD, "approve", ID]))
    with underneath(requested) as reg:
        reg.db.execute("UPDATE approvals SET signature = zeroblob(64) WHERE id = 1")
        assert approvals.verify_all(reg.db) == [f"decision 1 on {ID}: the signature does not verify"]


def test_verify_all_reports_a_decision_on_an_account_that_does_not_exist(run, approved):
    with underneath(approved) as reg:
        reg.db.execute("PRAGMA foreign_keys = OFF")
        reg.db.execute("UPDATE approvals SET account = 'oak-x-gone'")
        problems = approvals.verify_all(reg.db)
        assert "decision 1 is on an account that does not exist" in problems


def test_verify_all_checks_authority_only_for_approvals(run, requested):
    from conftest import ok

    ok(run(["--as", HEAD, "reject", ID, "--reason", "Not now"]))
    with underneath(requested) as reg:
        reg.db.execute("UPDATE schools SET central = 1 WHERE id = 'oak'")
        assert approvals.verify_all(reg.db) == []


def test_verify_all_uses_the_central_flag(run, approved):
    with underneath(approved) as reg:
        reg.db.execute("UPDATE schools SET central = 1 WHERE id = 'oak'")
        assert approvals.verify_all(reg.db) == [f"decision 1 on {ID}: {HEAD} was not the CEO"]
