"""What App Home shows a person: what they owe today (from each area) and, for managers and admins, a
health line per program. Areas contribute providers (their types live in store/health.py); queries are bulk
(one per area, not per program)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from store import (
    agreements_home,
    batch_release,
    batches_rules,
    stability_rules,
    submissions_home,
)
from store.health import Health, HealthProvider, Owed, OwedProvider
from store.programs import Program

OWED: tuple[OwedProvider, ...] = (
    agreements_home.owed,
    batches_rules.owed,
    batch_release.owed,
    stability_rules.owed,
    submissions_home.owed,
)
HEALTH: tuple[HealthProvider, ...] = (
    agreements_home.health,
    batches_rules.health,
    stability_rules.health,
    submissions_home.health,
)


def owed(session: Session, user_id: str, programs: list[Program], now: datetime) -> list[Owed]:
    items = [item for provider in OWED for item in provider(session, user_id, programs, now)]
    return sorted(items, key=lambda i: (i.rank, i.program_code, i.text))


def health(session: Session, programs: list[Program], now: datetime) -> Health:
    result = Health()
    for provider in HEALTH:
        provider(session, programs, now, result)
    return result
