"""Small units (issue 23): in commands/ and store/ no function is longer than 60 lines and no module longer than
400, so that each reads on a screen or two and is named after the one thing it does. A unit that grows past
the limit is split along what its code does (see docs/architecture.md), not cut at a line count.

Read with `ast`: a function's length runs from its `def` (decorators excluded) to its last line, nested
functions included in their parent; the Alembic migrations are generated revisions and are not counted."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("commands", "store")
MAX_FUNCTION = 60
MAX_MODULE = 400


def sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (REPO / package).rglob("*.py")
                  if "migrations" not in p.relative_to(REPO).parts)


def long_functions(path: Path, root: Path = REPO) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [f"{path.relative_to(root)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION]


def long_module(path: Path, root: Path = REPO) -> list[str]:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    return [f"{path.relative_to(root)} ({lines} lines)"] if lines > MAX_MODULE else []


def test_the_walk_sees_both_packages():
    found = {p.relative_to(REPO).parts[0] for p in sources()}
    assert found == set(PACKAGES)
    assert not any("migrations" in p.parts for p in sources())


def test_no_function_is_longer_than_60_lines():
    offenders = [line for path in sources() for line in long_functions(path)]
    assert not offenders, "split these functions along what they do:\n" + "\n".join(offenders)


def test_no_module_is_longer_than_400_lines():
    offenders = [line for path in sources() for line in long_module(path)]
    assert not offenders, "split these modules along what they hold:\n" + "\n".join(offenders)


def test_the_limits_are_measured_as_documented(tmp_path):
    """A 61-line function and a 401-line module are named; 60 and 400 pass."""
    def function(name: str, body_lines: int) -> str:
        return f"def {name}():\n" + "    x = 1\n" * (body_lines - 1)

    sixty, sixty_one = tmp_path / "ok.py", tmp_path / "long.py"
    sixty.write_text(function("fits", 60) + "\n" * (400 - 60))
    sixty_one.write_text(function("grows", 61) + "\n" * (401 - 61))
    assert long_functions(sixty, tmp_path) == [] and long_module(sixty, tmp_path) == []
    assert long_functions(sixty_one, tmp_path) == ["long.py:1 grows (61 lines)"]
    assert long_module(sixty_one, tmp_path) == ["long.py (401 lines)"]


AREAS = ("agreements", "batches", "stability", "submissions")
# words that name an area (or an area's side file) when they begin or end a module's name
AREA_WORDS = ("agreement", "batch", "stability", "submission", "onboarding", "import", "export")
SIDE_FILES = ("_home", "_kinds", "_views", "_rules", "_models")


def test_each_area_is_one_package_on_each_side():
    """store/<area>/ holds the area's tables (where it has its own), services and rules; commands/<area>/ its
    verbs and Block Kit. Every package says what it holds in its docstring."""
    for area in AREAS:
        store_modules = {p.stem for p in (REPO / "store" / area).glob("*.py")}
        commands_modules = {p.stem for p in (REPO / "commands" / area).glob("*.py")}
        assert {"__init__", "service"} <= store_modules, area
        assert {"__init__", "commands", "views"} <= commands_modules, area
    for init in [*(REPO / "store").glob("*/__init__.py"), *(REPO / "commands").glob("*/__init__.py")]:
        assert ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))), init


def test_no_area_module_is_left_at_the_top_of_store_or_commands():
    """The area is the package, not a prefix of a file name: no `stability_rules.py` or `agreements_home.py`
    beside the shared modules (commands/onboarding.py is onboarding's one command module)."""
    left = [f"{package}/{path.name}" for package in PACKAGES for path in (REPO / package).glob("*.py")
            if (path.stem.startswith(AREA_WORDS) or path.stem.endswith(SIDE_FILES)) and path.stem != "onboarding"]
    assert not left, "move these into their area's package:\n" + "\n".join(left)
