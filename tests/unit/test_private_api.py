"""No private API: the bot's code reads, writes and imports no `_name` of anything but its own object
(`self`, `cls`). A dependency's private attributes change without notice between releases (Bolt's
`app._listeners` once carried the error boundary); our own are private to their class or module too."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "commands", "store", "scheduler")


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _uses(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found += [(node.lineno, f"from {node.module} import {a.name}") for a in node.names if _private(a.name)]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("getattr", "setattr", "hasattr", "delattr") and len(node.args) >= 2
              and isinstance(node.args[1], ast.Constant) and _private(str(node.args[1].value))):
            found.append((node.lineno, ast.unparse(node)))
    return sorted(found)


def test_the_walk_finds_each_way_of_reaching_a_private_name():
    source = ("app._listeners\nself.app._x\nfrom slack_bolt.app import _helper\ngetattr(app, '_flag')\n"
              "self._mine\ncls._ours\nobj.__class__\nfrom . import _sibling\n")
    assert [line for line, _ in _uses(ast.parse(source))] == [1, 2, 3, 4]


def test_no_module_reaches_a_private_name():
    found = [f"{path.relative_to(ROOT)}:{line}: {text}"
             for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
             for line, text in _uses(ast.parse(path.read_text(encoding="utf-8")))]
    assert found == []
