"""Fixtures for end-to-end tests: one emulator and one `cmo-bot serve` per test session, reset before
every test (emulator record cleared, database wiped, clock set to the default instant)."""

from __future__ import annotations

import pytest

from bot.emulator.server import SlackEmulator
from tests.conftest import NOW
from tests.e2e.harness import Bot, BotProcess, Clock, bot_env, seed


@pytest.fixture(scope="session")
def slack():
    emulator = SlackEmulator().start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="session")
def _serve(slack, db_url, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("bot")
    clock = Clock(workdir / "now.txt")
    clock.set(NOW)
    process = BotProcess(bot_env(slack, db_url, workdir, clock))
    yield process, clock
    process.stop()


@pytest.fixture
def bot(_serve, slack, engine):
    process, clock = _serve
    slack.reset()
    seed(slack)
    slack.add_channel("CGENERAL", "general", members=["UADMIN", "UPM1"])
    clock.set(NOW)
    return Bot(process, slack, clock)
