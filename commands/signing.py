"""`/cmo signing …`: enrolling an authenticator app (the second component of electronic signatures), the
person's status, and an admin's reset after a lockout; plus the warning when someone is locked out.

Enrollment shows a new secret as text and as a QR code, and keeps it only when the person confirms it
with a current code. Until then the secret lives only in the form, encrypted (store.signing.seal_pending).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any

import segno
from pydantic import BaseModel
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import blocks as bk
from commands.after import Run, follow_up, later
from commands.args import UsageError, user_id
from commands.boundary import tell
from commands.deps import Deps
from commands.forms import open_form, submit
from commands.home import ENROLL_ACTION
from commands.interaction import Interaction
from commands.router import Area, Request, Verb
from store import programs, signing
from store.audit import Actor
from store.db import pk, transaction
from store.errors import NotAllowed
from store.markup import escape
from store.programs import Program, Role, user_ids

log = logging.getLogger(__name__)


class Ids(StrEnum):
    enroll_view = "signing_enroll"
    enroll_button = ENROLL_ACTION
    qr_block = "signing_qr"


class Pending(BaseModel):
    token: str


class EnrollForm(BaseModel):
    code: str


def enroll_view(secret: str, token: str, qr_file_id: str | None = None) -> dict:
    spaced = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    blocks: list[Any] = [
        bk.section("Scan this code with an authenticator app (Google Authenticator, Microsoft Authenticator, "
                   "1Password …), or type the secret into it. Then enter the 6-digit code the app shows."),
        bk.section(f"*Secret:* `{spaced}`\n_Time-based, 6 digits, 30 seconds._"),
    ]
    if qr_file_id:
        blocks.append({"type": "image", "block_id": Ids.qr_block, "alt_text": "QR code of the secret",
                       "slack_file": {"id": qr_file_id}})
    else:
        blocks.append(bk.context("The QR code is on its way…"))
    blocks += [
        bk.text_input("code", "Code from the app", max_length=8, placeholder="123456"),
        bk.context("Your signatures in the bot then ask for a current code from this app: the second "
                   "identification component (21 CFR 11.200). The secret is kept encrypted and shown only now."),
    ]
    view = bk.modal("Set up signing", Ids.enroll_view, blocks, submit="Confirm",
                    private_metadata=Pending(token=token).model_dump_json())
    return {**view, "notify_on_close": True}  # closing it deletes the QR code too (`forget_qr`)


def qr_files(view: dict[str, Any]) -> list[str]:
    """The uploaded QR code of an enrollment form (its Slack file ids; the ids are not the secret)."""
    return [str(file_id) for block in view.get("blocks") or [] if block.get("block_id") == Ids.qr_block
            for file_id in [(block.get("slack_file") or {}).get("id")] if file_id]


def forget_qr(client: WebClient, file_ids: list[str]) -> None:
    """Delete the uploaded QR code once the form is done with (confirmed or closed): the image encodes the
    signing secret, so it must not outlive the enrollment among the bot's files."""
    for file_id in file_ids:
        try:
            client.files_delete(file=file_id)
        except SlackApiError as exc:
            log.warning("QR code not deleted: %s", exc.response.get("error"))


def code_input():
    """The signing dialogs' field for the second identification component: the app's current code."""
    return bk.text_input("code", "Code from your authenticator app", max_length=8, placeholder="123456",
                         hint="Second identification component: the 6-digit code your app shows now.")


def qr_png(uri: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="png", scale=6, border=2)
    return buffer.getvalue()


def start_enrollment(deps: Deps, client: WebClient, person: str, label: str, trigger_id: str, now: datetime
                     ) -> None:
    """Open the enrollment form with a new secret, then add its QR code (uploaded after the form is open, so
    the trigger never expires while the image uploads)."""
    key = deps.settings.cmo_secret_key
    with transaction(deps.engine) as session:
        existing = signing.key_of(session, person)
        if not deps.is_admin(person) and not programs.visible_to(session, Actor(person, person)):
            raise NotAllowed("You hold no role on any program, so there is nothing for you to sign yet.")
    if existing is not None and existing.locked_at is not None:
        raise NotAllowed("Your signing is locked after wrong codes; an admin must reset it first "
                         "(`/cmo signing reset`).")
    secret = signing.new_secret()
    token = signing.seal_pending(key, person, secret, now)
    opened = open_form(client, trigger_id=trigger_id, view=enroll_view(secret, token))
    try:
        uploaded = client.files_upload_v2(content=qr_png(signing.uri(secret, label)), filename="signing-qr.png",
                                          title="Authenticator QR code")
        client.views_update(view_id=opened["view"]["id"], hash=opened["view"].get("hash"),
                            view=enroll_view(secret, token, uploaded["file"]["id"]))
    except SlackApiError as exc:  # the secret as text still enrolls
        log.warning("QR code not shown: %s", exc.response.get("error"))


def status_text(deps: Deps, person: str) -> str:
    with transaction(deps.engine) as session:
        row = signing.key_of(session, person)
    if not deps.settings.cmo_secret_key:
        return ":warning: " + signing.NO_KEY
    if row is None:
        return ("You are not enrolled for electronic signatures: `/cmo signing enroll` (or the button on the "
                "bot's Home tab) sets up an authenticator app.")
    if row.locked_at is not None:
        return (f":lock: Your signing is locked since {row.locked_at:%Y-%m-%d %H:%M} UTC after wrong codes; "
                "an admin must reset it (`/cmo signing reset @you`), then you enroll again.")
    return (f":white_check_mark: You are enrolled with an authenticator app (since "
            f"{row.enrolled_at:%Y-%m-%d %H:%M} UTC).")


def cmd_enroll(req: Request) -> None:
    req.args.only()
    if req.args.words:
        raise UsageError("`enroll` takes no words: it opens a form.")
    if not req.deps.settings.cmo_secret_key:
        req.reply(":warning: " + signing.NO_KEY)
        return
    start_enrollment(req.deps, req.client, req.user_id, req.body.get("user_name") or req.user_id, req.trigger_id,
                     req.now)


def cmd_status(req: Request) -> None:
    req.args.only()
    if req.args.words:
        raise UsageError("`status` takes no words.")
    req.reply(status_text(req.deps, req.user_id))


def cmd_reset(req: Request) -> None:
    req.args.only()
    person = user_id(req.args.word(0, "the person (@name)"))
    with req.session() as session:
        done = signing.reset(session, user_id=person, actor=req.actor, now=req.now)
    if not done:
        req.reply(f"{bk.mention(person)} has no authenticator enrolled; nothing to reset.")
        return
    tell(req.client, {"user_id": person}, f":unlock: {bk.mention(req.user_id)} reset your signing. Enroll your "
                                          "authenticator app again with `/cmo signing enroll` before you sign.")
    req.reply(f"{bk.mention(person)}'s signing is reset; they must enroll again (`/cmo signing enroll`).")


def warn_locked(deps: Deps, client: WebClient, person: str, program: Program) -> None:
    """Five wrong codes: the admins and the program's CMO quality hear of it at once."""
    with transaction(deps.engine) as session:
        quality = user_ids(session, pk(program), Role.cmo_quality)
    text = (f":lock: Signing of {bk.mention(person)} is *locked* after {signing.MAX_FAILURES} wrong authenticator "
            f"codes in a row (last attempt in {escape(program.code)}). Each attempt is in the audit trail. If it was "
            f"them, an admin resets it with `/cmo signing reset {bk.mention(person)}`; if not, investigate.")
    for target in sorted(set(deps.settings.cmo_admins) | set(quality)):
        try:
            client.chat_postMessage(channel=target, text=text)
        except SlackApiError as exc:
            log.warning("lockout warning to %s failed: %s", target, exc.response.get("error"))


AREA = Area("signing", "electronic signatures: your authenticator app (the second component of a signature)", (
    Verb("enroll", "/cmo signing enroll", "set up an authenticator app for signing (QR code and secret)", cmd_enroll),
    Verb("status", "/cmo signing status", "whether you are enrolled (or locked)", cmd_status),
    Verb("reset", "/cmo signing reset @person", "admins: unlock a person after wrong codes (they enroll again)",
         cmd_reset),
))


def on_enroll_button(interaction: Interaction, ack: Callable[..., Any], body: dict[str, Any],
                     client: WebClient) -> None:
    """The Set up signing button of App Home: opens the enrollment form with a new secret."""
    ack()
    deps, user = interaction.deps, interaction.user
    if not deps.settings.cmo_secret_key:
        tell(client, {"user_id": user["id"]}, ":warning: " + signing.NO_KEY)
        return
    start_enrollment(deps, client, user["id"], user.get("username") or user["id"], body["trigger_id"],
                     interaction.now)


def on_enroll(interaction: Interaction, ack: Callable[..., Any], view: dict[str, Any], client: WebClient) -> None:
    """The enrollment form submitted: the secret is kept once a current code confirms it."""
    deps, actor, now = interaction.deps, interaction.actor, interaction.now
    key = deps.settings.cmo_secret_key

    def act(form: EnrollForm) -> None:
        secret = signing.open_pending(key, Pending.model_validate_json(view.get("private_metadata") or "{}")
                                      .token, actor.user_id, now)
        with transaction(deps.engine) as session:
            signing.enroll(session, key, user_id=actor.user_id, secret=secret, code=form.code, actor=actor,
                           now=now)
            # the secret stays here: only the QR's file id goes
            later(interaction, client, "signing.enrolled", session=session, qr_files=qr_files(view))

    submit(ack, view, EnrollForm, act, fallback="code")


@follow_up("signing.enrolled")
def after_enroll(run: Run, qr_files: list[str]) -> None:
    """After the ack (commands/after.py): the QR code deleted, the person told (once)."""
    forget_qr(run.client, qr_files)
    run.once("told", lambda: tell(run.client, {"user_id": run.who.actor.user_id}, (
        ":white_check_mark: Your authenticator app is set up. When you sign in the bot, it asks for the app's "
        "current code.")))


@follow_up("signing.locked")
def after_locked(run: Run, program_id: int) -> None:
    """After a signing form's ack (commands/after.py): five wrong codes, the warning sent (once)."""
    with transaction(run.who.deps.engine) as session:
        program = session.get_one(Program, program_id)
    run.once("warned", lambda: warn_locked(run.who.deps, run.client, run.who.actor.user_id, program))


def on_enroll_closed(ack: Callable[..., Any], view: dict[str, Any], client: WebClient) -> None:
    """The enrollment form closed without confirming: its QR code is deleted."""
    ack()
    forget_qr(client, qr_files(view))


def register(app: App) -> None:
    app.action(Ids.enroll_button.value)(on_enroll_button)
    app.view(Ids.enroll_view.value)(on_enroll)
    app.view_closed(Ids.enroll_view.value)(on_enroll_closed)
