"""Horizons: for a due rule, each program's first local day after today on which the rule's answer about it may
differ with its records unchanged (a reminder's day, a window's opening, the next digest period). The scheduler
brings a program round at its midnight only when that day has come (scheduler/sweep.py); so a rule's horizon
function must name, for every program whose answer some day may change, a day no later than the first such day
(earlier only costs a pass), and may leave out a program no day changes. Each is a sibling of its rule, reading
the same records (their dates only), in a statement or two for all the programs asked about.

"The answer" is the messages' keys and recipients: a message already queued is never reworded (the sweep
inserts what it does not hold, by key), so a text counting days ("3 days late") changes nothing once queued."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, datetime
from typing import Protocol

from sqlmodel import Session

from store.programs import Program


class Horizon(Protocol):
    """(session, now, programs, active) -> by program id, a local day on or before the first after today on which
    the rule's answer may change. `programs`: the ids asked about, to restrict its queries with (None: every
    active program); `active`: those programs (the active ones), read once by the sweep for every rule."""

    def __call__(self, session: Session, now: datetime, programs: Collection[int] | None,
                 active: Mapping[int, Program], /) -> dict[int, date]: ...


def note(found: dict[int, date], program_id: int, today: date, *days: date) -> None:
    """Keep in `found` the earliest of `days` after `today` for the program (and of what it held)."""
    later = [d for d in days if d > today]
    if program_id in found:
        later.append(found[program_id])
    if later:
        found[program_id] = min(later)
