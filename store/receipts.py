"""Receipts of form submissions: one submission is acted on once, however often it arrives.

Slack gives a form 3 seconds; when the database is slow the person sees an error although the bot may still
commit the change, and pressing Submit again on the same form would make it twice. A receipt, keyed by the
form (its view id) and the person, is written in the same transaction as the first change the submission
makes, so it exists exactly when that change committed; a submission that finds it changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta

from sqlalchemy import Column, delete, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col

from store.db import UTCDateTime, transaction
from store.errors import Conflict, Invalid

KEPT = timedelta(days=2)  # a form left open longer than this is not resubmitted in practice


class SubmissionReceipt(SQLModel, table=True):
    __tablename__ = "submission_receipt"

    key: str = Field(primary_key=True, max_length=200)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


class AlreadySubmitted(Conflict):
    """This form was submitted before and its change is recorded."""

    def __init__(self) -> None:
        super().__init__("This form was already submitted; its change is recorded.")


_pending: ContextVar[tuple[str, datetime] | None] = ContextVar("submission_receipt", default=None)


def key_of(view_id: str, user_id: str) -> str:
    return f"{view_id}:{user_id}"[:200]


def seen(engine: Engine, key: str) -> bool:
    with transaction(engine) as session:
        return session.get(SubmissionReceipt, key) is not None


def mark(engine: Engine, key: str, now: datetime) -> None:
    """Record `key` done by itself: for work that wrote nothing to the database (a message posted)."""
    with transaction(engine) as session:
        session.add(SubmissionReceipt(key=key, created_at=now))


@contextmanager
def once(engine: Engine, key: str, now: datetime) -> Iterator[None]:
    """Run a submission's work: its first writing transaction also writes the receipt. Raises
    `AlreadySubmitted` when the receipt is there already (found first, or written by a concurrent twin). A
    refusal shown on the form (`Invalid`) forgets the receipt, whatever was written before it (an audited
    refusal): the person corrects the form and submits it again."""
    if seen(engine, key):
        raise AlreadySubmitted
    token = _pending.set((key, now))
    try:
        yield
    except IntegrityError:
        if seen(engine, key):
            raise AlreadySubmitted from None
        raise
    except Invalid:
        with transaction(engine) as session:
            session.exec(delete(SubmissionReceipt).where(col(SubmissionReceipt.key) == key))
        raise
    finally:
        _pending.reset(token)


def prune(session: Session, now: datetime) -> int:
    result = session.exec(delete(SubmissionReceipt).where(
        col(SubmissionReceipt.created_at) < now - KEPT))
    return result.rowcount or 0


@event.listens_for(Session, "before_flush")
def _stamp(session: Session, _context, _instances) -> None:
    pending = _pending.get()
    if pending is None or session.info.get("receipt") or not (session.new or session.dirty or session.deleted):
        return
    session.info["receipt"] = True
    session.add(SubmissionReceipt(key=pending[0], created_at=pending[1]))


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if session.info.pop("receipt", False):
        _pending.set(None)  # written: later transactions of the same submission do not write it again


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop("receipt", None)
