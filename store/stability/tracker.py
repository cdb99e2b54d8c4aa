"""What the stability area imports from a CMO's tracker spreadsheet and exports for auditors.

Imported: one row per study (study, product, placed on, duration, conditions), each created through
`store.stability.service`, so its pulls are scheduled from the conditions as for a study made in Slack.
Exported: the studies, their pulls and their results. Declared in store/areas.py; built from
store/onboarding/kinds.py.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlmodel import Session

from store.audit import Actor
from store.db import pk
from store.errors import Invalid
from store.onboarding.importing import Column, Row
from store.onboarding.kinds import child_sheet, kind, records_sheet
from store.programs import Program
from store.stability import notation as stability_notation
from store.stability import service as stability_store


def conditions_of(text: str) -> list:
    """`25°C/60%RH; 40/75`, `LT25, ACC40`, `30/65 intermediate` → the study's conditions
    (each read by `store.stability.notation`, as everywhere else a condition is read)."""
    chosen = []
    for part in re.split(r"[;,+\n]|\band\b", text):
        if part.strip():
            try:
                chosen.append(stability_notation.ich_condition(part).code)
            except Invalid as exc:
                raise Invalid(f"{exc}; create studies on other conditions in Slack") from None
    return stability_store.parse_conditions(chosen, None)


def _study_create(session: Session, program: Program, row: Row, actor: Actor, now: datetime) -> str:
    study = stability_store.create_study(
        session, program=program, actor=actor, now=now, code=row["study"], product=row["product"],
        placed_on=row["placed_on"], duration_months=row["duration"], conditions=conditions_of(row["conditions"]),
        lots=row["lots"] or "", protocol=row["protocol"] or "")
    return study.code


def _study_find(session: Session, program: Program, row: Row) -> str | None:
    found = stability_store.get_study(session, pk(program), row["study"], missing_ok=True)
    return found.code if found else None


STUDY_KIND = kind(
    "stability", "stability_study",
    (
        Column("study", "Study", ("study id", "study code", "study no", "study number", "stability study"),
               required=True),
        Column("product", "Product", ("product name", "material"), required=True),
        Column("placed_on", "Placed on", ("placement date", "time zero", "t0", "t0 date", "start date",
                                          "set down date", "initiation date", "placed"), type="date", required=True),
        Column("duration", "Duration (months)", ("duration", "months", "study length", "length", "duration months"),
               type="int", required=True),
        Column("conditions", "Conditions", ("storage conditions", "storage condition", "condition"), required=True),
        Column("lots", "Lots", ("lot", "lot numbers", "batches", "batch", "batch numbers")),
        Column("protocol", "Protocol", ("protocol number", "protocol no", "protocol id")),
    ),
    key=lambda row: (stability_store.validate_study_code(row["study"]),),
    describe=lambda row: f"study {row['study']}",
    find=_study_find, create=_study_create,
    summary="one row per study: study, product, placed on, duration, conditions (pulls are scheduled from them)",
)
STUDY_SHEETS = (
    records_sheet("Stability studies", stability_store.StabilityStudy),
    records_sheet("Stability pulls", stability_store.StabilityPull),
    child_sheet("Stability results", stability_store.StabilityResult, stability_store.StabilityStudy, "study_id"),
)
