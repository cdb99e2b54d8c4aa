"""The agreements' rules: their renewal reminders (the days before expiry, or the notice deadline, at which a
program wants them, and the due rule yielding the latest due stage of each executed agreement's term — keyed by
the term's date so that a renewal starts a fresh series — with the text that says what to decide), and their
part of App Home (renewals an owner must decide, each program's gate in the health line: one query for all the
programs shown, reading only the rows that can count). No Slack imports."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from datetime import date, datetime
from typing import NamedTuple

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from store import audit
from store.agreements import service as store
from store.agreements.service import (
    MAX_NOTICE_DAYS,
    Agreement,
    Kind,
    Renewing,
    Stage,
    Status,
    current_stage,
    notice_deadline,
    subject,
)
from store.audit import Actor
from store.db import columns, pk
from store.errors import Invalid
from store.health import Health, Owed
from store.horizons import note
from store.markup import day, escape
from store.outbox import Due
from store.programs import Program, active_by_id, within

DEFAULT_REMINDER_DAYS = (90, 60, 30)


def reminder_days(program: Program) -> tuple[int, ...]:
    """Days before expiry (or before the notice deadline) at which to remind, largest first."""
    configured = ((program.settings or {}).get("agreements") or {}).get("reminder_days")
    if not isinstance(configured, list) or not configured:
        return DEFAULT_REMINDER_DAYS
    days = {d for d in configured if isinstance(d, int) and not isinstance(d, bool) and 0 < d <= MAX_NOTICE_DAYS}
    return tuple(sorted(days, reverse=True)) or DEFAULT_REMINDER_DAYS


def set_reminder_days(session: Session, program: Program, days: Iterable[int], *, actor: Actor,
                      now: datetime) -> tuple[int, ...]:
    wanted = sorted(set(days), reverse=True)
    if not wanted or any(not 0 < d <= MAX_NOTICE_DAYS for d in wanted) or len(wanted) > 6:
        raise Invalid(f"Give one to six day counts between 1 and {MAX_NOTICE_DAYS}, e.g. 90,60,30.")
    before = reminder_days(program)
    settings = dict(program.settings or {})
    settings["agreements"] = {**(settings.get("agreements") or {}), "reminder_days": wanted}
    program.settings = settings  # a new dict so the JSON column is seen as changed
    session.add(program)
    audit.record(session, actor=actor, action="settings_changed", entity="program", entity_id=program.code,
                 program_id=program.id, before={"agreements.reminder_days": list(before)},
                 after={"agreements.reminder_days": wanted}, now=now)
    return tuple(wanted)


def stage_key(agreement: Renewing, stage: Stage) -> str:
    """The term's date is part of the key: a renewal starts a fresh series, never a 'notified' flag."""
    anchor = agreement.review_on if stage.name == "review" else agreement.expires_on
    kind = "review" if stage.name == "review" else "expiry" if stage.name == "expiry" else "renewal"
    suffix = "" if stage.name in ("review", "expiry") else f":{stage.name}"
    return f"agreement:{agreement.id}:{kind}{suffix}:{anchor.isoformat() if anchor else ''}"


def stage_text(agreement: Renewing, program: Program, stage: Stage) -> str:
    what = f"*{escape(agreement.kind.label)} {escape(agreement.ref)}*" + \
        (f" ({escape(agreement.version)})" if agreement.version else "") + \
        f" with {escape(agreement.counterparty)}"
    ref = escape(agreement.ref)
    if stage.name == "review":
        return (f":spiral_calendar_pad: {escape(program.code)}: {what} is evergreen and due for its periodic review "
                f"on {day(stage.nominal)}.\nTo do: review it with the counterparty; record a revision with "
                f"`/cmo agreement new` and `/cmo agreement execute`.")
    expires = agreement.expires_on
    assert expires is not None
    if stage.name == "expiry":
        when = f"expired today, {day(expires)}" if stage.on == expires else f"has expired (on {day(expires)})"
        return (f":rotating_light: {escape(program.code)}: {what} *{when}*.\n"
                f"Until a renewed or new one is executed the program is not covered by it. To do: record the "
                f"renewal with `/cmo agreement renew {ref} YYYY-MM-DD`, or execute the new version.")
    left = (expires - stage.on).days
    lines = [f":hourglass_flowing_sand: {escape(program.code)}: {what} expires on *{day(expires)}* "
             f"({left} days from {day(stage.on)})."]
    deadline = notice_deadline(agreement)
    if deadline:
        lines.append(f"Notice of non-renewal is due by *{day(deadline)}* ({agreement.notice_days}-day notice "
                     "period): decide before then whether to renew, renegotiate or give notice.")
    else:
        lines.append("Decide now whether to renew, renegotiate or let it lapse.")
    lines.append(f"To do: record a renewal with `/cmo agreement renew {ref} YYYY-MM-DD`, or start the next "
                 "version with `/cmo agreement new`.")
    return "\n".join(lines)


class _Executed(NamedTuple):
    """The columns of an executed agreement that the due rule reads (`Renewing`, and who owns it): every one in
    the portfolio is read on each full pass, and ORM objects for them cost more than the rule itself."""

    id: int
    program_id: int
    ref: str
    kind: Kind
    version: str
    counterparty: str
    expires_on: date | None
    evergreen: bool
    review_on: date | None
    notice_days: int | None
    dates_set_on: date | None
    owner_id: str | None


def due(session: Session, now: datetime, programs: Collection[int] | None = None) -> Iterable[Due]:
    """The latest due stage of every executed agreement's term (of `programs`, when given); two statements for
    all programs, and each program's reminder days and local day worked out once."""
    rows = _executed(session, programs)
    if not rows:
        return
    active = active_by_id(session, programs)
    schedules = {program_id: (reminder_days(program), _today(program, now)) for program_id, program in active.items()}
    for agreement in rows:
        program_id = agreement.program_id
        stage = current_stage(agreement, *schedules[program_id])
        if stage is None:
            continue
        yield Due(key=stage_key(agreement, stage), program_id=program_id, subject=subject(agreement.id),
                  due_on=stage.on, text=stage_text(agreement, active[program_id], stage), to_channel=True,
                  to_users=(agreement.owner_id,) if agreement.owner_id else (), urgent=stage.urgent)


def _executed(session: Session, programs: Collection[int] | None) -> list[_Executed]:
    """The executed agreements of active programs (of `programs`, when given), in one statement."""
    query = columns(Agreement.id, Agreement.program_id, Agreement.ref, Agreement.kind, Agreement.version,
                    Agreement.counterparty, Agreement.expires_on, Agreement.evergreen, Agreement.review_on,
                    Agreement.notice_days, Agreement.dates_set_on, Agreement.owner_id).join(
        Program, col(Program.id) == Agreement.program_id).where(
        Agreement.status == Status.executed, Program.active == True)  # noqa: E712
    return [_Executed(id_, program_id, ref, Kind(kind), *rest)
            for id_, program_id, ref, kind, *rest in session.exec(within(query, Agreement.program_id, programs))]


def horizons(session: Session, now: datetime, programs: Collection[int] | None, active: Mapping[int, Program]
             ) -> dict[int, date]:
    """The due rule's horizon (store/horizons.py): the next day a stage of an executed agreement's term falls
    due (its key, the latest stage reached, changes then and only then)."""
    rows = _executed(session, programs)
    found: dict[int, date] = {}
    schedules = {program_id: (reminder_days(program), _today(program, now)) for program_id, program in active.items()}
    for agreement in rows:
        days, today = schedules[agreement.program_id]
        note(found, agreement.program_id, today, *(stage.on for stage in store.schedule(agreement, days)))
    return found


def _today(program: Program, now: datetime):
    return now.astimezone(program.tz).date()


def owed(session: Session, user_id: str, programs: list[Program], now: datetime) -> list[Owed]:
    """Executed agreements the person owns whose renewal reminders have started: decide before the deadline."""
    by_id = {pk(p): p for p in programs}
    items = []
    query = select(Agreement).where(col(Agreement.program_id).in_(list(by_id)), Agreement.owner_id == user_id,
                                    Agreement.status == Status.executed, col(Agreement.expires_on).is_not(None))
    for agreement in session.exec(query.order_by(col(Agreement.program_id), col(Agreement.id))):
        program = by_id[agreement.program_id]
        today = _today(program, now)
        if store.current_stage(agreement, reminder_days(program), today) is None:
            continue
        deadline = store.notice_deadline(agreement)
        target = deadline if deadline and deadline >= today else agreement.expires_on
        what = "notice of non-renewal due" if target == deadline else \
            "expired" if agreement.expires_on <= today else "expires"
        items.append(Owed(program.code, rank=(target - today).days,
                          text=f"{escape(agreement.title)} with {escape(agreement.counterparty)}: {what} "
                               f"{day(target)} — renew (`/cmo agreement renew {agreement.ref} …`) or revise"))
    return items


class _Terms(NamedTuple):
    """The columns of an agreement the health line reads (`store.agreements.service.Dated`), enums restored."""

    ref: str
    kind: Kind
    status: Status
    effective_on: date | None
    expires_on: date | None
    superseded_on: date | None


def _bearing_on_health(session: Session, programs: list[Program], now: datetime) -> dict[int, list[_Terms]]:
    """The agreements the health line reads, by program: every one of the gate's kind and of the NDA (their
    gaps), and the executed ones of any kind not yet expired (the next expiry) — not the history of the
    others. Six columns per row, not ORM objects: a portfolio of 500 programs has thousands."""
    earliest = min((_today(p, now) for p in programs), default=now.date())
    query = columns(Agreement.program_id, Agreement.ref, Agreement.kind, Agreement.status, Agreement.effective_on,
                    Agreement.expires_on, Agreement.superseded_on).where(
        col(Agreement.program_id).in_([pk(p) for p in programs]),
        or_(col(Agreement.kind).in_((store.GATE_KIND, Kind.nda)),
            and_(col(Agreement.status) == Status.executed, col(Agreement.expires_on) > earliest)))
    by_program: dict[int, list[_Terms]] = defaultdict(list)
    for program_id, ref, kind, status, effective_on, expires_on, superseded_on in session.exec(
            query.order_by(col(Agreement.program_id), col(Agreement.id))):
        by_program[program_id].append(_Terms(ref, Kind(kind), Status(status), effective_on, expires_on,
                                             superseded_on))
    return by_program


def health(session: Session, programs: list[Program], now: datetime, result: Health) -> None:
    """Each program's quality-agreement gate, its Mutual NDA (a point of its own), and its next expiry as the
    program's deadline."""
    by_program = _bearing_on_health(session, programs, now)
    for program in programs:
        program_id, today = pk(program), _today(program, now)
        mine = by_program.get(program_id, [])
        gaps, nda = store.gaps_of(mine, today), store.nda_gap(mine, today)
        expiries = [a.expires_on for a in mine if a.status == Status.executed and a.expires_on
                    and a.expires_on > today]
        deadline = min(expiries, default=None)
        if gaps:
            result.add(program_id, ":warning: quality agreement gate not met (" + "; ".join(escape(g) for g in gaps)
                       + ")", deadline)
        elif nda:
            result.add(program_id, "QA in force", deadline)
        elif expiries:
            result.add(program_id, "QA and NDA in force", deadline)
        if nda:
            result.add(program_id, f"{store.NDA_MISSING} ({escape(nda)})")
