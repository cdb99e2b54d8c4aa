"""The "File to program" message shortcut: file a document shared in Slack to a record of a program.

Generic: each area that can take a document declares a `Target` (what it offers the person, and how it
files one choice) in its declaration (commands/areas.py), and bot/app.py hands them all to `register`. The
modal lists every target's choices for the programs the person holds a role on; the submission re-checks
the choice against the same list (re-authorizing), acks, then downloads each file with the bot token and
hands it to the target. Failures are told to the person, never swallowed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Any

from pydantic import BaseModel
from slack_bolt import App
from slack_sdk import WebClient

from bot import blocks as bk
from bot.downloads import SlackFile, fetch
from commands.after import Run, follow_up, later
from commands.boundary import explain, tell
from commands.deps import Deps
from commands.forms import is_sealed, metadata, open_form, seal, submit
from commands.interaction import Interaction
from store import programs as program_store
from store.audit import Actor
from store.db import pk, transaction
from store.errors import DomainError, Invalid
from store.markup import escape

log = logging.getLogger(__name__)

MAX_CHOICES = 100


class Ids(StrEnum):
    shortcut = "file_to_program"
    view = "file_to_program_submit"


@dataclass(frozen=True)
class Target:
    """One area's filing destinations.

    `choices(session, actor)` → `[(value, label)]`, only what the person may file to (value unique within the
    area, at most 150 characters with the area prefix); `file(interaction, value, file, note)` files one
    downloaded file and returns the line the person is told (or `file_all` takes every file at once). It must
    authorize again: it runs on a value that came back from Slack.
    """

    area: str
    choices: Callable[[Any, Actor], list[tuple[str, str]]]
    file: Callable[[Interaction, str, SlackFile, str], str] | None = None
    # a target that takes all the shared files as one (a results import): (interaction, client, value, file ids,
    # note); it answers the person itself
    file_all: Callable[[Interaction, WebClient, str, list[str], str], None] | None = None
    needs: str = ""  # what it takes and from whom, told to someone offered nothing


class ShortcutContext(BaseModel):
    channel: str = ""
    file_ids: list[str]
    mac: str = ""


class FilingForm(BaseModel):
    target: str
    note: str | None = None


def all_choices(deps: Deps, targets: Sequence[Target], actor: Actor) -> list[tuple[str, str]]:
    with transaction(deps.engine) as session:
        return [(f"{target.area}|{value}", label) for target in targets
                for value, label in target.choices(session, actor)]


def nothing_to_file(deps: Deps, targets: Sequence[Target], actor: Actor) -> str:
    """Why the person is offered nothing: no role at all, outside the company, or nothing open where they are."""
    with transaction(deps.engine) as session:
        programs = program_store.visible_to(session, actor)
        inside = [p for p in programs
                  if actor.is_admin or not program_store.is_external(session, pk(p), actor.user_id)]
        held = [(p.code, sorted(r.label for r in program_store.roles_of(session, pk(p), actor.user_id)))
                for p in inside]
    if not programs:
        return ":mag: There is nothing you can file to: you hold no role on any program."
    if not inside:
        return (":no_entry: People outside the company file nothing through the bot; send the document to the "
                "program team.")
    where = "; ".join(f"{code} ({', '.join(roles).lower() or 'admin'})" for code, roles in held[:10])
    needs = "; ".join(t.needs for t in targets if t.needs)
    return f":mag: Nothing is open for you to file to on {where}. What can be filed, and by whom: {needs}."


def view(choices: list[tuple[str, str]], context: ShortcutContext, names: list[str]) -> dict:
    files = ", ".join(f"*{escape(n)}*" for n in names)
    return bk.modal("File to program", Ids.view, [
        bk.section(f"File {files} to:"),
        bk.select_input("target", "Where it belongs", choices[:MAX_CHOICES]),
        bk.text_input("note", "Note", optional=True, multiline=True, max_length=2000),
    ], submit="File", private_metadata=context.model_dump_json())


def on_shortcut(targets: Sequence[Target], interaction: Interaction, ack: Callable[..., Any], body: dict[str, Any],
                client: WebClient) -> None:
    """The File to program shortcut on a message with files: opens the choice of places to file to."""
    ack()
    deps, actor = interaction.deps, interaction.actor
    files = (body.get("message") or {}).get("files") or []
    if not files:
        tell(client, body, ":x: That message has no file to file. Use the shortcut on a message with a file.")
        return
    choices = all_choices(deps, targets, actor)
    if not choices:
        tell(client, body, nothing_to_file(deps, targets, actor))
        return
    channel = (body.get("channel") or {}).get("id", "")
    file_ids = [f["id"] for f in files if f.get("id")][:10]
    context = ShortcutContext(channel=channel, file_ids=file_ids,
                              mac=seal(deps, "filing", actor.user_id, channel, ",".join(file_ids)))
    open_form(client, trigger_id=body["trigger_id"],
              view=view(choices, context, [f.get("name") or f["id"] for f in files][:10]))


def on_submit(targets: Sequence[Target], interaction: Interaction, ack: Callable[..., Any], view: dict[str, Any],
              client: WebClient) -> None:
    """The place chosen (sealed with the form): each area's target files the message's files."""
    deps, actor = interaction.deps, interaction.actor

    def check(form: FilingForm) -> tuple[Target, str, str, list[str]]:
        context = metadata(view, ShortcutContext)
        if not is_sealed(context.mac, deps, "filing", actor.user_id, context.channel, ",".join(context.file_ids)):
            raise Invalid("This form's data was altered; use the shortcut again.", "target")
        if form.target not in {value for value, _ in all_choices(deps, targets, actor)}:
            raise Invalid("You cannot file to that (any more); pick another.", "target")
        area, _, value = form.target.partition("|")
        return next(t for t in targets if t.area == area), value, form.note or "", context.file_ids

    chosen = submit(ack, view, FilingForm, check, fallback="target")
    if chosen is not None:
        target, value, note, file_ids = chosen
        later(interaction, client, FILE, area=target.area, value=value, note=note, file_ids=file_ids)


FILE = "file_to_program.file"


def after_submit(targets: Sequence[Target], run: Run, area: str, value: str, note: str, file_ids: list[str]
                 ) -> None:
    """After the ack (commands/after.py): the area's target files the files (each once: its mark goes with its
    write), each told to the person by DM (the bot may not be in that channel)."""
    who, client = run.who, run.client
    target = next(t for t in targets if t.area == area)
    if target.file_all is not None:
        file_all = target.file_all

        def all_at_once() -> None:
            try:
                file_all(who, client, value, file_ids, note)
            except DomainError as error:
                tell(client, {"user_id": who.actor.user_id}, explain(error))

        run.once("files", all_at_once)
        return
    if target.file is None:
        return
    file = target.file

    def one(file_id: str) -> None:
        try:
            text = file(who, value, fetch(client, file_id), note)
        except DomainError as error:
            text = explain(error)
        tell(client, {"user_id": who.actor.user_id}, text)

    for file_id in file_ids:
        run.once(f"file:{file_id}", partial(one, file_id))


def register(app: App, targets: Sequence[Target]) -> None:
    """The shortcut and its form, registered once (bot/app.py) with every area's targets (commands/areas.py);
    the listeners are bound to the targets with `functools.partial`, the rest Bolt hands them."""
    app.shortcut(Ids.shortcut.value)(partial(on_shortcut, targets))
    app.view(Ids.view.value)(partial(on_submit, targets))
    follow_up(FILE, again=True)(partial(after_submit, targets))
