"""Stability test data, built through the store's services."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Session

from store.programs import Program
from store.stability import service as stability
from store.stability.schedule import ICH_BY_CODE
from tests.factories import ADMIN


def study(session: Session, program: Program, now: datetime, *, code: str = "STB-0001",
          placed_on: date = date(2027, 1, 31), duration: int = 24, conditions: tuple[str, ...] = ("LT25", "ACC40"),
          time_points: dict[str, list[int]] | None = None, product: str = "Acmezol 10 mg tablets"
          ) -> stability.StabilityStudy:
    return stability.create_study(
        session, program=program, actor=ADMIN, now=now, code=code, product=product, placed_on=placed_on,
        duration_months=duration, conditions=[ICH_BY_CODE[c] for c in conditions], time_points=time_points,
        lots="L-001, L-002", protocol="PR-17",
    )
