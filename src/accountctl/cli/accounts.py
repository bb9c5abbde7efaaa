"""account request|import|show|list|update|notify-head|activate|admin|contributor|transfer|suspend|close|gone|
found|claim|takedown;
approve; reject."""

from __future__ import annotations

import click

from accountctl.cli import giveway, output, waysin
from accountctl.cli.common import fmt, format_options, global_options, reads, session, writes
from accountctl.cli.directory import read_text_file
from accountctl.cli.safeguarding import pupil_options
from accountctl.core import accounts, approvals, dataprotection, directory
from accountctl.core.access import require_custodian

IMPORT_WARNINGS_SHOWN = 20  # people named in warnings; the audit lists every one
LIST_COLUMNS = ["id", "school", "platform", "handle", "category", "status", "owner", "admin_count", "email"]
LIST_PRIORITIES = giveway.Priorities(keep=("id", "status", "handle", "owner", "category", "platform", "school"))
SHOW_FIELDS = """
id school platform handle url category status status_reason email owner admins contributors aim
audience promotion visibility pupils case_missing parents_informed_on requested_by requested_at
approval head_notified_on activated_on reviewed_on monitored_on suspended_on closed_on gone_on
found_on found_source reported_on takedown_reference credentials_held legacy
""".split()
APPROVAL_FIELDS = ["decision", "approver", "at", "note", "current"]
PUPILS_HELP = (
    "Whether it is aimed at pupils: 'none', or the youngest pupils' age (3 to 19), e.g. 11 for Year 7. "
    "Most platforms are for 13 and over."
)


@click.group()
def account() -> None:
    """Official social-media accounts: request, show, list, lifecycle and the people who run them.

    \b
    Example:
      accountctl account list --school oak --status active
    """


@account.command("request")
@click.option("--school", required=True, help="School id.")
@click.option("--platform", required=True, help="facebook, instagram, x (twitter), youtube, tiktok, linkedin, ...")
@click.option("--handle", required=True, help="The account's handle or name on the platform.")
@click.option("--url", required=True, help="The account's http(s) address.")
@click.option(
    "--category",
    required=True,
    type=click.Choice(["faculty", "staff", "service"], case_sensitive=False),
    help="faculty (a department or the main account), staff (one member of staff) or service (a portfolio or tool).",
)
@click.option("--email", required=True, help="The official school email the account is linked to.")
@click.option("--owner", required=True, help="Lead member of staff (always an admin).")
@click.option("--admin", "admins", multiple=True, help="Another admin (repeatable; at least two admins in all).")
@click.option("--contributor", "contributors", multiple=True, help="A contributor (repeatable).")
@click.option("--aim", required=True, help="What the account is for.")
@click.option("--audience", required=True, help="Who it is for.")
@click.option("--promotion", required=True, help="How it will be promoted.")
@click.option(
    "--visibility",
    required=True,
    type=click.Choice(["open", "closed"], case_sensitive=False),
    help="open (anyone can see it) or closed (approved followers only).",
)
@click.option("--pupils", metavar="none|AGE", help=PUPILS_HELP)
@click.option("--parents-informed-on", metavar="YYYY-MM-DD", help="When parents and carers were told about it.")
@click.option("--requested-by", help="Who asked for it (default: you).")
@click.option("--id", "account_id", help="Account id (default SCHOOL-PLATFORM-HANDLE).")
@waysin.request_options
@pupil_options
@global_options
@writes
def account_request(
    reg,
    school,
    platform,
    handle,
    url,
    category,
    email,
    owner,
    admins,
    contributors,
    aim,
    audience,
    promotion,
    visibility,
    pupils,
    parents_informed_on,
    requested_by,
    account_id,
    access,
    via,
    **pupil,
) -> None:
    """Record a request for an official account; prints the new account id.

    The owner and admins must be eligible: current staff of the school (or the trust's central team)
    with a role other than only volunteer. Volunteers and other schools' staff may be contributors.

    \b
    Example:
      accountctl account request --school oak --platform facebook --handle oakprimary \\
        --url https://facebook.com/oakprimary --category faculty --email office@oak.sch.uk \\
        --owner t.one@oak.sch.uk --admin t.two@oak.sch.uk --aim "News for parents" \\
        --audience "Parents" --promotion "Newsletter" --visibility open --pupils none
    """
    row = accounts.request(
        reg.db,
        reg.actor,
        accounts.Request(
            school=school,
            platform=platform,
            handle=handle,
            url=url,
            category=category,
            email=email,
            owner=owner,
            admins=list(admins),
            contributors=list(contributors),
            aim=aim,
            audience=audience,
            promotion=promotion,
            visibility=visibility,
            requested_by=requested_by,
            id=account_id,
            pupils=pupils,
            parents_informed_on=parents_informed_on,
            access=access,
            via=list(via),
            **pupil,
        ),
    )
    missing = accounts.case_gaps(row)
    then = (
        f"complete its business case ({', '.join(accounts.CASE_PARTS[m][1] for m in missing)}), then it needs"
        if missing
        else "it now needs"
    )
    output.message(f"Requested {row['id']}: {then} an SLT decision ('accountctl approve {row['id']}').")
    click.echo(row["id"])


@account.command("import")
@click.argument("file", type=click.Path(dir_okay=True))
@global_options
def account_import(file) -> None:
    """Record existing accounts as they are (CSV or JSON); every row or none.

    Each account is recorded with the status given, no approval, and whatever people and linked
    email it really has, so the audit then shows every breach. Only malformed rows are refused.
    It warns, naming them, about owners and admins who may not run the account (not staff of its
    school or the central team, left, or only a volunteer) and contributors who are not staff here.

    \b
    The CSV header (then one row an account):
      id,school,platform,handle,url,category,email,owner,admins,contributors,status
    admins and contributors are separated by ';'; id may be empty (SCHOOL-PLATFORM-HANDLE);
    status defaults to active. JSON: a list of objects with the same keys. Save as UTF-8.

    \b
    Example (docs/examples/accounts.csv):
      accountctl account import docs/examples/accounts.csv
    """
    from accountctl.cli.progress import Progress

    rows = accounts.parse_import(read_text_file(file), file)  # a bad file is refused before any passphrase
    with session(write=True) as reg:
        require_custodian(reg, "import accounts")
        with Progress("Checking accounts") as progress:
            ids = accounts.import_accounts(reg.db, reg.actor, rows, progress)
        warnings = accounts.import_warnings(reg.db, ids)
    for line in warnings[:IMPORT_WARNINGS_SHOWN]:
        output.message(f"Warning: {line}")
    if len(warnings) > IMPORT_WARNINGS_SHOWN:
        output.message(
            f"Warning: and {len(warnings) - IMPORT_WARNINGS_SHOWN} more people who cannot hold their role; "
            "'accountctl audit' lists them all"
        )
    output.message(f"Imported {len(ids)} account(s) as they are; run 'accountctl audit' to see what needs fixing.")


@account.command("show")
@click.argument("account_id", metavar="ID")
@format_options
@reads
def account_show(reg, account_id) -> None:
    """Show an account: business case, people, status and its approval.

    \b
    Example:
      accountctl account show oak-facebook-oakprimary
    """
    data = accounts.show(reg.db, account_id)
    a = data["approval"]
    if fmt() == "csv":  # a spreadsheet gets the decision in its own columns, not a JSON object in one cell
        fields = [f for f in SHOW_FIELDS if f != "approval"] + [f"approval_{k}" for k in APPROVAL_FIELDS]
        data = {**data, **{f"approval_{k}": (a or {}).get(k) for k in APPROVAL_FIELDS}}
        output.record(data, "csv", fields)
        return
    if fmt() == "table" and a:
        data = {
            **data,
            "approval": f"{a['decision']} by {a['approver']} at {a['at']}"
            + (f" ({a['note']})" if a["note"] else "")
            + ("" if a["current"] else " [case changed since]"),
        }
    output.record(data, fmt(), SHOW_FIELDS)


@account.command("list")
@click.option("--school", help="Only this school.")
@click.option("--status", help="Only this status.")
@click.option("--platform", help="Only this platform.")
@format_options
@reads
def account_list(reg, school, status, platform) -> None:
    """List accounts.

    \b
    Example:
      accountctl account list --school oak --status active --json
    """
    output.rows(
        accounts.list_accounts(reg.db, school, status, platform), LIST_COLUMNS, fmt(), priorities=LIST_PRIORITIES
    )


@account.command("update")
@click.argument("account_id", metavar="ID")
@click.option("--email", help="The official school email the account is now linked to.")
@click.option("--url", help="Its new http(s) address.")
@click.option("--aim", help="What the account is for.")
@click.option("--audience", help="Who it is for.")
@click.option("--promotion", help="How it will be promoted.")
@click.option(
    "--visibility",
    type=click.Choice(["open", "closed"], case_sensitive=False),
    help="open (anyone can see it) or closed (approved followers only).",
)
@click.option("--pupils", metavar="none|AGE", help=PUPILS_HELP)
@click.option(
    "--parents-informed-on",
    metavar="YYYY-MM-DD",
    help="When parents and carers were told about it (needs no new approval).",
)
@pupil_options
@global_options
@writes
def account_update(
    reg, account_id, email, url, aim, audience, promotion, visibility, pupils, parents_informed_on, **pupil
) -> None:
    """Complete or change an account's business case, linked email or URL (SLT approves the changed case).

    \b
    Example:
      accountctl account update oak-facebook-oakpta --email pta@oak.sch.uk --pupils none
      accountctl account update oak-youtube-oakmusic --pupils 7 --parents-informed-on 2026-11-20
    """
    require_custodian(reg, "update accounts")
    before = accounts.get_account(reg.db, account_id)["case_hash"]
    row = accounts.update(
        reg.db,
        reg.actor,
        account_id,
        {
            "email": email,
            "url": url,
            "aim": aim,
            "audience": audience,
            "promotion": promotion,
            "visibility": visibility,
            "pupils": pupils,
            "parents_informed_on": parents_informed_on,
            **pupil,
        },
    )
    if row["case_hash"] == before:
        output.message(f"Updated {row['id']}.")
        return
    missing = accounts.case_gaps(row)
    output.message(
        f"Updated {row['id']}; "
        + (
            f"its business case still lacks {', '.join(accounts.CASE_PARTS[m][0] for m in missing)}."
            if missing
            else f"ask SLT to approve it ('accountctl approve {row['id']}')."
        )
    )


@account.command("notify-head")
@click.argument("account_id", metavar="ID")
@click.option("--on", "on", metavar="YYYY-MM-DD", help="When the headteacher was told (default today).")
@global_options
@writes
def account_notify_head(reg, account_id, on) -> None:
    """Record that the headteacher was notified of the account's URL and identity.

    \b
    Example:
      accountctl account notify-head oak-facebook-oakprimary --on 2026-11-20
    """
    require_custodian(reg, "record the headteacher's notification")
    row = accounts.notify_head(reg.db, reg.actor, account_id, on)
    output.message(f"Recorded: headteacher notified of {row['id']} on {row['head_notified_on']}.")


@account.command("activate")
@click.argument("account_id", metavar="ID")
@global_options
@writes
def account_activate(reg, account_id) -> None:
    """Make an account active once every step is done (names each missing one).

    \b
    Example:
      accountctl account activate oak-facebook-oakprimary
    """
    require_custodian(reg, "activate accounts")
    row = accounts.activate(reg.db, reg.actor, account_id)
    output.message(f"{row['id']} is active.")


def _people_group(role: str) -> click.Group:
    a_role = f"an {role}" if role[0] in "aeiou" else f"a {role}"

    @click.group(
        name=role,
        help=f"Add or remove an account's {role}s.\n\n\b\nExample:\n"
        f"  accountctl account {role} add oak-facebook-oakprimary t.two@oak.sch.uk",
    )
    def group() -> None:
        pass

    @group.command(
        "add",
        help=f"Add {a_role} (active staff of the account's school).\n\n\b\nExample:\n"
        f"  accountctl account {role} add oak-facebook-oakprimary t.two@oak.sch.uk",
    )
    @click.argument("account_id", metavar="ID")
    @click.argument("email")
    @global_options
    @writes
    def add(reg, account_id, email) -> None:
        require_custodian(reg, f"change {role}s")
        row = accounts.add_person(reg.db, reg.actor, account_id, email, role)
        output.message(f"{email.strip().lower()} is now {a_role} of {row['id']}.")

    @group.command(
        "remove",
        help=f"Remove {a_role}"
        + (" (never the owner, never below two active admins)" if role == "admin" else "")
        + f".\n\n\b\nExample:\n  accountctl account {role} remove oak-facebook-oakprimary t.two@oak.sch.uk",
    )
    @click.argument("account_id", metavar="ID")
    @click.argument("email")
    @global_options
    @writes
    def remove(reg, account_id, email) -> None:
        require_custodian(reg, f"change {role}s")
        row = accounts.remove_person(reg.db, reg.actor, account_id, email, role)
        output.message(f"{email.strip().lower()} is no longer {a_role} of {row['id']}.")

    return group


account.add_command(_people_group("admin"))
account.add_command(_people_group("contributor"))
waysin.extend(account, SHOW_FIELDS)  # --access, --via, --until; `show` lists every way in (SPEC "Ways in")


@account.command("transfer")
@click.argument("account_id", metavar="ID")
@click.option("--to", "to", required=True, help="The new owner (active staff of the school; becomes an admin).")
@click.option("--reason", help="Why (e.g. the owner is leaving).")
@click.option("--remove-old", is_flag=True, help="Also remove the old owner as an admin.")
@global_options
@writes
def account_transfer(reg, account_id, to, reason, remove_old) -> None:
    """Transfer ownership of an account.

    \b
    Example:
      accountctl account transfer oak-facebook-oakprimary --to t.two@oak.sch.uk --reason "Tom leaves" --remove-old
    """
    require_custodian(reg, "transfer accounts")
    row = accounts.transfer(reg.db, reg.actor, account_id, to, reason, remove_old)
    output.message(f"{row['id']} is now owned by {row['owner']}.")
    owner = directory.find_staff(reg.db, row["owner"])
    if owner and owner["left_on"]:  # an upcoming leaver (one who has left is refused): say it now, not at the audit
        output.message(
            f"Note: {row['owner']} leaves on {owner['left_on']}; transfer it again before then (LEAVER_OWNER)."
        )


def _status_command(name: str, status: str, verb: str) -> click.Command:
    @account.command(
        name,
        help=f"{verb.capitalize()} an account, with a reason.\n\n\b\nExample:\n"
        f'  accountctl account {name} oak-facebook-oakprimary --reason "..."',
    )
    @click.argument("account_id", metavar="ID")
    @click.option("--reason", required=True, help=f"Why it is {status} (kept in its record and the history).")
    @global_options
    @writes
    def command(reg, account_id, reason) -> None:
        require_custodian(reg, f"{name} accounts")
        row = accounts.set_status(reg.db, reg.actor, account_id, status, reason)
        output.message(f"{row['id']} is {row['status']}.")

    return command


_status_command("suspend", "suspended", "suspend")
_status_command("close", "closed", "close")


@account.command("gone")
@click.argument("account_id", metavar="ID")
@click.option("--on", "on", metavar="YYYY-MM-DD", help="When it was deleted on the platform (default today).")
@global_options
@writes
def account_gone(reg, account_id, on) -> None:
    """Record that a closed, found or reported account no longer exists on the platform.

    Destroys the credentials IT held for it. Delete the account on the platform first (or confirm the
    platform removed it), then record it here. A live account must be closed first.

    \b
    Example:
      accountctl account gone oak-facebook-oakpta --on 2026-11-20
    """
    require_custodian(reg, "record accounts as gone")
    row = accounts.gone(reg.db, reg.actor, account_id, on)
    destroyed = row["destroyed"] + (
        [f"{row['old_passwords_destroyed']} earlier password(s)"] if row["old_passwords_destroyed"] else []
    )
    output.message(
        f"{row['id']} is gone from {row['platform']} since {row['gone_on']}; "
        + (f"destroyed: {', '.join(destroyed)}." if destroyed else "IT held no credentials for it.")
    )


@account.command("found")
@click.option("--school", required=True, help="The school it claims to belong to.")
@click.option("--platform", required=True, help="facebook, instagram, x (twitter), youtube, tiktok, linkedin, ...")
@click.option("--handle", required=True, help="Its handle or name on the platform.")
@click.option("--url", required=True, help="Its http(s) address.")
@click.option("--source", required=True, help="How it came to light (a parent's tip, a search, ...).")
@global_options
@writes
def account_found(reg, school, platform, handle, url, source) -> None:
    """Record an account that claims to be the school's but was never registered; prints its id.

    Then claim it into the register ('account claim ID') or report it to the platform
    ('account takedown ID --reported-on DATE') within 14 days.

    \b
    Example:
      accountctl account found --school oak --platform facebook --handle oakpta \\
        --url https://facebook.com/oakpta --source "a parent's tip"
    """
    row = accounts.found(reg.db, reg.actor, school, platform, handle, url, source)
    output.message(
        f"Recorded found account {row['id']}: claim it ('accountctl account claim {row['id']}') or report it "
        f"to {row['platform']} ('accountctl account takedown {row['id']} --reported-on DATE') within 14 days."
    )
    click.echo(row["id"])


@account.command("claim")
@click.argument("account_id", metavar="ID")
@global_options
@writes
def account_claim(reg, account_id) -> None:
    """Claim a found account into the register: it becomes a request to complete and approve.

    \b
    Example:
      accountctl account claim oak-facebook-oakpta
    """
    require_custodian(reg, "claim found accounts")
    row = accounts.claim(reg.db, reg.actor, account_id)
    output.message(
        f"{row['id']} is now requested: give it an owner and admins ('accountctl account transfer {row['id']} "
        f"--to EMAIL', 'accountctl account admin add {row['id']} EMAIL'), complete its case "
        f"('accountctl account update {row['id']} ...'), then ask SLT to approve it."
    )


@account.command("takedown")
@click.argument("account_id", metavar="ID")
@click.option("--reported-on", "reported_on", required=True, metavar="YYYY-MM-DD", help="When it was reported.")
@click.option("--reference", help="The platform's case or ticket reference.")
@global_options
@writes
def account_takedown(reg, account_id, reported_on, reference) -> None:
    """Record that a found account was reported to the platform for takedown.

    Once the platform removes it, record that: 'accountctl account gone ID'.

    \b
    Example:
      accountctl account takedown oak-facebook-oakpta --reported-on 2026-11-20 --reference FB-123
    """
    require_custodian(reg, "report found accounts")
    row = accounts.takedown(reg.db, reg.actor, account_id, reported_on, reference)
    output.message(
        f"{row['id']} reported to {row['platform']} on {row['reported_on']}; when it is removed: "
        f"accountctl account gone {row['id']}"
    )


@click.command()
@click.argument("account_id", metavar="ID")
@click.option("--note", help="A note kept with the decision.")
@global_options
@writes
def approve(reg, account_id, note) -> None:
    """Approve an account request (SLT or headteacher of its school; the CEO for any), signed with your key.

    Refuses an incomplete business case, naming each missing part: aim, audience, promotion,
    visibility, whether it is aimed at pupils, and two eligible admins.

    \b
    Example:
      accountctl --as head@oak.sch.uk approve oak-facebook-oakprimary --note "Approved at SLT 12 Nov"
    """
    result = approvals.decide(reg.db, reg.actor, reg.keys.signing_private, account_id, "approved", note)
    output.message(f"Approved {result['account']} (signed by {result['approver']}); status {result['status']}.")
    output.message(dataprotection.dpia_line(reg.db, accounts.get_account(reg.db, result["account"])))
    if errors := _open_errors(reg, result["account"]):
        school = accounts.get_account(reg.db, result["account"])["school"]
        output.message(
            f"Still open on {result['account']}: {len(errors)} error(s) in the audit: "
            + "; ".join(f"{f['rule']} ({f['message']})" for f in errors)
            + f". See 'accountctl audit --school {school}'."
        )


@click.command()
@click.argument("account_id", metavar="ID")
@click.option("--reason", required=True, help="Why it is rejected.")
@global_options
@writes
def reject(reg, account_id, reason) -> None:
    """Reject an account request, with a reason, signed with your key.

    \b
    Example:
      accountctl --as head@oak.sch.uk reject oak-tiktok-oakpe --reason "No second admin trained yet"
    """
    before = accounts.get_account(reg.db, account_id)["status"]
    result = approvals.decide(reg.db, reg.actor, reg.keys.signing_private, account_id, "rejected", reason)
    output.message(
        f"Rejected {result['account']} (signed by {result['approver']}). {_after_rejection(before, result['account'])}"
    )


def _after_rejection(status: str, account_id: str) -> str:
    """The next step once an account is rejected, which depends on how far it had got."""
    close = f'accountctl account close {account_id} --reason "Rejected by SLT"'
    if status in ("active", "suspended"):
        return (
            f"It is still {status} on the platform: IT should take it down and close it ('{close}'); "
            "until then the audit reports it as unapproved."
        )
    if status == "approved":
        return f"It was approved before and will not go live; if it was already created on the platform, IT closes it ('{close}')."
    return "Tell the requester why; the request stays on record as rejected and nothing else is needed."


def _open_errors(reg, account_id: str) -> list[dict]:
    """The account's unwaived audit errors as they stand now (rules needing vault access aside for SLT)."""
    from accountctl.core import audit

    school = accounts.get_account(reg.db, account_id)["school"]
    day = audit.as_of_from(None)
    snap = audit.load(reg.db, day, school=school, vault=reg.is_custodian)
    findings, _ = audit.run(snap, audit.waivers_in_force(reg.db, day))
    return [f for f in findings if f["account"] == account_id and f["severity"] == "error" and not f["waived"]]
