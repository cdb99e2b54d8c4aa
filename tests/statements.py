"""Counting the SQL statements a piece of code runs, and the rows it reads, for the tests that assert a count
independent of size."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import ORMExecuteState, Session


@contextmanager
def counted(engine: Engine | type[Engine]) -> Iterator[list[str]]:
    """The statements sent through `engine` inside the block, in order (`Engine` itself: through every engine,
    those a component makes for itself included)."""
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


@contextmanager
def rows_read() -> Iterator[list[int]]:
    """The number of rows each SELECT run through a session inside the block returned, in order (each result is
    read whole once, to count it, and handed on frozen: the caller reads the same rows)."""
    counts: list[int] = []

    def read(state: ORMExecuteState):
        if not state.is_select:
            return None
        frozen = state.invoke_statement().freeze()
        counts.append(len(frozen.data))
        return frozen()

    event.listen(Session, "do_orm_execute", read)
    try:
        yield counts
    finally:
        event.remove(Session, "do_orm_execute", read)
