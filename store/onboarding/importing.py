"""Bringing a CMO's existing tracker (CSV or XLSX) into the bot, one record per row, through each area's
own store services.

Reading the file and its cells (header synonyms, blank rows, dates that are never guessed) is
store/onboarding/reading.py: forgiving about shape, strict about meaning.

Each bad row is reported with its number as the spreadsheet shows it, and the reason; a row whose
natural key repeats an earlier row of the file is reported as a duplicate. A record already in the
database (same natural key) is counted "already present" and left alone, so importing a file twice
adds nothing. Every record imported gets an audit row `imported` naming the file's SHA-256.

Rows run in a savepoint each (a refused row leaves no trace), committed every CHUNK rows: an import holds the
audit chain's lock (every audited write queues on it) for one chunk at a time, never for the whole file, and
a file interrupted half-way is finished by importing it again (what is there is "already present"). A dry run
does everything in one transaction and rolls back.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from store import audit
from store import programs as program_store
from store.audit import Actor
from store.errors import DomainError, Invalid
from store.filing import sha256
from store.onboarding.reading import (
    Value,
    blank,
    header_of,
    normalise,
    parse_bool,
    parse_date,
    parse_int,
    read_table,
    shown,
)
from store.programs import Program

Row = dict[str, Value]


# --------------------------------------------------------------------------------------------- kinds


class Words(dict[str, str]):
    """The words people write in a column (`Quality Agreement`, `QA`), normalised → the store's value
    (`quality`); `labels` are the usual ones, named when a cell holds none of them."""

    def __init__(self, table: dict[str, tuple[str, ...]]):
        super().__init__({normalise(w): value for value, synonyms in table.items() for w in (value, *synonyms)})
        self.names = {value: synonyms[0] if synonyms else value for value, synonyms in table.items()}
        self.labels = list(self.names.values())


@dataclass(frozen=True)
class Column:
    """One field a tracker may carry. `type` is text, date, int or bool; `synonyms` are header names
    (compared with case, spaces and punctuation ignored) that also mean this column; `choices`, when set,
    are the only words the column takes."""

    name: str
    label: str
    synonyms: tuple[str, ...] = ()
    type: str = "text"
    required: bool = False
    choices: Words | None = None

    def names(self) -> set[str]:
        return {normalise(n) for n in (self.name, self.label, *self.synonyms)}


PROGRAM_COLUMN = Column("program", "Program", ("program code", "programme", "project", "project code"))


@dataclass(frozen=True)
class Kind:
    """One importable record type.

    `key(row)` is the record's natural key within a program (a tuple of plain values) and `describe(row)`
    names it for people; `find(session, program, row)` returns the human id of a record already present
    with that key, or None; `create(session, program, row, actor, now)` creates the record through the
    area's store service and returns its human id (audit entity `entity`). Errors are `DomainError`s.
    """

    name: str
    entity: str
    columns: tuple[Column, ...]
    key: Callable[[Row], tuple]
    describe: Callable[[Row], str]
    find: Callable[[Session, Program, Row], str | None]
    create: Callable[[Session, Program, Row, Actor, datetime], str]
    summary: str = ""  # what one row is, for people choosing how to lay out their file
    order: Callable[[Row], Any] | None = None  # when creation order matters (older agreements first)
    audit_id: Callable[[Program, str], str] | None = None  # the area's audit entity id, when not the human id

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def kind_named(name: str, kinds: Iterable[Kind]) -> Kind:
    """The kind called `name` among `kinds` (every area's: store/areas.py `KINDS`)."""
    by_name = {kind.name: kind for kind in kinds}
    kind = by_name.get((name or "").strip().lower())
    if kind is None:
        known = ", ".join(sorted(by_name)) or "none yet"
        raise Invalid(f"{name!r} is not a kind of tracker the bot imports (kinds: {known}).", "kind")
    return kind


def parse_cell(column: Column, value: Value, *, dayfirst: bool) -> Value:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if column.type == "date":
        return parse_date(value, dayfirst=dayfirst)
    if column.type == "int":
        return parse_int(value)
    if column.type == "bool":
        return parse_bool(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = re.sub(r"\s+", " ", str(value)).strip()
    if column.choices is not None:
        if normalise(text) not in column.choices:
            raise ValueError(f"is not one of: {', '.join(column.choices.labels)}")
        return column.choices[normalise(text)]
    return text


# --------------------------------------------------------------------------------------------- report


@dataclass
class Report:
    kind: str
    file_name: str
    sha256: str
    dry_run: bool
    programs: list[str] = field(default_factory=list)
    imported: list[tuple[int, str]] = field(default_factory=list)
    present: list[tuple[int, str]] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)
    blank: int = 0
    ignored: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.refused

    def headline(self) -> str:
        into = ", ".join(self.programs) or "no program"
        mode = " (dry run: nothing was changed)" if self.dry_run else ""
        return f"Import of {self.file_name} as {self.kind} into {into}, sha256 {self.sha256[:12]}…{mode}"

    def totals(self) -> str:
        verb = "to import" if self.dry_run else "imported"
        parts = [f"{len(self.imported)} {verb}", f"{len(self.present)} already present",
                 f"{len(self.refused)} refused"]
        if self.blank:
            parts.append(f"{self.blank} blank row{'s' if self.blank != 1 else ''} skipped")
        return ", ".join(parts)

    def problems(self) -> list[str]:
        lines = [f"row {number}: {reason}" for number, reason in sorted(self.refused)]
        if self.ignored:
            lines.append(f"columns ignored (not known for {self.kind}): {', '.join(self.ignored)}")
        return lines

    def lines(self) -> list[str]:
        return [self.headline(), *self.problems(), self.totals()]


# --------------------------------------------------------------------------------------------- mapping


def map_header(kind: Kind, header: Sequence[Value], with_program: bool) -> tuple[dict[str, int], list[str]]:
    """Which cell index holds which column; and the header names nobody knows."""
    columns = list(kind.columns) + ([PROGRAM_COLUMN] if with_program else [])
    found: dict[str, int] = {}
    ignored: list[str] = []
    for index, name in enumerate(header):
        key = normalise(name)
        if not key:
            continue
        column = next((c for c in columns if key in c.names()), None)
        if column is None:
            ignored.append(str(name).strip())
        elif column.name in found:
            raise Invalid(f"Two columns mean {column.label}: {header[found[column.name]]!s} and {name!s}; "
                          "keep one.")
        else:
            found[column.name] = index
    missing = [c.label for c in kind.columns if c.required and c.name not in found]
    if missing:
        raise Invalid(f"The {kind.name} tracker has no column for {', '.join(missing)}. "
                      f"Columns it reads: {column_help(kind)}.")
    return found, ignored


def column_help(kind: Kind) -> str:
    return "; ".join(
        f"{c.label}{' (required)' if c.required else ''}" + (f" = {', '.join(c.synonyms)}" if c.synonyms else "")
        for c in kind.columns
    )


def _parse_row(kind: Kind, cells: Sequence[Value], found: dict[str, int], titles: dict[str, str],
               dayfirst: bool) -> Row:
    """Cells → typed values; an error names the column as the file's header writes it."""
    row: Row = {}
    for name, index in found.items():
        column = PROGRAM_COLUMN if name == "program" else kind.column(name)
        raw = cells[index] if index < len(cells) else None
        if isinstance(raw, str) and "\x00" in raw:  # PostgreSQL cannot store it; no tracker means it
            raise Invalid(f"{titles[name]} holds a NUL character (0x00); remove it")
        try:
            row[name] = parse_cell(column, raw, dayfirst=dayfirst)
        except ValueError as exc:
            raise Invalid(f"{titles[name]} {shown(raw)!r} {exc}") from None
    for column in kind.columns:
        row.setdefault(column.name, None)
        if column.required and row[column.name] in (None, ""):
            raise Invalid(f"{titles[column.name]} is empty")
    return row


def detect(content: bytes, file_name: str, kinds: Sequence[Kind]) -> Kind:
    """The kind of tracker a file is, from its columns: the kind whose required columns are all there and
    that recognises the most columns. Two equally good kinds are told apart by the file name, or not at all."""
    header = header_of(read_table(content, file_name))
    if header is None:
        raise Invalid(f"{file_name} has no header row: it is empty.")
    names = {normalise(h) for h in header[1] if normalise(h)}
    scored = []
    for kind in kinds:
        if all(c.names() & names for c in kind.columns if c.required):
            scored.append((sum(bool(c.names() & names) for c in kind.columns), kind.name in file_name.lower(), kind))
    if not scored:
        raise Invalid(f"{file_name} does not look like a tracker the bot knows. "
                      + " ".join(f"*{k.name}* ({k.summary or k.name}) needs the columns "
                                 f"{', '.join(c.label for c in k.columns if c.required)}." for k in kinds))
    scored.sort(key=lambda s: (s[0], s[1]), reverse=True)
    if len(scored) > 1 and scored[0][:2] == scored[1][:2]:
        raise Invalid(f"{file_name} could be a {scored[0][2].name} or a {scored[1][2].name} tracker; put the kind "
                      "in the file name (e.g. batches.xlsx).")
    return scored[0][2]


# --------------------------------------------------------------------------------------------- running


Progress = Callable[[Iterable[Any], int], Iterable[Any]]
CHUNK = 25  # rows per commit: the audit chain's lock is held this long at most


def _no_progress(items: Iterable[Any], total: int) -> Iterable[Any]:
    return items


@dataclass
class _Plan:
    number: int
    row: Row | None
    program: Program | None
    error: str | None = None


def run(engine: Engine, *, kind: Kind, content: bytes, file_name: str, actor: Actor, now: datetime,
        program: str | None = None, dayfirst: bool = False, dry_run: bool = False,
        progress: Progress = _no_progress) -> Report:
    """Import one tracker file. A file-level problem (no such program, a required column missing) raises
    `Invalid` before anything is written; row problems are in the report."""
    report = Report(kind.name, file_name, sha256(content), dry_run)
    table = read_table(content, file_name)
    header = header_of(table)
    if header is None:
        raise Invalid(f"{file_name} has no header row: it is empty.")
    body = [(n, cells) for n, cells in table if n > header[0]]
    found, report.ignored = map_header(kind, header[1], with_program=True)
    if program is None and "program" not in found:
        raise Invalid("Name the program: `--program CODE` (in Slack: share the tracker in the program's channel), "
                      "or add a Program column to the tracker.")
    session = Session(engine, expire_on_commit=False)
    try:
        titles = {name: str(header[1][index]).strip() for name, index in found.items()}
        plans = _plan(session, kind, body, found, titles, program, dayfirst, report)
        if (order := kind.order) is not None:
            plans.sort(key=lambda p: (p.row is None, order(p.row) if p.row else 0, p.number))
        seen: dict[tuple, int] = {}
        for done, plan in enumerate(progress(plans, len(plans)), start=1):
            _one(session, kind, plan, seen, report, actor, now)
            if not dry_run and done % CHUNK == 0:
                session.commit()  # lets the other audited writers through
        if dry_run:
            session.rollback()
        else:
            session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
    report.imported.sort()
    report.present.sort()
    return report


def _plan(session: Session, kind: Kind, rows: list[tuple[int, list[Value]]], found: dict[str, int],
          titles: dict[str, str], program_code: str | None, dayfirst: bool, report: Report) -> list[_Plan]:
    programs: dict[str, Program | None] = {}

    def program_of(code: str) -> Program | None:
        code = code.strip().upper()
        if code not in programs:
            programs[code] = program_store.by_code(session, code)
        return programs[code]

    fixed: Program | None = None
    if program_code is not None:
        fixed = program_of(program_code)
        if fixed is None:
            raise Invalid(f"There is no program {program_code.strip().upper()[:20]}.")
    plans: list[_Plan] = []
    for number, cells in rows:
        if blank(cells):
            report.blank += 1
            continue
        try:
            row = _parse_row(kind, cells, found, titles, dayfirst)
            if fixed is not None:
                target = fixed
                named = program_of(str(row["program"])) if row.get("program") else fixed
                if named is not fixed:
                    raise Invalid(f"{titles['program']} {shown(row['program'])} is not {fixed.code}")
            elif not row.get("program"):
                raise Invalid(f"{titles['program']} is empty")
            else:
                named = program_of(str(row["program"]))
                if named is None:
                    raise Invalid(f"there is no program {shown(row['program'])}")
                target = named
        except Invalid as exc:
            plans.append(_Plan(number, None, None, str(exc)))
            continue
        plans.append(_Plan(number, row, target))
    report.programs = sorted({p.program.code for p in plans if p.program is not None}
                             or ({fixed.code} if fixed is not None else set()))
    return plans


def _one(session: Session, kind: Kind, plan: _Plan, seen: dict[tuple, int], report: Report, actor: Actor,
         now: datetime) -> None:
    if plan.error is not None or plan.row is None or plan.program is None:
        report.refused.append((plan.number, plan.error or "unreadable"))
        return
    row, program = plan.row, plan.program
    try:
        key = (program.id, *kind.key(row))
    except DomainError as exc:
        report.refused.append((plan.number, str(exc).rstrip(".")))
        return
    if key in seen:
        report.refused.append((plan.number, f"duplicate of row {seen[key]} ({kind.describe(row)})"))
        return
    seen[key] = plan.number
    try:
        with session.begin_nested():
            existing = kind.find(session, program, row)
            if existing is not None:
                report.present.append((plan.number, existing))
                return
            made = kind.create(session, program, row, actor, now)
            entity_id = kind.audit_id(program, made) if kind.audit_id else made
            audit.record(session, actor=actor, action="imported", entity=kind.entity, entity_id=entity_id,
                         program_id=program.id, now=now,
                         after={"file": report.file_name, "sha256": report.sha256, "row": plan.number,
                                "kind": kind.name})
    except DomainError as exc:
        report.refused.append((plan.number, str(exc).rstrip(".")))
        return
    except IntegrityError:
        report.refused.append((plan.number, f"conflicts with a record already in {program.code}"))
        return
    report.imported.append((plan.number, made))
