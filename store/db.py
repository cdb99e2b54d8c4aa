"""Engines, sessions and the column types every table shares.

SQLite is the default for one process (WAL, foreign keys on, BEGIN IMMEDIATE so that concurrent
writers queue instead of failing on lock upgrade); PostgreSQL is the production database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import JSON, DateTime, Executable, Table, event, inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel, create_engine
from sqlmodel.sql.expression import Select


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every backend (SQLite drops tzinfo; it is re-attached here)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: pass an aware UTC instant")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Keyed(Protocol):
    """A table row with a surrogate key: `None` until the row is flushed, then the database's number."""

    id: int | None


def pk(row: Keyed) -> int:
    """The key of a row that is in the database. SQLModel types every surrogate key `int | None` (it is None
    before the INSERT); a row read back or flushed has one, and a row without one here is a bug, not a case."""
    if row.id is None:
        raise ValueError(f"{type(row).__name__} has no key yet: it was never flushed")
    return row.id


Row = TypeVar("Row")


def referenced(session: Session, model: type[Row], key: object) -> Row:
    """The row a foreign key points at. The key guarantees it is there; `session.get` cannot say so, and a
    missing one is a broken database, raised here (LookupError) rather than as an AttributeError on None."""
    row = session.get(model, key)
    if row is None:
        raise LookupError(f"{model.__name__} {key!r} is referenced but missing")
    return row


def table_of(model: type[SQLModel]) -> Table:
    """A table model's Core table, for statements over any model or over whole columns (`table.c`):
    SQLModel does not declare `__table__` to the type checker."""
    return inspect(model).local_table


def columns(*entities: Any) -> Select[*tuple[Any, ...]]:
    """A SELECT of more columns than `sqlmodel.select` has typed overloads for (four): the rows are tuples
    whose items the caller unpacks by position."""
    return Select(*entities)


JSONType = JSON().with_variant(JSON(none_as_null=True), "postgresql")


CONNECTIONS = 56  # every listener thread (bot.app.LISTENER_THREADS) can hold one, plus the scheduler and /healthz
POOL_WAIT = 1.0  # seconds a request waits for a free connection before it is answered "busy, try again"
SERVING_WAIT = 2.0  # seconds a serving process waits for a lock: the answer still beats Slack's 3 seconds
CLI_WAIT = 30.0  # the command line may wait longer (an import, a migration)
PROBE_WAIT = 1.0  # /healthz: a write that cannot start within this is a stalled write path
# SQLite's memory in one process, page caches first: past it, a connection reuses its own cached pages instead of
# adding more. Each connection's cache may grow to 2 MiB, so `serve --workers 0` on SQLite, whose 48 listener
# threads each hold a connection, peaked near 205 MB (bench/memory.py); a process that uses one connection at a
# time stays below it (the views at 10x: 4.8 MB), so for it nothing changes.
SQLITE_HEAP = 16_000_000  # bytes


def make_engine(url: str, *, wait: float = CLI_WAIT, ping: bool = True, autocommit: bool = False) -> Engine:
    """An engine whose pool holds a connection for every thread that may want one, and whose waits are
    bounded: `wait` seconds for a lock (PostgreSQL `lock_timeout`, SQLite's busy timeout), `POOL_WAIT` for a
    connection. What runs out of time raises, and the boundary answers "busy, try again" (`is_busy`).
    Without `ping`, a PostgreSQL connection is not tested with a round trip each time it is taken from the
    pool (a caller that can fall back on failure saves that round trip: bot/worker.py's queueing). With
    `autocommit`, each PostgreSQL statement commits itself, without a BEGIN and a COMMIT round trip: only for
    callers whose every transaction is one statement (store/work.py's `enqueue`). SQLite's writes still take
    the write lock with BEGIN IMMEDIATE, in process."""
    parsed = make_url(url)
    pool = {"pool_size": CONNECTIONS // 2, "max_overflow": CONNECTIONS - CONNECTIONS // 2, "pool_timeout": POOL_WAIT}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            pool = {}
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": wait}, **pool)
        _tune_sqlite(engine, wait)
        return engine
    options = f"-c lock_timeout={int(wait * 1000)} -c statement_timeout={int(max(wait, CLI_WAIT) * 1000)}"
    level = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    return create_engine(url, pool_pre_ping=ping, connect_args={"options": options}, **level, **pool)


def is_busy(error: BaseException) -> bool:
    """The database is up but every connection or the lock wanted is taken: worth "try again in a moment"."""
    if isinstance(error, SATimeoutError):  # no connection free in the pool within POOL_WAIT
        return True
    if not isinstance(error, OperationalError):
        return False
    orig = error.orig
    return (type(orig).__name__ in ("LockNotAvailable", "QueryCanceled")  # lock_timeout, statement_timeout
            or "database is locked" in str(orig))  # SQLite's busy timeout


def probe_writes(engine: Engine) -> None:
    """Start a write and roll it back; raises (`is_busy`) when the write path is stalled: something holds the
    audit chain's head (PostgreSQL) or SQLite's write lock longer than `PROBE_WAIT`. The probe waits at most
    that long whatever the engine's own lock wait, and never holds a lock beyond its rollback."""
    if is_postgres(engine):
        with engine.connect() as connection:
            transaction = connection.begin()
            try:
                connection.exec_driver_sql(f"SET LOCAL lock_timeout = {int(PROBE_WAIT * 1000)}")
                connection.exec_driver_sql("SELECT id FROM audit_head WHERE id = 1 FOR UPDATE")
            finally:
                transaction.rollback()
        return
    raw = engine.raw_connection()  # SQLite, outside SQLAlchemy's transaction events
    try:
        cursor = raw.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(PROBE_WAIT * 1000)}")
        try:
            cursor.execute("BEGIN IMMEDIATE")  # the write lock, released at once
            cursor.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            raise OperationalError("BEGIN IMMEDIATE", None, exc) from exc
    finally:
        raw.invalidate()  # the pool's connections keep the engine's own busy timeout


def _tune_sqlite(engine: Engine, wait: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # let SQLAlchemy's begin event issue BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA soft_heap_limit={SQLITE_HEAP}")  # the process's, whichever connection sets it
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(wait * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


ANALYSIS_LIMIT = 400  # rows ANALYZE samples per index (SQLite's docs suggest 100-1000)


def refresh_statistics(engine: Engine) -> bool:
    """Keep SQLite's planner statistics (sqlite_stat1) current; True when it ran. Without them SQLite guesses,
    and at 5,000 programs it drove the views' counts through the status index over every program (about 4x
    slower). It writes, so it runs from the scheduler (hourly and at start) and after `cmo-bot import`, in a
    short transaction of its own, never when a connection opens. PostgreSQL's autovacuum analyzes on its own.

    One path on every SQLite version: ANALYZE bounded by `analysis_limit` (milliseconds at 5,000 programs).
    `PRAGMA optimize` would be cheaper on 3.46+, but older versions only look at tables the connection itself
    has queried (a pooled connection may have queried none), and a branch on the version would go untested."""
    if engine.dialect.name != "sqlite":
        return False
    with engine.begin() as connection:
        connection.exec_driver_sql(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
        connection.exec_driver_sql("ANALYZE")
    return True


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def insert_for(session: Session):
    """`insert` of the session's database, with ON CONFLICT DO NOTHING (the race-free "create if missing")."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def insert_built(build: Callable[[Callable[[Table], Any]], Executable]) -> Callable[[Session], Executable]:
    """`build(insert)` made once with each database's `insert` (`insert_for`'s), then picked by the session's: a
    statement built and its cache key made for every execution cost as much CPU as running it, and the writes
    built this way run before a form's acknowledgement."""
    built = {"postgresql": build(postgresql.insert), "sqlite": build(sqlite.insert)}
    return lambda session: built[session.get_bind().dialect.name]


def first_row(engine: Engine, query: Executable, params: Mapping[str, Any] | None = None) -> Sequence[Any] | None:
    """The first row of a read, on a connection of its own, in no unit of work. On an engine that pings no
    pooled connection and commits each statement itself (`make_engine(..., ping=False, autocommit=True)`)
    that is one round trip on PostgreSQL, where a `transaction` on a serving engine is four (the ping,
    BEGIN, the read, COMMIT). A pooled connection found dead (the database restarted since it was last used)
    is dropped by the pool, and the read is made once more on a fresh one, as the ping would have."""
    try:
        return _first(engine, query, params)
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
    return _first(engine, query, params)


def _first(engine: Engine, query: Executable, params: Mapping[str, Any] | None) -> Sequence[Any] | None:
    with engine.connect() as connection:
        return connection.execute(query, params).first()


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error, always close."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
