"""The documents of a submission's checklist items: filed through the item's Attach button and its form,
the "File submission item" message shortcut or the generic "File to program" shortcut (each file downloaded
with the bot token, filed in the program folder with its SHA-256, the item received), and approved with a
signature in programs that sign with an authenticator app."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from slack_bolt import App
from slack_sdk import WebClient

from bot import downloads
from commands import file_to_program, people
from commands.after import Run, follow_up, later
from commands.boundary import tell
from commands.deps import Deps
from commands.forms import is_sealed, metadata, open_form, seal, submit
from commands.interaction import Interaction
from commands.submissions import views
from commands.submissions.views import Ids
from store import signing
from store.audit import Actor
from store.db import pk, transaction
from store.errors import Invalid, NotAllowed
from store.filing import file_document
from store.markup import escape
from store.programs import Role, authorize
from store.submissions import service as subs
from store.submissions import signatures as document_signatures

MANAGE = (Role.program_manager, Role.regulatory)
APPROVE = (Role.cmo_quality, Role.regulatory, Role.program_manager)


class AttachForm(BaseModel):
    files: list[dict[str, Any]]


class ShortcutForm(BaseModel):
    item: int


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


def file_one(deps: Deps, actor: Actor, now: datetime, item_id: int, shared: downloads.SlackFile
             ) -> tuple[subs.Located, subs.SubmissionFile]:
    """File one downloaded document for an item (authorizing again) with its SHA-256; the item is received."""
    with transaction(deps.engine) as session:
        located = may_file(session, actor, item_id)
    filed = file_document(deps.files, located.program.code, "submissions", str(located.submission.id),
                          name=shared.name, content=shared.content)
    with transaction(deps.engine) as session:
        entry = session.get_one(subs.SubmissionItem, item_id)
        row = subs.attach(session, entry=entry, filed=filed, name=shared.name, actor=actor, now=now,
                          slack_file_id=shared.id)
    return located, row


def _filed_line(row: subs.SubmissionFile) -> str:
    return f"`{escape(row.name)}` version {row.version}, SHA-256 `{row.sha256}`"


def _item_title(located: subs.Located) -> str:
    return (f"{escape(views.headline(located.program, located.submission))}, item #{located.item.number} "
            f"{escape(located.item.document)}")


def receive(interaction: Interaction, client: WebClient, item_id: int, file_ids: Sequence[str]) -> None:
    """Download the shared files with the bot token, file them in the program folder with their SHA-256,
    mark the item received, and confirm by DM."""
    deps, actor = interaction.deps, interaction.actor
    with transaction(deps.engine) as session:
        may_file(session, actor, item_id)
    actor = Actor(actor.user_id, people.learn(deps, client, actor.user_id) or actor.name, actor.is_admin)
    done = [file_one(deps, actor, interaction.now, item_id, downloads.fetch(client, file_id)) for file_id in file_ids]
    client.chat_postMessage(channel=actor.user_id, text=(
        f":white_check_mark: Received for {_item_title(done[0][0])}:\n"
        + "\n".join(f"• {_filed_line(row)}" for _, row in done)))


# --- as a destination of the generic "File to program" shortcut (commands/file_to_program.py) ---------------


def filing_choices(session, actor: Actor) -> list[tuple[str, str]]:
    return [(str(c.item.id), f"{c.program.code} {c.submission.ref} #{c.item.number} {c.item.document}")
            for c in subs.fileable(session, actor)]


def file_to(interaction: Interaction, value: str, shared: downloads.SlackFile, note: str) -> str:
    if not value.isascii() or not value.isdecimal():
        raise Invalid("That is not a submission item.")
    located, row = file_one(interaction.deps, interaction.actor, interaction.now, int(value), shared)
    return f":white_check_mark: Received for {_item_title(located)}: {_filed_line(row)}"


class CodeForm(BaseModel):
    code: str


def on_document_sign(interaction: Interaction, ack: Callable[..., Any], view: dict[str, Any],
                     client: WebClient) -> None:
    """The signed approval of a submission document: no Slack call before the ack (the name came sealed)."""
    deps, actor = interaction.deps, interaction.actor

    def act(form: CodeForm) -> None:
        ref = metadata(view, views.DocumentRef)
        if not is_sealed(ref.mac, deps, "document-sign", *ref.parts(actor.user_id)):
            raise Invalid("This form's data was altered; open it again from Slack.", "code")
        signer = Actor(actor.user_id, ref.name, actor.is_admin)
        with interaction.session() as session:
            located = subs.locate(session, ref.item_id)
            interaction.authorize(session, code=located.program.code, roles=APPROVE, doing="approve documents")
            done = document_signatures.approve(
                session, program_id=pk(located.program), entry=located.item, file_sha256=ref.sha256,
                signer=document_signatures.Signer(actor.user_id, ref.name, ref.tz, form.code), actor=signer,
                now=interaction.now, key=deps.settings.cmo_secret_key)
            if not isinstance(done, signing.Refusal):
                later(interaction, client, "submissions.signed", session=session, item_id=pk(located.item),
                      signature_id=pk(done))
            elif done.locked:  # the lockout commits, the form shows the refusal
                later(interaction, client, "signing.locked", session=session, program_id=pk(located.program))
        if isinstance(done, signing.Refusal):
            raise Invalid(done.message, "code")

    submit(ack, view, CodeForm, act, fallback="code")


@follow_up("submissions.signed")
def after_sign(run: Run, item_id: int, signature_id: int) -> None:
    """After the ack (commands/after.py): the signer's receipt by DM."""
    actor = run.who.actor
    with transaction(run.who.deps.engine) as session:
        located = subs.locate(session, item_id)
        signature = session.get_one(document_signatures.DocumentSignature, signature_id)
    run.once("receipt", lambda: tell(run.client, {"user_id": actor.user_id}, (
            f":white_check_mark: Signed by *{escape(signature.signer_name)}* ({actor.user_id}) at "
            f"{signature.signed_at:%Y-%m-%d %H:%M:%S} UTC ({escape(signature.local_time)} "
            f"{escape(signature.local_tz)})."
            f"\nMeaning: _{escape(signature.meaning)}_\n{_item_title(located)} is approved.")))


def on_attach(interaction: Interaction, ack: Callable[..., Any], body: dict[str, Any], client: WebClient) -> None:
    """An item's Attach button: opens the file form for those who may file for the item."""
    ack()
    try:
        item_id = int(body["actions"][0].get("value") or "")
    except ValueError:
        raise Invalid("This button's data was altered.") from None
    with interaction.session() as session:
        located = may_file(session, interaction.actor_in(session), item_id)
    open_form(client, trigger_id=body["trigger_id"], view=views.attach_view(located))


def on_attach_submit(interaction: Interaction, ack: Callable[..., Any], view: dict[str, Any],
                     client: WebClient) -> None:
    """The file form submitted: checked before the ack, the files received after it."""
    meta = metadata(view, views.AttachMeta)

    def check(form: AttachForm) -> list[str]:
        if not form.files:
            raise Invalid("Attach at least one file.", "files")
        with interaction.session() as session:
            may_file(session, interaction.actor_in(session), meta.item_id)
        return [str(f["id"]) for f in form.files]

    file_ids = submit(ack, view, AttachForm, check, fallback="files")
    if file_ids:
        later(interaction, client, "submissions.receive", item_id=meta.item_id, file_ids=file_ids)


@follow_up("submissions.receive")
def after_files(run: Run, item_id: int, file_ids: list[str]) -> None:
    """After the ack (commands/after.py): the files received for the item."""
    receive(run.who, run.client, item_id, file_ids)


def on_shortcut(interaction: Interaction, ack: Callable[..., Any], body: dict[str, Any], client: WebClient,
                respond: Callable[..., Any]) -> None:
    """The File submission item shortcut on a message with files: opens the choice of the person's items."""
    ack()
    deps, actor = interaction.deps, interaction.actor
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
    open_form(client, trigger_id=body["trigger_id"],
              view=views.shortcut_view(choices, [f.get("name") or f["id"] for f in shared][:10], meta))


def on_shortcut_submit(interaction: Interaction, ack: Callable[..., Any], view: dict[str, Any],
                       client: WebClient) -> None:
    """The item chosen for the shortcut's files (sealed with the form): the files received for it."""
    deps, actor = interaction.deps, interaction.actor
    meta = metadata(view, views.ShortcutMeta)

    def check(form: ShortcutForm) -> int:
        if not is_sealed(meta.mac, deps, "submission-item", actor.user_id, meta.channel, ",".join(meta.files)):
            raise Invalid("This form's data was altered; use the shortcut again.", "item")
        with transaction(deps.engine) as session:
            may_file(session, actor, form.item)
        return form.item

    item_id = submit(ack, view, ShortcutForm, check, fallback="item")
    if item_id is not None:
        later(interaction, client, "submissions.receive", item_id=item_id, file_ids=meta.files)


FILING = file_to_program.Target(
    "submissions", filing_choices, file_to, needs="documents for submission checklist items (their owners, "
    "program managers, regulatory contacts)")


def register(app: App) -> None:
    app.view(Ids.sign_view.value)(on_document_sign)
    app.action(Ids.attach.value)(on_attach)
    app.view(Ids.attach_view.value)(on_attach_submit)
    app.shortcut(Ids.shortcut.value)(on_shortcut)
    app.view(Ids.shortcut_view.value)(on_shortcut_submit)
