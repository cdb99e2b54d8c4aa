"""What the scheduler counts for /metrics: deliveries by result, dead letters and the sweep's duration."""

from __future__ import annotations

import threading
from collections import Counter

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import ListenerPool, exposition, kind_of
from scheduler.jobs import delivered, run_pass
from tests.unit.test_delivery import NINE, _queue, client, slack  # noqa: F401  (fixtures)


def _samples(engine) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(exposition(engine).decode()) for s in family.samples}


def test_a_pass_counts_deliveries_dead_letters_and_the_sweep(engine, slack, client):  # noqa: F811
    _queue(engine)
    before = _samples(engine)
    results = Counter(o.result for o in delivered(engine, client, NINE))  # the two queued reminders
    slack.inject("chat.postMessage", {"error": "channel_not_found"})
    results.update(o.result for o in run_pass(engine, client, NINE.replace(minute=1), client.alert).outcomes)
    assert results == {"sent": 2, "dead": 1}  # the sweep queued the program's digest: its post was refused
    after = _samples(engine)

    def grew(name: str, labels: tuple = ()) -> float:
        return after[(name, labels)] - before.get((name, labels), 0)

    assert grew("cmo_deliveries_total", (("result", "sent"),)) == 2
    assert grew("cmo_deliveries_total", (("result", "dead"),)) == 1 == grew("cmo_dead_letters_total")
    assert grew("cmo_sweep_seconds_count") == 1
    assert after[("cmo_outbox_depth", (("status", "dead"),))] == 1
    assert after[("cmo_outbox_depth", (("status", "sent"),))] == 2


def test_request_kinds_are_a_closed_list():
    assert kind_of({"command": "/cmo", "type": "anything"}) == "slash_command"
    assert kind_of({"type": "view_submission"}) == "view_submission"
    assert kind_of({"type": "made-up-by-a-stranger"}) == kind_of({}) == "other"


def work() -> float:
    return REGISTRY.get_sample_value("cmo_listener_work")


def test_listener_work_counts_runs_until_they_finish_queued_ones_included():
    release = threading.Event()
    pool = ListenerPool(max_workers=1)
    base = work()  # the gauge is process-wide: read relative to its start
    futures = [pool.submit(release.wait, 5) for _ in range(2)]  # one runs, one waits for the only thread
    assert work() - base == 2
    release.set()
    for future in futures:
        future.result(timeout=5)
    pool.shutdown(wait=True)
    assert work() - base == 0
