"""iCalendar (RFC 5545) invitations and subscribed feeds, built with the `icalendar` library.

The event's start carries its IANA time zone (`DTSTART;TZID=America/New_York:…`) and the calendar the
matching VTIMEZONE, so a calendar shows the meeting at the right local time on either side of a DST change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from functools import lru_cache

from icalendar import Calendar, Event, Timezone

from store.feed_events import FeedEvent
from store.feeds import Stamp

PRODID = "-//cmo-bot//batch record review//EN"
FEED_PRODID = "-//cmo-bot//deadlines feed//EN"
ZONE_RULES_FROM, ZONE_RULES_UNTIL = date(2000, 1, 1), date(2060, 1, 1)  # the VTIMEZONE transitions written


def invitation(*, uid: str, starts: datetime, minutes: int, summary: str, description: str, stamp: datetime,
               organizer: str | None = None) -> bytes:
    """One event; `starts` must be aware in the zone the participants should see (the program's)."""
    if starts.tzinfo is None:
        raise ValueError("an invitation needs an aware start time")
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp)
    event.add("dtstart", starts)
    event.add("dtend", starts + timedelta(minutes=minutes))
    event.add("summary", summary)
    event.add("description", description)
    if organizer:
        event.add("organizer", organizer)
    calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar.to_ical()


def feed(*, name: str, zones: Iterable[str], parts: Iterable[bytes]) -> bytes:
    """A subscribed calendar (no METHOD: a feed is published, not sent) from its events already rendered
    (`event`), with a VTIMEZONE for each of `zones` (those of its timed events).

    Why the calendar is joined from parts: `icalendar` takes about half a millisecond per event, and a feed of
    hundreds of programs holds tens of thousands. Each VEVENT is rendered once per content (`event`; the
    SEQUENCE ledger keeps it), each calendar head with its VTIMEZONEs once per name and zones (`_head`), and a
    feed is those bytes in order, then END:VCALENDAR."""
    return b"".join([_head(name, tuple(sorted(set(zones)))), *parts, END])


def zone_of(item: FeedEvent) -> str | None:
    """The time zone of a timed event (it needs its VTIMEZONE in the calendar); None for an all-day one."""
    return str(item.start.tzinfo) if isinstance(item.start, datetime) else None


END = b"END:VCALENDAR\r\n"


@lru_cache(maxsize=256)
def _head(name: str, zones: tuple[str, ...]) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", FEED_PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    calendar.add("name", name)
    calendar.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT1H")
    for tzid in zones:
        calendar.add_component(Timezone.from_tzid(tzid, first_date=ZONE_RULES_FROM, last_date=ZONE_RULES_UNTIL))
    whole = calendar.to_ical()
    if not whole.endswith(END):
        raise ValueError("icalendar did not end the calendar with END:VCALENDAR")
    return whole.removesuffix(END)


EVENT_FORM = "1"  # raise it whenever `event` renders differently: the VEVENTs kept in the ledger are then stale


def rendered_from(item: FeedEvent, stamp: Stamp) -> str:
    """A digest of everything `event` renders: equal digests, equal VEVENTs (so a kept one can be served)."""
    parts = (EVENT_FORM, item.uid, item.summary, item.details, item.start.isoformat(), item.end.isoformat(),
             zone_of(item) or "", item.program.channel_url or "", item.program.code, str(stamp.sequence),
             stamp.stamped_at.isoformat())
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def event(item: FeedEvent, stamp: Stamp) -> bytes:
    """One VEVENT of a feed. Its SEQUENCE and DTSTAMP come from the ledger (`store.feeds.stamps`), so the same
    record renders the same bytes."""
    event = Event()
    event.add("uid", item.uid)
    event.add("dtstamp", stamp.stamped_at)
    event.add("sequence", stamp.sequence)
    event.add("dtstart", item.start)
    event.add("dtend", item.end)
    event.add("summary", item.summary)
    event.add("description", item.details)
    if item.program.channel_url:
        event.add("url", item.program.channel_url)
    event.add("categories", [item.program.code])
    event.add("transp", "TRANSPARENT")
    return event.to_ical()
