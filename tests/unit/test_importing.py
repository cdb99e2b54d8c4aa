"""The generic importer: reading CSV/XLSX, headers and synonyms, strict dates, the report, dry runs and
idempotency — on a small test-only kind (role grants through store.programs), so it runs without areas."""

from __future__ import annotations

import io
from datetime import date, datetime

import openpyxl
import pytest
from sqlmodel import select

from store import programs
from store.audit import AuditEntry, verify
from store.db import transaction
from store.errors import Invalid
from store.filing import sha256
from store.onboarding import importing
from store.onboarding.importing import Column, Kind, parse_date
from tests import factories
from tests.conftest import NOW

ACTOR = factories.ADMIN


def _find(session, program, row):
    roles = programs.roles_of(session, program.id, row["person"])
    return f"{row['person']}:{row['role']}" if row["role"] in roles else None


def _create(session, program, row, actor, now):
    try:
        role = programs.Role(row["role"])
    except ValueError:
        raise Invalid(f"Role {row['role']!r} is not one of {', '.join(r.value for r in programs.Role)}") from None
    if row["since"] and row["since"] > now.date():
        raise Invalid("Since is in the future")
    programs.add_member(session, program, row["person"], role, actor=actor, now=now)
    return f"{row['person']}:{role.value}"


GRANTS = Kind(
    name="grants", entity="program",
    columns=(
        Column("person", "Person", ("slack id", "user"), required=True),
        Column("role", "Role", ("function",), required=True),
        Column("since", "Since", ("start date", "from"), type="date"),
        Column("external", "External", ("guest",), type="bool"),
    ),
    key=lambda row: (row["person"], row["role"]),
    describe=lambda row: f"{row['person']} as {row['role']}",
    find=_find, create=_create,
)


@pytest.fixture
def kind():
    return GRANTS


@pytest.fixture
def program(engine):
    with transaction(engine) as session:
        return factories.program(session, NOW, "ACME-001", members={})


CSV = (
    ";;;\n"
    "\n"
    "  SLACK ID ; Function ;Start-Date; Guest;Comment\n"
    "UPM1;program_manager;2026-01-31;no;first\n"
    ";;;;\n"
    "UQA1;cmo_quality;31-Jan-2026;;\n"
    "UAPP1;customer_approver;01/31/2026;yes;\n"
    "UBAD;customer_approver;31/01/2026;;\n"
    "UQA1;cmo_quality;2026-02-01;;again\n"
    "UX;wizard;;;\n"
    "UF;stability;2030-01-01;;\n"
    "UY;stability;2026-02-30;;\n"
    "UZ;stability;2026-01-01;maybe;\n"
)


def test_dates_are_read_strictly():
    assert parse_date("2027-01-31") == date(2027, 1, 31)
    assert parse_date("31-Jan-2027") == parse_date("31 January 2027") == parse_date("Jan 31, 2027") == date(2027, 1, 31)
    assert parse_date("01/31/2027") == date(2027, 1, 31)
    assert parse_date("31/01/2027", dayfirst=True) == date(2027, 1, 31)
    assert parse_date("02/03/2027") == date(2027, 2, 3) and parse_date("02/03/2027", dayfirst=True) == date(2027, 3, 2)
    assert parse_date(datetime(2027, 1, 31, 0, 0)) == date(2027, 1, 31)
    for bad, reason in [("31/01/2027", "--dayfirst"), ("02/30/2027", "not a day"), ("01/02/27", "two-digit year"),
                        ("31-Foo-2027", "no month"), ("next week", "not a date"), (46000, "a number")]:
        with pytest.raises(ValueError, match=reason):
            parse_date(bad)


def test_csv_report_names_every_refused_row(engine, kind, program):
    report = importing.run(engine, kind=GRANTS, content=CSV.encode(), file_name="grants.csv", actor=ACTOR, now=NOW,
                           program="acme-001")
    assert report.lines() == [
        f"Import of grants.csv as grants into ACME-001, sha256 {sha256(CSV.encode())[:12]}…",
        "row 8: Start-Date '31/01/2026' has no month 31 (if it is day/month/year, import with --dayfirst)",
        "row 9: duplicate of row 6 (UQA1 as cmo_quality)",
        "row 10: Role 'wizard' is not one of program_manager, cmo_quality, customer_approver, stability, regulatory",
        "row 11: Since is in the future",
        "row 12: Start-Date '2026-02-30' is not a day of the calendar",
        "row 13: Guest 'maybe' is not yes or no",
        "columns ignored (not known for grants): Comment",
        "3 imported, 0 already present, 6 refused, 1 blank row skipped",
    ]
    assert report.imported == [(4, "UPM1:program_manager"), (6, "UQA1:cmo_quality"), (7, "UAPP1:customer_approver")]
    with transaction(engine) as session:
        imported = session.exec(select(AuditEntry).where(AuditEntry.action == "imported")).all()
        assert [(e.entity_id, e.after["row"], e.after["sha256"]) for e in imported] == [
            ("UPM1:program_manager", 4, sha256(CSV.encode())), ("UQA1:cmo_quality", 6, sha256(CSV.encode())),
            ("UAPP1:customer_approver", 7, sha256(CSV.encode()))]
        assert verify(session).ok
        assert programs.user_ids(session, program.id) == ["UAPP1", "UPM1", "UQA1"]


def test_importing_twice_adds_nothing_and_dry_run_changes_nothing(engine, kind, program):
    dry = importing.run(engine, kind=GRANTS, content=CSV.encode(), file_name="grants.csv", actor=ACTOR, now=NOW,
                        program="ACME-001", dry_run=True)
    assert dry.totals() == "3 to import, 0 already present, 6 refused, 1 blank row skipped"
    with transaction(engine) as session:
        assert programs.user_ids(session, program.id) == []
        assert session.exec(select(AuditEntry).where(AuditEntry.action == "imported")).all() == []
    importing.run(engine, kind=GRANTS, content=CSV.encode(), file_name="grants.csv", actor=ACTOR, now=NOW,
                  program="ACME-001")
    with transaction(engine) as session:
        rows = len(session.exec(select(AuditEntry)).all())
    again = importing.run(engine, kind=GRANTS, content=CSV.encode(), file_name="grants.csv", actor=ACTOR, now=NOW,
                          program="ACME-001")
    assert again.totals() == "0 imported, 3 already present, 6 refused, 1 blank row skipped"
    assert again.present == [(4, "UPM1:program_manager"), (6, "UQA1:cmo_quality"), (7, "UAPP1:customer_approver")]
    with transaction(engine) as session:
        assert len(session.exec(select(AuditEntry)).all()) == rows


def test_dayfirst_reads_slash_dates_the_other_way(engine, kind, program):
    report = importing.run(engine, kind=GRANTS, content=CSV.encode(), file_name="grants.csv", actor=ACTOR, now=NOW,
                           program="ACME-001", dayfirst=True, dry_run=True)
    problems = "\n".join(report.problems())
    assert "row 8" not in problems and "row 7: Start-Date '01/31/2026' has no month 31" in problems


def _xlsx(rows) -> bytes:
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_xlsx_with_real_date_cells_and_a_program_column(engine, kind, program):
    with transaction(engine) as session:
        factories.program(session, NOW, "BETA-002", channel="CBETA", members={})
    content = _xlsx([
        [None], ["Program", "User", "Role", "From"],
        ["ACME-001", "UPM1", "program_manager", datetime(2026, 1, 31)],
        [None, None, None, None],
        ["beta-002", "UPM1", "program_manager", "2026-01-31"],
        ["NOPE-9", "UPM1", "program_manager", None],
        ["ACME-001", "UQA1", "cmo_quality", 46000],
    ])
    report = importing.run(engine, kind=GRANTS, content=content, file_name="grants.xlsx", actor=ACTOR, now=NOW)
    assert report.programs == ["ACME-001", "BETA-002"]
    assert report.problems() == [
        "row 6: there is no program NOPE-9",
        "row 7: From '46000' is a number, not a date (format the cell as a date, or write 2027-01-31)",
    ]
    assert report.imported == [(3, "UPM1:program_manager"), (5, "UPM1:program_manager")]
    assert report.blank == 1


def test_file_level_problems_stop_before_anything_is_written(engine, kind, program):
    def run(text, **kw):
        return importing.run(engine, kind=GRANTS, content=text.encode(), file_name="g.csv", actor=ACTOR, now=NOW,
                             **kw)

    mixed = run("Program,Person,Role\nACME-001,UPM1,cmo_quality\nBETA-002,UQA1,cmo_quality\n,UAPP1,stability\n",
                program="ACME-001", dry_run=True)
    assert mixed.problems() == ["row 3: Program BETA-002 is not ACME-001"] and len(mixed.imported) == 2
    with pytest.raises(Invalid, match="no column for Role"):
        run("Person,Since\nUPM1,2026-01-01\n", program="ACME-001")
    with pytest.raises(Invalid, match="Two columns mean Person"):
        run("Person,User,Role\nUPM1,UPM1,pm\n", program="ACME-001")
    with pytest.raises(Invalid, match="Name the program"):
        run("Person,Role\nUPM1,cmo_quality\n")
    with pytest.raises(Invalid, match="There is no program NOPE"):
        run("Person,Role\nUPM1,cmo_quality\n", program="nope")
    with pytest.raises(Invalid, match="not a kind of tracker"):
        importing.kind_named("recipes", [GRANTS])
    with pytest.raises(Invalid, match="no header row"):
        run("\n,,\n", program="ACME-001")
    assert importing.detect(b"Slack ID,Function\nU1,pm\n", "x.csv", [GRANTS]) is GRANTS
    with pytest.raises(Invalid, match="does not look like a tracker"):
        importing.detect(b"Colour,Size\nred,2\n", "x.csv", [GRANTS])
