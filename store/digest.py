"""A program's status digest: one message per period (weekly, biweekly or monthly) in its channel.

Each area contributes a section (a function of the program and the local day returning mrkdwn lines);
the digest is one more due rule, keyed by period, so it goes out once per period and a missed one is
sent late rather than skipped. Only the current period's digest is due: an older one is superseded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta

from sqlmodel import Session, select

from store import agreements, batches_rules, stability_rules, submissions
from store.markup import day, escape
from store.outbox import Due, Outbox
from store.programs import Program

Section = Callable[[Session, Program, date], list[str]]

# Each area's digest section, in the order they read in the message.
SECTIONS: tuple[Section, ...] = (
    agreements.digest_section,
    batches_rules.digest_section,
    submissions.digest_section,
    stability_rules.digest_section,
)


# Biweekly digests fall on every other Monday counted from this one. Counting from a fixed Monday, not from the
# parity of ISO week numbers, keeps the fortnight across years with 53 ISO weeks (2026, 2032), where week 53
# and week 1 are both odd.
BIWEEKLY_ANCHOR = date(2026, 1, 5)


def period_start(cadence: str, today: date) -> date | None:
    """The first day of the period `today` falls in, or None when the program has no digest."""
    monday = today - timedelta(days=today.weekday())
    if cadence == "weekly":
        return monday
    if cadence == "biweekly":
        return monday - timedelta(weeks=((monday - BIWEEKLY_ANCHOR).days // 7) % 2)
    if cadence == "monthly":
        return today.replace(day=1)
    return None


def compose(session: Session, program: Program, today: date, sections: Iterable[Section] = SECTIONS) -> str:
    lines = [f"*{escape(program.code)} status — {day(today)}* ({escape(program.customer)})"]
    body = [line for section in sections for line in section(session, program, today)]
    lines += body or ["Nothing open: no deadlines, reviews or pulls need attention."]
    return "\n".join(lines)


def due(session: Session, now: datetime) -> Iterable[Due]:
    """The current period's digest of every program; composed only when not yet queued (cheap re-sweeps)."""
    recent = now.date() - timedelta(days=62)  # longer than any period: older digests are settled
    query = select(Outbox.key).where(Outbox.key.like("program:%:digest:%"), Outbox.due_on >= recent)  # type: ignore
    queued = set(session.exec(query))
    for program in session.exec(select(Program).where(Program.active == True)):  # noqa: E712
        today = now.astimezone(program.tz).date()
        start = period_start(program.status_cadence, today)
        if start is None:
            continue
        key = f"program:{program.id}:digest:{start.isoformat()}"
        yield Due(
            key=key,
            program_id=program.id,
            subject=f"program:{program.id}:digest",
            due_on=start,
            existed_on=program.created_at.astimezone(program.tz).date(),
            text="" if key in queued else compose(session, program, today),
        )
