"""The outbox: every reminder and alert the bot owes, one row per message and recipient.

Due rules (one per area) say what should have been said by an instant; the sweep inserts what is new
(the unique key makes a second sweep a no-op) and cancels what is no longer due; delivery claims rows,
posts them and records channel and ts. Correctness lives here, not in APScheduler.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Column, Date, String, UniqueConstraint, func
from sqlmodel import Field, Session, SQLModel, col, select

from store.db import JSONType, UTCDateTime, insert_built, table_of

WORKDAY_START = time(9, 0)
NIGHT_STARTS = time(21, 0)  # from here to WORKDAY_START, what becomes due waits for the morning


@dataclass(frozen=True)
class Button:
    """A button the delivered message carries (rendered by the scheduler with Block Kit builders)."""

    label: str
    action_id: str
    value: str
    style: str | None = None


@dataclass(frozen=True)
class Due:
    """One thing a rule says should have been said by now.

    `key` is deterministic (`agreement:17:renewal:60d`) so the same fact never makes two rows;
    `subject` (`agreement:17`) lets an event cancel everything pending about its record; `due_on` is the
    program-local calendar day; the message goes out at 09:00 local that day (`not_before`). `urgent` goes
    first among what is due, never earlier in the day: nothing the scheduler sends arrives at night.
    `existed_on` is the program-local day the record came to be: a reminder whose day passed before then was
    never owed on that day, so it is due on `existed_on` — sent once, now, not marked late
    (`effective_due_on`); the rule words its text for the day it is computed.
    """

    key: str
    program_id: int
    subject: str
    due_on: date
    text: str
    to_channel: bool = True
    to_users: tuple[str, ...] = ()
    urgent: bool = False
    buttons: tuple[Button, ...] = ()
    existed_on: date | None = None

    @property
    def effective_due_on(self) -> date:
        return max(self.due_on, self.existed_on) if self.existed_on else self.due_on


class Status(StrEnum):
    pending = "pending"
    sending = "sending"
    sent = "sent"
    cancelled = "cancelled"
    dead = "dead"


class Outbox(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("key", "target", name="uq_outbox_key_target"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, index=True)
    target: str = Field(max_length=32)
    program_id: int = Field(foreign_key="program.id", index=True)
    subject: str = Field(max_length=120, index=True)
    due_on: date = Field(sa_column=Column(Date, nullable=False))
    not_before: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    urgent: bool = False
    text: str
    buttons: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    status: Status = Field(default=Status.pending, sa_type=String(16), index=True)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    lease_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    last_error: str | None = Field(default=None, max_length=500)
    channel: str | None = Field(default=None, max_length=32)
    ts: str | None = Field(default=None, max_length=32)
    late: bool = False
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


@dataclass
class SweepResult:
    inserted: list[int] = field(default_factory=list)
    cancelled: int = 0


def not_before(due_on: date, tz: ZoneInfo, now: datetime | None = None) -> datetime:
    """When a message due on `due_on` may go out: 09:00 local that day (the start of the working day), as an
    aware instant. Found due at night (`now` between 21:00 and 09:00 local: a catch-up, a late record), it
    waits for the next 09:00 rather than wake people up. Alerts raised by an action are posted at once by
    that action, not through here."""
    start = datetime.combine(due_on, WORKDAY_START, tzinfo=tz)
    if now is None:
        return start
    local = now.astimezone(tz)
    if local >= start and not WORKDAY_START <= local.time() < NIGHT_STARTS:
        morning = local.date() + timedelta(days=1) if local.time() >= NIGHT_STARTS else local.date()
        return datetime.combine(morning, WORKDAY_START, tzinfo=tz)
    return start


ANNOUNCED = ":announce"  # the key suffix of messages an action raised (no rule yields them)


OUTBOX = table_of(Outbox)
_ANNOUNCED = insert_built(lambda insert: insert(OUTBOX).on_conflict_do_nothing(index_elements=["key", "target"])
                          .returning(OUTBOX.c.id))


def announce(session: Session, *, key: str, program_id: int, subject: str, text: str,
             targets: Sequence[tuple[str, tuple[Button, ...]]], today: date, now: datetime) -> list[int]:
    """Queue what an action announces (a batch record ready for review …) in the action's own transaction, to
    go out at once: a crash or a Slack outage after the commit leaves it pending for the scheduler, never lost,
    and the outbox's claims keep it single. No rule yields these rows, so no sweep cancels them; the event that
    supersedes them does (`cancel` on their subject). Returns the ids of the rows queued."""
    rows = [{"key": key + ANNOUNCED, "target": target, "program_id": program_id, "subject": subject, "due_on": today,
             "not_before": now, "urgent": True, "text": text, "buttons": [vars(b) for b in buttons],
             "status": Status.pending, "created_at": now} for target, buttons in targets]
    if not rows:
        return []
    return list(session.execute(_ANNOUNCED(session), rows).scalars())


def cancel(session: Session, *, subject: str, key_prefix: str | None = None) -> int:
    """An event superseded these reminders: cancel what is still pending about `subject`."""
    query = select(Outbox).where(Outbox.subject == subject, Outbox.status == Status.pending)
    count = 0
    for row in session.exec(query):
        if key_prefix is None or row.key.startswith(key_prefix):
            row.status = Status.cancelled
            session.add(row)
            count += 1
    return count


def sent_since(session: Session, program_ids: list[int], since: datetime) -> int:
    from sqlalchemy import func

    query = select(func.count()).select_from(Outbox).where(
        col(Outbox.program_id).in_(program_ids),
        Outbox.status == Status.sent,
        col(Outbox.sent_at) >= since,
    )
    return int(session.exec(query).one())


def depth(session: Session) -> dict[str, int]:
    """How many rows are in each status (every status named, zero included): the operators' queue gauge."""
    counts = dict(session.exec(select(Outbox.status, func.count()).group_by(Outbox.status)).all())
    return {status.value: counts.get(status.value, 0) for status in Status}
