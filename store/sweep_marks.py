"""The sweep's mark: what the last pass of a set of due rules saw, so a later pass can tell which programs'
answers may have changed since (and skip the rules altogether when none can have): scheduler/sweep.py decides;
this module only keeps the row.

Every change to the records the rules read is written with an audit row in the same transaction, so the
audit head's sequence is a cheap "has anything changed" witness and the rows after the mark's sequence say
where (store/audit.py `programs_changed`); the rules depend on time only through program-local days and review
calls' start instants, so a pass also stores `until`, the earliest instant at which its answer could change with
the records unchanged (or the safety net asks about its next slice of programs, every UTC hour), and `swept_at`,
from which the next pass tells which horizons, call starts and slices' hours it crossed. The row is written in
the sweep's own transaction: a pass rolled back (`tick --dry-run`, a failure) leaves the previous mark, never a
false one.

Beside the mark, each program's horizon (`SweepHorizon`): the local midnight from which the rules' answer about
it may differ with its records unchanged, as the last pass that asked about it worked it out (scheduler/sweep.py
`horizons`). A program with no row has an answer no day changes (nothing dated ahead in it). A midnight brings
round only the programs whose horizon it reached (`reached`, an indexed range read), not its zone's every one.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, Index, Integer, String, delete, func
from sqlmodel import Field, Session, SQLModel, col, select

from store.audit import AuditHead
from store.db import UTCDateTime, insert_for


class SweepMark(SQLModel, table=True):
    """One row per set of due rules (`rules`: a digest of their names): its last pass."""

    __tablename__ = "sweep_mark"

    rules: str = Field(sa_column=Column(String(64), primary_key=True))
    audit_seq: int  # the audit head's sequence the last pass saw
    swept_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))  # when it ran
    until: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))  # its answer holds before this


class SweepHorizon(SQLModel, table=True):
    """One row per (set of due rules, program whose answer some coming day may change): that day's local
    midnight, as an instant (the zones' midnights then compare as one column, indexed with the rules)."""

    __tablename__ = "sweep_horizon"
    __table_args__ = (Index("ix_sweep_horizon_rules_at", "rules", "at"),)

    rules: str = Field(sa_column=Column(String(64), primary_key=True))
    program_id: int = Field(sa_column=Column(Integer, primary_key=True))  # no foreign key: a hint, not a fact
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


@dataclass(frozen=True)
class Seen:
    audit_seq: int
    mark: SweepMark | None


def seen(session: Session, rules: str) -> Seen:
    """The audit head's sequence now and the rules' mark (None before their first full pass)."""
    head = session.exec(select(AuditHead.seq).where(AuditHead.id == 1)).first()
    return Seen(head or 0, session.get(SweepMark, rules))


def unchanged(state: Seen, now: datetime) -> bool:
    """True when the last pass's answer still holds at `now`: no audit row since, and `now` within the span
    [swept_at, until) it was computed for (an earlier `now`, as in a dry run of the past, runs in full)."""
    mark = state.mark
    return mark is not None and mark.audit_seq == state.audit_seq and mark.swept_at <= now < mark.until


def remember(session: Session, rules: str, audit_seq: int, now: datetime, until: datetime) -> None:
    """Store the pass just made (an upsert: two replicas' passes both land, the later one wins; an older
    `swept_at` left by it only brings a midnight's programs, or a slice, round again)."""
    values = {"rules": rules, "audit_seq": audit_seq, "swept_at": now, "until": until}
    statement = insert_for(session)(SweepMark).values(**values)
    session.execute(statement.on_conflict_do_update(index_elements=["rules"], set_={
        k: v for k, v in values.items() if k != "rules"}))


def reached(session: Session, rules: str, now: datetime) -> set[int]:
    """The programs whose horizon `now` has reached: their answer may have changed with the day."""
    query = select(SweepHorizon.program_id).where(SweepHorizon.rules == rules, SweepHorizon.at <= now)
    return set(session.exec(query))


def earliest(session: Session, rules: str) -> datetime | None:
    """The first horizon of any program (None when no day can change any answer)."""
    return session.exec(select(func.min(SweepHorizon.at)).where(SweepHorizon.rules == rules)).one()


def keep_horizons(session: Session, rules: str, found: Mapping[int, datetime], asked: Collection[int] | None) -> None:
    """Replace the horizons of the programs `asked` (every program's, None) with those `found` for them."""
    gone = delete(SweepHorizon).where(col(SweepHorizon.rules) == rules)
    if asked is not None:
        gone = gone.where(col(SweepHorizon.program_id).in_(sorted(asked)))
    session.execute(gone)
    if found:  # an upsert, as the mark's: a concurrent pass's rows for the same programs are replaced
        statement = insert_for(session)(SweepHorizon)
        session.execute(statement.on_conflict_do_update(index_elements=["rules", "program_id"],
                                                        set_={"at": statement.excluded.at}),
                        [{"rules": rules, "program_id": p, "at": at} for p, at in found.items()])
