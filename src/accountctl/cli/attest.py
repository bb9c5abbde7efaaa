"""attest start|record|status."""

from __future__ import annotations

import click

from accountctl.cli import output
from accountctl.cli.common import fmt, format_options, global_options, reads, writes
from accountctl.core import attestation

STATUS_COLUMNS = ["account", "school", "platform", "state", "attested_at", "attested_by", "admins", "mfa"]


@click.group()
def attest() -> None:
    """Attestation campaigns: each term, the people who run each account say what the platform really shows.

    \b
    Example:
      accountctl attest start --due 2026-12-12 --school oak
    """


def _status(data: dict) -> None:
    if fmt() == "json":
        output.echo_json(data)
        return
    if fmt() == "table":
        scope = data["school"] or "the whole trust"
        output.message(
            f"{data['id']} ({scope}), due {data['due']}: {data['attested']} attested, {data['outstanding']} outstanding"
        )
    output.rows(data["accounts"], STATUS_COLUMNS, fmt())


@attest.command("start")
@click.option("--due", required=True, help="The date answers are due by (YYYY-MM-DD).")
@click.option("--school", help="Only this school's accounts (default: the whole trust).")
@global_options
@writes
def attest_start(reg, due, school) -> None:
    """Open a campaign over every active or suspended account in scope; prints its id.

    \b
    Example:
      accountctl attest start --due 2026-12-12 --school oak
    """
    covered = getattr(reg, "schools", None)  # a key per school: a campaign covers what the key opens
    if school is None and covered is not None and covered != reg.all_schools and len(covered) == 1:
        school = next(iter(covered))
    data = attestation.start(reg.db, reg.actor, reg.is_custodian, due, school)
    click.echo(data["id"])
    output.message(f"{len(data['accounts'])} account(s) to attest by {data['due']}: accountctl attest status")


@attest.command("record")
@click.argument("account_id", metavar="ID")
@click.option("--admins", required=True, help="Everyone with admin rights on the platform, comma-separated.")
@click.option("--mfa", required=True, help="The platform's 2FA method: totp, app, passkey, sms or none.")
@click.option("--recovery", help="How the account is recovered (e.g. 'codes held by IT').")
@click.option("--note", help="Anything else seen.")
@click.option(
    "--safety",
    metavar="SETTING=VALUE,...",
    help="Safety settings where the platform has them: messages-from-pupils=on|off, follows-pupils=yes|no, "
    "tagging=on|review|off, comments=on|filtered|off.",
)
@global_options
@writes
def attest_record(reg, account_id, admins, mfa, recovery, note, safety) -> None:
    """Record what the platform's own settings show now: who has admin rights there, and the 2FA method.

    People are matched by email, or by exact staff name (platforms show names).

    \b
    Example:
      accountctl attest record oak-facebook-oakprimary --admins "Tom One,Tia Two" --mfa app
    """
    data = attestation.record(reg.db, reg.actor, reg.is_custodian, account_id, admins, mfa, recovery, note, safety)
    strangers = [s["shown"] for s in data["admins"] if s["email"] is None]
    output.message(
        f"{data['account']}: attested "
        + (f"for {data['campaign']}" if data["campaign"] else "(outside any campaign)")
        + (
            f"; not in the register: {output.escape(', '.join(strangers))} (see: accountctl audit)"
            if strangers
            else "."
        )
    )


@attest.command("status")
@click.option("--campaign", help="A campaign id (default: the latest).")
@format_options
@reads
def attest_status(reg, campaign) -> None:
    """Each account in a campaign: attested when and by whom, or outstanding.

    \b
    Example:
      accountctl attest status --campaign att-1
    """
    _status(attestation.status(reg.db, campaign))
