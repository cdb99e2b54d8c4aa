"""Recording stability results: rows read from a file or typed in a form are checked against the study's
pulls and stored with their audit rows, and the report says what was accepted, refused, held back or already
there. Significant changes at the accelerated condition are assessed after the rows are stored
(store.stability_change), which is why this module sits above both it and store.stability.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, select

from store import audit, outbox, stability_change
from store.audit import Actor
from store.errors import Invalid
from store.programs import Program
from store.stability import StabilityPull, StabilityResult, StabilityStudy, record_pull, result_id, studies
from store.stability_change import Change


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
    all_studies = {s.code: s for s in studies(session, program.id)}
    study_ids = [s.id for s in all_studies.values()]
    pulls = {(p.study_id, p.condition, p.months): p for p in session.exec(
        select(StabilityPull).where(StabilityPull.study_id.in_(study_ids)))}  # type: ignore[attr-defined]
    existing = list(session.exec(select(StabilityResult).where(
        StabilityResult.study_id.in_(study_ids))))  # type: ignore[attr-defined]
    units = {(r.study_id, r.attribute.lower()): r.unit for r in existing}
    seen = {(r.pull_id, r.batch, r.attribute.lower()): _same(r) for r in existing}
    today = now.astimezone(program.tz).date()
    for row in rows:
        study = all_studies.get(row.study.strip().upper())
        if study is None:
            report.rejected.append((row.line, f"unknown study {row.study[:20]!r}"))
            continue
        try:
            condition = study.named(row.condition).code
        except Invalid as exc:
            report.rejected.append((row.line, str(exc)))
            continue
        pull = pulls.get((study.id, condition, row.months))
        if pull is None:
            report.rejected.append((row.line, f"{study.code} has no {row.months}-month pull at {condition}"))
            continue
        try:
            batch = study.lot(row.batch)
        except Invalid as exc:
            report.rejected.append((row.line, str(exc)))
            continue
        if pull.pulled_on is None and pull.due_on > today:
            report.rejected.append((row.line, f"the {row.months}-month {pull.condition} pull is not recorded and not "
                                              f"due before {pull.due_on.isoformat()}: record it with `/cmo stability "
                                              "pulled … --date` first"))
            continue
        if pull.pulled_on is None and not record_missing:
            if pull.id not in report.waiting:
                report.missing.append((study, pull))
            report.waiting.setdefault(pull.id, []).append(row.line)
            continue
        if pull.pulled_on is None:
            record_pull(session, program=program, pull=pull, actor=actor, now=now, pulled_on=pull.due_on,
                        from_results=True)
            report.recorded.append((study, pull))
        name = row.attribute.strip()
        if not name:
            report.rejected.append((row.line, "no attribute"))
            continue
        unit_key = (study.id, name.lower())
        if unit_key in units and units[unit_key] != row.unit.strip():
            report.rejected.append((row.line, f"unit {row.unit!r} does not match {units[unit_key]!r} used for "
                                              f"{name} before"))
            continue
        if (pull.id, batch, name.lower()) in seen:
            if seen[(pull.id, batch, name.lower())] == _same(row):
                report.already += 1
            else:
                lot = f" of lot {batch}" if batch else ""
                report.rejected.append((row.line, f"duplicate: {name}{lot} at {pull.condition} {row.months} months "
                                                  "already has a different result"))
            continue
        if row.spec_low is not None and row.spec_high is not None and row.spec_low > row.spec_high:
            report.rejected.append((row.line, "the lower specification limit is above the upper one"))
            continue
        low_fail = row.spec_low is not None and row.value < row.spec_low
        high_fail = row.spec_high is not None and row.value > row.spec_high
        result = StabilityResult(
            study_id=study.id, pull_id=pull.id, batch=batch, attribute=name[:100], value=row.value,
            unit=row.unit.strip()[:32],
            spec_low=row.spec_low, spec_high=row.spec_high, out_of_spec=low_fail or high_fail,
            recorded_by=actor.user_id, recorded_at=now,
        )
        session.add(result)
        units[unit_key] = result.unit
        seen[(pull.id, batch, name.lower())] = _same(result)
        if pull.results_on is None:
            pull.results_on = today
            session.add(pull)
            outbox.cancel(session, subject=pull.lab_subject)
        report.accepted.append(result)
        audit.record(session, actor=actor, action="result_out_of_spec" if result.out_of_spec else "result_recorded",
                     entity="stability_result", entity_id=result_id(study, pull, result),
                     program_id=program.id, after=result.model_dump(exclude={"id", "recorded_at"}), now=now)
    session.flush()
    report.changes, report.started = stability_change.assess(session, program=program, actor=actor, now=now,
                                                             accepted=report.accepted)
    return report


def _same(result: StabilityResult | ResultRow) -> tuple:
    """What makes two results of one attribute at one pull the same result."""
    return result.value, result.unit.strip(), result.spec_low, result.spec_high
