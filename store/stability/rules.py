"""Stability reminders (due rules) and the stability lines of a program's status digest.

Per open pull, in program-local days: a notice 7 days before the pull date, a message the morning the
window opens (when that is the same day as the notice, only this one), and an urgent missed-pull alert
the day after the window closes with no pull recorded. Only the latest stage reached is yielded, so a
bot back from an outage sends the one that still matters. Recording the pull cancels the rest.
Lab results not in by their expected date get one reminder the day after.

A missed alert or late-results reminder becomes history `SETTLED_AFTER` (92 days) after the window closed or the
results were expected: the rules stop naming it, so one still unsent (a bot back from a long outage) is cancelled,
not sent. That window counts in program-local days, like the stages and the digest's missed lines: the alert,
the digest and App Home agree on the day, the same in every zone, and the day it ends is a horizon (`horizons`),
so no UTC midnight has to bring every program round (it counted from the UTC day until Dec 2026: an unsent alert
became history at UTC midnight, hours before or after the program's own, and App Home's count with it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple, Protocol

from sqlalchemy import and_, case, func, or_
from sqlmodel import Session, col, select

from store.db import columns, pk
from store.health import Health, Owed
from store.horizons import note
from store.markup import day, escape
from store.outbox import Button, Due
from store.programs import Program, ProgramMember, Role, active_by_id, holders, within
from store.stability.service import StabilityPull, StabilityStudy, pull_subject

NOTICE_DAYS = 7
SETTLED_AFTER = timedelta(days=92)  # a missed alert or late-results reminder older than this is history
LOCAL = timedelta(days=1)  # how far a program's local day is from the UTC day, at most: the reading bounds' margin
MARK_PULLED = "stability_mark_pulled"  # the action id of the reminder's button (handled in commands/)


def _people(session: Session, program_ids: set[int]) -> dict[tuple[int, Role], list[str]]:
    """The roles the stability messages address, user ids sorted by Python (not by the database's collation),
    as these messages always listed them."""
    people = holders(session, program_ids, Role.stability, Role.program_manager, Role.cmo_quality)
    return {key: sorted(ids) for key, ids in people.items()}


class Window(Protocol):
    """What `describe` and `stages` read of a pull: a `StabilityPull`, or the due rule's row of its columns."""

    @property
    def condition(self) -> str: ...
    @property
    def months(self) -> int: ...
    @property
    def due_on(self) -> date: ...
    @property
    def opens_on(self) -> date: ...
    @property
    def closes_on(self) -> date: ...


def describe(study: StabilityStudy, pull: Window) -> str:
    condition = study.condition(pull.condition)
    label = f"{pull.condition} ({escape(condition.label)})" if condition else pull.condition
    return (f"{escape(study.code)} · {escape(study.product)} · {label} · {pull.months} months · "
            f"due {day(pull.due_on)} · window {day(pull.opens_on)} – {day(pull.closes_on)}")


def stages(pull: Window) -> list[tuple[str, date]]:
    """The reminders of a pull in order: (stage, program-local day it falls due)."""
    notice = pull.due_on - timedelta(days=NOTICE_DAYS)
    found = [("window-open", pull.opens_on), ("missed", pull.closes_on + timedelta(days=1))]
    if notice != pull.opens_on:
        found.append(("notice-7d", notice))
    return sorted(found, key=lambda s: s[1])


def entered(study: StabilityStudy, pull: StabilityPull, program: Program) -> date:
    """The program-local day the bot came to know of the pull: the study's entry, or the day an intermediate
    pull on standby was started (a window closed before then is no missed pull)."""
    return entered_on(study.created_at, pull.activated_on, program)


def entered_on(study_created_at: datetime, activated_on: date | None, program: Program) -> date:
    """`entered` from the two columns it reads (views read pulls as rows, not objects)."""
    day_entered = study_created_at.astimezone(program.tz).date()
    return max(day_entered, activated_on) if activated_on else day_entered


def _of_active(query: Any, *conditions: Any) -> Any:
    """`query` over the pulls of active programs (not on standby), joined to their study and program."""
    return (query.select_from(StabilityPull)
            .join(StabilityStudy, col(StabilityStudy.id) == StabilityPull.study_id)
            .join(Program, col(Program.id) == StabilityPull.program_id)
            .where(Program.active == True, StabilityPull.standby == False, *conditions))  # noqa: E712


def _joined(session: Session, programs: Collection[int] | None, *conditions
            ) -> list[tuple[StabilityPull, StabilityStudy, Program]]:
    """Pulls of active programs (of `programs`, when given; not on standby) with their study and program, in one
    statement."""
    query = _of_active(select(StabilityPull, StabilityStudy, Program), *conditions)
    return list(session.exec(within(query, StabilityPull.program_id, programs)))


class _OpenPull(NamedTuple):
    """The columns of an open pull that the due rule reads (a `Window`, and when it was started): a full pass
    reads every open pull of the portfolio, and ORM objects for them cost more than the rule itself."""

    id: int
    program_id: int
    condition: str
    months: int
    due_on: date
    opens_on: date
    closes_on: date
    activated_on: date | None


def _open_pulls(session: Session, now: datetime, programs: Collection[int] | None
                ) -> list[tuple[StabilityStudy, _OpenPull]]:
    """Pulls not made whose reminders may be due by `now` (in any zone: the bounds are a day wider than the UTC
    day's), each with its study (an object: a study's conditions are read through its methods, and a study has
    several pulls)."""
    today = now.date()
    query = _of_active(
        columns(StabilityStudy, StabilityPull.id, StabilityPull.program_id, StabilityPull.condition,
                StabilityPull.months, StabilityPull.due_on, StabilityPull.opens_on, StabilityPull.closes_on,
                StabilityPull.activated_on),
        col(StabilityPull.pulled_on).is_(None),
        or_(col(StabilityPull.due_on) <= today + timedelta(days=NOTICE_DAYS + 1),
            col(StabilityPull.opens_on) <= today + timedelta(days=1)),
        StabilityPull.closes_on >= today - LOCAL - SETTLED_AFTER)
    return [(study, _OpenPull(*pull)) for study, *pull in session.exec(within(query, StabilityPull.program_id,
                                                                              programs))]


def due(session: Session, now: datetime, programs: Collection[int] | None = None) -> Iterable[Due]:
    """Each open pull's latest reminder stage reached, then the late lab results (of `programs`, when given);
    the pulls, their programs
    and their people are a statement each, whatever their number, and each program's local day is worked out
    once."""
    rows = _open_pulls(session, now, programs)
    active = active_by_id(session, programs)
    people = _people(session, {pull.program_id for _, pull in rows})
    today = {program_id: now.astimezone(program.tz).date() for program_id, program in active.items()}
    for study, pull in rows:
        program = active[pull.program_id]
        known = entered_on(study.created_at, pull.activated_on, program)
        if pull.closes_on < known or pull.closes_on < today[pull.program_id] - SETTLED_AFTER:
            continue  # its window had closed before the study was entered (or the pull started), or is history
        reached = [(stage, when) for stage, when in stages(pull) if when <= today[pull.program_id]]
        if not reached:
            continue
        stage, when = reached[-1]
        subject = pull_subject(pull.id)
        team = tuple(people.get((pull.program_id, Role.stability), ()))
        button = Button("Mark pulled", MARK_PULLED, str(pull.id), "primary")
        text = describe(study, pull)
        if stage == "missed":
            managers = people.get((pull.program_id, Role.program_manager), [])
            quality = people.get((pull.program_id, Role.cmo_quality), [])
            yield Due(key=f"{subject}:missed", program_id=pull.program_id, subject=subject,
                      due_on=when, existed_on=known, urgent=True, buttons=(button,),
                      to_users=tuple(dict.fromkeys([*team, *managers, *quality])),
                      text=f":rotating_light: *Missed stability pull* in {escape(program.code)} — the window closed "
                           f"on {day(pull.closes_on)} with no pull recorded. This is a deviation to investigate.\n"
                           f"{text}")
        else:
            head = (":test_tube: *Stability pull window opens today*" if stage == "window-open"
                    else f":alarm_clock: *Stability pull in {NOTICE_DAYS} days*") + f" — {escape(program.code)}"
            yield Due(key=f"{subject}:{stage}", program_id=pull.program_id, subject=subject,
                      due_on=when, existed_on=known, to_users=team, buttons=(button,), text=f"{head}\n{text}")
    yield from results_late(session, now, programs)


def results_late(session: Session, now: datetime, programs: Collection[int] | None = None) -> Iterable[Due]:
    """One reminder the day after the expected result date when a submitted pull has no results yet (until it is
    history, `SETTLED_AFTER` later in the program's days)."""
    today = now.date()
    rows = _joined(session, programs, col(StabilityPull.results_on).is_(None),
                   col(StabilityPull.results_due_on).is_not(None),
                   col(StabilityPull.results_due_on) < today + LOCAL,
                   col(StabilityPull.results_due_on) >= today - LOCAL - SETTLED_AFTER)
    people = _people(session, {pk(program) for _, _, program in rows})
    for pull, study, program in rows:
        if pull.results_due_on is None:  # not among the rows: the query wants a date
            continue
        when, local = pull.results_due_on + timedelta(days=1), now.astimezone(program.tz).date()
        if when > local or pull.results_due_on < local - SETTLED_AFTER:
            continue
        yield Due(key=f"{pull.lab_subject}:results-late", program_id=pk(program), subject=pull.lab_subject,
                  due_on=when, to_users=tuple(people.get((pk(program), Role.stability), ())),
                  text=f":hourglass: *Stability results are late* in {escape(program.code)} — "
                       f"{escape(pull.lab or 'the lab')} was expected to "
                       f"report by {day(pull.results_due_on)} (samples {escape(pull.sample_ids or '—')}).\n"
                       f"{describe(study, pull)}")


def horizons(session: Session, now: datetime, programs: Collection[int] | None, active: Mapping[int, Program]
             ) -> dict[int, date]:
    """The due rule's horizon (store/horizons.py): the next stage of an open pull (its notice, its window's
    opening, the day after it closes), the day after late results' expected date, and the day a missed alert or
    a late-results reminder becomes history (`SETTLED_AFTER` later, in the program's days, as the rule counts
    it), each program's earliest worked out by the database (a portfolio has a hundred thousand pulls), once per
    local day its programs' zones are in (three at most). The rule's reading bounds count from the UTC day,
    widened by a day (`LOCAL`) to hold every zone's, so they change no answer."""
    by_today: dict[date, set[str]] = defaultdict(set)
    for program in active.values():
        by_today[now.astimezone(program.tz).date()].add(program.timezone)
    found: dict[int, date] = {}
    pull = StabilityPull
    for today, names in by_today.items():
        open_, unsettled = col(pull.pulled_on).is_(None), today - SETTLED_AFTER

        def first(column: Any, *conditions: Any) -> Any:
            return func.min(case((and_(*conditions), column)))

        query = _of_active(
            columns(pull.program_id,
                    first(pull.due_on, open_, col(pull.due_on) > today + timedelta(days=NOTICE_DAYS)),
                    first(pull.opens_on, open_, col(pull.opens_on) > today),
                    first(pull.closes_on, open_, col(pull.closes_on) >= today),
                    first(pull.results_due_on, col(pull.results_on).is_(None), col(pull.results_due_on) >= today),
                    first(pull.closes_on, open_, col(pull.closes_on) >= unsettled),
                    first(pull.results_due_on, col(pull.results_on).is_(None), col(pull.results_due_on) >= unsettled)),
            col(Program.timezone).in_(sorted(names)), or_(open_, col(pull.results_on).is_(None)),
            or_(col(pull.closes_on) >= unsettled, col(pull.results_due_on) >= unsettled)).group_by(col(pull.program_id))
        for program_id, due_on, opens_on, closes_on, results_due_on, settles, results_settle in session.exec(
                within(query, pull.program_id, programs)):
            days = [opens_on] if opens_on else []  # `stages`' days, the late results' one, and the settled ones
            days += [due_on - timedelta(days=NOTICE_DAYS)] if due_on else []
            days += [closes_on + timedelta(days=1)] if closes_on else []
            days += [results_due_on + timedelta(days=1)] if results_due_on else []
            days += [d + SETTLED_AFTER + timedelta(days=1) for d in (settles, results_settle) if d]
            note(found, program_id, today, *days)
    return found


def digest_section(session: Session, program: Program, today: date) -> list[str]:
    return digest_sections(session, [(program, today)])[pk(program)]


def digest_sections(session: Session, days: Sequence[tuple[Program, date]]) -> dict[int, list[str]]:
    """Per (program, its local today), by program id: pulls due in the next 14 days, windows closed with no
    pull, results overdue. Two queries for all of them, bounded by the earliest and latest of their days (the
    programs' zones differ by a day at most) and each row then judged by its own program's day."""
    today_of = {pk(program): today for program, today in days}
    programs = {pk(program): program for program, _ in days}
    first, last = min(today_of.values(), default=date.min), max(today_of.values(), default=date.min)
    query = (
        select(StabilityPull, StabilityStudy)
        .join(StabilityStudy, col(StabilityStudy.id) == StabilityPull.study_id)
        .where(col(StabilityPull.program_id).in_(list(today_of)), col(StabilityPull.pulled_on).is_(None),
               StabilityPull.standby == False, StabilityPull.due_on <= last + timedelta(days=14),  # noqa: E712
               StabilityPull.closes_on >= first - SETTLED_AFTER)
        .order_by(col(StabilityPull.due_on), col(StabilityPull.id))
    )
    lines: dict[int, list[str]] = {program_id: [] for program_id in today_of}
    for pull, study in session.exec(query):
        today, program = today_of[pull.program_id], programs[pull.program_id]
        if pull.due_on > today + timedelta(days=14) or pull.closes_on < today - SETTLED_AFTER:
            continue
        if pull.closes_on < today and pull.closes_on >= entered(study, pull, program):
            lines[pk(program)].append(f"• :rotating_light: missed pull: {describe(study, pull)}")
        elif pull.closes_on >= today:
            lines[pk(program)].append(f"• stability pull: {describe(study, pull)}")
    late: dict[int, int] = defaultdict(int)
    due = select(StabilityPull.program_id, col(StabilityPull.results_due_on))
    for program_id, results_due_on in session.exec(due.where(
            col(StabilityPull.program_id).in_(list(today_of)),
            col(StabilityPull.results_on).is_(None),
            col(StabilityPull.results_due_on) < last)):
        late[program_id] += results_due_on is not None and results_due_on < today_of[program_id]
    for program_id, count in late.items():
        if count:
            lines[program_id].append(f"• :hourglass: stability results overdue for {count} pull(s)")
    return lines


# ---------------------------------------------------------------- App Home

HOME_AHEAD = timedelta(days=NOTICE_DAYS)


def owed(session: Session, user_id: str, programs: list[Program], now: datetime) -> list[Owed]:
    """Pulls the person's stability teams should make: window open, due within 7 days, or missed."""
    ids = {pk(p) for p in programs}
    teams = set(session.exec(select(ProgramMember.program_id).where(
        ProgramMember.user_id == user_id, ProgramMember.role == Role.stability,
        col(ProgramMember.program_id).in_(ids))))
    if not teams:
        return []
    items = []
    for pull, study, program in _joined(session, teams, col(StabilityPull.pulled_on).is_(None),
                                        StabilityPull.opens_on <= now.date() + HOME_AHEAD,
                                        StabilityPull.closes_on >= now.date() - LOCAL - SETTLED_AFTER):
        today = now.astimezone(program.tz).date()
        ahead = pull.opens_on > today and pull.due_on - HOME_AHEAD > today
        if pull.closes_on < entered(study, pull, program) or ahead or pull.closes_on < today - SETTLED_AFTER:
            continue
        head = ":rotating_light: missed pull" if pull.closes_on < today else "stability pull"
        items.append(Owed(program.code, (pull.due_on - today).days, f"{head}: {describe(study, pull)}",
                          (Button("Mark pulled", MARK_PULLED, str(pull.id), "primary"),)))
    return items


def health(session: Session, programs: list[Program], now: datetime, result: Health) -> None:
    """Per program: the next pull's date whenever there is one (however far ahead), open pulls in the next
    14 days and missed pulls; the next pull date is a deadline."""
    by_id = {pk(p): p for p in programs}
    ids = set(by_id)
    today_of = {pk(p): now.astimezone(p.tz).date() for p in programs}
    near = now.date() + timedelta(days=15)
    upcoming: dict[int, list[date]] = defaultdict(list)
    ahead: dict[int, list[date]] = defaultdict(list)
    missed: dict[int, int] = defaultdict(int)
    query = (columns(StabilityPull.program_id, StabilityPull.due_on, StabilityPull.closes_on,
                     StabilityPull.activated_on, StabilityStudy.created_at)
             .join(StabilityStudy, col(StabilityStudy.id) == StabilityPull.study_id)
             .join(Program, col(Program.id) == StabilityPull.program_id)
             .where(col(Program.active).is_(True), col(StabilityPull.standby).is_(False),
                    col(StabilityPull.program_id).in_(ids), col(StabilityPull.pulled_on).is_(None),
                    col(StabilityPull.due_on) <= near,
                    col(StabilityPull.closes_on) >= now.date() - LOCAL - SETTLED_AFTER))
    for program_id, due_on, closes_on, activated_on, created_at in session.exec(query):
        today = today_of[program_id]
        if closes_on < today - SETTLED_AFTER:
            continue  # history, as the due rule counts it
        if closes_on < today:
            missed[program_id] += closes_on >= entered_on(created_at, activated_on, by_id[program_id])
            continue
        ahead[program_id].append(due_on)
        if due_on <= today + timedelta(days=14):
            upcoming[program_id].append(due_on)
    later = select(StabilityPull.program_id, func.min(StabilityPull.due_on)).where(
        col(StabilityPull.program_id).in_(ids - set(ahead)),
        col(StabilityPull.pulled_on).is_(None), StabilityPull.due_on > near,
        StabilityPull.standby == False,  # noqa: E712
    ).group_by(col(StabilityPull.program_id))
    for program_id, first in session.exec(later):
        ahead[program_id].append(first)
    for program_id in sorted(set(ahead) | {k for k, v in missed.items() if v}):
        following = min(ahead[program_id], default=None)
        parts = [f"next pull {day(following)}"] if following else []
        parts += [f"{len(upcoming[program_id])} pull(s) in 14 days"] if upcoming[program_id] else []
        parts += [f":rotating_light: {missed[program_id]} missed pull(s)"] if missed[program_id] else []
        result.add(program_id, "stability: " + ", ".join(parts), following)
