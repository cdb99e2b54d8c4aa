"""The sweep: ask every rule what is due as of `now`, insert what is new, cancel what no longer is.

One bulk insert with ON CONFLICT DO NOTHING per chunk, so a second sweep is a no-op and the statement
count does not grow with the number of rows already sent.

The scheduler's passes (`reuse=True`) ask the rules only about the programs whose answer may have changed since
the last pass (store/sweep_marks.py keeps what it saw), and nothing at all when none can have:
- the programs of the audit rows written since (every change to what the rules read is audited in its own
  transaction, with its program); an audit row of no program (a person, a setting) runs a full pass;
- the programs whose horizon passed since: the local midnight of the first day on which the rules' answer about
  the program may change with its records unchanged (the rules depend on days, not hours), which every pass
  asking about a program stores for it (`horizons`, store/sweep_marks.py `SweepHorizon`); each rule has a
  sibling naming its day per program (scheduler/rules.py `HORIZONS`, store/horizons.py), "tomorrow" for a rule
  without one. So a zone's midnight asks about the programs with something falling due that day, not about the
  zone's every program: a pass's cost follows what is due, not the size of the portfolio;
- the programs whose review call started since (a call once started is no longer announced);
- a UTC midnight runs a full pass: the stability rules count their settled window (`SETTLED_AFTER`) back
  from the UTC day, for every program (the digest's window of queued digests too, but that only spares
  composing what is queued: it changes no row);
- and at least every `RECONCILE` (a day: it coincides with the UTC midnight's) a full pass, which bounds what a
  change that escaped the audit trail could delay — none should: people, roles, settings and signing are
  audited like the records, and tests/unit/test_sweep_reuse.py checks two years of passes with this safety net
  off (every pass not run in full is checked against a full one); the first pass, and a pass dated before the
  last one (a dry run of the past), are full too.
Every message belongs to one program (a digest is a program's, store/digest.py), so a pass restricted to some
programs queues and cancels, among their outbox rows only, exactly what a full pass would: the others' rows
are what the last pass left, and nothing they depend on has changed. Each rule reads only those programs'
records, in SQL (store/programs.py `within`), so a pass after one change costs the same whatever the size of
the portfolio, and a pass with nothing new reads two rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from scheduler.rules import HORIZONS, RULES
from store import audit, sweep_marks
from store.areas import Rule
from store.batches.models import Batch, ReviewCall
from store.db import insert_for
from store.outbox import ANNOUNCED, Outbox, Status, SweepResult, not_before
from store.programs import Program, active_by_id, within

CANCEL_CHUNK = 500  # ids per UPDATE, well within every database's limit on bound parameters
RECONCILE = timedelta(days=1)  # a reusing pass runs every rule in full at least this often (the safety net)


def collect(session: Session, now: datetime, rules: Iterable[Rule] = RULES,
            only: Collection[int] | None = None, active: Mapping[int, Program] | None = None) -> list[dict]:
    """Rows (one per recipient) for everything the rules say should have been said by `now` (about the programs
    `only`, when given; `active`: those of them active, when the caller has read them)."""
    programs = active_by_id(session, only) if active is None else active

    @cache
    def morning(due_on: date, zone: str) -> datetime:
        """`not_before` as of this pass: a full pass's thousands of rows share a few hundred (day, zone) pairs."""
        return not_before(due_on, ZoneInfo(zone), now)

    rows: dict[tuple[str, str], dict] = {}
    for rule in rules:
        for due in rule(session, now) if only is None else rule(session, now, only):
            program = programs.get(due.program_id)
            if program is None:
                continue
            targets = [program.channel_id] if due.to_channel and program.channel_id else []
            targets += [u for u in due.to_users if u not in targets]
            due_on = due.effective_due_on
            for target in targets:
                rows[(due.key, target)] = {
                    "key": due.key,
                    "target": target,
                    "program_id": due.program_id,
                    "subject": due.subject,
                    "due_on": due_on,
                    "not_before": morning(due_on, program.timezone),
                    "urgent": due.urgent,
                    "text": due.text,
                    "buttons": [vars(b) for b in due.buttons],
                    "status": Status.pending,
                    "created_at": now,
                }
    return list(rows.values())


def sweep(session: Session, now: datetime, rules: Iterable[Rule] = RULES, *, reuse: bool = False) -> SweepResult:
    """Queue what is newly due and cancel what no longer is. `reuse`: ask the rules only about the programs
    whose answer may have changed since the last pass, or skip them altogether (see the module's docstring);
    off by default, so that a caller writing records without the audit trail (a test's factories) always gets
    a full pass."""
    rules = tuple(rules)
    name = fingerprint(rules)
    seen = sweep_marks.seen(session, name)
    if reuse and sweep_marks.unchanged(seen, now):
        return SweepResult()
    only = affected(session, seen, now) if reuse else None
    if only is None or only:
        active = active_by_id(session, only)
        result = _pass(session, now, rules, only, active)
        sweep_marks.keep_horizons(session, name, horizons(session, now, rules, only, active), only)
    else:
        result = SweepResult()
    full_at = now if only is None or seen.mark is None else seen.mark.full_at
    sweep_marks.remember(session, name, seen.audit_seq, now, until(session, name, now, full_at), full_at)
    return result


def affected(session: Session, seen: sweep_marks.Seen, now: datetime) -> set[int] | None:
    """The programs whose rules' answer may have changed since the last pass (`seen.mark`), or None when a full
    pass is due (see the module's docstring): three reads at most, each of what happened since (a horizon
    reached is one: every horizon after the last pass's instant, by induction over the passes)."""
    mark = seen.mark
    if (mark is None or now < mark.swept_at or now >= mark.full_at + RECONCILE or seen.audit_seq < mark.audit_seq
            or _crossed(mark.swept_at, now, ZoneInfo("UTC"))):
        return None
    found: set[int] = set()
    if seen.audit_seq > mark.audit_seq:
        changed = audit.programs_changed(session, mark.audit_seq, seen.audit_seq)
        if None in changed:
            return None
        found.update(p for p in changed if p is not None)
    found.update(sweep_marks.reached(session, mark.rules, now))
    found.update(session.exec(select(Batch.program_id).join(ReviewCall, col(ReviewCall.batch_id) == Batch.id).where(
        ReviewCall.starts_at > mark.swept_at, ReviewCall.starts_at <= now).distinct()))
    return found


def _crossed(before: datetime, now: datetime, tz: ZoneInfo) -> bool:
    """True when the local date in `tz` changed between the two instants."""
    return before.astimezone(tz).date() != now.astimezone(tz).date()


def _pass(session: Session, now: datetime, rules: tuple[Rule, ...], only: Collection[int] | None,
          active: Mapping[int, Program]) -> SweepResult:
    """The rules asked about every program (`only` None) or about `only` (`active`: those active), whose pending
    rows alone are then considered for cancelling: the other programs' rows stay as the last pass left them."""
    result = SweepResult()
    rows = collect(session, now, rules, only, active)
    wanted = {(r["key"], r["target"]) for r in rows}
    pending = session.exec(within(select(Outbox.id, Outbox.key, Outbox.target).where(
        Outbox.status == Status.pending), Outbox.program_id, only))
    gone = [id_ for id_, key, target in pending if (key, target) not in wanted and not key.endswith(ANNOUNCED)]
    for start in range(0, len(gone), CANCEL_CHUNK):  # the pending rows' ids only: no row is loaded whole
        chunk = gone[start:start + CANCEL_CHUNK]
        session.execute(update(Outbox).where(col(Outbox.id).in_(chunk)).values(status=Status.cancelled))
    result.cancelled = len(gone)
    fresh = _not_yet_queued(session, rows, only)
    if fresh:
        statement = (insert_for(session)(Outbox).on_conflict_do_nothing(index_elements=["key", "target"])
                     .returning(Outbox.id))
        # executemany: compiled once, sent in batches; ON CONFLICT keeps a concurrent sweep harmless
        result.inserted.extend(session.execute(statement, fresh).scalars())
    session.flush()
    return result


def _not_yet_queued(session: Session, rows: list[dict], only: Collection[int] | None) -> list[dict]:
    """The rows the outbox does not hold yet, found with one query over the due days they span (and the programs
    `only`, when given): a steady sweep (everything already queued) then writes nothing at all."""
    if not rows:
        return []
    oldest = min(r["due_on"] for r in rows)
    query = select(Outbox.key, Outbox.target).where(Outbox.due_on >= oldest)
    queued = set(session.exec(within(query, Outbox.program_id, only)))
    return [r for r in rows if (r["key"], r["target"]) not in queued]


def fingerprint(rules: Iterable[Rule]) -> str:
    """The name a set of rules is remembered by: their qualified names (a set passed again, even wrapped anew
    in functions of the same names, as the benchmark does, finds its mark)."""
    names = "|".join(f"{getattr(r, '__module__', '')}.{getattr(r, '__qualname__', repr(r))}" for r in rules)
    return hashlib.sha256(names.encode()).hexdigest()


def horizons(session: Session, now: datetime, rules: Iterable[Rule], only: Collection[int] | None,
             active: Mapping[int, Program]) -> dict[int, datetime]:
    """Each active program's horizon (of `only`, when given), as the instant of its local midnight: the first
    local day after today on which any rule's answer about it may change with its records unchanged — the
    earliest of the rules' (scheduler/rules.py `HORIZONS`: each a sibling of its rule, store/horizons.py),
    tomorrow for a rule that has none. A program no day can change has none. A rule's day not after today
    (its horizon may be a day early where the UTC and the local day differ) counts as tomorrow."""
    tomorrow = {program_id: now.astimezone(program.tz).date() + timedelta(days=1)
                for program_id, program in active.items()}
    found: dict[int, date] = {}
    for rule in rules:
        horizon = HORIZONS.get(getattr(rule, "__wrapped__", rule))
        days = tomorrow if horizon is None else horizon(session, now, only, active)
        for program_id, day in days.items():
            if program_id in tomorrow:
                day = max(day, tomorrow[program_id])
                found[program_id] = min(day, found.get(program_id, day))
    return {program_id: _midnight(day, active[program_id].tz) for program_id, day in found.items()}


def until(session: Session, rules: str, now: datetime, full_at: datetime) -> datetime:
    """The earliest instant after `now` at which the rules' answer may change with the records unchanged: the
    next UTC midnight, the earliest program's horizon, the next review call's start, or `RECONCILE` after the
    last full pass — whichever comes first. Earlier than needed only costs a pass."""
    candidates = [full_at + RECONCILE, _next_midnight(now, ZoneInfo("UTC"))]
    horizon = sweep_marks.earliest(session, rules)
    if horizon is not None:
        candidates.append(horizon)
    call = session.exec(select(func.min(ReviewCall.starts_at)).where(ReviewCall.starts_at > now)).one()
    if call is not None:
        candidates.append(call)
    return min(candidates)


def _next_midnight(now: datetime, tz: ZoneInfo) -> datetime:
    """The instant the local date in `tz` next changes."""
    return _midnight(now.astimezone(tz).date() + timedelta(days=1), tz)


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    """The instant `day` starts in `tz` (a midnight skipped by a clock change maps to the instant of the change;
    one repeated, to its first occurrence)."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
