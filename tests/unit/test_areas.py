"""One declaration per area, one list of areas (store/areas.py, commands/areas.py): each consumer — the
sweep, the digest, App Home, the tracker import, the export, the router and the File to program shortcut —
reads exactly what the areas declare, nothing registered on the side."""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl

from commands import areas as commands_areas
from commands import onboarding
from scheduler.rules import HORIZONS, RULES
from store import areas, digest, home
from store.onboarding import exporting, importing
from tests import factories
from tests.conftest import NOW

REPO = Path(__file__).resolve().parents[2]


def _all(part: str) -> list:
    return [item for area in areas.AREAS for item in getattr(area, part)]


def test_areas_are_named_once_and_declare_each_part_once():
    names = [area.name for area in areas.AREAS]
    assert len(set(names)) == len(names)
    for part in ("due", "horizons", "digest", "owed", "health", "kinds", "sheets"):
        assert len(set(map(id, _all(part)))) == len(_all(part)), part


def test_the_sweep_runs_the_digest_then_every_area_rule_in_order():
    assert RULES == (digest.due, *_all("due"))


def test_every_rule_says_when_its_answer_may_next_change():
    """Each area declares its rules' horizons beside them; without one, a rule's every program would be asked
    about at each of its midnights (scheduler/sweep.py)."""
    assert HORIZONS == {digest.due: digest.horizons, **dict(_all("horizons"))}
    assert set(HORIZONS) == set(RULES) and [rule for rule, _ in _all("horizons")] == _all("due")


def test_the_digest_and_app_home_read_every_area_in_order():
    assert digest.compose_all.__defaults__ == (tuple(_all("digest")),)
    assert home.OWED == tuple(_all("owed")) and home.HEALTH == tuple(_all("health"))


def test_the_import_knows_every_area_kind_by_name():
    assert onboarding.KINDS is areas.KINDS
    for kind in _all("kinds"):
        assert importing.kind_named(kind.name.upper(), areas.KINDS) is kind


def test_the_export_has_every_area_sheet_in_order(session):
    program = factories.program(session, NOW, "ACME-001")
    assert onboarding.SHEETS is areas.SHEETS
    export = exporting.build(session, sheets=areas.SHEETS, programs=[program], everything=False, now=NOW)
    titles = openpyxl.load_workbook(io.BytesIO(export.content)).sheetnames
    assert titles == ["Summary", "Programs", *(sheet.title for sheet in _all("sheets")), "Audit trail"]


def test_the_router_and_the_filing_shortcut_read_every_commands_area():
    targets = [target for area in commands_areas.AREAS for target in area.targets]
    assert commands_areas.TARGETS == tuple(targets)
    assert [t.area for t in targets] == ["agreements", "stability", "submissions"]
    verbs = [area.commands.name for area in commands_areas.AREAS]
    assert verbs == ["program", "agreement", "batch", "stability", "submission", "signing", "calendar"]


def test_each_declared_area_is_a_package_on_both_sides():
    """An area is found where its name says: store/<area>/ holds its records and rules, commands/<area>/ its
    Slack side, and the declarations name exactly those packages (onboarding is a store package that serves
    every area, not an area)."""
    store_packages = {path.parent.name for path in (REPO / "store").glob("*/__init__.py")} - {"onboarding"}
    assert {area.name for area in areas.AREAS} == store_packages
    commands_packages = {path.parent.name for path in (REPO / "commands").glob("*/__init__.py")}
    declared = {area.register.__module__ for area in commands_areas.AREAS}
    assert declared >= {f"commands.{name}.commands" for name in commands_packages}
