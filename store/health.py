"""What an area hands to App Home and the digest: the things a person owes (`Owed`) and the fragments of each
program's health line (`Health`), with the shapes of the providers that produce them.

These types sit below both sides: the areas import them to build their providers, store/areas.py imports
the areas to declare those providers, and the collector (store/home.py) reads that declaration, so nothing
imports in a circle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlmodel import Session

from store.outbox import Button
from store.programs import Program


@dataclass(frozen=True)
class Owed:
    """One thing a person should act on. Lower `rank` is more urgent (e.g. days until due; overdue < 0)."""

    program_code: str
    rank: float
    text: str
    buttons: tuple[Button, ...] = ()


@dataclass
class Health:
    """Fragments of each program's one-line health, by program id, plus its next deadline."""

    fragments: dict[int, list[str]] = field(default_factory=dict)
    deadlines: dict[int, date] = field(default_factory=dict)

    def add(self, program_id: int, text: str, deadline: date | None = None) -> None:
        self.fragments.setdefault(program_id, []).append(text)
        if deadline and (program_id not in self.deadlines or deadline < self.deadlines[program_id]):
            self.deadlines[program_id] = deadline


# (session, user_id, programs the user may see (internal members only), now) -> items they owe
OwedProvider = Callable[[Session, str, list[Program], datetime], list[Owed]]
# (session, programs, now, health) -> adds fragments for those programs
HealthProvider = Callable[[Session, list[Program], datetime, Health], None]
