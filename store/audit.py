"""The append-only, hash-chained audit trail.

Each row holds the SHA-256 of its own content and of the row before it, so editing or deleting a row
breaks the chain where it happened; `verify` says which. Appends are serialised through one head row
(locked FOR UPDATE on PostgreSQL; SQLite runs every transaction BEGIN IMMEDIATE), so two concurrent
transactions can never fork the chain. The head row is created by the migration (never on first use, where
two first writers would race to insert it); `lock` also lets a service take it before a check-then-insert,
so that two people creating the same thing at once get "already exists", not a duplicate-key failure.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import Column
from sqlmodel import Field, Session, SQLModel, select

from store.db import JSONType, UTCDateTime, insert_for

GENESIS = "0" * 64


@dataclass(frozen=True)
class Actor:
    """Who did it: a Slack user, or the bot itself (`system`)."""

    user_id: str
    name: str
    is_admin: bool = False


SYSTEM = Actor("system", "cmo-bot")


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entry"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    actor_id: str = Field(max_length=64)
    actor_name: str = Field(max_length=255)
    program_id: int | None = Field(default=None, index=True)
    entity: str = Field(max_length=64)
    entity_id: str = Field(max_length=128)
    action: str = Field(max_length=64)
    before: Any = Field(default=None, sa_column=Column(JSONType))
    after: Any = Field(default=None, sa_column=Column(JSONType))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """The chain's tip: the row every append locks, and the witness against deleting the last rows."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = 0
    hash: str = Field(default=GENESIS, max_length=64)


def _content(entry: AuditEntry) -> str:
    return json.dumps(
        {
            "seq": entry.seq,
            "at": entry.at.isoformat(),
            "actor_id": entry.actor_id,
            "actor_name": entry.actor_name,
            "program_id": entry.program_id,
            "entity": entry.entity,
            "entity_id": entry.entity_id,
            "action": entry.action,
            "before": entry.before,
            "after": entry.after,
            "prev_hash": entry.prev_hash,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )


def _digest(entry: AuditEntry) -> str:
    return hashlib.sha256(_content(entry).encode()).hexdigest()


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: object,
    now: datetime,
    program_id: int | None = None,
    before: object = None,
    after: object = None,
) -> AuditEntry:
    """Append one row to the chain inside the caller's transaction."""
    head = lock(session)
    entry = AuditEntry(
        seq=head.seq + 1,
        at=now,
        actor_id=actor.user_id,
        actor_name=actor.name[:255],
        program_id=program_id,
        entity=entity,
        entity_id=str(entity_id),
        action=action,
        before=to_jsonable_python(before),
        after=to_jsonable_python(after),
        prev_hash=head.hash,
    )
    # Round-trip the timestamp through the column type first so the hash covers what is stored.
    entry.at = UTCDateTime().process_result_value(UTCDateTime().process_bind_param(now, None), None)
    entry.hash = _digest(entry)
    head.seq, head.hash = entry.seq, entry.hash
    session.add(entry)
    session.flush()
    return entry


def lock(session: Session) -> AuditHead:
    """Take the chain's head for this transaction: audited writers queue here, one at a time.

    A service calls it before checking that what it creates does not exist yet, so the check and the insert
    run alone among audited writers. A database whose head row is missing (tables made without the
    migration, or wiped) gets it with INSERT … ON CONFLICT DO NOTHING, which concurrent writers cannot race.
    """
    query = select(AuditHead).where(AuditHead.id == 1).with_for_update()
    head = session.exec(query).first()
    if head is None:
        session.execute(insert_for(session)(AuditHead).values(id=1, seq=0, hash=GENESIS).on_conflict_do_nothing())
        head = session.exec(query).one()
    return head


@dataclass
class VerifyReport:
    rows: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.ok:
            return f"audit chain verified: {self.rows} rows, no break"
        return f"audit chain BROKEN ({len(self.problems)} problem(s) in {self.rows} rows): " + "; ".join(
            self.problems
        )


def verify(session: Session) -> VerifyReport:
    """Walk the chain in order and name every row that was edited, and every gap where rows were deleted."""
    report = VerifyReport()
    expected_seq, prev_hash = 1, GENESIS
    for entry in session.exec(select(AuditEntry).order_by(AuditEntry.seq)):
        report.rows += 1
        if entry.seq != expected_seq:
            missing = f"{expected_seq}" if entry.seq == expected_seq + 1 else f"{expected_seq}–{entry.seq - 1}"
            report.problems.append(f"row(s) {missing} deleted")
        elif entry.prev_hash != prev_hash:
            report.problems.append(f"row {entry.seq} does not follow row {entry.seq - 1}")
        if _digest(entry) != entry.hash:
            report.problems.append(f"row {entry.seq} was edited after it was written")
        expected_seq, prev_hash = entry.seq + 1, entry.hash
    head = session.get(AuditHead, 1)
    if head is not None and head.seq >= expected_seq:
        last = f"{expected_seq}" if head.seq == expected_seq else f"{expected_seq}–{head.seq}"
        report.problems.append(f"row(s) {last} deleted from the end")
    return report


def history(session: Session, *, entity: str, entity_id: object) -> list[AuditEntry]:
    """Every audit row of one record, oldest first."""
    query = select(AuditEntry).where(AuditEntry.entity == entity, AuditEntry.entity_id == str(entity_id))
    return list(session.exec(query.order_by(AuditEntry.seq)))
