"""Alembic, driven from code: `cmo-bot migrate` and the automatic upgrade of SQLite databases."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from store.db import make_engine

MIGRATIONS = Path(__file__).with_name("migrations")


def config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade(url: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Bring the schema up to date (one head: the areas' branches are merged, and a new migration revises the
    newest revision, tests/unit/test_migrations.py).

    Returns the revisions the database was at before and after, so that `cmo-bot migrate` can say what it did.
    """
    before = current(url)
    command.upgrade(config(url), "head")
    return before, current(url)


def current(url: str) -> tuple[str, ...]:
    """The revisions the database is at (empty for a database without the schema)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return tuple(sorted(MigrationContext.configure(connection).get_current_heads()))
    finally:
        engine.dispose()


def latest() -> tuple[str, ...]:
    """The revision of the newest schema this code knows (one: the branches are merged)."""
    return tuple(sorted(ScriptDirectory.from_config(config("sqlite://")).get_heads()))


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for an in-memory database or another backend)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)
