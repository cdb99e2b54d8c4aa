"""Every area's store-side parts, declared once, and the one list of areas that the collectors read.

An area (agreements, batches, stability, submissions) plugs into the shared machinery through one
`AreaParts`: its due rules (the sweep, scheduler/rules.py), its digest sections (store/digest.py), what
App Home shows (store/home.py), its tracker import kinds and its export sheets (its `store/<area>/tracker.py`, read
by store/onboarding/importing.py and store/onboarding/exporting.py, which are handed `KINDS` and `SHEETS` by their
callers). This module imports the area modules and the collectors import it; the area modules import neither,
so the graph stays acyclic.
The commands-side half (verbs, listeners, File-to-program targets) is commands/areas.py.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from sqlmodel import Session

from store.agreements import gaps as agreement_gaps
from store.agreements import rules as agreement_rules
from store.agreements import service as agreements
from store.agreements import tracker as agreements_tracker
from store.batches import release as batch_release
from store.batches import rules as batches_rules
from store.batches import tracker as batches_tracker
from store.health import HealthProvider, OwedProvider
from store.horizons import Horizon
from store.onboarding.exporting import Sheet
from store.onboarding.importing import Kind
from store.outbox import Due
from store.programs import Program
from store.stability import rules as stability_rules
from store.stability import tracker as stability_tracker
from store.submissions import rules as submission_rules
from store.submissions import service as submissions
from store.submissions import tracker as submissions_tracker


class Rule(Protocol):
    """(session, now) -> what should have been said by now; the sweep queues what is not yet in the outbox.
    `programs`: only about these program ids, read in SQL (the sweep's incremental pass); None, all of them."""

    def __call__(self, session: Session, now: datetime, programs: Collection[int] | None = None, /
                 ) -> Iterable[Due]: ...


# (session, [(program, its local today)]) -> each program's lines, by program id; one query or two for all.
Sections = Callable[[Session, Sequence[tuple[Program, date]]], dict[int, list[str]]]


@dataclass(frozen=True)
class AreaParts:
    """What one area hands the shared machinery; each tuple is read in the order of `AREAS`."""

    name: str
    due: tuple[Rule, ...] = ()
    horizons: tuple[tuple[Rule, Horizon], ...] = ()  # (a due rule, its horizon): store/horizons.py
    digest: tuple[Sections, ...] = ()
    owed: tuple[OwedProvider, ...] = ()
    health: tuple[HealthProvider, ...] = ()
    kinds: tuple[Kind, ...] = ()
    sheets: tuple[Sheet, ...] = ()


AREAS: tuple[AreaParts, ...] = (
    AreaParts(
        "agreements",
        due=(agreement_rules.due, agreement_gaps.due),
        horizons=((agreement_rules.due, agreement_rules.horizons), (agreement_gaps.due, agreement_gaps.horizons)),
        digest=(agreements.digest_sections,),
        owed=(agreement_rules.owed,),
        health=(agreement_rules.health,),
        kinds=(agreements_tracker.AGREEMENT_KIND,),
        sheets=agreements_tracker.AGREEMENT_SHEETS,
    ),
    AreaParts(
        "batches",
        due=(batches_rules.due,),
        horizons=((batches_rules.due, batches_rules.horizons),),
        digest=(batches_rules.digest_sections,),
        owed=(batches_rules.owed, batch_release.owed),
        health=(batches_rules.health,),
        kinds=(batches_tracker.BATCH_KIND,),
        sheets=batches_tracker.BATCH_SHEETS,
    ),
    AreaParts(
        "stability",
        due=(stability_rules.due,),
        horizons=((stability_rules.due, stability_rules.horizons),),
        digest=(stability_rules.digest_sections,),
        owed=(stability_rules.owed,),
        health=(stability_rules.health,),
        kinds=(stability_tracker.STUDY_KIND,),
        sheets=stability_tracker.STUDY_SHEETS,
    ),
    AreaParts(
        "submissions",
        due=(submission_rules.due,),
        horizons=((submission_rules.due, submission_rules.horizons),),
        digest=(submissions.digest_sections,),
        owed=(submission_rules.owed,),
        health=(submission_rules.health,),
        kinds=(submissions_tracker.SUBMISSION_KIND,),
        sheets=submissions_tracker.SUBMISSION_SHEETS,
    ),
)

DUE: tuple[Rule, ...] = tuple(rule for area in AREAS for rule in area.due)
HORIZONS: dict[Rule, Horizon] = {rule: horizon for area in AREAS for rule, horizon in area.horizons}
DIGEST: tuple[Sections, ...] = tuple(section for area in AREAS for section in area.digest)
OWED: tuple[OwedProvider, ...] = tuple(provider for area in AREAS for provider in area.owed)
HEALTH: tuple[HealthProvider, ...] = tuple(provider for area in AREAS for provider in area.health)
KINDS: tuple[Kind, ...] = tuple(kind for area in AREAS for kind in area.kinds)
SHEETS: tuple[Sheet, ...] = tuple(sheet for area in AREAS for sheet in area.sheets)
