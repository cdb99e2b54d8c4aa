"""HTTP mode: the Bolt app behind waitress (a production WSGI server), plus `GET /healthz`, `GET /metrics` and
the calendar feeds (`GET /calendar/<token>.ics`, `bot.calendar_route`); and Socket Mode's health port, which
serves the same three.

Why waitress: a threaded WSGI server fits Bolt's sync App, which (with --workers 0) acks from a listener
thread and finishes slow work after the response, and (with workers) runs each listener in the thread that
answers (bot/app.py); waitress is pure Python (no compiler, runs anywhere), buffers and
bounds requests itself (bodies larger than Slack sends are refused with 413 before they are read), and is
used in production behind load balancers. `bot.gate` checks every request before Bolt sees it.
"""

from __future__ import annotations

import errno
import json
import socket
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy.engine import Engine
from waitress.server import create_server

from bot import metrics
from bot.calendar_route import calendar_route, is_calendar_path
from bot.gate import MAX_BODY_BYTES, gate
from commands.deps import Deps
from store.db import is_busy, probe_writes

if TYPE_CHECKING:
    from bot.app import WiredApp

EVENTS_PATH = "/slack/events"


def wsgi_app(app: WiredApp, engine: Engine, signing_secret: str, *, warmed: bool = False) -> Callable:
    """With `warmed`, the calendar feeds are warmed in the background (`bot.calendar_route.warm`)."""
    slack = gate(SlackRequestHandler(app, path=EVENTS_PATH), signing_secret)
    calendar = calendar_route(app.deps, warmed=warmed)  # no Slack signature: a token per feed

    def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz" and environ.get("REQUEST_METHOD") == "GET":
            return _health(engine, start_response)
        if path == "/metrics" and environ.get("REQUEST_METHOD") == "GET":
            start_response("200 OK", [("Content-Type", metrics.CONTENT_TYPE)])
            return [metrics.exposition(engine)]
        if path == EVENTS_PATH:
            return slack(environ, start_response)
        if is_calendar_path(path):
            return calendar(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]

    return application


def _health(engine: Engine, start_response: Callable, connected: Callable[[], bool] | None = None
            ) -> Iterable[bytes]:
    """200 when the database answers (and, for Socket Mode, the WebSocket is connected), else 503."""
    body: dict[str, object]
    try:
        # A bare DBAPI connection for the read: no transaction, so SQLite's BEGIN IMMEDIATE is not taken for it.
        connection = engine.raw_connection()
        try:
            connection.cursor().execute("SELECT 1")
        finally:
            connection.close()
        probe_writes(engine)  # bounded by PROBE_WAIT: never held, never waited on for long
        status, body = "200 OK", {"ok": True}
    except Exception as exc:  # any failure to reach the database is "unhealthy", with its kind
        error = "write path stalled" if is_busy(exc) else type(exc).__name__
        status, body = "503 Service Unavailable", {"ok": False, "error": error}
    if body["ok"] and connected is not None and not connected():
        status, body = "503 Service Unavailable", {"ok": False, "error": "socket_mode_disconnected"}
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


def health_app(deps: Deps, connected: Callable[[], bool], *, warmed: bool = False) -> Callable:
    """The WSGI app of `cmo-bot socket --health-port`: GET /healthz, GET /metrics and the calendar feeds. A
    Socket Mode install needs no public URL for Slack, but its people's calendar apps still need one to fetch
    their feeds: this port is the one the bot already listens on (the same handler as serve's, warmed alike)."""
    engine = deps.engine
    calendar = calendar_route(deps, warmed=warmed)  # no Slack signature: a token per feed

    def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz" and environ.get("REQUEST_METHOD") == "GET":
            return _health(engine, start_response, connected)
        if path == "/metrics" and environ.get("REQUEST_METHOD") == "GET":
            start_response("200 OK", [("Content-Type", metrics.CONTENT_TYPE)])
            return [metrics.exposition(engine)]
        if is_calendar_path(path):
            return calendar(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]

    return application


def make_server(app: WiredApp, engine: Engine, host: str, port: int, *, signing_secret: str, threads: int = 16,
                warmed: bool = False, reuse_port: bool = False):
    """A waitress server bound to host:port (port 0 picks a free one: see `.effective_port`)."""
    return serve_wsgi(wsgi_app(app, engine, signing_secret, warmed=warmed), host, port, threads,
                      reuse_port=reuse_port)


def serve_wsgi(application: Callable, host: str, port: int, threads: int = 16, *, reuse_port: bool = False):
    """A waitress server for `application`, bound to host:port (port 0 picks a free one); bodies larger than
    Slack sends are refused by waitress itself (413) before anything reads them. `reuse_port`: other processes
    may listen on the same port (`serve --reuse-port`)."""
    where = {"sockets": [shared_socket(host, port)]} if reuse_port else {"host": host, "port": port}
    return create_server(application, threads=threads, ident="cmo-bot", clear_untrusted_proxy_headers=True,
                         max_request_body_size=MAX_BODY_BYTES, **where)


def shared_socket(host: str, port: int) -> socket.socket:
    """A listening socket on host:port that other processes may bind too (SO_REUSEPORT): each of several
    `cmo-bot serve --reuse-port` on one machine then gets its share of the connections from the kernel, so
    acknowledgements use more than the one core a Python process can, without a proxy in front. Every process
    on the port must ask for it, and run as the same user (the kernel's rule)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    listening = socket.socket(family, kind, proto)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listening.bind(address)
    except OSError:
        listening.close()
        raise
    return listening


def run_until_closed(server) -> None:
    """`server.run()` in a thread of its own, until another thread calls `server.close()`: waitress's loop may
    then poll a socket that was just closed (EBADF), which is how that loop ends, not an error."""
    try:
        server.run()
    except OSError as exc:
        if exc.errno != errno.EBADF:
            raise
