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


@lru_cache(maxsize=65_536)
def is_business_day(day: date, calendar: str = "") -> bool:
    """Kept per (day, calendar): a calendar's holidays do not change while the process runs, and a sweep asks
    about the same few hundred days for thousands of records."""
    return day.weekday() < 5 and holiday_name(day, calendar) is None


@lru_cache(maxsize=65_536)
def add_business_days(start: date, count: int, calendar: str = "") -> date:
    """The day `count` business days after `start` (before it when negative); `start` itself is not counted.
    Kept per arguments, like `is_business_day`: records share due dates, so a sweep repeats the same sums."""
    step = 1 if count >= 0 else -1
    day, left = start, abs(count)
    while left:
        day += timedelta(days=step)
        if is_business_day(day, calendar):
            left -= 1
    return day


@lru_cache(maxsize=65_536)
def business_days_between(start: date, end: date, calendar: str = "") -> int:
    """Business days after `start` up to and including `end` (negative when `end` is earlier): the weekdays,
    counted by arithmetic, less the weekday holidays among them (a review months old costs no more than a
    fresh one: views count this for every open batch of a portfolio). Kept per arguments like the two above:
    a full sweep pass asks it about the same (day, due day) pairs for thousands of records."""
    if end < start:
        return -business_days_between(end, start, calendar)
    off = sum(start < holiday <= end for year in range(start.year, end.year + 1)
              for holiday in _weekday_holidays(calendar, year))
    return _weekdays_through(end) - _weekdays_through(start) - off


def _weekdays_through(day: date) -> int:
    """Weekdays from 1 January of year 1 (a Monday) up to and including `day`."""
    weeks, days = divmod(day.toordinal(), 7)
    return 5 * weeks + min(days, 5)


@lru_cache(maxsize=1024)
def _weekday_holidays(calendar: str, year: int) -> frozenset[date]:
    """The calendar's holidays of `year` that fall on a weekday, from an instance of that year alone (the
    shared lazy one is not iterated)."""
    if not calendar:
        return frozenset()
    country, _, subdiv = calendar.partition("-")
    return frozenset(d for d in holiday_lib.country_holidays(country, subdiv=subdiv or None, years=year)
                     if d.weekday() < 5)
