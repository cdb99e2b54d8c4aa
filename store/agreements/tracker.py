"""What the agreements area imports from a CMO's tracker spreadsheet and exports for auditors.

Imported: one row per agreement (type, counterparty, status, version, dates, owner), each created through
`store.agreements.service`, so its validation, numbering and audit row apply unchanged; an executed agreement
older than the one in force is refused, and older ones are imported first. Exported: the agreements, their
redline rounds and their filed documents. Declared in store/areas.py; built from store/onboarding/kinds.py.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Session

from store.agreements import service as agreement_store
from store.audit import Actor
from store.db import pk
from store.errors import Invalid
from store.onboarding.importing import Column, Row, Words
from store.onboarding.kinds import NOTES, OWNER, child_sheet, kind, owner, records_sheet
from store.programs import Program

AGREEMENT_TYPES = Words({
    "nda": ("Mutual NDA", "cda", "confidentiality agreement", "non-disclosure agreement", "confidentiality"),
    "quality": ("Quality Agreement", "qa", "qag", "gmp quality agreement", "technical agreement"),
    "msa": ("MSA", "master services agreement", "master service agreement", "master agreement"),
    "supply": ("Supply Agreement", "manufacturing and supply agreement", "commercial supply agreement"),
    "other": ("Other", "other agreement"),
})
AGREEMENT_STATUSES = Words({
    "draft": ("draft", "not started", "drafting"),
    "negotiation": ("in negotiation", "negotiating", "redlines", "under review", "in review", "pending signature"),
    "executed": ("executed", "signed", "active", "in force", "effective", "current", "expired"),
})


def _agreement_key(row: Row) -> tuple:
    return row["type"], row["counterparty"].casefold(), (row["version"] or "").casefold(), row["effective"]


def _agreement_find(session: Session, program: Program, row: Row) -> str | None:
    key = _agreement_key(row)
    for agreement in agreement_store.for_program(session, pk(program)):
        if (agreement.kind, agreement.counterparty.casefold(), agreement.version.casefold(),
                agreement.effective_on) == key:
            return agreement.ref
    return None


def _agreement_create(session: Session, program: Program, row: Row, actor: Actor, now: datetime) -> str:
    kind_ = agreement_store.Kind(row["type"])
    status = agreement_store.Status(row["status"] or ("executed" if row["effective"] else "draft"))
    if status == agreement_store.Status.executed:
        newer = [a for a in agreement_store.for_program(session, pk(program))
                 if a.kind == kind_ and a.status == agreement_store.Status.executed and a.effective_on
                 and row["effective"] and a.effective_on > row["effective"]]
        if newer:
            raise Invalid(f"{newer[0].ref}, effective {newer[0].effective_on}, is in force; this older "
                          f"{kind_.label} would supersede it")
    terms = agreement_store.Terms(row["effective"], row["expires"], bool(row["evergreen"]), row["review"],
                                  row["notice"])
    created = agreement_store.create(
        session, program=program, actor=actor, now=now, kind=kind_, counterparty=row["counterparty"], status=status,
        terms=terms, version=row["version"] or "", owner_id=owner(session, program, row["owner"], actor),
        notes=row["notes"] or "")
    return created.ref


AGREEMENT_KIND = kind(
    "agreements", "agreement",
    (
        Column("type", "Type", ("agreement type", "agreement", "kind", "document type", "doc type", "category"),
               required=True, choices=AGREEMENT_TYPES),
        Column("counterparty", "Counterparty", ("customer", "party", "counter party", "company", "partner",
                                                "client"), required=True),
        Column("status", "Status", ("state", "stage", "agreement status"), choices=AGREEMENT_STATUSES),
        Column("version", "Version", ("rev", "revision", "version no", "ver")),
        Column("effective", "Effective date", ("effective", "start date", "signed date", "date signed",
                                               "execution date", "signed on"), type="date"),
        Column("expires", "Expiration date", ("expiry", "exp date", "expiration", "expires", "expiry date",
                                              "end date", "term end", "valid until"), type="date"),
        Column("evergreen", "Evergreen", ("auto renew", "auto renewal", "autorenew"), type="bool"),
        Column("review", "Review date", ("next review", "review by", "review"), type="date"),
        Column("notice", "Notice days", ("notice period", "notice period days", "notice", "notice days"), type="int"),
        OWNER, NOTES,
    ),
    key=_agreement_key,
    describe=lambda row: f"{agreement_store.Kind(row['type']).label} with {row['counterparty']}"
                         + (f" {row['version']}" if row["version"] else "")
                         + (f" effective {row['effective'].isoformat()}" if row["effective"] else ""),
    find=_agreement_find, create=_agreement_create,
    order=lambda row: row["effective"] or date.min,  # older executed agreements first: the newest stays in force
    summary="one row per agreement: type, counterparty, status, dates",
)
AGREEMENT_SHEETS = (
    records_sheet("Agreements", agreement_store.Agreement),
    child_sheet("Agreement redlines", agreement_store.Redline, agreement_store.Agreement, "agreement_id"),
    child_sheet("Agreement documents", agreement_store.Document, agreement_store.Agreement, "agreement_id"),
)
