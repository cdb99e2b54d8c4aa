"""Acknowledged work waiting for a worker: the durable queue between `cmo-bot serve` (or `socket`), which only
acknowledges Slack, and the `cmo-bot work` processes, which do what each request asked (bot/worker.py).

Why a table: a request acknowledged is a promise to Slack and to the person. Written here and committed before
the acknowledgement leaves, it survives the serving process; a worker claims it for a lease, runs it, and
deletes it. A worker killed half-way leaves its claim to expire, and another runs the request again — so a
request must never change anything twice. That is kept here too: every change writes its audit row
(store/audit.py), and each audit row written for a claimed request marks the request applied by that claim,
in the same transaction (`note_change`). A request found applied is not run again (the worker tells the person
its change was saved); a second run racing the first cannot mark it and rolls its own change back
(`AlreadyApplied`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Column, Index, String, Text, delete, insert, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, func, select

from store.db import UTCDateTime, is_postgres, table_of, transaction
from store.errors import Conflict

LEASE = timedelta(minutes=2)  # a request runs in seconds: a claim older than this (in real time) is a dead worker's
MAX_ATTEMPTS = 3  # a request that stopped its worker this many times is given up and the person told


class Work(SQLModel, table=True):
    """One acknowledged request: what Bolt needs to run its listener again (the listener's name, the body as
    Slack sent it and how it came) and who holds it."""

    __tablename__ = "work"
    __table_args__ = (Index("ix_work_queue_claimed_by", "queue", "claimed_by"),)

    id: int | None = Field(default=None, primary_key=True)
    queue: str = Field(sa_column=Column(String(64), nullable=False))  # the deployment's (CMO_WORK_QUEUE)
    listener: str = Field(sa_column=Column(String(255), nullable=False))  # the lazy listener's name
    mode: str = Field(sa_column=Column(String(16), nullable=False))  # Bolt's request mode: http, socket_mode
    content_type: str | None = Field(default=None, sa_column=Column(String(255)))
    body: str = Field(sa_column=Column(Text, nullable=False))  # the raw body (http) or its JSON (socket_mode)
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))  # the request's `now`
    claimed_by: str | None = Field(default=None, sa_column=Column(String(64)))
    claimed_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    attempts: int = 0
    applied_by: str | None = Field(default=None, sa_column=Column(String(80)))  # the claim that changed things

    @property
    def token(self) -> str:
        """This claim's name: the worker and the attempt (a second claim of the same request is another)."""
        return f"{self.claimed_by}#{self.attempts}"


WORK = table_of(Work)
QUEUED = insert(WORK).returning(WORK.c.id)  # its values are the parameters of each execution


class AlreadyApplied(Conflict):
    """Another run of the same request changed things first: this run's change is rolled back."""

    def __init__(self) -> None:
        super().__init__("This request was already carried out; nothing was changed twice.")


# The queue of a deployment's requests that may open a form, claimed before its others: Slack accepts a
# trigger_id for three seconds, which a request waiting behind a backlog would outwait. (The suffix cannot be
# part of a deployment's own name: CMO_WORK_QUEUE has no colon, and leaves room for it in the column.)
FORMS = ":forms"


def forms_of(queue: str) -> str:
    return queue + FORMS


@dataclass(frozen=True)
class Running:
    """The request a worker is running in this context, the token of its claim, and whether it may open a
    form (it came from a forms queue)."""

    id: int
    token: str
    form: bool = False


RUNNING: ContextVar[Running | None] = ContextVar("running_work", default=None)


def enqueue(into: Engine | Session, *, queue: str, listener: str, mode: str, content_type: str | None, body: str,
            received_at: datetime) -> int:
    """Store one request, committed when this returns (before its acknowledgement is sent). It is all that an
    acknowledgement does besides Bolt's own checks, so it is one compiled Core statement, no ORM session (which
    cost twice the CPU). The serving process's engine commits each statement itself (`make_engine(...,
    autocommit=True)`): on PostgreSQL the insert and its commit are one round trip instead of three (BEGIN,
    INSERT, COMMIT), each of which waited under load for the database's process to be scheduled.

    `into` a session: the row is written in its transaction and commits (or rolls back) with it — a form's
    follow-up, written with the change it follows (commands/after.py)."""
    values = {"queue": queue, "listener": listener, "mode": mode, "body": body, "content_type": content_type,
              "received_at": received_at}
    if isinstance(into, Session):
        return into.execute(QUEUED, values).scalar_one()
    with into.begin() as connection:
        return connection.execute(QUEUED, values).scalar_one()


def fresh(engine: Engine, queue: str) -> bool:
    """Whether a request of `queue` no worker has claimed is waiting: the workers' cheap question between
    claims. On SQLite a bare read outside any transaction, so it never takes the write lock a claim takes."""
    query = select(Work.id).where(col(Work.queue) == queue, col(Work.claimed_by).is_(None)).limit(1)
    if is_postgres(engine):
        with engine.connect() as connection:
            return connection.execute(query).first() is not None
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SELECT 1 FROM work WHERE queue = ? AND claimed_by IS NULL LIMIT 1", (queue,))
        return cursor.fetchone() is not None
    finally:
        raw.close()


def claim(engine: Engine, queue: str, worker: str, now: datetime) -> Work | None:
    """The oldest request of `queue` that is free (never claimed, or its claim expired) claimed by `worker`
    until now + LEASE; None when there is none. Claims skip rows another worker is claiming (PostgreSQL's
    SKIP LOCKED; SQLite's writers take turns)."""
    with transaction(engine) as session:
        item = session.exec(
            select(Work).where(col(Work.queue) == queue,
                               or_(col(Work.claimed_by).is_(None), col(Work.claimed_until) < now))
            .order_by(col(Work.id)).limit(1).with_for_update(skip_locked=True)
        ).first()
        if item is None:
            return None
        item.claimed_by, item.claimed_until, item.attempts = worker, now + LEASE, item.attempts + 1
        session.add(item)
        return item


def release_dead(engine: Engine, host: str, alive: Callable[[int], bool]) -> int:
    """Free the claims of workers on `host` whose process is gone (`alive(pid)` is False): their requests
    are run again at once rather than when the lease runs out. Returns how many were freed."""
    with transaction(engine) as session:
        held = session.exec(select(Work).where(col(Work.claimed_by).startswith(f"{host}:"))).all()
        dead = [item for item in held if not alive(int(str(item.claimed_by).rsplit(":", 1)[1]))]
        for item in dead:
            item.claimed_by, item.claimed_until = None, None
            session.add(item)
        return len(dead)


def finish(engine: Engine, item_id: int) -> None:
    """The request is done: its row goes (the body held what the person typed; it is kept no longer)."""
    with transaction(engine) as session:
        session.execute(delete(Work).where(col(Work.id) == item_id))


def queued(session: Session) -> int:
    """Requests acknowledged and not yet done (waiting or under way): /metrics' `cmo_work_queued`."""
    return session.exec(select(func.count()).select_from(Work)).one()


@contextmanager
def running(item: Work) -> Iterator[None]:
    """Within this block, changes written are this claim's (`note_change`)."""
    assert item.id is not None
    reset = RUNNING.set(Running(item.id, item.token, item.queue.endswith(FORMS)))
    try:
        yield
    finally:
        RUNNING.reset(reset)


def note_change(session: Session) -> None:
    """Called with every audit row, in its transaction: a change of a running request marks the request
    applied by this claim, or finds another claim already did (AlreadyApplied: this transaction rolls back).
    Marked in each transaction, not once: a transaction rolled back takes its mark with it."""
    state = RUNNING.get()
    if state is None:
        return
    marked = session.execute(
        update(Work).where(col(Work.id) == state.id, or_(col(Work.applied_by).is_(None),
                                                          col(Work.applied_by) == state.token))
        .values(applied_by=state.token)
    )
    if marked.rowcount != 1:  # type: ignore[attr-defined]
        raise AlreadyApplied()
