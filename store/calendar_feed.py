"""One feed, from its token to the calendar's bytes: the person's scope, their events, each event's
SEQUENCE, rendered with `store.ical.feed`. The HTTP side (ETag, 304, rate limit) is `bot.calendar_route`.

A feed of hundreds of programs takes seconds to gather and render, so a rendered feed is kept in the process
(`FeedCache`) for as long as it cannot have changed: nothing was recorded since (the audit trail's head, which
every change to a record moves) and it is still the same day in each of its programs' time zones.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from sqlmodel import Session

from store import feed_events, feeds, ical
from store.audit import AuditHead


@dataclass
class Rendered:
    feed_id: int
    user_id: str
    events: int
    body: bytes

    @cached_property
    def etag(self) -> str:
        return f'"{hashlib.sha256(self.body).hexdigest()[:32]}"'


@dataclass
class FeedCache:
    """The last rendering of up to `size` feeds (by their token's hash: a new token never meets an old
    rendering), each with the state it was rendered in."""

    size: int = 200
    _kept: OrderedDict[str, tuple[tuple, Rendered]] = field(default_factory=OrderedDict)

    def get(self, key: str, state: tuple) -> Rendered | None:
        kept = self._kept.get(key)
        if kept is None or kept[0] != state:
            return None
        self._kept.move_to_end(key)
        return kept[1]

    def put(self, key: str, state: tuple, rendered: Rendered) -> None:
        self._kept[key] = (state, rendered)
        self._kept.move_to_end(key)
        while len(self._kept) > self.size:
            self._kept.popitem(last=False)


def render(session: Session, token: str, now: datetime, cache: FeedCache | None = None) -> Rendered | None:
    """The feed of `token`, or None for a token nobody holds (revoked or never issued)."""
    feed = feeds.by_token(session, token)
    if feed is None or feed.id is None:
        return None
    visible = feed_events.scope(session, feed.user_id, feed.program_id)
    head = session.get(AuditHead, 1)
    state = (feed.user_id, head.seq if head else 0, now.date(), tuple(sorted(visible.programs)),
             tuple(sorted({now.astimezone(w.tz).date() for w in visible.programs.values()})))
    kept = cache.get(feed.token_sha256, state) if cache is not None else None
    if kept is not None:
        return kept
    found = feed_events.events(session, feed.user_id, visible, now)
    stamps = feeds.stamps(session, [(e.uid, e.program.id, e.dates) for e in found], now)
    if feed.program_id is None:
        name = "CMO deadlines (cmo-bot)"
    else:
        program = visible.programs.get(feed.program_id)
        name = f"CMO deadlines: {program.code if program else 'no program'} (cmo-bot)"
    rendered = Rendered(feed.id, feed.user_id, len(found), ical.feed(name=name, events=found, stamps=stamps))
    if cache is not None:
        cache.put(feed.token_sha256, state, rendered)
    return rendered
