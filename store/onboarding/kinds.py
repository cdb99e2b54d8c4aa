"""What every area's tracker import kind and export sheets are built from: the Owner and Notes columns, the
owner a row falls to, and the two shapes of export sheet (a table with a program_id, a table below one).

Each area declares its own kind and sheets in `store/<area>/tracker.py` with these; each kind creates its
records through the area's own store services (so their validation, numbering, schedules and audit rows apply
unchanged), and the importer adds the `imported` audit row with the file's SHA-256. The areas' declarations
(store/areas.py) list them; importing this module registers nothing, and it imports no area.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlmodel import Session, SQLModel

from store import programs as program_store
from store.audit import Actor
from store.db import pk
from store.errors import Invalid
from store.onboarding import importing
from store.onboarding.exporting import Sheet, child_table, model_table, of_programs
from store.onboarding.importing import Column, Kind, Row
from store.programs import Program, Role

SLACK_USER = re.compile(r"^<?@?([UW][A-Z0-9]{2,})(?:\|[^>]*)?>?$")


def owner(session: Session, program: Program, value: str | None, actor: Actor) -> str:
    """The Slack user who owns the record: the Owner cell (a Slack ID or mention), else the program's first
    program manager, else the person importing — never the command line, which no DM reaches."""
    if value:
        match = SLACK_USER.match(value.strip())
        if not match:
            raise Invalid(f"Owner {importing.shown(value)!r} is not a Slack user ID such as U012AB3CD")
        return match.group(1)
    managers = program_store.user_ids(session, pk(program), Role.program_manager)
    if managers:
        return managers[0]
    if SLACK_USER.match(actor.user_id):
        return actor.user_id
    raise Invalid(f"Owner is empty and {program.code} has no program manager to own it")


OWNER = Column("owner", "Owner", ("owner slack id", "responsible", "owner id"))
NOTES = Column("notes", "Notes", ("comments", "comment", "remarks"))


def kind(name: str, entity: str, columns: tuple[Column, ...], key: Callable[[Row], tuple],
         describe: Callable[[Row], str], find, create, **extra) -> Kind:
    return Kind(name=name, entity=entity, columns=columns, key=key, describe=describe, find=find, create=create,
                **extra)


def records_sheet(title: str, model: type[SQLModel]) -> Sheet:
    """Every record of a table that has a program_id."""
    return Sheet(title, lambda session, programs: model_table(title, model, of_programs(session, model, programs),
                                                              programs))


def child_sheet(title: str, model: type[SQLModel], parent: type[SQLModel], link: str) -> Sheet:
    """Every record of a table below one that has a program_id (`link` names the parent's id column)."""
    return Sheet(title, lambda session, programs: child_table(title, model, parent, link, session, programs))
