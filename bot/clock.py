"""The one place that reads the wall clock.

Domain code takes `now` as an argument; the app asks a `Clock` for it. Leases between processes (a worker's
claim on a request, bot/worker.py) take `real_now()`: they expire by the machine's time, whatever instant the
app's clock is pinned to. `CMO_NOW` pins the clock to an
instant (or to the instant written in a file, `@/path`, re-read on every call) so that tests and the demo
can move time without sleeping.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path


def parse_instant(text: str) -> datetime:
    """An ISO-8601 instant; a naive one is taken as UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Clock:
    def __init__(self, pinned: str | None = None):
        self._pinned = pinned

    def now(self) -> datetime:
        if not self._pinned:
            return datetime.now(UTC)
        if self._pinned.startswith("@"):
            return parse_instant(Path(self._pinned[1:]).read_text())
        return parse_instant(self._pinned)


def real_now() -> datetime:
    """The machine's time, never pinned: for what must expire in real time between processes."""
    return datetime.now(UTC)
