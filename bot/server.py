"""HTTP mode: the Bolt app behind waitress (a production WSGI server), plus `GET /healthz`.

Why waitress: Bolt's sync App acks from a worker thread and finishes slow work after the response,
which fits a threaded WSGI server; waitress is pure Python (no compiler, runs anywhere), buffers and
bounds requests itself, and is used in production behind load balancers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy import text
from sqlalchemy.engine import Engine
from waitress.server import create_server

from store.db import is_busy, probe_writes

EVENTS_PATH = "/slack/events"


def wsgi_app(app: App, engine: Engine) -> Callable:
    slack = SlackRequestHandler(app, path=EVENTS_PATH)

    def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz" and environ.get("REQUEST_METHOD") == "GET":
            return _health(engine, start_response)
        if path == EVENTS_PATH:
            return slack(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]

    return application


def _health(engine: Engine, start_response: Callable) -> Iterable[bytes]:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        probe_writes(engine)
        status, body = "200 OK", {"ok": True}
    except Exception as exc:  # any failure to reach the database is "unhealthy", with its kind
        error = "write path stalled" if is_busy(exc) else type(exc).__name__
        status, body = "503 Service Unavailable", {"ok": False, "error": error}
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


def make_server(app: App, engine: Engine, host: str, port: int, threads: int = 16):
    """A waitress server bound to host:port (port 0 picks a free one: see `.effective_port`)."""
    return create_server(wsgi_app(app, engine), host=host, port=port, threads=threads,
                         ident="cmo-bot", clear_untrusted_proxy_headers=True)
