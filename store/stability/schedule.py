"""The pull schedule of a stability study: conditions, default time points, pull dates and windows.

Pure functions, no database. Every pull date is counted in calendar months from the placement (time
zero) date with `relativedelta`, never chained from the previous pull; a day that does not exist in the
target month falls on that month's last day (31 Jan + 1 month = 28/29 Feb, 31 Jan + 3 months = 30 Apr).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from dateutil.relativedelta import relativedelta

from store.errors import Invalid


class Kind(StrEnum):
    long_term = "long_term"
    intermediate = "intermediate"
    accelerated = "accelerated"


@dataclass(frozen=True)
class Condition:
    code: str
    label: str
    kind: Kind


# The ICH Q1A(R2) set (plus WHO zone IVb); customers may add their own (custom codes, long-term defaults).
ICH_CONDITIONS: tuple[Condition, ...] = (
    Condition("LT25", "25 °C / 60 % RH long term", Kind.long_term),
    Condition("LT30", "30 °C / 65 % RH long term", Kind.long_term),
    Condition("INT30", "30 °C / 65 % RH intermediate", Kind.intermediate),
    Condition("ACC40", "40 °C / 75 % RH accelerated", Kind.accelerated),
    Condition("REF5", "5 °C refrigerated", Kind.long_term),
    Condition("FRZ20", "-20 °C frozen", Kind.long_term),
    Condition("IVB30", "30 °C / 75 % RH zone IVb", Kind.long_term),
)
ICH_BY_CODE = {c.code: c for c in ICH_CONDITIONS}


class Storage(StrEnum):
    """How the product is stored long term: it decides how far ICH Q1E lets a shelf life be extrapolated."""

    room = "room temperature"
    refrigerated = "refrigerated"
    frozen = "frozen"


_TEMPERATURE = re.compile(r"(?<![\d.])(-?\d+(?:\.\d+)?)\s*°?\s*C(?![a-z])", re.IGNORECASE)


def storage_of(condition: Condition) -> Storage:
    """The storage of a condition from its temperature (label, then code): at or below -10 °C frozen, at or
    below 8 °C refrigerated (5 °C, 2–8 °C), room temperature otherwise; REF/FRZ codes without a temperature."""
    for text in (condition.label, condition.code):
        match = _TEMPERATURE.search(text.replace("\u2212", "-"))
        if match:
            celsius = float(match.group(1))
            return Storage.frozen if celsius <= -10 else Storage.refrigerated if celsius <= 8 else Storage.room
    code = condition.code.upper()
    if code.startswith("FRZ"):
        return Storage.frozen
    return Storage.refrigerated if code.startswith("REF") else Storage.room


CODE_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9/_-]{0,15}$")
MAX_MONTHS = 120


def condition_code(text: str) -> str:
    code = text.strip().upper()
    if not CODE_PATTERN.match(code):
        raise Invalid(f"{text[:20]!r} is not a condition code (letters, digits, / _ -, up to 16).", "conditions")
    return code


def default_time_points(kind: Kind, duration_months: int) -> list[int]:
    """ICH Q1A(R2): long term every 3 months in year one, every 6 in year two, yearly after (and the last
    month of the study); accelerated 0, 3, 6; intermediate 0, 6, 9, 12 — each cut at the duration."""
    if kind is Kind.accelerated:
        points = [0, 3, 6]
    elif kind is Kind.intermediate:
        points = [0, 6, 9, 12]
    else:
        points = [0, 3, 6, 9, 12, 18, 24] + list(range(36, duration_months + 1, 12))
        if duration_months not in points:
            points.append(duration_months)
    return sorted({p for p in points if p <= duration_months})


def pull_date(placed_on: date, months: int) -> date:
    """Calendar months from the placement date; relativedelta clamps to the target month's last day."""
    return placed_on + relativedelta(months=months)


@dataclass(frozen=True)
class Window:
    """Days before and after the pull date within which a pull is on time (both ends included)."""

    before: int
    after: int


# Common practice (no ICH text sets it): ±7 days up to 6 months, ±14 days for 9–24 months, ±30 beyond.
DEFAULT_WINDOWS: tuple[dict[str, int], ...] = (
    {"up_to": 6, "before": 7, "after": 7},
    {"up_to": 24, "before": 14, "after": 14},
    {"before": 30, "after": 30},
)


def window_rules(settings: Mapping[str, Any] | None, kind: Kind) -> list[Mapping[str, Any]]:
    """The program's rules (`settings["stability"]["windows"]`): a list for every condition, or a mapping
    from condition kind (`long_term`, `accelerated`, `intermediate`) or `default` to such a list."""
    configured = ((settings or {}).get("stability") or {}).get("windows")
    if isinstance(configured, Mapping):
        configured = configured.get(kind.value, configured.get("default"))
    return list(configured) if configured else list(DEFAULT_WINDOWS)


def window_for(months: int, rules: Iterable[Mapping[str, Any]]) -> Window:
    """The first rule whose `up_to` (months, inclusive) covers the time point; one without `up_to` covers all."""
    for rule in rules:
        up_to = rule.get("up_to")
        if up_to is None or months <= int(up_to):
            return Window(max(0, int(rule.get("before", 0))), max(0, int(rule.get("after", 0))))
    return Window(0, 0)


@dataclass(frozen=True)
class PlannedPull:
    condition: str
    months: int
    due_on: date
    opens_on: date
    closes_on: date


def plan(placed_on: date, time_points: Mapping[str, Iterable[int]], kinds: Mapping[str, Kind],
         settings: Mapping[str, Any] | None = None) -> list[PlannedPull]:
    """Every pull of a study, by date, then condition."""
    pulls = []
    for code, points in time_points.items():
        rules = window_rules(settings, kinds[code])
        for months in points:
            due = pull_date(placed_on, months)
            window = window_for(months, rules)
            opens = max(due - timedelta(days=window.before), placed_on)  # nothing is pulled before placement
            pulls.append(PlannedPull(code, months, due, opens, due + timedelta(days=window.after)))
    return sorted(pulls, key=lambda p: (p.due_on, p.condition, p.months))
