"""The append-only, hash-chained audit trail.

Each row holds the SHA-256 of its own content and of the row before it, so editing or deleting a row
breaks the chain where it happened; `verify` says which. Appends are serialised through one head row
(locked FOR UPDATE on PostgreSQL; SQLite runs every transaction BEGIN IMMEDIATE), so two concurrent
transactions can never fork the chain. The head row is created by the migration (never on first use, where
two first writers would race to insert it); `lock` also lets a service take it before a check-then-insert,
so that two people creating the same thing at once get "already exists", not a duplicate-key failure.

Someone who can write the database could still rewrite the whole chain consistently, cut its end and reset
the head, or wipe both tables. Two anchors outside the database stop that: with `CMO_AUDIT_KEY` set the
chain is keyed (each hash is an HMAC-SHA256 under that key, so a rewrite without the key does not verify),
and checkpoints (sequence number and head hash) are published outside the database (the alerts channel and
the document store, scheduler/checkpoints.py) for `verify_checkpoint` to check the chain against.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import Column, event, func, table
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Field, Session, SQLModel, col, select

from store import work
from store.db import JSONType, UTCDateTime, insert_for

GENESIS = "0" * 64
_KEY: bytes | None = None


def use_key(key: str | None) -> None:
    """The chain's HMAC key (CMO_AUDIT_KEY) for this process; None: plain SHA-256 (an unkeyed chain)."""
    global _KEY
    _KEY = key.encode() if key else None


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


def _digest(entry: AuditEntry, key: bytes | None) -> str:
    content = _content(entry).encode()
    if key is None:
        return hashlib.sha256(content).hexdigest()
    return hmac.new(key, content, hashlib.sha256).hexdigest()


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
    """Append one row to the chain inside the caller's transaction (which, in a worker, also marks the request
    being run as applied: store/work.py)."""
    head = lock(session)
    work.note_change(session)
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
        hash="",  # set below, once `at` is what the column stores
    )
    # Round-trip the timestamp through the column type first so the hash covers what is stored.
    entry.at = UTCDateTime().process_result_value(UTCDateTime().process_bind_param(now, None), None)
    entry.hash = _digest(entry, _KEY)
    head.seq, head.hash = entry.seq, entry.hash
    session.add(entry)
    session.flush()
    return entry


def lock(session: Session) -> AuditHead:
    """Take the chain's head for this transaction: audited writers queue here, one at a time (once per
    transaction: a second call returns the head already held).

    A service calls it before checking that what it creates does not exist yet, so the check and the insert
    run alone among audited writers. A database whose head row is missing (tables made without the
    migration, or wiped) gets it with INSERT … ON CONFLICT DO NOTHING, which concurrent writers cannot race.
    """
    held = session.info.get(_HELD)
    if held is not None:
        return held
    head = session.exec(_HEAD).first()
    if head is None:
        session.execute(insert_for(session)(AuditHead).values(id=1, seq=0, hash=GENESIS).on_conflict_do_nothing())
        head = session.exec(_HEAD).one()
    session.info[_HELD] = head
    return head


_HEAD = select(AuditHead).where(AuditHead.id == 1).with_for_update()  # built once: every audited write reads it

# The head this session's transaction holds: a service that locks before its check (`lock`) and then appends, or
# that appends several rows (an agreement and those it supersedes), takes the lock once, not once per row. Held
# until the transaction (or a savepoint, whose rollback may release the row lock) ends; then locked afresh.
_HELD = "audit_head"


@event.listens_for(Session, "after_transaction_end")
def _released(session: Session, transaction: SessionTransaction) -> None:
    if transaction.nested or transaction.parent is None:  # not the inner transaction each flush runs in
        session.info.pop(_HELD, None)


@dataclass
class VerifyReport:
    rows: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def empty(self) -> bool:
        """Nothing to verify: a new database, or the wrong one (so never reported as "verified")."""
        return self.ok and self.rows == 0

    def summary(self) -> str:
        if self.empty:
            return "audit chain is empty: 0 rows"
        if self.ok:
            return f"audit chain verified: {self.rows} rows, no break"
        return f"audit chain BROKEN ({len(self.problems)} problem(s) in {self.rows} rows): " + "; ".join(
            self.problems
        )


VERIFY_BATCH = 2_000  # audit rows `verify` holds at a time


def verify(session: Session) -> VerifyReport:
    """Walk the chain in order and name every row that was edited, and every gap where rows were deleted.

    With a key, a row whose hash is a plain SHA-256 is unkeyed: allowed only before the first keyed row
    (written before the key was set); after it, it was rewritten by someone without the key. An empty or
    headless chain beside existing programs is broken: creating a program writes the first rows."""
    report = VerifyReport()
    expected_seq, prev_hash, keyed_seen = 1, GENESIS, False
    # In batches (a server-side cursor on PostgreSQL): the chain is read once, and loading it whole held
    # every row as an object at once (a 10× portfolio's trail took the process past 200 MB; bench/memory.py).
    chain = select(AuditEntry).order_by(col(AuditEntry.seq)).execution_options(yield_per=VERIFY_BATCH)
    for entry in session.exec(chain):
        report.rows += 1
        if entry.seq != expected_seq:
            missing = f"{expected_seq}" if entry.seq == expected_seq + 1 else f"{expected_seq}–{entry.seq - 1}"
            report.problems.append(f"row(s) {missing} deleted")
        elif entry.prev_hash != prev_hash:
            report.problems.append(f"row {entry.seq} does not follow row {entry.seq - 1}")
        if _KEY is not None and hmac.compare_digest(_digest(entry, _KEY), entry.hash):
            keyed_seen = True
        elif _digest(entry, None) == entry.hash:
            if keyed_seen:
                report.problems.append(f"row {entry.seq} is not keyed with CMO_AUDIT_KEY (rewritten without it)")
        else:  # a keyed chain read without its key shows every keyed row like this (README: audit trail)
            report.problems.append(f"row {entry.seq} was edited after it was written")
        expected_seq, prev_hash = entry.seq + 1, entry.hash
    head = session.get(AuditHead, 1)
    if head is not None and head.seq >= expected_seq:
        last = f"{expected_seq}" if head.seq == expected_seq else f"{expected_seq}–{head.seq}"
        report.problems.append(f"row(s) {last} deleted from the end")
    programs = session.exec(select(func.count()).select_from(table("program"))).one()
    if head is None and (report.rows or programs):
        report.problems.append("the chain's head row is missing")
    if not report.rows and programs:
        report.problems.append(f"the audit trail is empty although {programs} program(s) exist")
    return report


@dataclass(frozen=True)
class Checkpoint:
    """The chain's tip at one moment, kept outside the database: `SEQ:HASH`."""

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """`SEQ:HASH`, or the JSON the document store holds ({"seq": …, "hash": …})."""
        text = text.strip()
        try:
            if text.startswith("{"):
                data = json.loads(text)
                seq, digest = int(data["seq"]), str(data["hash"])
            else:
                seq_text, _, digest = text.partition(":")
                seq = int(seq_text)
        except (ValueError, KeyError, TypeError):
            raise ValueError("a checkpoint is SEQ:HASH (64 hex digits) or a checkpoint file") from None
        if seq < 1 or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError("a checkpoint is SEQ:HASH (64 hex digits) or a checkpoint file")
        return cls(seq, digest)

    def to_json(self, at: datetime) -> str:
        return json.dumps({"seq": self.seq, "hash": self.hash, "at": at.isoformat()}, sort_keys=True)


def head_checkpoint(session: Session) -> Checkpoint | None:
    head = session.get(AuditHead, 1)
    return Checkpoint(head.seq, head.hash) if head is not None and head.seq else None


def verify_checkpoint(session: Session, checkpoint: Checkpoint, report: VerifyReport) -> None:
    """The chain must still hold the checkpoint's row, with the hash published then."""
    entry = session.get(AuditEntry, checkpoint.seq)
    if entry is None:
        report.problems.append(f"row {checkpoint.seq} of the checkpoint is gone (the chain was cut)")
    elif entry.hash != checkpoint.hash:
        report.problems.append(f"row {checkpoint.seq} differs from the checkpoint (the chain was rewritten)")


class AuditCheckpoint(SQLModel, table=True):
    """Where and when a checkpoint was published; only paces publishing (the anchor is the copy outside)."""

    __tablename__ = "audit_checkpoint"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    hash: str = Field(max_length=64)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


def last_published(session: Session) -> AuditCheckpoint | None:
    return session.exec(select(AuditCheckpoint).order_by(col(AuditCheckpoint.seq).desc())).first()


def published(session: Session, checkpoint: Checkpoint, now: datetime) -> None:
    """Claim a checkpoint for publishing; a second claim of the same one fails with IntegrityError."""
    session.add(AuditCheckpoint(seq=checkpoint.seq, hash=checkpoint.hash, at=now))
    session.flush()


def programs_changed(session: Session, after: int, upto: int) -> set[int | None]:
    """The programs of the audit rows numbered (after, upto], None among them when one concerned no program (a
    person, a setting): what the sweep's incremental pass re-asks its rules about. A range of the primary key:
    the rows written since, whatever the length of the trail."""
    query = select(AuditEntry.program_id).where(AuditEntry.seq > after, AuditEntry.seq <= upto).distinct()
    return set(session.exec(query))


def of_no_program(session: Session, after: int, upto: int) -> set[tuple[str, str]]:
    """(entity, entity id) of the audit rows numbered (after, upto] that concern no program: what the sweep's
    incremental pass narrows such a change to (a person's programs), when it can."""
    query = select(AuditEntry.entity, AuditEntry.entity_id).where(
        AuditEntry.seq > after, AuditEntry.seq <= upto, col(AuditEntry.program_id).is_(None)).distinct()
    return {(entity, entity_id) for entity, entity_id in session.exec(query)}


def history(session: Session, *, entity: str, entity_id: object) -> list[AuditEntry]:
    """Every audit row of one record, oldest first."""
    query = select(AuditEntry).where(AuditEntry.entity == entity, AuditEntry.entity_id == str(entity_id))
    return list(session.exec(query.order_by(col(AuditEntry.seq))))
