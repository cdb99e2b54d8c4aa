"""`/cmo calendar`: the person's private calendar feed (every deadline of their programs in Outlook, Google
Calendar or Apple Calendar), `reset` to replace its link, `program` for one program's feed.

The link is the bot's public address (CMO_PUBLIC_URL) with the feed's token; `store.feeds` says how the token
is kept (only as a hash). The same link is shown on App Home (`home_line`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from slack_bolt import App
from sqlmodel import Session

from commands.deps import Deps
from commands.router import Area, Request, Verb
from store import feeds
from store.db import transaction
from store.markup import escape

NO_PUBLIC_URL = ("Calendar feeds need the bot's public address, which is not set: ask the operator to set "
                 "CMO_PUBLIC_URL (for example https://cmo-bot.example.com). Nothing was changed.")


def feed_url(deps: Deps, token: str) -> str:
    return f"{deps.settings.cmo_public_url}/calendar/{token}.ics"


def webcal(url: str) -> str:
    """The same URL for calendar apps that subscribe on a click (`webcal://` is `https://` for calendars)."""
    return "webcal://" + url.split("://", 1)[1]


def key(deps: Deps) -> str:
    """The key tokens are derived with: the bot token, which the database does not hold."""
    return deps.settings.slack_bot_token or ""


def _feed_reply(req: Request, issue: Callable[[Session], tuple[str, str] | None], note: str = "") -> None:
    """The frame every verb shares: no link without CMO_PUBLIC_URL, else `issue` (in one transaction) gives the
    feed's token and the reply's opening line, or None when it has answered the person itself."""
    if not req.deps.settings.cmo_public_url:
        req.reply(NO_PUBLIC_URL)
        return
    with req.session() as session:
        issued = issue(session)
    if issued is None:
        return
    token, what = issued
    url = feed_url(req.deps, token)
    req.reply(f"{what} (private: anyone with the link sees it):\n{url}\nSubscribe in one click: {webcal(url)}\n"
              "In Outlook or Google Calendar: add a calendar from the internet/by URL and paste the link. "
              f"{note}`/cmo calendar reset` replaces the link (the old one stops at once).")


def cmd_show(req: Request) -> None:
    req.args.only()
    _feed_reply(req, lambda session: (
        feeds.link(session, user_id=req.user_id, program_id=None, key=key(req.deps), now=req.now),
        "Your calendar feed of every program you hold a role on"))


def cmd_reset(req: Request) -> None:
    req.args.only()
    _feed_reply(req, lambda session: (
        feeds.reset(session, user_id=req.user_id, program_id=None, key=key(req.deps), now=req.now),
        "Your calendar feed has a new link; the old links (program feeds too) no longer work"),
        "Subscribe again with the new link. ")


def cmd_program(req: Request) -> None:
    req.args.only("program")

    def issue(session: Session) -> tuple[str, str] | None:
        access = req.access(session)
        if not access.roles:
            req.reply(f"You hold no role on {escape(access.program.code)}, so its feed would be empty.")
            return None
        token = feeds.link(session, user_id=req.user_id, program_id=access.program.id, key=key(req.deps),
                           now=req.now)
        return token, f"Your calendar feed of {escape(access.program.code)} alone"

    _feed_reply(req, issue)


def home_line(deps: Deps, user_id: str, now: datetime) -> str | None:
    """App Home's line with the person's feed link (None until CMO_PUBLIC_URL is set)."""
    if not deps.settings.cmo_public_url:
        return None
    with transaction(deps.engine) as session:
        token = feeds.link(session, user_id=user_id, program_id=None, key=key(deps), now=now)
    url = feed_url(deps, token)
    return f":calendar: Your deadlines in your calendar app: <{webcal(url)}|subscribe> · `{url}` (private link)"


AREA = Area("calendar", "your private calendar feed of every deadline (Outlook, Google, Apple)", (
    Verb("show", "/cmo calendar", "your private feed's link (every program you hold a role on)", cmd_show),
    Verb("reset", "/cmo calendar reset", "a new link; the old ones stop working at once", cmd_reset),
    Verb("program", "/cmo calendar program [--program CODE]", "a feed of this channel's program alone",
         cmd_program),
), default="show")


def register(app: App) -> None:
    """No listeners: the verbs run through the router."""
