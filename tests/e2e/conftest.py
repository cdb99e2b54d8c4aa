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
def _socket(_serve, slack):
    """`cmo-bot socket` beside `serve`, on the same database, emulator and clock (started on first use)."""
    http, clock = _serve
    process = BotProcess(http.env, transport="socket")
    yield process
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
    if process.transport == "socket":
        assert slack.socket_mode.wait_connected(), "cmo-bot socket is not connected:\n" + "".join(process.output)
    seed(slack)
    slack.add_channel("CGENERAL", "general", members=["UADMIN", "UPM1"])
    clock.set(NOW)
    return Bot(process, slack, clock)


@pytest.fixture
def bot(request: pytest.FixtureRequest, slack, engine):
    """The bot over HTTP, filing to a local folder. `@BOTH_TRANSPORTS` runs a test over Socket Mode too,
    `@both_stores` again with the bot that files to the real S3 server. After the test, every bot is waited
    for until the work after its acks has finished."""
    variant = getattr(request, "param", "http")
    if variant == "s3":
        yield ready(*request.getfixturevalue("_serve_s3"), slack)
    else:
        process, clock = request.getfixturevalue("_serve")
        if variant == "socket":
            process = request.getfixturevalue("_socket")
        yield ready(process, clock, slack)
    for running in list(BotProcess.running):  # the next test wipes the database: nothing may still write to it
        running.wait_idle()
