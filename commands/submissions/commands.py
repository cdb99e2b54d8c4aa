"""`/cmo submission …`: checklists for regulatory filings, owners asked by DM, approvals and the package.
The documents are collected through Slack by commands/submissions/documents.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from pydantic import BaseModel
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import blocks as bk
from commands import people
from commands.after import Run, follow_up, later
from commands.args import UsageError, iso_date, user_id
from commands.forms import metadata, open_form, seal, submit
from commands.interaction import Acting, Interaction
from commands.outcome import Outcome
from commands.router import Area, Request, Verb
from commands.submissions import documents as submission_documents
from commands.submissions import views
from commands.submissions.documents import APPROVE, MANAGE
from commands.submissions.views import Ids
from store import signing
from store.batches import service as batch_store
from store.db import pk, transaction
from store.errors import Conflict, Invalid
from store.filing import file_document
from store.markup import day, escape, plural
from store.programs import Program
from store.submissions import package as packaging
from store.submissions import service as subs
from store.submissions import signatures as document_signatures


class NewForm(BaseModel):
    kind: str
    title: str
    filing_date: str
    contact: str | None = None


# --- the slow parts after the ack ---------------------------------------------------------------------


def ask_owners(who: Acting, client: WebClient, submission_id: int, only: Sequence[int] | None = None) -> list[str]:
    """DM every owner their open items with the due dates; the items become requested. Returns who was
    asked; a DM Slack refuses is reported to the person who asked for it."""
    deps, actor = who.deps, who.actor
    with transaction(deps.engine) as session:
        submission = session.get_one(subs.Submission, submission_id)
        program = session.get_one(Program, submission.program_id)
        entries = [e for e in subs.items(session, submission)
                   if e.status in subs.OPEN and e.owner and (only is None or e.id in only)]
    by_owner: dict[str, list[subs.SubmissionItem]] = {}
    for entry in entries:
        by_owner.setdefault(entry.owner or "", []).append(entry)
    asked: list[str] = []
    out = Outcome(client)
    for owner, owned in by_owner.items():
        text, blocks = views.owner_request(program, submission, owned)
        if out.call(f"a message to {bk.mention(owner)}", client.chat_postMessage, channel=owner, text=text,
                    blocks=blocks) is None:
            continue
        asked.append(owner)
        with transaction(deps.engine) as session:
            fresh = [session.get(subs.SubmissionItem, e.id) for e in owned]
            subs.mark_requested(session, entries=[e for e in fresh if e is not None], actor=actor,
                                now=who.now)
    out.report(actor.user_id, f"Ask them directly about {escape(program.code)} {submission.ref}.")
    return asked


# --- commands --------------------------------------------------------------------------------------------


def _manage(req: Request, session, doing: str):
    access = req.access(session)
    access.require(*MANAGE, doing=doing)
    return access.program


def _submission_item(req: Request, session, doing: str, roles=MANAGE):
    access = req.access(session)
    access.require(*roles, doing=doing)
    submission = subs.by_ref(session, access.program, req.args.word(0, "the submission ID"))
    return access.program, submission, subs.item(session, submission, req.args.word(1, "the item number"))


def cmd_new(req: Request) -> None:
    req.args.only("program")
    if req.args.words:
        raise UsageError("`new` takes no words: the form asks for the type, title and filing date.")
    with req.session() as session:
        program = _manage(req, session, "start a submission")
    open_form(req.client, trigger_id=req.trigger_id, view=views.new_view(program))
    req.reply(f"Opened the new-submission form for {escape(program.code)}.")


def cmd_list(req: Request) -> None:
    req.args.only("program")
    with req.session() as session:
        program = req.access(session).program
        found = [(s, subs.progress(subs.items(session, s))) for s in subs.of_program(session, program)]
    if not found:
        req.reply(f"{escape(program.code)} has no submissions yet; `/cmo submission new` starts one.")
        return
    rows = [(s.ref, subs.type_name(s.kind), s.title, s.filing_date.isoformat(), f"{p.done}/{p.total}")
            for s, p in found]
    req.reply(f"Submissions of {escape(program.code)}:\n"
              + bk.table(rows, ("ID", "Type", "Title", "Filing date", "Done")))


def cmd_status(req: Request) -> None:
    req.args.only("program")
    with req.session() as session:
        program = req.access(session).program
        today = subs.local_today(program, req.now)
        if not req.args.words:
            lines = subs.digest_section(session, program, today)
            req.reply("\n".join([f"*Open submissions of {escape(program.code)}*", *lines]) if lines else
                      f"{escape(program.code)} has no submission with a filing date ahead.")
            return
        submission = subs.by_ref(session, program, req.args.word(0, "the submission ID"))
        text, blocks = views.status_blocks(program, submission, subs.items(session, submission), today)
    req.reply(text, blocks)


def cmd_add(req: Request) -> None:
    req.args.only("program", "owner", "due", "source")
    owner_flag, due_flag = req.args.flag("owner"), req.args.flag("due")
    owner = user_id(owner_flag) if owner_flag else None
    due_on = iso_date(due_flag, "due date") if due_flag else None
    with req.session() as session:
        program = _manage(req, session, "change a submission's checklist")
        submission = subs.by_ref(session, program, req.args.word(0, "the submission ID"))
        entry = subs.add_item(session, submission=submission, actor=req.actor, now=req.now,
                              section=req.args.word(1, "the section"), document=req.args.word(2, "the document"),
                              source=req.args.flag("source") or "", owner=owner, due_on=due_on)
        line = views.item_line(entry)
    req.reply(f"Added to {submission.ref}: {line}")
    if owner:
        ask_owners(req, req.client, pk(submission), only=[pk(entry)])


def cmd_remove(req: Request) -> None:
    req.args.only("program")
    with req.session() as session:
        _, submission, entry = _submission_item(req, session, "change a submission's checklist")
        subs.remove_item(session, entry=entry, actor=req.actor, now=req.now)
    req.reply(f"Removed item #{entry.number} {escape(entry.document)} from {submission.ref}.")


def cmd_na(req: Request) -> None:
    req.args.only("program")
    with req.session() as session:
        _, submission, entry = _submission_item(req, session, "change a submission's checklist")
        subs.mark_not_applicable(session, entry=entry, actor=req.actor, now=req.now)
    req.reply(f"{submission.ref} item #{entry.number} {escape(entry.document)} is not applicable; "
              "its reminders are cancelled.")


def cmd_assign(req: Request) -> None:
    req.args.only("program")
    owner = user_id(req.args.word(2, "the owner"))
    with req.session() as session:
        _, submission, entry = _submission_item(req, session, "assign submission items")
        subs.assign(session, entry=entry, owner=owner, actor=req.actor, now=req.now)
    req.reply(f"{bk.mention(owner)} now owns {submission.ref} item #{entry.number} {escape(entry.document)}.")
    ask_owners(req, req.client, submission.id, only=[entry.id])


def cmd_due(req: Request) -> None:
    req.args.only("program")
    due_on = iso_date(req.args.word(2, "the due date"), "due date")
    with req.session() as session:
        _, submission, entry = _submission_item(req, session, "change due dates")
        subs.set_due(session, entry=entry, due_on=due_on, actor=req.actor, now=req.now)
    req.reply(f"{submission.ref} item #{entry.number} is now due {day(due_on)}.")


def cmd_approve(req: Request) -> None:
    """Approve a received document; in programs that sign with an authenticator app, in a signing dialog."""
    req.args.only("program")
    with req.session() as session:
        program, submission, entry = _submission_item(req, session, "approve submission documents", APPROVE)
        if batch_store.settings_of(program).signing == signing.SigningMethod.totp:
            if entry.status != subs.ItemStatus.received:
                raise Conflict(f"Item {entry.number} is {subs.ItemStatus(entry.status).label}; only a received "
                               "document can be approved.")
            file = document_signatures.latest_file(session, entry)
        else:
            subs.approve(session, entry=entry, actor=req.actor, now=req.now)
            file = None
    if file is None:
        req.reply(f"{submission.ref} item #{entry.number} {escape(entry.document)} is approved.")
        return
    name, tz = people.as_signer(req.deps, req.client, req.user_id, program.timezone)
    ref = views.DocumentRef(item_id=entry.id, sha256=file.sha256, name=name, tz=tz)
    ref.mac = seal(req.deps, "document-sign", *ref.parts(req.user_id))
    open_form(req.client, trigger_id=req.trigger_id, view=views.sign_view(
        submission, entry, file, ref, document_signatures.meaning(entry, file)))


def cmd_package(req: Request) -> None:
    req.args.only("program", "draft")
    draft = req.args.switch("draft")
    with req.session() as session:
        program = _manage(req, session, "package a submission")
        submission = subs.by_ref(session, program, req.args.word(0, "the submission ID"))
        built = packaging.build(session, files=req.deps.files, program=program, submission=submission,
                                now=req.now, draft=draft)
        filed = file_document(req.deps.files, program.code, "submissions", str(submission.id), "packages",
                              name=built.name, content=built.content)
        subs.record_package(session, program=program, submission=submission, filed=filed, draft=draft,
                            documents=built.documents, gaps=built.gaps, actor=req.actor, now=req.now)
    if not program.channel_id:
        req.reply(f"Packaged {submission.ref} ({built.name}, SHA-256 `{built.sha256}`), filed in the program "
                  "folder; the program has no channel to upload it to.")
        return
    note = f", {plural(len(built.gaps), 'gap')} marked" if draft else ""
    try:
        req.client.files_upload_v2(
            channel=program.channel_id, content=built.content, filename=built.name, title=built.name,
            initial_comment=(f":package: {'Draft package' if draft else 'Package'} of "
                             f"{escape(views.headline(program, submission))} by {bk.mention(req.user_id)}: "
                             f"{plural(built.documents, 'document')}{note}. SHA-256 of the ZIP: `{built.sha256}`; "
                             "every file is listed in SHA256SUMS."))
    except SlackApiError as exc:
        req.reply(f":warning: {built.name} was built and filed in the program folder (SHA-256 `{built.sha256}`), "
                  f"but uploading it to <#{program.channel_id}> failed (`{exc.response.get('error')}`); "
                  "run the command again to retry.")
        return
    req.reply(f"Uploaded {built.name} to <#{program.channel_id}> (SHA-256 `{built.sha256}`).")


AREA = Area("submission", "regulatory submission documents: checklist, collection, package", (
    Verb("new", "/cmo submission new", "start a submission (managers, regulatory): opens a form", cmd_new),
    Verb("list", "/cmo submission list", "the program's submissions and their progress", cmd_list),
    Verb("status", "/cmo submission status [SUB-001]",
         "progress, what is outstanding by owner, days left to the filing date", cmd_status),
    Verb("add", '/cmo submission add SUB-001 "Section" "Document" [--owner @person] [--due 2027-01-08] '
                '[--source LIMS]', "add an item to the checklist", cmd_add),
    Verb("remove", "/cmo submission remove SUB-001 3", "remove an item that has no files", cmd_remove),
    Verb("na", "/cmo submission na SUB-001 3", "mark an item not applicable", cmd_na),
    Verb("assign", "/cmo submission assign SUB-001 3 @person", "give an item to an owner (asked by DM)", cmd_assign),
    Verb("due", "/cmo submission due SUB-001 3 2027-01-08", "change an item's due date", cmd_due),
    Verb("approve", "/cmo submission approve SUB-001 3", "approve a received document (quality, regulatory)",
         cmd_approve),
    Verb("package", "/cmo submission package SUB-001 [--draft]",
         "ZIP with a folder per section, table of contents and SHA256SUMS, uploaded to the channel", cmd_package,
         switches=frozenset({"draft"})),
))


# --- the new-submission form ------------------------------------------------------------------------------


def on_new(interaction: Interaction, ack: Callable[..., Any], view: dict[str, Any], client: WebClient) -> None:
    """The new-submission form submitted: the submission and its checklist are created, the owners asked by DM
    and the program channel told."""
    actor, now = interaction.actor, interaction.now
    meta = metadata(view, views.NewMeta)

    def create(form: NewForm) -> None:
        with interaction.session() as session:
            access = interaction.authorize(session, code=meta.program, roles=MANAGE, doing="start a submission")
            try:
                filing = date.fromisoformat(form.filing_date)
            except ValueError:
                raise Invalid("Pick the filing date.", "filing_date") from None
            submission = subs.create(session, program=access.program, actor=actor, now=now, kind=form.kind,
                                     title=form.title, filing_date=filing, customer_contact=form.contact or "")
            later(interaction, client, "submissions.started", session=session, submission_id=pk(submission))

    submit(ack, view, NewForm, create, fallback="title")


@follow_up("submissions.started")
def after_new(run: Run, submission_id: int) -> None:
    """After the ack (commands/after.py): the owners asked by DM, then the program channel told."""
    deps, actor, client = run.who.deps, run.who.actor, run.client
    asked = ask_owners(run.who, client, submission_id)
    with transaction(deps.engine) as session:
        submission = session.get_one(subs.Submission, submission_id)
        program = session.get_one(Program, submission.program_id)
        entries = subs.items(session, submission)
    unassigned = sum(e.owner is None for e in entries)
    text = (f":clipboard: {bk.mention(actor.user_id)} started {escape(views.headline(program, submission))}, "
            f"filing date {day(submission.filing_date)}: {plural(len(entries), 'document')} to collect; "
            f"{plural(len(asked), 'owner')} asked by DM"
            + (f"; {unassigned} unassigned (`/cmo submission assign`)" if unassigned else "")
            + f". `/cmo submission status {submission.ref}` shows progress.")
    client.chat_postMessage(channel=program.channel_id or actor.user_id, text=text)


def register(app: App) -> None:
    submission_documents.register(app)
    app.view(Ids.new_view.value)(on_new)
