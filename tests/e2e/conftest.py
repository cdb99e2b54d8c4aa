"""Fixtures for end-to-end tests: one emulator and one `cmo-bot serve` per test session, reset before
every test (emulator record cleared, database wiped, clock set to the default instant). The document
scenarios run twice (`@both_stores`): against a bot filing to a local folder and one filing to a real S3 server."""

from __future__ import annotations

import pytest

from bot.emulator.server import SlackEmulator
from tests.conftest import NOW
from tests.e2e.harness import Bot, BotProcess, Clock, bot_env, s3_env, seed


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


@pytest.fixture(scope="session")
def _serve_s3(slack, db_url, tmp_path_factory, s3_server):
    """A second `cmo-bot serve` whose documents go to the real S3 server (started with the first test that
    asks for it)."""
    workdir = tmp_path_factory.mktemp("bot-s3")
    clock = Clock(workdir / "now.txt")
    clock.set(NOW)
    process = BotProcess(s3_env(bot_env(slack, db_url, workdir, clock), s3_server))
    yield process, clock
    process.stop()


def ready(process: BotProcess, clock: Clock, slack) -> Bot:
    slack.reset()
    seed(slack)
    slack.add_channel("CGENERAL", "general", members=["UADMIN", "UPM1"])
    clock.set(NOW)
    return Bot(process, slack, clock)


@pytest.fixture
def bot(request: pytest.FixtureRequest, slack, engine):
    """The bot filing to a local folder; `@both_stores` runs a test with it and again with the S3 one."""
    backend = getattr(request, "param", "local")
    return ready(*request.getfixturevalue("_serve" if backend == "local" else "_serve_s3"), slack)
