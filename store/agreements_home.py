"""The agreements' part of App Home: renewals an owner must decide, and each program's gate in the health line.
One query for all the programs shown (no query per program)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlmodel import Session

from store import agreements as store
from store.agreements import Agreement, Status
from store.health import Health, Owed
from store.markup import day, escape
from store.programs import Program


def _today(program: Program, now: datetime):
    return now.astimezone(program.tz).date()


def owed(session: Session, user_id: str, programs: list[Program], now: datetime) -> list[Owed]:
    """Executed agreements the person owns whose renewal reminders have started: decide before the deadline."""
    by_id = {p.id: p for p in programs}
    items = []
    for agreement in store.for_programs(session, list(by_id)):
        program = by_id[agreement.program_id]
        today = _today(program, now)
        if agreement.owner_id != user_id or agreement.status != Status.executed or agreement.expires_on is None:
            continue
        if store.current_stage(agreement, store.reminder_days(program), today) is None:
            continue
        deadline = store.notice_deadline(agreement)
        target = deadline if deadline and deadline >= today else agreement.expires_on
        what = "notice of non-renewal due" if target == deadline else \
            "expired" if agreement.expires_on <= today else "expires"
        items.append(Owed(program.code, rank=(target - today).days,
                          text=f"{escape(agreement.title)} with {escape(agreement.counterparty)}: {what} "
                               f"{day(target)} — renew (`/cmo agreement renew {agreement.ref} …`) or revise"))
    return items


def health(session: Session, programs: list[Program], now: datetime, result: Health) -> None:
    """Each program's quality-agreement gate, its Mutual NDA (a point of its own), and its next expiry as the
    program's deadline."""
    by_program: dict[int, list[Agreement]] = defaultdict(list)
    for agreement in store.for_programs(session, [p.id for p in programs]):
        by_program[agreement.program_id].append(agreement)
    for program in programs:
        today = _today(program, now)
        mine = by_program.get(program.id, [])
        gaps, nda = store.gaps_of(mine, today), store.nda_gap(mine, today)
        expiries = [a.expires_on for a in mine if a.status == Status.executed and a.expires_on
                    and a.expires_on > today]
        deadline = min(expiries, default=None)
        if gaps:
            result.add(program.id, ":warning: quality agreement gate not met (" + "; ".join(escape(g) for g in gaps)
                       + ")", deadline)
        elif nda:
            result.add(program.id, "QA in force", deadline)
        elif expiries:
            result.add(program.id, "QA and NDA in force", deadline)
        if nda:
            result.add(program.id, f"{store.NDA_MISSING} ({escape(nda)})")
