"""What App Home shows a person: what they owe today (from each area) and, for managers and admins, a
health line per program. Areas declare providers (store/areas.py; their types live in store/health.py);
queries are bulk (one per area, not per program)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from store.areas import HEALTH, OWED
from store.health import Health, Owed
from store.programs import Program


def owed(session: Session, user_id: str, programs: list[Program], now: datetime) -> list[Owed]:
    items = [item for provider in OWED for item in provider(session, user_id, programs, now)]
    return sorted(items, key=lambda i: (i.rank, i.program_code, i.text))


def health(session: Session, programs: list[Program], now: datetime) -> Health:
    result = Health()
    for provider in HEALTH:
        provider(session, programs, now, result)
    return result
