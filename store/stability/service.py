"""Stability studies (ICH Q1A(R2)): studies, their planned pulls, lab submissions and results (recording
results from a file or a form is store/stability/results.py).

A study is placed at storage conditions on a placement date; its pulls are planned once, at creation,
from that date (see `store.stability.schedule`). Recording a pull settles its reminders (cancelled in
the same transaction); a pull outside its window is accepted and flagged as a deviation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Column, Date, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, col, select

from store import audit, outbox
from store.audit import Actor
from store.db import JSONType, UTCDateTime, pk, referenced
from store.errors import Conflict, Invalid, NotFound
from store.programs import Program
from store.stability import notation
from store.stability.schedule import (
    ICH_BY_CODE,
    MAX_MONTHS,
    Condition,
    Kind,
    condition_code,
    default_time_points,
    plan,
)

STUDY_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,19}$")


class StabilityStudy(SQLModel, table=True):
    __tablename__ = "stability_study"
    __table_args__ = (UniqueConstraint("program_id", "code", name="uq_stability_study_code"),)

    id: int | None = Field(default=None, primary_key=True)
    program_id: int = Field(foreign_key="program.id", index=True)
    code: str = Field(max_length=20)
    product: str = Field(max_length=200)
    lots: str = Field(default="", max_length=500)
    protocol: str = Field(default="", max_length=100)
    duration_months: int
    placed_on: date = Field(sa_column=Column(Date, nullable=False))
    conditions: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))

    def condition(self, code: str) -> Condition | None:
        found = next((c for c in self.conditions if c["code"] == code.strip().upper()), None)
        return Condition(found["code"], found["label"], Kind(found["kind"])) if found else None

    def all_conditions(self) -> list[Condition]:
        return [Condition(c["code"], c["label"], Kind(c["kind"])) for c in self.conditions]

    def named(self, text: str) -> Condition:
        """The condition `text` names, as people and labs write it (`LT25`, `25°C/60%RH`, `25/60`)."""
        return notation.study_condition(text, self.all_conditions(), self.code)

    def snapshot(self) -> dict[str, Any]:
        return self.model_dump(exclude={"id", "created_at"})

    def lot_list(self) -> list[str]:
        """The study's batches as entered (`L-2201, L-2202; L-2203`)."""
        return [lot.strip() for lot in re.split(r"[,;\n]", self.lots) if lot.strip()]

    def lot(self, text: str) -> str:
        """The batch a result names, spelled as the study lists it; any lot when the study lists none, and ""
        for a result that names none (the study's results as one series, as before batches were recorded)."""
        text = text.strip()
        listed = self.lot_list()
        if not text or not listed:
            return text[:40]
        found = next((lot for lot in listed if lot.casefold() == text.casefold()), None)
        if found is None:
            raise Invalid(f"lot {text[:40]!r} is not a lot of {self.code} ({', '.join(listed)})", "lot")
        return found[:40]


def pull_subject(pull_id: int | None) -> str:
    """The outbox subject of a pull's reminders, from its id alone: the due rule reads pulls as rows."""
    return f"stability:pull:{pull_id}"


class StabilityPull(SQLModel, table=True):
    __tablename__ = "stability_pull"
    __table_args__ = (UniqueConstraint("study_id", "condition", "months", name="uq_stability_pull"),)

    id: int | None = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="stability_study.id", index=True)
    program_id: int = Field(foreign_key="program.id", index=True)
    condition: str = Field(max_length=16)
    months: int
    due_on: date = Field(sa_column=Column(Date, nullable=False, index=True))
    opens_on: date = Field(sa_column=Column(Date, nullable=False))
    closes_on: date = Field(sa_column=Column(Date, nullable=False))
    pulled_on: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    pulled_by: str | None = Field(default=None, max_length=64)
    pulled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    deviation: bool = False
    from_results: bool = False  # recorded on its pull date because a results file held results for it
    lab: str | None = Field(default=None, max_length=100)
    sample_ids: str | None = Field(default=None, max_length=500)
    submitted_on: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    results_due_on: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    results_on: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    # an intermediate pull waiting for a significant change at accelerated (no reminders) and the day it started
    standby: bool = False
    activated_on: date | None = Field(default=None, sa_column=Column(Date, nullable=True))

    @property
    def subject(self) -> str:
        return pull_subject(self.id)

    @property
    def lab_subject(self) -> str:
        return f"stability:pull:{self.id}:lab"

    def snapshot(self) -> dict[str, Any]:
        return self.model_dump(exclude={"id"})


class StabilityResult(SQLModel, table=True):
    __tablename__ = "stability_result"
    __table_args__ = (UniqueConstraint("pull_id", "batch", "attribute", name="uq_stability_result"),)

    id: int | None = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="stability_study.id", index=True)
    pull_id: int = Field(foreign_key="stability_pull.id", index=True)
    batch: str = Field(default="", max_length=40)  # the lot; "" when the results name none
    attribute: str = Field(max_length=100)
    value: float
    unit: str = Field(default="", max_length=32)
    spec_low: float | None = None
    spec_high: float | None = None
    out_of_spec: bool = False
    recorded_by: str = Field(max_length=64)
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


# ---------------------------------------------------------------- studies


def validate_study_code(code: str) -> str:
    code = code.strip().upper()
    if not STUDY_PATTERN.match(code):
        raise Invalid("Use 2–20 letters, digits and dashes for the study id (e.g. STB-0007).", "study")
    return code


def next_code(session: Session, program_id: int) -> str:
    """`STB-0001`, then one more than the highest STB number of the program."""
    audit.lock(session)  # the check below and the insert run alone among writers (no duplicate-key race)
    codes = session.exec(select(StabilityStudy.code).where(StabilityStudy.program_id == program_id))
    numbers = [int(c[4:]) for c in codes if re.fullmatch(r"STB-\d+", c)]
    return f"STB-{max(numbers, default=0) + 1:04d}"


def parse_conditions(codes: Sequence[str], custom: str | None) -> list[Condition]:
    """ICH codes chosen from the list, plus custom lines `CODE = label`: long term, or intermediate when the
    label says so (`30/65 = 30 °C / 65 % RH intermediate`)."""
    chosen = [ICH_BY_CODE[c] for c in codes if c in ICH_BY_CODE]
    for line in (custom or "").splitlines():
        if not line.strip():
            continue
        code, _, label = line.partition("=")
        code = condition_code(code)
        if code in ICH_BY_CODE:
            raise Invalid(f"{code} is one of the ICH conditions; tick it in the list instead.", "custom")
        kind = Kind.intermediate if re.search(r"\bintermediate\b", label, re.IGNORECASE) else Kind.long_term
        chosen.append(Condition(code, (label.strip() or code)[:80], kind))
    if not chosen:
        raise Invalid("Choose at least one storage condition.", "conditions")
    if len({c.code for c in chosen}) != len(chosen):
        raise Invalid("A condition is listed twice.", "custom")
    return chosen


def create_study(
    session: Session,
    *,
    program: Program,
    actor: Actor,
    now: datetime,
    code: str,
    product: str,
    placed_on: date,
    duration_months: int,
    conditions: Sequence[Condition],
    time_points: Mapping[str, Sequence[int]] | None = None,
    lots: str = "",
    protocol: str = "",
) -> StabilityStudy:
    code = validate_study_code(code)
    if not product.strip():
        raise Invalid("Name the product.", "product")
    if not 1 <= duration_months <= MAX_MONTHS:
        raise Invalid(f"The duration is 1 to {MAX_MONTHS} months.", "duration")
    audit.lock(session)  # the check below and the insert run alone among writers (no duplicate-key race)
    if get_study(session, pk(program), code, missing_ok=True) is not None:
        raise Invalid(f"{program.code} already has a study {code}.", "study")
    points: dict[str, list[int]] = {}
    for condition in conditions:
        chosen = list((time_points or {}).get(condition.code) or default_time_points(condition.kind, duration_months))
        beyond = [p for p in chosen if p > duration_months]
        if beyond:
            raise Invalid(f"{condition.code}: time point {beyond[0]} is past the {duration_months}-month duration.",
                          "timepoints")
        points[condition.code] = sorted(set(chosen))
    unknown = set(time_points or {}) - set(points)
    if unknown:
        raise Invalid(f"Time points given for {sorted(unknown)[0]}, which is not a condition of the study.",
                      "timepoints")
    study = StabilityStudy(
        program_id=pk(program), code=code, product=product.strip()[:200], lots=lots.strip()[:500],
        protocol=protocol.strip()[:100], duration_months=duration_months, placed_on=placed_on,
        conditions=[{"code": c.code, "label": c.label, "kind": c.kind.value} for c in conditions],
        created_by=actor.user_id, created_at=now,
    )
    session.add(study)
    session.flush()
    kinds = {c.code: c.kind for c in conditions}
    standby = Kind.accelerated in kinds.values()  # intermediate testing waits for a significant change there
    for planned in plan(placed_on, points, kinds, program.settings):
        session.add(StabilityPull(study_id=pk(study), program_id=pk(program), condition=planned.condition,
                                  months=planned.months, due_on=planned.due_on, opens_on=planned.opens_on,
                                  closes_on=planned.closes_on,
                                  standby=standby and kinds[planned.condition] is Kind.intermediate))
    session.flush()
    audit.record(session, actor=actor, action="created", entity="stability_study", entity_id=code,
                 program_id=program.id, after={**study.snapshot(), "time_points": points}, now=now)
    return study


def get_study(session: Session, program_id: int, code: str, *, missing_ok: bool = False) -> StabilityStudy | None:
    study = session.exec(select(StabilityStudy).where(StabilityStudy.program_id == program_id,
                                                      StabilityStudy.code == code.strip().upper())).first()
    if study is None and not missing_ok:
        raise NotFound(f"There is no stability study {code.strip().upper()[:20]} in this program.")
    return study


def studies(session: Session, program_id: int) -> list[StabilityStudy]:
    query = select(StabilityStudy).where(StabilityStudy.program_id == program_id)
    return list(session.exec(query.order_by(StabilityStudy.code)))


def pulls_of(session: Session, study_id: int) -> list[StabilityPull]:
    query = select(StabilityPull).where(StabilityPull.study_id == study_id)
    return list(session.exec(query.order_by(col(StabilityPull.due_on), col(StabilityPull.condition),
                                            col(StabilityPull.months))))


def find_pull(session: Session, study: StabilityStudy, condition: str, months: int) -> StabilityPull:
    """The pull at `condition` (any notation `stability_notation` reads) and `months`."""
    code = study.named(condition).code
    pull = session.exec(select(StabilityPull).where(
        StabilityPull.study_id == study.id, StabilityPull.condition == code, StabilityPull.months == months)).first()
    if pull is None:
        points = sorted(p.months for p in session.exec(select(StabilityPull).where(
            StabilityPull.study_id == study.id, StabilityPull.condition == code)))
        raise NotFound(f"{study.code} has no {months}-month pull at {code}; its time points there are "
                       f"{', '.join(map(str, points))} months.")
    return pull


@dataclass(frozen=True)
class Upcoming:
    program: Program
    study: StabilityStudy
    pull: StabilityPull


def upcoming(session: Session, program_ids: Sequence[int], start: date, end: date) -> list[Upcoming]:
    """Open pulls of these programs whose window is still open on `start` and whose date is by `end`."""
    query = (
        select(StabilityPull, StabilityStudy, Program)
        .join(StabilityStudy, col(StabilityStudy.id) == StabilityPull.study_id)
        .join(Program, col(Program.id) == StabilityPull.program_id)
        .where(col(StabilityPull.program_id).in_(program_ids), col(StabilityPull.pulled_on).is_(None),
               StabilityPull.standby == False, StabilityPull.closes_on >= start,  # noqa: E712
               StabilityPull.due_on <= end)
        .order_by(col(StabilityPull.due_on), col(Program.code), col(StabilityStudy.code), col(StabilityPull.condition))
    )
    return [Upcoming(program, study, pull) for pull, study, program in session.exec(query)]


# ---------------------------------------------------------------- pulls and lab submissions


def record_pull(session: Session, *, program: Program, pull: StabilityPull, actor: Actor, now: datetime,
                pulled_on: date, from_results: bool = False) -> StabilityPull:
    """Record the pull; outside its window it is accepted and flagged as a deviation. Reminders stop.
    `from_results`: recorded on its pull date because results came in for it (audited as such)."""
    if pull.program_id != program.id:
        raise NotFound("There is no such pull in this program.")
    if pull.pulled_on is not None:
        raise Conflict(f"This pull was already recorded on {pull.pulled_on.isoformat()} by <@{pull.pulled_by}>.")
    today = now.astimezone(program.tz).date()
    if pulled_on > today:
        raise Invalid("A pull cannot be recorded for a future date.", "date")
    study = referenced(session, StabilityStudy, pull.study_id)
    if pulled_on < study.placed_on:
        raise Invalid("A pull cannot be before the placement date.", "date")
    before = pull.snapshot()
    pull.pulled_on = pulled_on
    pull.pulled_by = actor.user_id
    pull.pulled_at = now
    pull.deviation = not pull.opens_on <= pulled_on <= pull.closes_on
    pull.from_results = from_results
    session.add(pull)
    outbox.cancel(session, subject=pull.subject)
    action = "pulled_out_of_window" if pull.deviation else "pulled_from_results" if from_results else "pulled"
    audit.record(session, actor=actor, action=action,
                 entity="stability_pull", entity_id=f"{study.code}/{pull.condition}/{pull.months}m",
                 program_id=program.id, before=before, after=pull.snapshot(), now=now)
    return pull


def submit_to_lab(session: Session, *, program: Program, pull: StabilityPull, actor: Actor, now: datetime,
                  lab: str, sample_ids: str, submitted_on: date, results_due_on: date) -> StabilityPull:
    if pull.program_id != program.id:
        raise NotFound("There is no such pull in this program.")
    if pull.pulled_on is None:
        raise Conflict("Record the pull before submitting its samples to the lab.")
    if not lab.strip():
        raise Invalid("Name the lab.", "lab")
    if submitted_on < pull.pulled_on:
        raise Invalid("Samples cannot be submitted before they were pulled.", "date")
    if results_due_on < submitted_on:
        raise Invalid("Results cannot be expected before the samples are submitted.", "expected")
    study = referenced(session, StabilityStudy, pull.study_id)
    before = pull.snapshot()
    pull.lab, pull.sample_ids = lab.strip()[:100], sample_ids.strip()[:500]
    pull.submitted_on, pull.results_due_on = submitted_on, results_due_on
    session.add(pull)
    outbox.cancel(session, subject=pull.lab_subject)
    audit.record(session, actor=actor, action="submitted_to_lab", entity="stability_pull",
                 entity_id=f"{study.code}/{pull.condition}/{pull.months}m", program_id=program.id, before=before,
                 after=pull.snapshot(), now=now)
    return pull


# ---------------------------------------------------------------- results


def result_id(study: StabilityStudy, pull: StabilityPull, result: StabilityResult) -> str:
    """How the audit trail names a result: study/condition/months[/lot]/attribute."""
    parts = (study.code, pull.condition, f"{pull.months}m", result.batch, result.attribute)
    return "/".join(part for part in parts if part)[:128]


def results_of(session: Session, study_id: int) -> list[tuple[StabilityPull, StabilityResult]]:
    query = (
        select(StabilityPull, StabilityResult)
        .join(StabilityResult, col(StabilityResult.pull_id) == StabilityPull.id)
        .where(StabilityResult.study_id == study_id)
        .order_by(col(StabilityPull.condition), col(StabilityResult.attribute), col(StabilityResult.batch),
                  col(StabilityPull.months))
    )
    return list(session.exec(query))


def record_report(session: Session, *, program: Program, study: StabilityStudy, actor: Actor, now: datetime,
                  files: Mapping[str, str]) -> None:
    """The data package was compiled and filed: `files` maps each filed path to its SHA-256."""
    audit.record(session, actor=actor, action="data_package_filed", entity="stability_study", entity_id=study.code,
                 program_id=program.id, after={"files": dict(files)}, now=now)
