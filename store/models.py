"""Every table module, imported once, so SQLModel.metadata is complete for Alembic and the tests."""

from sqlmodel import SQLModel

from store import audit, feeds, outbox, people, programs, receipts, signing, sweep_marks, work  # noqa: F401
from store.agreements import service as agreements  # noqa: F401
from store.batches import release as batch_release  # noqa: F401
from store.batches import service as batches  # noqa: F401
from store.stability import service as stability  # noqa: F401
from store.submissions import service as submissions  # noqa: F401
from store.submissions import signatures as document_signatures  # noqa: F401

metadata = SQLModel.metadata
