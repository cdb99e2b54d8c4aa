"""Business days: weekends and the program's holiday calendar (from the maintained `holidays` library).

A program's `holiday_calendar` is a country code with an optional subdivision (`US`, `GB`, `DE-BY`);
an empty one means weekends only.

The calendar objects are shared by every thread and fill each year lazily on first look-up (the library marks
the year as loaded before it has loaded it), so every look-up holds one lock: a thread never reads "business
day" for a holiday while another is loading that year.
"""

from __future__ import annotations

import threading
from datetime import date, timedelta
from functools import lru_cache

import holidays as holiday_lib


@lru_cache(maxsize=64)
def _calendar(code: str) -> holiday_lib.HolidayBase | None:
    if not code:
        return None
    country, _, subdiv = code.partition("-")
    return holiday_lib.country_holidays(country, subdiv=subdiv or None)


_LOOKUP = threading.Lock()


def holiday_name(day: date, calendar: str = "") -> str | None:
    holidays = _calendar(calendar)
    if holidays is None:
        return None
    with _LOOKUP:
        return holidays.get(day)


def is_business_day(day: date, calendar: str = "") -> bool:
    return day.weekday() < 5 and holiday_name(day, calendar) is None


def add_business_days(start: date, count: int, calendar: str = "") -> date:
    """The day `count` business days after `start` (before it when negative); `start` itself is not counted."""
    step = 1 if count >= 0 else -1
    day, left = start, abs(count)
    while left:
        day += timedelta(days=step)
        if is_business_day(day, calendar):
            left -= 1
    return day


def business_days_between(start: date, end: date, calendar: str = "") -> int:
    """Business days after `start` up to and including `end` (negative when `end` is earlier)."""
    if end < start:
        return -business_days_between(end, start, calendar)
    return sum(is_business_day(start + timedelta(days=i), calendar) for i in range(1, (end - start).days + 1))
