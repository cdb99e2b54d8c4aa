"""An experiment, not a fix: `cmo-bot serve` with Bolt's listener executor widened from its default 5 threads
to 64, to show how much of serve's acknowledgement latency under load is acks queued behind post-ack work
(Bolt runs `ack()` and the work after it in the same executor thread). `python -m bench.wide serve …`
takes the arguments of `cmo-bot`."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

import slack_bolt

THREADS = 64


def widen() -> None:
    original = slack_bolt.App.__init__

    def init(self, *args, **kwargs):
        kwargs.setdefault("listener_executor", ThreadPoolExecutor(max_workers=THREADS))
        original(self, *args, **kwargs)

    slack_bolt.App.__init__ = init  # type: ignore[method-assign]


if __name__ == "__main__":
    widen()
    from bot.cli import main

    raise SystemExit(main(sys.argv[1:]))
