"""The sweep: ask every rule what is due as of `now`, insert what is new, cancel what no longer is.

One bulk insert with ON CONFLICT DO NOTHING per chunk, so a second sweep is a no-op and the statement
count does not grow with the number of rows already sent.

The scheduler's passes (`reuse=True`) skip the rules when their last full pass's answer still holds: no audit
row written since (every change to what the rules read is audited in its own transaction) and `now` before
the earliest instant at which that answer could change with the records unchanged — the next midnight, UTC
or any active program's local one (the rules depend on days only), the start of the next review call (a call
once started is no longer announced), and at most `RECONCILE` after the full pass, which bounds what any
change that escaped the audit trail could delay. A pass with nothing new then reads two rows, whatever the
size of the portfolio (store/sweep_marks.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from scheduler.rules import RULES
from store import sweep_marks
from store.areas import Rule
from store.batches.models import ReviewCall
from store.db import insert_for
from store.outbox import ANNOUNCED, Outbox, Status, SweepResult, not_before
from store.programs import Program, active_by_id

CANCEL_CHUNK = 500  # ids per UPDATE, well within every database's limit on bound parameters
RECONCILE = timedelta(hours=1)  # a reusing pass runs every rule in full at least this often


def collect(session: Session, now: datetime, rules: Iterable[Rule] = RULES) -> list[dict]:
    """Rows (one per recipient) for everything the rules say should have been said by `now`."""
    programs = active_by_id(session)

    @cache
    def morning(due_on: date, zone: str) -> datetime:
        """`not_before` as of this pass: a full pass's thousands of rows share a few hundred (day, zone) pairs."""
        return not_before(due_on, ZoneInfo(zone), now)

    rows: dict[tuple[str, str], dict] = {}
    for rule in rules:
        for due in rule(session, now):
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
    """Queue what is newly due and cancel what no longer is. `reuse`: skip everything when the last full pass
    of these rules still holds (see the module's docstring); off by default, so that a caller writing records
    without the audit trail (a test's factories) always gets a full pass."""
    rules = tuple(rules)
    name = fingerprint(rules)
    seen = sweep_marks.seen(session, name)
    if reuse and sweep_marks.unchanged(seen, now):
        return SweepResult()
    result = _full(session, now, rules)
    sweep_marks.remember(session, name, seen.audit_seq, now, until(session, now))
    return result


def _full(session: Session, now: datetime, rules: tuple[Rule, ...]) -> SweepResult:
    rows = collect(session, now, rules)
    result = SweepResult()
    wanted = {(r["key"], r["target"]) for r in rows}
    pending = session.exec(select(Outbox.id, Outbox.key, Outbox.target).where(Outbox.status == Status.pending))
    gone = [id_ for id_, key, target in pending if (key, target) not in wanted and not key.endswith(ANNOUNCED)]
    for start in range(0, len(gone), CANCEL_CHUNK):  # the pending rows' ids only: no row is loaded whole
        chunk = gone[start:start + CANCEL_CHUNK]
        session.execute(update(Outbox).where(col(Outbox.id).in_(chunk)).values(status=Status.cancelled))
    result.cancelled = len(gone)
    fresh = _not_yet_queued(session, rows)
    if fresh:
        statement = (insert_for(session)(Outbox).on_conflict_do_nothing(index_elements=["key", "target"])
                     .returning(Outbox.id))
        # executemany: compiled once, sent in batches; ON CONFLICT keeps a concurrent sweep harmless
        result.inserted.extend(session.execute(statement, fresh).scalars())
    session.flush()
    return result


def _not_yet_queued(session: Session, rows: list[dict]) -> list[dict]:
    """The rows the outbox does not hold yet, found with one query over the due days they span: a steady
    sweep (everything already queued) then writes nothing at all."""
    if not rows:
        return []
    oldest = min(r["due_on"] for r in rows)
    queued = set(session.exec(select(Outbox.key, Outbox.target).where(Outbox.due_on >= oldest)))
    return [r for r in rows if (r["key"], r["target"]) not in queued]


def fingerprint(rules: Iterable[Rule]) -> str:
    """The name a set of rules is remembered by: their qualified names (a set passed again, even wrapped anew
    in functions of the same names, as the benchmark does, finds its mark)."""
    names = "|".join(f"{getattr(r, '__module__', '')}.{getattr(r, '__qualname__', repr(r))}" for r in rules)
    return hashlib.sha256(names.encode()).hexdigest()


def until(session: Session, now: datetime) -> datetime:
    """The earliest instant after `now` at which the rules' answer may change with the records unchanged: the
    next UTC midnight, the next local midnight of every active program's time zone, the next review call's
    start, or `RECONCILE` from now — whichever comes first. Earlier than needed only costs a full pass."""
    candidates = [now + RECONCILE, _next_midnight(now, ZoneInfo("UTC"))]
    zones = session.exec(select(Program.timezone).where(Program.active == True).distinct())  # noqa: E712
    candidates += [_next_midnight(now, ZoneInfo(zone)) for zone in zones]
    call = session.exec(select(func.min(ReviewCall.starts_at)).where(ReviewCall.starts_at > now)).one()
    if call is not None:
        candidates.append(call)
    return min(candidates)


def _next_midnight(now: datetime, tz: ZoneInfo) -> datetime:
    """The instant the local date in `tz` next changes (a midnight skipped by a clock change maps to the
    instant of the change; one repeated, to its first occurrence)."""
    tomorrow = now.astimezone(tz).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), tzinfo=tz).astimezone(UTC)
