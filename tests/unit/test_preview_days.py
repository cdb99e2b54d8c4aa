"""`/cmo status`'s preview (scheduler/preview.py) asks the rules only about the coming days whose answer may
differ from the last day asked — the program's horizon or a review call's start — and plans exactly what asking
about every one of the coming days plans: checked for three programs in three time zones, with review calls, at
71 instants spread over four months."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from functools import partial

import pytest
from sqlmodel import col, select

from scheduler import preview
from scheduler.preview import Planned, scoped, upcoming
from scheduler.rules import RULES
from scheduler.sweep import collect
from store import digest
from store.batches import service as batches
from store.db import transaction
from store.outbox import Outbox, Status
from store.programs import Program
from tests import factories

START = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)  # a Monday
DAYS = 14


def _every_day(session, program_id: int, now: datetime) -> list[Planned]:
    """The preview as it was: the rules asked about each of the coming days in turn."""
    settled = {(row.key, row.target) for row in session.exec(select(Outbox).where(
        Outbox.program_id == program_id, col(Outbox.status).in_((Status.sent, Status.cancelled, Status.dead))))}
    planned: dict[tuple[str, str], Planned] = {}
    keys: set[str] = set()
    rules = tuple(partial(digest.due, known=keys) if rule == digest.due else rule for rule in RULES)
    with scoped(session, program_id):
        for offset in range(DAYS + 1):
            for row in collect(session, now + timedelta(days=offset), rules):
                keys.add(row["key"])
                ident = (row["key"], row["target"])
                if row["program_id"] == program_id and ident not in settled and ident not in planned:
                    planned[ident] = Planned(row["not_before"], row["key"], row["target"], row["text"])
    return sorted(planned.values(), key=lambda p: (p.at, p.key, p.target))


@pytest.fixture
def portfolio(engine):
    with transaction(engine) as session:
        made = factories.portfolio(session, START, range(3))
        for program, days, hour in ((made[0], 3, 8), (made[1], 5, 15), (made[1], 40, 11)):
            today = START.astimezone(program.tz).date()
            batches.schedule_call(session, program, f"B-{program.code[-1]}-1", minutes=30, actor=factories.ADMIN,
                                  starts_local=datetime.combine(today + timedelta(days=days), time(hour)), now=START)
        return [program.id for program in made]


def test_the_preview_plans_what_asking_every_day_plans(engine, portfolio):
    checked = planned = 0
    with transaction(engine) as session:
        for step in range(0, 120 * 24, 41):  # every 41 hours: each time of day, each weekday
            now = START + timedelta(hours=step)
            for program_id in portfolio:
                expected = _every_day(session, program_id, now)
                assert upcoming(session, program_id, now, DAYS) == expected, (now, session.get(Program, program_id))
                checked += 1
                planned += len(expected)
    assert checked == 3 * 71 and planned > 400  # the programs had something to plan most of the time


def test_a_preview_asks_about_fewer_days_than_it_covers(engine, portfolio, monkeypatch):
    asked: list[datetime] = []

    def counting(session, now, *args, **kwargs):
        asked.append(now)
        return collect(session, now, *args, **kwargs)

    monkeypatch.setattr(preview, "collect", counting)
    with transaction(engine) as session:
        upcoming(session, portfolio[2], START + timedelta(days=60), DAYS)
    assert 1 <= len(asked) < DAYS + 1, asked
