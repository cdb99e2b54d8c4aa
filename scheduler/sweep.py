"""The sweep: ask every rule what is due as of `now`, insert what is new, cancel what no longer is.

One bulk insert with ON CONFLICT DO NOTHING per chunk, so a second sweep is a no-op and the statement
count does not grow with the number of rows already sent.

The scheduler's passes (`reuse=True`) ask the rules only about the programs whose answer may have changed since
the last pass (store/sweep_marks.py keeps what it saw), and nothing at all when none can have:
- the programs of the audit rows written since (every change to what the rules read is audited in its own
  transaction, with its program); an audit row of no program about one person (`PERSONAL`: their signing)
  asks about the programs they hold a role in, any other of no program (none is written today: a global
  setting would be one) runs a full pass;
- the programs whose horizon passed since: the local midnight of the first day on which the rules' answer about
  the program may change with its records unchanged (the rules depend on program-local days, not hours, nor on
  the UTC day), which every pass asking about a program stores for it (`horizons`, store/sweep_marks.py
  `SweepHorizon`); each rule has a sibling naming its day per program (scheduler/rules.py `HORIZONS`,
  store/horizons.py), "tomorrow" for a rule without one. So a zone's midnight asks about the programs with
  something falling due that day, not about the zone's every program: a pass's cost follows what is due, not
  the size of the portfolio. (The stability rules' settled window, `SETTLED_AFTER`, counts in program-local days
  and the day an alert becomes history is a horizon, store/stability/rules.py; the digest counts the window of
  the digests it finds queued from the UTC day, but that only spares composing what is queued — the current
  period's key is always within it — so it changes no row, and no UTC midnight brings anything round);
- the programs whose review call started since (a call once started is no longer announced);
- the safety net, spread over the day (`RECONCILE`, `SLICES`): as each UTC hour begins, the next pass also asks
  about one slice of the active programs, those whose id modulo 24 is the hour's number, so every program is
  asked about at least once a day and no pass costs the portfolio. A slice by id is stable (a program is
  reconciled at the same hour every day, whatever is added or removed), needs nothing stored, and a pass
  asking about it is an incremental pass like any other, exact for the same reason. That bounds what a change
  that escaped the audit trail could delay — none should: people, roles, settings and signing are audited like
  the records, and tests/unit/test_sweep_reuse.py checks two years of passes with this safety net off and on
  (every pass not run in full is checked against a full one). A pass a whole `RECONCILE` or more after the last
  one (every slice due) runs in full, as do the first pass and a pass dated before the last one (a dry run of
  the past).
Every message belongs to one program (a digest is a program's, store/digest.py), so a pass restricted to some
programs queues and cancels, among their outbox rows only, exactly what a full pass would: the others' rows
are what the last pass left, and nothing they depend on has changed. Each rule reads only those programs'
records, in SQL (store/programs.py `within`), so a pass after one change costs the same whatever the size of
the portfolio, and a pass with nothing new reads two rows — but the first of each UTC hour, which asks about
its slice, a 24th of the portfolio.
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
from store import audit, signing, sweep_marks
from store.areas import Rule
from store.batches.models import Batch, ReviewCall
from store.db import insert_for
from store.outbox import ANNOUNCED, Outbox, Status, SweepResult, not_before
from store.programs import Program, ProgramMember, active_by_id, within

CANCEL_CHUNK = 500  # ids per UPDATE, well within every database's limit on bound parameters
RECONCILE = timedelta(days=1)  # the safety net: a reusing pass asks about every program at least this often …
SLICES = 24  # … a slice of them (program id modulo SLICES) as each of the span's SLICES parts (an hour) begins
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # the slices' parts count from here: each UTC hour is one
# Audit rows of no program that are about one person (their entity id is the user id). The rules read a person
# only through their roles in programs (each audited with its program), so a change of theirs can change only
# the answers about the programs they hold a role in (today none: no rule reads a signing key).
PERSONAL = frozenset({signing.ENTITY})


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
    sweep_marks.remember(session, name, seen.audit_seq, now, until(session, name, now))
    return result


def affected(session: Session, seen: sweep_marks.Seen, now: datetime) -> set[int] | None:
    """The programs whose rules' answer may have changed since the last pass (`seen.mark`), with the safety net's
    slices due, or None when a full pass is due (see the module's docstring): six reads at most, each of what
    happened since (a horizon reached is one: every horizon after the last pass's instant, by induction over the
    passes)."""
    mark = seen.mark
    if mark is None or now < mark.swept_at or seen.audit_seq < mark.audit_seq:
        return None
    due = slices(mark.swept_at, now)
    if due is None:
        return None
    found: set[int] = set()
    if due:
        found.update(p for p in session.exec(select(Program.id).where(
            Program.active == True, (col(Program.id) % SLICES).in_(sorted(due)))) if p is not None)  # noqa: E712
    if seen.audit_seq > mark.audit_seq:
        changed = audit.programs_changed(session, mark.audit_seq, seen.audit_seq)
        if None in changed:
            unowned = audit.of_no_program(session, mark.audit_seq, seen.audit_seq)
            if any(entity not in PERSONAL for entity, _ in unowned):
                return None
            found.update(session.exec(select(ProgramMember.program_id).where(
                col(ProgramMember.user_id).in_(sorted({user for _, user in unowned}))).distinct()))
        found.update(p for p in changed if p is not None)
    found.update(sweep_marks.reached(session, mark.rules, now))
    found.update(session.exec(select(Batch.program_id).join(ReviewCall, col(ReviewCall.batch_id) == Batch.id).where(
        ReviewCall.starts_at > mark.swept_at, ReviewCall.starts_at <= now).distinct()))
    return found


def slices(before: datetime, now: datetime) -> set[int] | None:
    """The safety net's slices due at `now` after a pass at `before`: those of the parts (hours) begun in
    between, the n-th part since `EPOCH` being slice n modulo `SLICES`; None when every slice is (a whole
    `RECONCILE` or more in between: a full pass)."""
    first, last = _part(before), _part(now)
    if last - first >= SLICES:
        return None
    return {n % SLICES for n in range(first + 1, last + 1)}


def _part(at: datetime) -> int:
    """The number of the safety net's part (of `RECONCILE` / `SLICES`) that `at` falls in, counted from `EPOCH`."""
    return (at - EPOCH) // (RECONCILE / SLICES)


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


def until(session: Session, rules: str, now: datetime) -> datetime:
    """The earliest instant after `now` at which the rules' answer may change with the records unchanged, or the
    safety net asks about another slice: the next part's start (the next UTC hour), the earliest program's
    horizon or the next review call's start, whichever comes first. Earlier than needed only costs a pass."""
    candidates = [EPOCH + (_part(now) + 1) * (RECONCILE / SLICES)]
    horizon = sweep_marks.earliest(session, rules)
    if horizon is not None:
        candidates.append(horizon)
    call = next_call(session, now)
    if call is not None:
        candidates.append(call)
    return min(candidates)


def next_call(session: Session, after: datetime, programs: Collection[int] | None = None) -> datetime | None:
    """The first review call's start after `after` (of the batches of `programs`, when given): an instant at which
    the rules' answer may change with the records unchanged (a call once started is no longer announced)."""
    query = select(func.min(ReviewCall.starts_at)).where(ReviewCall.starts_at > after)
    if programs is not None:
        query = within(query.join(Batch, col(ReviewCall.batch_id) == Batch.id), Batch.program_id, programs)
    return session.exec(query).one()


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    """The instant `day` starts in `tz` (a midnight skipped by a clock change maps to the instant of the change;
    one repeated, to its first occurrence)."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
