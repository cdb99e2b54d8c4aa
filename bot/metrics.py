"""`GET /metrics` in the Prometheus text format: what operators of several replicas watch.

- `cmo_requests_total` / `cmo_ack_seconds` by kind (slash_command, block_actions, view_submission …): measured
  around `App.dispatch`, which both transports (HTTP and Socket Mode) call and whose return is the
  acknowledgement Slack waits for (3 seconds at most);
- `cmo_listener_work`: requests whose listener (the ack and the work after it: replies, DMs, modals) is still
  running in this process — in an executor thread (`ListenerPool`), or in the answering thread itself when the
  app processes before it responds (`MeasuredApp`) — what a rolling restart waits to drain, and what the
  end-to-end tests wait for between tests;
- `cmo_outbox_depth` by status and `cmo_work_queued` (requests acknowledged whose work waits for, or is under
  way in, a `cmo-bot work` process: bot/worker.py), read from the database at each scrape (so every replica
  reports the truth);
- `cmo_deliveries_total` by result, `cmo_dead_letters_total`, `cmo_sweep_seconds` (scheduler.jobs) and
  `cmo_storage_errors_total` (store.storage), counted where they happen.

`exposition(engine)` is the whole page: mount it on any HTTP server (serve's, or a health port).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.samples import Sample
from slack_bolt import App, BoltRequest, BoltResponse
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from store import outbox, work
from store.db import transaction

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
# A closed list: an unsigned request is refused inside dispatch, after its body named a kind.
KINDS = frozenset({"slash_command", "block_actions", "view_submission", "view_closed", "shortcut", "message_action",
                   "block_suggestion", "event_callback", "url_verification"})
REQUESTS = Counter("cmo_requests_total", "Requests from Slack, by kind", ["kind"])
ACK_SECONDS = Histogram("cmo_ack_seconds", "Time from a request's arrival at the app to its acknowledgement",
                        ["kind"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10))

LISTENER_WORK = Gauge("cmo_listener_work", "Listener runs under way (the ack and the work after it)")


def kind_of(body: dict) -> str:
    kind = "slash_command" if "command" in body else str(body.get("type") or "")
    return kind if kind in KINDS else "other"


class MeasuredApp(App):
    """The Bolt app, counting each request and timing its acknowledgement by kind (a worker's run of a queued
    request is not one: it was counted when it arrived). An app that processes before it responds
    (`process_before_response`: bot/app.py's acknowledging role) runs each listener inside `dispatch`, in the
    thread that answers: the whole dispatch is then its run in `cmo_listener_work` (else `ListenerPool`
    counts the runs it is given)."""

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        if req.lazy_only:
            return super().dispatch(req)
        kind = kind_of(req.body if isinstance(req.body, dict) else {})
        inline = self.process_before_response
        if inline:
            LISTENER_WORK.inc()
        started = time.perf_counter()
        try:
            return super().dispatch(req)
        finally:
            REQUESTS.labels(kind).inc()
            ACK_SECONDS.labels(kind).observe(time.perf_counter() - started)
            if inline:
                LISTENER_WORK.dec()


class ListenerPool(ThreadPoolExecutor):
    """Bolt's listener threads, their runs under way counted in `cmo_listener_work` (raised before the run is
    queued, so a scrape never reads 0 while acknowledged work waits for a thread)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        LISTENER_WORK.inc()
        try:
            future = super().submit(fn, *args, **kwargs)
        except BaseException:
            LISTENER_WORK.dec()
            raise
        future.add_done_callback(lambda _: LISTENER_WORK.dec())
        return future


class OutboxDepth:
    """A collector that counts the outbox by status, and the queued work, when scraped."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def collect(self):
        gauge = GaugeMetricFamily("cmo_outbox_depth", "Outbox rows by status", labels=["status"])
        try:
            with transaction(self.engine) as session:
                counts = outbox.depth(session)
                queued = work.queued(session)
        except SQLAlchemyError as exc:  # the page still answers; /healthz says the database is away
            log.warning("outbox depth not measured: %s", type(exc).__name__)
            return
        for status, count in counts.items():
            gauge.add_metric([status], count)
        yield gauge
        yield GaugeMetricFamily("cmo_work_queued", "Requests acknowledged whose work is not done yet", value=queued)


class WithWorkers:
    """This process's metrics with the counters of its workers added in (`cmo_storage_errors_total` of a
    document a worker found altered, say). Workers count into files in `path` (prometheus_client's
    multiprocess mode, which `bot.worker.Workers` turns on for them alone); this process reads them at each
    scrape, so a worker's counts survive its restart."""

    def __init__(self, path: str):
        self.workers = MultiProcessCollector(None, path=path)

    def collect(self) -> Iterator[Metric]:
        theirs: dict[str, Metric] = {f.name: f for f in self.workers.collect() if f.type == "counter"}
        for family in REGISTRY.collect():
            other = theirs.pop(family.name, None)
            if other is not None:
                totals: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
                for sample in [*family.samples, *other.samples]:
                    if not sample.name.endswith("_created"):
                        key = (sample.name, tuple(sorted(sample.labels.items())))
                        totals[key] = totals.get(key, 0.0) + sample.value
                family.samples = [Sample(name, dict(labels), value) for (name, labels), value in totals.items()]
            yield family
        yield from theirs.values()


_workers: WithWorkers | None = None


def count_workers_in(path: str) -> None:
    """From now on /metrics includes the counters the workers write in `path`."""
    global _workers
    _workers = WithWorkers(path)


def exposition(engine: Engine) -> bytes:
    per_scrape = CollectorRegistry()
    per_scrape.register(OutboxDepth(engine))
    own = generate_latest(REGISTRY) if _workers is None else generate_latest(_workers)
    return own + generate_latest(per_scrape)
