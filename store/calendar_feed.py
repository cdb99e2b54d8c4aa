"""One feed, from its token to the calendar's bytes: the person's scope, their events, each event's
SEQUENCE, rendered with `store.ical.feed`. The HTTP side (ETag, 304, rate limit) is `bot.calendar_route`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from store import feed_events, feeds, ical


@dataclass(frozen=True)
class Rendered:
    feed_id: int
    user_id: str
    events: int
    body: bytes


def render(session: Session, token: str, now: datetime) -> Rendered | None:
    """The feed of `token`, or None for a token nobody holds (revoked or never issued)."""
    feed = feeds.by_token(session, token)
    if feed is None:
        return None
    visible = feed_events.scope(session, feed.user_id, feed.program_id)
    found = feed_events.events(session, feed.user_id, visible, now)
    stamps = feeds.stamps(session, [(e.uid, e.program.id, e.dates) for e in found], now)
    if feed.program_id is None:
        name = "CMO deadlines (cmo-bot)"
    else:
        program = visible.programs.get(feed.program_id)
        name = f"CMO deadlines: {program.code if program else 'no program'} (cmo-bot)"
    body = ical.feed(name=name, events=found, stamps=stamps)
    return Rendered(feed.id or 0, feed.user_id, len(found), body)
