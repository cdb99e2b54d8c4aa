"""Driving batch record reviews: the due rule (reminders, escalations, review-call mornings), the digest
section, and the order-to-cash figures. Pure functions of the database and an instant; a fixed number of
queries however many batches there are.

Per open batch and review round, each said once (deterministic keys):
- `batch:<id>:r<round>:reminder` to the approvers who have not signed, N business days after the round began;
- `batch:<id>:r<round>:sla` to the program managers when the round passes its SLA (business days);
- `batch:<id>:release-by` to the program managers 2 business days before the release-by date, unless approved;
- `batch:<id>:call:<call>` to the call's participants on the morning of a review call (until it starts).
A decision cancels what is pending (subject `batch:<id>`); the sweep cancels what a rule stops yielding.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from statistics import median
from typing import NamedTuple

from sqlalchemy import func
from sqlmodel import Session, col, select

from store import outbox
from store.batches.models import UNDECIDED
from store.batches.release import button as release_button
from store.batches.service import (
    OPEN,
    Batch,
    BatchSignature,
    BatchStatus,
    ReviewCall,
    describe,
    review_days,
    settings_of,
    waiting_for,
)
from store.batches.settings import ReviewSettings
from store.calendar import add_business_days, business_days_between
from store.db import columns, pk
from store.health import Health, Owed
from store.horizons import note
from store.markup import day, escape, local_time, plural
from store.outbox import WORKDAY_START, Button, Due
from store.programs import Program, Role, active_by_id, holders, within

# Buttons the reminder DMs carry; commands/batches/decisions.py and batch_calls.py register a handler for each.
ACTIONS = {"approve": "batch_approve", "hold": "batch_hold", "reject": "batch_reject", "call": "batch_call"}


def decision_buttons(batch_id: int) -> tuple[Button, ...]:
    value = f'{{"batch_id": {batch_id}}}'
    return (
        Button("Approve", ACTIONS["approve"], value, "primary"),
        Button("Put on hold", ACTIONS["hold"], value),
        Button("Reject", ACTIONS["reject"], value, "danger"),
        Button("Request review call", ACTIONS["call"], value),
    )


def request_review(session: Session, program: Program, batch: Batch, readers: Sequence[str], *, now: datetime,
                   to_channel: bool) -> list[int]:
    """Who is asked to act on the batch now — CMO quality while it awaits the CMO's QA release, else the
    customer's approvers for this round — and the channel's notice, queued through the outbox in the caller's
    transaction: they go out at once and are never lost to a crash or a Slack outage."""
    targets: list[tuple[str, tuple[Button, ...]]] = []
    if to_channel and program.channel_id:
        targets.append((program.channel_id, ()))
    if batch.state == BatchStatus.qa_release:
        targets += [(user, (release_button(pk(batch)),)) for user in readers]
        return outbox.announce(
            session, key=f"batch:{pk(batch)}:qa-release", program_id=pk(program), subject=f"batch:{pk(batch)}",
            today=now.astimezone(program.tz).date(), now=now, targets=targets,
            text=f":clipboard: Batch record {describe(batch)} of {escape(program.code)} awaits the CMO's QA "
                 "release before it goes to the customer. CMO quality: review and release it.")
    targets += [(user, decision_buttons(pk(batch))) for user in readers]
    again = f" (review round {batch.review_round})" if batch.review_round > 1 else ""
    return outbox.announce(
        session, key=f"batch:{pk(batch)}:r{batch.review_round}:ready", program_id=pk(program),
        subject=f"batch:{batch.id}", today=now.astimezone(program.tz).date(), now=now, targets=targets,
        text=f":clipboard: Batch record {describe(batch)} of {escape(program.code)} is ready for the customer's "
             f"review{again}. Approvers: approve, put it on hold or reject it.")


class _Open(NamedTuple):
    """The columns of an undecided batch that the due rule reads (a full pass reads every one in the portfolio,
    thousands: ORM objects for them cost more than the rule); `describe` reads it like a batch."""

    id: int
    program_id: int
    status: str
    batch_no: str
    product: str
    release_by: date | None
    ready_at: datetime
    review_round: int
    round_started_on: date


def due(session: Session, now: datetime, programs: Collection[int] | None = None) -> Iterable[Due]:
    """Each undecided batch's reminder, escalation and release-by warning, then the review calls' mornings (of
    `programs`, when given). Four queries whatever the number of batches; what depends on the program alone is
    worked out once each."""
    undecided = (columns(Batch.id, Batch.program_id, Batch.status, Batch.batch_no, Batch.product, Batch.release_by,
                         Batch.ready_at, Batch.review_round, Batch.round_started_on)
                 .join(Program, col(Program.id) == Batch.program_id)
                 .where(Program.active == True, col(Batch.status).in_(UNDECIDED)))  # noqa: E712
    rows = [_Open(*row) for row in session.exec(within(undecided, Batch.program_id, programs))]
    calls = session.exec(within(
        select(ReviewCall, Batch, Program).join(Batch, col(Batch.id) == ReviewCall.batch_id)
        .join(Program, col(Program.id) == Batch.program_id)
        .where(Program.active == True, ReviewCall.starts_at > now, col(Batch.status).in_(OPEN)),  # noqa: E712
        Batch.program_id, programs)).all()
    program_ids = {row.program_id for row in rows} | {pk(p) for _, _, p in calls}
    if not program_ids:
        return
    people = holders(session, program_ids)
    signed: dict[tuple[int, int], set[str]] = defaultdict(set)
    signatures = (select(BatchSignature.batch_id, BatchSignature.review_round, BatchSignature.user_id)
                  .join(Batch, col(Batch.id) == BatchSignature.batch_id)
                  .join(Program, col(Program.id) == Batch.program_id)
                  .where(Program.active == True, col(Batch.status).in_(UNDECIDED)))  # noqa: E712
    for batch_id, review_round, user_id in session.exec(within(signatures, Batch.program_id, programs)):
        signed[(batch_id, review_round)].add(user_id)
    of = {program_id: _Program(program, settings_of(program), now.astimezone(program.tz).date())
          for program_id, program in active_by_id(session, programs).items() if program_id in program_ids}
    for row in rows:
        yield from _batch_dues(row, of[row.program_id], people, signed[(row.id, row.review_round)])
    for call, batch, program in calls:
        yield from _call_due(call, batch, program, now, people)


def horizons(session: Session, now: datetime, programs: Collection[int] | None, active: Mapping[int, Program]
             ) -> dict[int, date]:
    """The due rule's horizon (store/horizons.py): the next day an undecided batch's reminder, escalation or
    release-by warning falls due (in business days of the program's calendar, as the rule counts them), and
    the next morning a review call is announced (its start, which ends the announcement, is an instant the
    sweep watches itself)."""
    undecided = (columns(Batch.program_id, Batch.status, Batch.release_by, Batch.round_started_on)
                 .join(Program, col(Program.id) == Batch.program_id)
                 .where(Program.active == True, col(Batch.status).in_(UNDECIDED)))  # noqa: E712
    rows = list(session.exec(within(undecided, Batch.program_id, programs)))
    calls = list(session.exec(within(
        select(Batch.program_id, ReviewCall.starts_at).join(Batch, col(Batch.id) == ReviewCall.batch_id)
        .join(Program, col(Program.id) == Batch.program_id)
        .where(Program.active == True, ReviewCall.starts_at > now, col(Batch.status).in_(OPEN)),  # noqa: E712
        Batch.program_id, programs)))
    found: dict[int, date] = {}
    if not rows and not calls:
        return found
    of = {program_id: (settings_of(program), program.holiday_calendar, program.tz, now.astimezone(program.tz).date())
          for program_id, program in active.items()}
    for program_id, status, release_by, started in rows:
        settings, calendar, _, today = of[program_id]
        days = []
        if status == BatchStatus.awaiting:
            days += [add_business_days(started, settings.reminder_business_days, calendar),
                     sla_breached_on(started, settings.sla_business_days, calendar)]
        if release_by is not None:
            days.append(add_business_days(release_by, -settings.release_warning_business_days, calendar))
        note(found, program_id, today, *days)
    for program_id, starts_at in calls:
        _, _, tz, today = of[program_id]
        starts = starts_at.astimezone(tz)
        note(found, program_id, today, starts.date() - timedelta(days=1) if starts.time() < WORKDAY_START
             else starts.date())
    return found


class _Program(NamedTuple):
    """What the batch rule reads of a program, worked out once per pass rather than once per batch."""

    program: Program
    settings: ReviewSettings
    today: date


def _batch_dues(batch: _Open, of: _Program, people: Mapping[tuple[int, Role], list[str]],
                signed: set[str]) -> Iterable[Due]:
    program, settings, today = of.program, of.settings, of.today
    calendar = program.holiday_calendar
    managers = tuple(people[(batch.program_id, Role.program_manager)])
    subject = f"batch:{batch.id}"
    if batch.status == BatchStatus.awaiting:
        started = batch.round_started_on
        remind_on = add_business_days(started, settings.reminder_business_days, calendar)
        waiting = tuple(u for u in people[(batch.program_id, Role.customer_approver)] if u not in signed)
        if remind_on <= today and waiting:
            in_review = business_days_between(started, today, calendar)
            yield Due(key=f"{subject}:r{batch.review_round}:reminder", program_id=batch.program_id, subject=subject,
                      due_on=remind_on, existed_on=_entered(batch, program), to_channel=False, to_users=waiting,
                      buttons=decision_buttons(batch.id),
                      text=f":hourglass_flowing_sand: Reminder: batch record {describe(batch)} of {program.code} "
                           f"has been awaiting your review since {day(started)} "
                           f"({plural(in_review, 'business day')}). Please approve, put it on "
                           "hold or reject it, or request a review call.")
        breached_on = sla_breached_on(started, settings.sla_business_days, calendar)
        if breached_on <= today and managers:
            yield Due(key=f"{subject}:r{batch.review_round}:sla", program_id=batch.program_id, subject=subject,
                      due_on=breached_on, existed_on=_entered(batch, program), to_channel=False, to_users=managers,
                      text=f":rotating_light: Escalation: the review of batch record {describe(batch)} of "
                           f"{program.code} has passed its SLA of "
                           f"{plural(settings.sla_business_days, 'business day')} (in review since {day(started)}, "
                           f"{plural(business_days_between(started, today, calendar), 'business day')}). "
                           "The customer's approvers have not decided yet.")
    if batch.release_by is not None and managers:
        warn_on = add_business_days(batch.release_by, -settings.release_warning_business_days, calendar)
        if warn_on <= today:
            state = "is on hold" if batch.status == BatchStatus.on_hold else "is not approved yet"
            yield Due(key=f"{subject}:release-by", program_id=batch.program_id, subject=subject, due_on=warn_on,
                      existed_on=_entered(batch, program), to_channel=False, to_users=managers,
                      text=f":warning: Batch {describe(batch)} of {program.code} must be released by "
                           f"{day(batch.release_by)} and {state} "
                           f"({plural(business_days_between(today, batch.release_by, calendar), 'business day')} "
                           "left).")


def _entered(batch: _Open, program: Program) -> date:
    """The program-local day the batch record became available."""
    return batch.ready_at.astimezone(program.tz).date()


def _call_due(call: ReviewCall, batch: Batch, program: Program, now: datetime, people) -> Iterable[Due]:
    """The reminder goes out at 09:00 on the day of the call; a call before 09:00 is announced at 09:00 the
    day before (never at night)."""
    starts = call.starts_at.astimezone(program.tz)
    early = starts.time() < WORKDAY_START
    remind_on = starts.date() - timedelta(days=1) if early else starts.date()
    if remind_on > now.astimezone(program.tz).date():
        return
    roles = (Role.customer_approver, Role.program_manager, Role.cmo_quality)
    participants = sorted({u for r in roles for u in people[(program.id, r)]} | {call.requested_by})
    yield Due(key=f"batch:{pk(batch)}:call:{pk(call)}", program_id=pk(program), subject=f"batch:{pk(batch)}:call",
              due_on=remind_on, to_channel=False, to_users=tuple(participants), urgent=early,
              text=f":telephone_receiver: {'Tomorrow' if early else 'Today'}: review call on batch record "
                   f"{describe(batch)} of {program.code} at {local_time(starts)} ({call.minutes} min).")


def sla_breached_on(started: date, sla_business_days: int, calendar: str) -> date:
    """The one definition of an SLA breach: a review of N business days is on time through the Nth business
    day after it began and past its SLA from the next one (N+1). The escalation, the digest, App Home,
    `batch stats` and the order-to-cash figures all count by it."""
    return add_business_days(started, sla_business_days + 1, calendar)


def past_sla(days_in_review: int, sla_business_days: int) -> bool:
    """`days_in_review` business days after the start: past the SLA from day N+1 (see `sla_breached_on`)."""
    return days_in_review > sla_business_days


def digest_section(session: Session, program: Program, today: date) -> list[str]:
    return digest_sections(session, [(program, today)])[pk(program)]


def digest_sections(session: Session, days: Sequence[tuple[Program, date]]) -> dict[int, list[str]]:
    """The section of each (program, its local today), by program id: one query for all of them."""
    open_by_program: dict[int, list[Batch]] = {pk(program): [] for program, _ in days}
    query = select(Batch).where(col(Batch.program_id).in_(list(open_by_program)),
                                col(Batch.status).in_(UNDECIDED))
    for batch in session.exec(query.order_by(col(Batch.ready_on), col(Batch.id))):
        open_by_program[batch.program_id].append(batch)
    return {pk(program): _digest_lines(open_by_program[pk(program)], program, today) for program, today in days}


def _digest_lines(open_batches: list[Batch], program: Program, today: date) -> list[str]:
    if not open_batches:
        return []
    sla = settings_of(program).sla_business_days
    lines = [f"*Batch record reviews*: {plural(len(open_batches), 'batch')} open"]
    for batch in open_batches[:10]:
        days = review_days(batch, program, today)
        late = " — *past SLA*" if batch.status == BatchStatus.awaiting and past_sla(days, sla) else ""
        lines.append(f"• {describe(batch)}: {batch.state.label}, {plural(days, 'business day')} in review{late}")
    if len(open_batches) > 10:
        lines.append(f"• …and {len(open_batches) - 10} more (`/cmo batch log`)")
    return lines


# ---------------------------------------------------------------------------------------------- App Home


def owed(session: Session, user_id: str, programs: list[Program], now: datetime) -> list[Owed]:
    """Batch records awaiting this person's signature, most urgent (closest to or past the SLA) first."""
    by_id = {pk(p): p for p in programs}
    waiting = waiting_for(session, user_id, programs, Role.customer_approver, BatchStatus.awaiting)
    signed = set(session.exec(select(BatchSignature.batch_id, BatchSignature.review_round).where(
        BatchSignature.user_id == user_id,
        col(BatchSignature.batch_id).in_([b.id for b in waiting]))).all())
    items = []
    for batch in waiting:
        if (batch.id, batch.review_round) in signed:
            continue
        program = by_id[batch.program_id]
        today = now.astimezone(program.tz).date()
        sla_on = add_business_days(batch.round_started_on, settings_of(program).sla_business_days,
                                   program.holiday_calendar)
        left = business_days_between(today, sla_on, program.holiday_calendar)
        when = f"review due {day(sla_on)}" if left >= 0 else f"*{plural(-left, 'business day')} past the SLA*"
        items.append(Owed(program.code, left, f"Batch record {describe(batch)} awaits your review ({when})",
                          decision_buttons(pk(batch))))
    return items


def health(session: Session, programs: list[Program], now: datetime, result: Health) -> None:
    """Per program: batch records in review (past the SLA, on hold, awaiting the CMO's QA release among them);
    the earliest release-by date is a deadline. Counted in SQL per (program, status, day the review started):
    a portfolio of 500 programs has thousands of open batches, read as groups of a few columns."""
    started = func.coalesce(col(Batch.released_on), col(Batch.ready_on))  # where `review_days` counts from
    query = (columns(Batch.program_id, Batch.status, started, func.count(), func.min(col(Batch.release_by)))
             .where(col(Batch.program_id).in_([pk(p) for p in programs]), col(Batch.status).in_(UNDECIDED))
             .group_by(col(Batch.program_id), col(Batch.status), started))
    tallies: dict[int, Counter[str]] = defaultdict(Counter)
    release: dict[int, date] = {}
    terms = {pk(p): (now.astimezone(p.tz).date(), p.holiday_calendar, settings_of(p).sla_business_days)
             for p in programs}  # today, calendar and SLA of each program, worked out once
    in_review: dict[tuple[date, date, str], int] = {}  # business days, kept per (start, today, calendar)
    for program_id, status, start, count, release_by in session.exec(query):
        tally = tallies[program_id]
        tally["open"] += count
        tally[status] += count
        if status == BatchStatus.awaiting:
            today, calendar, sla = terms[program_id]
            days = (start, today, calendar)
            if days not in in_review:
                in_review[days] = max(0, business_days_between(*days))
            tally["late"] += count * past_sla(in_review[days], sla)
        if release_by and (program_id not in release or release_by < release[program_id]):
            release[program_id] = release_by
    for program_id, tally in tallies.items():
        notes = [f"{tally['late']} past SLA"] * bool(tally["late"]) + \
            [f"{tally[BatchStatus.on_hold]} on hold"] * bool(tally[BatchStatus.on_hold]) + \
            [f"{tally[BatchStatus.qa_release]} awaiting CMO QA release"] * bool(tally[BatchStatus.qa_release])
        result.add(program_id, f"{plural(tally['open'], 'batch record')} in review"
                               + (f" ({', '.join(notes)})" if notes else ""), release.get(program_id))


# ---------------------------------------------------------------------------------------------- figures


@dataclass(frozen=True)
class Figures:
    label: str
    reviewed: int
    median_days: float | None
    p90_days: float | None
    breaches: int
    days_lost: int
    internal_median_days: float | None = None  # ready → the CMO's QA release (batches that had one)


def percentile(values: Sequence[int], share: float) -> float | None:
    """Nearest-rank percentile (the smallest value with at least `share` of the values at or below it)."""
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[max(0, math.ceil(share * len(ordered)) - 1)])


def _figures(label: str, reviews: list[tuple[int, int, int | None]]) -> Figures:
    """`reviews`: (customer review days, SLA, internal days from ready to QA release or None) per batch."""
    days = [d for d, _, _ in reviews]
    internal = [i for _, _, i in reviews if i is not None]
    return Figures(label, len(days), float(median(days)) if days else None, percentile(days, 0.9),
                   sum(1 for d, sla, _ in reviews if past_sla(d, sla)),
                   sum(max(0, d - sla) for d, sla, _ in reviews),
                   float(median(internal)) if internal else None)


def figures(session: Session, program_ids: Sequence[int], *, now: datetime, days: int = 90,
            total: bool = False) -> list[Figures]:
    """Per program (and with `total`, all of them first): batches decided in the last `days` days, one query.
    Internal time (ready → the CMO's QA release) and the customer's (release → decision) are apart."""
    since = now - timedelta(days=days)
    rows = session.exec(
        select(Batch, Program).join(Program, col(Program.id) == Batch.program_id)
        .where(col(Batch.program_id).in_(program_ids),
               col(Batch.status).in_((BatchStatus.approved, BatchStatus.rejected)),
               col(Batch.decided_at) >= since)
        .order_by(Program.code)
    ).all()
    per_program: dict[str, list[tuple[int, int, int | None]]] = defaultdict(list)
    for batch, program in rows:
        internal = None if batch.released_on is None else \
            business_days_between(batch.ready_on, batch.released_on, program.holiday_calendar)
        per_program[program.code].append((review_days(batch, program, batch.decided_on or now.date()),
                                          settings_of(program).sla_business_days, internal))
    result = [_figures(code, values) for code, values in per_program.items()]
    if total:
        result.insert(0, _figures("All programs", [v for values in per_program.values() for v in values]))
    return result
