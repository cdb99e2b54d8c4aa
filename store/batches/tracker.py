"""What the batches area imports from a CMO's tracker spreadsheet and exports for auditors.

Imported: one row per batch record under review (batch, product, release by, status), each made ready
through `store.batches.service`, on hold or rejected as the tracker says; an approved batch is refused (its
approval needs a signature). Exported: the batches, their signatures and their review calls. Declared in
store/areas.py; built from store/onboarding/kinds.py.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from store.audit import Actor
from store.batches import service as batch_store
from store.errors import Invalid
from store.onboarding.importing import Column, Row, Words
from store.onboarding.kinds import child_sheet, kind, records_sheet
from store.programs import Program

BATCH_STATUSES = Words({
    "awaiting": ("awaiting review", "in review", "under review", "pending", "pending review", "open", "ready",
                 "ready for review"),
    "on_hold": ("on hold", "hold", "held", "questions", "query", "queries"),
    "rejected": ("rejected", "refused"),
    "approved": ("approved", "released", "signed off"),
})


def _batch_find(session: Session, program: Program, row: Row) -> str | None:
    found = session.exec(select(batch_store.Batch).where(
        batch_store.Batch.program_id == program.id,
        batch_store.Batch.batch_no == batch_store.validate_batch_no(row["batch_no"]))).first()
    return found.batch_no if found else None


def _batch_create(session: Session, program: Program, row: Row, actor: Actor, now: datetime) -> str:
    status = row["status"] or "awaiting"
    if status == "approved":
        raise Invalid("an approved batch is not imported: its approval needs the approver's signature, which a "
                      "spreadsheet cannot give (keep it in the old records)")
    batch = batch_store.ready(session, program, batch_no=row["batch_no"], product=row["product"] or "",
                              release_by=row["release_by"], actor=actor, now=now,
                              released_elsewhere=True)  # the old tracker's rows are already with the customer
    if status == "on_hold":
        batch_store.hold(session, program, batch.batch_no, reason=row["reason"] or "", actor=actor, now=now)
    elif status == "rejected":
        # a rejection the old tracker already holds: recorded, not signed again (no segregation check)
        batch_store.reject(session, program, batch.batch_no, reason=row["reason"] or "", actor=actor, now=now,
                           historic=True)
    return batch.batch_no


BATCH_KIND = kind(
    "batches", "batch",
    (
        Column("batch_no", "Batch", ("batch no", "batch number", "batch id", "batch #", "lot", "lot no", "lot number",
                                     "batch record"), required=True),
        Column("product", "Product", ("product name", "material", "item", "description")),
        Column("release_by", "Release by", ("release date", "target release", "release due", "needed by",
                                            "target release date", "due date"), type="date"),
        Column("status", "Status", ("review status", "state", "brr status"), choices=BATCH_STATUSES),
        Column("reason", "Reason", ("hold reason", "rejection reason", "comments", "comment", "notes")),
    ),
    key=lambda row: (batch_store.validate_batch_no(row["batch_no"]),),
    describe=lambda row: f"batch {row['batch_no']}",
    find=_batch_find, create=_batch_create,
    summary="one row per batch record under review: batch, product, release by, status",
)
BATCH_SHEETS = (
    records_sheet("Batches", batch_store.Batch),
    child_sheet("Batch signatures", batch_store.BatchSignature, batch_store.Batch, "batch_id"),
    child_sheet("Batch review calls", batch_store.ReviewCall, batch_store.Batch, "batch_id"),
)
