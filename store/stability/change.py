"""Significant change at the accelerated condition (ICH Q1A(R2) §2.2.7) and the intermediate testing it starts.

Q1A(R2) defines a significant change as a 5 % change in assay from its initial value; any degradation product
exceeding its acceptance criterion; failure to meet the acceptance criteria for appearance, physical attributes
and functionality; pH or dissolution out of limits. With the data the bot holds, a result at an accelerated
condition is a significant change when:
- it is outside its specification (any attribute: degradation products, pH, dissolution, … — each limit is the
  acceptance criterion of its attribute), or
- its attribute is an assay — the name holds the word *assay* or *potency* (`Assay`, `Assay (HPLC)`,
  `Potency`) — and it differs by 5 % or more of the initial value from the initial value: the time-0 result of
  the same attribute and batch at that condition, or, where the protocol has no time-0 pull there, the batch's
  time-0 result at any condition (initial testing is done once, before the samples go into the chambers).

Intermediate testing is on standby: a study with an accelerated condition plans its intermediate pulls at
creation, counted from placement like every pull (the samples are placed at time zero), but sends no reminders
for them. The first significant change starts them — from then on they are reminded as any pull; one whose
window closed before it started is not reported as missed. A study without an intermediate condition gets the
alert with Q1A(R2)'s recommendation that its protocol has none.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from store import audit
from store.audit import Actor
from store.db import referenced
from store.programs import Program
from store.stability.schedule import Kind
from store.stability.service import StabilityPull, StabilityResult, StabilityStudy, result_id

ASSAY = re.compile(r"\b(assay|potency)\b", re.IGNORECASE)
ASSAY_CHANGE = 0.05  # of the initial value


@dataclass(frozen=True)
class Change:
    study: StabilityStudy
    pull: StabilityPull
    result: StabilityResult
    reason: str


def is_assay(attribute: str) -> bool:
    return ASSAY.search(attribute) is not None


def initial_value(session: Session, study: StabilityStudy, result: StabilityResult, condition: str
                  ) -> float | None:
    """The time-0 value of the result's attribute and batch: at its condition first, else at any condition
    (the first by condition code, so the answer does not depend on the order results came in)."""
    query = (
        select(StabilityPull.condition, StabilityResult.value)
        .join(StabilityResult, col(StabilityResult.pull_id) == StabilityPull.id)
        .where(StabilityResult.study_id == study.id, StabilityPull.months == 0,
               StabilityResult.batch == result.batch,
               func.lower(StabilityResult.attribute) == result.attribute.lower())
        .order_by(StabilityPull.condition)
    )
    found = list(session.exec(query))
    at_condition = [value for code, value in found if code == condition]
    return at_condition[0] if at_condition else found[0][1] if found else None


def reason(session: Session, study: StabilityStudy, pull: StabilityPull, result: StabilityResult) -> str | None:
    """Why the result is a significant change at its accelerated condition, or None when it is not one."""
    condition = study.condition(pull.condition)
    if condition is None or condition.kind is not Kind.accelerated:
        return None
    if result.out_of_spec:
        low = "" if result.spec_low is None else f"{result.spec_low:g}"
        high = "" if result.spec_high is None else f"{result.spec_high:g}"
        return f"outside its specification ({low}–{high})"
    if pull.months == 0 or not is_assay(result.attribute):
        return None
    initial = initial_value(session, study, result, pull.condition)
    if not initial:
        return None
    change = (result.value - initial) / initial
    if abs(change) < ASSAY_CHANGE - 1e-9:  # exactly 5 % is a significant change, whatever the float rounding
        return None
    return f"{change * 100:+.1f} % from the initial {initial:g} (ICH Q1A(R2): 5 % or more)"


def assess(session: Session, *, program: Program, actor: Actor, now: datetime,
           accepted: Sequence[StabilityResult]) -> tuple[list[Change], dict[str, list[StabilityPull]]]:
    """After an import: each accepted result that is a significant change is audited and returned, and the
    standby intermediate pulls of its study start (returned by study code, audited once per study)."""
    changes: list[Change] = []
    started: dict[str, list[StabilityPull]] = {}
    for result in accepted:
        pull = referenced(session, StabilityPull, result.pull_id)
        study = referenced(session, StabilityStudy, result.study_id)
        why = reason(session, study, pull, result)
        if why is None:
            continue
        changes.append(Change(study, pull, result, why))
        audit.record(session, actor=actor, action="significant_change", entity="stability_result",
                     entity_id=result_id(study, pull, result),
                     program_id=program.id, after={"value": result.value, "reason": why}, now=now)
        if study.code not in started:
            started[study.code] = start_intermediate(session, program=program, study=study, actor=actor, now=now)
    return changes, started


def intermediate_codes(study: StabilityStudy) -> list[str]:
    return [c.code for c in study.all_conditions() if c.kind is Kind.intermediate]


def start_intermediate(session: Session, *, program: Program, study: StabilityStudy, actor: Actor, now: datetime
                       ) -> list[StabilityPull]:
    """The study's standby intermediate pulls become active from today (program-local); [] when none wait."""
    waiting = list(session.exec(select(StabilityPull).where(
        StabilityPull.study_id == study.id, StabilityPull.standby == True)  # noqa: E712
        .order_by(col(StabilityPull.due_on))))
    if not waiting:
        return []
    today = now.astimezone(program.tz).date()
    for pull in waiting:
        pull.standby, pull.activated_on = False, today
        session.add(pull)
    session.flush()
    audit.record(session, actor=actor, action="intermediate_started", entity="stability_study", entity_id=study.code,
                 program_id=program.id, after={"pulls": [f"{p.condition}/{p.months}m" for p in waiting],
                                               "activated_on": today.isoformat()}, now=now)
    return waiting
