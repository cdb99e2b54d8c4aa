"""Calendar feeds in process: tokens kept only as hashes, the rate limit with time as an input, the route's
answers that need no data, and the answer when the operator has not set CMO_PUBLIC_URL."""

from __future__ import annotations

import io
from datetime import timedelta

from sqlmodel import select

from bot.calendar_route import Limiter, calendar_route
from bot.clock import Clock
from bot.emulator.server import SlackEmulator
from bot.settings import Settings
from bot.slack import web_client
from commands import calendar
from commands.deps import Deps
from commands.router import Router
from store import feeds
from store.db import transaction
from store.feeds import CalendarFeed, CalendarSequence
from tests.conftest import NOW

KEY = "xoxb-unit-key"


def test_token_is_long_random_and_stored_only_as_its_hash(session):
    token = feeds.link(session, user_id="UPM1", program_id=None, key=KEY, now=NOW)
    assert len(token) >= 43  # 256 bits of HMAC output, from 128 random bits
    row = session.exec(select(CalendarFeed)).one()
    assert token not in {row.nonce, row.token_sha256, row.user_id, row.scope}
    assert feeds.link(session, user_id="UPM1", program_id=None, key=KEY, now=NOW) == token
    assert feeds.by_token(session, token) == row
    other = feeds.link(session, user_id="UQA1", program_id=None, key=KEY, now=NOW)
    assert other != token
    fresh = feeds.reset(session, user_id="UPM1", program_id=None, key=KEY, now=NOW)
    assert fresh != token and feeds.by_token(session, token) is None and feeds.by_token(session, fresh)
    assert feeds.by_token(session, other) is not None  # someone else's reset touches no other feed


def test_sequence_grows_only_when_an_events_dates_change(session):
    first = feeds.stamps(session, [("a@x", 1, "20270101/20270102"), ("b@x", 1, "20270105/20270106")], NOW)
    assert first["a@x"].sequence == first["b@x"].sequence == 0
    later = NOW + timedelta(days=3)
    same = feeds.stamps(session, [("a@x", 1, "20270101/20270102"), ("b@x", 1, "20270105/20270106")], later)
    assert same == first  # nothing written: the feed's bytes (and ETag) hold
    moved = feeds.stamps(session, [("a@x", 1, "20270108/20270109"), ("b@x", 1, "20270105/20270106")], later)
    assert moved["a@x"].sequence == 1 and moved["a@x"].stamped_at == later and moved["b@x"] == first["b@x"]
    assert len(session.exec(select(CalendarSequence)).all()) == 2


def test_limiter_refuses_a_flood_and_refills_with_time():
    limiter = Limiter(burst=3, refill_seconds=60, keys=2)
    assert [limiter.allow("t", 0.0) for _ in range(4)] == [True, True, True, False]
    assert not limiter.allow("t", 30.0) and limiter.allow("t", 95.0)
    assert limiter.allow("u", 0.0)  # another token has its own bucket
    limiter.allow("v", 0.0)
    assert len(limiter) == 2  # bounded: the least recently used bucket went


def _get(app, path: str, method: str = "GET") -> tuple[str, dict, bytes]:
    answer: list = []
    chunks = app({"REQUEST_METHOD": method, "PATH_INFO": path, "wsgi.input": io.BytesIO()},
                 lambda status, headers: answer.append((status, dict(headers))))
    return answer[0][0], answer[0][1], b"".join(chunks)


def test_route_answers_unknown_tokens_alike_and_limits_each_token(engine):
    deps = Deps(engine, Settings(slack_bot_token=KEY), Clock(NOW.isoformat()))
    now = [0.0]
    app = calendar_route(deps, Limiter(burst=2, refill_seconds=60), monotonic=lambda: now[0])
    with transaction(engine) as session:
        token = feeds.link(session, user_id="UPM1", program_id=None, key=KEY, now=NOW)
    assert _get(app, f"/calendar/{token}.ics")[0] == "200 OK"
    unknown = _get(app, f"/calendar/{'B' * 43}.ics")
    assert unknown[0] == "404 Not Found" and unknown[2] == _get(app, "/calendar/../../etc/passwd")[2] == b"not found"
    assert _get(app, f"/calendar/{token}.ics", "POST")[0].startswith("405")
    assert _get(app, f"/calendar/{token}.ics")[0] == "200 OK"
    limited = _get(app, f"/calendar/{token}.ics")
    assert limited[0] == "429 Too Many Requests" and "Retry-After" in limited[1]
    now[0] = 61.0
    assert _get(app, f"/calendar/{token}.ics")[0] == "200 OK"


def test_without_public_url_the_answer_names_the_setting_and_issues_nothing(engine):
    said: list[str] = []
    with SlackEmulator() as slack:  # the router learns the caller's printed name after the ack
        slack.add_user("UPM1", "pat", real_name="Pat Manager")
        settings = Settings(slack_bot_token=KEY, slack_api_url=slack.url)
        deps = Deps(engine, settings, Clock(NOW.isoformat()))
        router = Router(deps, [calendar.AREA], status=lambda request: None)
        for text in ("calendar", "calendar reset"):
            router.dispatch({"text": text, "user_id": "UPM1", "channel_id": "CGENERAL"}, web_client(settings),
                            lambda **kw: said.append(kw["text"]), NOW)
    assert len(said) == 2 and all("CMO_PUBLIC_URL" in line for line in said)
    with transaction(engine) as session:
        assert session.exec(select(CalendarFeed)).all() == []
