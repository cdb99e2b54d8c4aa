"""The benchmark's floors: the bare app answers with an empty ack and keeps nothing; the durable floor keeps each
request's body, committed, before it answers — what it claims to measure (target 5 of issue #17). (Both check
signatures as serve does, in the request gate in front of Bolt: tests/unit/test_gate.py.)"""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest
from slack_bolt import BoltRequest
from sqlalchemy import func, select

from bench.floor import REQUESTS, durable, floor_app
from bot.emulator.client import sign_request
from bot.emulator.server import SlackEmulator

SECRET = "floor-test-signing-secret"
COMMAND = urlencode({"command": "/cmo", "text": "program status", "user_id": "UPM", "channel_id": "C1",
                     "team_id": "T1", "trigger_id": "1.2.3", "response_url": "http://127.0.0.1:9/respond"})


def signed(body: str) -> BoltRequest:
    stamp = int(time.time())  # Bolt refuses a signature more than five minutes from its own clock
    return BoltRequest(body=body, headers={"content-type": "application/x-www-form-urlencoded",
                                           "x-slack-request-timestamp": str(stamp),
                                           "x-slack-signature": sign_request(SECRET, stamp, body)})


@pytest.fixture(scope="module")
def api():
    """The emulator, which answers Bolt's `auth.test` before the first request (as Slack would)."""
    emulator = SlackEmulator().start()
    yield emulator.url
    emulator.stop()


@pytest.fixture
def kept(db_url: str):
    engine = durable(db_url)
    yield engine
    REQUESTS.drop(engine)
    engine.dispose()


def rows(engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(select(REQUESTS.c.body).order_by(REQUESTS.c.id)).scalars())


def test_the_durable_floor_keeps_the_request_before_it_answers(api, kept):
    app = floor_app(SECRET, "xoxb-floor", api, kept)
    response = app.dispatch(signed(COMMAND))
    assert (response.status, response.body) == (200, "")
    assert rows(kept) == [COMMAND]


def test_the_bare_floor_answers_and_keeps_nothing(api, kept):
    bare = floor_app(SECRET, "xoxb-floor", api)
    response = bare.dispatch(signed(COMMAND))
    assert (response.status, response.body) == (200, "")
    with kept.connect() as connection:
        assert connection.execute(select(func.count()).select_from(REQUESTS)).scalar_one() == 0
