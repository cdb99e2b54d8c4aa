"""The "64 listener threads" experiment of bench/ runs what its rows say: an app whose listener executor has 64
threads and an engine whose pool can give each of them a connection (serve's own app has 48)."""

from __future__ import annotations

import bot.app
import store.db
from bench import wide
from bot.app import create_app
from bot.settings import Settings
from store.db import make_engine


def test_widened_serve_has_64_listener_threads_and_the_connections_for_them(monkeypatch, tmp_path):
    for module, name in ((bot.app, "LISTENER_THREADS"), (bot.app, "ListenerPool"), (store.db, "CONNECTIONS")):
        monkeypatch.setattr(module, name, getattr(module, name))  # put back after the test
    assert bot.app.LISTENER_THREADS == 48
    wide.widen()
    engine = make_engine(f"sqlite:///{tmp_path / 'wide.db'}")
    app = create_app(Settings(_env_file=None, slack_signing_secret="s", slack_bot_token="xoxb-test"), engine)
    assert app.listener_runner.listener_executor.width == wide.THREADS == 64
    assert store.db.CONNECTIONS == 64 + 8 and engine.pool.size() == 36  # the other 36 are overflow
    engine.dispose()
