"""What App Home shows a person: what they owe today (from each area) and, for managers and admins, a
health line per program. Areas contribute providers; queries are bulk (one per area, not per program)."""

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

from store import (  # noqa: E402  (the areas' providers import Owed and Health)
    agreements_home,
    batch_release,
    batches_rules,
    stability_rules,
    submissions,
)

OWED: tuple[OwedProvider, ...] = (
    agreements_home.owed,
    batches_rules.owed,
    batch_release.owed,
    stability_rules.owed,
    submissions.home_owed,
)
HEALTH: tuple[HealthProvider, ...] = (
    agreements_home.health,
    batches_rules.health,
    stability_rules.health,
    submissions.home_health,
)


def owed(session: Session, user_id: str, programs: list[Program], now: datetime) -> list[Owed]:
    items = [item for provider in OWED for item in provider(session, user_id, programs, now)]
    return sorted(items, key=lambda i: (i.rank, i.program_code, i.text))


def health(session: Session, programs: list[Program], now: datetime) -> Health:
    result = Health()
    for provider in HEALTH:
        provider(session, programs, now, result)
    return result
