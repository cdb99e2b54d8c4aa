"""The printed names of the people the bot has met (Slack `real_name`), so that every record of who did
what can show the person's name as it was at the time, not their handle — even where the bot may not ask
Slack first (a form's submission, before its acknowledgement)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, bindparam
from sqlmodel import Field, Session, SQLModel, select

from store.db import UTCDateTime


class Person(SQLModel, table=True):
    __tablename__ = "person"

    user_id: str = Field(primary_key=True, max_length=32)
    real_name: str = Field(max_length=255)
    seen_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))  # when Slack last told us


def known(session: Session, user_id: str) -> Person | None:
    return session.exec(_KNOWN, params={"user_id": user_id}).first()


# Built once: every form's submission reads its person before its ack (`session.get` built its read each time).
_KNOWN = select(Person).where(Person.user_id == bindparam("user_id"))


def remember(session: Session, user_id: str, real_name: str, now: datetime) -> None:
    row = session.get(Person, user_id) or Person(user_id=user_id, real_name="", seen_at=now)
    row.real_name, row.seen_at = real_name[:255], now
    session.add(row)
