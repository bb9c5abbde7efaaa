"""Shell completion of the register's own values: account ids, emails, school ids and rule ids.

click completes commands and options itself; this module gives the arguments and options that name
a record (by their parameter name, `KINDS`) the values to complete from. It is attached only while
the shell asks for completions (`_ACCOUNTCTL_COMPLETE` set), so no ordinary command pays for it.
Rule ids need no register. The rest are read from the register only with a key that needs no
prompt (the keyring after `login`, the agent, or ACCOUNTCTL_PASSPHRASE): a completion never asks
for a passphrase, and anything that fails completes nothing rather than disturb the prompt.
"""

from __future__ import annotations

import os

import click
from click.shell_completion import CompletionItem

COMPLETE_VAR = "_ACCOUNTCTL_COMPLETE"  # click's: <PROG>_COMPLETE, set by the shell's completion script

# Parameter names (as click names them) and what they are completed from.
KINDS = {
    "account_id": "accounts",
    "account": "accounts",
    "email": "emails",
    "owner": "emails",
    "admins": "emails",
    "contributors": "emails",
    "to": "emails",
    "as_": "emails",
    "requested_by": "emails",
    "school": "schools",
    "school_id": "schools",
    "rule_id": "rules",
    "rules": "rules",
    "trust_rule": "rules",
}
# Arguments given as one list (`waive ID RULE`): what each place in it completes from.
PLACES = {("waive", "args"): ("accounts", "rules")}
QUERIES = {
    "accounts": "SELECT id FROM accounts ORDER BY id",
    "emails": "SELECT email FROM staff ORDER BY email",  # leavers too: offboard is run for them
    "schools": "SELECT id FROM schools ORDER BY id",
}


def active() -> bool:
    """Whether the shell is asking for completions."""
    return bool(os.environ.get(COMPLETE_VAR))


def attach(command: click.Command) -> click.Command:
    """Give each parameter of `command` (and of its subcommands) that names a record its completion."""
    for param in command.params:
        kind = KINDS.get(param.name or "")
        places = PLACES.get((command.name, param.name))
        if places and getattr(param, "_custom_shell_complete", None) is None:
            param._custom_shell_complete = _complete_place(places)
        elif kind and getattr(param, "_custom_shell_complete", None) is None:
            param._custom_shell_complete = _complete(kind)
    for sub in getattr(command, "commands", {}).values():
        attach(sub)
    return command


def _complete_place(places: tuple[str, ...]):
    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        given = len(ctx.params.get(param.name) or ())
        return _complete(places[given])(ctx, param, incomplete) if given < len(places) else []

    return complete


def _complete(kind: str):
    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        wanted = incomplete.strip()
        with ctx.scope(cleanup=False):  # --register and --as, as given so far, are read from the context
            found = values(kind)
        return [CompletionItem(v) for v in found if v.lower().startswith(wanted.lower())]

    return complete


def values(kind: str) -> list[str]:
    """Every value of `kind` the register (or the rule registry) holds; [] when it cannot be read unasked."""
    if kind == "rules":
        from accountctl.core.audit import RULES

        return list(RULES)
    try:
        return _from_register(QUERIES[kind])
    except Exception:  # a completion that fails completes nothing: never a traceback under the prompt
        return []


def _no_prompt() -> str:
    from accountctl.errors import AccessError

    env = os.environ.get("ACCOUNTCTL_PASSPHRASE")
    if env:
        return env
    raise AccessError("no key without a prompt")


def _from_register(sql: str) -> list[str]:
    from accountctl.cli.common import actor_hint, register_path
    from accountctl.store.register import open_register

    with open_register(register_path(), actor=actor_hint(), passphrase_source=_no_prompt) as reg:
        return [row[0] for row in reg.db.execute(sql)]
