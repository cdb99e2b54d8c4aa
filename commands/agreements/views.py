"""Block Kit builders of `/cmo agreement …`: the modals, the show card and the list."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from enum import StrEnum

from pydantic import BaseModel

from bot import blocks as bk
from store.agreements import service as store
from store.agreements.service import Agreement, Document, Kind, Redline, Side, Status
from store.markup import day, escape
from store.programs import Program


class Ids(StrEnum):
    new_view = "agreement_new"
    execute_view = "agreement_execute"
    redline_view = "agreement_redline"
    open_redline = "agreement_open_redline"
    open_execute = "agreement_open_execute"


class Ref(BaseModel):
    """What a modal or button hands back: the program and the agreement, re-authorized on return."""

    program: str
    ref: str = ""


def _terms_blocks(agreement: Agreement | None, *, executed: bool) -> list:
    a = agreement
    evergreen = [("evergreen", "Evergreen: no expiration date, reviewed periodically")]
    return [
        bk.date_input("effective", "Effective date", initial=a.effective_on if a else None, optional=not executed),
        bk.date_input("expires", "Expiration date", initial=a.expires_on if a else None, optional=True,
                      hint="Leave empty for an evergreen agreement."),
        bk.checkbox_input("evergreen", "Evergreen", evergreen),
        bk.date_input("review", "Review date (evergreen)", initial=a.review_on if a else None, optional=True),
        bk.text_input("notice", "Notice period (days)", optional=True, max_length=3,
                      initial=str(a.notice_days) if a and a.notice_days is not None else None,
                      hint="Days before expiry by which notice of non-renewal is due; reminders come before it."),
    ]


def new_view(program: Program, owner: str) -> dict:
    return bk.modal("Log agreement", Ids.new_view, [
        bk.context(f"Program *{escape(program.code)}* ({escape(program.customer)})"),
        bk.select_input("kind", "Type", [(k.value, k.label) for k in Kind], initial=Kind.quality.value),
        bk.text_input("counterparty", "Counterparty", initial=program.customer, max_length=200),
        bk.select_input("status", "Status", [(s.value, s.label) for s in store.ENTRY_STATUSES],
                        initial=Status.draft.value),
        bk.text_input("version", "Version", optional=True, max_length=40, placeholder="v1.0"),
        *_terms_blocks(None, executed=False),
        bk.user_input("owner", "Owner", initial=owner),
        bk.text_input("notes", "Notes", optional=True, multiline=True, max_length=3000),
        bk.file_input("files", "Document (the executed original, or the current draft)", max_files=3),
    ], submit="Log", private_metadata=Ref(program=program.code).model_dump_json())


def execute_view(program: Program, agreement: Agreement) -> dict:
    return bk.modal("Execute agreement", Ids.execute_view, [
        bk.section(f"Executing *{escape(agreement.title)}* with {escape(agreement.counterparty)}. "
                   f"It supersedes the current executed {escape(agreement.kind.label)} of "
                   f"{escape(program.code)}, if there is one."),
        bk.text_input("version", "Executed version", initial=agreement.version, optional=True, max_length=40),
        *_terms_blocks(agreement, executed=True),
        bk.file_input("files", "Executed original", max_files=3),
    ], submit="Execute", private_metadata=Ref(program=program.code, ref=agreement.ref).model_dump_json())


def redline_view(program: Program, agreement: Agreement, side: Side) -> dict:
    return bk.modal("Log redline", Ids.redline_view, [
        bk.section(f"A negotiation round of *{escape(agreement.title)}* ({escape(program.code)})."),
        bk.text_input("version", "Version", optional=True, max_length=40, hint="Empty: R<round number>."),
        bk.select_input("side", "From", [(s.value, f"the {s.label}") for s in Side], initial=side.value),
        bk.text_input("note", "Note", optional=True, multiline=True, max_length=3000),
        bk.file_input("files", "Redlined document", max_files=1),
    ], submit="Log", private_metadata=Ref(program=program.code, ref=agreement.ref).model_dump_json())


def _dates(agreement: Agreement, today: date) -> str:
    if agreement.evergreen:
        return "evergreen" + (f", review {day(agreement.review_on)}" if agreement.review_on else "")
    if agreement.expires_on is None:
        return "—"
    left = store.days_left(agreement, today)
    return day(agreement.expires_on) + (f" ({left} days left)" if left is not None and left > 0 else
                                        " (expired)" if left is not None else "")


def show_blocks(program: Program, agreement: Agreement, rounds: Sequence[Redline], docs: Sequence[Document],
                today: date) -> list[dict]:
    a = agreement
    notice = f"{a.notice_days} days (notice by {day(store.notice_deadline(a))})" \
        if store.notice_deadline(a) else "—"
    blocks = [
        bk.header(f"{program.code} · {a.title}"),
        bk.fields([
            ("Type", a.kind.label), ("Counterparty", escape(a.counterparty)), ("Status", a.status.label),
            ("Version", escape(a.version) or "—"),
            ("Effective", day(a.effective_on) if a.effective_on else "—"), ("Expires", _dates(a, today)),
            ("Notice period", notice), ("Owner", bk.mention(a.owner_id) if a.owner_id else "—"),
        ]),
    ]
    if a.notes:
        blocks.append(bk.section(f"*Notes*\n{escape(a.notes)}"))
    history = [f"{r.round}. *{escape(r.version)}* from the {r.side.label}, {escape(r.by_name)}, {day(r.at.date())}"
               + (f" — {escape(r.note)}" if r.note else "") + (f" · file {escape(r.file_name)}" if r.file_name else "")
               for r in rounds]
    blocks.append(bk.section("*Negotiation history*\n" + ("\n".join(history) or "No redline rounds yet.")))
    if docs:
        blocks.append(bk.section("*Filed documents*\n" + "\n".join(
            f"• {d.role}: `{escape(d.path)}` · SHA-256 `{d.sha256[:16]}…`" for d in docs)))
    if a.status in (Status.draft, Status.negotiation):
        value = Ref(program=program.code, ref=a.ref).model_dump_json()
        blocks.append(bk.actions(bk.button("Log redline", Ids.open_redline, value),
                                 bk.button("Execute", Ids.open_execute, value, style="primary")))
    if a.superseded_by:
        blocks.append(bk.context(f"Superseded{f' from {day(a.superseded_on)}' if a.superseded_on else ''}."))
    return bk.message(blocks)


def list_text(rows: Sequence[tuple[Program, Agreement]], today: date, *, with_program: bool) -> str:
    table = []
    for program, a in rows:
        left = store.days_left(a, today)
        flag = "EXPIRED" if left is not None and left <= 0 else \
            "SOON" if left is not None and left <= store.EXPIRING_SOON_DAYS else ""
        expires = "evergreen" if a.evergreen else a.expires_on.isoformat() if a.expires_on else "—"
        row = [a.ref, a.kind.label, a.version or "—", a.status.label,
               a.effective_on.isoformat() if a.effective_on else "—", expires,
               "" if left is None else str(left), flag]
        table.append([program.code, *row] if with_program else row)
    head = ["ID", "Type", "Version", "Status", "Effective", "Expires", "Days left", ""]
    return bk.table(table, ["Program", *head] if with_program else head)
