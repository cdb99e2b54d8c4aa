"""`cmo-bot tick --dry-run`: what a pass would send as of an instant, computed and rolled back."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from scheduler.delivery import claimable
from scheduler.sweep import sweep
from store.outbox import Outbox


def dry_run(engine: Engine, now: datetime) -> list[str]:
    with Session(engine) as session:
        try:
            sweep(session, now)
            rows = session.exec(select(Outbox).where(claimable(now)).order_by(col(Outbox.not_before), col(Outbox.id)))
            return [f"would send {row.key} → {row.target} (due {row.due_on.isoformat()})" for row in rows]
        finally:
            session.rollback()
