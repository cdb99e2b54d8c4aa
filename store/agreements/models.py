"""What an agreement is: the tables of agreements, their redline rounds and filed documents, the kinds,
statuses and sides they take, and the dated terms a form enters (checked in store/agreements/service.py).

Life cycle: draft → in negotiation (redline rounds, each a version from one side) → executed (dated) →
in force until it expires or a newer executed agreement of the same type supersedes it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import Column, String, UniqueConstraint, event
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Field, SQLModel

from store.db import UTCDateTime


class Kind(StrEnum):
    nda = "nda"
    quality = "quality"
    msa = "msa"
    supply = "supply"
    other = "other"

    @property
    def label(self) -> str:
        return KIND_LABELS[self][0]

    @property
    def prefix(self) -> str:
        return KIND_LABELS[self][1]


KIND_LABELS = {
    Kind.nda: ("Mutual NDA", "NDA"),
    Kind.quality: ("Quality Agreement", "QA"),
    Kind.msa: ("Master Services Agreement", "MSA"),
    Kind.supply: ("Supply Agreement", "SUP"),
    Kind.other: ("Other agreement", "AGR"),
}
GATE_KIND = Kind.quality  # the batch gate (FDA 2016 guidance on quality agreements); the NDA is a point of its own


class Status(StrEnum):
    draft = "draft"
    negotiation = "negotiation"
    executed = "executed"
    superseded = "superseded"

    @property
    def label(self) -> str:
        return {"draft": "Draft", "negotiation": "In negotiation", "executed": "Executed",
                "superseded": "Superseded"}[self.value]


ENTRY_STATUSES = (Status.draft, Status.negotiation, Status.executed)


class Side(StrEnum):
    cmo = "cmo"
    customer = "customer"

    @property
    def label(self) -> str:
        return "CMO" if self is Side.cmo else "customer"


class Agreement(SQLModel, table=True):
    __tablename__ = "agreement"
    __table_args__ = (UniqueConstraint("program_id", "ref", name="uq_agreement_program_ref"),)

    id: int | None = Field(default=None, primary_key=True)
    program_id: int = Field(foreign_key="program.id", index=True)
    ref: str = Field(max_length=20)
    kind: Kind = Field(sa_type=String(32))
    counterparty: str = Field(max_length=200)
    status: Status = Field(sa_type=String(32), index=True)
    version: str = Field(default="", max_length=40)
    effective_on: date | None = None
    expires_on: date | None = None
    evergreen: bool = False
    review_on: date | None = None
    notice_days: int | None = None
    owner_id: str | None = Field(default=None, max_length=32)
    notes: str = Field(default="", max_length=3000)
    dates_set_on: date | None = None  # program-local day the current dates were recorded (reminders start there)
    superseded_by: int | None = Field(default=None, foreign_key="agreement.id")
    superseded_on: date | None = None
    created_by: str = Field(max_length=32)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))

    @property
    def title(self) -> str:
        version = f" {self.version}" if self.version else ""
        return f"{self.kind.label} {self.ref}{version}"

    def snapshot(self) -> dict[str, Any]:
        return self.model_dump(exclude={"id", "created_at", "updated_at"})


class Redline(SQLModel, table=True):
    __tablename__ = "agreement_redline"
    __table_args__ = (UniqueConstraint("agreement_id", "round", name="uq_redline_round"),)

    id: int | None = Field(default=None, primary_key=True)
    agreement_id: int = Field(foreign_key="agreement.id", index=True)
    round: int
    version: str = Field(max_length=40)
    side: Side = Field(sa_type=String(16))
    by_id: str = Field(max_length=32)
    by_name: str = Field(max_length=255)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    note: str = Field(default="", max_length=3000)
    slack_file_id: str | None = Field(default=None, max_length=32)
    file_name: str | None = Field(default=None, max_length=255)


class Document(SQLModel, table=True):
    """A file filed in the program folder for an agreement (the executed original, a redline …)."""

    __tablename__ = "agreement_document"

    id: int | None = Field(default=None, primary_key=True)
    agreement_id: int = Field(foreign_key="agreement.id", index=True)
    role: str = Field(max_length=16)  # original | redline | attachment
    slack_file_id: str | None = Field(default=None, max_length=32)
    name: str = Field(max_length=255)
    path: str = Field(max_length=500)
    sha256: str = Field(max_length=64)
    size: int
    filed_by: str = Field(max_length=32)
    filed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Dated(Protocol):
    """What the gate reads of an agreement: an `Agreement`, or a light row of these columns (App Home reads
    the agreements of hundreds of programs as rows, not ORM objects)."""

    @property
    def ref(self) -> str: ...
    @property
    def kind(self) -> Kind: ...
    @property
    def status(self) -> Status: ...
    @property
    def effective_on(self) -> date | None: ...
    @property
    def expires_on(self) -> date | None: ...
    @property
    def superseded_on(self) -> date | None: ...


class Renewing(Protocol):
    """What the renewal schedule and its reminders read of an agreement: an `Agreement`, or a row of these
    columns (the due rule reads every executed agreement of the portfolio on each full pass, as rows)."""

    @property
    def id(self) -> int | None: ...
    @property
    def ref(self) -> str: ...
    @property
    def kind(self) -> Kind: ...
    @property
    def version(self) -> str: ...
    @property
    def counterparty(self) -> str: ...
    @property
    def expires_on(self) -> date | None: ...
    @property
    def evergreen(self) -> bool: ...
    @property
    def review_on(self) -> date | None: ...
    @property
    def notice_days(self) -> int | None: ...
    @property
    def dates_set_on(self) -> date | None: ...


def _enums_on_load(target: Any, *_: Any) -> None:
    """String columns come back as plain str; give them back their StrEnum (labels, prefixes)."""
    for name, enum in ENUM_COLUMNS.get(type(target), {}).items():
        value = target.__dict__.get(name)
        if value is not None and not isinstance(value, enum):
            set_committed_value(target, name, enum(value))


ENUM_COLUMNS: dict[type, dict[str, type[StrEnum]]] = {
    Agreement: {"kind": Kind, "status": Status},
    Redline: {"side": Side},
}
for _model in ENUM_COLUMNS:
    event.listen(_model, "load", _enums_on_load)
    event.listen(_model, "refresh", _enums_on_load)


@dataclass(frozen=True)
class Terms:
    """The dated terms of an agreement, as entered in a form (validated by `check_terms`)."""

    effective_on: date | None = None
    expires_on: date | None = None
    evergreen: bool = False
    review_on: date | None = None
    notice_days: int | None = None


