"""One scheduler pass (sweep, then delivery) and the APScheduler jobs that run it inside serve/socket.

APScheduler is only the clock: fixed job ids, coalesce, one instance at a time. Several replicas may run
the same jobs; the outbox's unique keys and row claims keep every message single.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client import Counter, Histogram
from slack_sdk import WebClient
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from bot.clock import Clock
from scheduler.delivery import Outcome, deliver
from scheduler.sweep import sweep
from store import receipts
from store.db import refresh_statistics, transaction

log = logging.getLogger("cmo_bot.scheduler")

SWEEP_MINUTES = 5
DELIVERY_SECONDS = 30
STATISTICS_EVERY = timedelta(hours=1)  # the planner's statistics (SQLite): cheap, and a portfolio grows slowly

DELIVERIES = Counter("cmo_deliveries_total", "Outbox messages handled by delivery, by result", ["result"])
DEAD_LETTERS = Counter("cmo_dead_letters_total", "Outbox messages given up on (an operator was alerted)")
SWEEP_SECONDS = Histogram("cmo_sweep_seconds", "Duration of one sweep (every area's due rules into the outbox)",
                          buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))


@dataclass
class PassReport:
    inserted: int = 0
    cancelled: int = 0
    outcomes: list[Outcome] = field(default_factory=list)


def run_pass(engine: Engine, client: WebClient, now: datetime, alert: Callable[[str], None] | None = None
             ) -> PassReport:
    with SWEEP_SECONDS.time(), transaction(engine) as session:
        swept = sweep(session, now, reuse=True)
        receipts.prune(session, now)
    report = PassReport(inserted=len(swept.inserted), cancelled=swept.cancelled)
    report.outcomes = delivered(engine, client, now, alert)
    return report


def delivered(engine: Engine, client: WebClient, now: datetime, alert: Callable[[str], None] | None = None
              ) -> list[Outcome]:
    """One delivery run, counted for /metrics."""
    outcomes = deliver(engine, client, now, alert)
    for outcome in outcomes:
        DELIVERIES.labels(outcome.result).inc()
    DEAD_LETTERS.inc(sum(o.result == "dead" for o in outcomes))
    return outcomes


def start(engine: Engine, client: WebClient, now: Callable[[], datetime], alert: Callable[[str], None],
          upkeep: Callable[[datetime], object] | None = None) -> BackgroundScheduler:
    """The jobs of `planned`, running."""
    scheduler = planned(engine, client, now, alert, upkeep)
    scheduler.start()
    return scheduler


def planned(engine: Engine, client: WebClient, now: Callable[[], datetime], alert: Callable[[str], None],
            upkeep: Callable[[datetime], object] | None = None) -> BackgroundScheduler:
    """Sweep every few minutes (delivery right after), and deliver retries and urgent rows in between;
    `upkeep` (classifying members, audit checkpoints) runs at the sweep's pace, and the database's planner
    statistics are refreshed at start and hourly (`refresh_statistics`: SQLite only). Not started yet."""

    def guarded(name: str, job: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            try:
                job()
            except OperationalError as exc:  # the database is away: the next run picks everything up
                log.warning("%s skipped, database unavailable: %s", name, exc.orig)
            except Exception as exc:
                log.exception("%s failed", name)
                alert(f"The scheduler's {name} failed: {type(exc).__name__}. It will run again shortly.")

        return run

    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1,
                                                                  "misfire_grace_time": 60})
    scheduler.add_job(guarded("sweep", lambda: run_pass(engine, client, now(), alert)), "interval",
                      minutes=SWEEP_MINUTES, id="sweep", next_run_time=Clock().now())  # at once, by APScheduler's
    # own (real) clock: a pinned CMO_NOW in the past would make it a misfire, skipped
    scheduler.add_job(guarded("delivery", lambda: delivered(engine, client, now(), alert)), "interval",
                      seconds=DELIVERY_SECONDS, id="delivery")
    scheduler.add_job(guarded("statistics", lambda: refresh_statistics(engine)), "interval",
                      seconds=int(STATISTICS_EVERY.total_seconds()), id="statistics", next_run_time=Clock().now())
    if upkeep is not None:
        scheduler.add_job(guarded("upkeep", lambda: upkeep(now())), "interval", minutes=SWEEP_MINUTES,
                          id="upkeep", next_run_time=now())
    return scheduler
