"""Batch record review: a batch record made available, the customer's approvers deciding on it, signatures.

States: (awaiting CMO QA release →, in programs whose `qa_release` is `required`: store.batches.release)
awaiting review → approved | on hold → (back to) awaiting review | rejected. Every decision is a
conditional UPDATE (`… WHERE status IN (expected)`) on a row read FOR UPDATE, and the caller learns from the
row count whether it won: two approvers clicking at the same moment make one decision. A batch that goes
back to review starts a new review *round*: its reminders, SLA and (for "all" programs) signatures are per round.

An approval records the attributes 21 CFR 11.50/11.70 name (printed name, Slack id, date and time in UTC and
local, the meaning of the signature) with the batch and in the hash-chained audit trail, the SHA-256 of what
was signed, and a second identification component re-entered at signing: a code from the signer's
authenticator app in programs whose signing method is `totp` (store.signing), the signer's initials in
programs that kept `initials`. Nobody signs a batch they prepared or marked ready (the checks before a
signature: store.batches.signatures). The bot records these attributes; it does not by itself claim Part 11
compliance. The tables are in store/batches/models.py, a program's review settings in store/batches/settings.py.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import Session, col, select

from store import audit, outbox, signing
from store.agreements import service as agreements
from store.audit import Actor, AuditEntry
from store.batches.models import ENTITY, OPEN, Batch, BatchMessage, BatchSignature, BatchStatus, ReviewCall
from store.batches.settings import ApprovalMode, settings_of
from store.batches.signatures import Opened, Signed, Signer, link, meaning, segregation, signable
from store.calendar import business_days_between
from store.db import pk
from store.errors import Conflict, Invalid, NotFound
from store.filing import Filed
from store.markup import day, escape
from store.programs import Program, ProgramMember, Role, user_ids

BATCH_NO = re.compile(r"^[A-Z0-9][A-Z0-9._/-]{0,39}$")


# ---------------------------------------------------------------------------------------------- reading


def validate_batch_no(text: str) -> str:
    batch_no = (text or "").strip().upper()
    if not BATCH_NO.match(batch_no):
        raise Invalid(f"{text[:40]!r} is not a batch number: letters, digits, `.`, `/`, `-`, up to 40 (B-1042).",
                      "batch_no")
    return batch_no


def get(session: Session, program: Program, batch_no: str, *, lock: bool = False) -> Batch:
    query = select(Batch).where(Batch.program_id == program.id, Batch.batch_no == validate_batch_no(batch_no))
    if lock:  # FOR UPDATE on PostgreSQL (SQLite transactions are serialised by BEGIN IMMEDIATE)
        query = query.with_for_update().execution_options(populate_existing=True)
    batch = session.exec(query).first()
    if batch is None:
        raise NotFound(f"There is no batch {escape(batch_no.upper())} in {program.code}.")
    return batch


def by_id(session: Session, batch_id: int) -> tuple[Batch, Program]:
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise NotFound("That batch no longer exists.")
    program = session.get(Program, batch.program_id)
    if program is None:
        raise NotFound("That batch's program no longer exists.")
    return batch, program


def of_program(session: Session, program: Program) -> list[Batch]:
    query = select(Batch).where(Batch.program_id == program.id)
    return list(session.exec(query.order_by(col(Batch.ready_at).desc(), col(Batch.id).desc())))


def waiting_for(session: Session, user_id: str, programs: list[Program], role: Role,
                status: BatchStatus) -> list[Batch]:
    """The batches in `status` on those of `programs` where the person holds `role`: what App Home says they
    owe (a customer approver's review, a CMO quality person's release)."""
    mine = select(ProgramMember.program_id).where(
        ProgramMember.user_id == user_id, ProgramMember.role == role,
        col(ProgramMember.program_id).in_([pk(p) for p in programs]))
    return list(session.exec(select(Batch).where(col(Batch.program_id).in_(mine),
                                                 Batch.status == status)))


def signatures(session: Session, batch: Batch, *, current_round: bool = False) -> list[BatchSignature]:
    query = select(BatchSignature).where(BatchSignature.batch_id == batch.id)
    if current_round:
        query = query.where(BatchSignature.review_round == batch.review_round)
    return list(session.exec(query.order_by(col(BatchSignature.signed_at), col(BatchSignature.id))))


def history(session: Session, program: Program, batch: Batch) -> list[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.program_id == program.id, AuditEntry.entity == ENTITY,
                                     AuditEntry.entity_id == batch.batch_no)
    return list(session.exec(query.order_by(col(AuditEntry.seq))))


def messages(session: Session, batch: Batch) -> list[BatchMessage]:
    """Every message about the batch to update in place: the bot's own earlier posts, and from the outbox (as
    unsaved BatchMessage values) the announcements of each review round and the reminders sent with
    decision buttons."""
    query = select(BatchMessage).where(BatchMessage.batch_id == batch.id).order_by(col(BatchMessage.id))
    own = list(session.exec(query))
    sent = session.exec(select(outbox.Outbox).where(
        outbox.Outbox.subject == f"batch:{batch.id}", outbox.Outbox.status == outbox.Status.sent,
        col(outbox.Outbox.ts).is_not(None)).order_by(col(outbox.Outbox.id)))
    # CMO quality's QA-release requests are updated like the channel post: after the release nothing to click
    return own + [BatchMessage(batch_id=pk(batch),
                               user_id=None if row.buttons == [] or ":qa-release" in row.key else row.target,
                               channel=row.channel, ts=row.ts)
                  for row in sent if row.channel and row.ts and (row.buttons or row.key.endswith(outbox.ANNOUNCED))]


def review_days(batch: Batch, program: Program, today: date) -> int:
    """Business days the record has been (or was) in the customer's review: from the CMO's QA release (or, in
    programs without it, the day it became available) to the decision. Before the release: days since ready."""
    end = batch.decided_on if batch.status in (BatchStatus.approved, BatchStatus.rejected) else today
    start = batch.released_on or batch.ready_on
    return max(0, business_days_between(start, end or today, program.holiday_calendar))


class Named(Protocol):
    """What `describe` reads: a batch, or a row of a batch's columns (the due rule reads rows, not objects)."""

    @property
    def batch_no(self) -> str: ...
    @property
    def product(self) -> str: ...
    @property
    def release_by(self) -> date | None: ...


def describe(batch: Named) -> str:
    """How messages name a batch: its number, product and release-by date."""
    product = f" ({escape(batch.product)})" if batch.product else ""
    release = f", release by {day(batch.release_by)}" if batch.release_by else ""
    return f"*{escape(batch.batch_no)}*{product}{release}"


# ---------------------------------------------------------------------------------------------- changes


def _audit(session: Session, program: Program, batch: Batch, action: str, *, actor: Actor, now: datetime,
           before: object = None, after: object = None) -> None:
    audit.record(session, actor=actor, action=action, entity=ENTITY, entity_id=batch.batch_no,
                 program_id=program.id, before=before, after=after, now=now)


def ready(session: Session, program: Program, *, batch_no: str, product: str = "", release_by: date | None = None,
          actor: Actor, now: datetime, released_elsewhere: bool = False) -> Batch:
    """Record that a batch record is available: for the CMO's QA release first where the program requires it
    (store.batches.release), else straight for the customer's review. `released_elsewhere`: an import of a batch
    the old tracker already had with the customer (its release was not given in the bot)."""
    batch_no = validate_batch_no(batch_no)
    audit.lock(session)  # the check below and the insert run alone among writers (no duplicate-key race)
    existing = session.exec(select(Batch).where(Batch.program_id == program.id, Batch.batch_no == batch_no)).first()
    if existing is not None:
        raise Conflict(f"Batch {batch_no} is already recorded ({existing.state.label}); "
                       f"see `/cmo batch status {batch_no}`.")
    today = now.astimezone(program.tz).date()
    if release_by is not None and release_by < today:
        raise Invalid(f"The release-by date {day(release_by)} has passed.", "release_by")
    batch = Batch(program_id=pk(program), batch_no=batch_no, product=(product or "").strip()[:200],
                  release_by=release_by, ready_at=now, ready_on=today, ready_by=actor.user_id,
                  round_started_on=today, status=BatchStatus.qa_release if settings_of(program).qa_release ==
                  "required" and not released_elsewhere else BatchStatus.awaiting)
    session.add(batch)
    session.flush()
    _audit(session, program, batch, "ready", actor=actor, now=now, after=batch.snapshot())
    return batch


def attach_record(session: Session, program: Program, batch: Batch, *, filed: Filed, name: str, actor: Actor,
                  now: datetime) -> None:
    """The executed batch record file, filed in the program folder, linked to the batch by its SHA-256."""
    before = {"record_name": batch.record_name, "record_sha256": batch.record_sha256}
    batch.record_name, batch.record_path, batch.record_sha256 = name[:255], str(filed.path), filed.sha256
    session.add(batch)
    _audit(session, program, batch, "record_filed", actor=actor, now=now, before=before,
           after={"record_name": batch.record_name, "record_path": batch.record_path,
                  "record_sha256": filed.sha256, "size": filed.size})


def may_decide(session: Session, program: Program, batch_no: str, *, actor: Actor, now: datetime,
               doing: str) -> bool:
    """Only the program's customer approvers decide (admins and managers neither). A refusal is audited:
    the caller commits this transaction and then tells the person."""
    if actor.user_id in user_ids(session, pk(program), Role.customer_approver):
        return True
    audit.record(session, actor=actor, action="decision_refused", entity=ENTITY, entity_id=batch_no[:40],
                 program_id=program.id, after={"attempted": doing, "reason": "not a customer approver"}, now=now)
    return False


def refusal(batch: Batch, verb: str) -> Conflict:
    """Why a batch in its current state cannot be `verb` (approved, put on hold …), said politely."""
    if batch.status == BatchStatus.approved:
        who = f" by {batch.decided_by_name}" if batch.decided_by_name else ""
        when = f" on {day(batch.decided_on)}" if batch.decided_on else ""
        return Conflict(f"Batch {batch.batch_no} is already approved{who}{when}; nothing more is needed. Thank you!")
    if batch.status == BatchStatus.rejected:
        return Conflict(f"Batch {batch.batch_no} was rejected; it cannot be {verb}.")
    if batch.status == BatchStatus.on_hold:
        return Conflict(f"Batch {batch.batch_no} is on hold; it must go back to review "
                        f"(`/cmo batch resume {batch.batch_no}`) before it can be {verb}.")
    if batch.status == BatchStatus.qa_release:
        return Conflict(f"Batch {batch.batch_no} awaits the CMO's QA release; the customer review starts after it, "
                        f"so it cannot be {verb} yet.")
    return Conflict(f"Batch {batch.batch_no} is awaiting review; it cannot be {verb}.")


def _transition(session: Session, batch: Batch, expected: tuple[BatchStatus, ...], verb: str,
                **values: Any) -> None:
    """The conditional UPDATE: only a batch still in an expected state changes; the loser of a race is told."""
    statement = (update(Batch).where(col(Batch.id) == batch.id, col(Batch.status).in_(expected))
                 .values(**values))
    if session.exec(statement).rowcount != 1:
        session.refresh(batch)
        raise refusal(batch, verb)
    session.refresh(batch)


def _decided(actor: Actor, now: datetime, program: Program, name: str | None = None) -> dict[str, Any]:
    return {"decided_at": now, "decided_on": now.astimezone(program.tz).date(), "decided_by": actor.user_id,
            "decided_by_name": (name or actor.name)[:255]}


def approve(session: Session, program: Program, batch_no: str, *, signer: Signer, actor: Actor, now: datetime,
            comment: str = "", opened: Opened | None = None, key: str | None = None) -> Signed | signing.Refusal:
    """Sign the batch record; in an `any` program (or when every approver has signed) the batch is approved.

    A signature the checks refuse (`signable`) is returned as a Refusal with nothing signed."""
    batch = get(session, program, batch_no, lock=True)
    if batch.status != BatchStatus.awaiting:
        raise refusal(batch, "approved")
    signed = {s.user_id for s in signatures(session, batch, current_round=True)}
    if signer.user_id in signed:
        raise Conflict(f"You have already signed batch {batch.batch_no}; the other approvers are still to sign.")
    refused = signable(session, program, batch, signer=signer, actor=actor, now=now, opened=opened,
                        doing="approve", key=key)
    if refused is not None:
        return refused
    local = now.astimezone(ZoneInfo(signer.tz))
    signature = BatchSignature(batch_id=pk(batch), review_round=batch.review_round, user_id=signer.user_id,
                               signer_name=signer.name[:255], meaning=meaning(batch), signed_at=now,
                               local_time=local.isoformat(timespec="seconds"), local_tz=signer.tz,
                               second_component=settings_of(program).signing, comment=(comment or "").strip()[:2000],
                               linked_sha256=link(program, batch, batch.review_round))
    session.add(signature)
    session.flush()
    _audit(session, program, batch, "signed", actor=actor, now=now, after=signature.model_dump(exclude={"id"}))
    approvers = set(user_ids(session, pk(program), Role.customer_approver))
    missing = tuple(sorted(approvers - signed - {signer.user_id}))
    complete = settings_of(program).approvals == ApprovalMode.any or not missing
    if complete:
        before = batch.snapshot()
        _transition(session, batch, (BatchStatus.awaiting,), "approved", status=BatchStatus.approved,
                    reason=None, **_decided(actor, now, program, signer.name))
        outbox.cancel(session, subject=f"batch:{batch.id}")
        _audit(session, program, batch, "approved", actor=actor, now=now, before=before, after=batch.snapshot())
    return Signed(batch, signature, complete, () if complete else missing)


def _reasoned(reason: str) -> str:
    reason = (reason or "").strip()
    if len(reason) < 3:
        raise Invalid("Give a reason, so the program managers know what to resolve.", "reason")
    return reason[:2000]


def hold(session: Session, program: Program, batch_no: str, *, reason: str, actor: Actor, now: datetime) -> Batch:
    reason = _reasoned(reason)
    batch = get(session, program, batch_no, lock=True)
    before = batch.snapshot()
    _transition(session, batch, (BatchStatus.awaiting,), "put on hold", status=BatchStatus.on_hold, reason=reason,
                **_decided(actor, now, program))
    outbox.cancel(session, subject=f"batch:{batch.id}")
    _audit(session, program, batch, "held", actor=actor, now=now, before=before, after=batch.snapshot())
    return batch


def reject(session: Session, program: Program, batch_no: str, *, reason: str, actor: Actor, now: datetime,
           signer: Signer | None = None, opened: Opened | None = None, key: str | None = None,
           historic: bool = False) -> Batch | signing.Refusal:
    """Reject the batch; signed (`signer`) in the signing dialog, where the signature's attributes and link go
    into the audit row. A refusal of the checks is returned with nothing changed but its audit rows."""
    reason = _reasoned(reason)
    batch = get(session, program, batch_no, lock=True)
    if batch.status not in OPEN:
        raise refusal(batch, "rejected")
    if historic:
        refused = None
    elif signer is None:
        refused = segregation(session, program, batch, actor=actor, now=now, doing="reject")
    else:
        refused = signable(session, program, batch, signer=signer, actor=actor, now=now, opened=opened,
                            doing="reject", key=key)
    if refused is not None:
        return refused
    before = batch.snapshot()
    signature = {} if signer is None else {"signature": {
        "signer_name": signer.name[:255], "user_id": signer.user_id, "meaning": meaning(batch, rejected=True),
        "local_time": now.astimezone(ZoneInfo(signer.tz)).isoformat(timespec="seconds"), "local_tz": signer.tz,
        "second_component": settings_of(program).signing, "linked_sha256": link(program, batch, batch.review_round)}}
    _transition(session, batch, OPEN, "rejected", status=BatchStatus.rejected, reason=reason,
                **_decided(actor, now, program, signer.name if signer else None))
    outbox.cancel(session, subject=f"batch:{batch.id}")
    _audit(session, program, batch, "rejected", actor=actor, now=now, before=before,
           after={**batch.snapshot(), **signature})
    return batch


def resume(session: Session, program: Program, batch_no: str, *, actor: Actor, now: datetime,
           note: str = "") -> Batch:
    """A held batch goes back to review: a new round (reminders and SLA count again from today)."""
    batch = get(session, program, batch_no, lock=True)
    before = batch.snapshot()
    if batch.status != BatchStatus.on_hold:
        raise Conflict(f"Batch {batch.batch_no} is {batch.state.label}, not on hold; nothing to send back.")
    _transition(session, batch, (BatchStatus.on_hold,), "sent back to review", status=BatchStatus.awaiting,
                review_round=batch.review_round + 1, round_started_on=now.astimezone(program.tz).date(),
                decided_at=None, decided_on=None, decided_by=None, decided_by_name=None)
    _audit(session, program, batch, "back_to_review", actor=actor, now=now, before=before,
           after={**batch.snapshot(), "note": (note or "").strip()[:2000]})
    return batch


def schedule_call(session: Session, program: Program, batch_no: str, *, starts_local: datetime, minutes: int,
                  actor: Actor, now: datetime) -> tuple[Batch, ReviewCall]:
    """A review call at a wall-clock time in the program's time zone (`starts_local` is naive)."""
    batch = get(session, program, batch_no)
    if batch.status not in OPEN:
        raise refusal(batch, "discussed in a review call")
    if not 5 <= minutes <= 480:
        raise Invalid("A review call lasts 5 to 480 minutes.", "minutes")
    starts_at = starts_local.replace(tzinfo=program.tz)
    if starts_at <= now:
        raise Invalid(f"{starts_local:%Y-%m-%d %H:%M} ({program.timezone}) has passed; pick a later time.", "when")
    call = ReviewCall(batch_id=pk(batch), starts_at=starts_at, minutes=minutes, requested_by=actor.user_id,
                      created_at=now)
    session.add(call)
    session.flush()
    _audit(session, program, batch, "review_call_scheduled", actor=actor, now=now,
           after={"call_id": call.id, "starts_at": call.starts_at, "local": starts_at.isoformat(), "minutes": minutes})
    return batch, call


def call_participants(session: Session, program: Program, requested_by: str) -> list[str]:
    people = set(user_ids(session, pk(program), Role.customer_approver, Role.program_manager, Role.cmo_quality))
    return sorted(people | {requested_by})


def gate(session: Session, program: Program, batch: Batch, *, stage: str, actor: Actor, now: datetime) -> list[str]:
    """The quality-agreement gate at `stage` (ready, approval): what is missing for the program to be covered by
    a current executed quality agreement today (empty when covered); a gap is recorded in the audit trail."""
    gaps = list(agreements.coverage_gaps(session, program_id=pk(program), on=now.astimezone(program.tz).date()))
    if gaps:
        _audit(session, program, batch, "gate_warning", actor=actor, now=now,
               after={"stage": stage, "gaps": gaps,
                      "warned": user_ids(session, pk(program), Role.program_manager, Role.cmo_quality)})
    return gaps
