"""Delivery against Slack's rate limits: 2,000 reminders to 200 channels through the emulator, which runs in
its own process with `apply_published_limits()` (chat.postMessage: one per second per channel, a burst of
POST_MESSAGE_BURST; 429 with Retry-After beyond it).

The theoretical minimum: every channel's bucket starts full, so a channel owed n messages needs
(n - burst) / rate seconds at best, whatever the client does; the slowest channel sets the minimum.
Measured: `scheduler.delivery.deliver(engine, client, now)` with the bot's shared WebClient (as the
scheduler job calls it) from the first claim to the last mark. Checked afterwards: every row `sent`,
every message accepted exactly once by the emulator (by the row id in its metadata), and the 429s.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import requests
from sqlalchemy import func, insert, select

from bench.ack import emulator_base, launch
from bench.sweep import fresh_url
from bot.emulator.server import POST_MESSAGE_BURST
from bot.settings import load_settings
from bot.slack import web_client
from scheduler.delivery import deliver
from store.db import make_engine, transaction
from store.outbox import Outbox, Status
from store.programs import Program

CHANNELS = 200
MESSAGES = 2_000
RATE = 1.0  # chat.postMessage per second per channel (apply_published_limits)
NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)


@dataclass
class DeliveryFigure:
    database: str
    messages: int
    channels: int
    seconds: float
    minimum: float
    limited: int  # 429s the emulator's rate limiter served
    posts: int  # chat.postMessage calls in all
    lost: int
    doubled: int
    outcomes: dict[str, int]
    # Where the time went (seconds from the start of `deliver`): when the last channel got its first post,
    # the slowest channel's span from first to last accepted post, and from the last post to the return.
    last_first_post: float = 0.0
    slowest_span: float = 0.0
    best_given_starts: float = 0.0  # max over channels of first post + the minimum: the floor this run allowed
    tail: float = 0.0

    @property
    def ratio(self) -> float:
        return self.seconds / self.minimum


def theoretical_minimum(per_channel: int, burst: int = POST_MESSAGE_BURST, rate: float = RATE) -> float:
    return max(0, per_channel - burst) / rate


def queue(engine, channels: int, messages: int) -> None:
    """`messages` due reminders, `messages // channels` to each channel, inserted channel after channel (the
    order that would serialise a naive client behind the first channels)."""
    per_channel = messages // channels
    with engine.begin() as connection:
        program_ids = connection.execute(insert(Program).returning(Program.id), [
            {"code": f"D{i:04d}", "customer": f"Customer {i}", "channel_id": f"CD{i:05d}",
             "timezone": "America/New_York", "status_cadence": "weekly", "holiday_calendar": "US", "settings": {},
             "active": True, "created_at": NOW}
            for i in range(channels)]).scalars().all()
        rows = [{"key": f"bench:{c}:{m}", "target": f"CD{c:05d}", "program_id": program_ids[c], "subject": f"bench:{c}",
                 "due_on": date(2026, 11, 2), "not_before": NOW - timedelta(hours=1), "urgent": False,
                 "text": f"Reminder {m + 1} of {per_channel} for channel {c}: the thing is due today.",
                 "buttons": [], "status": Status.pending, "attempts": 0, "late": False, "created_at": NOW}
                for c in range(channels) for m in range(per_channel)]
        connection.execute(insert(Outbox), rows)


def measure(kind: str, postgres_url: str, channels: int = CHANNELS, messages: int = MESSAGES) -> DeliveryFigure:
    emulator = launch([os.environ.get("PYTHON", "python"), "-m", "bot.emulator", "--port", "0",
                       "--published-limits"], dict(os.environ), "http")
    try:
        base = emulator_base(emulator)
        requests.post(f"{base}/_emulator/channels", timeout=30,
                      json=[{"id": f"CD{i:05d}", "name": f"d{i:04d}"} for i in range(channels)])
        with fresh_url(kind, postgres_url, "delivery") as url:
            engine = make_engine(url)
            queue(engine, channels, messages)
            client = web_client(load_settings(slack_bot_token="xoxb-bench-token", slack_api_url=emulator.url))
            wall, started = time.time(), time.perf_counter()
            outcomes = deliver(engine, client, NOW)
            seconds = time.perf_counter() - started
            with transaction(engine) as session:
                statuses = dict(session.exec(select(Outbox.status, func.count()).group_by(Outbox.status)).all())
            engine.dispose()
        calls = requests.get(f"{base}/_emulator/calls", params={"method": "chat.postMessage"}, timeout=120).json()
        calls = calls["calls"]
    finally:
        emulator.stop()
    accepted = Counter(c["args"]["metadata"]["event_payload"]["id"] for c in calls if c["status"] == 200
                       and (c.get("response") or {}).get("ok"))
    lost = messages - len(accepted) + (messages - statuses.get(Status.sent, 0))
    minimum = theoretical_minimum(messages // channels)
    posted: dict[str, list[float]] = {}
    for call in calls:
        if call["status"] == 200:
            posted.setdefault(call["args"]["channel"], []).append(call["ts_received"] - wall)
    firsts = {channel: min(times) for channel, times in posted.items()}
    timeline = {
        "last_first_post": max(firsts.values(), default=0.0),
        "slowest_span": max((max(times) - min(times) for times in posted.values()), default=0.0),
        "best_given_starts": max(firsts.values(), default=0.0) + minimum,
        "tail": seconds - max((max(times) for times in posted.values()), default=0.0),
    }
    return DeliveryFigure(**timeline,
        database=kind, messages=messages, channels=channels, seconds=seconds,
        minimum=minimum, limited=sum(1 for c in calls if c["status"] == 429),
        posts=len(calls), lost=lost, doubled=sum(1 for n in accepted.values() if n > 1),
        outcomes=dict(Counter(o.result for o in outcomes)),
    )


def run(postgres_url: str, databases=("sqlite", "postgresql"), log=print) -> list[DeliveryFigure]:
    figures = []
    for kind in databases:
        log(f"delivery: {kind}, {MESSAGES} reminders to {CHANNELS} channels …")
        figure = measure(kind, postgres_url)
        log(f"  {figure.seconds:.2f} s (minimum {figure.minimum:.2f} s, {figure.ratio:.2f}x), {figure.limited} 429s, "
            f"{figure.lost} lost, {figure.doubled} doubled")
        figures.append(figure)
    return figures
