"""Run the emulator on its own so another process (the demo, a benchmark) can use it.

``python -m bot.emulator --port 0`` prints the Web API URL on the first line of stdout, then
serves until interrupted or terminated.  Drive it through its ``/_emulator/…`` endpoints.
"""

from __future__ import annotations

import argparse
import signal
import threading

from bot.emulator.server import SlackEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.emulator",
                                     description="Run the local Slack emulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--published-limits", action="store_true",
                        help="enforce Slack's documented rate limits")
    parser.add_argument("--require-membership", action="store_true",
                        help="refuse posts to channels the bot is not a member of (not_in_channel)")
    parser.add_argument("--trigger-ttl", type=float, metavar="SECONDS",
                        help="refuse a trigger_id older than this (expired_trigger_id); Slack's is 3 seconds")
    parser.add_argument("--transcript", action="store_true", help="print a readable line for every call")
    args = parser.parse_args(argv)

    emulator = SlackEmulator(args.host, args.port, require_membership=args.require_membership,
                             trigger_ttl=args.trigger_ttl)
    if args.transcript:
        emulator.on_call = lambda call: print(emulator.transcript(call), flush=True)
    if args.published_limits:
        emulator.apply_published_limits()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with emulator:
        print(emulator.url, flush=True)
        try:
            stopped.wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
