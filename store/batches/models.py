"""What a batch record review is made of: the batch and its status, the signatures of its approvers, the
messages the bot posted about it (updated in place) and its review calls. The review itself is in
store/batches/service.py."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Date, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from store.db import UTCDateTime
from store.signature_columns import SignatureColumns

ENTITY = "batch"  # the audit trail's entity of a batch


class BatchStatus(StrEnum):
    qa_release = "qa_release"  # the CMO's quality unit reviews it before the customer does
    awaiting = "awaiting"
    on_hold = "on_hold"
    approved = "approved"
    rejected = "rejected"

    @property
    def label(self) -> str:
        return {"qa_release": "awaiting CMO QA release", "awaiting": "awaiting review",
                "on_hold": "on hold"}.get(self.value, self.value)


OPEN = (BatchStatus.awaiting, BatchStatus.on_hold)
UNDECIDED = (BatchStatus.qa_release, *OPEN)  # still to be decided, the CMO's QA release included


class Batch(SQLModel, table=True):
    __tablename__ = "batch"
    __table_args__ = (UniqueConstraint("program_id", "batch_no", name="uq_batch_program_no"),)

    id: int | None = Field(default=None, primary_key=True)
    program_id: int = Field(foreign_key="program.id", index=True)
    batch_no: str = Field(max_length=40)
    product: str = Field(default="", max_length=200)
    release_by: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    status: BatchStatus = Field(default=BatchStatus.awaiting, sa_type=String(32), index=True)
    ready_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    ready_on: date = Field(sa_column=Column(Date, nullable=False))  # program-local day it became available
    ready_by: str = Field(max_length=32)
    review_round: int = 1
    round_started_on: date = Field(sa_column=Column(Date, nullable=False))
    released_on: date | None = Field(default=None, sa_column=Column(Date, nullable=True))  # CMO QA release day
    decided_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    decided_on: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    decided_by: str | None = Field(default=None, max_length=32)
    decided_by_name: str | None = Field(default=None, max_length=255)
    reason: str | None = Field(default=None, max_length=2000)
    record_name: str | None = Field(default=None, max_length=255)
    record_path: str | None = Field(default=None, max_length=500)
    record_sha256: str | None = Field(default=None, max_length=64)

    @property
    def state(self) -> BatchStatus:
        """The status as the enum (rows read back from the database hold the plain string)."""
        return BatchStatus(self.status)

    def snapshot(self) -> dict[str, Any]:
        return {"batch_no": self.batch_no, "product": self.product, "release_by": self.release_by,
                "status": str(self.status), "review_round": self.review_round, "reason": self.reason,
                "decided_by": self.decided_by, "record_sha256": self.record_sha256}


class BatchSignatureKeys(SQLModel):
    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batch.id", index=True)
    review_round: int


class BatchSignature(SignatureColumns, BatchSignatureKeys, table=True):
    """One electronic signature (approval) of an executed batch record, linked to its batch and round."""

    __tablename__ = "batch_signature"
    __table_args__ = (UniqueConstraint("batch_id", "review_round", "user_id", name="uq_batch_signature"),)

    linked_sha256: str | None = Field(default=None, max_length=64)  # SHA-256 of what was signed (`link`)
    comment: str = Field(default="", max_length=2000)


class BatchMessage(SQLModel, table=True):
    """A message the bot posted about a batch (the channel post, each approver's DM), updated in place."""

    __tablename__ = "batch_message"
    __table_args__ = (UniqueConstraint("channel", "ts", name="uq_batch_message"),)

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batch.id", index=True)
    user_id: str | None = Field(default=None, max_length=32)  # None for the channel post
    channel: str = Field(max_length=32)
    ts: str = Field(max_length=32)


class ReviewCall(SQLModel, table=True):
    __tablename__ = "batch_review_call"

    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batch.id", index=True)
    starts_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    minutes: int = 30
    requested_by: str = Field(max_length=32)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))

