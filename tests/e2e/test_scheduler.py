"""The scheduler end to end: `cmo-bot tick --now …` processes against the emulator.

A year of weekly digests (each once, a late one marked, a superseded one never), replicas racing over
500 due messages, and delivery processes killed at random points.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from store.db import transaction
from store.outbox import Outbox, Status
from tests import factories
from tests.e2e.harness import cmo_bot

MONDAY = datetime(2026, 11, 2, 14, 30, tzinfo=UTC)  # 09:30 in New York


def _programs(engine, count: int) -> list[str]:
    channels = []
    with transaction(engine) as session:
        for i in range(count):
            code = f"P-{i:04d}"
            factories.program(session, MONDAY, code, channel=f"CP{i:04d}", members={})
            channels.append(f"CP{i:04d}")
    return channels


def _digests(bot) -> Counter:
    return Counter((c.args["channel"], c.args["text"].splitlines()[0]) for c in bot.posts()
                   if "status —" in c.args.get("text", ""))


def test_a_year_of_digests_each_once_late_marked_superseded_never(bot, engine):
    [channel] = _programs(engine, 1)
    bot.slack.add_channel(channel, "p-0000")
    week = timedelta(weeks=1)
    bot.tick(MONDAY, "--until", (MONDAY + 19 * week).isoformat(), "--every", "7d")  # weeks 0–19, one process
    assert bot.tick(MONDAY + 5 * week + timedelta(minutes=5)) == []  # a second tick the same morning: nothing
    assert bot.tick(MONDAY + 20 * week - timedelta(hours=2, minutes=30)) == []  # week 20 queued at 07:00 local …
    bot.tick(MONDAY + 22 * week + timedelta(days=2))  # … then the bot is down until the Wednesday of week 22
    bot.tick(MONDAY + 23 * week, "--until", (MONDAY + 51 * week).isoformat(), "--every", "7d")
    digests = _digests(bot)
    assert all(count == 1 for count in digests.values()), digests
    assert len(digests) == 50  # 52 weeks less the two of the outage
    late = [c for c in bot.posts(channel) if "Late:" in c.args["text"]]
    assert len(late) == 1 and "Mon 5 Apr 2027" in late[0].args["text"]
    with transaction(engine) as session:
        rows = session.exec(select(Outbox)).all()
        assert Counter(r.status for r in rows) == {Status.sent: 50, Status.cancelled: 1}
        cancelled = next(r for r in rows if r.status == Status.cancelled)
        assert cancelled.key.endswith("digest:2027-03-22")  # week 20's, superseded before anyone saw it


def test_dry_run_changes_nothing(bot, engine):
    [channel] = _programs(engine, 1)
    lines = bot.tick(MONDAY, "--dry-run")
    assert lines == [f"would send program:{_program_id(engine)}:digest:2026-11-02 → {channel} (due 2026-11-02)"]
    assert bot.posts() == []
    with transaction(engine) as session:
        assert session.exec(select(Outbox)).all() == []


def _program_id(engine) -> int:
    with transaction(engine) as session:
        return session.exec(select(factories.Program.id)).one()


def test_replicas_race_and_send_each_once(bot, engine):
    channels = _programs(engine, 500)
    for channel in channels:
        bot.slack.add_channel(channel, channel.lower())
    racers = [subprocess.Popen([*cmo_bot(), "tick", "--now", MONDAY.isoformat()], env=bot.env,
                               cwd=bot.env["CMO_WORKDIR"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for _ in range(3)]
    outputs = [r.communicate(timeout=300) for r in racers]
    assert all(r.returncode == 0 for r in racers), outputs
    sent_by = [sum(line.startswith("sent") for line in out.splitlines()) for out, _ in outputs]
    per_channel = Counter(c.args["channel"] for c in bot.posts() if c.args["channel"] != "CALERTS")
    assert sum(sent_by) == 500 and set(per_channel) == set(channels) and set(per_channel.values()) == {1}
    print(f"\nreplica race: 3 tick processes sent {sent_by} of 500 digests; each arrived exactly once")


def test_delivery_killed_at_random_points(bot, engine):
    channels = _programs(engine, 120)
    for channel in channels:
        bot.slack.add_channel(channel, channel.lower())
    bot.slack.inject("chat.postMessage", *[{"delay": 0.01}] * 2000)
    rng = random.Random(20261125)
    now = MONDAY
    for _ in range(20):
        proc = subprocess.Popen([*cmo_bot(), "tick", "--now", now.isoformat()], env=bot.env,
                                cwd=bot.env["CMO_WORKDIR"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.5, 1.5))  # wall time only chooses the kill point; the bot's clock is --now
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        now += timedelta(minutes=6)  # past the lease: rows abandoned mid-send are claimed again
    bot.tick(now)
    per_channel = Counter(c.args["channel"] for c in bot.posts()
                          if c.response.get("ok") and c.args["channel"] != "CALERTS")
    missing = set(channels) - set(per_channel)
    doubled = {ch: n for ch, n in per_channel.items() if n > 1}
    print(f"\nkill test: 20 kills; {len(per_channel)} of {len(channels)} delivered, "
          f"{len(doubled)} doubled (the documented window), {len(missing)} lost")
    assert not missing
    assert not doubled
    with transaction(engine) as session:
        assert {r.status for r in session.exec(select(Outbox))} == {Status.sent}
