"""Signed approval of a submission document (programs whose signing method is `totp`): the signature's
attributes (printed name, date and time with zone, meaning) and its link to the exact file approved (its
SHA-256, 21 CFR 11.70), next to the item's approval in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Field, Session, SQLModel, col, select

from store import audit, signing
from store.audit import Actor
from store.db import pk
from store.errors import Conflict
from store.signature_columns import SignatureColumns
from store.submissions import service as subs


class DocumentSignatureKeys(SQLModel):
    id: int | None = Field(default=None, primary_key=True)
    item_id: int = Field(foreign_key="submission_item.id", index=True)
    file_id: int = Field(foreign_key="submission_file.id")


class DocumentSignature(SignatureColumns, DocumentSignatureKeys, table=True):
    __tablename__ = "document_signature"

    linked_sha256: str = Field(max_length=64)  # the approved file's SHA-256


@dataclass(frozen=True)
class Signer:
    user_id: str
    name: str
    tz: str
    code: str


def latest_file(session: Session, entry: subs.SubmissionItem) -> subs.SubmissionFile:
    found = subs.files(session, [pk(entry)])
    if not found:
        raise Conflict(f"Item {entry.number} has no document to approve yet.")
    return found[-1]


def meaning(entry: subs.SubmissionItem, file: subs.SubmissionFile) -> str:
    return f"I approve {entry.document} ({file.name}, version {file.version}) for the regulatory submission."


def approve(session: Session, *, program_id: int, entry: subs.SubmissionItem, file_sha256: str, signer: Signer,
            actor: Actor, now: datetime, key: str | None) -> DocumentSignature | signing.Refusal:
    """Check the code, then approve the item and record the signature linked to the file it was opened for."""
    file = latest_file(session, entry)
    if file.sha256 != file_sha256:
        return signing.Refusal(f"A new version of item {entry.number} arrived since this dialog was opened; open it "
                               "again to sign what is there now.")
    refused = signing.check(session, key, actor=actor, code=signer.code, now=now, program_id=program_id,
                            doing=f"approve submission item {entry.number}")
    if refused is not None:
        return refused
    subs.approve(session, entry=entry, actor=actor, now=now)
    signature = DocumentSignature(item_id=pk(entry), file_id=pk(file), user_id=signer.user_id,
                                  signer_name=signer.name[:255], meaning=meaning(entry, file), signed_at=now,
                                  local_time=now.astimezone(ZoneInfo(signer.tz)).isoformat(timespec="seconds"),
                                  local_tz=signer.tz, second_component=signing.SigningMethod.totp,
                                  linked_sha256=file.sha256)
    session.add(signature)
    session.flush()
    audit.record(session, actor=actor, action="document_signed", entity="submission_item", entity_id=entry.id,
                 program_id=program_id, after=signature.model_dump(exclude={"id"}), now=now)
    return signature


def signed_files(session: Session) -> list[tuple[DocumentSignature, subs.SubmissionFile]]:
    query = select(DocumentSignature, subs.SubmissionFile).join(
        subs.SubmissionFile, col(subs.SubmissionFile.id) == DocumentSignature.file_id)
    return list(session.exec(query.order_by(col(DocumentSignature.id))).all())
