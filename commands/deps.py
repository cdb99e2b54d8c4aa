"""What every listener needs besides the Slack payload: the database, settings and the clock."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

from bot.clock import Clock
from bot.settings import Settings


@dataclass(frozen=True)
class Deps:
    engine: Engine
    settings: Settings
    clock: Clock

    @property
    def files_dir(self) -> Path:
        return Path(self.settings.cmo_files_dir)

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.settings.cmo_admins
