"""iCalendar (RFC 5545) invitations and subscribed feeds, built with the `icalendar` library.

The event's start carries its IANA time zone (`DTSTART;TZID=America/New_York:…`) and the calendar the
matching VTIMEZONE, so a calendar shows the meeting at the right local time on either side of a DST change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from icalendar import Calendar, Event

from store.feed_events import FeedEvent
from store.feeds import Stamp

PRODID = "-//cmo-bot//batch record review//EN"
FEED_PRODID = "-//cmo-bot//deadlines feed//EN"


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


def feed(*, name: str, events: Sequence[FeedEvent], stamps: Mapping[str, Stamp]) -> bytes:
    """A subscribed calendar (no METHOD: RFC 7986 feeds are published, not sent). Every event's SEQUENCE
    and DTSTAMP come from the ledger (`store.feeds.stamps`), so the same records render the same bytes."""
    calendar = Calendar()
    calendar.add("prodid", FEED_PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    calendar.add("name", name)
    calendar.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT1H")
    for item in events:
        stamp = stamps[item.uid]
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
        calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar.to_ical()
