"""The agreements' part of App Home: renewals an owner must decide, and each program's gate in the health line.
One query for all the programs shown (no query per program), reading only the rows that can count."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import NamedTuple

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from store.agreements import reminders
from store.agreements import service as store
from store.agreements.service import Agreement, Kind, Status
from store.db import columns, pk
from store.health import Health, Owed
from store.markup import day, escape
from store.programs import Program


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
        if store.current_stage(agreement, reminders.reminder_days(program), today) is None:
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
