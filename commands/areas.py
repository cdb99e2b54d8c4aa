"""Every area's commands-side parts, declared once, and the one list of areas the app wires.

An area plugs into Slack through one `AreaCommands`: its `/cmo <area>` verbs (the router), the function
that registers its buttons, forms and shortcuts, and the places the "File to program" shortcut may file a
document to (commands/file_to_program.py). bot/app.py reads `AREAS`; the store-side half (due rules,
digest sections, App Home, import kinds, export sheets) is store/areas.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from slack_bolt import App

from commands import calendar, programs, signing
from commands.agreements import commands as agreements
from commands.batches import commands as batches
from commands.file_to_program import Target
from commands.router import Area
from commands.stability import commands as stability
from commands.stability import results as stability_results
from commands.submissions import commands as submissions
from commands.submissions import documents as submission_documents


@dataclass(frozen=True)
class AreaCommands:
    """What one area hands the app: its verbs, its listeners' `register` and its filing targets."""

    commands: Area
    register: Callable[[App], None]
    targets: tuple[Target, ...] = ()


# In the order `/cmo help` lists them and the File to program shortcut offers their targets.
AREAS: tuple[AreaCommands, ...] = (
    AreaCommands(programs.AREA, programs.register),
    AreaCommands(agreements.AREA, agreements.register, (agreements.FILING,)),
    AreaCommands(batches.AREA, batches.register),
    AreaCommands(stability.AREA, stability.register, (stability_results.FILING,)),
    AreaCommands(submissions.AREA, submissions.register, (submission_documents.FILING,)),
    AreaCommands(signing.AREA, signing.register),
    AreaCommands(calendar.AREA, calendar.register),
)

TARGETS: tuple[Target, ...] = tuple(target for area in AREAS for target in area.targets)
