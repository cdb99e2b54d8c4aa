"""Alembic environment: the URL comes from the caller (store/migrate.py: `cmo-bot migrate`, the automatic
upgrade of SQLite databases, the tests). store/ reads no settings of the bot, so there is no other source."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from store.db import UTCDateTime
from store.models import metadata

config = context.config


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("No database URL: run migrations with `cmo-bot migrate` (or store.migrate.upgrade(url)).")
    return url


def render_item(kind, obj, autogen_context):
    """Render our column types as plain SQLAlchemy ones so migrations do not import app code."""
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if kind == "type" and type(obj).__name__ == "AutoString":
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def run() -> None:
    engine = engine_from_config({"sqlalchemy.url": _url()}, prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            compare_type=True,
            render_item=render_item,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


run()
