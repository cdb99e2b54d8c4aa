"""Signature/record linking checked (21 CFR 11.70): every signature still matches what was signed.

Each batch signature stores the SHA-256 of what it signed (`store.batches.signatures.link`: the batch's identifying
fields, the review round, the batch record file's SHA-256). `cmo-bot audit verify` recomputes it from the
batch as it is now and re-hashes the batch record file in the document store; a signature whose record
changed after signing is named, so it cannot silently move to another record.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from store.batches.service import Batch, BatchSignature, link
from store.filing import sha256
from store.programs import Program
from store.storage import Store
from store.submissions import signatures as document_signatures


def _changed(files: Store, key: str, recorded: str) -> bool:
    """The filed document no longer hashes to the checksum recorded when it was filed (or is gone)."""
    content = files.get(key)
    return content is None or sha256(content) != recorded


def problems(session: Session, files: Store) -> list[str]:
    """One line per signature (of a batch record or a submission document) whose record changed after signing."""
    found: list[str] = []
    rows = session.exec(select(BatchSignature, Batch, Program).join(Batch, col(Batch.id) == BatchSignature.batch_id)
                        .join(Program, col(Program.id) == Batch.program_id)
                        .order_by(col(BatchSignature.id))).all()
    for signature, batch, program in rows:
        if signature.linked_sha256 is None:  # signed before linking existed: nothing to compare with
            continue
        who = (f"signature {signature.id} ({signature.signer_name}, {signature.signed_at:%Y-%m-%d %H:%M} UTC, "
               f"batch {batch.batch_no} of {program.code}, round {signature.review_round})")
        if link(program, batch, signature.review_round) != signature.linked_sha256:
            found.append(f"{who}: the batch record it signed changed after signing")
        elif batch.record_path and batch.record_sha256 and _changed(files, batch.record_path, batch.record_sha256):
            found.append(f"{who}: the executed batch record file changed after signing")
    for signed, file in document_signatures.signed_files(session):
        if file.sha256 != signed.linked_sha256 or _changed(files, file.path, file.sha256):
            found.append(f"document signature {signed.id} ({signed.signer_name}, "
                         f"{signed.signed_at:%Y-%m-%d %H:%M} UTC, {file.name}): the document changed after signing")
    return found
