"""Signing a batch record: who signs (`Signer`) and what a signature means, the SHA-256 it is linked to
(21 CFR 11.70), and every check before a signature — the dialog still current, segregation of duties (nobody
signs a batch they prepared or marked ready) and the second identification component."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from store import audit, signing
from store.audit import Actor, AuditEntry
from store.batches.models import ENTITY, Batch, BatchSignature
from store.batches.settings import settings_of
from store.programs import Program


@dataclass(frozen=True)
class Signer:
    """Who signs, as Slack knows them (users.info), and what they re-entered in the signing dialog."""

    user_id: str
    name: str  # printed name: users.info real_name
    tz: str  # the signer's time zone from users.info (the program's when Slack has none)
    component: str  # the second identification component: an authenticator code, or initials

    @staticmethod
    def expected_initials(name: str) -> str:
        return "".join(part[0] for part in re.split(r"[\s\-]+", name.strip()) if part).upper()


@dataclass(frozen=True)
class Signed:
    batch: Batch
    signature: BatchSignature
    complete: bool  # the batch is now approved
    missing: tuple[str, ...] = ()  # approvers still to sign ("all" programs)



def meaning(batch: Batch, *, rejected: bool = False) -> str:
    product = f" of {batch.product}" if batch.product else ""
    if rejected:
        return f"I reject the executed batch record {batch.batch_no}{product}."
    return f"I approve the executed batch record {batch.batch_no}{product} for release."


def link(program: Program, batch: Batch, review_round: int) -> str:
    """The SHA-256 a signature is linked to (21 CFR 11.70): the batch's identifying fields, the review round
    and the SHA-256 of the executed batch record file. A change to any of them after signing shows."""
    signed = {"program": program.code, "batch_no": batch.batch_no, "product": batch.product,
              "release_by": batch.release_by.isoformat() if batch.release_by else None,
              "review_round": review_round, "record_sha256": batch.record_sha256}
    return hashlib.sha256(json.dumps(signed, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Opened:
    """What a signing dialog was opened for: the review round and the batch record's checksum."""

    review_round: int
    record_sha256: str | None


def preparers(session: Session, program: Program, batch: Batch) -> set[str]:
    """Who marked the batch ready or filed its batch record: none of them may sign it."""
    filed = select(AuditEntry.actor_id).where(AuditEntry.program_id == program.id, AuditEntry.entity == ENTITY,
                                              AuditEntry.entity_id == batch.batch_no,
                                              AuditEntry.action == "record_filed")
    return {batch.ready_by, *session.exec(filed)}


def segregation(session: Session, program: Program, batch: Batch, *, actor: Actor, now: datetime,
                 doing: str) -> signing.Refusal | None:
    """Segregation of duties: a refusal, recorded in the audit trail, when the actor prepared the batch."""
    if actor.user_id not in preparers(session, program, batch):
        return None
    audit.record(session, actor=actor, action="decision_refused", entity=ENTITY, entity_id=batch.batch_no,
                 program_id=program.id, now=now, after={"attempted": doing, "reason": "prepared or marked it ready"})
    return signing.Refusal(f"You prepared or marked batch {batch.batch_no} ready, so you cannot {doing} it "
                           "(segregation of duties). This attempt was recorded.")


def signable(session: Session, program: Program, batch: Batch, *, signer: Signer, actor: Actor, now: datetime,
              opened: Opened | None, doing: str, key: str | None) -> signing.Refusal | None:
    """Every check before a signature: the dialog's round and checksum still current, segregation of duties,
    the second component. A refusal is audited and returned (the caller commits, then shows it)."""
    if opened is not None and (opened.review_round, opened.record_sha256) != (batch.review_round,
                                                                             batch.record_sha256):
        changed = ("went back to review (round " f"{batch.review_round})" if opened.review_round != batch.review_round
                   else "has a different batch record file")
        return signing.Refusal(f"Batch {batch.batch_no} {changed} since this dialog was opened; close it and "
                               "open the batch again to sign what is under review now.")
    segregated = segregation(session, program, batch, actor=actor, now=now, doing=doing)
    if segregated is not None:
        return segregated
    if settings_of(program).signing == signing.SigningMethod.initials:
        if doing != "reject" and signer.component.strip().upper().replace(".", "").replace(" ", "") != \
                Signer.expected_initials(signer.name):
            return signing.Refusal("Those initials do not match your name in Slack; type them again to sign.")
        return None
    return signing.check(session, key, actor=actor, code=signer.component, now=now, program_id=program.id,
                         doing=f"{doing} batch {batch.batch_no}")
