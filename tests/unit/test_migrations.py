"""The migrations and the models agree: the schema Alembic builds is the one the SQLModel tables describe
(on SQLite, and on PostgreSQL when CMO_TEST_DATABASE_URL names one), and the migrations have one head, so a
new migration has one parent and `cmo-bot migrate` upgrades to one revision."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from store.db import make_engine
from store.migrate import config, current, latest
from store.models import metadata


def test_the_migrated_schema_is_the_models_schema(db_url):
    engine = make_engine(db_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})  # as env.py compares
            differences = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert differences == [], "a migration is missing for: " + "; ".join(map(str, differences))


def test_the_migrations_have_one_head(db_url):
    heads = ScriptDirectory.from_config(config("sqlite://")).get_heads()
    assert len(heads) == 1, f"several heads {sorted(heads)}: merge them, and revise the newest in a new migration"
    assert current(db_url) == latest() == tuple(heads)
