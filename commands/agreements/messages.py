"""The Slack side of an agreement change, shared by the commands (commands/agreements/commands.py) and the forms
(commands/agreements/forms.py): the channel's notice, queued through the outbox and posted at once, the text
that sums an agreement up, and the documents downloaded from Slack and filed with their checksums."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from slack_sdk import WebClient
from sqlmodel import Session

from bot.downloads import SlackFile, fetch
from commands.after import Run
from commands.boundary import explain, tell
from commands.interaction import Acting
from scheduler.delivery import SENT, deliver_now
from store import outbox
from store.agreements import service as store
from store.agreements.service import Agreement
from store.db import pk, transaction
from store.errors import DomainError
from store.filing import file_document, safe_name
from store.markup import day, escape
from store.programs import Program


def file_one(who: Acting, program: Program, agreement: Agreement, slack_file: SlackFile, role: str) -> str:
    """Write a downloaded file to the program folder and record it with its checksum (audit included)."""
    deps = who.deps
    filed = file_document(deps.files, program.code, "agreements",
                          name=f"{agreement.ref}-{safe_name(slack_file.name)}", content=slack_file.content)
    with transaction(deps.engine) as session:
        fresh = session.get_one(Agreement, agreement.id)
        store.record_document(session, fresh, filed, actor=who.actor, now=who.now, role=role,
                              name=slack_file.name, slack_file_id=slack_file.id)
    return (f":file_folder: Filed *{escape(slack_file.name)}* to {escape(program.code)} {escape(agreement.ref)} "
            f"({role}) as `{escape(filed.path)}`, SHA-256 `{filed.sha256}`.")


def file_all(run: Run, program: Program, agreement: Agreement, file_ids: list[str], role: str) -> None:
    """After the ack: download and file each, once (commands/after.py); the person hears of every success and
    every failure."""
    who, client = run.who, run.client

    def file_it(file_id: str) -> None:
        try:
            text = file_one(who, program, agreement, fetch(client, file_id), role)
        except DomainError as error:
            text = f"{explain(error)}\n{escape(agreement.ref)} itself was saved; file the document again with " \
                   "the message shortcut *File to program*."
        tell(client, {"user_id": who.actor.user_id}, text)

    for file_id in file_ids:
        run.once(f"file:{file_id}", partial(file_it, file_id))


def notice(session: Session, program: Program, agreement: Agreement, event: str, text: str,
           now: datetime) -> list[int]:
    """The channel's notice of a change, queued through the outbox in the change's own transaction, so that
    a crash or a Slack outage does not lose it (nothing is queued for a program without a channel)."""
    if not program.channel_id:
        return []
    return outbox.announce(session, key=f"agreement:{pk(agreement)}:{event}", program_id=pk(program),
                           subject=f"agreement:{agreement.id}:notice", text=text, targets=[(program.channel_id, ())],
                           today=now.astimezone(program.tz).date(), now=now)


def announce(who: Acting, client: WebClient, program: Program, text: str, rows: list[int]) -> None:
    """Post the queued notice now; without a channel, tell the person who acted instead."""
    actor = who.actor
    if not program.channel_id:
        tell(client, {"user_id": actor.user_id}, text)
        return
    missed = [o for o in deliver_now(who.deps.engine, client, who.now, rows) if o.result not in SENT]
    if missed:
        tell(client, {"user_id": actor.user_id},
             f"{text}\n:warning: Could not post this in the program channel just now ({escape(missed[0].detail)}); "
             "the bot will post it as soon as Slack takes it.")


def summary(agreement: Agreement) -> str:
    if agreement.evergreen:
        term = f"evergreen, review {day(agreement.review_on)}" if agreement.review_on else "evergreen"
    elif agreement.expires_on:
        term = f"expires {day(agreement.expires_on)}"
    else:
        term = "no dates yet"
    effective = f"effective {day(agreement.effective_on)}, " if agreement.effective_on else ""
    return f"*{escape(agreement.title)}* with {escape(agreement.counterparty)} — " \
           f"{agreement.status.label.lower()}, {effective}{term}"


def redline_text(agreement: Agreement, redline: store.Redline, user: str) -> str:
    note = f": {escape(redline.note)}" if redline.note else ""
    file = f" (file {escape(redline.file_name)})" if redline.file_name else ""
    return (f":memo: Redline round {redline.round} of *{escape(agreement.title)}* logged by <@{user}> — "
            f"from the {redline.side.label}{note}{file}. History: `/cmo agreement show {agreement.ref}`.")

