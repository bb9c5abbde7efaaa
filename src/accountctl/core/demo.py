"""A sample trust with realistic problems, built through the same core functions the commands use.

Oakfield Learning Trust (fictional): two schools and a central team, a dozen accounts, and the
problems a first audit finds: a leaver who still owns an account (linked to his own mailbox), an
unapproved legacy account linked to a personal email with a volunteer as its admin and no business
case, a guideline breach, an account without 2FA, a request SLT has left for months, a TikTok account
asked for Year 4 pupils, an account for pupils whose parents were never told, one suspended and one
closed and left hanging, a page nobody registered that a parent found, an incident still open, a
termly review the leaver's profile still shows up in as a page admin, a single IT custodian, and a policy nobody has reviewed for over a year.
The trust has written its own clause references for two rules.

Ways in: the Facebook page has no password (its admins act through their own profiles) and is owned by the
trust's Meta business portfolio; the school posts to it through Hootsuite, where the leaver still holds a
seat; its linked shared mailbox still counts the leaver as a member. `offboard` of the leaver lists all three.

Safeguarding and data protection (demo_safeguarding.py): a DSL, a DPO and a chair of governors, a DPIA for
Facebook and none for the other platforms, an allegation routed to the LADO, a breach the DPO decided within
72 hours, one decided not reportable, and an incident whose text was erased.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from accountctl import clock
from accountctl.core import (
    access,
    accounts,
    approvals,
    attestation,
    config,
    directory,
    incidents,
    mailboxes,
    oversight,
    vault,
    waysin,
)

PASSPHRASE = "oakfield demo passphrase"
CUSTODIAN = "ira.patel@oakfieldtrust.org.uk"
CEO = "catherine.ellis@oakfieldtrust.org.uk"
HEADS = {"oakfield": "helen.ward@oakfield.sch.uk", "brookside": "david.okafor@brookside.sch.uk"}
LEAVER = "tom.brown@oakfield.sch.uk"

SCHOOLS = [
    ("central", "Oakfield Learning Trust central team", ["oakfieldtrust.org.uk"], True),
    ("oakfield", "Oakfield Primary School", ["oakfield.sch.uk"], False),
    ("brookside", "Brookside Academy", ["brookside.sch.uk"], False),
]
STAFF = [
    (CUSTODIAN, "Ira Patel", "central", ["it"]),
    (CEO, "Catherine Ellis", "central", ["ceo", "slt"]),
    ("marcus.green@oakfieldtrust.org.uk", "Marcus Green", "central", ["staff"]),
    ("nadia.rahman@oakfieldtrust.org.uk", "Nadia Rahman", "central", ["staff"]),
    (HEADS["oakfield"], "Helen Ward", "oakfield", ["headteacher", "slt"]),
    ("raj.mehta@oakfield.sch.uk", "Raj Mehta", "oakfield", ["slt"]),
    ("james.smith@oakfield.sch.uk", "James Smith", "oakfield", ["staff"]),
    ("aisha.khan@oakfield.sch.uk", "Aisha Khan", "oakfield", ["staff"]),
    ("priya.jones@oakfield.sch.uk", "Priya Jones", "oakfield", ["staff"]),
    (LEAVER, "Tom Brown", "oakfield", ["staff"]),
    ("grace.hill@oakfield.sch.uk", "Grace Hill", "oakfield", ["volunteer"]),
    (HEADS["brookside"], "David Okafor", "brookside", ["headteacher", "slt"]),
    ("sara.lee@brookside.sch.uk", "Sara Lee", "brookside", ["slt"]),
    ("ben.carter@brookside.sch.uk", "Ben Carter", "brookside", ["staff"]),
    ("lucy.hall@brookside.sch.uk", "Lucy Hall", "brookside", ["staff"]),
    ("omar.haddad@brookside.sch.uk", "Omar Haddad", "brookside", ["staff"]),
]
# Grace, a parent helper, was never trained: she may not even be an additional admin of the PTA page.
UNTRAINED = {"omar.haddad@brookside.sch.uk", "grace.hill@oakfield.sch.uk"}

# (school, platform, handle, category, linked email, owner, other admins, contributors, aim, what happens next)
# "live": approved, notified, IT holds its password and 2FA seed, active; "-no-2fa", "-suspended", "-closed" vary it.
REQUESTS = [
    (
        "central",
        "meta-business",
        "OakfieldTrust",
        "service",
        "comms@oakfieldtrust.org.uk",
        "marcus.green@oakfieldtrust.org.uk",
        ["nadia.rahman@oakfieldtrust.org.uk"],
        [],
        "The trust's Meta business portfolio: it owns the schools' Facebook pages",
        "live",
    ),
    (
        "oakfield",
        "hootsuite",
        "OakfieldPosts",
        "service",
        "office@oakfield.sch.uk",
        "james.smith@oakfield.sch.uk",
        ["aisha.khan@oakfield.sch.uk"],
        [LEAVER],
        "Scheduling posts to the school's channels",
        "live",
    ),
    (
        "oakfield",
        "facebook",
        "OakfieldPrimary",
        "faculty",
        "office@oakfield.sch.uk",
        "james.smith@oakfield.sch.uk",
        ["aisha.khan@oakfield.sch.uk"],
        ["grace.hill@oakfield.sch.uk"],
        "News and celebrations for parents",
        "live",
    ),
    (
        "oakfield",
        "instagram",
        "OakfieldPE",
        "faculty",
        LEAVER,
        LEAVER,
        ["priya.jones@oakfield.sch.uk"],
        [],
        "Fixtures and results for the PE department",
        "live",
    ),
    (
        "oakfield",
        "x",
        "OakfieldNews",
        "faculty",
        "office@oakfield.sch.uk",
        "aisha.khan@oakfield.sch.uk",
        ["james.smith@oakfield.sch.uk"],
        [],
        "Closures and urgent notices",
        "live",
    ),
    (
        "oakfield",
        "youtube",
        "OakfieldMusic",
        "faculty",
        "music@oakfield.sch.uk",
        "priya.jones@oakfield.sch.uk",
        ["james.smith@oakfield.sch.uk"],
        [],
        "Concert recordings for families",
        "requested",
    ),
    (
        "oakfield",
        "tiktok",
        "Oakfield4B",
        "faculty",
        "office@oakfield.sch.uk",
        "priya.jones@oakfield.sch.uk",
        ["aisha.khan@oakfield.sch.uk"],
        [],
        "Class 4B's science challenges",
        "requested-later",
    ),
    (
        "oakfield",
        "flickr",
        "OakfieldPhotos",
        "faculty",
        "office@oakfield.sch.uk",
        "raj.mehta@oakfield.sch.uk",
        ["james.smith@oakfield.sch.uk"],
        [],
        "Photos of school events",
        "live-closed",
    ),
    (
        "brookside",
        "facebook",
        "BrooksideAcademy",
        "faculty",
        "office@brookside.sch.uk",
        "ben.carter@brookside.sch.uk",
        ["lucy.hall@brookside.sch.uk"],
        [],
        "School news for parents",
        "live",
    ),
    (
        "brookside",
        "instagram",
        "BrooksideSport",
        "faculty",
        "sport@brookside.sch.uk",
        "lucy.hall@brookside.sch.uk",
        ["ben.carter@brookside.sch.uk"],
        [],
        "Sports teams and results",
        "live-no-2fa",
    ),
    (
        "brookside",
        "x",
        "BrooksideHead",
        "staff",
        "head@brookside.sch.uk",
        HEADS["brookside"],
        ["sara.lee@brookside.sch.uk"],
        [],
        "The headteacher's updates",
        "live",
    ),
    (
        "brookside",
        "youtube",
        "BrooksideScience",
        "faculty",
        "science@brookside.sch.uk",
        "omar.haddad@brookside.sch.uk",
        ["ben.carter@brookside.sch.uk"],
        [],
        "Science experiments for homework",
        "approved",
    ),
    (
        "brookside",
        "tiktok",
        "BrooksideDrama",
        "faculty",
        "drama@brookside.sch.uk",
        "lucy.hall@brookside.sch.uk",
        ["omar.haddad@brookside.sch.uk"],
        [],
        "Drama club clips",
        "rejected",
    ),
    (
        "central",
        "linkedin",
        "OakfieldTrust",
        "faculty",
        "comms@oakfieldtrust.org.uk",
        "marcus.green@oakfieldtrust.org.uk",
        ["nadia.rahman@oakfieldtrust.org.uk"],
        [],
        "Recruitment and trust news",
        "live",
    ),
    (
        "central",
        "x",
        "OakfieldTrust",
        "faculty",
        "comms@oakfieldtrust.org.uk",
        "nadia.rahman@oakfieldtrust.org.uk",
        ["marcus.green@oakfieldtrust.org.uk"],
        [],
        "Trust announcements",
        "live-suspended",
    ),
]
# Accounts aimed at pupils: (the youngest pupils' age, the audience); every other one says --pupils none.
PUPILS = {
    "Oakfield4B": ("8", "Year 4 pupils (age 8-9) and their parents"),
    "BrooksideSport": ("14", "Pupils in the Year 10 and 11 teams, and their families"),
}
# The trust's own policy, cited in place of the published policies the rules are drawn from.
CLAUSES = {
    "TWO_ADMINS": "Oakfield Social Media Policy 4.2",
    "PUPILS_UNDER_PLATFORM_AGE": "Oakfield Social Media Policy 6.1",
}
LEGACY_CSV = (
    "id,school,platform,handle,url,category,email,owner,admins,contributors,status\n"
    "oakfield-facebook-oakfieldpta,oakfield,facebook,OakfieldPTA,https://www.facebook.com/OakfieldPTA,faculty,"
    "oakfieldpta@gmail.com,aisha.khan@oakfield.sch.uk,grace.hill@oakfield.sch.uk,,active\n"
)
# The records a channel is reached through (SPEC "Ways in"): its business portfolio and the tool it is posted from.
VIA = {"OakfieldPrimary": ["central-meta-business-oakfieldtrust", "oakfield-hootsuite-oakfieldposts"]}
SHARED_MAILBOX = "office@oakfield.sch.uk"
URLS = {
    "meta-business": "https://business.facebook.com/settings/{}",
    "hootsuite": "https://hootsuite.com/dashboard/{}",
    "facebook": "https://www.facebook.com/{}",
    "instagram": "https://www.instagram.com/{}",
    "x": "https://x.com/{}",
    "youtube": "https://www.youtube.com/@{}",
    "tiktok": "https://www.tiktok.com/@{}",
    "linkedin": "https://www.linkedin.com/company/{}",
    "flickr": "https://www.flickr.com/photos/{}",
}


def build(path: Path, store) -> dict:
    """Create the demo register at `path`; returns what the demo prints next.

    `store` is the register store (store/register/: `create`, `open_register`), which the command
    hands in: the core opens nothing by itself.
    """
    open_register = store.open_register
    today = clock.today()
    start = today - timedelta(days=120)
    unlock = dict(passphrase_source=lambda: PASSPHRASE, use_keyring=False)
    with clock.as_of(start):
        with store.create(path, CUSTODIAN, PASSPHRASE) as (reg, _, signing_public):
            access.init(reg, "Oakfield Learning Trust", CUSTODIAN, "Ira Patel", signing_public)
        with open_register(path, actor=CUSTODIAN, write=True, **unlock) as reg:
            for school_id, name, domains, central in SCHOOLS:
                directory.add_school(reg.db, CUSTODIAN, school_id, name, domains, central)
            for email, name, school, roles in STAFF:
                trained = None if email in UNTRAINED else (start - timedelta(days=30)).isoformat()
                directory.add_staff(reg.db, CUSTODIAN, email, name, school, roles, trained, "2026")
            for approver in (CEO, *HEADS.values()):
                access.grant(reg, approver, "register", PASSPHRASE)
            # The policy was last reviewed well over a year ago; training lasts a year.
            config.set_value(reg.db, CUSTODIAN, "policy.reviewed_on", (start - timedelta(days=300)).isoformat())
            config.set_value(reg.db, CUSTODIAN, "training.valid_days", "365")
            for rule_id, clause in CLAUSES.items():
                config.set_value(reg.db, CUSTODIAN, f"clause.{rule_id}", clause)
            ids = {}
            for request in REQUESTS:
                if request[-1] != "requested-later":
                    ids[request[:3]] = _request(reg, request)
            accounts.import_accounts(reg.db, CUSTODIAN, accounts.parse_import(LEGACY_CSV, "legacy.csv"))
            # The office mailbox the page's password resets go to: read by the office team, and by Tom.
            mailboxes.add(
                reg.db,
                CUSTODIAN,
                SHARED_MAILBOX,
                "shared",
                "oakfield",
                "blocked",
                ("james.smith@oakfield.sch.uk", LEAVER),
            )
    decided = {}
    with clock.as_of(start + timedelta(days=7)):
        for approver in (CEO, *HEADS.values()):
            with open_register(path, actor=approver, write=True, **unlock) as reg:
                for school, platform, handle, _, _, owner, *_, outcome in REQUESTS:
                    # The CEO decides for the central team, and where the headteacher asked themselves.
                    boss = CEO if school == "central" or HEADS[school] == owner else HEADS[school]
                    if boss != approver or outcome.startswith("requested"):
                        continue
                    account_id = ids[school, platform, handle]
                    if outcome == "rejected":
                        approvals.decide(
                            reg.db,
                            approver,
                            reg.keys.signing_private,
                            account_id,
                            "rejected",
                            "Only one trained admin; ask again next term",
                        )
                    else:
                        approvals.decide(
                            reg.db,
                            approver,
                            reg.keys.signing_private,
                            account_id,
                            "approved",
                            "Approved at SLT meeting",
                        )
                    decided[account_id] = outcome
    with clock.as_of(start + timedelta(days=10)):
        with open_register(path, actor=CUSTODIAN, write=True, **unlock) as reg:
            for n, (account_id, outcome) in enumerate(sorted(decided.items())):
                if not outcome.startswith("live"):
                    continue
                accounts.notify_head(reg.db, CUSTODIAN, account_id)
                account = accounts.get_account(reg.db, account_id)
                if waysin.access_of(reg.db, account) != "login":
                    # No password to hold: the page's own roles screen shows its admins in control.
                    people = [account["owner"], *accounts.people_of(reg.db, account_id)["admin"]]
                    attestation.record(reg.db, CUSTODIAN, True, account_id, ",".join(dict.fromkeys(people)), "app")
                    accounts.activate(reg.db, CUSTODIAN, account_id)
                    continue
                vault.set_password(reg, account_id, vault.generate_password(24), username=account_id)
                if outcome != "live-no-2fa":
                    vault.set_totp(
                        reg,
                        account_id,
                        f"otpauth://totp/Demo:{account_id}?secret="
                        f"{'JBSWY3DPEHPK3PXP'}{'ABCDEFGHIJKLMNOP'[n % 16] * 16}&issuer=Demo",
                    )
                accounts.activate(reg.db, CUSTODIAN, account_id)
    with clock.as_of(start + timedelta(days=20)):
        with open_register(path, actor=CUSTODIAN, write=True, **unlock) as reg:
            for (school, platform, handle), account_id in ids.items():
                outcome = decided.get(account_id, "")
                if outcome == "live-suspended":
                    accounts.set_status(reg.db, CUSTODIAN, account_id, "suspended", "Paused while the trust rebrands")
                elif outcome == "live-closed":
                    accounts.set_status(reg.db, CUSTODIAN, account_id, "closed", "Photos now go on the website")
    with clock.as_of(today - timedelta(days=40)):
        with open_register(path, actor=CUSTODIAN, write=True, **unlock) as reg:
            for request in REQUESTS:
                if request[-1] == "requested-later":
                    ids[request[:3]] = _request(reg, request)
    with clock.as_of(today - timedelta(days=20)):
        with open_register(path, actor=CUSTODIAN, write=True, **unlock) as reg:
            # A parent's tip: a page that looks like the school's, that nobody registered or dealt with since.
            found = accounts.found(
                reg.db,
                CUSTODIAN,
                "oakfield",
                "instagram",
                "oakfield_school_official",
                "https://www.instagram.com/oakfield_school_official",
                "A parent asked whether this page is ours",
            )
    with clock.as_of(today - timedelta(days=3)):
        with open_register(path, actor=CUSTODIAN, write=True, **unlock) as reg:
            # Abuse in the comments under a post: removed, but the headteacher is not yet told.
            abuse = incidents.open_incident(
                reg.db,
                CUSTODIAN,
                ids["oakfield", "facebook", "OakfieldPrimary"],
                "abuse",
                "Abusive comments about a member of staff under the sports day post",
            )
            incidents.step(reg.db, CUSTODIAN, True, abuse["id"], "content-removed", "Hidden; link and time noted")
    with clock.as_of(today - timedelta(days=14)):
        with open_register(path, actor=CUSTODIAN, write=True, **unlock) as reg:
            directory.leave(reg.db, CUSTODIAN, LEAVER, (today - timedelta(days=14)).isoformat())
    with clock.as_of(today - timedelta(days=12)):
        with open_register(path, actor=CUSTODIAN, write=True, **unlock) as reg:
            # The termly review: one account answered, and the platform still shows the leaver as an admin
            # (his personal profile kept its role); the others are late.
            campaign = attestation.start(reg.db, CUSTODIAN, True, (today - timedelta(days=2)).isoformat(), "oakfield")
            attestation.record(
                reg.db,
                CUSTODIAN,
                True,
                ids["oakfield", "facebook", "OakfieldPrimary"],
                "james.smith@oakfield.sch.uk,Aisha Khan,Tom Brown",
                "sms",
                note="Page roles screen, checked with James",
            )
    with clock.as_of(today - timedelta(days=2)):
        with open_register(path, actor=CUSTODIAN, write=True, **unlock) as reg:
            for account_id, outcome in decided.items():
                if outcome in ("live", "live-no-2fa"):
                    oversight.monitor(reg.db, CUSTODIAN, account_id, True, "Weekly check")
    leaver_account = ids["oakfield", "instagram", "OakfieldPE"]
    from accountctl.core import demo_safeguarding

    safeguarding = demo_safeguarding.add(path, store, unlock, CUSTODIAN, PASSPHRASE, ids, today)
    return {
        **safeguarding,
        "path": str(path),
        "passphrase": PASSPHRASE,
        "custodian": CUSTODIAN,
        "leaver": LEAVER,
        "leaver_account": leaver_account,
        "legacy_account": "oakfield-facebook-oakfieldpta",
        "head": HEADS["oakfield"],
        "pending": ids["oakfield", "youtube", "OakfieldMusic"],
        "closed": ids["oakfield", "flickr", "OakfieldPhotos"],
        "live": ids["oakfield", "x", "OakfieldNews"],
        "page": ids["oakfield", "facebook", "OakfieldPrimary"],
        "found": found["id"],
        "incident": abuse["id"],
        "campaign": campaign["id"],
    }


def _request(reg, request: tuple) -> str:
    """Record one of REQUESTS, asked for by its owner, with a complete business case; returns its id."""
    school, platform, handle, category, email, owner, admins, contributors, aim, _ = request
    pupils, audience = PUPILS.get(handle, ("none", "Parents, carers and the local community"))
    return accounts.request(
        reg.db,
        CUSTODIAN,
        accounts.Request(
            school=school,
            platform=platform,
            handle=handle,
            url=URLS[platform].format(handle),
            category=category,
            email=email,
            owner=owner,
            admins=admins,
            contributors=contributors,
            aim=aim,
            audience=audience,
            promotion="Newsletter and website footer",
            visibility="open",
            pupils=pupils,
            requested_by=owner,
            via=VIA.get(handle, []),
            # A portfolio is entered through people's own Facebook profiles: recorded so (SPEC's default is login).
            access="roles" if platform == "meta-business" else None,
        ),
    )["id"]
