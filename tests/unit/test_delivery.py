"""Delivery against the real emulator over HTTP: exactly once, retries, dead letters, late marks."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta

import pytest
from sqlmodel import select

from bot.emulator.server import SlackEmulator
from bot.settings import load_settings
from bot.slack import alerter, web_client
from scheduler import delivery
from scheduler.delivery import LEASE, claim, deliver
from scheduler.sweep import sweep
from store import outbox
from store.db import transaction
from store.outbox import Due, Outbox, Status
from tests import factories
from tests.conftest import NOW

NINE = NOW.replace(hour=14)  # 09:00 in New York on Mon 2 Nov 2026


@pytest.fixture
def slack():
    with SlackEmulator() as emulator:
        emulator.add_user("UPM1", "pat")
        emulator.add_channel("CACME001", "acme-001")
        emulator.add_channel("CALERTS", "cmo-alerts")
        yield emulator


@pytest.fixture
def client(slack):
    settings = load_settings(slack_bot_token="xoxb-test", slack_api_url=slack.url, cmo_alerts_channel="CALERTS")
    client = web_client(settings)
    client.alert = alerter(client, settings)  # type: ignore[attr-defined]
    return client


def _queue(engine, due_on=date(2026, 11, 2), users=("UPM1",), key="thing:1:reminder"):
    with transaction(engine) as session:
        program = factories.program(session, NOW)
        rule = lambda s, now: [Due(key=key, program_id=program.id, subject="thing:1", due_on=due_on,  # noqa: E731
                                   text="Remember <the thing>", to_users=users)]
        sweep(session, NOW, [rule])
        return program


def _rows(engine) -> list[Outbox]:
    with transaction(engine) as session:
        return list(session.exec(select(Outbox).order_by(Outbox.target)))


def test_each_row_sent_once_with_channel_and_ts(engine, slack, client):
    _queue(engine)
    first = deliver(engine, client, NINE)
    second = deliver(engine, client, NINE + timedelta(minutes=5))
    assert sorted(o.result for o in first) == ["sent", "sent"] and second == []
    posts = slack.calls("chat.postMessage")
    assert sorted(c.args["channel"] for c in posts) == ["CACME001", "UPM1"]
    for row in _rows(engine):
        assert row.status == Status.sent and row.ts and row.channel
        assert NINE <= row.sent_at < NINE + timedelta(minutes=1)  # the pass's now, advanced by its own duration


def test_not_before_nine_local(engine, slack, client):
    _queue(engine)  # America/New_York: 09:00 local on 2 Nov 2026 is 14:00 UTC
    early = NOW.replace(hour=13, minute=59)
    assert deliver(engine, client, early) == []
    assert len(deliver(engine, client, early + timedelta(minutes=1))) == 2


def test_rate_limit_then_server_errors_arrive_once(engine, slack, client):
    _queue(engine, users=())
    slack.inject("chat.postMessage", {"status": 429, "retry_after": 1}, {"status": 500}, {"status": 500})
    # The client retries inline (Retry-After, then backoff); what is still failing goes back to the outbox.
    assert [o.result for o in deliver(engine, client, NINE)] == ["retry"]
    assert [o.result for o in deliver(engine, client, NINE + timedelta(minutes=1))] == ["sent"]
    assert deliver(engine, client, NINE + timedelta(minutes=10)) == []
    delivered = [c for c in slack.calls("chat.postMessage") if c.response.get("ok")]
    assert len(delivered) == 1 and len(slack.calls("chat.postMessage")) == 4
    assert [f["fault"].get("status") for f in slack.faults_served()] == [429, 500, 500]


def test_persistent_server_errors_retry_later_then_deliver(engine, slack, client):
    _queue(engine, users=())
    slack.inject("chat.postMessage", *[{"status": 503}] * 3)
    assert [o.result for o in deliver(engine, client, NINE)] == ["retry"]
    assert deliver(engine, client, NINE + timedelta(seconds=5)) == []  # backing off
    assert [o.result for o in deliver(engine, client, NINE + timedelta(minutes=2))] == ["sent"]


def test_permanent_error_dead_letters_and_alerts(engine, slack, client):
    _queue(engine, users=())
    slack.inject("chat.postMessage", {"error": "channel_not_found"})
    outcomes = deliver(engine, client, NINE, alert=client.alert)
    assert [(o.result, o.detail) for o in outcomes] == [("dead", "channel_not_found")]
    alert = slack.calls("chat.postMessage")[-1]
    assert alert.args["channel"] == "CALERTS" and "thing:1:reminder" in alert.args["text"]
    assert _rows(engine)[0].status == Status.dead
    assert deliver(engine, client, NINE + timedelta(days=1)) == []


def test_late_reminder_is_marked(engine, slack, client):
    _queue(engine, due_on=date(2026, 10, 30), users=())
    [outcome] = deliver(engine, client, NINE)
    assert outcome.late
    text = slack.calls("chat.postMessage")[0].args["text"]
    assert "Late: this was due on Fri 30 Oct 2026" in text and "&lt;the thing&gt;" not in text


def test_cancelled_by_event_is_never_sent(engine, slack, client):
    _queue(engine)
    with transaction(engine) as session:
        assert outbox.cancel(session, subject="thing:1") == 2
    assert deliver(engine, client, NINE) == []
    assert slack.calls("chat.postMessage") == []


def test_claims_do_not_overlap(engine, slack, client):
    _queue(engine)
    first = claim(engine, NINE, limit=1)
    second = claim(engine, NINE, limit=5)
    assert len(first) == 1 and len(second) == 1 and first[0][0].id != second[0][0].id
    assert claim(engine, NINE) == []  # both leased
    assert len(claim(engine, NINE + LEASE + timedelta(seconds=1))) == 2  # abandoned → claimable again


def test_row_abandoned_after_posting_is_recovered_not_posted_twice(engine, slack, client):
    _queue(engine, users=("UPM1",))
    claimed = claim(engine, NINE)
    for row, _ in claimed:  # the process posts, then dies before it can mark the rows sent
        client.chat_postMessage(channel=row.target, text=row.text,
                                metadata={"event_type": "cmo_outbox", "event_payload": {"id": row.id}})
    outcomes = deliver(engine, client, NINE + LEASE + timedelta(seconds=1))
    assert sorted(o.result for o in outcomes) == ["recovered", "recovered"]
    assert len(slack.calls("chat.postMessage")) == 2
    assert {r.status for r in _rows(engine)} == {Status.sent}
    assert all(r.ts for r in _rows(engine))


def test_a_rate_limited_channel_does_not_hold_up_the_others(engine, slack, client):
    people = [f"UP{i}" for i in range(6)]
    for person in people:
        slack.add_user(person, person.lower())
    with transaction(engine) as session:
        program = factories.program(session, NOW)
        dues = [Due(key=f"thing:{i}:reminder", program_id=program.id, subject=f"thing:{i}", due_on=date(2026, 11, 2),
                    text=f"Reminder {i}") for i in range(4)]
        dues.append(Due(key="thing:dm:reminder", program_id=program.id, subject="thing:dm", due_on=date(2026, 11, 2),
                        text="To each", to_channel=False, to_users=tuple(people)))
        sweep(session, NOW, [lambda s, now: dues])
    slack.set_rate_limit("chat.postMessage", 1.0, burst=1, per_channel=True)
    outcomes = deliver(engine, client, NINE)
    assert sorted(o.result for o in outcomes) == ["sent"] * 10, "\n".join(o.line() for o in outcomes)
    posts = [c for c in slack.calls("chat.postMessage") if c.response.get("ok")]
    channel = [c for c in posts if c.args["channel"] == "CACME001"]
    assert [c.args["text"] for c in channel] == [f"Reminder {i}" for i in range(4)]  # in order, once each
    assert sorted(c.args["channel"] for c in posts if c.args["channel"] != "CACME001") == people
    # The DMs did not queue behind the channel: all of them arrived before its second message.
    assert max(c.ts_received for c in posts if c.args["channel"] != "CACME001") < channel[1].ts_received
    assert slack.rate_limited_count("chat.postMessage") >= 1
    assert {r.attempts for r in _rows(engine)} == {1}  # a 429 is not a failed attempt


def test_a_long_retry_after_goes_back_to_the_outbox_without_counting(engine, slack, client):
    _queue(engine, users=())
    slack.inject("chat.postMessage", {"status": 429, "retry_after": 400})  # longer than the lease lets us hold it
    [outcome] = deliver(engine, client, NINE, elapsed=lambda: 0.0)  # a pass that takes no time
    assert outcome.result == "retry" and "ratelimited" in outcome.detail
    [row] = _rows(engine)
    assert row.status == Status.pending and row.attempts == 0 and row.next_attempt_at == NINE + timedelta(seconds=400)
    assert deliver(engine, client, NINE + timedelta(seconds=399)) == []
    assert [o.result for o in deliver(engine, client, NINE + timedelta(seconds=400))] == ["sent"]


class _SlowSlack:
    """Stands in for Slack where each post takes `minutes` (on a clock the run is given, not a sleep), and
    checks that the row being posted is still leased to this run: never abandoned while in flight."""

    def __init__(self, engine, minutes: float = 1.0, hold: threading.Event | None = None):
        self.engine, self.minutes, self.hold = engine, minutes, hold
        self.seconds = 0.0
        self.posted: list[int] = []
        self.abandoned: list[tuple[int, datetime, datetime]] = []
        self.started = threading.Event()

    def elapsed(self) -> float:
        return self.seconds

    def chat_postMessage(self, **kwargs):
        self.started.set()
        if self.hold is not None:
            self.hold.wait(timeout=30)
        self.seconds += 60 * self.minutes
        row_id = kwargs["metadata"]["event_payload"]["id"]
        with transaction(self.engine) as session:
            lease = session.get(Outbox, row_id).lease_until
        if lease <= NINE + timedelta(seconds=self.seconds):
            self.abandoned.append((row_id, lease, NINE + timedelta(seconds=self.seconds)))
        self.posted.append(row_id)
        return {"channel": kwargs["channel"], "ts": f"{len(self.posted)}.000"}


def _queue_many(engine, count: int) -> None:
    with transaction(engine) as session:
        program = factories.program(session, NOW)
        rule = lambda s, now: [Due(key=f"thing:{i}:reminder", program_id=program.id, subject=f"thing:{i}",  # noqa: E731
                                   due_on=date(2026, 11, 2), text=f"Remember {i}", to_channel=False,
                                   to_users=("UPM1",)) for i in range(count)]
        sweep(session, NOW, [rule])


def test_a_run_longer_than_the_lease_stamps_leases_and_sent_at_as_it_goes(engine, monkeypatch):
    monkeypatch.setattr(delivery, "FLUSH_SECONDS", 0.0)  # this test's minutes pass in milliseconds: mark at once
    _queue_many(engine, 12)  # one person owed 12 messages, a minute each: a 12-minute run
    slack = _SlowSlack(engine)
    outcomes = deliver(engine, slack, NINE, elapsed=slack.elapsed)
    assert [o.result for o in outcomes] == ["sent"] * 12
    assert slack.abandoned == [] and sorted(slack.posted) == sorted(set(slack.posted))
    sent_at = [r.sent_at for r in sorted(_rows(engine), key=lambda r: r.id)]
    assert sent_at[0] == NINE + timedelta(minutes=1) and sent_at[-1] == NINE + timedelta(minutes=12)


def test_no_two_passes_deliver_at_once_in_one_process(engine):
    _queue_many(engine, 6)
    hold = threading.Event()
    slack = _SlowSlack(engine, minutes=0, hold=hold)
    first: list[object] = []
    running = threading.Thread(target=lambda: first.extend(deliver(engine, slack, NINE)))
    running.start()
    assert slack.started.wait(timeout=30)  # the first pass is posting (held in its first post)
    second = deliver(engine, slack, NINE)  # the delivery job beside the sweep's pass
    hold.set()
    running.join(timeout=60)
    assert second == []
    assert len(first) == 6 and sorted(slack.posted) == sorted(set(slack.posted)) and len(slack.posted) == 6
