"""What the bot will send for a program in the coming days: the rules asked about each coming day (a
periodic message, like the digest, is only due within its own period), minus what has already gone out
or been cancelled. Read-only.

The rules are the sweep's own (one definition of what is due), asked within `scoped`: every query they make
sees the one program only, so a preview runs the same statements, and reads the same rows, for a program of
a portfolio of 2 or of 5,000. (Answering the queries a later day repeats word for word from the first day's
answer saves statements but costs more: telling them apart means compiling every statement.)"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, with_loader_criteria
from sqlmodel import Session, col, select

from scheduler.rules import RULES
from scheduler.sweep import collect
from store import digest
from store.outbox import Outbox, Status
from store.programs import Program


@dataclass(frozen=True)
class Planned:
    at: datetime
    key: str
    target: str
    text: str


@contextmanager
def scoped(session: Session, program_id: int) -> Iterator[Session]:
    """The session, its ORM queries limited to one program while the block runs: its `Program` row (and so
    whatever the rules join to it) and its outbox rows."""

    def execute(state: ORMExecuteState) -> None:
        if state.is_select:
            state.statement = state.statement.options(
                with_loader_criteria(Program, col(Program.id) == program_id),
                with_loader_criteria(Outbox, col(Outbox.program_id) == program_id))

    event.listen(session, "do_orm_execute", execute)
    try:
        yield session
    finally:
        event.remove(session, "do_orm_execute", execute)


def upcoming(session: Session, program_id: int, now: datetime, days: int = 14) -> list[Planned]:
    settled = {
        (row.key, row.target)
        for row in session.exec(select(Outbox).where(
            Outbox.program_id == program_id,
            col(Outbox.status).in_((Status.sent, Status.cancelled, Status.dead))))
    }
    planned: dict[tuple[str, str], Planned] = {}
    keys: set[str] = set()  # a period's digest is composed on the first day it is due, not on every day after
    rules = tuple(partial(digest.due, known=keys) if rule == digest.due else rule for rule in RULES)
    with scoped(session, program_id):
        for offset in range(days + 1):
            for row in collect(session, now + timedelta(days=offset), rules):
                keys.add(row["key"])
                ident = (row["key"], row["target"])
                if row["program_id"] == program_id and ident not in settled and ident not in planned:
                    planned[ident] = Planned(row["not_before"], row["key"], row["target"], row["text"])
    return sorted(planned.values(), key=lambda p: (p.at, p.key, p.target))
