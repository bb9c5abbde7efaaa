"""Ways in on the `account` commands: --access and --via on request and update, --no-via and
--house-rules-url on update, --until on admin and contributor add (SPEC "Ways in").

cli/accounts.py is at its size limit: `extend` adds these options to its commands and runs their
part in the same session, after the command's own work.
"""

from __future__ import annotations

import functools
import inspect

import click

from accountctl.cli import output
from accountctl.cli.common import session
from accountctl.core import waysin
from accountctl.core.access import require_custodian

ACCESS_HELP = (
    "How people get in: login (its own sign-in; IT holds the password), roles (people act through their own "
    "profiles with roles on it: a Facebook or LinkedIn page, a YouTube channel) or group (a WhatsApp or Facebook "
    "group run by member admins). Default: the platform's (config set access.PLATFORM MODEL)."
)
VIA_HELP = "A business portfolio or management tool (a service record) whose people reach it (repeatable)."


def request_options(func):
    """--access and --via on `account request` (the core records them with the request)."""
    func = click.option("--via", "via", multiple=True, metavar="ID", help=VIA_HELP)(func)
    return click.option("--access", metavar="login|roles|group", help=ACCESS_HELP)(func)


def _extend_update(command: click.Command) -> None:
    inner = inspect.unwrap(command.callback)  # the command itself, under `writes` and any option wrappers
    changes = ("email", "url", "aim", "audience", "promotion", "visibility", "pupils", "parents_informed_on")
    command.params += [
        click.Option(["--access"], metavar="login|roles|group", help=ACCESS_HELP),
        click.Option(["--via", "via"], multiple=True, metavar="ID", help=VIA_HELP),
        click.Option(["--no-via", "no_via"], multiple=True, metavar="ID", help="No longer reached through ID."),
        click.Option(
            ["--house-rules-url"], metavar="URL", help="Where parents are told the rules for comments (https)."
        ),
    ]

    @functools.wraps(inner)
    def callback(access=None, via=(), no_via=(), house_rules_url=None, **kwargs):
        with session(write=True) as reg:
            ways = access is not None or via or no_via or house_rules_url is not None
            if ways:
                require_custodian(reg, "update accounts")
            if not ways or any(kwargs.get(k) is not None for k in changes):
                inner(reg, **kwargs)
            if ways:
                row = waysin.update(reg.db, reg.actor, kwargs["account_id"], access, via, no_via, house_rules_url)
                output.message(f"{row['id']}: ways in updated (accountctl account show {row['id']}).")

    command.callback = callback


def _extend_add(command: click.Command, role: str) -> None:
    inner = inspect.unwrap(command.callback)  # the command itself, under `writes` and any option wrappers
    command.params.append(
        click.Option(
            ["--until"],
            metavar="YYYY-MM-DD",
            help="Temporary access (supply staff, a platform's temporary access): ACCESS_EXPIRED from the day after.",
        )
    )

    @functools.wraps(inner)
    def callback(until=None, **kwargs):
        with session(write=True) as reg:
            waysin.check_until(until)  # refused before anything is added
            inner(reg, **kwargs)
            if until is not None:
                day = waysin.set_until(reg.db, reg.actor, kwargs["account_id"], kwargs["email"], role, until)
                output.message(f"Their access is temporary: remove it after {day}.")

    command.callback = callback


def extend(account: click.Group, show_fields: list[str]) -> None:
    """Add the ways-in options to the `account` group's commands, and every way in to what `show` shows."""
    show_fields[show_fields.index("credentials_held") : show_fields.index("credentials_held")] = [
        "access",
        "via",
        "ways_in",
    ]
    _extend_update(account.commands["update"])
    for role in ("admin", "contributor"):
        _extend_add(account.commands[role].commands["add"], role)
