"""Coverage gaps from supersession: a newer Quality Agreement executed early but effective only after the
older one expires leaves days without cover (the older one's expiry up to the day before the newer takes effect).

Superseding must not silence the older one's expiry alert, and the gap itself is an alert to the program
managers and CMO quality: once when it becomes known (the day the newer one is executed) and again
`WARNING_DAYS` before it starts. The older one's renewal reminders stay cancelled (its successor is decided).
No Slack imports; `due` is one of the scheduler's rules.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from store.agreements import rules
from store.agreements import service as ag
from store.agreements.service import Agreement, Status
from store.db import pk
from store.horizons import note
from store.markup import day, escape
from store.outbox import Due
from store.programs import Program, Role, user_ids, within

WARNING_DAYS = 14  # the reminder before the gap starts: two weeks to bring the new effective date forward
ALERTED = (Role.program_manager, Role.cmo_quality)


@dataclass(frozen=True)
class Gap:
    """The days no agreement of the type is in force: from `starts` (the older one's expiry) up to the day
    before `ends` (the newer one's effective date)."""

    older: Agreement
    newer: Agreement
    starts: date
    ends: date

    @property
    def days(self) -> int:
        return (self.ends - self.starts).days

    @property
    def last_day(self) -> date:
        return self.ends - timedelta(days=1)

    def sentence(self) -> str:
        return (f"no {self.older.kind.label} is in force from {day(self.starts)} to {day(self.last_day)} "
                f"({self.days} days): {escape(self.older.ref)} expires on {day(self.starts)}, "
                f"{escape(self.newer.ref)} takes effect only on {day(self.ends)}")


def gaps(agreements: Sequence[Agreement]) -> list[Gap]:
    """Each superseded Quality Agreement whose term ends before its successor takes effect."""
    by_id = {a.id: a for a in agreements}
    found = []
    for older in agreements:
        newer = by_id.get(older.superseded_by)
        if older.kind != ag.GATE_KIND or older.status != Status.superseded or newer is None:
            continue
        if older.expires_on and newer.effective_on and older.expires_on < newer.effective_on:
            found.append(Gap(older, newer, older.expires_on, newer.effective_on))
    return found


def upcoming(agreements: Sequence[Agreement], today: date) -> list[Gap]:
    """Gaps not over by `today` (under way or still ahead)."""
    return [g for g in gaps(agreements) if today < g.ends]


@dataclass(frozen=True)
class Alert:
    name: str  # "known" | "soon"
    on: date


def alerts(gap: Gap) -> list[Alert]:
    """When the gap is announced: the day it became known (the newer one's execution), then `WARNING_DAYS`
    before it starts unless that day is not later than the first alert."""
    known = gap.newer.dates_set_on or gap.starts
    soon = gap.starts - timedelta(days=WARNING_DAYS)
    return [Alert("known", known)] + ([Alert("soon", soon)] if soon > known else [])


def current_alert(gap: Gap, today: date) -> Alert | None:
    """The latest alert due by `today`; none once the newer one is in force."""
    if today >= gap.ends:
        return None
    due = [a for a in alerts(gap) if a.on <= today]
    return due[-1] if due else None


def key(gap: Gap, alert: Alert) -> str:
    return f"agreement:{gap.older.id}:gap:{alert.name}:{gap.starts.isoformat()}:{gap.ends.isoformat()}"


def alert_text(gap: Gap, program: Program, alert: Alert) -> str:
    code = escape(program.code)
    head = (f":warning: {code}: coverage gap ahead" if alert.name == "known" or alert.on < gap.starts
            else f":rotating_light: {code}: coverage gap under way")
    return (f"{head}: {gap.sentence()}.\nThe quality-agreement gate is not met on those days. To do: bring "
            f"the effective date of {escape(gap.newer.ref)} forward, or agree an extension of "
            f"{escape(gap.older.ref)} with {escape(gap.older.counterparty)}.")


def expiry_text(gap: Gap, program: Program) -> str:
    stage = ag.Stage("expiry", gap.starts, gap.starts, urgent=True)
    return f"{rules.stage_text(gap.older, program, stage)}\n:warning: Coverage gap: {gap.sentence()}."


def due(session: Session, now: datetime, programs: Collection[int] | None = None) -> Iterable[Due]:
    """For every gap (of `programs`, when given) not yet over: its latest alert (to program managers and CMO
    quality, and the channel) and the older agreement's expiry alert on the day it expires (superseding no longer
    silences it)."""
    query = select(Agreement, Program).join(Program, col(Program.id) == Agreement.program_id).where(
        Agreement.kind == ag.GATE_KIND, col(Agreement.status).in_([Status.executed, Status.superseded]),
        col(Program.active).is_(True))
    by_program: dict[int, tuple[Program, list[Agreement]]] = {}
    for agreement, program in session.exec(within(query, Agreement.program_id, programs)):
        by_program.setdefault(pk(program), (program, []))[1].append(agreement)
    for program_id, (program, mine) in by_program.items():
        today = now.astimezone(program.tz).date()
        found = upcoming(mine, today)
        if not found:
            continue
        alerted = tuple(user_ids(session, program_id, *ALERTED))
        for gap in found:
            alert = current_alert(gap, today)
            if alert is not None:
                yield Due(key=key(gap, alert), program_id=program_id, subject=ag.subject(pk(gap.older)),
                          due_on=alert.on, text=alert_text(gap, program, alert), to_users=alerted)
            if today >= gap.starts:
                expiry = ag.Stage("expiry", gap.starts, gap.starts, urgent=True)
                owner = (gap.older.owner_id,) if gap.older.owner_id else ()
                yield Due(key=rules.stage_key(gap.older, expiry), program_id=program_id,
                          subject=ag.subject(pk(gap.older)), due_on=gap.starts, text=expiry_text(gap, program),
                          to_users=owner, urgent=True)


def horizons(session: Session, now: datetime, programs: Collection[int] | None, active: Mapping[int, Program]
             ) -> dict[int, date]:
    """The gap rule's horizon (store/horizons.py): the next day an alert of a gap falls due, its expiry alert
    starts or the gap ends."""
    query = select(Agreement).join(Program, col(Program.id) == Agreement.program_id).where(
        Agreement.kind == ag.GATE_KIND, col(Agreement.status).in_([Status.executed, Status.superseded]),
        col(Program.active).is_(True))
    by_program: dict[int, list[Agreement]] = {}
    for agreement in session.exec(within(query, Agreement.program_id, programs)):
        by_program.setdefault(agreement.program_id, []).append(agreement)
    found: dict[int, date] = {}
    for program_id, mine in by_program.items():
        today = now.astimezone(active[program_id].tz).date()
        for gap in gaps(mine):
            note(found, program_id, today, gap.starts, gap.ends, *(alert.on for alert in alerts(gap)))
    return found
