"""The sweep: ask every rule what is due as of `now`, insert what is new, cancel what no longer is.

One bulk insert with ON CONFLICT DO NOTHING per chunk, so a second sweep is a no-op and the statement
count does not grow with the number of rows already sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from scheduler.rules import RULES
from store.areas import Rule
from store.db import insert_for
from store.outbox import ANNOUNCED, Outbox, Status, SweepResult, not_before
from store.programs import Program

CANCEL_CHUNK = 500  # ids per UPDATE, well within every database's limit on bound parameters


def collect(session: Session, now: datetime, rules: Iterable[Rule] = RULES) -> list[dict]:
    """Rows (one per recipient) for everything the rules say should have been said by `now`."""
    programs = {p.id: p for p in session.exec(select(Program).where(Program.active == True))}  # noqa: E712
    rows: dict[tuple[str, str], dict] = {}
    for rule in rules:
        for due in rule(session, now):
            program = programs.get(due.program_id)
            if program is None:
                continue
            targets = [program.channel_id] if due.to_channel and program.channel_id else []
            targets += [u for u in due.to_users if u not in targets]
            for target in targets:
                rows[(due.key, target)] = {
                    "key": due.key,
                    "target": target,
                    "program_id": due.program_id,
                    "subject": due.subject,
                    "due_on": due.effective_due_on,
                    "not_before": not_before(due.effective_due_on, program.tz, now),
                    "urgent": due.urgent,
                    "text": due.text,
                    "buttons": [vars(b) for b in due.buttons],
                    "status": Status.pending,
                    "created_at": now,
                }
    return list(rows.values())


def sweep(session: Session, now: datetime, rules: Iterable[Rule] = RULES) -> SweepResult:
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
