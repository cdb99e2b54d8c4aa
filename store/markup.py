"""Plain-text helpers for the messages the store composes (reminders, digests).

Slack reads `&`, `<` and `>` as markup, so every piece of user text is escaped before it goes into a
message: `<!channel>` in a reason field then reads as text and pings nobody. Escaping also keeps user text
from passing as the bot's own words: bidi and invisible characters are dropped (a file name can no longer
read backwards), a code fence in it is broken (it cannot close the bot's table), and a line break in it
starts a quote, so a reason written as "ok⏎:white_check_mark: approved by QA" shows as quoted text.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import lru_cache

# Bidi embeddings, overrides and isolates, marks, zero-width spaces and joiners' look-alikes, word joiner, BOM.
_INVISIBLE = re.compile("[\u061c\u200b\u200c\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_LINE_BREAK = re.compile("\r\n|[\r\n\x0b\x0c\x85\u2028\u2029]")
FENCE = "```"


def escape(text: object) -> str:
    text = _INVISIBLE.sub("", str(text)).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _LINE_BREAK.sub("\n> ", text.replace(FENCE, "ˋˋˋ"))


@lru_cache(maxsize=4096)
def day(value: date) -> str:
    """`Fri 4 Dec 2026`: unambiguous to readers on either side of the Atlantic. Kept per day: a sweep writes
    the same few hundred days into thousands of reminders."""
    return f"{value:%a} {value.day} {value:%b %Y}"


def local_time(value: datetime) -> str:
    return f"{day(value.date())} {value:%H:%M %Z}"


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
