"""The submissions' rules: the due rule (owners are reminded 14, 7 and 3 business days before an item is due,
the program managers alerted once it is overdue; an item settled — received, approved, not applicable — is no
longer asked for) and their part of App Home (the documents a person still owes, each with its Attach button,
and each program's documents outstanding in the health line: one query for all the programs shown). No Slack
imports."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import func
from sqlmodel import Session, col, select

from store.calendar import add_business_days, business_days_between
from store.db import columns, pk
from store.health import Health, Owed
from store.horizons import note
from store.markup import day, escape, plural
from store.outbox import Button, Due
from store.programs import Program, Role, active_by_id, holders, within
from store.submissions.models import OPEN, ItemStatus, Submission, SubmissionItem, item_subject, submission_ref
from store.submissions.service import ATTACH_ACTION, local_today
from store.submissions.templates import type_name

REMINDER_STAGES = (14, 7, 3)  # business days before an item is due


def overdue_on(due_on: date, calendar: str) -> date:
    """The business day after the due date: the item is overdue from then on."""
    return add_business_days(due_on, 1, calendar)


def reminder_dates(due_on: date, calendar: str) -> list[tuple[int, date]]:
    return [(n, add_business_days(due_on, -n, calendar)) for n in REMINDER_STAGES]


class _Open(NamedTuple):
    """The columns of an open item and of its submission that the due rule reads: a full pass reads every open
    item of the portfolio (tens of thousands), and building ORM objects for them cost more than the rule."""

    id: int
    program_id: int
    due_on: date
    status: str
    owner: str | None
    document: str
    section: str
    requested_at: datetime | None
    number: int  # the submission's
    kind: str
    title: str
    filing_date: date
    created_at: datetime


def due(session: Session, now: datetime, programs: Collection[int] | None = None) -> Iterable[Due]:
    """Open items (of `programs`, when given): the latest reminder stage reached (to the owner) until the item is
    overdue, then one overdue alert to the program managers. Keys carry the due date, so a moved due date starts
    a new series. Three queries whatever the number of items; an item's message is only worded once it is due."""
    rows = [_Open(*row) for row in session.exec(_open_items(
        programs, SubmissionItem.id, Submission.program_id, SubmissionItem.due_on, SubmissionItem.status,
        SubmissionItem.owner, SubmissionItem.document, SubmissionItem.section, SubmissionItem.requested_at,
        Submission.number, Submission.kind, Submission.title, Submission.filing_date, Submission.created_at))]
    if not rows:
        return
    active = active_by_id(session, programs)
    today = {program_id: local_today(program, now) for program_id, program in active.items()}
    managers = holders(session, {row.program_id for row in rows}, Role.program_manager)
    for entry in rows:
        program = active[entry.program_id]
        calendar = program.holiday_calendar
        base = f"{item_subject(entry.id)}:due:{entry.due_on.isoformat()}"
        late_on = overdue_on(entry.due_on, calendar)
        if today[entry.program_id] >= late_on:
            pms = managers[entry.program_id, Role.program_manager]
            if pms:
                owner = f"<@{escape(entry.owner)}>" if entry.owner else "nobody (unassigned)"
                yield Due(key=f"{base}:overdue", program_id=entry.program_id, subject=item_subject(entry.id),
                          due_on=late_on, existed_on=_entered(entry, program), to_channel=False, to_users=tuple(pms),
                          text=f":warning: Overdue: {_what(entry, program)} was due {day(entry.due_on)} and is "
                               f"{ItemStatus(entry.status).label}. Owner: {owner}. "
                               f"Filing date: {day(entry.filing_date)}.")
            continue
        if entry.owner is None:
            continue
        reached = [(n, on) for n, on in reminder_dates(entry.due_on, calendar) if on <= today[entry.program_id]]
        if not reached:
            continue
        stage, on = reached[-1]
        left = business_days_between(today[entry.program_id], entry.due_on, calendar)
        when = f"in {plural(left, 'business day')}" if left else "today"
        yield Due(key=f"{base}:remind:{stage}bd", program_id=entry.program_id, subject=item_subject(entry.id),
                  due_on=on, existed_on=_entered(entry, program), to_channel=False, to_users=(entry.owner,),
                  text=f":alarm_clock: Reminder: {_what(entry, program)} is due {day(entry.due_on)}, {when}. "
                       "Share the file with the *Attach document* button, "
                       "or the *File submission item* message shortcut.",
                  buttons=(Button("Attach document", ATTACH_ACTION, str(entry.id), "primary"),))


def horizons(session: Session, now: datetime, programs: Collection[int] | None, active: Mapping[int, Program]
             ) -> dict[int, date]:
    """The due rule's horizon (store/horizons.py): an open item's next reminder day, or the business day it
    becomes overdue (after which its one alert stands until the item is settled or moved)."""
    found: dict[int, date] = {}
    for program_id, due_on in set(session.exec(_open_items(programs, Submission.program_id, SubmissionItem.due_on))):
        program = active[program_id]
        calendar = program.holiday_calendar
        note(found, program_id, local_today(program, now), overdue_on(due_on, calendar),
             *(on for _, on in reminder_dates(due_on, calendar)))
    return found


def _open_items(programs: Collection[int] | None, *fields: Any) -> Any:
    """`fields` of the open items of active programs (of `programs`, when given): what the due rule and its
    horizon both read."""
    return within(columns(*fields)
                  .join(Submission, col(Submission.id) == SubmissionItem.submission_id)
                  .join(Program, col(Program.id) == Submission.program_id)
                  .where(col(SubmissionItem.status).in_(OPEN), Program.active == True),  # noqa: E712
                  Submission.program_id, programs)


def _what(entry: _Open, program: Program) -> str:
    return (f"*{escape(entry.document)}* ({escape(entry.section)}) for {escape(program.code)} "
            f"{submission_ref(entry.number)} — {escape(type_name(entry.kind))} “{escape(entry.title)}”")


def _entered(entry: _Open, program: Program) -> date:
    """The program-local day the item was asked for (its submission's creation, when it never was)."""
    return (entry.requested_at or entry.created_at).astimezone(program.tz).date()


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
