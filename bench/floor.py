"""The floor: a bare Bolt app under the same server as `cmo-bot serve`, answering every command and button
click with an empty ack and doing nothing else. `python -m bench.floor --port 0` prints its URL.

Same signature check (the request gate's, `bot.gate`, which hands Bolt an interactive payload decoded), same Bolt
request pipeline, same waitress server and thread count (`bot.server.serve_wsgi`); what the bot adds on top of
this is the cost being measured. The same Bolt mode as serve's too: each listener runs in the thread that
answers (`process_before_response`, bot/app.py). With Bolt's default instead, the answering thread looks for the
ack every 10 ms, which put the floor at 11–12 ms for one client (bench/results.md before 5 Dec 2026): a floor serve
no longer pays, so not a floor.

`--durable`: the floor of any design that keeps "work accepted with an ack is never lost" — the same bare app,
which also writes each request's raw body to a table of DATABASE_URL, committed before it acks: one insert on an
engine made as serve's queueing engine is (autocommit, no ping), into a table of the same shape as serve's work
queue but its own (`bench_floor_request`, so serve's /metrics never counts it). What serve adds on top of this is
what its design costs beyond the durability promise itself.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
from datetime import UTC, datetime

from slack_bolt import App, BoltRequest
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text, insert
from sqlalchemy.engine import Engine

from bot.gate import gate
from bot.server import EVENTS_PATH, serve_wsgi
from store.db import make_engine

REQUESTS = Table("bench_floor_request", MetaData(),  # the columns serve's work row fills (store/work.py)
                 Column("id", Integer, primary_key=True), Column("queue", String(64), nullable=False),
                 Column("listener", String(255), nullable=False), Column("mode", String(16), nullable=False),
                 Column("content_type", String(255)), Column("body", Text, nullable=False),
                 Column("received_at", DateTime(timezone=True), nullable=False))
KEEP = insert(REQUESTS).returning(REQUESTS.c.id)


def durable(database_url: str) -> Engine:
    """An engine as serve's queueing one (bot/app.py), with the floor's own table made."""
    engine = make_engine(database_url, ping=False, autocommit=True)
    REQUESTS.create(engine, checkfirst=True)
    return engine


def floor_app(signing_secret: str, token: str, api_url: str, engine: Engine | None = None) -> App:
    """The bare app; with `engine`, each request kept there (committed) before its ack."""
    app = App(client=WebClient(token=token, base_url=api_url), signing_secret=signing_secret,
              token_verification_enabled=False, process_before_response=True,
              request_verification_enabled=False)  # as serve's: the gate checks each signature (bot/gate.py)

    def answer(ack, request: BoltRequest) -> None:
        if engine is not None:
            with engine.begin() as connection:
                connection.execute(KEEP, {"queue": "floor", "listener": "answer", "mode": request.mode,
                                          "content_type": request.content_type, "body": request.raw_body,
                                          "received_at": datetime.now(UTC)})
        ack()

    for listen in (app.command, app.action, app.view):
        listen(re.compile(".*"))(answer)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--durable", action="store_true", help="keep each request in DATABASE_URL before its ack")
    args = parser.parse_args(argv)
    engine = durable(os.environ["DATABASE_URL"]) if args.durable else None
    app = floor_app(os.environ["SLACK_SIGNING_SECRET"], os.environ["SLACK_BOT_TOKEN"], os.environ["SLACK_API_URL"],
                    engine)
    slack = gate(SlackRequestHandler(app, path=EVENTS_PATH), os.environ["SLACK_SIGNING_SECRET"])
    server = serve_wsgi(slack, args.host, args.port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"floor listening on http://{args.host}:{server.effective_port}/slack/events", flush=True)
    try:
        server.run()
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
