"""Agreements: the NDA, Quality Agreement, MSA … of a program, their negotiation and their renewal.

Life cycle: draft → in negotiation (redline rounds, each a version from one side) → executed (dated) →
in force until it expires or a newer executed agreement of the same type supersedes it. Expiry is the
first day an agreement is no longer in force ("expired on Fri 4 Dec 2026").

Also here: the renewal schedule, the gate other areas ask (`is_covered`, `coverage_gaps`) and the digest
section (`digest_sections`); the tables are in store/agreements/models.py, the reminders (a program's reminder
days and the due rule) in store/agreements/rules.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import bindparam, func
from sqlmodel import Session, col, select

from store import audit, outbox
from store.agreements.models import (
    ENTRY_STATUSES,
    GATE_KIND,
    Agreement,
    Dated,
    Document,
    Kind,
    Redline,
    Renewing,
    Side,
    Status,
    Terms,
)
from store.audit import Actor
from store.db import pk
from store.errors import Conflict, Invalid, NotFound
from store.filing import Filed
from store.markup import day, escape
from store.programs import Program

MAX_NOTICE_DAYS = 730
FAR_FUTURE_DAYS = 366  # an effective date more than a year ahead is almost surely a typo
EXPIRING_SOON_DAYS = 30


def check_terms(terms: Terms, *, executed: bool, today: date) -> Terms:
    """Errors name the form field (block id) they belong to."""
    if terms.effective_on and terms.effective_on > today + timedelta(days=FAR_FUTURE_DAYS):
        raise Invalid(f"{day(terms.effective_on)} is more than a year ahead; check the year.", "effective")
    if terms.evergreen and terms.expires_on:
        raise Invalid("An evergreen agreement has no expiration date; clear one of them.", "expires")
    if terms.effective_on and terms.expires_on and terms.expires_on <= terms.effective_on:
        raise Invalid("The expiration date must be after the effective date.", "expires")
    if terms.notice_days is not None and not 0 <= terms.notice_days <= MAX_NOTICE_DAYS:
        raise Invalid(f"The notice period is 0 to {MAX_NOTICE_DAYS} days.", "notice")
    if executed:
        if terms.effective_on is None:
            raise Invalid("An executed agreement needs its effective date.", "effective")
        if not terms.evergreen and terms.expires_on is None:
            raise Invalid("An executed agreement needs an expiration date, or tick evergreen.", "expires")
        if terms.evergreen and terms.review_on is None:
            raise Invalid("An evergreen agreement needs a review date.", "review")
    if terms.review_on and terms.effective_on and terms.review_on <= terms.effective_on:
        raise Invalid("The review date must be after the effective date.", "review")
    if terms.notice_days and terms.expires_on and terms.effective_on and \
            terms.expires_on - timedelta(days=terms.notice_days) <= terms.effective_on:
        raise Invalid("The notice period is longer than the agreement runs.", "notice")
    return terms


def _local_today(program: Program, now: datetime) -> date:
    return now.astimezone(program.tz).date()


def _apply_terms(agreement: Agreement, terms: Terms, today: date) -> None:
    agreement.effective_on = terms.effective_on
    agreement.expires_on = None if terms.evergreen else terms.expires_on
    agreement.evergreen = terms.evergreen
    agreement.review_on = terms.review_on
    agreement.notice_days = terms.notice_days
    agreement.dates_set_on = today


# The program's agreements, numbering a new one: built once (a form's write, before its ack, ran its making too).
_COUNT = select(func.count()).select_from(Agreement).where(Agreement.program_id == bindparam("program_id"))


def create(session: Session, *, program: Program, actor: Actor, now: datetime, kind: Kind, counterparty: str,
           status: Status, terms: Terms, version: str = "", owner_id: str | None = None,
           notes: str = "") -> Agreement:
    if status not in ENTRY_STATUSES:
        raise Invalid("Log it as draft, in negotiation or executed.", "status")
    if not counterparty.strip():
        raise Invalid("Name the counterparty.", "counterparty")
    today = _local_today(program, now)
    check_terms(terms, executed=status == Status.executed, today=today)
    audit.lock(session)  # the check below and the insert run alone among writers (no duplicate-key race)
    count = session.exec(_COUNT, params={"program_id": program.id}).one()
    agreement = Agreement(
        program_id=pk(program), ref=f"{kind.prefix}-{count + 1}", kind=kind, counterparty=counterparty.strip()[:200],
        status=status, version=version.strip()[:40], owner_id=owner_id or actor.user_id, notes=notes.strip()[:3000],
        created_by=actor.user_id, created_at=now, updated_at=now,
    )
    _apply_terms(agreement, terms, today)
    session.add(agreement)
    session.flush()
    audit.record(session, actor=actor, action="created", entity="agreement", entity_id=agreement.ref,
                 program_id=program.id, after=agreement.snapshot(), now=now)
    if status == Status.executed:
        _supersede_older(session, agreement, actor=actor, now=now)
    return agreement


def get(session: Session, program: Program, ref: str) -> Agreement:
    agreement = session.exec(select(Agreement).where(Agreement.program_id == program.id,
                                                     Agreement.ref == ref.strip().upper())).first()
    if agreement is None:
        raise NotFound(f"{program.code} has no agreement {escape(ref.strip()[:20])}. See `/cmo agreement list`.")
    return agreement


def for_program(session: Session, program_id: int) -> list[Agreement]:
    return list(session.exec(select(Agreement).where(Agreement.program_id == program_id).order_by(col(Agreement.id))))


def for_programs(session: Session, program_ids: Sequence[int]) -> list[Agreement]:
    query = select(Agreement).where(col(Agreement.program_id).in_(list(program_ids)))
    return list(session.exec(query.order_by(col(Agreement.program_id), col(Agreement.id))))


def redlines(session: Session, agreement_id: int) -> list[Redline]:
    return list(session.exec(select(Redline).where(Redline.agreement_id == agreement_id).order_by(col(Redline.round))))


def documents(session: Session, agreement_id: int) -> list[Document]:
    return list(session.exec(select(Document).where(Document.agreement_id == agreement_id).order_by(col(Document.id))))


def log_redline(session: Session, agreement: Agreement, *, actor: Actor, now: datetime, side: Side,
                version: str = "", note: str = "", slack_file_id: str | None = None,
                file_name: str | None = None) -> Redline:
    """One negotiation round; a draft moves to in negotiation."""
    if agreement.status not in (Status.draft, Status.negotiation):
        raise Conflict(f"{agreement.ref} is {agreement.status.label.lower()}; log a new version as a new "
                       "agreement (`/cmo agreement new`) and negotiate that.")
    rounds = redlines(session, pk(agreement))
    number = len(rounds) + 1
    redline = Redline(agreement_id=pk(agreement), round=number, version=(version.strip() or f"R{number}")[:40],
                      side=side, by_id=actor.user_id, by_name=actor.name[:255], at=now, note=note.strip()[:3000],
                      slack_file_id=slack_file_id, file_name=(file_name or None) and file_name[:255])
    session.add(redline)
    before = agreement.status
    agreement.status = Status.negotiation
    agreement.version = redline.version
    agreement.updated_at = now
    session.add(agreement)
    session.flush()
    audit.record(session, actor=actor, action="redline_logged", entity="agreement", entity_id=agreement.ref,
                 program_id=agreement.program_id, before={"status": before},
                 after={"status": agreement.status, "round": number, "version": redline.version,
                        "side": side, "note": redline.note, "slack_file_id": slack_file_id}, now=now)
    return redline


def execute(session: Session, agreement: Agreement, *, program: Program, actor: Actor, now: datetime, terms: Terms,
            version: str | None = None) -> list[Agreement]:
    """Executed with its dates; supersedes older executed agreements of the type. Returns those superseded."""
    if agreement.status not in (Status.draft, Status.negotiation):
        raise Conflict(f"{agreement.ref} is already {agreement.status.label.lower()}.")
    today = _local_today(program, now)
    check_terms(terms, executed=True, today=today)
    before = agreement.snapshot()
    agreement.status = Status.executed
    if version:
        agreement.version = version.strip()[:40]
    _apply_terms(agreement, terms, today)
    agreement.updated_at = now
    session.add(agreement)
    audit.record(session, actor=actor, action="executed", entity="agreement", entity_id=agreement.ref,
                 program_id=program.id, before=before, after=agreement.snapshot(), now=now)
    return _supersede_older(session, agreement, actor=actor, now=now)


def _supersede_older(session: Session, newer: Agreement, *, actor: Actor, now: datetime) -> list[Agreement]:
    older = session.exec(select(Agreement).where(
        Agreement.program_id == newer.program_id, Agreement.kind == newer.kind,
        Agreement.status == Status.executed, Agreement.id != newer.id)).all()
    for old in older:
        old.status = Status.superseded
        old.superseded_by = newer.id
        old.superseded_on = newer.effective_on
        old.updated_at = now
        session.add(old)
        # a gap after its term (it expires before the newer takes effect) keeps its expiry alert and adds
        # the gap's own (`store.agreements.gaps`); its renewal reminders are moot either way
        gap = old.expires_on is not None and newer.effective_on is not None and old.expires_on < newer.effective_on
        cancelled = outbox.cancel(session, subject=subject(pk(old)),
                                  key_prefix=f"agreement:{old.id}:renewal" if gap else None)
        audit.record(session, actor=actor, action="superseded", entity="agreement", entity_id=old.ref,
                     program_id=old.program_id, before={"status": Status.executed},
                     after={"status": old.status, "superseded_by": newer.ref, "superseded_on": old.superseded_on,
                            "reminders_cancelled": cancelled}, now=now)
    session.flush()
    return list(older)


def renew(session: Session, agreement: Agreement, *, program: Program, actor: Actor, now: datetime,
          expires_on: date, version: str | None = None) -> Agreement:
    """The same agreement runs on to a new expiration date: pending reminders of the old date are cancelled."""
    if agreement.status != Status.executed:
        raise Conflict(f"Only an executed agreement can be renewed; {agreement.ref} is "
                       f"{agreement.status.label.lower()}.")
    if agreement.evergreen:
        raise Conflict(f"{agreement.ref} is evergreen; it has no expiration date to renew.")
    if agreement.expires_on and expires_on <= agreement.expires_on:
        raise Invalid(f"The new expiration date must be after {day(agreement.expires_on)}.", "expires")
    terms = Terms(agreement.effective_on, expires_on, False, None, agreement.notice_days)
    check_terms(terms, executed=True, today=_local_today(program, now))
    before = agreement.snapshot()
    _apply_terms(agreement, terms, _local_today(program, now))
    if version:
        agreement.version = version.strip()[:40]
    agreement.updated_at = now
    session.add(agreement)
    cancelled = outbox.cancel(session, subject=subject(pk(agreement)))
    audit.record(session, actor=actor, action="renewed", entity="agreement", entity_id=agreement.ref,
                 program_id=program.id, before=before,
                 after={**agreement.snapshot(), "reminders_cancelled": cancelled}, now=now)
    return agreement


def record_document(session: Session, agreement: Agreement, filed: Filed, *, actor: Actor, now: datetime,
                    role: str, name: str, slack_file_id: str | None) -> Document:
    document = Document(agreement_id=pk(agreement), role=role, slack_file_id=slack_file_id, name=name[:255],
                        path=str(filed.path), sha256=filed.sha256, size=filed.size, filed_by=actor.user_id,
                        filed_at=now)
    session.add(document)
    session.flush()
    audit.record(session, actor=actor, action="document_filed", entity="agreement", entity_id=agreement.ref,
                 program_id=agreement.program_id,
                 after={"role": role, "name": document.name, "path": document.path, "sha256": filed.sha256,
                        "size": filed.size, "slack_file_id": slack_file_id}, now=now)
    return document


# --- the renewal schedule (pure) ------------------------------------------------------------------------

@dataclass(frozen=True)
class Stage:
    name: str  # "90d", "60d", "30d", "expiry", "review"
    nominal: date  # the day the schedule says
    on: date  # the day it is due: never before the dates were recorded
    urgent: bool = False


def notice_deadline(agreement: Renewing) -> date | None:
    if agreement.expires_on is None or not agreement.notice_days:
        return None
    return agreement.expires_on - timedelta(days=agreement.notice_days)


def schedule(agreement: Renewing, days: Sequence[int]) -> list[Stage]:
    """Every stage of the current term in date order. With a notice period the reminders count back from the
    notice deadline (expiry − notice days), so the first comes before the deadline; then the expiry alert on
    the day it expires. Evergreen: one reminder on the review date. A stage that fell before the dates were
    recorded is due on that day instead (not 'late')."""
    since = agreement.dates_set_on or date.min
    if agreement.evergreen or agreement.expires_on is None:
        if agreement.review_on is None:
            return []
        return [Stage("review", agreement.review_on, max(agreement.review_on, since))]
    anchor = notice_deadline(agreement) or agreement.expires_on
    stages = [Stage(f"{d}d", anchor - timedelta(days=d), max(anchor - timedelta(days=d), since))
              for d in sorted(set(days), reverse=True)]
    stages.append(Stage("expiry", agreement.expires_on, max(agreement.expires_on, since), urgent=True))
    return stages


def current_stage(agreement: Renewing, days: Sequence[int], today: date) -> Stage | None:
    """The latest stage due by `today`: after an outage the earlier ones are moot."""
    due = [s for s in schedule(agreement, days) if s.on <= today]
    return due[-1] if due else None


def subject(agreement_id: int) -> str:
    return f"agreement:{agreement_id}"



# --- the gate --------------------------------------------------------------------------------------------

def in_force(agreement: Dated, on: date) -> bool:
    """Executed (or superseded later than `on`) and within its term on `on`."""
    if agreement.status not in (Status.executed, Status.superseded) or agreement.effective_on is None:
        return False
    if agreement.superseded_on is not None and on >= agreement.superseded_on:
        return False
    if agreement.status == Status.superseded and agreement.superseded_on is None:
        return False
    return agreement.effective_on <= on and (agreement.expires_on is None or on < agreement.expires_on)


def _gap(kind: Kind, agreements: Sequence[Dated], on: date) -> str | None:
    mine = [a for a in agreements if a.kind == kind]
    if any(in_force(a, on) for a in mine):
        return None
    executed = [a for a in mine if a.status in (Status.executed, Status.superseded) and a.effective_on]
    expired = [a for a in executed if a.expires_on and a.expires_on <= on]
    future = [a for a in executed if a.effective_on and a.effective_on > on]
    if future:
        first = min(future, key=lambda a: a.effective_on or date.min)  # every one has a date (above)
        return f"the {kind.label} {first.ref} takes effect only on {day(first.effective_on)}"
    if expired:
        last = max(expired, key=lambda a: a.expires_on or date.min)
        return f"the {kind.label} expired on {day(last.expires_on)}"
    open_ = [a for a in mine if a.status in (Status.draft, Status.negotiation)]
    note = f" ({', '.join(f'{a.ref} is {a.status.label.lower()}' for a in open_)})" if open_ else ""
    return f"no current executed {kind.label}{note}"


def coverage_gaps(session: Session, *, program_id: int, on: date) -> list[str]:
    """What keeps the program from being covered by a Quality Agreement on `on` (the gate batches ask):
    empty when an executed one is in force that day. A missing Mutual NDA is not part of it (`nda_gap`)."""
    return gaps_of(for_program(session, program_id), on)


def gaps_of(agreements: Sequence[Dated], on: date) -> list[str]:
    """`coverage_gaps` of one program's agreements already loaded (for bulk callers)."""
    gap = _gap(GATE_KIND, list(agreements), on)
    return [gap] if gap else []


def nda_gap(agreements: Sequence[Dated], on: date) -> str | None:
    """Why no Mutual NDA is in force on `on` (None when one is): shown on its own in program status, the
    digest and App Home — confidentiality, not the quality-agreement gate."""
    return _gap(Kind.nda, list(agreements), on)


NDA_MISSING = "Mutual NDA not in force"


def is_covered(session: Session, *, program_id: int, on: date) -> bool:
    """True when an executed Quality Agreement is in force on `on` (the GMP condition for making product)."""
    return any(in_force(a, on) for a in for_program(session, program_id) if a.kind == Kind.quality)


# --- listing and the digest ------------------------------------------------------------------------------

def days_left(agreement: Agreement, today: date) -> int | None:
    if agreement.status != Status.executed or agreement.expires_on is None:
        return None
    return (agreement.expires_on - today).days


def urgency(agreement: Agreement, today: date) -> int:
    """Sort order of a list: expired first, then expiring within 30 days, then the rest."""
    left = days_left(agreement, today)
    if left is not None and left <= 0:
        return 0
    if left is not None and left <= EXPIRING_SOON_DAYS:
        return 1
    return 2 if agreement.status != Status.superseded else 3


def ordered(agreements: Iterable[Agreement], today: date) -> list[Agreement]:
    def key(a: Agreement) -> tuple:
        left = days_left(a, today)
        return urgency(a, today), left is None, left or 0, a.program_id, a.id

    return sorted(agreements, key=key)


def digest_section(session: Session, program: Program, today: date) -> list[str]:
    return digest_sections(session, [(program, today)])[pk(program)]


def digest_sections(session: Session, days: Sequence[tuple[Program, date]]) -> dict[int, list[str]]:
    """The section of each (program, its local today), by program id: one query for all of them."""
    by_program: dict[int, list[Agreement]] = {pk(program): [] for program, _ in days}
    for agreement in for_programs(session, list(by_program)):
        by_program[agreement.program_id].append(agreement)
    return {pk(program): _digest_lines(by_program[pk(program)], today) for program, today in days}


def _digest_lines(agreements: list[Agreement], today: date) -> list[str]:
    gaps, nda = gaps_of(agreements, today), nda_gap(agreements, today)
    lines = []
    if gaps:
        lines.append(":warning: *Quality agreement gate not met*: " + "; ".join(escape(g) for g in gaps) + ".")
    if nda:
        lines.append(f":page_facing_up: *{NDA_MISSING}*: {escape(nda)}.")
    for agreement in ordered(agreements, today):
        left = days_left(agreement, today)
        if left is None or left > EXPIRING_SOON_DAYS:
            continue
        when = f"expired on {day(agreement.expires_on)}" if left <= 0 else \
            f"expires on {day(agreement.expires_on)} ({left} days)"
        lines.append(f"• {escape(agreement.title)} {when}")
    return lines
