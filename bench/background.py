"""The scheduler's heavy work, running beside `serve` while its acknowledgements are measured (bench/ack.py):
full sweeps of serve's own database, one after the other, and deliveries of 2,000 reminders against the rate
limits (bench/delivery.py, on a SQLite file of their own with their own emulator), one after the other.

    python -m bench.background DATABASE_URL    # until SIGTERM; prints one line per pass

Its own process, as the scheduler of another replica would be: what it costs serve is the database's and the
two cores' share, not serve's interpreter.
"""

from __future__ import annotations

import signal
import sys
import threading

from bench import delivery
from bench.sweep import one_sweep
from store.db import make_engine


def sweeping(url: str, stop: threading.Event) -> None:
    engine = make_engine(url)
    passes = 0
    while not stop.is_set():
        seconds, _, queued = one_sweep(engine)  # every rule, in full (no reuse of the last pass)
        passes += 1
        print(f"background: sweep {passes} took {seconds:.1f} s, {queued:,} queued", flush=True)
    engine.dispose()


def delivering(stop: threading.Event) -> None:
    runs = 0
    while not stop.is_set():
        figure = delivery.measure("sqlite", "")
        runs += 1
        print(f"background: delivery {runs} of {figure.messages:,} took {figure.seconds:.1f} s", flush=True)


def main(argv: list[str]) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threads = [threading.Thread(target=sweeping, args=(argv[0], stop), name="sweep"),
               threading.Thread(target=delivering, args=(stop,), name="delivery")]
    for thread in threads:
        thread.start()
    print("background running", flush=True)
    stop.wait()
    for thread in threads:  # each finishes its pass (a delivery stops its own emulator)
        thread.join()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
