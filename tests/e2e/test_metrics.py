"""`GET /metrics` scraped from the real `cmo-bot serve`: requests and acknowledgements by kind, the outbox by
status (read from the database), storage errors."""

from __future__ import annotations

from datetime import date

import requests
from prometheus_client.parser import text_string_to_metric_families

from scheduler.sweep import sweep
from store.db import transaction
from store.filing import file_document
from store.outbox import Due
from store.submissions import service as subs
from tests.conftest import NOW
from tests.e2e.harness import BotProcess
from tests.e2e.test_submissions import CHANNEL, PM, _program, _submission
from tests.s3_server import overwrite


def scrape(bot, process: BotProcess | None = None) -> dict[tuple[str, tuple], float]:
    page = requests.get((process or bot.process).health_url.replace("/healthz", "/metrics"), timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/plain; version=")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(page.text) for s in family.samples}


def deployment_total(bot, metric: tuple[str, tuple]) -> float:
    """`metric` summed over every process of the bot's deployment (its serve and, when started, its socket
    process: they share the work queue, so either one's workers may do the work), as a dashboard sums
    replicas."""
    queue = bot.env["CMO_WORK_QUEUE"]
    return sum(scrape(bot, p).get(metric, 0) for p in BotProcess.running if p.env["CMO_WORK_QUEUE"] == queue)


def test_metrics_count_requests_acks_outbox_and_storage_errors(bot, engine):
    program_id = _program(bot, engine)
    before = scrape(bot)
    altered = ("cmo_storage_errors_total", (("operation", "altered"),))
    altered_before = deployment_total(bot, altered)
    assert before[("cmo_outbox_depth", (("status", "pending"),))] == 0

    bot.ask("help", user="UPM1", channel=CHANNEL)
    with transaction(engine) as session:
        due = Due(key="thing:1:reminder", program_id=program_id, subject="thing:1", due_on=date(2026, 11, 9),
                  text="Remember", to_users=("UPM1",))
        sweep(session, NOW, [lambda s, now: [due]])
    submission_id = _submission(engine)
    with transaction(engine) as session:
        entry = subs.item(session, session.get(subs.Submission, submission_id), 1)
        filed = file_document(bot.files, "ACME-001", "submissions", str(submission_id), name="smf.pdf", content=b"SMF")
        subs.attach(session, entry=entry, filed=filed, name="smf.pdf", actor=PM, now=NOW)
    overwrite(bot.files, filed.path, b"edited")
    assert "is not the file that was filed" in bot.ask("submission package SUB-001 --draft", channel=CHANNEL)

    after = scrape(bot)
    command = (("kind", "slash_command"),)
    assert after[("cmo_requests_total", command)] - before.get(("cmo_requests_total", command), 0) == 2
    assert after[("cmo_ack_seconds_count", command)] - before.get(("cmo_ack_seconds_count", command), 0) == 2
    assert after[("cmo_ack_seconds_bucket", (*command, ("le", "3.0")))] >= 2  # acknowledged within Slack's 3 s
    assert after[("cmo_outbox_depth", (("status", "pending"),))] == 2  # the program channel and UPM1
    assert after[("cmo_outbox_depth", (("status", "dead"),))] == 0
    assert deployment_total(bot, altered) - altered_before == 1  # counted by the worker that packaged it
