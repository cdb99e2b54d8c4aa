"""A program's status digest: one message per period (weekly, biweekly or monthly) in its channel.

Each area declares a section (store/areas.py: a function of programs and their local days returning each
one's mrkdwn lines, in a query or two for all of them, so a sweep composing 5,000 digests runs as many
statements as one composing 2); the digest is one more due rule, keyed by period, so it goes out once per
period and a missed one is sent late rather than skipped. Only the current period's digest is due: an older
one is superseded.

A digest is one program's, posted in that program's channel, composed from that program's records only (no
message spans programs, none is per person over their programs), so the sweep's incremental pass may ask for
the digests of the programs that changed alone (`programs`): the others' are what the last pass left.
"""

from __future__ import annotations

from collections.abc import Collection, Container, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from store.areas import DIGEST, Sections
from store.db import pk
from store.markup import day, escape
from store.outbox import Due, Outbox
from store.programs import Program, within

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


def next_period(cadence: str, today: date) -> date | None:
    """The first day of the period after the one `today` falls in (None: no digest)."""
    start = period_start(cadence, today)
    if start is None:
        return None
    if cadence == "monthly":
        return (start + timedelta(days=32)).replace(day=1)
    return start + timedelta(weeks=1 if cadence == "weekly" else 2)


def compose(session: Session, program: Program, today: date) -> str:
    return compose_all(session, [(program, today)])[pk(program)]


def compose_all(session: Session, days: Sequence[tuple[Program, date]],
                sections: Iterable[Sections] = DIGEST) -> dict[int, str]:
    """The digest of each (program, its local today), by program id: a few queries per section for all."""
    if not days:
        return {}
    found = [section(session, days) for section in sections]
    composed: dict[int, str] = {}
    for program, today in days:
        lines = [f"*{escape(program.code)} status — {day(today)}* ({escape(program.customer)})"]
        body = [line for lines_of in found for line in lines_of[pk(program)]]
        composed[pk(program)] = "\n".join(lines + (body or ["Nothing open: no deadlines, reviews or pulls need "
                                                          "attention."]))
    return composed


def due(session: Session, now: datetime, programs: Collection[int] | None = None,
        known: Container[str] = frozenset()) -> Iterable[Due]:
    """The current period's digest of every program (of `programs`, when given); composed, all of them together,
    only when neither queued (cheap re-sweeps) nor among the keys the caller `known` already holds (a preview
    of the coming days)."""
    recent = now.date() - timedelta(days=62)  # longer than any period: older digests are settled
    query = select(Outbox.key).where(col(Outbox.key).like("program:%:digest:%"), Outbox.due_on >= recent)
    queued = set(session.exec(within(query, Outbox.program_id, programs)))
    current = []
    active = select(Program).where(Program.active == True)  # noqa: E712
    for program in session.exec(within(active, Program.id, programs)):
        today = now.astimezone(program.tz).date()
        start = period_start(program.status_cadence, today)
        if start is not None:
            current.append((program, today, start, f"program:{program.id}:digest:{start.isoformat()}"))
    texts = compose_all(session, [(program, today) for program, today, _, key in current if key not in queued
                                and key not in known])
    for program, _, start, key in current:
        yield Due(
            key=key,
            program_id=pk(program),
            subject=f"program:{program.id}:digest",
            due_on=start,
            existed_on=program.created_at.astimezone(program.tz).date(),
            text=texts.get(pk(program), ""),
        )


def horizons(session: Session, now: datetime, programs: Collection[int] | None, active: Mapping[int, Program]
             ) -> dict[int, date]:
    """The digest rule's horizon (store/horizons.py): its key changes with the period, and only then."""
    found: dict[int, date] = {}
    for program_id, program in active.items():
        start = next_period(program.status_cadence, now.astimezone(program.tz).date())
        if start is not None:
            found[program_id] = start
    return found
