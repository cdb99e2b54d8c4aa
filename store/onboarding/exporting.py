"""Handing auditors clean records: every area's records of one program (or all) and the audit trail of a
period, one sheet per area, with the audit chain's verification result on the first sheet.

XLSX: one workbook, sheets in this order: Summary (verification result, programs, period, counts),
Programs, then each area's sheets (store/areas.py `SHEETS`, handed in), then Audit trail. CSV: a ZIP archive
holding one CSV per sheet (`01-summary.csv`, `02-programs.csv` …), UTF-8 with a byte-order mark so Excel opens it.

Every sheet is written as its rows are read, one batch of a query at a time, so an export holds one batch and not
every record (bench/memory.py: 150,000 rows at 500 programs). The Summary, which comes first but counts the
others, is made last: its XLSX sheet is created first and filled last, and in the ZIP the other CSVs wait in
temporary files until it is written.

Instants are written as ISO-8601 UTC text (Excel has no time zones); calendar dates as dates. A text cell
that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`) is written as text (XLSX) or prefixed with
`'` (CSV).
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import IO, Any

from sqlmodel import Session, SQLModel, col, select

from store import audit
from store.audit import AuditEntry
from store.db import columns, pk, table_of
from store.errors import Invalid
from store.programs import Program, ProgramMember
from store.sheets import neutralise, sheet_title, text_cells

FORMATS = ("xlsx", "csv")


@dataclass(frozen=True)
class Table:
    """One sheet to write. `rows` is read once, as it is written: for a sheet of records it is an iterator over a
    query read in batches, so it must not be turned into a list on the way."""

    title: str
    headers: list[str]
    rows: Iterable[list[Any]]


@dataclass(frozen=True)
class Written:
    """A sheet as written: its title and how many rows it holds below its headings."""

    title: str
    count: int


@dataclass(frozen=True)
class Sheet:
    """One area's sheet: `rows(session, programs)` → a Table of every record of those programs."""

    title: str
    rows: Callable[[Session, dict[int, Program]], Table]


def model_table(title: str, model: type[SQLModel], records: Iterable[Any], programs: dict[int, Program],
                program_of: Callable[[Any], int | None] | None = None, exclude: Sequence[str] = ()) -> Table:
    """Every column of `model`, one row per record (an object of the model, or a row of its columns, read by
    the same names); `program_id` shown as the program's code."""
    names = [n for n in model.model_fields if n not in exclude]
    find = program_of or (lambda r: getattr(r, "program_id", None))
    shown = [n for n in names if n != "program_id"]

    def rows() -> Iterator[list[Any]]:
        for record in records:
            program_id = find(record)
            program = programs.get(program_id) if program_id is not None else None
            yield [program.code if program else "", *(getattr(record, n) for n in shown)]

    return Table(title, ["program", *shown], rows())


# An export reads every record once, so it reads rows of columns in batches, not ORM objects: an object with its
# identity-map state costs several times its row, and a 500-program export held about 150,000 of them at once
# (the process peaked near 370 MB; bench/memory.py).
BATCH = 2_000  # rows fetched at a time (a server-side cursor on PostgreSQL)
OWNER = "exported_for_program"  # the parent's program id beside a child row's columns
SUMMARY, SUMMARY_HEADERS = "Summary", ["item", "value"]


def of_programs(session: Session, model: type[SQLModel], programs: dict[int, Program]) -> Iterable[Any]:
    """The rows (every column, by name) of `model` in those programs, read in batches as they are used."""
    table = table_of(model)
    column = table.c.program_id
    query = columns(*table.c).where(column.in_(list(programs))).order_by(column, table.c.id)
    return session.exec(query.execution_options(yield_per=BATCH))


def children(session: Session, model: type[SQLModel], parent: type[SQLModel], link: str,
             programs: dict[int, Program]) -> Iterable[Any]:
    """The rows of a child table with their parent's program id as `OWNER` (one query, read in batches)."""
    child, owner = table_of(model), table_of(parent)
    query = (columns(*child.c, owner.c.program_id.label(OWNER))
             .join(owner, owner.c.id == child.c[link])
             .where(owner.c.program_id.in_(list(programs)))
             .order_by(owner.c.program_id, child.c.id))
    return session.exec(query.execution_options(yield_per=BATCH))


def child_table(title: str, model: type[SQLModel], parent: type[SQLModel], link: str, session: Session,
                programs: dict[int, Program]) -> Table:
    return model_table(title, model, children(session, model, parent, link, programs), programs,
                       program_of=lambda r: getattr(r, OWNER))


def _programs_sheet(session: Session, programs: dict[int, Program]) -> Table:
    table = model_table("Programs", Program, list(programs.values()), programs, program_of=lambda p: p.id,
                        exclude=("id",))
    members = list(session.exec(select(ProgramMember).where(col(ProgramMember.program_id).in_(list(programs)))
                                .order_by(col(ProgramMember.program_id), col(ProgramMember.role),
                                          col(ProgramMember.user_id))))
    headers = [*table.headers, "members"]
    rows = [[*row, "; ".join(f"{m.role}:{m.user_id}{' (external)' if m.external else ''}"
                             for m in members if m.program_id == program.id)]
            for row, program in zip(table.rows, programs.values(), strict=True)]
    return Table("Programs", headers, rows)


def _audit_sheet(session: Session, programs: dict[int, Program], start: datetime | None, end: datetime | None,
                 everything: bool) -> Table:
    query = columns(*table_of(AuditEntry).c)
    if not everything:
        query = query.where(col(AuditEntry.program_id).in_(list(programs)))
    if start is not None:
        query = query.where(AuditEntry.at >= start)
    if end is not None:
        query = query.where(AuditEntry.at < end)
    entries = session.exec(query.order_by(col(AuditEntry.seq)).execution_options(yield_per=BATCH))
    return model_table("Audit trail", AuditEntry, entries, programs)


@dataclass(frozen=True)
class Export:
    file_name: str
    content: bytes
    tables: list[Written]  # the Summary first, then the sheets in the file's order
    verified: audit.VerifyReport


def _bounds(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    if start and end and end < start:
        raise Invalid("--to is before --from.")
    low = datetime.combine(start, time.min, UTC) if start else None
    high = datetime.combine(end + timedelta(days=1), time.min, UTC) if end else None
    return low, high


def build(session: Session, *, sheets: Sequence[Sheet], programs: Sequence[Program], everything: bool,
          now: datetime, fmt: str = "xlsx", start: date | None = None, end: date | None = None) -> Export:
    """The export of `programs` (all of them when `everything`), with the audit trail of [start, end]."""
    if fmt not in FORMATS:
        raise Invalid(f"The format is xlsx or csv, not {fmt!r}.")
    low, high = _bounds(start, end)
    by_id = {pk(p): p for p in sorted(programs, key=lambda p: p.code)}
    verified = audit.verify(session)
    book: XlsxBook | CsvZip = XlsxBook(SUMMARY) if fmt == "xlsx" else CsvZip(SUMMARY, now)

    def tables() -> Iterator[Table]:  # each sheet's query runs when the sheet before it is written
        yield _programs_sheet(session, by_id)
        yield from (sheet.rows(session, by_id) for sheet in sheets)
        yield _audit_sheet(session, by_id, low, high, everything)

    written = [Written(table.title, book.add(table)) for table in tables()]
    *listed, trail = written
    period = f"{start.isoformat() if start else 'the beginning'} to {end.isoformat() if end else 'now'}"
    summary: list[list[Any]] = [
        ["Audit chain", "empty" if verified.empty else "verified" if verified.ok else "BROKEN"],
        ["Verification", verified.summary()],
        ["Generated at (UTC)", now.astimezone(UTC).isoformat(timespec="seconds")],
        ["Programs", ", ".join(p.code for p in by_id.values()) or "none"],
        ["Audit period (UTC days)", period],
        ["Audit rows in this export", trail.count],
        *([f"{t.title} (records)", t.count] for t in listed[1:]),  # the areas' sheets, after Programs
    ]
    content = book.finish(SUMMARY_HEADERS, summary)
    label = "all" if everything else "-".join(p.code for p in by_id.values())[:60] or "none"
    stem = f"cmo-export-{label}-{now.astimezone(UTC):%Y%m%d}"
    return Export(f"{stem}.{'xlsx' if fmt == 'xlsx' else 'zip'}", content,
                  [Written(SUMMARY, len(summary)), *written], verified)


def cell(value: Any) -> Any:
    """A value a spreadsheet can hold: instants as ISO UTC text, structures as JSON, enums as text."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds") if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    if isinstance(value, str):
        return str(value)
    return value


def _xlsx_cell(value: Any) -> Any:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    value = cell(value)
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


class XlsxBook:
    """A workbook written in openpyxl's write-only mode: each sheet streams its rows to its own temporary file as
    they are added (the normal workbook holds every cell as an object, past 400 MB at 500 programs). The first
    sheet is created before the others, so it comes first in the book, and is filled last (`finish`)."""

    def __init__(self, first: str) -> None:
        import openpyxl

        self.workbook = openpyxl.Workbook(write_only=True)
        self.taken: set[str] = set()
        self.first = self._sheet(first)

    def _sheet(self, title: str) -> Any:
        sheet = self.workbook.create_sheet(sheet_title(title, self.taken))
        sheet.freeze_panes = "A2"
        return sheet

    def add(self, table: Table) -> int:
        """The table as the next sheet; how many rows it had."""
        return _fill(self._sheet(table.title), table.headers, table.rows)

    def finish(self, headers: list[str], rows: Iterable[list[Any]]) -> bytes:
        """The first sheet filled, and the workbook's bytes."""
        _fill(self.first, headers, rows)
        out = io.BytesIO()
        self.workbook.save(out)
        return out.getvalue()


def _fill(sheet: Any, headers: list[str], rows: Iterable[list[Any]]) -> int:
    from openpyxl.styles import Font

    sheet.append(text_cells(sheet, headers, font=Font(bold=True)))
    count = 0
    for values in rows:
        row = [_xlsx_cell(v) for v in values]
        cells = text_cells(sheet, row)
        for entry, value in zip(cells, row, strict=True):
            if isinstance(value, date):
                entry.number_format = "yyyy-mm-dd"
        sheet.append(cells)
        count += 1
    return count


def _csv_cell(value: Any) -> Any:
    value = cell(value)
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else neutralise(value)


class CsvZip:
    """A ZIP archive of one CSV per sheet, numbered in order (`01-summary.csv`, `02-programs.csv` …) and stamped
    with the export's time. Each sheet after the first is written to a temporary file as its rows are added and
    compressed into the archive by `finish`, after the first sheet, which is made last."""

    def __init__(self, first: str, now: datetime) -> None:
        self.titles, self.now = [first], now
        self.parts: list[IO[bytes]] = []

    def add(self, table: Table) -> int:
        """The table as the next sheet; how many rows it had."""
        part = tempfile.TemporaryFile()
        self.parts.append(part)
        self.titles.append(table.title)
        return _write_csv(part, table.headers, table.rows)

    def finish(self, headers: list[str], rows: Iterable[list[Any]]) -> bytes:
        """The first sheet made, and the archive's bytes."""
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            with self._entry(archive, 0) as entry:
                _write_csv(entry, headers, rows)
            for number, part in enumerate(self.parts, start=1):
                with part, self._entry(archive, number) as entry:
                    part.seek(0)
                    shutil.copyfileobj(part, entry)
        return out.getvalue()

    def _entry(self, archive: zipfile.ZipFile, number: int) -> IO[bytes]:
        slug = re.sub(r"[^a-z0-9]+", "-", self.titles[number].lower()).strip("-")
        info = zipfile.ZipInfo(f"{number + 1:02d}-{slug}.csv", self.now.astimezone(UTC).timetuple()[:6])
        info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o600 << 16  # as `writestr` makes them
        return archive.open(info, "w")


def _write_csv(out: IO[bytes], headers: list[str], rows: Iterable[list[Any]]) -> int:
    """UTF-8 with a byte-order mark, so that Excel opens it; how many rows below the headings."""
    text = io.TextIOWrapper(out, encoding="utf-8", newline="")
    text.write("\ufeff")
    writer = csv.writer(text)
    writer.writerow(headers)
    count = 0
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])
        count += 1
    text.detach()  # flushed; `out` stays open for its owner
    return count
