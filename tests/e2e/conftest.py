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


@pytest.fixture(scope="session")
def _socket(_serve, slack):
    """`cmo-bot socket` beside `serve`, on the same database, emulator and clock (started on first use)."""
    http, clock = _serve
    process = BotProcess(http.env, transport="socket")
    yield process
    process.stop()


@pytest.fixture
def bot(request, _serve, slack, engine):
    """The bot over HTTP; over Socket Mode too for tests marked `@BOTH_TRANSPORTS`."""
    process, clock = _serve
    if getattr(request, "param", "http") == "socket":
        process = request.getfixturevalue("_socket")
    slack.reset()
    if process.transport == "socket":
        assert slack.socket_mode.wait_connected(), "cmo-bot socket is not connected:\n" + "".join(process.output)
    seed(slack)
    slack.add_channel("CGENERAL", "general", members=["UADMIN", "UPM1"])
    clock.set(NOW)
    return Bot(process, slack, clock)
