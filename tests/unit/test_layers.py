"""The house keeps its shape (docs/architecture.md, "Who may import what"): the project's own modules import
each other without a circle, and each package imports only what its layer may.

The import graph is read from the source with `ast`, so it sees every import: at the top of a module, inside
a function (the usual way to dodge a circle) and under `if TYPE_CHECKING:`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "commands", "store", "scheduler")

# package -> the top-level names it must not import (its own project's packages and third-party ones)
FORBIDDEN = {
    "store": {"bot", "commands", "scheduler", "slack_bolt", "slack_sdk", "apscheduler"},
    "scheduler": {"commands", "slack_bolt"},
    "commands": {"apscheduler"},
}
# the bot modules that the layers below bot/ may use: helpers, not the app, the CLI or the servers
BOT_HELPERS = {"bot.blocks", "bot.clock", "bot.downloads", "bot.people", "bot.settings", "bot.slack"}

# The area packages (store/<area>/, commands/<area>/; onboarding is a store package serving every area).
AREA_PACKAGES = {"agreements", "batches", "stability", "submissions", "onboarding"}
# The shared modules that read the areas: the declarations, the table list, the calendar feed of every area's
# dates, the check of every signature's link, and the program card (it shows the signing method, a batch
# setting). Every other shared module stands below the areas.
COLLECTORS = {"store.areas", "store.models", "store.feed_events", "store.signature_links", "commands.areas",
              "commands.programs"}
# (importing area, imported area) across areas, each for a reason: a batch's release checks the quality
# agreement in force; each area declares what it imports from a tracker and exports (store/<area>/tracker.py)
# with onboarding's columns, kinds and sheets, so the areas read onboarding and onboarding reads no area (the
# collectors hand it every area's kinds and sheets); a submission document is signed with the program's batch
# signing method (its settings live with the batches).
ACROSS_AREAS = {("store.batches", "store.agreements"), ("store.agreements", "store.onboarding"),
                ("store.batches", "store.onboarding"), ("store.stability", "store.onboarding"),
                ("store.submissions", "store.onboarding"), ("commands.submissions", "store.batches")}


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module (a project module) or dotted name (anything else)
    line: int

    def __str__(self) -> str:
        return f"{self.source} → {self.target} (line {self.line})"


def modules(root: Path = REPO) -> dict[str, Path]:
    """Every module of the project's packages by dotted name (a package is its `__init__`)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The dotted names an import statement names: for `from a import b`, both `a.b` (b may be a module)
    and `a`."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        here = module.split(".") if is_package else module.split(".")[:-1]
        here = here[:len(here) - (node.level - 1)]
        base = ".".join([*here, *([node.module] if node.module else [])])
    return [f"{base}.{alias.name}" for alias in node.names] + [base]


def imports(root: Path = REPO) -> list[Import]:
    """Every import in the project's modules; project names resolved to the module they land in."""
    known = modules(root)

    def resolve(name: str) -> str:
        candidate = name
        while candidate:
            if candidate in known:
                return candidate
            candidate = candidate.rpartition(".")[0]
        return name

    found = []
    for module, path in known.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            names = _imported(node, module, path.name == "__init__.py")
            if isinstance(node, ast.ImportFrom):
                base = names[-1]
                submodules = [n for n in names[:-1] if n in known]
                # `from a import b`: b is either a module of a (an edge to it) or a name defined in a
                names = submodules + ([base] if len(submodules) < len(names) - 1 else [])
            for name in names:
                target = resolve(name)
                if target != module:
                    found.append(Import(module, target, node.lineno))
    return found


def cycles(edges: list[Import], nodes: set[str]) -> list[list[Import]]:
    """One circle of imports through each strongly connected group of modules (Tarjan's algorithm)."""
    graph: dict[str, dict[str, Import]] = {node: {} for node in nodes}
    for edge in edges:
        if edge.target in nodes:
            graph[edge.source].setdefault(edge.target, edge)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(nodes):
        if node not in index:
            visit(node)
    return [_circle(graph, group) for group in groups]


def _circle(graph: dict[str, dict[str, Import]], group: set[str]) -> list[Import]:
    """A shortest path from the group's first module back to itself, inside the group."""
    start = min(group)
    paths: dict[str, list[Import]] = {start: []}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt, edge in sorted(graph[node].items()):
                if nxt == start:
                    return [*paths[node], edge]
                if nxt in group and nxt not in paths:
                    paths[nxt] = [*paths[node], edge]
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"no circle through {start}")  # a strongly connected group always has one


def test_no_import_cycle_among_the_projects_modules():
    found = cycles(imports(), set(modules()))
    assert not found, "import cycles:\n" + "\n".join(" ; ".join(map(str, circle)) for circle in found)


def test_each_package_imports_only_what_its_layer_may():
    wrong = [str(edge) for edge in imports()
             if edge.target.split(".")[0] in FORBIDDEN.get(edge.source.split(".")[0], set())]
    assert not wrong, "imports across the layers:\n" + "\n".join(wrong)


def test_below_bot_only_its_helpers_are_imported():
    """commands/ and scheduler/ use bot's helpers (Block Kit, the clock, the Slack client …); the app, the
    CLI and the servers sit on top and import them, never the other way round."""
    wrong = [str(edge) for edge in imports()
             if edge.source.split(".")[0] in ("commands", "scheduler") and edge.target.split(".")[0] == "bot"
             and edge.target not in BOT_HELPERS]
    assert not wrong, "imports of bot's top from below:\n" + "\n".join(wrong)


def test_bots_helpers_stand_on_the_store_alone():
    """The helpers are the floor commands/ and scheduler/ stand on: they import each other and store/ only."""
    wrong = [str(edge) for edge in imports()
             if edge.source in BOT_HELPERS and edge.target.split(".")[0] in PACKAGES
             and edge.target.split(".")[0] != "store" and edge.target not in BOT_HELPERS]
    assert not wrong, "bot's helpers import above them:\n" + "\n".join(wrong)


def _area(module: str) -> str | None:
    """`store.batches` for store.batches.rules (commands.onboarding is onboarding's one module), None for a shared
    module such as store.audit."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 and parts[1] in AREA_PACKAGES else None


def test_shared_modules_stand_below_the_areas():
    """store/'s and commands/'s shared modules (db, audit, outbox, the router …) import no area package, so an
    area can be read, moved or removed without them; only the collectors read the areas."""
    wrong = [str(edge) for edge in imports()
             if edge.source.split(".")[0] in ("store", "commands") and _area(edge.source) is None
             and _area(edge.target) is not None and edge.source not in COLLECTORS]
    assert not wrong, "shared modules importing an area:\n" + "\n".join(wrong)


def test_areas_import_each_other_only_where_declared():
    wrong = [str(edge) for edge in imports()
             if _area(edge.source) and _area(edge.target)
             and _area(edge.source).split(".")[1] != _area(edge.target).split(".")[1]
             and (_area(edge.source), _area(edge.target)) not in ACROSS_AREAS]
    assert not wrong, "imports across areas (declare the reason in ACROSS_AREAS):\n" + "\n".join(wrong)


def test_the_cycle_finder_names_a_circle_hidden_in_a_function(tmp_path):
    """The checks above would pass vacuously if the graph missed imports: a circle made only of a
    function-local import and a TYPE_CHECKING one is found and named."""
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "__init__.py").write_text("")
    (tmp_path / "store" / "a.py").write_text("def f():\n    from store import b\n    return b\n")
    (tmp_path / "store" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from store.a import f\n")
    (tmp_path / "store" / "c.py").write_text("from store.a import f\nfrom . import b\n")
    for package in PACKAGES[:2] + PACKAGES[3:]:
        (tmp_path / package).mkdir()
    edges = imports(tmp_path)
    found = cycles(edges, set(modules(tmp_path)))
    assert [[str(edge) for edge in circle] for circle in found] == [
        ["store.a → store.b (line 2)", "store.b → store.a (line 3)"]]
    assert Import("store.c", "store.b", 2) in edges  # a relative import resolves to its module
