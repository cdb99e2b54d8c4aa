"""The submissions' part of App Home: the documents a person still owes (each with its Attach button), and
each program's documents outstanding in the health line. One query for all the programs shown."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from store.db import pk
from store.health import Health, Owed
from store.markup import day, escape, plural
from store.outbox import Button
from store.programs import Program
from store.submissions.models import OPEN, Submission, SubmissionItem
from store.submissions.service import ATTACH_ACTION, local_today
from store.submissions.templates import type_name


def _open_rows(session: Session, program_ids: list[int], owner: str | None = None):
    if not program_ids:
        return []
    query = (
        select(SubmissionItem, Submission)
        .join(Submission, col(Submission.id) == SubmissionItem.submission_id)
        .where(col(Submission.program_id).in_(program_ids), col(SubmissionItem.status).in_(OPEN))
    )
    if owner is not None:
        query = query.where(SubmissionItem.owner == owner)
    return list(session.exec(query.order_by(col(SubmissionItem.due_on), col(SubmissionItem.id))))


def owed(session: Session, user_id: str, programs: list[Program], now: datetime) -> list[Owed]:
    """The documents a person still owes, soonest due first, each with its Attach button."""
    by_id = {pk(p): p for p in programs}
    owed = []
    for entry, submission in _open_rows(session, list(by_id), owner=user_id):
        program = by_id[submission.program_id]
        days = (entry.due_on - local_today(program, now)).days
        when = f"overdue since {day(entry.due_on)}" if days < 0 else f"due {day(entry.due_on)}"
        owed.append(Owed(program.code, days, f"{submission.ref} #{entry.number} *{escape(entry.document)}* "
                                              f"({escape(type_name(submission.kind))}), {when}",
                         (Button("Attach document", ATTACH_ACTION, str(entry.id), "primary"),)))
    return owed


def health(session: Session, programs: list[Program], now: datetime, health: Health) -> None:
    """Per program: documents outstanding (overdue among them); the next item due is a deadline. Counts open
    items per (program, due day) in SQL: a portfolio of 500 programs has tens of thousands."""
    today = {pk(p): local_today(p, now) for p in programs}
    counts: dict[int, list[int]] = {}
    nearest: dict[int, date] = {}
    query = (select(col(Submission.program_id), col(SubmissionItem.due_on), func.count())
             .join(Submission, col(Submission.id) == SubmissionItem.submission_id)
             .where(col(Submission.program_id).in_(list(today)), col(SubmissionItem.status).in_(OPEN))
             .group_by(col(Submission.program_id), col(SubmissionItem.due_on)))
    for program_id, due_on, count in session.exec(query.order_by(col(SubmissionItem.due_on))):
        tally = counts.setdefault(program_id, [0, 0])
        tally[0] += count
        tally[1] += count * (due_on < today[program_id])
        nearest.setdefault(program_id, due_on)
    for program_id, (open_count, late) in counts.items():
        health.add(program_id, f"{plural(open_count, 'submission document')} outstanding"
                               + (f" ({late} overdue)" if late else ""), nearest[program_id])
