"""Alembic, driven from code: `cmo-bot migrate` and the automatic upgrade of SQLite databases."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

MIGRATIONS = Path(__file__).with_name("migrations")


def config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade(url: str) -> None:
    """Bring the schema up to date (every head: each area's migrations may branch from the foundation)."""
    command.upgrade(config(url), "heads")


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"
