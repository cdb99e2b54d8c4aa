"""What the bot will send for a program in the coming days: the rules asked about each coming day (a
periodic message, like the digest, is only due within its own period), minus what has already gone out
or been cancelled. Read-only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, select

from scheduler.sweep import collect
from store.outbox import Outbox, Status


@dataclass(frozen=True)
class Planned:
    at: datetime
    key: str
    target: str
    text: str


def upcoming(session: Session, program_id: int, now: datetime, days: int = 14) -> list[Planned]:
    settled = {
        (row.key, row.target)
        for row in session.exec(select(Outbox).where(
            Outbox.program_id == program_id,
            Outbox.status.in_((Status.sent, Status.cancelled, Status.dead))))  # type: ignore[attr-defined]
    }
    planned: dict[tuple[str, str], Planned] = {}
    for offset in range(days + 1):
        for row in collect(session, now + timedelta(days=offset)):
            ident = (row["key"], row["target"])
            if row["program_id"] == program_id and ident not in settled and ident not in planned:
                planned[ident] = Planned(row["not_before"], row["key"], row["target"], row["text"])
    return sorted(planned.values(), key=lambda p: (p.at, p.key, p.target))
