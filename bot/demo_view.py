"""How `cmo-bot demo` shows Slack traffic to a person: who said what where, by name, mrkdwn rendered.

The emulator's transcript is for engineers (one line per API call, ids, method names); a reader of the
demo wants the conversation: `#acme-001 — bot:` and the whole message, bold as bold, `:wave:` as 👋,
`<@U0ALI>` as `@Alice Approver (Acme)`. Forms are shown by their title and fields, since what a person
fills in is narrated by the demo itself.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

from rich.emoji import Emoji
from rich.markup import escape
from rich.text import Text

from bot.emulator import blockkit
from bot.emulator.server import Call

REFERENCE = re.compile(r"<([@#!]?)([^>|]+)(?:\|([^>]*))?>")
CODE = re.compile(r"(```[\s\S]*?```|`[^`\n]+`)")
STYLES = (  # mrkdwn → rich markup, applied to escaped prose outside code
    (re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])"), r"[bold]\1[/bold]"),
    (re.compile(r"(?<![\w_])_([^_\n]+)_(?![\w_])"), r"[italic]\1[/italic]"),
    (re.compile(r"(?<![\w~])~([^~\n]+)~(?![\w~])"), r"[strike]\1[/strike]"),
)
MESSAGES = {"chat.postMessage", "chat.postEphemeral", "chat.update", "response_url", "files.completeUploadExternal"}


class Narrator:
    """Turns calls into readable text; `person(id)` and `place(id)` name people and channels."""

    def __init__(self, person: Callable[[str], str], place: Callable[[str], str]) -> None:
        self.person = person
        self.place = place

    def names(self, text: str) -> str:
        """mrkdwn with Slack's references (`<@U…>`, `<#C…|name>`, `<url|label>`, `<!here>`) resolved."""
        def resolve(match: re.Match[str]) -> str:
            sigil, target, label = match.groups()
            if sigil == "@":
                return self.person(target)
            if sigil == "#":
                return f"#{label}" if label else self.place(target)
            if sigil == "!":
                return f"@{label or target.split('^')[0]}"
            return label or target
        return html.unescape(REFERENCE.sub(resolve, text))

    def rich(self, mrkdwn: str) -> Text:
        """Terminal text for mrkdwn: bold, italic, strike, code spans and blocks, emoji shortcodes."""
        out = Text()
        for piece in CODE.split(self.names(mrkdwn)):
            if piece.startswith("```") and piece.endswith("```") and len(piece) >= 6:
                out.append(Emoji.replace(piece[3:-3].strip("\n")), style="cyan")
            elif piece.startswith("`") and piece.endswith("`") and len(piece) >= 2:
                out.append(piece[1:-1], style="cyan")
            else:
                markup = escape(piece)
                for pattern, replacement in STYLES:
                    markup = pattern.sub(replacement, markup)
                out.append_text(Text.from_markup(markup, emoji=True))
        return out

    def message(self, head: str, text: Any, blocks: Any) -> Text:
        """`head` on its own line, then the whole message, indented, then its buttons."""
        blocks = blocks if isinstance(blocks, list) else None
        body = "\n".join(blockkit.texts(blocks)) or str(text or "")
        shown = Text()
        shown.append(head, style="bold magenta")
        if body:
            shown.append("\n")
            shown.append_text(_indent(self.rich(body)))
        buttons = blockkit.controls(blocks)
        if buttons:
            shown.append("\n    " + buttons, style="dim")
        return shown

    def call(self, call: Call, actor: str, where: str) -> Text | None:
        """What a reader sees of one call (None for the plumbing: lookups, joins, connections). `actor` is
        who typed or clicked last and `where` the channel they did it in: answers through a response URL
        and forms go back to them."""
        a, method = call.args, call.method
        failed = call.status != 200 or not call.response.get("ok", True)
        if failed:
            error = call.response.get("error") or f"HTTP {call.status}"
            return Text(f"    ✗ Slack refused the bot's {_what(method)}: {error}", style="red")
        if method in ("chat.postMessage", "chat.postEphemeral", "chat.update"):
            place = self.place(str(call.response.get("channel") or a.get("channel") or ""))
            thread = " (in a thread)" if a.get("thread_ts") else ""
            if method == "chat.update":
                head = f"{place}{thread} ✎ bot updates its message in place:"
            elif method == "chat.postEphemeral":
                head = f"{place}{thread} — bot, seen only by {self.person(str(a.get('user')))}:"
            else:
                head = f"{place}{thread} — bot:"
            return self.message(head, a.get("text"), a.get("blocks"))
        if method == "response_url":
            if _truthy(a.get("delete_original")):
                return Text(f"{where} — bot removes the message {actor} answered", style="bold magenta")
            if _truthy(a.get("replace_original")):
                head = f"{where} ✎ bot replaces the message {actor} answered:"
            elif a.get("response_type") == "in_channel":
                head = f"{where} — bot, for everyone:"
            else:
                head = f"{where} — bot, seen only by {actor}:"
            return self.message(head, a.get("text"), a.get("blocks"))
        if method == "files.completeUploadExternal":
            files = [f for f in a.get("files") or [] if isinstance(f, dict)]
            titles = ", ".join(str(f.get("title") or f.get("id")) for f in files)
            channel = str(a.get("channel_id") or a.get("channels") or "")
            if not channel:  # an image for a form, e.g. the authenticator QR code
                return Text(f"    bot uploads “{titles}” to show in a form", style="dim")
            return self.message(f"{self.place(channel)} — bot shares {titles}:", a.get("initial_comment"), None)
        if method in ("views.open", "views.push", "views.update"):
            view = given if isinstance(given := a.get("view"), dict) else {}
            title = (view.get("title") or {}).get("text", "")
            fields = [t.removesuffix(": ___") for t in blockkit.texts(view.get("blocks")) if t.endswith(": ___")]
            verb = "the form changes to" if method == "views.update" else f"bot opens a form for {actor}:"
            listed = f" — {', '.join(fields)}" if fields else ""
            return Text(f"    {verb} “{title}”{listed}", style="dim")
        if method == "views.publish":
            return Text(f"    bot refreshes the App Home of {self.person(str(a.get('user_id')))}", style="dim")
        if method == "conversations.create":
            return Text(f"    bot creates #{a.get('name')}", style="dim")
        if method == "conversations.invite":
            users = ", ".join(self.person(u) for u in str(a.get("users") or "").split(",") if u)
            return Text(f"    bot invites {users} to {self.place(str(a.get('channel')))}", style="dim")
        if method == "reactions.add":
            return Text(f"    bot reacts :{a.get('name')}: in {self.place(str(a.get('channel')))}", style="dim")
        if method == "chat.delete":
            return Text(f"    bot deletes one of its messages in {self.place(str(a.get('channel')))}", style="dim")
        return None


def _indent(text: Text) -> Text:
    out = Text()
    for number, line in enumerate(text.split("\n", allow_blank=True)):
        out.append("\n    " if number else "    ")
        out.append_text(line)
    return out


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _what(method: str) -> str:
    return "message" if method in MESSAGES else "request"
