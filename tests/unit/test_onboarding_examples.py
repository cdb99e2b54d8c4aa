"""The sample trackers under examples/ imported as docs/onboarding.md walks through them: the exact report, nothing
added the second time, and an export that reads back with every record and a verified chain."""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import pytest
from sqlmodel import select

from store import areas
from store import programs as program_store
from store.audit import AuditEntry
from store.db import transaction
from store.filing import sha256
from store.onboarding import exporting, importing
from tests import factories
from tests.conftest import NOW

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

EXPECTED = {
    "agreements.csv": [
        "row 6: duplicate of row 3 (Quality Agreement with Acme Pharma 2.0 effective 2025-03-01)",
        "row 7: Exp. Date '31/05/2030' has no month 31 (if it is day/month/year, import with --dayfirst)",
        "row 9: Agreement Type 'Letter of intent' is not one of: Mutual NDA, Quality Agreement, MSA, Supply "
        "Agreement, Other",
        "row 10: An executed agreement needs an expiration date, or tick evergreen",
    ],
    "batches.xlsx": [
        "row 7: duplicate of row 3 (batch b-1042)",
        "row 8: Target Release Date '2027-02-30' is not a day of the calendar",
        "row 9: an approved batch is not imported: its approval needs the approver's signature, which a spreadsheet "
        "cannot give (keep it in the old records)",
        "row 10: 'B 1047' is not a batch number: letters, digits, `.`, `/`, `-`, up to 40 (B-1042)",
        "row 11: Give a reason, so the program managers know what to resolve",
        "row 12: The release-by date Thu 1 Oct 2026 has passed",
        "columns ignored (not known for batches): QA reviewer",
    ],
    "stability.csv": [
        "row 5: duplicate of row 2 (study stb-0001)",
        "row 7: T0 Date '31/10/2026' has no month 31 (if it is day/month/year, import with --dayfirst)",
        "row 8: condition '37°C/80%RH' is not an ICH condition (25/60, 30/65, 30/75, 40/75, 5°C, 2-8°C, -20°C or a "
        "code such as LT25); create studies on other conditions in Slack",
        "row 9: The duration is 1 to 120 months",
    ],
    "submissions.csv": [
        "row 7: duplicate of row 4 (DMF type II acmezol api)",
        "row 8: The filing date must be in the future",
        "row 9: Filing Type 'IND' is not one of: 510(k), DMF type II, EU MDR technical documentation, CTD module 3, "
        "other",
        "row 10: Target Filing Date '30/06/2027' has no month 30 (if it is day/month/year, import with --dayfirst)",
        "columns ignored (not known for submissions): Notes",
    ],
}
TOTALS = {
    "agreements.csv": ("4 imported, 0 already present, 4 refused, 1 blank row skipped",
                       "0 imported, 4 already present, 4 refused, 1 blank row skipped"),
    "batches.xlsx": ("3 imported, 0 already present, 6 refused, 1 blank row skipped",
                     "0 imported, 3 already present, 6 refused, 1 blank row skipped"),
    "stability.csv": ("3 imported, 0 already present, 4 refused, 1 blank row skipped",
                      "0 imported, 3 already present, 4 refused, 1 blank row skipped"),
    "submissions.csv": ("3 imported, 0 already present, 4 refused, 1 blank row skipped",
                        "0 imported, 3 already present, 4 refused, 1 blank row skipped"),
}
IMPORTED = {"agreements.csv": [(2, "NDA-3"), (3, "QA-4"), (5, "MSA-1"), (8, "QA-2")],
            "batches.xlsx": [(3, "B-1042"), (4, "B-1043"), (6, "B-1044")],
            "stability.csv": [(2, "STB-0001"), (3, "STB-0002"), (6, "STB-0003")],
            "submissions.csv": [(3, "SUB-001"), (4, "SUB-002"), (6, "SUB-003")]}
KINDS = {name: name.partition(".")[0] for name in EXPECTED}
AUDIT_IDS = {"submissions.csv": "ACME-001/{}"}  # the area's own audit entity ids


@pytest.fixture
def program(engine):
    with transaction(engine) as session:
        return factories.program(session, NOW, "ACME-001")


def _import(engine, name: str, **kw):
    content = (EXAMPLES / name).read_bytes()
    return importing.run(engine, kind=importing.kind_named(KINDS[name], areas.KINDS), content=content,
                         file_name=name, actor=factories.ADMIN, now=NOW, program="ACME-001", **kw)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_imports_with_the_exact_report_and_twice_adds_nothing(engine, program, name):
    content = (EXAMPLES / name).read_bytes()
    dry = _import(engine, name, dry_run=True)
    assert dry.lines() == [
        f"Import of {name} as {KINDS[name]} into ACME-001, sha256 {sha256(content)[:12]}… (dry run: nothing was "
        "changed)", *EXPECTED[name], TOTALS[name][0].replace("imported", "to import", 1)]
    with transaction(engine) as session:
        assert session.exec(select(AuditEntry).where(AuditEntry.action == "imported")).all() == []
    first = _import(engine, name)
    assert first.lines()[1:] == [*EXPECTED[name], TOTALS[name][0]]
    assert first.imported == IMPORTED[name]
    with transaction(engine) as session:
        trail = len(session.exec(select(AuditEntry)).all())
        imported = session.exec(select(AuditEntry).where(AuditEntry.action == "imported")).all()
        audit_id = AUDIT_IDS.get(name, "{}")
        assert sorted((e.after["row"], e.entity_id) for e in imported) == [
            (row, audit_id.format(ref)) for row, ref in IMPORTED[name]]
        assert {e.after["sha256"] for e in imported} == {sha256(content)}
    second = _import(engine, name)
    assert second.lines()[1:] == [*EXPECTED[name], TOTALS[name][1]]
    assert second.present == IMPORTED[name]
    with transaction(engine) as session:
        assert len(session.exec(select(AuditEntry)).all()) == trail


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_slack_shortcut_recognises_each_example_by_its_columns(name):
    found = importing.detect((EXAMPLES / name).read_bytes(), "tracker" + Path(name).suffix, areas.KINDS)
    assert found.name == KINDS[name]


def test_agreements_import_in_effective_order_so_the_newest_stays_in_force(engine, program):
    from store.agreements import service as agreements

    _import(engine, "agreements.csv")
    with transaction(engine) as session:
        found = {a.ref: a for a in agreements.for_program(session, program.id)}
    assert found["QA-2"].status == "superseded" and found["QA-2"].superseded_by == found["QA-4"].id
    assert found["QA-4"].status == "executed" and found["QA-4"].owner_id == "U0PMACME"
    assert found["NDA-3"].owner_id == "UPM1"  # no owner written: the program's first manager
    assert found["MSA-1"].status == "negotiation"


def test_stability_conditions_as_trackers_write_them(engine, program):
    from store.stability import service as stability

    _import(engine, "stability.csv")
    with transaction(engine) as session:
        found = {s.code: [c["code"] for c in s.conditions] for s in stability.studies(session, program.id)}
    assert found == {"STB-0001": ["LT25", "ACC40"], "STB-0002": ["LT30", "INT30", "ACC40"], "STB-0003": ["REF5"]}


def test_batches_from_xlsx_keep_their_state_and_real_date_cells(engine, program):
    from datetime import date

    from store.batches import service as batches

    _import(engine, "batches.xlsx")
    with transaction(engine) as session:
        found = {b.batch_no: (b.status, b.release_by, b.reason) for b in batches.of_program(session, program)}
    assert found == {"B-1042": ("awaiting", date(2027, 1, 15), None),
                     "B-1043": ("on_hold", date(2027, 1, 15), "Deviation DV-88 still open"),
                     "B-1044": ("awaiting", date(2027, 1, 29), None)}


def test_export_after_import_reads_back_with_every_record(engine, program):
    for name in EXPECTED:
        _import(engine, name)
    with transaction(engine) as session:
        result = exporting.build(session, sheets=areas.SHEETS, programs=[program_store.by_code(session, "ACME-001")],
                                 everything=False,
                                 now=NOW)
    workbook = openpyxl.load_workbook(io.BytesIO(result.content))
    assert workbook["Summary"]["B2"].value == "verified"
    for title, count in (("Agreements", 4), ("Batches", 3), ("Stability studies", 3), ("Stability pulls", 11 + 14 + 5),
                         ("Submissions", 3)):
        rows = list(workbook[title].iter_rows(min_row=2, values_only=True))
        assert len(rows) == count and {r[0] for r in rows} == {"ACME-001"}
    items = list(workbook["Submission items"].iter_rows(min_row=2, values_only=True))
    assert len(items) > 3 and {r[0] for r in items} == {"ACME-001"}  # each checklist from its template
    trail = list(workbook["Audit trail"].iter_rows(values_only=True))
    assert sum(r[trail[0].index("action")] == "imported" for r in trail[1:]) == sum(map(len, IMPORTED.values()))
