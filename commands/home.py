"""App Home: what each person owes today and, for program managers and admins, the portfolio.

Published on `app_home_opened` and by areas after changes that concern someone (`publish`). Never more
than Slack's 100 blocks: the most urgent first, and a "Show all" modal that pages through the rest.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block

from bot import blocks as bk
from commands import calendar
from commands.after import Run, follow_up, later
from commands.deps import Deps
from commands.forms import open_form
from commands.interaction import Interaction
from store import home as store
from store import programs, signing
from store.audit import Actor
from store.db import pk, transaction
from store.markup import day, escape
from store.outbox import sent_since

log = logging.getLogger(__name__)

HOME_BLOCKS = bk.VIEW_BLOCKS
PAGE = 40
ENROLL_ACTION = "signing_enroll_open"  # commands.signing handles it


class Ids(StrEnum):
    show_all = "home_show_all"
    page_previous = "home_page_previous"  # Slack refuses two elements with one action_id in a block
    page_next = "home_page_next"
    all_view = "home_all"


class Page(BaseModel):
    page: int = Field(ge=0, le=10_000)


def _item_blocks(item: store.Owed) -> list[Block]:
    text = f"*{escape(item.program_code)}* · {item.text}"
    if not item.buttons:
        return [bk.section(text)]
    if len(item.buttons) == 1:
        b = item.buttons[0]
        return [bk.section(text, accessory=bk.button(b.label, b.action_id, b.value, b.style))]
    return [bk.section(text), bk.actions(*(bk.button(b.label, b.action_id, b.value, b.style) for b in item.buttons))]


def gather(deps: Deps, user_id: str, now: datetime) -> tuple[list[store.Owed], list[str], bool]:
    """(owed items, portfolio lines, is manager) for one person, scoped to their programs."""
    actor = Actor(user_id, user_id, deps.is_admin(user_id))
    with transaction(deps.engine) as session:
        visible = programs.visible_to(session, actor)
        items = store.owed(session, user_id, visible, now)
        managing = programs.managed_ids(session, user_id)
        managed = [p for p in visible if actor.is_admin or p.id in managing]
        lines: list[str] = []
        if managed:
            health = store.health(session, managed, now)
            week = sent_since(session, [pk(p) for p in managed], now - timedelta(days=7))
            for program in managed:
                fragments = health.fragments.get(pk(program)) or ["nothing open"]
                deadline = health.deadlines.get(pk(program))
                tail = f" · next deadline {day(deadline)}" if deadline else ""
                lines.append(f"*{escape(program.code)}* ({escape(program.customer)}): {' · '.join(fragments)}{tail}")
            lines.append(f"_{week} message(s) went out for your programs in the last 7 days._")
    return items, lines, bool(managed)


def signing_blocks(enrolled: bool) -> list[Block]:
    """Electronic signatures: the way to enroll an authenticator app, or that it is done."""
    if enrolled:
        return [bk.context(":white_check_mark: Electronic signatures: your authenticator app is set up.")]
    return [bk.section("*Electronic signatures*: batch approvals ask for a code from an authenticator app. "
                       "Set yours up once.", accessory=bk.button("Set up signing", ENROLL_ACTION, "enroll"))]


def home_view(items: list[store.Owed], portfolio: list[str], manager: bool, footer: Sequence[Block] = (),
              calendar_line: str | None = None) -> dict:
    blocks: list[Block] = [bk.header("What you owe today")]
    if calendar_line:
        blocks.append(bk.context(calendar_line))
    portfolio_blocks: list[Block] = []
    if manager:
        # no more lines than a view can hold (cut below anyway): a block is not built for each of 500 programs
        portfolio_blocks = [bk.divider(), bk.header("Your programs"),
                            *[bk.section(line) for line in portfolio[:HOME_BLOCKS]]]
    budget = HOME_BLOCKS - len(blocks) - min(len(portfolio_blocks), 40) - 2 - len(footer)
    shown: list[Block] = []
    for index, item in enumerate(items):
        rendered = _item_blocks(item)
        if len(shown) + len(rendered) > budget:
            more = len(items) - index
            shown.append(bk.section(f"…and {more} more, less urgent.",
                                    accessory=bk.button(f"Show all {len(items)}", Ids.show_all, "0")))
            break
        shown += rendered
    blocks += shown or [bk.section("Nothing waits for you. :white_check_mark:")]
    room = HOME_BLOCKS - len(blocks) - len(footer)
    if len(portfolio_blocks) > room:
        portfolio_blocks = portfolio_blocks[: room - 1] + [bk.context("More programs: `/cmo program list`.")]
    blocks += portfolio_blocks
    blocks += footer
    return {"type": "home", "blocks": [b.to_dict() for b in blocks]}


def all_items_view(items: list[store.Owed], page: int) -> dict:
    pages = max(1, -(-len(items) // PAGE))
    page = min(page, pages - 1)
    chunk = items[page * PAGE:(page + 1) * PAGE]
    blocks: list[Block] = [bk.context(f"Page {page + 1} of {pages} · {len(items)} items, most urgent first")]
    blocks += [bk.section(f"*{escape(i.program_code)}* · {i.text}") for i in chunk]
    nav = [bk.button("◀ Previous", Ids.page_previous, str(page - 1))] if page > 0 else []
    nav += [bk.button("Next ▶", Ids.page_next, str(page + 1))] if page + 1 < pages else []
    if nav:
        blocks.append(bk.actions(*nav))
    return bk.modal("Everything you owe", Ids.all_view, blocks, submit=None,
                    private_metadata=json.dumps({"page": page}))


def publish(deps: Deps, client: WebClient, user_id: str, now: datetime) -> None:
    """Publish someone's App Home as of `now`: the request's that changed what they see."""
    items, portfolio, manager = gather(deps, user_id, now)
    with transaction(deps.engine) as session:
        enrolled = signing.key_of(session, user_id) is not None
    line = calendar.home_line(deps, user_id, now)
    try:
        client.views_publish(user_id=user_id, view=home_view(items, portfolio, manager, signing_blocks(enrolled),
                                                             line))
    except SlackApiError as exc:  # a home tab that cannot be refreshed is logged; the next open retries it
        log.warning("App Home for %s not published: %s", user_id, exc.response.get("error"))


def on_home_opened(interaction: Interaction, event: dict[str, Any], client: WebClient) -> None:
    """The person opened the bot's Home tab: it is published afresh."""
    if event.get("tab", "home") == "home":
        publish(interaction.deps, client, event["user"], interaction.now)


def gathering_view() -> dict:
    """The Show all modal as it opens, before what the person owes is gathered into it."""
    return bk.modal("Everything you owe", Ids.all_view,
                    [bk.context(":hourglass_flowing_sand: Gathering what you owe across your programs…")],
                    submit=None, private_metadata=json.dumps({"page": 0}))


def on_show_all(interaction: Interaction, ack: Callable[..., Any], body: dict[str, Any], client: WebClient) -> None:
    """The Show all button: everything the person owes, a page at a time. The modal opens at once and is filled
    right after (`fill_all`, by a worker of the other queue when there are some): gathering across hundreds of
    programs can outlast the three seconds Slack gives a trigger_id, and a burst of clicks would make the
    forms behind them outlast it too."""
    ack()
    opened = open_form(client, trigger_id=body["trigger_id"], view=gathering_view())
    later(interaction, client, "home.show_all", view_id=opened["view"]["id"])


@follow_up("home.show_all")
def fill_all(run: Run, view_id: str) -> None:
    """The Show all modal filled with its first page (a modal closed meanwhile is left alone)."""
    items, _, _ = gather(run.who.deps, run.who.user_id, run.who.now)
    try:
        run.client.views_update(view_id=view_id, view=all_items_view(items, 0))
    except SlackApiError as exc:
        log.info("Show all modal %s not filled: %s", view_id, exc.response.get("error"))


def on_page(interaction: Interaction, ack: Callable[..., Any], body: dict[str, Any], action: dict[str, Any],
            client: WebClient) -> None:
    """Previous or Next in the Show all modal."""
    ack()
    page = Page.model_validate({"page": action.get("value") or 0}).page
    items, _, _ = gather(interaction.deps, interaction.user_id, interaction.now)
    client.views_update(view_id=body["view"]["id"], hash=body["view"].get("hash"),
                        view=all_items_view(items, page))


def register(app: App) -> None:
    app.event("app_home_opened")(on_home_opened)
    app.action(Ids.show_all.value)(on_show_all)
    for button in (Ids.page_previous, Ids.page_next):
        app.action(button.value)(on_page)
