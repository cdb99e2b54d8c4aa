"""What the submissions area imports from a CMO's tracker spreadsheet and exports for auditors.

Imported: one row per submission (title, type, filing date, customer contact), each created through
`store.submissions.service`, its checklist built from the type's template. Exported: the submissions, their
checklist items and the documents handed in for them with each one's SHA-256. Declared in store/areas.py;
built from store/onboarding/kinds.py.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from store.audit import Actor
from store.onboarding import exporting
from store.onboarding.exporting import Sheet, model_table
from store.onboarding.importing import Column, Row, Words
from store.onboarding.kinds import child_sheet, kind, records_sheet
from store.programs import Program
from store.submissions import service as submission_store

SUBMISSION_TYPES = Words({
    "fda_510k": ("510(k)", "510k", "fda 510k", "fda 510(k)", "premarket notification"),
    "dmf_type_ii": ("DMF type II", "dmf", "type ii dmf", "drug master file", "dmf ii"),
    "eu_mdr_td": ("EU MDR technical documentation", "eu mdr", "mdr", "technical documentation",
                  "mdr technical documentation", "eu mdr td"),
    "ctd_module3": ("CTD module 3", "module 3", "m3", "ctd m3", "anda", "nda", "anda/nda module 3", "cmc"),
    "other": ("other", "other submission"),
})


def _submission_key(row: Row) -> tuple:
    return row["type"], row["title"].casefold()


def _submission_find(session: Session, program: Program, row: Row) -> str | None:
    key = _submission_key(row)
    found = next((s for s in submission_store.of_program(session, program)
                  if (str(s.kind), s.title.casefold()) == key), None)
    return found.ref if found else None


def _submission_create(session: Session, program: Program, row: Row, actor: Actor, now: datetime) -> str:
    made = submission_store.create(session, program=program, actor=actor, now=now,
                                   kind=row["type"], title=row["title"],
                                   filing_date=row["filing_date"], customer_contact=row["contact"] or "")
    return made.ref


SUBMISSION_KIND = kind(
    "submissions", "submission",
    (
        Column("title", "Title", ("submission", "submission title", "name"), required=True),
        Column("type", "Type", ("submission type", "filing type", "kind", "pathway", "regulatory pathway"),
               required=True, choices=SUBMISSION_TYPES),
        Column("filing_date", "Filing date", ("target filing date", "submission date", "target date", "file by",
                                              "filing"), type="date", required=True),
        Column("contact", "Customer contact", ("contact", "customer contact", "ra contact")),
    ),
    key=_submission_key,
    describe=lambda row: f"{SUBMISSION_TYPES.names[row['type']]} {row['title']}",
    find=_submission_find, create=_submission_create, audit_id=lambda program, ref: f"{program.code}/{ref}",
    summary="one row per submission: title, type, filing date (its checklist comes from the type's template)",
)


def _submission_files(session: Session, programs: dict[int, Program]) -> exporting.Table:
    """Documents handed in for checklist items, with the SHA-256 each was filed with (one query)."""
    query = (select(submission_store.SubmissionFile, submission_store.Submission.program_id)
             .join(submission_store.SubmissionItem,
                   col(submission_store.SubmissionItem.id) == submission_store.SubmissionFile.item_id)
             .join(submission_store.Submission,
                   col(submission_store.Submission.id) == submission_store.SubmissionItem.submission_id)
             .where(col(submission_store.Submission.program_id).in_(list(programs)))
             .order_by(col(submission_store.Submission.program_id), col(submission_store.SubmissionFile.id)))
    pairs = list(session.exec(query))
    owner = {id(record): program_id for record, program_id in pairs}
    return model_table("Submission files", submission_store.SubmissionFile, [r for r, _ in pairs], programs,
                       program_of=lambda r: owner[id(r)])


SUBMISSION_SHEETS = (
    records_sheet("Submissions", submission_store.Submission),
    child_sheet("Submission items", submission_store.SubmissionItem, submission_store.Submission, "submission_id"),
    Sheet("Submission files", _submission_files),
)
