"""The CMO's own release step: before an executed batch record goes to the customer, the CMO's quality unit
reviews it and signs its release ("I release the executed batch record B-1042 for the customer's review").

In programs whose `qa_release` setting is `required` (every program created since this step exists), `ready`
leaves the batch *awaiting CMO QA release*; the release — a signature by one of the program's CMO quality
people, never the person who marked it ready or filed its record — makes it *awaiting review*: the customer's
review round, its reminders and its SLA clock start that day. Programs with `off` go straight to review.

The signature carries the attributes of a batch approval (printed name, Slack id, UTC and local time, meaning,
second component, the SHA-256 it is linked to) in its own table and in the audit trail. No Slack imports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Field, Session, SQLModel, select

from store import audit, signing
from store.audit import Actor
from store.batches.service import (
    ENTITY,
    Batch,
    BatchStatus,
    Opened,
    Signer,
    describe,
    get,
    link,
    refusal,
    settings_of,
    signable,
    waiting_for,
)
from store.calendar import business_days_between
from store.db import pk
from store.errors import Conflict, NotAllowed
from store.health import Owed
from store.outbox import Button
from store.programs import Program, Role, user_ids
from store.signature_columns import SignatureColumns

ACTION = "batch_qa_release"  # the button on CMO quality's message and App Home (commands/batches/release.py)


class BatchReleaseKeys(SQLModel):
    id: int | None = Field(default=None, primary_key=True)
    batch_id: int = Field(foreign_key="batch.id", unique=True)


class BatchRelease(SignatureColumns, BatchReleaseKeys, table=True):
    """The CMO quality unit's signed release of a batch record for the customer's review (one per batch)."""

    __tablename__ = "batch_release"

    linked_sha256: str = Field(max_length=64)


@dataclass(frozen=True)
class Released:
    batch: Batch
    release: BatchRelease
    internal_days: int  # business days from ready to this release


def meaning(batch: Batch) -> str:
    return f"I release the executed batch record {batch.batch_no} for the customer's review."


def button(batch_id: int) -> Button:
    return Button("QA release", ACTION, f'{{"batch_id": {batch_id}}}', "primary")


def may_release(session: Session, program: Program, actor: Actor) -> None:
    if actor.user_id not in user_ids(session, pk(program), Role.cmo_quality):
        raise NotAllowed(f"Only CMO quality of {program.code} can QA-release batch records.")


def releasable(session: Session, program: Program, batch_no: str, *, actor: Actor) -> Batch:
    """The batch, if it awaits the CMO's QA release and the person is CMO quality of the program."""
    may_release(session, program, actor)
    batch = get(session, program, batch_no)
    if batch.state != BatchStatus.qa_release:
        raise _not_releasable(batch)
    return batch


def _not_releasable(batch: Batch) -> Conflict:
    if batch.state == BatchStatus.awaiting:
        return Conflict(f"Batch {batch.batch_no} is already released for the customer's review.")
    return refusal(batch, "QA-released")


def release(session: Session, program: Program, batch_no: str, *, signer: Signer, actor: Actor, now: datetime,
            opened: Opened | None = None, key: str | None = None) -> Released | signing.Refusal:
    """Sign the release; the batch goes to the customer's review (round 1 starts today). A refusal of the
    checks (segregation of duties, the second component, a changed record) is returned with nothing signed."""
    may_release(session, program, actor)
    batch = get(session, program, batch_no, lock=True)
    if batch.state != BatchStatus.qa_release:
        raise _not_releasable(batch)
    refused = signable(session, program, batch, signer=signer, actor=actor, now=now, opened=opened,
                       doing="QA-release", key=key)
    if refused is not None:
        return refused
    today = now.astimezone(program.tz).date()
    local = now.astimezone(ZoneInfo(signer.tz))
    row = BatchRelease(batch_id=pk(batch), user_id=signer.user_id, signer_name=signer.name[:255],
                       meaning=meaning(batch), signed_at=now, local_time=local.isoformat(timespec="seconds"),
                       local_tz=signer.tz, second_component=settings_of(program).signing,
                       linked_sha256=link(program, batch, batch.review_round))
    before = batch.snapshot()
    batch.status, batch.released_on, batch.round_started_on = BatchStatus.awaiting, today, today
    session.add_all([row, batch])
    session.flush()
    signature = row.model_dump(exclude={"id"})
    audit.record(session, actor=actor, action="qa_released", entity=ENTITY, entity_id=batch.batch_no,
                 program_id=program.id, before=before, now=now,
                 after={**batch.snapshot(), "released_on": today, "signature": signature})
    return Released(batch, row, business_days_between(batch.ready_on, today, program.holiday_calendar))


def of_batch(session: Session, batch_id: int) -> BatchRelease | None:
    return session.exec(select(BatchRelease).where(BatchRelease.batch_id == batch_id)).first()


def owed(session: Session, user_id: str, programs: list[Program], now: datetime) -> list[Owed]:
    """App Home of CMO quality: batch records awaiting their QA release, oldest first, with the button."""
    by_id = {pk(p): p for p in programs}
    waiting = waiting_for(session, user_id, programs, Role.cmo_quality, BatchStatus.qa_release)
    items = []
    for batch in waiting:
        program = by_id[batch.program_id]
        days = business_days_between(batch.ready_on, now.astimezone(program.tz).date(), program.holiday_calendar)
        items.append(Owed(program.code, -days, f"Batch record {describe(batch)} awaits your QA release "
                                               f"(ready {days} business days ago)", (button(pk(batch)),)))
    return items

