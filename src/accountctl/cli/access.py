"""init, login, logout, passwd, person grant|revoke|list, vault status|recover."""

from __future__ import annotations

import os
import sys

import click

from accountctl.cli import output
from accountctl.cli.common import (
    actor_hint,
    file_format_options,
    file_options,
    fmt,
    format_options,
    global_options,
    interactive,
    new_passphrase,
    passphrase_source,
    reads,
    register_path,
    session,
    writes,
)
from accountctl.core import access
from accountctl.errors import AccessError, InputError


@click.command()
@click.option("--trust", required=True, help="Name of the school or trust.")
@click.option("--email", required=True, help="Your staff email: you become the first IT custodian.")
@click.option("--name", required=True, help="Your name.")
@file_options
def init(trust: str, email: str, name: str) -> None:
    """Create a register and your custodian key slot; prints the recovery key once.

    Asks twice, hidden, for the passphrase of your key slot (a few uncommon words: it must not be
    easy to guess). Scripts may set ACCOUNTCTL_NEW_PASSPHRASE instead, from a secret store.

    \b
    Example:
      accountctl init --trust "Oak Trust" --email it@oak.sch.uk --name "Ira Tech"
    """
    from accountctl import model
    from accountctl.store import register as store

    where = register_path()
    if store.exists(where):  # before the passphrase is asked for
        raise InputError(f"a register already exists at {store.describe(where)}; refusing to overwrite it")
    model.nonempty(trust, "trust name", 200)  # bad input is refused before the passphrase is asked for
    model.email(email)
    model.nonempty(name, "name", 200)
    passphrase = new_passphrase("a passphrase for your key slot", (email, name, trust))
    access.check_new_passphrase(passphrase)
    with store.create(where, model.email(email), passphrase) as (reg, recovery, signing_public):
        access.init(reg, trust, email, name, signing_public)
    output.message(
        f"Created register {store.describe(where)} for {trust.strip()}; {email.strip().lower()} is its IT custodian."
    )
    output.message("Recovery key (shown only this once: print it and lock it away; it opens everything):")
    click.echo(recovery)


@click.command()
@click.option("--agent", "use_agent", is_flag=True, help="Give the key to this user's agent instead of the OS keyring.")
@click.option(
    "--ttl", "ttl", metavar="D", help="With --agent: forget the key after this long unused (e.g. 2h; 12h at most)."
)
@global_options
def login(use_agent: bool, ttl: str | None) -> None:
    """Cache your unlock key in the OS keyring (or the agent), so commands stop asking for your passphrase.

    Where no OS keyring works (a headless server, WSL), the key goes to the agent by itself.

    \b
    Example:
      accountctl login --as it@oak.sch.uk
      accountctl login --agent --ttl 2h
    """
    from accountctl.agent import client as agent_client, protocol as agent_protocol
    from accountctl.store import keyring_cache, register as store

    seconds = None
    if ttl is not None:
        if not use_agent:
            raise InputError("--ttl goes with --agent")
        from accountctl.cli.agent import parse_ttl

        seconds = parse_ttl(ttl)
    if use_agent and agent_client.kept_away():
        raise InputError(f"--agent asks for the agent, but {agent_protocol.NO_AGENT}=1 keeps this command away from it")
    to_agent = use_agent or not keyring_cache.available()
    why = "" if use_agent else f" (no OS keyring here: {keyring_cache.unavailable_reason()})"
    if to_agent and agent_client.kept_away():  # and never started by itself
        output.message(
            f"Not logged in: no OS keyring here ({keyring_cache.unavailable_reason()}), and {agent_protocol.NO_AGENT}=1 "
            "keeps the agent away; commands will ask for your passphrase."
        )
        return
    path = register_path()
    header, _ = store.read_header(path)
    slot = store.choose_slot(header, actor_hint())
    kek, keys = store.unlock_kek(header, slot, passphrase_source(actor_hint()), use_keyring=False)
    # Cached nowhere before the register has opened with it, with every check: a refused open writes nothing.
    with store.open_register(path, actor=actor_hint(), passphrase_source=passphrase_source(actor_hint()), kek=kek):
        pass
    name = store.keyring_name(header, slot)
    if to_agent:
        from accountctl.cli.agent import hand_over

        try:
            replaced = hand_over(header.file_id, name, kek, actor_hint() or "", store.describe(path), seconds)
            if not actor_hint():  # the only person with a slot: their email is inside the register (agent's key)
                with session() as reg:
                    replaced += hand_over(header.file_id, name, kek, reg.actor, store.describe(path), seconds)
        except agent_protocol.AgentRefused as exc:  # its folder, socket or process is not this user's own
            agent_client.refuse(str(exc))
            output.message(
                "Not logged in: the agent cannot be used safely here; commands will ask for your passphrase."
            )
            return
        if replaced:
            output.message(
                f"The agent held {', '.join(p or 'another person' for p in replaced)}'s key for this register: "
                "replaced by yours (one person's key per register; 'accountctl agent start --multi' holds several)."
            )
        output.message(f"Logged in: your unlock key is held by the agent{why}; run 'accountctl logout' to forget it.")
        return
    keyring_cache.put(header.file_id, name, kek)
    output.message("Logged in: your unlock key is cached in the OS keyring (run 'accountctl logout' to forget it).")


@click.command()
@click.option(
    "--all", "everyone", is_flag=True, help="Forget every cached unlock key of this register on this machine."
)
@global_options
def logout(everyone: bool) -> None:
    """Forget your cached unlock key (even after your key slot was revoked).

    \b
    Example:
      accountctl logout
      accountctl logout --all
    """
    from accountctl.cli import agent
    from accountctl.agent import client as agent_client, protocol as agent_protocol
    from accountctl.store import fileformat as ff, keyring_cache, register as store

    header, _ = store.read_header(register_path())
    if everyone:
        tags = {s.tag.hex() for s in header.slots if s.kind == ff.KIND_PERSON}
        gone = keyring_cache.delete_all(header.file_id, tags) if keyring_cache.available() else 0
        gone += agent.forget(header.file_id)
        unasked = f" (the agent was not asked: {agent_protocol.NO_AGENT}=1)" if agent_client.kept_away() else ""
        output.message(
            f"Logged out everyone: {gone} cached unlock key(s) of this register removed from this machine{unasked}."
        )
        return
    who = actor_hint()
    # The keyring entry is named by the person's tag, which needs no slot: a revoked person can still log out.
    name = (
        ff.person_tag(header.file_id, who).hex() if who else store.keyring_name(header, store.choose_slot(header, None))
    )
    held = agent.forget(header.file_id, name)
    unasked = f" (the agent was not asked: {agent_protocol.NO_AGENT}=1)" if agent_client.kept_away() else ""
    if (keyring_cache.available() and keyring_cache.delete(header.file_id, name)) or held:
        output.message(f"Logged out: your cached unlock key is gone{unasked}.")
    else:
        output.message(f"Nothing to forget: no unlock key was cached for you{unasked}.")


@click.command()
@global_options
def passwd() -> None:
    """Change your own passphrase.

    \b
    Example:
      accountctl passwd
    """
    from accountctl.store import keyring_cache, register as store

    with session() as reg:  # the current passphrase first: a wrong one is refused before a new one is asked for
        actor = reg.actor
    new = new_passphrase("your new passphrase", (actor,))  # asked before the writers' lock is taken, never under it
    with session(write=True) as reg:
        tag = store.keyring_name(reg.header, reg.slot)
        cached = keyring_cache.available() and keyring_cache.get(reg.file_id, tag) is not None
        kek = access.passwd(reg, new)
        reg.save()
        if cached:
            keyring_cache.put(reg.file_id, tag, kek)
        output.message(f"Passphrase changed for {reg.actor}.")


@click.group()
def person() -> None:
    """Who holds a key slot: grant, revoke, list.

    \b
    Example:
      accountctl person grant head@oak.sch.uk --access register
    """


@person.command("grant")
@click.argument("email")
@click.option(
    "--access",
    "level",
    type=click.Choice(["register", "vault"]),
    required=True,
    help="register: open the register (SLT, approvers); vault: also credentials (IT custodians).",
)
@click.option(
    "--school",
    "schools",
    multiple=True,
    metavar="S",
    help="A key per school (format 5): a school they may read (repeat; '*' for all). Default: their own school "
    "for a headteacher or SLT member; every school for IT, the CEO and the central team.",
)
@global_options
def person_grant(email: str, level: str, schools: tuple[str, ...]) -> None:
    """Give a member of staff a key slot; the new passphrase comes from ACCOUNTCTL_NEW_PASSPHRASE or a prompt.

    \b
    Example:
      accountctl person grant head@oak.sch.uk --access register
      accountctl person grant head@elm.sch.uk --access register --school elm
    """
    from accountctl import model
    from accountctl.core.directory import find_staff
    from accountctl.core.lookup import nearest

    with session() as reg:  # your own passphrase, and who they are, before their new passphrase is asked for
        access.require_custodian(reg, "grant access")
        address = model.email(email)
        person = find_staff(reg.db, address)
        if person is None:
            raise InputError(
                f"{address} is not staff in this register; add them with 'accountctl staff add' first"
                + nearest(reg.db, address, "SELECT email FROM staff")
            )
        access.grant_schools(reg, address, level, schools)  # a wrong --school before the passphrase is asked for
    passphrase = new_passphrase(f"a passphrase for {address}", (address, person["name"]))  # never under the lock
    with session(write=True) as reg:
        result = access.grant(reg, email, level, passphrase, schools)
    reads = result["schools"]
    where = "" if reads is None else " to every school" if reads == "*" else f" to {', '.join(reads)} only"
    output.message(
        f"Granted {result['access']} access{where} to {result['email']}; they can change it with 'accountctl passwd'."
    )


@person.command("revoke")
@click.argument("email")
@global_options
@writes
def person_revoke(reg, email: str) -> None:
    """Remove a key slot and rotate the keys it opened.

    \b
    Example:
      accountctl person revoke old.tech@oak.sch.uk
    """
    result = access.revoke(reg, email)
    output.message(
        f"Revoked {result['email']}; rotated the {' and '.join(result['rotated'])}. "
        "Copies of the register from before now still open with their old passphrase: "
        "change the passwords they could read."
    )


@person.command("list")
@format_options
@reads
def person_list(reg) -> None:
    """List everyone who holds a key slot.

    \b
    Example:
      accountctl person list --json
    """
    access.require_custodian(reg, "list key slots")
    people = access.list_people(reg)
    columns = ["email", "name", "access", "granted_at", "granted_by"]
    output.rows(people, columns + (["schools"] if people and "schools" in people[0] else []), fmt())


@click.group()
def vault() -> None:
    """The register itself: status, copy (a file or PostgreSQL), rollback, recovery.

    \b
    Example:
      accountctl vault status
    """


@vault.command("status")
@file_format_options
def vault_status() -> None:
    """File, format version, KDF parameters, key slots, generation, and who saved last (no passphrase needed).

    Who saved last is named when your key is at hand (keyring or ACCOUNTCTL_PASSPHRASE); otherwise
    its key slot is shown. `verify` checks that save's signature.

    \b
    Example:
      accountctl vault status --json
    """
    from accountctl.store.register import file_status

    info = file_status(register_path())
    who = _saved_by_if_unlockable()
    info = {
        k: v
        for key, value in info.items()
        for k, v in ([(key, value), ("saved_by", who)] if key == "saved_by_slot" else [(key, value)])
    }
    if fmt() == "table":
        output.record({k: v for k, v in info.items() if k != "slots"}, "table")
        click.echo("")
        output.rows(info["slots"], ["slot", "kind", "access", "kdf", "memory_kib", "iterations", "lanes"], "table")
    elif fmt() == "csv":
        output.rows(info["slots"], ["slot", "kind", "access", "kdf", "memory_kib", "iterations", "lanes"], "csv")
    else:
        output.record(info, "json")


def _saved_by_if_unlockable() -> str | None:
    """The email of whoever saved last, when the register opens without asking for a passphrase."""
    from accountctl.errors import AccountctlError
    from accountctl.store.register import open_register

    def no_prompt() -> str:
        if os.environ.get("ACCOUNTCTL_PASSPHRASE"):
            return os.environ["ACCOUNTCTL_PASSPHRASE"]
        raise AccessError("no key at hand")

    try:
        with open_register(register_path(), actor=actor_hint(), passphrase_source=no_prompt) as reg:
            return reg.saved_by()
    except AccountctlError:
        return None


@vault.command("accept-rollback")
@click.option("--reason", required=True, help="Why an older copy was put back (recorded and shown to other machines).")
@global_options
def vault_accept_rollback(reason: str) -> None:
    """Accept a deliberately restored older register (a backup put back); signed and recorded.

    Other machines that saw the newer register accept it too, with a one-line notice.

    \b
    Example:
      accountctl vault accept-rollback --reason "Restored Friday's backup after a bad import"
    """
    from accountctl.store.register import open_register

    who = actor_hint()
    with open_register(
        register_path(), actor=who, passphrase_source=passphrase_source(who), write=True, accepting_rollback=True
    ) as reg:
        access.require_may_act(reg)
        result = access.accept_rollback(reg, reason)
    output.message(
        f"Accepted the restore: generation {result['restored']} replaces generation {result['abandoned']} "
        "on this machine; other machines will accept it with a notice."
    )


@vault.command("upgrade")
@click.option("--yes", is_flag=True, help="Sign without asking (a script that has checked the list some other way).")
@click.option(
    "--school",
    "schools",
    multiple=True,
    metavar="EMAIL=S[,S2]",
    help="Format 4 to 5: the schools this person will read ('*' for all), instead of their staff record's.",
)
@format_options
def vault_upgrade(yes: bool, schools: tuple[str, ...]) -> None:
    """Upgrade the register once, after you have checked what it will sign.

    A format-4 register becomes format 5: a key per school, so a headteacher or SLT member reads
    their own school only (custodians, the CEO and the central team read every school). The list
    shows each key slot and the schools it will read, and what goes into each school; change a
    person's schools with --school. A format-2 register (accountctl 0.1) gains signed grants: the
    upgrade signs every key slot, person and signing key it finds as the register's root of trust.
    Either way it lists first (stdout) and asks you to confirm; say no if anyone, any key or any
    school is not what you expect. No other command upgrades a register, and a machine that has seen
    the register in a newer format refuses the old one.

    \b
    Example:
      accountctl vault upgrade
      accountctl vault upgrade --school ceo@trust.org.uk='*'
    """
    from accountctl.store.fileformat import UPGRADABLE
    from accountctl.store.register import read_header, upgrade

    who = actor_hint()
    if read_header(register_path())[0].version != UPGRADABLE:
        _upgrade_to_five(who, yes, schools)
        return
    if schools:
        raise InputError("--school is for an upgrade from format 4 to format 5")
    planned = upgrade.plan(register_path(), who, passphrase_source(who))
    output.rows(planned.rows(), ["slot", "person", "access", "signing_key", "status"], fmt())
    question = (
        f"Sign these {len(planned.members)} key slot(s) and their signing keys as {planned.actor}, "
        "as the register's root of trust?"
    )
    _confirm(yes, question)
    count = upgrade.apply(register_path(), planned)
    output.message(
        f"Upgraded the register to format 4 (signed grants and saves); {planned.actor} signed its {count} key slot(s)."
    )


def _confirm(yes: bool, question: str) -> None:
    if not yes:
        if not interactive():
            raise InputError("refusing to sign without your confirmation: check the list, then run again with --yes")
        if not click.confirm(question, default=False, err=True):
            raise InputError("not upgraded: nothing was signed or written")


def _upgrade_to_five(who: str | None, yes: bool, schools: tuple[str, ...]) -> None:
    from accountctl.store.register import upgrade5

    overrides = {}
    for item in schools:
        email, sep, value = item.partition("=")
        if not sep or not email.strip() or not value.strip():
            raise InputError(f"--school {item}: give EMAIL=SCHOOL[,SCHOOL2] or EMAIL='*'")
        overrides[email.strip()] = value
    planned = upgrade5.plan(register_path(), who, passphrase_source(who), overrides, access.default_schools)
    output.rows(planned.rows(), ["slot", "person", "access", "schools", "signing_key"], fmt())
    for row in planned.counts:
        output.message(f"  {row['scope']}: {row['accounts']} accounts, {row['staff']} staff, {row['events']} events")
    question = (
        f"Write format 5 as {planned.actor}: a key per school, each of these {len(planned.members)} key slot(s) "
        "reading the schools listed?"
    )
    _confirm(yes, question)
    count = upgrade5.apply(register_path(), planned)
    output.message(
        f"Upgraded the register to format 5 (a key per school); {planned.actor} signed the schools of its "
        f"{count} key slot(s). The backup beside it is the new file too: keep no format-4 copy where others can read it."
    )


@vault.command("copy")
@click.option(
    "--to",
    "target",
    required=True,
    metavar="PATH|URL",
    help="Where the copy goes: a new file, or a postgresql:// URL with no register yet.",
)
@global_options
def vault_copy(target: str) -> None:
    """Copy the register to a new file or a PostgreSQL database, either way: keys and history unchanged.

    The copy is the same register, byte for byte (its signatures verify there); point everyone at
    it (ACCOUNTCTL_REGISTER) and stop writing to the old one. See docs/shared-register.md.

    \b
    Example:
      accountctl vault copy --to postgresql://accountctl@db.oak.sch.uk/trust
      accountctl --register postgresql://accountctl@db.oak.sch.uk/trust vault copy --to ~/trust.accountctl
    """
    from accountctl.core import events as history
    from accountctl.store import register as store
    from accountctl.store.stores import address

    who = actor_hint()
    source, destination = register_path(), address(target)
    with store.copy_register(source, destination, actor=who, passphrase_source=passphrase_source(who)) as reg:
        access.require_custodian(reg, "copy the register")
        generation, (events, _) = reg.header.generation, history.head(reg.db)
    output.message(
        f"Copied the register (generation {generation}, {events} events) from {store.describe(source)} to "
        f"{store.describe(destination)}; point everyone at the copy and stop writing to the old one."
    )


@vault.command("recover")
@click.argument("email")
@global_options
def vault_recover(email: str) -> None:
    """Regain access with the recovery key: sets a new passphrase on EMAIL's key slot.

    The recovery key comes from ACCOUNTCTL_RECOVERY_KEY, a hidden prompt, or stdin.

    \b
    Example:
      accountctl vault recover it@oak.sch.uk
    """
    from accountctl.store import register as store

    text = os.environ.get("ACCOUNTCTL_RECOVERY_KEY")
    if not text:
        if interactive():
            text = click.prompt("Recovery key", hide_input=True, err=True)
        else:
            text = sys.stdin.readline()  # click.get_text_stream is deprecated (removed in Click 9)
    if not text or not text.strip():
        raise AccessError("no recovery key given")
    key = store.parse_recovery_key(text)
    path = register_path()
    store.read_header(path)
    passphrase = new_passphrase(f"a new passphrase for {email.strip().lower()}", (email,))
    with store.open_with_recovery_key(path, key) as reg:
        result = access.recover(reg, email, passphrase)
    output.message(f"Recovered {result['email']}: their key slot opens with the new passphrase.")
