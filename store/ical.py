"""iCalendar (RFC 5545) invitations, built with the `icalendar` library.

The event's start carries its IANA time zone (`DTSTART;TZID=America/New_York:…`) and the calendar the
matching VTIMEZONE, so a calendar shows the meeting at the right local time on either side of a DST change.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from icalendar import Calendar, Event

PRODID = "-//cmo-bot//batch record review//EN"


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
