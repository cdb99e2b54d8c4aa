"""Parsing the text after `/cmo <area> <verb>`: words, quoted phrases, `--flags`, mentions and dates.

Slack escapes mentions in slash command text (`<@U123|jdoe>`, `<#C123|name>`) when the command is
declared with `should_escape`; both the escaped and the plain forms are accepted.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from datetime import date

from store.errors import Invalid

USER_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
CHANNEL_MENTION = re.compile(r"^<#([CG][A-Z0-9]+)(?:\|[^>]*)?>$")


class UsageError(Invalid):
    """The command's words are off; the router answers with the verb's usage."""


@dataclass
class Args:
    words: list[str] = field(default_factory=list)
    flags: dict[str, str | bool] = field(default_factory=dict)

    def word(self, index: int, name: str) -> str:
        if index >= len(self.words):
            raise UsageError(f"Missing {name}.")
        return self.words[index]

    def rest(self, start: int) -> str:
        return " ".join(self.words[start:])

    def flag(self, name: str) -> str | None:
        value = self.flags.get(name)
        if value is True:
            raise UsageError(f"--{name} needs a value.")
        return value  # type: ignore[return-value]

    def switch(self, name: str) -> bool:
        value = self.flags.get(name)
        if value not in (None, True):
            raise UsageError(f"--{name} takes no value.")
        return value is True

    def only(self, *allowed: str) -> Args:
        unknown = sorted(set(self.flags) - set(allowed))
        if unknown:
            raise UsageError(f"Unknown option --{unknown[0]}.")
        return self


def split(text: str) -> list[str]:
    """Words of a command; quotes group words. Unbalanced quotes are a usage error, not a crash, and so is a NUL
    character: no keyboard types it, and PostgreSQL refuses it in any text it is compared with."""
    if "\x00" in text:
        raise UsageError("The command holds a NUL character (0x00); type it again without it.")
    text = text.replace("\u201c", '"').replace("\u201d", '"').replace("\u2018", "'").replace("\u2019", "'")
    try:
        return shlex.split(text, posix=True)
    except ValueError:
        raise UsageError("A quote is not closed.") from None


def parse(words: list[str], switches: frozenset[str] = frozenset()) -> Args:
    """`--name value` flags anywhere; `--name` alone for the listed switches."""
    args = Args()
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("--") and len(word) > 2:
            name, eq, value = word[2:].partition("=")
            if eq:
                args.flags[name] = value
            elif name in switches or i + 1 >= len(words) or words[i + 1].startswith("--"):
                args.flags[name] = True
            else:
                args.flags[name] = words[i + 1]
                i += 1
        else:
            args.words.append(word)
        i += 1
    return args


def _slack_id(word: str, mention: re.Pattern[str], bare: str, refusal: str) -> str:
    """The id in a mention as Slack escapes it in a command (`<@U0123|name>`, `<#C0123|name>`), or a bare id."""
    match = mention.match(word)
    if match:
        return match.group(1)
    if re.fullmatch(bare, word):
        return word
    raise UsageError(refusal)


def user_id(word: str) -> str:
    return _slack_id(word, USER_MENTION, r"[UW][A-Z0-9]{2,}", f"{word!r} is not a person: mention them, like @jdoe.")


def channel_id(word: str) -> str:
    return _slack_id(word, CHANNEL_MENTION, r"[CG][A-Z0-9]{2,}",
                     f"{word[:40]!r} is not a channel: name it with #, like #acme-001.")


def iso_date(text: str, name: str = "date") -> date:
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise UsageError(f"The {name} {text[:40]!r} is not a date; write it as YYYY-MM-DD, e.g. 2027-01-31.")
