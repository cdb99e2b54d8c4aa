"""One feed, from its token to the calendar's bytes: the person's scope, their events, each event's
SEQUENCE, rendered with `store.ical`. The HTTP side (ETag, 304, rate limit) is `bot.calendar_route`.

A feed of hundreds of programs holds tens of thousands of events: gathering and rendering them all takes
seconds, so a feed is kept in the process (`FeedCache`) one part per program — each event's rendered bytes
with its days, gathered for a month more than the window on either side — and the feed is the events of its
parts that fall in the window. A fetch gathers again only the programs whose events may have changed since
their part was gathered:
- a program named by an audit row appended since (every change to a record writes one, with its program);
  an audit row that names no program gathers every part again;
- a program whose part was gathered for something else: what the person may see there, or the program as
  its events name it (code, customer, channel, time zone);
- a program whose part no longer covers the window (once a month).
Where time alone changed an event (a planned pull whose window closed is missed the next day, in the
program's zone), the part derives that event again from what it gathered, without a query.
Whatever the number of programs, a fetch runs the same few statements: one query per kind of record for all
the programs gathered again (`store.feed_events`), and the SEQUENCE ledger read and written in bulk.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import cached_property

from sqlmodel import Session, select

from store import feed_events, feeds, ical
from store.audit import AuditEntry, AuditHead
from store.feed_events import FeedEvent, Scope
from store.feeds import Stamp


@dataclass
class Rendered:
    feed_id: int
    user_id: str
    events: int
    body: bytes

    @cached_property
    def etag(self) -> str:
        return f'"{hashlib.sha256(self.body).hexdigest()[:32]}"'


MARGIN = timedelta(days=31)  # gathered beyond the window on either side: a part serves a month of days


@dataclass(frozen=True)
class Part:
    """One program's events in a feed: each as (first day, day after its last, time zone if timed, VEVENT
    bytes), in order; what they were gathered for (`_part_key`), the days gathered, and the events that time
    alone will change (by their place in `events`, with their stamps)."""

    key: tuple
    events: tuple[tuple[date, date, str | None, bytes], ...]
    reach: tuple[date, date]
    changing: tuple[tuple[int, FeedEvent, Stamp], ...]

    def serves(self, key: tuple, since: date, until: date) -> bool:
        return key == self.key and self.reach[0] <= since and until <= self.reach[1]

    @property
    def stale_from(self) -> date | None:
        """The first day (in the program's zone) on which time alone has changed one of its events."""
        return min((item.changes_on for _, item, _ in self.changing if item.changes_on), default=None)

    def on(self, today: date, renderings: list[tuple[str, str, bytes]]) -> Part:
        """The part as it shows on `today`: each event time alone changed since is derived again from what
        was gathered and rendered again (no query; the new renderings are added to `renderings`)."""
        events, changing = list(self.events), []
        for place, item, stamp in self.changing:
            if item.changes_on is not None and today >= item.changes_on and item.on is not None:
                item = item.on(today)
                vevent = ical.event(item, stamp)
                renderings.append((item.uid, ical.rendered_from(item, stamp), vevent))
                events[place] = (item.first_day, item.end_day, ical.zone_of(item), vevent)
            if item.changes_on is not None:
                changing.append((place, item, stamp))
        return replace(self, events=tuple(events), changing=tuple(changing))


@dataclass
class Kept:
    """A feed as last rendered: as of which window and audit row, its parts by program, and the whole."""

    window: tuple[date, date]
    seq: int
    name: str
    parts: dict[int, Part]
    rendered: Rendered


@dataclass
class FeedCache:
    """The last rendering of up to `size` feeds (by their token's hash: a new token never meets an old
    rendering). Shared by the server's threads and the warm-up (`bot.calendar_route.warm`), hence the lock."""

    size: int = 200
    _kept: OrderedDict[str, Kept] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: str) -> Kept | None:
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                self._kept.move_to_end(key)
            return kept

    def put(self, key: str, kept: Kept) -> None:
        with self._lock:
            self._kept[key] = kept
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
    seq = head.seq if head else 0
    kept = cache.get(feed.token_sha256) if cache is not None else None
    changed = _changed_programs(session, kept.seq, seq) if kept is not None else None
    since, until = window = feed_events.window(now)
    keys = {pid: _part_key(visible, pid) for pid in visible.programs}
    parts = {pid: kept.parts[pid] for pid in keys
             if kept is not None and changed is not None and pid not in changed and pid in kept.parts
             and kept.parts[pid].serves(keys[pid], since, until)}
    today = {pid: now.astimezone(where.tz).date() for pid, where in visible.programs.items()}
    aging = [pid for pid, part in parts.items() if part.stale_from is not None and today[pid] >= part.stale_from]
    name = _name(feed.program_id, visible)
    if (kept is not None and not aging and len(parts) == len(kept.parts) == len(keys) and name == kept.name
            and window == kept.window):
        kept.seq = seq
        return kept.rendered
    renderings: list[tuple[str, str, bytes]] = []
    parts |= {pid: parts[pid].on(today[pid], renderings) for pid in aging}
    feeds.keep_renderings(session, renderings)
    stale = visible.only(pid for pid in keys if pid not in parts)
    parts.update(_parts(session, feed.user_id, stale, now, keys))
    order = sorted(parts, key=lambda pid: (visible.programs[pid].code, pid))
    held = [(zone, vevent) for pid in order for first, end, zone, vevent in parts[pid].events
            if end > since and first <= until]
    body = ical.feed(name=name, zones={zone for zone, _ in held if zone}, parts=(vevent for _, vevent in held))
    rendered = Rendered(feed.id, feed.user_id, len(held), body)
    if cache is not None:
        cache.put(feed.token_sha256, Kept(window, seq, name, parts, rendered))
    return rendered


def _name(program_id: int | None, visible: Scope) -> str:
    if program_id is None:
        return "CMO deadlines (cmo-bot)"
    program = visible.programs.get(program_id)
    return f"CMO deadlines: {program.code if program else 'no program'} (cmo-bot)"


def _part_key(visible: Scope, program_id: int) -> tuple:
    return (visible.programs[program_id], visible.sees(program_id))


def _changed_programs(session: Session, since: int, seq: int) -> set[int] | None:
    """The programs named by the audit rows after `since` (None: some row names no program, so any may have
    changed). One query, however many rows and programs."""
    if seq == since:
        return set()
    named = set(session.exec(select(AuditEntry.program_id).where(AuditEntry.seq > since).distinct()))
    return None if None in named else {program_id for program_id in named if program_id is not None}


def _parts(session: Session, user_id: str, stale: Scope, now: datetime, keys: dict[int, tuple]) -> dict[int, Part]:
    """The parts of the programs of `stale`, gathered and stamped together (a program without events gets an
    empty part, kept like the others)."""
    since, until = feed_events.window(now)
    reach = (since - MARGIN, until + MARGIN)
    found = feed_events.events(session, user_id, stale, now, reach) if stale.programs else []
    stamps = feeds.stamps(session, [(e.uid, e.program.id, e.dates) for e in found], now)
    by_program: dict[int, list[FeedEvent]] = {pid: [] for pid in stale.programs}
    for event in found:
        by_program[event.program.id].append(event)
    rendered = []  # VEVENTs the ledger does not hold as they are now, rendered and kept there
    vevents = {}
    for e in found:
        stamp = stamps[e.uid]
        digest = ical.rendered_from(e, stamp)
        if stamp.rendered_from != digest:
            rendered.append((e.uid, digest, ical.event(e, stamp)))
            vevents[e.uid] = rendered[-1][2]
        else:
            vevents[e.uid] = stamp.vevent
    feeds.keep_renderings(session, rendered)
    return {pid: Part(keys[pid], tuple((e.first_day, e.end_day, ical.zone_of(e), vevents[e.uid]) for e in held),
                      reach, tuple((place, e, stamps[e.uid]) for place, e in enumerate(held) if e.changes_on))
            for pid, held in by_program.items()}
