"""Delivery against the real emulator over HTTP: exactly once, retries, dead letters, late marks."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import select

from bot.emulator.server import SlackEmulator
from bot.settings import load_settings
from bot.slack import alerter, web_client
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
        assert row.status == Status.sent and row.ts and row.channel and row.sent_at == NINE


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
    [outcome] = deliver(engine, client, NINE)
    assert outcome.result == "retry" and "ratelimited" in outcome.detail
    [row] = _rows(engine)
    assert row.status == Status.pending and row.attempts == 0 and row.next_attempt_at == NINE + timedelta(seconds=400)
    assert deliver(engine, client, NINE + timedelta(seconds=399)) == []
    assert [o.result for o in deliver(engine, client, NINE + timedelta(seconds=400))] == ["sent"]
