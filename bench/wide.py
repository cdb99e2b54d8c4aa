"""An experiment, not a fix: `cmo-bot serve` with Bolt's listener executor widened from serve's own
`bot.app.LISTENER_THREADS` (48) to 64 threads, and the database pool widened to match (each listener thread may
hold a connection), to show how much of serve's acknowledgement latency under load is acks queued behind
post-ack work (Bolt runs `ack()` and the work after it in the same executor thread).
`python -m bench.wide serve …` takes the arguments of `cmo-bot`.

`create_app` builds its executor itself (`ListenerPool(max_workers=LISTENER_THREADS)`), so widening Bolt's
default would change nothing: the experiment sets serve's own figures before the app is built, and the pool
it builds says its width (`WidePool.width`), which tests/unit/test_bench_wide.py checks."""

from __future__ import annotations

import sys

import bot.app
import store.db
from bot.metrics import ListenerPool

THREADS = 64


class WidePool(ListenerPool):
    """Serve's listener pool, remembering how many threads it was given."""

    def __init__(self, max_workers: int, **kwargs):
        super().__init__(max_workers=max_workers, **kwargs)
        self.width = max_workers


def widen() -> None:
    """Every app and engine built from now on in this process: 64 listener threads, 64 + 8 connections."""
    store.db.CONNECTIONS = THREADS + (store.db.CONNECTIONS - bot.app.LISTENER_THREADS)
    bot.app.LISTENER_THREADS = THREADS
    bot.app.ListenerPool = WidePool  # type: ignore[misc]


if __name__ == "__main__":
    widen()
    from bot.cli import main

    raise SystemExit(main(sys.argv[1:]))
