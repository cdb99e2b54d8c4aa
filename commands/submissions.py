"""`/cmo submission …`: checklists for regulatory filings, owners asked by DM, documents collected
through Slack (a button's file form or the "File submission item" message shortcut), and the package.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date
from typing import Any

from pydantic import BaseModel
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import blocks as bk
from bot import downloads
from commands import file_to_program, people
from commands import signing as signing_commands
from commands import submissions_views as views
from commands.args import UsageError, iso_date, user_id
from commands.boundary import tell
from commands.deps import Deps
from commands.forms import is_sealed, metadata, seal, submit
from commands.router import Area, Request, Verb
from commands.submissions_views import Ids
from store import batches as batch_store
from store import document_signatures, signing
from store import submissions as subs
from store import submissions_package as packaging
from store.audit import Actor
from store.db import transaction
from store.errors import Conflict, Invalid, NotAllowed
from store.filing import file_document
from store.markup import day, escape, plural
from store.programs import Program, Role, authorize

log = logging.getLogger(__name__)

MANAGE = (Role.program_manager, Role.regulatory)
APPROVE = (Role.cmo_quality, Role.regulatory, Role.program_manager)


class NewForm(BaseModel):
    kind: str
    title: str
    filing_date: str
    contact: str | None = None


class AttachForm(BaseModel):
    files: list[dict[str, Any]]


class ShortcutForm(BaseModel):
    item: int


# --- the slow parts after the ack ---------------------------------------------------------------------


def ask_owners(deps: Deps, client: WebClient, submission_id: int, actor: Actor,
               only: Sequence[int] | None = None) -> list[str]:
    """DM every owner their open items with the due dates; the items become requested. Returns who was
    asked; a DM Slack refuses is reported to the person who asked for it."""
    with transaction(deps.engine) as session:
        submission = session.get(subs.Submission, submission_id)
        program = session.get(Program, submission.program_id)  # type: ignore[union-attr]
        entries = [e for e in subs.items(session, submission)  # type: ignore[arg-type]
                   if e.status in subs.OPEN and e.owner and (only is None or e.id in only)]
    by_owner: dict[str, list[subs.SubmissionItem]] = {}
    for entry in entries:
        by_owner.setdefault(entry.owner, []).append(entry)  # type: ignore[arg-type]
    asked, failed = [], []
    for owner, owned in by_owner.items():
        text, blocks = views.owner_request(program, submission, owned)  # type: ignore[arg-type]
        try:
            client.chat_postMessage(channel=owner, text=text, blocks=blocks)
        except SlackApiError as exc:
            failed.append(f"{bk.mention(owner)} (`{exc.response.get('error')}`)")
            continue
        asked.append(owner)
        with transaction(deps.engine) as session:
            fresh = [session.get(subs.SubmissionItem, e.id) for e in owned]
            subs.mark_requested(session, entries=[e for e in fresh if e is not None], actor=actor,
                                now=deps.clock.now())
    if failed:
        tell(client, {"user_id": actor.user_id}, f":warning: Could not DM {', '.join(failed)} about "
             f"{escape(program.code)} {submission.ref}; ask them directly.")  # type: ignore[union-attr]
    return asked


def may_file(session, actor: Actor, item_id: int) -> subs.Located:
    """The item, if the caller owns it or manages the program (or does its regulatory work)."""
    located = subs.locate(session, item_id)
    access = authorize(session, actor, code=located.program.code)
    if located.item.owner != actor.user_id and not access.has(*MANAGE):
        raise NotAllowed(f"Only the item's owner, program managers or regulatory contacts of "
                         f"{located.program.code} can file documents for it.")
    if located.item.status == subs.ItemStatus.not_applicable:
        raise Invalid(f"Item {located.item.number} is marked not applicable.", "item")
    return located


def file_one(deps: Deps, actor: Actor, item_id: int, shared: downloads.SlackFile
             ) -> tuple[subs.Located, subs.SubmissionFile]:
    """File one downloaded document for an item (authorizing again) with its SHA-256; the item is received."""
    with transaction(deps.engine) as session:
        located = may_file(session, actor, item_id)
    filed = file_document(deps.files, located.program.code, "submissions", str(located.submission.id),
                          name=shared.name, content=shared.content)
    with transaction(deps.engine) as session:
        entry = session.get(subs.SubmissionItem, item_id)
        row = subs.attach(session, entry=entry, filed=filed, name=shared.name, actor=actor,  # type: ignore[arg-type]
                          now=deps.clock.now(), slack_file_id=shared.id)
    return located, row


def _filed_line(row: subs.SubmissionFile) -> str:
    return f"`{escape(row.name)}` version {row.version}, SHA-256 `{row.sha256}`"


def _item_title(located: subs.Located) -> str:
    return (f"{escape(views.headline(located.program, located.submission))}, item #{located.item.number} "
            f"{escape(located.item.document)}")


def receive(deps: Deps, client: WebClient, actor: Actor, item_id: int, file_ids: Sequence[str]) -> None:
    """Download the shared files with the bot token, file them in the program folder with their SHA-256,
    mark the item received, and confirm by DM."""
    with transaction(deps.engine) as session:
        may_file(session, actor, item_id)
    actor = Actor(actor.user_id, people.learn(deps, client, actor.user_id) or actor.name, actor.is_admin)
    done = [file_one(deps, actor, item_id, downloads.fetch(client, file_id)) for file_id in file_ids]
    client.chat_postMessage(channel=actor.user_id, text=(
        f":white_check_mark: Received for {_item_title(done[0][0])}:\n"
        + "\n".join(f"• {_filed_line(row)}" for _, row in done)))


# --- as a destination of the generic "File to program" shortcut (commands/file_to_program.py) ---------------


def filing_choices(session, actor: Actor) -> list[tuple[str, str]]:
    return [(str(c.item.id), f"{c.program.code} {c.submission.ref} #{c.item.number} {c.item.document}")
            for c in subs.fileable(session, actor)]


def file_to(deps: Deps, actor: Actor, value: str, shared: downloads.SlackFile, note: str) -> str:
    if not value.isascii() or not value.isdecimal():
        raise Invalid("That is not a submission item.")
    located, row = file_one(deps, actor, int(value), shared)
    return f":white_check_mark: Received for {_item_title(located)}: {_filed_line(row)}"


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
    req.client.views_open(trigger_id=req.trigger_id, view=views.new_view(program))
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
    owner = user_id(req.args.flag("owner")) if req.args.flag("owner") else None
    due_on = iso_date(req.args.flag("due"), "due date") if req.args.flag("due") else None
    with req.session() as session:
        program = _manage(req, session, "change a submission's checklist")
        submission = subs.by_ref(session, program, req.args.word(0, "the submission ID"))
        entry = subs.add_item(session, submission=submission, actor=req.actor, now=req.now,
                              section=req.args.word(1, "the section"), document=req.args.word(2, "the document"),
                              source=req.args.flag("source") or "", owner=owner, due_on=due_on)
        line = views.item_line(entry)
    req.reply(f"Added to {submission.ref}: {line}")
    if owner:
        ask_owners(req.deps, req.client, submission.id, req.actor, only=[entry.id])


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
    ask_owners(req.deps, req.client, submission.id, req.actor, only=[entry.id])


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
    req.client.views_open(trigger_id=req.trigger_id, view=views.sign_view(
        submission, entry, file, ref, document_signatures.meaning(entry, file)))


class CodeForm(BaseModel):
    code: str


def on_document_sign(deps: Deps, ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
    """The signed approval of a submission document: no Slack call before the ack (the name came sealed)."""
    actor = _actor(deps, body)
    locked: list[Program] = []

    def act(form: CodeForm) -> tuple[subs.Located, document_signatures.DocumentSignature]:
        ref = metadata(view, views.DocumentRef)
        if not is_sealed(ref.mac, deps, "document-sign", *ref.parts(actor.user_id)):
            raise Invalid("This form's data was altered; open it again from Slack.", "code")
        signer = Actor(actor.user_id, ref.name, actor.is_admin)
        with transaction(deps.engine) as session:
            located = subs.locate(session, ref.item_id)
            authorize(session, signer, code=located.program.code).require(*APPROVE, doing="approve documents")
            done = document_signatures.approve(
                session, program_id=located.program.id, entry=located.item, file_sha256=ref.sha256,
                signer=document_signatures.Signer(actor.user_id, ref.name, ref.tz, form.code), actor=signer,
                now=deps.clock.now(), key=deps.settings.cmo_secret_key)
        if isinstance(done, signing.Refusal):
            if done.locked:
                locked.append(located.program)
            raise Invalid(done.message, "code")
        return located, done

    done = submit(ack, view, CodeForm, act, fallback="code")
    if locked:
        signing_commands.warn_locked(deps, client, actor.user_id, locked[0])
    if done is not None:
        located, signature = done
        tell(client, {"user_id": actor.user_id}, (
            f":white_check_mark: Signed by *{escape(signature.signer_name)}* ({actor.user_id}) at "
            f"{signature.signed_at:%Y-%m-%d %H:%M:%S} UTC ({escape(signature.local_time)} "
            f"{escape(signature.local_tz)})."
            f"\nMeaning: _{escape(signature.meaning)}_\n{_item_title(located)} is approved."))


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


# --- buttons, forms and the shortcut ---------------------------------------------------------------------


def _actor(deps: Deps, body: dict[str, Any]) -> Actor:
    return people.actor_of(deps, body["user"])


def register(app: App, deps: Deps) -> None:
    file_to_program.add_target(file_to_program.Target(
        "submissions", filing_choices, file_to, needs="documents for submission checklist items (their owners, "
        "program managers, regulatory contacts)"))

    @app.view(Ids.sign_view.value)
    def on_sign(ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        on_document_sign(deps, ack, body, view, client)

    @app.view(Ids.new_view.value)
    def on_new(ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        actor, now = _actor(deps, body), deps.clock.now()
        meta = metadata(view, views.NewMeta)

        def create(form: NewForm) -> int:
            with transaction(deps.engine) as session:
                access = authorize(session, actor, code=meta.program)
                access.require(*MANAGE, doing="start a submission")
                try:
                    filing = date.fromisoformat(form.filing_date)
                except ValueError:
                    raise Invalid("Pick the filing date.", "filing_date") from None
                return subs.create(session, program=access.program, actor=actor, now=now, kind=form.kind,
                                   title=form.title, filing_date=filing, customer_contact=form.contact or "").id

        submission_id = submit(ack, view, NewForm, create, fallback="title")
        if submission_id is None:
            return
        asked = ask_owners(deps, client, submission_id, actor)
        with transaction(deps.engine) as session:
            submission = session.get(subs.Submission, submission_id)
            program = session.get(Program, submission.program_id)  # type: ignore[union-attr]
            entries = subs.items(session, submission)  # type: ignore[arg-type]
        unassigned = sum(e.owner is None for e in entries)
        text = (f":clipboard: {bk.mention(actor.user_id)} started {escape(views.headline(program, submission))}, "
                f"filing date {day(submission.filing_date)}: {plural(len(entries), 'document')} to collect; "
                f"{plural(len(asked), 'owner')} asked by DM"
                + (f"; {unassigned} unassigned (`/cmo submission assign`)" if unassigned else "")
                + f". `/cmo submission status {submission.ref}` shows progress.")
        client.chat_postMessage(channel=program.channel_id or actor.user_id, text=text)

    @app.action(Ids.attach.value)
    def on_attach(ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        actor = _actor(deps, body)
        try:
            item_id = int(body["actions"][0].get("value") or "")
        except ValueError:
            raise Invalid("This button's data was altered.") from None
        with transaction(deps.engine) as session:
            located = may_file(session, actor, item_id)
        client.views_open(trigger_id=body["trigger_id"], view=views.attach_view(located))

    @app.view(Ids.attach_view.value)
    def on_attach_submit(ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        actor = _actor(deps, body)
        meta = metadata(view, views.AttachMeta)

        def check(form: AttachForm) -> list[str]:
            if not form.files:
                raise Invalid("Attach at least one file.", "files")
            with transaction(deps.engine) as session:
                may_file(session, actor, meta.item_id)
            return [str(f["id"]) for f in form.files]

        file_ids = submit(ack, view, AttachForm, check, fallback="files")
        if file_ids:
            receive(deps, client, actor, meta.item_id, file_ids)

    @app.shortcut(Ids.shortcut.value)
    def on_shortcut(ack, body: dict[str, Any], client: WebClient, respond) -> None:
        ack()
        actor = _actor(deps, body)
        shared = [f for f in (body.get("message") or {}).get("files") or [] if f.get("id")]
        if not shared:
            tell(client, body, ":x: That message has no file; use the shortcut on a message with the document.",
                 respond)
            return
        with transaction(deps.engine) as session:
            choices = subs.fileable(session, actor)
        if not choices:
            tell(client, body, ":mag: You own no submission item to file this for.", respond)
            return
        channel = (body.get("channel") or {}).get("id", "")
        file_ids = [str(f["id"]) for f in shared][:10]
        meta = views.ShortcutMeta(channel=channel, files=file_ids,
                                  mac=seal(deps, "submission-item", actor.user_id, channel, ",".join(file_ids)))
        client.views_open(trigger_id=body["trigger_id"],
                          view=views.shortcut_view(choices, [f.get("name") or f["id"] for f in shared][:10], meta))

    @app.view(Ids.shortcut_view.value)
    def on_shortcut_submit(ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        actor = _actor(deps, body)
        meta = metadata(view, views.ShortcutMeta)

        def check(form: ShortcutForm) -> int:
            if not is_sealed(meta.mac, deps, "submission-item", actor.user_id, meta.channel, ",".join(meta.files)):
                raise Invalid("This form's data was altered; use the shortcut again.", "item")
            with transaction(deps.engine) as session:
                return may_file(session, actor, form.item).item.id  # type: ignore[return-value]

        item_id = submit(ack, view, ShortcutForm, check, fallback="item")
        if item_id is not None:
            receive(deps, client, actor, item_id, meta.files)

