"""Recording stability results: rows read from a file or typed in a form are checked against the study's
pulls and stored with their audit rows, and the report says what was accepted, refused, held back or already
there. Significant changes at the accelerated condition are assessed after the rows are stored
(store.stability.change), which is why this module sits above both it and store.stability.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, select

from store import audit, outbox
from store.audit import Actor
from store.db import pk
from store.errors import Invalid
from store.programs import Program
from store.stability import change as stability_change
from store.stability.change import Change
from store.stability.service import StabilityPull, StabilityResult, StabilityStudy, record_pull, result_id, studies


@dataclass(frozen=True)
class ResultRow:
    """One result as read from a file or a form; `line` is its row number for the report of bad rows."""

    line: int
    study: str
    condition: str
    months: int
    attribute: str
    value: float
    unit: str = ""
    spec_low: float | None = None
    spec_high: float | None = None
    batch: str = ""


@dataclass
class ImportReport:
    """What an import did. `waiting`: rows held back because their pull is not recorded yet, by pull (their
    pull date has come); importing again with `record_missing` records those pulls and imports the rows."""

    accepted: list[StabilityResult] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    waiting: dict[int, list[int]] = field(default_factory=dict)
    missing: list[tuple[StabilityStudy, StabilityPull]] = field(default_factory=list)
    recorded: list[tuple[StabilityStudy, StabilityPull]] = field(default_factory=list)
    already: int = 0
    changes: list[Change] = field(default_factory=list)  # significant changes at accelerated
    started: dict[str, list[StabilityPull]] = field(default_factory=dict)  # intermediate pulls started, by study

    @property
    def out_of_spec(self) -> list[StabilityResult]:
        return [r for r in self.accepted if r.out_of_spec]


def import_results(session: Session, *, program: Program, actor: Actor, now: datetime,
                   rows: Sequence[ResultRow], rejected: Sequence[tuple[int, str]] = (),
                   record_missing: bool = False) -> ImportReport:
    """Store the sound rows; each unsound one is reported with its row number and the reason.

    A row whose pull is not recorded yet waits (`report.missing` names the pulls); with `record_missing` the
    pull is first recorded on its pull date, flagged as recorded from results. A row identical to a result
    already stored counts as already imported, so a file can be imported again."""
    report = ImportReport(rejected=list(rejected))
    audit.lock(session)  # the check below and the insert run alone among writers (no duplicate-key race)
    known = _known(session, program)
    today = now.astimezone(program.tz).date()
    for row in rows:
        try:
            study, pull, batch = _pull_of(known, row, today)
            if pull.pulled_on is None and not record_missing:
                if pull.id not in report.waiting:
                    report.missing.append((study, pull))
                report.waiting.setdefault(pk(pull), []).append(row.line)
                continue
            if pull.pulled_on is None:
                record_pull(session, program=program, pull=pull, actor=actor, now=now, pulled_on=pull.due_on,
                            from_results=True)
                report.recorded.append((study, pull))
            name = _new_attribute(known, row, study, pull, batch)
        except _Refused as refusal:
            report.rejected.append((row.line, str(refusal)))
            continue
        if name is None:
            report.already += 1
            continue
        result = StabilityResult(
            study_id=pk(study), pull_id=pk(pull), batch=batch, attribute=name[:100], value=row.value,
            unit=row.unit.strip()[:32], spec_low=row.spec_low, spec_high=row.spec_high,
            out_of_spec=(row.spec_low is not None and row.value < row.spec_low)
            or (row.spec_high is not None and row.value > row.spec_high),
            recorded_by=actor.user_id, recorded_at=now,
        )
        _store(session, known, result, name, study=study, pull=pull, program=program, actor=actor, now=now)
        report.accepted.append(result)
    session.flush()
    report.changes, report.started = stability_change.assess(session, program=program, actor=actor, now=now,
                                                             accepted=report.accepted)
    return report


class _Refused(Exception):
    """A row that cannot be stored; its message is the reason the report gives for the row."""


@dataclass
class _Known:
    """What the program holds, read once per import: its studies by code, their pulls by (study, condition,
    months), the unit each attribute of a study was first recorded in, and the results already stored."""

    studies: dict[str, StabilityStudy]
    pulls: dict[tuple[int, str, int], StabilityPull]
    units: dict[tuple[int, str], str]
    seen: dict[tuple[int, str, str], tuple]


def _known(session: Session, program: Program) -> _Known:
    all_studies = {s.code: s for s in studies(session, pk(program))}
    study_ids = [s.id for s in all_studies.values()]
    pulls = {(p.study_id, p.condition, p.months): p for p in session.exec(
        select(StabilityPull).where(col(StabilityPull.study_id).in_(study_ids)))}
    existing = list(session.exec(select(StabilityResult).where(
        col(StabilityResult.study_id).in_(study_ids))))
    return _Known(all_studies, pulls, {(r.study_id, r.attribute.lower()): r.unit for r in existing},
                  {(r.pull_id, r.batch, r.attribute.lower()): _same(r) for r in existing})


def _pull_of(known: _Known, row: ResultRow, today) -> tuple[StabilityStudy, StabilityPull, str]:
    """The row's study, pull and lot, or `_Refused` when one is unknown or the pull is not due yet."""
    study = known.studies.get(row.study.strip().upper())
    if study is None:
        raise _Refused(f"unknown study {row.study[:20]!r}")
    try:
        condition = study.named(row.condition).code
        pull = known.pulls.get((pk(study), condition, row.months))
        if pull is None:
            raise _Refused(f"{study.code} has no {row.months}-month pull at {condition}")
        batch = study.lot(row.batch)
    except Invalid as exc:
        raise _Refused(str(exc)) from None
    if pull.pulled_on is None and pull.due_on > today:
        raise _Refused(f"the {row.months}-month {pull.condition} pull is not recorded and not due before "
                       f"{pull.due_on.isoformat()}: record it with `/cmo stability pulled … --date` first")
    return study, pull, batch


def _new_attribute(known: _Known, row: ResultRow, study: StabilityStudy, pull: StabilityPull,
                   batch: str) -> str | None:
    """The attribute's name when the row is a new result; None when the same result is already stored;
    `_Refused` when it has no attribute, another unit than before, a different earlier result or inverted
    specification limits."""
    name = row.attribute.strip()
    if not name:
        raise _Refused("no attribute")
    unit = known.units.get((pk(study), name.lower()))
    if unit is not None and unit != row.unit.strip():
        raise _Refused(f"unit {row.unit!r} does not match {unit!r} used for {name} before")
    same = known.seen.get((pk(pull), batch, name.lower()))
    if same is not None:
        if same == _same(row):
            return None
        lot = f" of lot {batch}" if batch else ""
        raise _Refused(f"duplicate: {name}{lot} at {pull.condition} {row.months} months already has a different "
                       "result")
    if row.spec_low is not None and row.spec_high is not None and row.spec_low > row.spec_high:
        raise _Refused("the lower specification limit is above the upper one")
    return name


def _store(session: Session, known: _Known, result: StabilityResult, name: str, *, study: StabilityStudy,
           pull: StabilityPull, program: Program, actor: Actor, now: datetime) -> None:
    """Add the result with its audit row; the pull's first result stops the lab's late-results reminder."""
    session.add(result)
    known.units[(pk(study), name.lower())] = result.unit
    known.seen[(pk(pull), result.batch, name.lower())] = _same(result)
    if pull.results_on is None:
        pull.results_on = now.astimezone(program.tz).date()
        session.add(pull)
        outbox.cancel(session, subject=pull.lab_subject)
    audit.record(session, actor=actor, action="result_out_of_spec" if result.out_of_spec else "result_recorded",
                 entity="stability_result", entity_id=result_id(study, pull, result),
                 program_id=program.id, after=result.model_dump(exclude={"id", "recorded_at"}), now=now)


def _same(result: StabilityResult | ResultRow) -> tuple:
    """What makes two results of one attribute at one pull the same result."""
    return result.value, result.unit.strip(), result.spec_low, result.spec_high
