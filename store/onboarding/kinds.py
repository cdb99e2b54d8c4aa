"""Every area's importer kind (store/onboarding/importing.py) and export sheets (store/onboarding/exporting.py),
in one place.

Each kind creates its records through the area's own store services (so their validation, numbering,
schedules and audit rows apply unchanged); the importer adds the `imported` audit row with the file's
SHA-256. The areas' declarations (store/areas.py) list them; importing this module registers nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime

from sqlmodel import Session, SQLModel, col, select

from store import programs as program_store
from store.agreements import service as agreement_store
from store.audit import Actor
from store.batches import service as batch_store
from store.db import pk
from store.errors import Invalid
from store.onboarding import exporting, importing
from store.onboarding.exporting import Sheet, child_table, model_table, of_programs
from store.onboarding.importing import Column, Kind, Row, Words
from store.programs import Program, Role
from store.stability import notation as stability_notation
from store.stability import service as stability_store
from store.submissions import service as submission_store

SLACK_USER = re.compile(r"^<?@?([UW][A-Z0-9]{2,})(?:\|[^>]*)?>?$")


def owner(session: Session, program: Program, value: str | None, actor: Actor) -> str:
    """The Slack user who owns the record: the Owner cell (a Slack ID or mention), else the program's first
    program manager, else the person importing — never the command line, which no DM reaches."""
    if value:
        match = SLACK_USER.match(value.strip())
        if not match:
            raise Invalid(f"Owner {importing.shown(value)!r} is not a Slack user ID such as U012AB3CD")
        return match.group(1)
    managers = program_store.user_ids(session, pk(program), Role.program_manager)
    if managers:
        return managers[0]
    if SLACK_USER.match(actor.user_id):
        return actor.user_id
    raise Invalid(f"Owner is empty and {program.code} has no program manager to own it")


OWNER = Column("owner", "Owner", ("owner slack id", "responsible", "owner id"))
NOTES = Column("notes", "Notes", ("comments", "comment", "remarks"))


def kind(name: str, entity: str, columns: tuple[Column, ...], key: Callable[[Row], tuple],
         describe: Callable[[Row], str], find, create, **extra) -> Kind:
    return Kind(name=name, entity=entity, columns=columns, key=key, describe=describe, find=find, create=create,
                **extra)


def records_sheet(title: str, model: type[SQLModel]) -> Sheet:
    """Every record of a table that has a program_id."""
    return Sheet(title, lambda session, programs: model_table(title, model, of_programs(session, model, programs),
                                                              programs))


def child_sheet(title: str, model: type[SQLModel], parent: type[SQLModel], link: str) -> Sheet:
    """Every record of a table below one that has a program_id (`link` names the parent's id column)."""
    return Sheet(title, lambda session, programs: child_table(title, model, parent, link, session, programs))



# ------------------------------------------------------------------------------------------- agreements

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


# ------------------------------------------------------------------------------------------- batches

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


# ------------------------------------------------------------------------------------------- stability

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


# ------------------------------------------------------------------------------------------- submissions

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
