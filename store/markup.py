"""Plain-text helpers for the messages the store composes (reminders, digests).

Slack reads `&`, `<` and `>` as markup, so every piece of user text is escaped before it goes into a
message: `<!channel>` in a reason field then reads as text and pings nobody.
"""

from __future__ import annotations

from datetime import date, datetime


def escape(text: object) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def day(value: date) -> str:
    """`Fri 4 Dec 2026`: unambiguous to readers on either side of the Atlantic."""
    return f"{value:%a} {value.day} {value:%b %Y}"


def local_time(value: datetime) -> str:
    return f"{day(value.date())} {value:%H:%M %Z}"


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
