"""The floor: a bare Bolt app under the same server as `cmo-bot serve`, answering every command and button
click with an empty ack and doing nothing else. `python -m bench.floor --port 0` prints its URL.

Same signature check (the request gate's, `bot.gate`, which hands Bolt an interactive payload decoded), same Bolt
request pipeline, same waitress server and thread count (`bot.server.serve_wsgi`); what the bot adds on top of
this is the cost being measured. The same Bolt mode as serve's too: each listener runs in the thread that
answers (`process_before_response`, bot/app.py). With Bolt's default instead, the answering thread looks for the
ack every 10 ms, which put the floor at 11–12 ms for one client (bench/results.md before 5 Dec 2026): a floor serve
no longer pays, so not a floor.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

from bot.gate import gate
from bot.server import EVENTS_PATH, serve_wsgi


def floor_app(signing_secret: str, token: str, api_url: str) -> App:
    app = App(client=WebClient(token=token, base_url=api_url), signing_secret=signing_secret,
              token_verification_enabled=False, process_before_response=True,
              request_verification_enabled=False)  # as serve's: the gate checks each signature (bot/gate.py)

    @app.command(re.compile(".*"))
    def command(ack) -> None:
        ack()

    @app.action(re.compile(".*"))
    def action(ack) -> None:
        ack()

    @app.view(re.compile(".*"))
    def view(ack) -> None:
        ack()

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    app = floor_app(os.environ["SLACK_SIGNING_SECRET"], os.environ["SLACK_BOT_TOKEN"], os.environ["SLACK_API_URL"])
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
