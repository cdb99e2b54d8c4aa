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
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Column, delete, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col

from store.db import UTCDateTime, insert_built, table_of, transaction
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


@dataclass
class _Pending:
    """The receipt of the submission being run: written with its first change; `checked` once its absence was
    read (by `once`, in a transaction of its own), or once the act wrote it up front (`claim`)."""

    key: str
    now: datetime
    checked: bool


_pending: ContextVar[_Pending | None] = ContextVar("submission_receipt", default=None)


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
def once(engine: Engine, key: str, now: datetime, *, claimed_by_act: bool = False) -> Iterator[None]:
    """Run a submission's work: its first writing transaction also writes the receipt. Raises
    `AlreadySubmitted` when the receipt is there already (found first, or written by a concurrent twin). A
    refusal shown on the form (`Invalid`) forgets the receipt, whatever was written before it (an audited
    refusal): the person corrects the form and submits it again.

    `claimed_by_act`: the work, done in one transaction, writes the receipt itself first thing in it (`claim`),
    instead of `once` reading it in a transaction of its own before the work starts."""
    pending = _Pending(key, now, checked=False)
    if not claimed_by_act:
        if seen(engine, key):
            raise AlreadySubmitted
        pending.checked = True
    token = _pending.set(pending)
    try:
        yield
        if not pending.checked:
            raise RuntimeError("once(claimed_by_act=True): the work never claimed its receipt (receipts.claim)")
    except IntegrityError:
        if seen(engine, key):
            raise AlreadySubmitted from None
        raise
    except Invalid:
        if _pending.get() is None:  # this submission wrote its receipt (a twin's, if any, is left alone)
            with transaction(engine) as session:
                session.exec(delete(SubmissionReceipt).where(col(SubmissionReceipt.key) == key))
        raise
    finally:
        _pending.reset(token)


RECEIPTS = table_of(SubmissionReceipt)
_CLAIM = insert_built(lambda insert: insert(RECEIPTS).on_conflict_do_nothing().returning(RECEIPTS.c.key))


def claim(session: Session) -> None:
    """First in the one transaction of a submission run by `once(claimed_by_act=True)`: its receipt, written
    now (so it commits exactly with the change, and its insert is not among those made while holding the audit
    chain's lock). Raises `AlreadySubmitted` when it is there (a form submitted again after its change
    committed); a concurrent twin's uncommitted receipt is waited for (PostgreSQL) or cannot exist (SQLite's
    writers take turns)."""
    pending = _pending.get()
    if pending is None or pending.checked:
        return
    if not session.execute(_CLAIM(session), {"key": pending.key, "created_at": pending.now}).first():
        raise AlreadySubmitted
    pending.checked = True
    session.info["receipt"] = True  # written: `_stamp` does not add it again


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
    session.add(SubmissionReceipt(key=pending.key, created_at=pending.now))


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if session.info.pop("receipt", False):
        _pending.set(None)  # written: later transactions of the same submission do not write it again


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop("receipt", None)
