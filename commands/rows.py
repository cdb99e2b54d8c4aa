"""The id of a row read from the database.

SQLModel types a table's primary key `int | None`: None only before the row's first flush. A row the store
returned, or created and flushed, has its id; `saved_id` says so, and fails loudly on a row that was never saved
rather than passing None on to a query.
"""

from __future__ import annotations


def saved_id(value: int | None) -> int:
    if value is None:
        raise ValueError("a row that was never saved has no id")
    return value
