"""The docs stay true: docs/rules.md is what the rule registry generates, and every command's
--help shows an example."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from accountctl.cli import cli
from accountctl.cli import report as report_cli

if "report" not in cli.list_commands(click.Context(cli)):  # until the command is wired into the group
    report_cli.register(cli)

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "gen_rules_doc.py"
DOC = ROOT / "docs" / "rules.md"


def generator():
    spec = importlib.util.spec_from_file_location("gen_rules_doc", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- docs/rules.md --------------------------------------------------------------------------------
def test_rules_doc_matches_the_registry():
    expected = generator().render()
    current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    assert current == expected, (
        "docs/rules.md differs from the rule registry: run 'python tools/gen_rules_doc.py > docs/rules.md'"
    )


def test_the_generated_page_covers_every_rule_and_exit_code():
    from accountctl.core.audit import RULES

    text = generator().render()
    for rule in RULES.values():
        assert f"\n### {rule.id}\n" in text
        assert rule.description.split()[0] in text and " ".join(rule.sources.split()) in text
        assert rule.principle in text and f"clause.{rule.id}" in text
        assert f"| [`{rule.id}`](#{rule.id.lower()}) | {rule.name} | {rule.severity} |" in text
    vault_rules = [r.id for r in RULES.values() if r.needs_vault]
    assert vault_rules and all(
        " | warning | " in text.split(f"(#{r.lower()})", 1)[1].split("\n")[0] for r in vault_rules
    )
    exit_section = text.split("## Exit codes", 1)[1]
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 4 |", "| 5 |"):
        assert code in exit_section


def test_check_mode_passes_on_the_current_page_and_fails_on_a_stale_one(tmp_path):
    current = subprocess.run([sys.executable, str(TOOL), "--check"], capture_output=True, text=True, timeout=60)
    assert current.returncode == 0, current.stderr
    stale = tmp_path / "rules.md"
    stale.write_text(generator().render().replace("### TWO_ADMINS", "### TWO_ADMIN"), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(TOOL), "--check", "--doc", str(stale)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1 and "out of date" in result.stderr
    missing = subprocess.run(
        [sys.executable, str(TOOL), "--check", "--doc", str(tmp_path / "none.md")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 1


# -- --help ---------------------------------------------------------------------------------------
def commands(group: click.Group, path: tuple[str, ...] = ()):
    """Every command and subcommand under `group`, as argv paths (the group itself first)."""
    yield path
    ctx = click.Context(group)
    for name in group.list_commands(ctx):  # list_commands/get_command: the root group loads lazily
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            yield from commands(command, path + (name,))
        else:
            yield path + (name,)


def test_every_command_and_subcommand_help_shows_an_example():
    runner = CliRunner()
    paths = list(commands(cli))
    assert ("report",) in paths and ("account", "admin", "add") in paths and () in paths
    missing = []
    for path in paths:
        result = runner.invoke(cli, [*path, "--help"], catch_exceptions=False)
        assert result.exit_code == 0, f"{' '.join(path)} --help exited {result.exit_code}: {result.stderr}"
        assert "Usage:" in result.stdout
        if "Example" not in result.stdout:
            missing.append(" ".join(("accountctl",) + path))
    assert not missing, f"{len(missing)} command(s) whose --help shows no Example: " + ", ".join(missing)


def options_without_help(group: click.Group) -> tuple[int, list[str]]:
    """How many options the commands under `group` have, and those whose --help says nothing about them."""
    root = click.Context(group)
    missing, seen = [], 0
    for path in commands(group):
        command, ctx = group, root
        for name in path:
            command = command.get_command(ctx, name)
            ctx = click.Context(command, parent=ctx)
        for param in command.get_params(ctx):
            if isinstance(param, click.Option) and not param.hidden:
                seen += 1
                if not (param.help or "").strip():
                    missing.append(f"{' '.join((group.name or 'accountctl',) + path)} {param.opts[0]}")
    return seen, missing


def test_every_option_of_every_command_has_help_text():
    """A style check: `--help` lists no option without saying what it is for."""
    seen, missing = options_without_help(cli)
    assert seen > 200, f"only {seen} options found"
    assert not missing, f"{len(missing)} option(s) without help text: " + ", ".join(missing)


def test_the_help_walk_finds_an_option_without_help():
    @click.group("demo-cli")
    def group():
        """A group."""

    @group.command("waive")
    @click.option("--reason")
    @click.option("--until", help="The last day.")
    def waive(reason, until):
        """A command with one option that says nothing."""

    assert options_without_help(group) == (4, ["demo-cli waive --reason"])  # --help of both, --reason, --until


# -- the guides -----------------------------------------------------------------------------------
GUIDES = [ROOT / "docs" / "guide-it.md", ROOT / "docs" / "guide-slt.md"]


def guide_commands(path: Path):
    """(line, argv after `accountctl`) for every accountctl command in the page's code blocks."""
    import shlex

    in_code, pending = False, ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
            continue
        if not in_code:
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        line, pending = pending + line, ""
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        tokens = list(lexer)
        for i, token in enumerate(tokens):
            if token.rsplit("/", 1)[-1] == "accountctl":
                argv = []
                for word in tokens[i + 1 :]:
                    if word and set(word) <= set("|&;<>()"):
                        break
                    argv.append(word)
                yield line, argv


def test_the_guides_use_real_commands_and_options():
    root_options = {o for p in cli.params for o in p.opts + p.secondary_opts}
    problems, seen = [], 0
    for guide in GUIDES:
        for line, argv in guide_commands(guide):
            seen += 1
            command, ctx, args = cli, click.Context(cli), list(argv)
            while args and args[0].startswith("--") and args[0] in root_options:  # global options first
                args = args[2:] if args[0] in ("--as", "--register", "--format") else args[1:]
            while isinstance(command, click.Group) and args and not args[0].startswith("-"):
                sub = command.get_command(ctx, args[0])
                if sub is None:
                    problems.append(f"{guide.name}: unknown command {args[0]!r} in: {line.strip()}")
                    break
                command, ctx, args = sub, click.Context(sub, parent=ctx), args[1:]
            known = {o for p in command.params for o in p.opts + p.secondary_opts} | root_options
            for word in args:
                if word.startswith("--") and word.split("=", 1)[0] not in known:
                    problems.append(f"{guide.name}: {word} is not an option of '{command.name}' in: {line.strip()}")
    assert seen > 40, f"only {seen} commands found in the guides"
    assert not problems, "\n".join(problems)
