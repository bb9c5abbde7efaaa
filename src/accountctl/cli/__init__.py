"""The command line: parses, unlocks, calls the core and renders. Nothing else lives here."""

from __future__ import annotations

import os
import sqlite3
import sys

import click

from accountctl import __version__
from accountctl.cli.common import global_options, format_options
from accountctl.cli.output import escape
from accountctl.errors import AccountctlError


# Every command and the module that defines it: imported only when that command runs, so the hot
# paths (`otp`, `cred show`) load only what they use (click's documented lazy-loading pattern).
COMMANDS = {
    "init": "access",
    "agent": "agent",
    "login": "access",
    "logout": "access",
    "passwd": "access",
    "person": "access",
    "vault": "access",
    "school": "directory",
    "staff": "directory",
    "account": "accounts",
    "approve": "accounts",
    "reject": "accounts",
    "cred": "creds",
    "otp": "creds",
    "audit": "audit",
    "rules": "audit",
    "waive": "audit",
    "review": "audit",
    "monitor": "audit",
    "config": "audit",
    "offboard": "offboard",
    "log": "history",
    "verify": "history",
    "export": "history",
    "report": "report",
    "publish": "publish",
    "incident": "incidents",
    "attest": "attest",
    "demo": "demo",
    "mailbox": "mailboxes",
    "platform": "safeguarding",
    "erase": "safeguarding",
}
ATTRIBUTES = {"config": "config_group"}


class AccountctlGroup(click.Group):
    """The root group: loads commands lazily; maps our errors to one `Error: ...` line and exit code."""

    def resolve_command(self, ctx, args):
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand as exc:
            if exc.possibilities:
                raise
            # click suggests from the commands it has loaded, and ours load lazily: suggest from them all
            raise click.exceptions.NoSuchCommand(args[0], possibilities=list(COMMANDS), ctx=ctx) from None

    def list_commands(self, ctx):
        return sorted(name for name in COMMANDS if self.get_command(ctx, name) is not None)

    def get_command(self, ctx, name):
        module_name = COMMANDS.get(name)
        if module_name is None:
            return None
        import importlib

        try:
            module = importlib.import_module(f"accountctl.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"accountctl.cli.{module_name}":
                return None  # a command whose module is not written yet
            raise
        command = getattr(module, ATTRIBUTES.get(name, name))
        if os.environ.get("_ACCOUNTCTL_COMPLETE"):  # the shell asks: ids, emails and rules complete too
            from accountctl.cli import completion

            completion.attach(command)
        return command

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        argv = list(sys.argv[1:] if args is None else args)
        if os.environ.get("_ACCOUNTCTL_COMPLETE"):  # --as completes from the staff, as a command's emails do
            from accountctl.cli import completion

            completion.attach(self)
        debug = "--debug" in argv or bool(os.environ.get("ACCOUNTCTL_DEBUG"))
        code = 0
        try:
            result = super().main(
                args=argv,
                prog_name=prog_name or "accountctl",
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
            code = result if isinstance(result, int) else 0
        except AccountctlError as exc:
            if debug:
                raise
            click.echo(f"Error: {escape(str(exc))}", err=True)
            code = exc.exit_code
        except click.exceptions.Abort:
            click.echo("Error: aborted", err=True)
            code = 130
        except click.ClickException as exc:
            text = exc.format_message()
            if isinstance(exc, click.UsageError) and exc.ctx is not None:
                text += f" (see '{exc.ctx.command_path} --help')"
            click.echo(f"Error: {escape(text)}", err=True)
            code = exc.exit_code
        except KeyboardInterrupt:
            click.echo("Error: interrupted", err=True)
            code = 130
        except BrokenPipeError:
            code = 0
        except sqlite3.DatabaseError as exc:  # an authenticated body that SQLite cannot read
            if debug:
                raise
            from accountctl.store.split import refusal

            refused = refusal(exc)  # a key per school: a row for a school this key does not open
            if refused is not None:
                click.echo(f"Error: {escape(str(refused))}", err=True)
                code = refused.exit_code
            else:
                click.echo(f"Error: register damaged: its database cannot be read ({escape(str(exc))})", err=True)
                code = 4
        except Exception as exc:  # a bug: say so in one line unless --debug asks for the traceback
            if debug:
                raise
            click.echo(f"Error: internal error ({type(exc).__name__}); run again with --debug for details", err=True)
            code = 2
        if code in (0, 1):
            _notice()
        if standalone_mode:
            sys.exit(code)
        return code


def _notice() -> None:
    """The no-keyring notice, after a command that worked (never beside an `Error:` line)."""
    cache = sys.modules.get("accountctl.store.keyring_cache")  # not imported: nothing unlocked, nothing to say
    text = cache.take_notice() if cache is not None else None
    if text:
        click.echo(text, err=True)


# Every environment variable accountctl reads, for `accountctl --help` (docs/guide-it.md keeps the same list).
ENVIRONMENT = (  # each line fits 80 columns in `--help`
    ("ACCOUNTCTL_REGISTER", "the register: a file or postgresql:// address"),
    ("ACCOUNTCTL_USER", "who you are (your email), as --as"),
    ("ACCOUNTCTL_PASSPHRASE", "passphrase for scripts (else keyring or prompt)"),
    ("ACCOUNTCTL_NEW_PASSPHRASE", "new passphrase: init, grant, passwd, vault recover"),
    ("ACCOUNTCTL_RECOVERY_KEY", "the recovery key for vault recover"),
    ("ACCOUNTCTL_NO_AGENT", "1: never use the agent, nor its cached keys"),
    ("ACCOUNTCTL_TODAY", "act as if today were YYYY-MM-DD (for rehearsals)"),
    ("ACCOUNTCTL_DEBUG", "any value: a traceback on error, as --debug"),
    ("ACCOUNTCTL_LOCK_TIMEOUT", "seconds to wait for another writer (default 10)"),
    ("ACCOUNTCTL_KDF", "Argon2id cost of new key slots: m=KIB,t=N,p=N"),
    ("COLUMNS", "the width tables fit (else the terminal's)"),
    ("NO_COLOR", "any value: no colour, even at a terminal"),
    ("XDG_STATE_HOME", "what this machine remembers (~/.local/state)"),
    ("XDG_DATA_HOME", "the default register's folder (~/.local/share)"),
    ("XDG_RUNTIME_DIR", "where the agent's socket lives"),
    ("PYTHON_KEYRING_BACKEND", "which OS keyring the keyring library uses"),
)


@click.group(
    cls=AccountctlGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="\b\nEnvironment:\n" + "\n".join(f"  {name:<26}{what}" for name, what in ENVIRONMENT),
)
@click.version_option(__version__, prog_name="accountctl")
@format_options
def cli() -> None:
    """Govern a school's or trust's official social-media accounts in one encrypted register.

    \b
    Example:
      accountctl init --trust "Oak Trust" --email it@oak.sch.uk --name "Ira Tech"
    """


def main() -> None:
    """The console script: run one command, then leave without the interpreter's teardown.

    A command lives for well under a second or two, so two costs buy nothing. The cyclic garbage
    collector's passes over a large trust's tens of thousands of rows take ~10% of an audit and
    find nothing to free (reference counting frees what a command drops). And the teardown frees
    every object one by one (~30 ms at 10,000 accounts) just before the OS reclaims it all; by the
    time it would run, every file is closed and the writers' lock released.
    """
    import gc

    from accountctl.errors import not_utf8

    refusal = not_utf8(sys.argv[1:])
    if refusal:
        sys.stderr.write(refusal + "\n")
        sys.exit(2)
    gc.disable()
    code = cli.main(standalone_mode=False)  # with --debug, a traceback still leaves the normal way
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # the reader (`| head`) has gone: nothing left to say
        pass
    os._exit(code)


__all__ = ["cli", "main", "global_options", "format_options"]
