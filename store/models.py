"""Every table module, imported once, so SQLModel.metadata is complete for Alembic and the tests."""

from sqlmodel import SQLModel

from store import (  # noqa: F401
    agreements,
    audit,
    batch_release,
    batches,
    document_signatures,
    feeds,
    outbox,
    people,
    programs,
    receipts,
    signing,
    stability,
    submissions,
    sweep_marks,
)

metadata = SQLModel.metadata
