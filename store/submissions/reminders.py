"""The submissions' due rule: owners are reminded 14, 7 and 3 business days before an item is due, and the
program managers alerted once it is overdue; an item settled (received, approved, not applicable) is no
longer asked for. No Slack imports."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from sqlmodel import Session, col, select

from store.calendar import add_business_days, business_days_between
from store.db import pk
from store.markup import day, escape, plural
from store.outbox import Button, Due
from store.programs import Program, ProgramMember, Role
from store.submissions.models import OPEN, ItemStatus, Submission, SubmissionItem
from store.submissions.service import ATTACH_ACTION, local_today
from store.submissions.templates import type_name

REMINDER_STAGES = (14, 7, 3)  # business days before an item is due


def overdue_on(entry: SubmissionItem, calendar: str) -> date:
    """The business day after the due date: the item is overdue from then on."""
    return add_business_days(entry.due_on, 1, calendar)


def reminder_dates(due_on: date, calendar: str) -> list[tuple[int, date]]:
    return [(n, add_business_days(due_on, -n, calendar)) for n in REMINDER_STAGES]


def due(session: Session, now: datetime) -> Iterable[Due]:
    """Open items: the latest reminder stage reached (to the owner) until the item is overdue, then one
    overdue alert to the program managers. Keys carry the due date, so a moved due date starts a new
    series. Two queries whatever the number of items."""
    rows = list(session.exec(
        select(SubmissionItem, Submission, Program)
        .join(Submission, col(Submission.id) == SubmissionItem.submission_id)
        .join(Program, col(Program.id) == Submission.program_id)
        .where(col(SubmissionItem.status).in_(OPEN), Program.active == True)  # noqa: E712
    ))
    program_ids = {pk(p) for _, _, p in rows}
    managers: dict[int, list[str]] = {}
    if program_ids:
        for member in session.exec(select(ProgramMember).where(
                col(ProgramMember.program_id).in_(program_ids),
                ProgramMember.role == Role.program_manager).order_by(ProgramMember.user_id)):
            managers.setdefault(member.program_id, []).append(member.user_id)
    for entry, submission, program in rows:
        today = local_today(program, now)
        calendar = program.holiday_calendar
        base = f"{entry.subject}:due:{entry.due_on.isoformat()}"
        what = (f"*{escape(entry.document)}* ({escape(entry.section)}) for {escape(program.code)} {submission.ref} "
                f"— {escape(type_name(submission.kind))} “{escape(submission.title)}”")
        late_on = overdue_on(entry, calendar)
        entered = (entry.requested_at or submission.created_at).astimezone(program.tz).date()
        if today >= late_on:
            pms = managers.get(pk(program), [])
            if pms:
                owner = f"<@{escape(entry.owner)}>" if entry.owner else "nobody (unassigned)"
                yield Due(key=f"{base}:overdue", program_id=pk(program), subject=entry.subject, due_on=late_on,
                          existed_on=entered, to_channel=False, to_users=tuple(pms),
                          text=f":warning: Overdue: {what} was due {day(entry.due_on)} and is "
                               f"{ItemStatus(entry.status).label}. Owner: {owner}. "
                               f"Filing date: {day(submission.filing_date)}.")
            continue
        if entry.owner is None:
            continue
        reached = [(n, on) for n, on in reminder_dates(entry.due_on, calendar) if on <= today]
        if not reached:
            continue
        stage, on = reached[-1]
        left = business_days_between(today, entry.due_on, calendar)
        when = f"in {plural(left, 'business day')}" if left else "today"
        yield Due(key=f"{base}:remind:{stage}bd", program_id=pk(program), subject=entry.subject, due_on=on,
                  existed_on=entered, to_channel=False, to_users=(entry.owner,),
                  text=f":alarm_clock: Reminder: {what} is due {day(entry.due_on)}, {when}. "
                       "Share the file with the *Attach document* button, "
                       "or the *File submission item* message shortcut.",
                  buttons=(Button("Attach document", ATTACH_ACTION, str(entry.id), "primary"),))

