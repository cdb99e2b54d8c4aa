"""What a regulatory submission is made of: the submission (`SUB-001`), its checklist items with their
status, and the files handed in for an item (each with its SHA-256 and a version per file name). The
services are in store/submissions/service.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from store.db import UTCDateTime


class SubmissionType(StrEnum):
    fda_510k = "fda_510k"
    dmf_type_ii = "dmf_type_ii"
    eu_mdr_td = "eu_mdr_td"
    ctd_module3 = "ctd_module3"
    other = "other"


class ItemStatus(StrEnum):
    not_started = "not_started"
    requested = "requested"
    received = "received"
    approved = "approved"
    not_applicable = "not_applicable"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


OPEN = frozenset({ItemStatus.not_started, ItemStatus.requested})


def submission_ref(number: int) -> str:
    """How a submission is named (`SUB-001`), from the one column it needs: the due rule reads rows, not objects."""
    return f"SUB-{number:03d}"


def item_subject(item_id: int | None) -> str:
    """The outbox subject of an item's messages, from its id alone (see `submission_ref`)."""
    return f"submission_item:{item_id}"


class Submission(SQLModel, table=True):
    __tablename__ = "submission"
    __table_args__ = (UniqueConstraint("program_id", "number", name="uq_submission_program_number"),)

    id: int | None = Field(default=None, primary_key=True)
    program_id: int = Field(foreign_key="program.id", index=True)
    number: int
    kind: SubmissionType = Field(sa_type=String(32))
    title: str = Field(max_length=200)
    filing_date: date
    customer_contact: str = Field(default="", max_length=200)
    created_by: str = Field(max_length=32)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    package_sha256: str | None = Field(default=None, max_length=64)
    packaged_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))

    @property
    def ref(self) -> str:
        return submission_ref(self.number)

    def snapshot(self) -> dict[str, Any]:
        return self.model_dump(exclude={"id", "created_at", "packaged_at"}, mode="json", warnings=False)


class SubmissionItem(SQLModel, table=True):
    __tablename__ = "submission_item"
    __table_args__ = (UniqueConstraint("submission_id", "number", name="uq_submission_item_number"),)

    id: int | None = Field(default=None, primary_key=True)
    submission_id: int = Field(foreign_key="submission.id", index=True)
    number: int
    section: str = Field(max_length=200)
    document: str = Field(max_length=300)
    source: str = Field(default="", max_length=100)
    owner: str | None = Field(default=None, max_length=32, index=True)
    due_on: date
    status: ItemStatus = Field(default=ItemStatus.not_started, sa_type=String(32), index=True)
    requested_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))

    @property
    def subject(self) -> str:
        return item_subject(self.id)

    def snapshot(self) -> dict[str, Any]:
        return self.model_dump(exclude={"id", "requested_at"}, mode="json", warnings=False)


class SubmissionFile(SQLModel, table=True):
    __tablename__ = "submission_file"

    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="submission_item.id", index=True)
    name: str = Field(max_length=150)
    path: str = Field(max_length=500)  # relative to CMO_FILES_DIR
    sha256: str = Field(max_length=64)
    size: int
    version: int
    slack_file_id: str = Field(default="", max_length=32)
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    received_by: str = Field(max_length=32)
    received_by_name: str = Field(max_length=255)


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    outstanding: tuple[SubmissionItem, ...]


def progress(entries: Sequence[SubmissionItem]) -> Progress:
    """Done = received or approved, out of every item that applies."""
    applicable = [e for e in entries if e.status != ItemStatus.not_applicable]
    done = sum(e.status in (ItemStatus.received, ItemStatus.approved) for e in applicable)
    return Progress(done, len(applicable), tuple(e for e in applicable if e.status in OPEN))
