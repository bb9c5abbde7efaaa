"""The house's walls (docs/architecture.md): each layer imports only what lies below it.

Walks every module under src/accountctl with `ast` (imports at any depth, lazy ones inside functions
included) and fails on an import that runs upward or sideways between layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "accountctl"
MAX_LINES = 600

# Layer of each module, by its dotted name's prefix (the longest that matches wins); lower numbers lie below.
LAYERS = {
    "accountctl": 0,  # the shared ground: errors, clock, model, chain, crypto, schema, membership, safetext
    "accountctl.agent.client": 0,  # asks this user's agent for a key or a command's answer: stdlib only
    "accountctl.agent.protocol": 0,
    "accountctl.store": 1,  # bytes, keys, locks: the register file and PostgreSQL
    "accountctl.core": 1,  # the rules of the product: plain functions over plain data
    "accountctl.cli": 2,  # parses, unlocks (store), calls the core, renders
    "accountctl.fast": 2,  # the console entry: the agent's client first, else the CLI
    "accountctl.__main__": 2,
    "accountctl.agent": 3,  # the agent itself (process, loop, keys, requests, held) runs commands: it may use everything
}
# Within one layer, these may not import each other (the store and the core meet only in the CLI).
SIBLINGS_APART = [("accountctl.store", "accountctl.core")]


def _layer_key(name: str) -> str:
    best = ""
    for prefix in LAYERS:
        if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > len(best):
            best = prefix
    return best


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, name: str) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            # `from accountctl.store import register`: the module imported is accountctl.store.register
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
    ours = {(line, t) for line, t in found if t == "accountctl" or t.startswith("accountctl.")}
    # `from accountctl.store import crypto` names the package too: only the module imported counts
    return sorted(x for x in ours if not any(y[0] == x[0] and y[1].startswith(x[1] + ".") for y in ours))


def _violations() -> list[str]:
    problems = []
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    for name, path in sorted(modules.items()):
        mine = _layer_key(name)
        targets = set()
        for line, target in _imports(path, name):
            if target not in modules and target.rsplit(".", 1)[0] in modules:
                target = target.rsplit(".", 1)[0]  # a name imported from a module, not a module
            if target in modules:
                targets.add((line, target))
        for line, target in sorted(targets):
            theirs = _layer_key(target)
            if LAYERS[theirs] > LAYERS[mine]:
                problems.append(f"{path.relative_to(SRC)}:{line} imports {target}, which lies above it")
            for a, b in SIBLINGS_APART:
                for x, y in ((a, b), (b, a)):
                    if (name == x or name.startswith(x + ".")) and (target == y or target.startswith(y + ".")):
                        problems.append(f"{path.relative_to(SRC)}:{line} imports {target}, beside it")
    return problems


def test_each_layer_imports_only_what_lies_below_it():
    assert _violations() == []


def test_the_rule_itself_catches_an_import_that_runs_upward(tmp_path, monkeypatch):
    """The walker sees lazy imports inside functions and `from package import module`."""
    src = tmp_path / "src"
    (src / "accountctl" / "store").mkdir(parents=True)
    (src / "accountctl" / "core").mkdir()
    for init in ("accountctl", "accountctl/store", "accountctl/core"):
        (src / init / "__init__.py").write_text("")
    (src / "accountctl" / "core" / "events.py").write_text("")
    (src / "accountctl" / "store" / "register.py").write_text("def f():\n    from accountctl.core import events\n")
    monkeypatch.setattr(__import__(__name__), "SRC", src)
    monkeypatch.setattr(__import__(__name__), "PACKAGE", src / "accountctl")
    assert _violations() == [
        "accountctl/store/register.py:2 imports accountctl.core.events, beside it",
    ]


def test_no_source_module_is_over_600_lines():
    long = {
        str(p.relative_to(SRC)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}
