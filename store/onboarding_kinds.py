"""Every area's importer kind (store/importing.py) and export sheets (store/exporting.py), in one place.

Each kind creates its records through the area's own store services (so their validation, numbering,
schedules and audit rows apply unchanged); the importer adds the `imported` audit row with the file's
SHA-256. Importing this module registers them.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlmodel import Session

from store import exporting, importing
from store import programs as program_store
from store.audit import Actor
from store.errors import Invalid
from store.exporting import Sheet
from store.importing import Column, Kind, Row
from store.programs import Program, Role

SLACK_USER = re.compile(r"^<?@?([UW][A-Z0-9]{2,})(?:\|[^>]*)?>?$")


def choose(label: str, value: str | None, words: dict[str, str]) -> str | None:
    """A cell's word mapped to a store value (`Quality Agreement` → `quality`); unknown words are refused."""
    if value is None:
        return None
    found = words.get(importing.normalise(value))
    if found is None:
        raise Invalid(f"{label} {importing.shown(value)!r} is not one of {', '.join(sorted(set(words.values())))}")
    return found


def owner(session: Session, program: Program, value: str | None, actor: Actor) -> str:
    """The Slack user who owns the record: the Owner cell (a Slack ID or mention), else the program's first
    program manager, else the person importing — never the command line, which no DM reaches."""
    if value:
        match = SLACK_USER.match(value.strip())
        if not match:
            raise Invalid(f"Owner {importing.shown(value)!r} is not a Slack user ID such as U012AB3CD")
        return match.group(1)
    managers = program_store.user_ids(session, program.id, Role.program_manager)
    if managers:
        return managers[0]
    if SLACK_USER.match(actor.user_id):
        return actor.user_id
    raise Invalid(f"Owner is empty and {program.code} has no program manager to own it")


def words(table: dict[str, tuple[str, ...]]) -> dict[str, str]:
    return {importing.normalise(w): value for value, synonyms in table.items() for w in (value, *synonyms)}


OWNER = Column("owner", "Owner", ("owner slack id", "responsible", "owner id"))
NOTES = Column("notes", "Notes", ("comments", "comment", "remarks"))


def kind(name: str, entity: str, columns: tuple[Column, ...], key: Callable[[Row], tuple],
         describe: Callable[[Row], str], find, create, **extra) -> Kind:
    return importing.register(Kind(name=name, entity=entity, columns=columns, key=key, describe=describe, find=find,
                                   create=create, **extra))


def sheet(title: str, rows) -> None:
    exporting.add_sheet(Sheet(title, rows))

