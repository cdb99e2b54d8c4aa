"""Block Kit for batch record review: the channel post and DMs (re-rendered on every change), the modals,
the log and the history. Every piece of user text is escaped."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel

from bot import blocks as bk
from commands.signing import code_input
from store.audit import AuditEntry
from store.batches import service as store
from store.batches.release import button as release_button
from store.batches.rules import ACTIONS, Figures, decision_buttons
from store.batches.service import describe
from store.db import pk
from store.markup import day, escape, local_time, plural
from store.programs import Program


class Ids(StrEnum):
    approve = ACTIONS["approve"]
    hold = ACTIONS["hold"]
    reject = ACTIONS["reject"]
    call = ACTIONS["call"]
    new_view = "batch_new"
    sign_view = "batch_sign"
    hold_view = "batch_hold_view"
    reject_view = "batch_reject_view"
    reject_sign_view = "batch_reject_sign"
    call_view = "batch_call_view"
    decision_block = "batch_decision"


class BatchRef(BaseModel):
    """What a button's value and a modal's private_metadata carry: only which batch (re-checked on use)."""

    batch_id: int


class SignRef(BaseModel):
    """A signing dialog's private_metadata: the batch, the review round and batch record checksum it was
    opened for, and the signer's printed name and time zone looked up when it opened (so the submission
    calls no Slack API before its ack) — sealed (commands.forms.seal) so none of it can be altered."""

    batch_id: int
    review_round: int
    record_sha256: str | None = None
    name: str
    tz: str
    rejected: bool = False
    mac: str = ""

    def parts(self, user_id: str) -> tuple[str, ...]:
        return (user_id, str(self.batch_id), str(self.review_round), self.record_sha256 or "", self.name, self.tz,
                "reject" if self.rejected else "approve")


def component_input(method: str):
    """The second identification component the program's signing method asks for."""
    if method == "initials":
        return bk.text_input("initials", "Your initials, to sign", max_length=8,
                             hint="Second identification component: re-type your initials (e.g. AA for Alice "
                                  "Approver).")
    return code_input()


STATUS_ICONS = {"qa_release": ":mag:", "awaiting": ":hourglass_flowing_sand:", "on_hold": ":double_vertical_bar:",
                "approved": ":white_check_mark:", "rejected": ":x:"}


def _status_line(batch: store.Batch, program: Program, signed: list[store.BatchSignature]) -> str:
    icon = STATUS_ICONS[batch.status]
    when = f" on {day(batch.decided_on)}" if batch.decided_on else ""
    who = f" by {escape(batch.decided_by_name)}" if batch.decided_by_name else ""
    line = f"{icon} *{batch.state.label.capitalize()}*"
    if batch.state in (store.BatchStatus.approved, store.BatchStatus.rejected, store.BatchStatus.on_hold):
        line += f"{who}{when}"
    if batch.reason and batch.state != store.BatchStatus.approved:
        line += f" — {escape(batch.reason)}"
    current = [s for s in signed if s.review_round == batch.review_round]
    if current and batch.state == store.BatchStatus.awaiting:
        line += f" · signed so far: {', '.join(escape(s.signer_name) for s in current)}"
    return line


def batch_message(batch: store.Batch, program: Program, signed: list[store.BatchSignature], *,
                  recipient: str | None, today: date) -> tuple[str, list[dict]]:
    """The channel post (recipient None) or one approver's DM; decision buttons only while they can act."""
    text = f"Batch record {batch.batch_no} of {program.code}: {batch.state.label}"
    facts = [("Program", f"{escape(program.code)} — {escape(program.customer)}"),
             ("Product", escape(batch.product) or "—"),
             ("Available since", day(batch.ready_on)),
             ("Release by", day(batch.release_by) if batch.release_by else "—"),
             ("Days in review", plural(store.review_days(batch, program, today), "business day"))]
    if batch.record_name:
        facts.append(("Batch record", f"{escape(batch.record_name)} (SHA-256 `{(batch.record_sha256 or '')[:12]}…`)"))
    blocks = [bk.header(f"Batch record {batch.batch_no} — ready for review"), bk.fields(facts),
              bk.section(_status_line(batch, program, signed))]
    has_signed = any(s.user_id == recipient and s.review_round == batch.review_round for s in signed)
    if recipient is not None and batch.state == store.BatchStatus.qa_release:  # DMs then go to CMO quality only
        b = release_button(pk(batch))
        blocks.append(bk.actions(bk.button(b.label, b.action_id, b.value, b.style), block_id=Ids.decision_block))
    elif recipient is not None and batch.state == store.BatchStatus.awaiting and not has_signed:
        buttons = [bk.button(b.label, b.action_id, b.value, b.style) for b in decision_buttons(pk(batch))]
        blocks.append(bk.actions(*buttons, block_id=Ids.decision_block))
    elif recipient is not None and has_signed and batch.state == store.BatchStatus.awaiting:
        blocks.append(bk.context("You have signed; waiting for the other approvers."))
    blocks.append(bk.context(f"`/cmo batch status {escape(batch.batch_no)}` shows its whole history."))
    return text, bk.message(blocks)


def sign_view(batch: store.Batch, program: Program, ref: SignRef, comment: str = "") -> dict:
    """The signing dialog, to approve or (`ref.rejected`) to reject with a reason."""
    verb = "reject" if ref.rejected else "approve"
    record = f" · batch record SHA-256 `{batch.record_sha256[:12]}…`" if batch.record_sha256 else ""
    text = ("Reason" if ref.rejected else "Comment")
    return bk.modal(f"{verb.capitalize()} batch record", Ids.reject_sign_view if ref.rejected else Ids.sign_view, [
        bk.section(f"*Meaning of this signature:*\n>{escape(store.meaning(batch, rejected=ref.rejected))}"),
        bk.context(f"Signing as *{escape(ref.name)}* · program {escape(program.code)} · review round "
                   f"{batch.review_round}{record}. Your printed name, Slack id, the date and time (UTC and "
                   f"{escape(ref.tz)}) and this meaning are recorded with the batch record and in the audit trail."),
        component_input(store.settings_of(program).signing),
        bk.text_input("reason" if ref.rejected else "comment", text, initial=comment or None,
                      optional=not ref.rejected, multiline=True, max_length=2000),
    ], submit=f"Sign and {verb}", private_metadata=ref.model_dump_json())


def reason_view(batch: store.Batch, *, reject: bool) -> dict:
    verb = "Reject" if reject else "Put on hold"
    return bk.modal(f"{verb} {batch.batch_no}", Ids.reject_view if reject else Ids.hold_view, [
        bk.section(f"{verb} batch record {describe(batch)}. The program managers are told at once."),
        bk.text_input("reason", "Reason", multiline=True, max_length=2000,
                      hint="What must be resolved (questions, deviations, missing pages …)."),
    ], submit=verb, private_metadata=BatchRef(batch_id=pk(batch)).model_dump_json())


def call_view(batch: store.Batch, program: Program, today: date) -> dict:
    return bk.modal("Review call", Ids.call_view, [
        bk.section(f"Schedule a review call on batch record {describe(batch)}. Times are in "
                   f"*{escape(program.timezone)}* (the program's time zone)."),
        bk.date_input("date", "Date", initial=today),
        bk.time_input("time", "Start time", initial="14:00"),
        bk.text_input("minutes", "Minutes", initial="30", max_length=3),
    ], submit="Schedule", private_metadata=BatchRef(batch_id=pk(batch)).model_dump_json())


def new_view(program: Program) -> dict:
    return bk.modal("Batch record ready", Ids.new_view, [
        bk.text_input("batch_no", "Batch number", placeholder="B-1042", max_length=40),
        bk.text_input("product", "Product", initial=program.products.split(",")[0].strip() or None, optional=True,
                      max_length=200),
        bk.date_input("release_by", "Release by", optional=True),
        bk.file_input("record", "Executed batch record", max_files=1),
    ], submit="Send for review", private_metadata=f'{{"program_id": {program.id}}}')


def log_text(program: Program, rows: list[store.Batch], today: date) -> str:
    if not rows:
        return f"No batch records in {escape(program.code)} yet. `/cmo batch ready B-1042` records one."
    table = bk.table([
        (b.batch_no, b.state.label, day(b.ready_on), str(store.review_days(b, program, today)),
         day(b.release_by) if b.release_by else "—", b.decided_by_name or "—")
        for b in rows[:60]
    ], ("Batch", "Status", "Available since", "Days in review", "Release by", "Decided by"))
    more = f"\n…and {len(rows) - 60} older batches." if len(rows) > 60 else ""
    return f"*Batch records of {escape(program.code)}* ({len(rows)})\n{table}{more}"


def _history_line(entry: AuditEntry, program: Program) -> str:
    after = entry.after if isinstance(entry.after, dict) else {}
    what = {
        "ready": "made available for review", "signed": "signed", "approved": "approved",
        "held": f"put on hold: {escape(after.get('reason') or '')}",
        "rejected": f"rejected: {escape(after.get('reason') or '')}",
        "back_to_review": f"sent back to review (round {after.get('review_round')})",
        "review_call_scheduled": f"review call scheduled for {escape(after.get('local', ''))[:16].replace('T', ' ')}",
        "decision_refused": f"tried to {escape(after.get('attempted', 'decide'))} — refused, not an approver",
        "gate_warning": f"gate warning ({escape(after.get('stage', ''))}): "
                        f"{escape('; '.join(after.get('gaps') or []))}",
        "qa_released": "QA-released by CMO quality for the customer's review",
        "record_filed": f"batch record filed ({escape(after.get('record_name') or '')})",
    }.get(entry.action, escape(entry.action))
    signature = after.get("signature") if entry.action in ("rejected", "qa_released") else \
        after if entry.action == "signed" else None
    if isinstance(signature, dict):
        what = (f"{'rejected: ' + escape(after.get('reason') or '') + ' — ' if entry.action == 'rejected' else ''}"
                f"signed by {escape(signature.get('signer_name', ''))} — {escape(signature.get('meaning', ''))} "
                f"({escape(signature.get('local_time', ''))} {escape(signature.get('local_tz', ''))}; "
                f"{COMPONENTS.get(str(signature.get('second_component')), 'second component re-entered')})")
    return f"• {local_time(entry.at.astimezone(program.tz))} — {escape(entry.actor_name)} ({entry.actor_id}): {what}"


COMPONENTS = {"initials": "initials re-entered", "totp": "authenticator code entered"}


def history_text(batch: store.Batch, program: Program, entries: list[AuditEntry], today: date) -> str:
    head = (f"*Batch {escape(batch.batch_no)}* of {escape(program.code)} — {describe(batch)}\n"
            f"Status: {batch.state.label}; {plural(store.review_days(batch, program, today), 'business day')} "
            "in review")
    lines = [_history_line(e, program) for e in entries[-40:]]
    return "\n".join([head, *lines])


def figures_text(rows: list[Figures], days: int) -> str:
    if not rows or all(f.reviewed == 0 for f in rows):
        return f"No batch record was approved or rejected in the last {days} days."

    def num(value: float | None) -> str:
        return "—" if value is None else f"{value:g}"

    table = bk.table([(f.label, str(f.reviewed), num(f.internal_median_days), num(f.median_days), num(f.p90_days),
                       str(f.breaches), str(f.days_lost)) for f in rows],
                     ("Program", "Reviewed", "CMO QA median", "Customer median", "Customer P90", "SLA breaches",
                      "Days lost"))
    return (f"*Batch record reviews decided in the last {days} days* (business days; CMO QA = ready to the CMO's "
            "QA release, — where a program has no release step; customer = release (or ready) to decision; P90 = "
            f"nearest rank; days lost = customer business days beyond each program's SLA)\n{table}")
