"""Block Kit for submissions: the new-submission form, owners' requests, the attach forms, status."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from enum import StrEnum

from pydantic import BaseModel
from slack_sdk.models.blocks import Block

from bot import blocks as bk
from commands.signing import code_input
from store.db import pk
from store.markup import day, escape, plural
from store.programs import Program
from store.submissions import service as subs


class Ids(StrEnum):
    new_view = "submission_new"
    attach = subs.ATTACH_ACTION  # button on owners' requests and reminders
    attach_view = "submission_attach_view"
    shortcut = "file_submission_item"  # message shortcut (manifest.yml)
    shortcut_view = "submission_shortcut_view"
    sign_view = "submission_sign_view"


class NewMeta(BaseModel):
    program: str


class DocumentRef(BaseModel):
    """The document signing dialog's private_metadata: the item and the file (SHA-256) it was opened for and
    the signer's printed name and zone, sealed (commands.forms.seal)."""

    item_id: int
    sha256: str
    name: str
    tz: str
    mac: str = ""

    def parts(self, user_id: str) -> tuple[str, ...]:
        return (user_id, str(self.item_id), self.sha256, self.name, self.tz)


def sign_view(submission: subs.Submission, entry: subs.SubmissionItem, file: subs.SubmissionFile,
              ref: DocumentRef, meaning: str) -> dict:
    return bk.modal("Approve document", Ids.sign_view, [
        bk.section(f"*Meaning of this signature:*\n>{escape(meaning)}"),
        bk.context(f"Signing as *{escape(ref.name)}* · {escape(submission.ref)} item #{entry.number} · "
                   f"{escape(file.name)} SHA-256 `{file.sha256[:12]}…`. Your printed name, Slack id, the date and "
                   f"time (UTC and {escape(ref.tz)}) and this meaning are recorded in the audit trail."),
        code_input(),
    ], submit="Sign and approve", private_metadata=ref.model_dump_json())


class AttachMeta(BaseModel):
    item_id: int


class ShortcutMeta(BaseModel):
    channel: str
    files: list[str]
    mac: str


def new_view(program: Program) -> dict:
    kinds = [(k.value, subs.template(k).name) for k in subs.SubmissionType]
    return bk.modal("New submission", Ids.new_view, [
        bk.context(f"Program *{escape(program.code)}* ({escape(program.customer)}). The checklist comes from the "
                   "template of the type; add, remove or mark items not applicable afterwards."),
        bk.select_input("kind", "Submission type", kinds),
        bk.text_input("title", "Title", max_length=200, placeholder="Acmezol 10 mg tablets — DMF update"),
        bk.date_input("filing_date", "Customer's filing date"),
        bk.text_input("contact", "Customer contact", optional=True, max_length=200,
                      hint="Who at the customer files it (name, e-mail)."),
    ], submit="Create", private_metadata=NewMeta(program=program.code).model_dump_json())


def item_line(entry: subs.SubmissionItem, *, owner: bool = True) -> str:
    parts = [f"*#{entry.number} {escape(entry.document)}*", escape(entry.section)]
    if entry.source:
        parts.append(f"from {escape(entry.source)}")
    parts.append(f"due {day(entry.due_on)}")
    if owner:
        parts.append(bk.mention(entry.owner) if entry.owner else "_unassigned_")
    parts.append(subs.ItemStatus(entry.status).label)
    return " · ".join(parts)


def headline(program: Program, submission: subs.Submission) -> str:
    return (f"{program.code} {submission.ref} — {subs.type_name(submission.kind)}: {submission.title}")


def owner_request(program: Program, submission: subs.Submission, entries: Sequence[subs.SubmissionItem]
                  ) -> tuple[str, list[dict]]:
    """The DM asking one owner for their documents, one Attach button per item."""
    text = (f"You are asked for {plural(len(entries), 'document')} for {escape(headline(program, submission))}, "
            f"filing date {day(submission.filing_date)}.")
    blocks: list[Block] = [bk.section(text)]
    for entry in entries[:45]:
        blocks.append(bk.section(item_line(entry, owner=False),
                                 accessory=bk.button("Attach document", Ids.attach, str(entry.id))))
    blocks.append(bk.context("Or share the file in Slack and use the message shortcut *File submission item*."))
    return text, bk.message(blocks)


def attach_view(located: subs.Located) -> dict:
    entry = located.item
    return bk.modal("Attach document", Ids.attach_view, [
        bk.section(f"{escape(headline(located.program, located.submission))}\n{item_line(entry)}"),
        bk.file_input("files", "Document(s)", optional=False),
        bk.context("A file with the same name as one already handed in for this item becomes its next version."),
    ], submit="Attach", private_metadata=AttachMeta(item_id=pk(entry)).model_dump_json())


def shortcut_view(choices: Sequence[subs.Located], file_names: Sequence[str], meta: ShortcutMeta) -> dict:
    options = [(str(c.item.id), f"{c.program.code} {c.submission.ref} #{c.item.number} {c.item.document}")
               for c in choices]
    return bk.modal("File submission item", Ids.shortcut_view, [
        bk.section("Files: " + ", ".join(f"`{escape(n)}`" for n in file_names)),
        bk.select_input("item", "Submission item", options),
    ], submit="File", private_metadata=meta.model_dump_json())


def status_blocks(program: Program, submission: subs.Submission, entries: Sequence[subs.SubmissionItem],
                  today: date) -> tuple[str, list[dict]]:
    state = subs.progress(entries)
    days = (submission.filing_date - today).days
    business = subs.business_days_left(program, today, submission.filing_date)
    left = (f"{plural(days, 'day')} ({plural(business, 'business day')}) to the filing date" if days >= 0
            else f"the filing date passed {plural(-days, 'day')} ago")
    summary = f"{state.done}/{state.total} documents in · {left}, {day(submission.filing_date)}"
    blocks = [bk.header(headline(program, submission)), bk.section(summary)]
    if submission.customer_contact:
        blocks.append(bk.context(f"Customer contact: {escape(submission.customer_contact)}"))
    by_owner: dict[str | None, list[subs.SubmissionItem]] = {}
    for entry in state.outstanding:
        by_owner.setdefault(entry.owner, []).append(entry)
    if by_owner:
        blocks.append(bk.section("*Outstanding, by owner*"))
    for owner, owned in sorted(by_owner.items(), key=lambda kv: kv[0] or "~"):
        who = bk.mention(owner) if owner else "_Unassigned_"
        late = sum(e.due_on < today for e in owned)
        lines = [f"{who}: {plural(len(owned), 'item')}" + (f", {late} overdue" if late else "")]
        lines += [f"• {item_line(e, owner=False)}" + (" :warning: overdue" if e.due_on < today else "")
                  for e in owned]
        blocks.append(bk.section("\n".join(lines)))
    settled = [e for e in entries if e.status not in subs.OPEN]
    if settled:
        blocks.append(bk.section("*Received, approved or not applicable*\n"
                                 + "\n".join(f"• {item_line(e)}" for e in settled)))
    if submission.package_sha256:
        blocks.append(bk.context(f"Packaged {day(submission.packaged_at.date())}, SHA-256 "  # type: ignore[union-attr]
                                 f"`{submission.package_sha256}`"))
    return f"{headline(program, submission)}: {summary}", bk.message(blocks)
