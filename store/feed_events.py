"""What a person's calendar feed holds: every date the bot knows on their programs, as they may see it.

Scope, as everywhere (README, "Who sees what"): the programs the person holds a role on. People of the
manufacturer see the program's pulls, agreement dates, open batch records and their review calls, submission
filing dates, and the due dates of open submission documents they own, or all of them when they manage the
program or are its regulatory contact. People outside the company see their own items only: the open batch
records of programs they approve for, and the documents they were asked for.

A feed holds what happens from `PAST_DAYS` ago to `AHEAD_DAYS` ahead (calendar apps keep what they once
fetched; a feed of every pull of ten-year studies would only slow them down). Events are gathered for a
`reach` of days that may be wider (`store.calendar_feed` gathers a month more on either side, so that a part
it keeps still covers the window days later). One query per kind of record for all the programs at once
(never one per program), columns only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property, partial
from zoneinfo import ZoneInfo

from sqlmodel import Session, col

from store import programs
from store.agreements.service import Agreement, Kind, Status
from store.batches.service import OPEN as OPEN_BATCHES
from store.batches.service import Batch, ReviewCall
from store.db import columns
from store.programs import Program, ProgramMember, Role
from store.stability.service import StabilityPull, StabilityStudy
from store.submissions.service import OPEN as OPEN_ITEMS
from store.submissions.service import Submission, SubmissionItem

SLACK_CHANNEL = "https://slack.com/app_redirect?channel={}"
PAST_DAYS, AHEAD_DAYS = 90, 400


@dataclass(frozen=True)
class Where:
    """The program an event belongs to, as the event names it."""

    id: int
    code: str
    customer: str
    channel_id: str | None
    tz: ZoneInfo

    @cached_property
    def channel_url(self) -> str | None:  # read for every event of the program: worked out once
        return SLACK_CHANNEL.format(self.channel_id) if self.channel_id else None


@dataclass(frozen=True)
class FeedEvent:
    """All-day when `start` is a date (`end` exclusive, as RFC 5545 wants); timed when aware datetimes."""

    uid: str
    program: Where
    summary: str
    details: str
    start: date | datetime
    end: date | datetime
    changes_on: date | None = None  # the day (in the program's zone) it changes by time alone: a pull missed
    on: Callable[[date], FeedEvent] | None = field(default=None, compare=False, repr=False)  # it on another day

    @property
    def first_day(self) -> date:
        return _day(self.start)

    @property
    def end_day(self) -> date:
        """The day after its last (all-day events end the day before `end`; a timed one on its end's day)."""
        return self.end if not isinstance(self.end, datetime) else self.end.date() + timedelta(days=1)

    @property
    def dates(self) -> str:
        """The dates as the SEQUENCE ledger compares them (instants in UTC)."""
        if isinstance(self.start, datetime) and isinstance(self.end, datetime):
            return f"{self.start.astimezone(UTC).isoformat()}/{self.end.astimezone(UTC).isoformat()}"
        return f"{self.start.isoformat()}/{self.end.isoformat()}"


@dataclass(frozen=True)
class Scope:
    """The programs of one feed, split by what the person may see there."""

    programs: dict[int, Where]
    internal: frozenset[int]  # everything of the program
    approving: frozenset[int]  # open batch records (customer approvers, inside or outside the company)
    all_documents: frozenset[int]  # every open document's due date (managers, regulatory)

    def only(self, program_ids: Iterable[int]) -> Scope:
        """The same person's scope narrowed to some of its programs (those whose events must be gathered again)."""
        ids = frozenset(program_ids) & frozenset(self.programs)
        return Scope({p: w for p, w in self.programs.items() if p in ids}, self.internal & ids, self.approving & ids,
                     self.all_documents & ids)

    def sees(self, program_id: int) -> tuple[bool, bool, bool]:
        """What the person may see of the program: everything, its open batch records, every open document."""
        return (program_id in self.internal, program_id in self.approving, program_id in self.all_documents)


def scope(session: Session, user_id: str, program_id: int | None = None) -> Scope:
    """The person's programs (or the one asked for, if they hold a role there) and what they see on each."""
    query = (columns(Program.id, Program.code, Program.customer, Program.channel_id, Program.timezone,
                     ProgramMember.role)
             .join(ProgramMember, col(ProgramMember.program_id) == Program.id)
             .where(ProgramMember.user_id == user_id, Program.active == True))  # noqa: E712
    if program_id is not None:
        query = query.where(Program.id == program_id)
    outsider = programs.is_outsider(session, user_id)
    where: dict[int, Where] = {}
    roles: dict[int, set[str]] = {}
    for pid, code, customer, channel, tz, role in session.exec(query):
        where.setdefault(pid, Where(pid, code, customer, channel, ZoneInfo(tz)))
        roles.setdefault(pid, set()).add(str(role))
    internal = frozenset() if outsider else frozenset(where)
    approving = frozenset(p for p, r in roles.items() if Role.customer_approver in r) | internal
    managing = frozenset(p for p, r in roles.items() if r & {Role.program_manager, Role.regulatory})
    return Scope(where, internal, approving, frozenset() if outsider else managing)


def window(now: datetime) -> tuple[date, date]:
    """The first and last day a feed holds as of `now`."""
    return now.date() - timedelta(days=PAST_DAYS), now.date() + timedelta(days=AHEAD_DAYS)


def held(event: FeedEvent, since: date, until: date) -> bool:
    """Whether the event has a day from `since` to `until`."""
    return event.end_day > since and event.first_day <= until


@dataclass(frozen=True)
class Span:
    """The days gathered, and each program's today (a pull is missed once its window closed)."""

    since: date
    until: date
    today: dict[int, date]


def events(session: Session, user_id: str, visible: Scope, now: datetime,
           reach: tuple[date, date] | None = None) -> list[FeedEvent]:
    """The person's events on the programs of `visible` that have a day in `reach` (default: the window)."""
    since, until = reach or window(now)
    span = Span(since, until, {pid: now.astimezone(w.tz).date() for pid, w in visible.programs.items()})
    found = [*_pulls(session, visible, span), *_agreements(session, visible), *_batches(session, visible, span),
             *_calls(session, visible, span), *_submissions(session, visible, span),
             *_documents(session, user_id, visible, span)]
    return sorted((e for e in found if held(e, since, until)), key=lambda e: (_day(e.start), e.uid))


def _day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def _described(where: Where, *lines: str) -> str:
    channel = f"Channel: {where.channel_url}" if where.channel_url else "The program has no channel yet."
    return "\n".join([*lines, f"Program: {where.code} ({where.customer})", channel])


def _pulls(session: Session, visible: Scope, span: Span) -> list[FeedEvent]:
    if not visible.internal:
        return []
    query = (columns(StabilityPull.id, StabilityPull.program_id, StabilityStudy.code, StabilityPull.condition,
                     StabilityPull.months, StabilityPull.due_on, StabilityPull.opens_on, StabilityPull.closes_on,
                     StabilityPull.pulled_on)
             .join(StabilityStudy, col(StabilityStudy.id) == StabilityPull.study_id)
             .where(col(StabilityPull.program_id).in_(visible.internal),
                    StabilityPull.closes_on >= span.since, StabilityPull.opens_on <= span.until))
    return [_pull(visible.programs[row[1]], tuple(row), span.today[row[1]]) for row in session.exec(query)]


def _pull(where: Where, row: tuple, today: date) -> FeedEvent:
    """A pull as its program sees it on `today`: planned until its window closed, then missed (unless pulled)."""
    pull_id, _, study, condition, months, due_on, opens_on, closes_on, pulled_on = row
    state = "pulled" if pulled_on else "missed" if closes_on < today else "planned"
    pulled = f" (pulled {pulled_on})" if pulled_on else ""
    return FeedEvent(
        f"pull-{pull_id}@cmo-bot", where, f"{where.code} · {study} {condition} {months}M pull ({state})",
        _described(where, f"Stability pull of study {study}, condition {condition}, time point {months} months.",
                   f"Pull date: {due_on}; window {opens_on} to {closes_on}.", f"State: {state}{pulled}."),
        opens_on, closes_on + timedelta(days=1),
        closes_on + timedelta(days=1) if state == "planned" else None, partial(_pull, where, row))


def _agreements(session: Session, visible: Scope) -> list[FeedEvent]:
    if not visible.internal:
        return []
    query = (columns(Agreement.id, Agreement.program_id, Agreement.kind, Agreement.ref, Agreement.version,
                     Agreement.counterparty, Agreement.expires_on, Agreement.notice_days)
             .where(col(Agreement.program_id).in_(visible.internal), Agreement.status == Status.executed,
                    Agreement.expires_on != None))  # noqa: E711
    found = []
    for agreement_id, pid, kind, ref, version, counterparty, expires_on, notice_days in session.exec(query):
        where = visible.programs[pid]
        title = f"{Kind(kind).label} {ref}" + (f" {version}" if version else "")  # as `Agreement.title`
        found.append(FeedEvent(f"agreement-expiry-{agreement_id}@cmo-bot", where,
                               f"{where.code} · {title} expires",
                               _described(where, f"{title} with {counterparty} expires on {expires_on:%Y-%m-%d}."),
                               expires_on, expires_on + timedelta(days=1)))
        if notice_days:
            deadline = expires_on - timedelta(days=notice_days)
            found.append(FeedEvent(
                f"agreement-notice-{agreement_id}@cmo-bot", where, f"{where.code} · {title} notice deadline",
                _described(where, f"Notice of non-renewal of {title} with {counterparty} is due by "
                                  f"{deadline:%Y-%m-%d} ({notice_days}-day notice before the expiry on "
                                  f"{expires_on:%Y-%m-%d})."),
                deadline, deadline + timedelta(days=1)))
    return found


def _batches(session: Session, visible: Scope, span: Span) -> list[FeedEvent]:
    if not visible.approving:
        return []
    query = (columns(Batch.id, Batch.program_id, Batch.batch_no, Batch.product, Batch.release_by, Batch.status)
             .where(col(Batch.program_id).in_(visible.approving), col(Batch.status).in_(OPEN_BATCHES),
                    col(Batch.release_by) >= span.since, col(Batch.release_by) <= span.until))
    found = []
    for batch_id, pid, batch_no, product, release_by, status in session.exec(query):
        where = visible.programs[pid]
        what = f"batch {batch_no}" + (f" ({product})" if product else "")
        found.append(FeedEvent(f"batch-release-{batch_id}@cmo-bot", where, f"{where.code} · release {what} by",
                               _described(where, f"The batch record of {what} must be decided for release by "
                                                 f"{release_by:%Y-%m-%d}; it is {str(status).replace('_', ' ')}."),
                               release_by, release_by + timedelta(days=1)))
    return found


def _calls(session: Session, visible: Scope, span: Span) -> list[FeedEvent]:
    if not visible.approving:
        return []
    query = (columns(ReviewCall.id, Batch.program_id, Batch.batch_no, ReviewCall.starts_at, ReviewCall.minutes)
             .join(Batch, col(Batch.id) == ReviewCall.batch_id)
             .where(col(Batch.program_id).in_(visible.approving), col(Batch.status).in_(OPEN_BATCHES),
                    ReviewCall.starts_at >= datetime.combine(span.since, time(), UTC)))
    found = []
    for call_id, pid, batch_no, starts_at, minutes in session.exec(query):
        where = visible.programs[pid]
        starts = starts_at.astimezone(where.tz)
        found.append(FeedEvent(f"review-call-{call_id}@cmo-bot", where, f"{where.code} · review call, batch {batch_no}",
                               _described(where, f"Review call on the batch record of {batch_no} ({minutes} minutes)."),
                               starts, starts + timedelta(minutes=minutes)))
    return found


def _submissions(session: Session, visible: Scope, span: Span) -> list[FeedEvent]:
    if not visible.internal:
        return []
    query = (columns(Submission.id, Submission.program_id, Submission.number, Submission.title,
                     Submission.filing_date)
             .where(col(Submission.program_id).in_(visible.internal),
                    Submission.filing_date >= span.since))
    found = []
    for submission_id, pid, number, title, filing_date in session.exec(query):
        where = visible.programs[pid]
        ref = f"SUB-{number:03d}"
        found.append(FeedEvent(f"submission-filing-{submission_id}@cmo-bot", where,
                               f"{where.code} · {ref} filing: {title}",
                               _described(where, f"Submission {ref} ({title}) is to be filed on "
                                                 f"{filing_date:%Y-%m-%d}."),
                               filing_date, filing_date + timedelta(days=1)))
    return found


def _documents(session: Session, user_id: str, visible: Scope, span: Span) -> list[FeedEvent]:
    if not visible.programs:
        return []
    query = (columns(SubmissionItem.id, Submission.program_id, Submission.number, SubmissionItem.number,
                     SubmissionItem.document, SubmissionItem.due_on)
             .join(Submission, col(Submission.id) == SubmissionItem.submission_id)
             .where(col(Submission.program_id).in_(visible.programs), col(SubmissionItem.status).in_(OPEN_ITEMS),
                    SubmissionItem.due_on >= span.since, SubmissionItem.due_on <= span.until,
                    (col(SubmissionItem.owner) == user_id) | col(Submission.program_id).in_(visible.all_documents)))
    found = []
    for item_id, pid, submission_no, number, document, due_on in session.exec(query):
        where = visible.programs[pid]
        ref = f"SUB-{submission_no:03d} item {number}"
        found.append(FeedEvent(f"submission-item-{item_id}@cmo-bot", where, f"{where.code} · {ref} due: {document}",
                               _described(where, f"{document} ({ref}) is due on {due_on:%Y-%m-%d}."),
                               due_on, due_on + timedelta(days=1)))
    return found
