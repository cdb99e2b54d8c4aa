"""What every listener needs besides the Slack payload: the database, settings, the clock and the document store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.clock import Clock
from bot.settings import Settings
from store.storage import Store


@dataclass(frozen=True)
class Deps:
    engine: Engine
    settings: Settings
    clock: Clock
    # Where a form's work after its acknowledgement goes (commands/after.py): None, done in this process; else
    # `hand_over(name, body, received_at, session)` writes it to the work table for a worker (in `session`'s
    # transaction, or committed by itself when None) and says True, or says False when this process does it
    # itself (a worker, outside a request of the forms queue: bot/worker.py).
    hand_over: Callable[[str, str, datetime, Session | None], bool] | None = None

    @cached_property
    def files(self) -> Store:
        """The document store of CMO_FILES_URL (one client per process, made on first use)."""
        return self.settings.document_store()

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.settings.cmo_admins
