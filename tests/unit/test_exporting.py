"""The export read back as an auditor would: every record, the audit trail of the period, a verified chain,
user text that looks like a formula kept as text; CSV as a ZIP of one file per sheet."""

from __future__ import annotations

import csv
import io
import weakref
import zipfile
from datetime import date, timedelta
from types import SimpleNamespace

import openpyxl
import pytest
from sqlalchemy import update
from sqlmodel import SQLModel

from store import programs as program_store
from store.areas import SHEETS
from store.audit import AuditEntry
from store.db import transaction
from store.errors import Invalid
from store.onboarding import exporting
from tests import factories
from tests.conftest import NOW


def _sheets(content: bytes) -> dict[str, list[tuple]]:
    workbook = openpyxl.load_workbook(io.BytesIO(content))
    return {sheet.title: list(sheet.iter_rows(values_only=True)) for sheet in workbook.worksheets}


def _build(engine, codes=("ACME-001",), **kw):
    with transaction(engine) as session:
        chosen = [program_store.by_code(session, c) for c in codes]
        return exporting.build(session, sheets=SHEETS, programs=chosen, everything=kw.pop("everything", False),
                               now=NOW, **kw)


@pytest.fixture
def two_programs(engine):
    with transaction(engine) as session:
        factories.program(session, NOW, "ACME-001", customer="=HYPERLINK(\"http://x\")")
        factories.program(session, NOW + timedelta(days=3), "BETA-002", channel="CBETA")


def test_xlsx_has_every_record_and_a_verified_chain(engine, two_programs):
    result = _build(engine)
    sheets = _sheets(result.content)
    titles = list(sheets)
    assert titles[0] == "Summary" and titles[1] == "Programs" and titles[-1] == "Audit trail"
    summary = dict(sheets["Summary"][1:])
    assert summary["Audit chain"] == "verified" and summary["Programs"] == "ACME-001"
    assert summary["Verification"].startswith("audit chain verified: 14 rows")
    programs = sheets["Programs"]
    assert programs[0][0] == "program" and [r[0] for r in programs[1:]] == ["ACME-001"]
    customer = programs[0].index("customer")
    assert programs[1][customer] == "=HYPERLINK(\"http://x\")"  # text, not a formula
    workbook = openpyxl.load_workbook(io.BytesIO(result.content))
    assert workbook["Programs"].cell(row=2, column=customer + 1).data_type == "s"
    trail = sheets["Audit trail"]
    assert [r[0] for r in trail[1:]] == ["ACME-001"] * 7  # created, 5 roles, channel linked; none of BETA's
    assert {r[trail[0].index("action")] for r in trail[1:]} == {"created", "role_granted", "channel_linked"}


def test_period_filters_the_audit_trail_and_all_takes_every_program(engine, two_programs):
    everything = _build(engine, ("ACME-001", "BETA-002"), everything=True, start=date(2026, 11, 5),
                        end=date(2026, 11, 5))
    sheets = _sheets(everything.content)
    assert {r[0] for r in sheets["Audit trail"][1:]} == {"BETA-002"}
    assert len(sheets["Audit trail"]) == 1 + 7
    assert [r[0] for r in sheets["Programs"][1:]] == ["ACME-001", "BETA-002"]
    with pytest.raises(Invalid, match="before --from"):
        _build(engine, start=date(2026, 11, 5), end=date(2026, 11, 4))


def test_a_broken_chain_is_said_on_the_first_sheet(engine, two_programs):
    with transaction(engine) as session:
        session.exec(update(AuditEntry).where(AuditEntry.seq == 2).values(action="tampered"))
    result = _build(engine)
    summary = dict(_sheets(result.content)["Summary"][1:])
    assert summary["Audit chain"] == "BROKEN" and "row 2 was edited" in summary["Verification"]
    assert not result.verified.ok


def test_csv_is_a_zip_of_one_file_per_sheet(engine, two_programs):
    result = _build(engine, fmt="csv")
    assert result.file_name.endswith(".zip")
    with zipfile.ZipFile(io.BytesIO(result.content)) as archive:
        names = archive.namelist()
        assert names[0] == "01-summary.csv" and names[1] == "02-programs.csv" and names[-1].endswith("audit-trail.csv")
        programs = list(csv.reader(io.StringIO(archive.read("02-programs.csv").decode("utf-8-sig"))))
    assert programs[1][0] == "ACME-001"
    assert programs[1][programs[0].index("customer")] == "'=HYPERLINK(\"http://x\")"


def test_records_are_read_as_rows_not_objects(engine):
    """An export reads each record once: as rows of columns, in batches, so a 500-program portfolio is not held
    as ORM objects (which took `cmo-bot export --all` to about 370 MB; bench/memory.py)."""
    from sqlalchemy import event
    from sqlalchemy.orm import Mapper
    from sqlmodel import select

    from bench.portfolio import fill
    from store.programs import Program

    written = fill(engine, 0.02)  # one program with agreements, batches, studies and pulls, submissions and items
    loaded: list[str] = []

    def note(target, _context) -> None:
        loaded.append(type(target).__name__)

    with transaction(engine) as session:
        programs = list(session.exec(select(Program)))
        event.listen(Mapper, "load", note)  # every mapped class
        try:
            result = exporting.build(session, sheets=SHEETS, programs=programs, everything=True, now=NOW, fmt="csv")
        finally:
            event.remove(Mapper, "load", note)
    counts = {t.title: t.count for t in result.tables}
    assert counts["Stability pulls"] == written["stability_pull"] and counts["Batches"] == written["batch"]
    assert set(loaded) <= {"ProgramMember", "AuditHead"}  # the members beside the programs; the chain's head


def test_a_streamed_workbook_keeps_bold_headings_frozen_panes_dates_and_text():
    """The XLSX is written row by row (write-only): headings, panes, date formats and the formula guard hold."""
    book = exporting.XlsxBook("Summary")
    assert book.add(exporting.Table("Batches", ["batch", "release by"],
                                    iter([["=HYPERLINK(\"x\")", date(2027, 1, 8)], ["B-1042", None]]))) == 2
    book = openpyxl.load_workbook(io.BytesIO(book.finish(["item", "value"], [["Batches (records)", 2]])))
    assert book.sheetnames == ["Summary", "Batches"]  # the first sheet stays first though it was filled last
    assert [c.value for c in book["Summary"][2]] == ["Batches (records)", 2] and book["Summary"]["A1"].font.b
    sheet = book["Batches"]
    assert sheet["A1"].font.b and sheet["B1"].font.b and sheet.freeze_panes == "A2"
    assert sheet["A2"].value == '=HYPERLINK("x")' and sheet["A2"].data_type == "s" and sheet["A2"].quotePrefix
    assert sheet["B2"].number_format == "yyyy-mm-dd" and sheet["B2"].value.date() == date(2027, 1, 8)
    assert [c.value for c in sheet[3]] == ["B-1042", None]


class Day(date):
    """A date that can be watched (a weak reference) on its way through a sheet."""


class Probed(SQLModel):
    program_id: int
    on: date


@pytest.mark.parametrize("fmt", exporting.FORMATS)
def test_a_sheet_is_written_as_its_rows_are_read(engine, two_programs, fmt):
    """No sheet's rows are held until the export is written (at 500 programs that took `cmo-bot export --all`
    past 200 MB; bench/memory.py): when a record is read, the values of those read two before it are gone."""
    alive: list[weakref.ref] = []
    most = 0

    def records(programs):
        nonlocal most
        for n in range(ROWS):
            most = max(most, sum(ref() is not None for ref in alive))
            watched = Day.fromordinal(date(2027, 1, 1).toordinal() + n)
            alive.append(weakref.ref(watched))
            yield SimpleNamespace(program_id=next(iter(programs)), on=watched)

    probe = exporting.Sheet("Probe", lambda _session, programs: exporting.model_table(
        "Probe", Probed, records(programs), programs))
    with transaction(engine) as session:
        program = program_store.by_code(session, "ACME-001")
        result = exporting.build(session, sheets=[*SHEETS, probe], programs=[program], everything=False, now=NOW,
                                 fmt=fmt)
    assert {t.title: t.count for t in result.tables}["Probe"] == ROWS
    assert most <= 2


ROWS = 500
