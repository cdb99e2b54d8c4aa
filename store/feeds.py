"""Personal calendar feeds: who may fetch which feed, and the SEQUENCE of each event.

A feed's token is the secret in its URL. It is derived from a random 128-bit value (kept in the row) with
HMAC-SHA256 under a key the database does not hold (the bot's Slack token, see `commands.calendar`), and the
database keeps only its SHA-256: a copy of the database opens no feed, while `/cmo calendar` and App Home can
show the same link again. A reset draws a new random value, so the old URL stops at once.

SEQUENCE (RFC 5545 §3.8.7.4) must grow when an event's dates change. The feed keeps a ledger per event UID of
the dates last served and their sequence: a feed that finds other dates bumps the sequence (a conditional
UPDATE, so two feeds fetched at once bump it once) and stamps the change with the bot's clock, which is also
the event's DTSTAMP — so an unchanged feed renders byte for byte the same, and its ETag holds.

The ledger also keeps each event's VEVENT as last rendered, with a digest of what it was rendered from
(`store.ical.rendered_from`): the library takes about half a millisecond per event, so an event is rendered
once per content for the life of the database, not once per process.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import Column, LargeBinary, String, UniqueConstraint, bindparam, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel, col, select

from store.db import UTCDateTime, columns, table_of

ALL = "all"  # the scope of a person's feed of every program they hold a role on (else a program's id)


class CalendarFeed(SQLModel, table=True):
    __tablename__ = "calendar_feed"
    __table_args__ = (UniqueConstraint("user_id", "scope", name="uq_calendar_feed_scope"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(max_length=32, index=True)
    scope: str = Field(max_length=32)  # ALL, or the program's id
    nonce: str = Field(max_length=64)  # the random value the token is derived from (not the token)
    token_sha256: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))

    @property
    def program_id(self) -> int | None:
        return None if self.scope == ALL else int(self.scope)


class CalendarSequence(SQLModel, table=True):
    """The dates of one event as last served, and its SEQUENCE; DTSTAMP is when they last changed."""

    __tablename__ = "calendar_sequence"

    uid: str = Field(sa_column=Column(String(96), primary_key=True))
    program_id: int = Field(index=True)
    dates: str = Field(max_length=64)
    sequence: int = 0
    stamped_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    rendered_from: str = Field(default="", sa_column=Column(String(64), nullable=False, server_default=""))
    vevent: bytes = Field(default=b"", sa_column=Column(LargeBinary, nullable=False, server_default=text("''")))


def token_of(feed: CalendarFeed, key: str) -> str:
    digest = hmac.new(key.encode(), f"calendar:{feed.nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def scope_of(program_id: int | None) -> str:
    return ALL if program_id is None else str(program_id)


def link(session: Session, *, user_id: str, program_id: int | None, key: str, now: datetime) -> str:
    """The person's token for the scope: the one issued before, or a new one. When the stored hash no longer
    matches (the key changed since), the feed is issued anew: its old URL could not be shown again anyway."""
    scope = scope_of(program_id)
    feed = session.exec(select(CalendarFeed).where(CalendarFeed.user_id == user_id,
                                                   CalendarFeed.scope == scope)).first()
    if feed is not None and hmac.compare_digest(feed.token_sha256, _sha256(token_of(feed, key))):
        return token_of(feed, key)
    if feed is not None:
        session.delete(feed)
        session.flush()
    return _issue(session, user_id=user_id, scope=scope, key=key, now=now)


def reset(session: Session, *, user_id: str, key: str, now: datetime, program_id: int | None) -> str:
    """Revoke every feed of the person (their own and the programs'), then issue the asked scope anew."""
    for feed in session.exec(select(CalendarFeed).where(CalendarFeed.user_id == user_id)):
        session.delete(feed)
    session.flush()
    return _issue(session, user_id=user_id, scope=scope_of(program_id), key=key, now=now)


def _issue(session: Session, *, user_id: str, scope: str, key: str, now: datetime) -> str:
    feed = CalendarFeed(user_id=user_id, scope=scope, nonce=secrets.token_hex(16), token_sha256="",
                        created_at=now)
    token = token_of(feed, key)
    feed.token_sha256 = _sha256(token)
    session.add(feed)
    session.flush()
    return token


def by_token(session: Session, token: str) -> CalendarFeed | None:
    return session.exec(select(CalendarFeed).where(CalendarFeed.token_sha256 == _sha256(token))).first()


def latest(session: Session, limit: int) -> list[CalendarFeed]:
    """The `limit` feeds issued most recently (those a restarted bot warms first)."""
    return list(session.exec(select(CalendarFeed).order_by(col(CalendarFeed.created_at).desc(),
                                                           col(CalendarFeed.id).desc()).limit(limit)))


@dataclass(frozen=True)
class Stamp:
    sequence: int
    stamped_at: datetime
    dates: str = field(compare=False)  # what they were stamped for (the ledger's, not part of the event)
    rendered_from: str = field(default="", compare=False)  # the digest of what `vevent` was rendered from
    vevent: bytes = field(default=b"", compare=False, repr=False)


def stamps(session: Session, events: Sequence[tuple[str, int, str]], now: datetime) -> dict[str, Stamp]:
    """SEQUENCE and DTSTAMP of each (uid, program id, dates), with the VEVENT the ledger keeps: new events start
    at 0, changed dates bump the sequence. Reads the ledger in one query; writes only what is new or changed,
    each kind in one statement, and reads back the stamps of the programs written to (another feed fetched at
    the same moment may have written them first)."""
    program_ids = sorted({program_id for _, program_id, _ in events})
    known = _ledger(session, program_ids, renderings=True)
    new = [{"uid": uid, "program_id": pid, "dates": dates, "sequence": 0, "stamped_at": now}
           for uid, pid, dates in events if uid not in known]
    changed = [(uid, dates) for uid, _, dates in events if uid in known and known[uid].dates != dates]
    if new:
        _insert_missing(session, new)
    if changed:
        _bump(session, changed, now)
    if new or changed:
        written = {uid for uid, _ in changed} | {row["uid"] for row in new}
        again = _ledger(session, sorted({pid for uid, pid, _ in events if uid in written}), renderings=False)
        known |= {uid: replace(stamp, rendered_from=known[uid].rendered_from, vevent=known[uid].vevent)
                  if uid in known else stamp for uid, stamp in again.items()}  # a rendering is of its stamp
    return known


def _ledger(session: Session, program_ids: Iterable[int], *, renderings: bool) -> dict[str, Stamp]:
    """The ledger's rows of the programs, with the renderings it keeps or without (an empty digest)."""
    ids = list(program_ids)
    if not ids:
        return {}
    texts = (CalendarSequence.rendered_from, CalendarSequence.vevent) if renderings else ()
    rows = session.exec(columns(CalendarSequence.uid, CalendarSequence.dates, CalendarSequence.sequence,
                                CalendarSequence.stamped_at, *texts)
                        .where(col(CalendarSequence.program_id).in_(ids)))
    return {uid: Stamp(sequence, stamped_at, dates, *kept) for uid, dates, sequence, stamped_at, *kept in rows}


def keep_renderings(session: Session, rendered: list[tuple[str, str, bytes]]) -> None:
    """Store each (uid, digest of what it was rendered from, VEVENT) in the ledger, in one statement."""
    if not rendered:
        return
    table = table_of(CalendarSequence)
    session.execute(update(table).where(table.c.uid == bindparam("event_uid"))
                    .values(rendered_from=bindparam("digest"), vevent=bindparam("text")),
                    [{"event_uid": uid, "digest": digest, "text": vevent} for uid, digest, vevent in rendered])


def _bump(session: Session, changed: list[tuple[str, str]], now: datetime) -> None:
    """One UPDATE for every event whose dates changed (executemany), each only if its dates still differ: a
    feed fetched at the same moment that bumped it already leaves it alone."""
    table = table_of(CalendarSequence)
    session.execute(update(table).where(table.c.uid == bindparam("event_uid"), table.c.dates != bindparam("new_dates"))
                    .values(dates=bindparam("new_dates"), sequence=table.c.sequence + 1, stamped_at=now),
                    [{"event_uid": uid, "new_dates": dates} for uid, dates in changed])


def _insert_missing(session: Session, rows: list[dict]) -> None:
    """INSERT … ON CONFLICT DO NOTHING: another feed fetched at the same moment may have added them."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    table = table_of(CalendarSequence)
    session.execute(dialect.insert(table).on_conflict_do_nothing(index_elements=["uid"]), rows)
