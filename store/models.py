"""Every table module, imported once, so SQLModel.metadata is complete for Alembic and the tests."""

from sqlmodel import SQLModel

from store import agreements, audit, batches, feeds, outbox, programs, stability, submissions  # noqa: F401

metadata = SQLModel.metadata
