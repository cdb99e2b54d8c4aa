"""Regulatory submissions: a checklist of documents per filing, built from a reviewed template.

A submission (`SUB-001`, unique per program) has items: a document in a section, an owner, a source, a
due date (the filing date minus the template's buffer in business days, editable) and a status. An
owner hands a document in by sharing the file to the bot; each file is kept with its SHA-256 and a
version per file name; an item received, approved or not applicable is settled and its pending reminders
(store/submissions/rules.py) are cancelled. Tables: store/submissions/models.py; templates:
store/submissions/templates/.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from store import audit, outbox
from store.audit import Actor
from store.calendar import add_business_days, business_days_between
from store.db import pk, referenced
from store.errors import Conflict, Invalid, NotFound
from store.filing import Filed
from store.markup import day, escape, plural
from store.programs import Program, ProgramMember, Role
from store.submissions.models import (
    OPEN,
    ItemStatus,
    Submission,
    SubmissionFile,
    SubmissionItem,
    SubmissionType,
    progress,
)
from store.submissions.templates import template, type_name

ATTACH_ACTION = "submission_attach"  # the button on owners' DMs and reminders (commands.submissions.commands.Ids)
DEFAULT_BUFFER = 5  # business days before the filing date, for items added by hand


# --- services --------------------------------------------------------------------------------------------


def _entity_id(program: Program, submission: Submission) -> str:
    return f"{program.code}/{submission.ref}"


def _record(session: Session, program: Program, submission: Submission, *, actor: Actor, now: datetime,
            action: str, before: object = None, after: object = None) -> None:
    audit.record(session, actor=actor, action=action, entity="submission", entity_id=_entity_id(program, submission),
                 program_id=program.id, before=before, after=after, now=now)


def clean(text: str | None, limit: int) -> str:
    """People's text without control characters (PostgreSQL refuses NUL), trimmed and clipped."""
    return "".join(ch for ch in (text or "") if unicodedata.category(ch)[0] != "C").strip()[:limit]


def local_today(program: Program, now: datetime) -> date:
    return now.astimezone(program.tz).date()


def default_owner(session: Session, program: Program, role: Role | None) -> str | None:
    if role is None:
        return None
    people = session.exec(select(ProgramMember.user_id).where(
        ProgramMember.program_id == program.id, ProgramMember.role == role).order_by(ProgramMember.user_id)).first()
    return people


def create(session: Session, *, program: Program, actor: Actor, now: datetime, kind: SubmissionType | str,
           title: str, filing_date: date, customer_contact: str = "") -> Submission:
    """A submission with its checklist from the template of `kind`, each item owned by the first person
    holding the template's role (none when nobody does: a manager assigns it)."""
    try:
        kind = SubmissionType(kind)
    except ValueError:
        raise Invalid("Choose a submission type.", "kind") from None
    title = clean(title, 200)
    if not title:
        raise Invalid("Give the submission a title.", "title")
    if filing_date <= local_today(program, now):
        raise Invalid("The filing date must be in the future.", "filing_date")
    audit.lock(session)  # the check below and the insert run alone among writers (no duplicate-key race)
    last = session.exec(select(func.max(Submission.number)).where(Submission.program_id == program.id)).one()
    submission = Submission(program_id=pk(program), number=(last or 0) + 1, kind=kind, title=title,
                            filing_date=filing_date, customer_contact=clean(customer_contact, 200),
                            created_by=actor.user_id, created_at=now)
    session.add(submission)
    session.flush()
    owners: dict[Role | None, str | None] = {}
    for number, entry in enumerate(template(kind).items, 1):
        if entry.owner_role not in owners:
            owners[entry.owner_role] = default_owner(session, program, entry.owner_role)
        session.add(SubmissionItem(
            submission_id=pk(submission), number=number, section=entry.section, document=entry.document,
            source=entry.source, owner=owners[entry.owner_role],
            due_on=add_business_days(filing_date, -entry.buffer, program.holiday_calendar),
        ))
    session.flush()
    _record(session, program, submission, actor=actor, now=now, action="created",
            after={**submission.snapshot(), "items": [i.snapshot() for i in items(session, submission)]})
    return submission


REF = re.compile(r"^(?:SUB-?)?0*(\d{1,6})$", re.IGNORECASE)


def by_ref(session: Session, program: Program, ref: str) -> Submission:
    match = REF.match((ref or "").strip())
    found = None
    if match:
        found = session.exec(select(Submission).where(Submission.program_id == program.id,
                                                      Submission.number == int(match.group(1)))).first()
    if found is None:
        raise NotFound(f"{program.code} has no submission {escape(ref)[:20]}; `/cmo submission list` shows them.")
    return found


def of_program(session: Session, program: Program) -> list[Submission]:
    query = select(Submission).where(col(Submission.program_id) == program.id).order_by(col(Submission.number))
    return list(session.exec(query))


def items(session: Session, submission: Submission) -> list[SubmissionItem]:
    query = select(SubmissionItem).where(SubmissionItem.submission_id == submission.id)
    return list(session.exec(query.order_by(col(SubmissionItem.number))))


def item(session: Session, submission: Submission, number: str | int) -> SubmissionItem:
    text = str(number).strip().lstrip("#")
    found = None
    if text.isascii() and text.isdecimal() and len(text) < 7:
        found = session.exec(select(SubmissionItem).where(SubmissionItem.submission_id == submission.id,
                                                          SubmissionItem.number == int(text))).first()
    if found is None:
        raise NotFound(f"{submission.ref} has no item {escape(text)[:10]}; `/cmo submission status "
                       f"{submission.ref}` lists them.")
    return found


@dataclass(frozen=True)
class Located:
    """An item with its submission and program (for handlers that start from an item id)."""

    program: Program
    submission: Submission
    item: SubmissionItem


def locate(session: Session, item_id: int) -> Located:
    row = session.exec(
        select(SubmissionItem, Submission, Program)
        .join(Submission, col(Submission.id) == SubmissionItem.submission_id)
        .join(Program, col(Program.id) == Submission.program_id)
        .where(SubmissionItem.id == item_id)
    ).first()
    if row is None:
        raise NotFound("That submission item no longer exists.")
    return Located(row[2], row[1], row[0])


def _context(session: Session, entry: SubmissionItem) -> tuple[Program, Submission]:
    submission = referenced(session, Submission, entry.submission_id)
    return referenced(session, Program, submission.program_id), submission


def _change(session: Session, entry: SubmissionItem, *, actor: Actor, now: datetime, action: str,
            **changes: Any) -> SubmissionItem:
    program, submission = _context(session, entry)
    before = {k: getattr(entry, k) for k in changes}
    for key, value in changes.items():
        setattr(entry, key, value)
    session.add(entry)
    if entry.status not in OPEN:
        outbox.cancel(session, subject=entry.subject)
    _record(session, program, submission, actor=actor, now=now, action=action,
            before={"item": entry.number, **before}, after={"item": entry.number, **changes})
    return entry


def add_item(session: Session, *, submission: Submission, actor: Actor, now: datetime, section: str,
             document: str, source: str = "", owner: str | None = None, due_on: date | None = None
             ) -> SubmissionItem:
    program = referenced(session, Program, submission.program_id)
    section, document, source = clean(section, 200), clean(document, 300), clean(source, 100)
    if not section or not document:
        raise Invalid("Name the section and the document.")
    if owner is not None:
        require_member(session, program, owner)
    if due_on is not None and due_on > submission.filing_date:
        raise Invalid(f"An item must be due by the filing date, {day(submission.filing_date)}.")
    audit.lock(session)  # the check below and the insert run alone among writers (no duplicate-key race)
    last = session.exec(select(func.max(SubmissionItem.number))
                        .where(SubmissionItem.submission_id == submission.id)).one()
    entry = SubmissionItem(
        submission_id=pk(submission), number=(last or 0) + 1, section=section, document=document,
        source=source, owner=owner,
        due_on=due_on or add_business_days(submission.filing_date, -DEFAULT_BUFFER, program.holiday_calendar),
    )
    session.add(entry)
    session.flush()
    _record(session, program, submission, actor=actor, now=now, action="item_added", after=entry.snapshot())
    return entry


def remove_item(session: Session, *, entry: SubmissionItem, actor: Actor, now: datetime) -> None:
    if files(session, [pk(entry)]):
        raise Conflict(f"Item {entry.number} already has files; mark it not applicable instead.")
    program, submission = _context(session, entry)
    outbox.cancel(session, subject=entry.subject)
    session.delete(entry)
    _record(session, program, submission, actor=actor, now=now, action="item_removed", before=entry.snapshot())


def require_member(session: Session, program: Program, user_id: str) -> None:
    """Owners hold a role on the program: nobody outside it is asked for, or files, its documents."""
    if not session.exec(select(ProgramMember.id).where(ProgramMember.program_id == program.id,
                                                       ProgramMember.user_id == user_id)).first():
        raise Invalid(f"<@{escape(user_id)}> holds no role on {program.code}; give them one first "
                      "(`/cmo program roles add @person ROLE`).", "owner")


def assign(session: Session, *, entry: SubmissionItem, owner: str, actor: Actor, now: datetime) -> SubmissionItem:
    require_member(session, _context(session, entry)[0], owner)
    return _change(session, entry, actor=actor, now=now, action="item_assigned", owner=owner)


def set_due(session: Session, *, entry: SubmissionItem, due_on: date, actor: Actor, now: datetime
            ) -> SubmissionItem:
    _, submission = _context(session, entry)
    if due_on > submission.filing_date:
        raise Invalid(f"Item {entry.number} must be due by the filing date, {day(submission.filing_date)}.")
    return _change(session, entry, actor=actor, now=now, action="item_due_changed", due_on=due_on)


def mark_not_applicable(session: Session, *, entry: SubmissionItem, actor: Actor, now: datetime) -> SubmissionItem:
    if entry.status == ItemStatus.not_applicable:
        raise Conflict(f"Item {entry.number} is already not applicable.")
    return _change(session, entry, actor=actor, now=now, action="item_not_applicable",
                   status=ItemStatus.not_applicable)


def approve(session: Session, *, entry: SubmissionItem, actor: Actor, now: datetime) -> SubmissionItem:
    if entry.status != ItemStatus.received:
        raise Conflict(f"Item {entry.number} is {ItemStatus(entry.status).label}; "
                       "only a received document can be approved.")
    return _change(session, entry, actor=actor, now=now, action="item_approved", status=ItemStatus.approved)


def mark_requested(session: Session, *, entries: Sequence[SubmissionItem], actor: Actor, now: datetime) -> None:
    """The owners were asked by DM: not started → requested (one audit row per item)."""
    for entry in entries:
        if entry.status == ItemStatus.not_started:
            _change(session, entry, actor=actor, now=now, action="item_requested", status=ItemStatus.requested)
            entry.requested_at = now


def files(session: Session, item_ids: Iterable[int]) -> list[SubmissionFile]:
    ids = list(item_ids)
    if not ids:
        return []
    query = select(SubmissionFile).where(col(SubmissionFile.item_id).in_(ids))
    return list(session.exec(query.order_by(col(SubmissionFile.item_id), col(SubmissionFile.id))))


def attach(session: Session, *, entry: SubmissionItem, filed: Filed, name: str, actor: Actor, now: datetime,
           slack_file_id: str = "") -> SubmissionFile:
    """A document handed in: kept with its checksum; a file of the same name is a new version of it.
    The item becomes received (an approved item needs approving again) and its reminders stop."""
    name = clean(name, 150) or filed.path.name
    same = [f for f in files(session, [pk(entry)]) if f.name == name]
    row = SubmissionFile(item_id=pk(entry), name=name, path=filed.path.as_posix(), sha256=filed.sha256,
                         size=filed.size, version=len(same) + 1, slack_file_id=slack_file_id[:32],
                         received_at=now, received_by=actor.user_id, received_by_name=actor.name[:255])
    session.add(row)
    session.flush()
    program, submission = _context(session, entry)
    before = entry.status
    entry.status = ItemStatus.received
    session.add(entry)
    outbox.cancel(session, subject=entry.subject)
    _record(session, program, submission, actor=actor, now=now, action="item_file_received",
            before={"item": entry.number, "status": before},
            after={"item": entry.number, "status": entry.status, "file": row.name, "version": row.version,
                   "path": row.path, "sha256": row.sha256, "size": row.size})
    return row


def fileable(session: Session, actor: Actor, limit: int = 100) -> list[Located]:
    """Items someone may hand a document in for: those they own, and every item of the programs where
    they manage or do regulatory work (all, for admins). Not-applicable items are left out."""
    query = (
        select(SubmissionItem, Submission, Program)
        .join(Submission, col(Submission.id) == SubmissionItem.submission_id)
        .join(Program, col(Program.id) == Submission.program_id)
        .where(SubmissionItem.status != ItemStatus.not_applicable, Program.active == True)  # noqa: E712
    )
    if not actor.is_admin:
        mine = select(ProgramMember.program_id).where(ProgramMember.user_id == actor.user_id)
        managed = mine.where(col(ProgramMember.role).in_((Role.program_manager, Role.regulatory)))
        query = query.where(col(Program.id).in_(mine), (col(SubmissionItem.owner) == actor.user_id)
                            | col(Program.id).in_(managed))
    rows = session.exec(query.order_by(col(SubmissionItem.owner) != actor.user_id, col(Program.code),
                                       col(Submission.number), col(SubmissionItem.number)).limit(limit))
    return [Located(p, s, i) for i, s, p in rows]


def record_package(session: Session, *, program: Program, submission: Submission, filed: Filed, draft: bool,
                   documents: int, gaps: Sequence[str], actor: Actor, now: datetime) -> None:
    """The package's checksum in the audit trail; a final (non-draft) package is also kept on the row."""
    before = {"package_sha256": submission.package_sha256}
    if not draft:
        submission.package_sha256, submission.packaged_at = filed.sha256, now
        session.add(submission)
    _record(session, program, submission, actor=actor, now=now, action="draft_packaged" if draft else "packaged",
            before=before, after={"path": filed.path.as_posix(), "sha256": filed.sha256, "size": filed.size,
                                  "documents": documents, "gaps": list(gaps)})


# --- the digest ------------------------------------------------------------------------------------------------


def digest_section(session: Session, program: Program, today: date) -> list[str]:
    return digest_sections(session, [(program, today)])[pk(program)]


def digest_sections(session: Session, days: Sequence[tuple[Program, date]]) -> dict[int, list[str]]:
    """Per (program, its local today), by program id: one line per submission whose filing date has not
    passed. Two queries for all of them."""
    today_of = {pk(program): today for program, today in days}
    subs: dict[int, list[Submission]] = {program_id: [] for program_id in today_of}
    query = select(Submission).where(col(Submission.program_id).in_(list(today_of)))
    for sub in session.exec(query.order_by(col(Submission.program_id), col(Submission.number))):
        if sub.filing_date >= today_of[sub.program_id]:
            subs[sub.program_id].append(sub)
    by_sub: dict[int, list[SubmissionItem]] = {}
    wanted = [s.id for mine in subs.values() for s in mine]
    if wanted:
        items = select(SubmissionItem).where(col(SubmissionItem.submission_id).in_(wanted))
        for entry in session.exec(items):
            by_sub.setdefault(entry.submission_id, []).append(entry)
    return {program_id: [_digest_line(sub, by_sub.get(pk(sub), []), today_of[program_id]) for sub in mine]
            for program_id, mine in subs.items()}


def _digest_line(sub: Submission, entries: list[SubmissionItem], today: date) -> str:
    state = progress(entries)
    late = sum(e.due_on < today for e in state.outstanding)
    days = (sub.filing_date - today).days
    return (f"• Submission {sub.ref} ({escape(type_name(sub.kind))}) “{escape(sub.title)}”: "
            f"{state.done}/{state.total} documents in, filing in {plural(days, 'day')}"
            + (f", {late} overdue" if late else ""))


def business_days_left(program: Program, today: date, until: date) -> int:
    return business_days_between(today, until, program.holiday_calendar)
