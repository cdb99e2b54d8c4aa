"""serve's CPU per acknowledgement, in process: the real WSGI app of `cmo-bot serve` with workers (role
"acknowledge": bot/app.py, bot/server.py), called directly with the signed bodies of `bench.ack.Requests` (a
`/cmo program status` command, a click on App Home's *Show all*, a *Log agreement* submission), on PostgreSQL
with the 10× portfolio. No server, no client, no workers (the work rows accumulate): what is measured is the
process CPU time (`time.process_time`) each request costs the acknowledging process, and the SQL statements it
sends, per kind. Latency under load is `bench.ack`'s; this says where an acknowledgement's CPU goes, stably
enough to compare two versions of the code on a shared machine (take the minimum of the rounds, and alternate
runs). `--profile KIND` prints cProfile's view of one round of that kind.

    python -m bench.cpu --seed                 # first: a fresh portfolio in the database (its schema is rebuilt)
    python -m bench.cpu [--requests 200] [--rounds 6] [--kinds command,button,submission] [--profile submission]

The local Slack emulator runs in its own process: Bolt asks it once who the bot is (auth.test).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time
from collections import Counter
from collections.abc import Callable, Iterable

from sqlalchemy import event, text

from bench.ack import KINDS, NOW, SECRET, TOKEN, Requests, emulator_base, seed_emulator, signed, start_emulator
from bench.portfolio import fill
from bench.sweep import reset_postgres
from bot.app import WiredApp, create_app
from bot.server import EVENTS_PATH, wsgi_app
from bot.settings import Settings
from store.db import SERVING_WAIT, make_engine

DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/cmo_bench_cpu"
SCALE = 10
WARMUP = 50  # requests of each kind before the measured rounds


def serve_app(url: str, api_url: str) -> tuple[WiredApp, Callable]:
    """The app and the WSGI callable `cmo-bot serve --workers N` answers Slack with."""
    settings = Settings(_env_file=None, slack_bot_token=TOKEN, slack_signing_secret=SECRET, slack_api_url=api_url,
                        database_url=url, cmo_admins=frozenset({"UADMIN"}), cmo_now=NOW,
                        cmo_files_dir="/tmp/cmo-bench-files")
    engine = make_engine(url, wait=SERVING_WAIT)
    app = create_app(settings, engine, "acknowledge")
    return app, wsgi_app(app, engine, SECRET)


def call(application: Callable, body: str) -> tuple[str, bytes]:
    """One signed POST, with the environ waitress would give."""
    raw = body.encode()
    headers = signed(body)
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": EVENTS_PATH, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
               "SERVER_PORT": "3000", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
               "HTTP_HOST": "127.0.0.1:3000", "HTTP_USER_AGENT": "Slackbot 1.0", "HTTP_CONNECTION": "keep-alive",
               "CONTENT_TYPE": headers["Content-Type"], "CONTENT_LENGTH": str(len(raw)), "wsgi.input": io.BytesIO(raw),
               "wsgi.url_scheme": "http", "wsgi.version": (1, 0), "wsgi.multithread": True,
               "wsgi.multiprocess": False, "wsgi.run_once": False,
               "HTTP_X_SLACK_REQUEST_TIMESTAMP": headers["X-Slack-Request-Timestamp"],
               "HTTP_X_SLACK_SIGNATURE": headers["X-Slack-Signature"]}
    status: list[str] = []
    answer = b"".join(application(environ, lambda line, _headers, _exc=None: status.append(line)))
    return status[0], answer


def run(application: Callable, bodies: Iterable[str]) -> None:
    for body in bodies:
        status, answer = call(application, body)
        if not status.startswith("200") or answer:
            raise RuntimeError(f"answered {status} {answer[:200]!r}")


def measure(url: str, requests: int, rounds: int, kinds: list[str], profile: str | None = None
            ) -> dict[str, tuple[list[float], float]]:
    """Per kind: the CPU milliseconds per request of each round, and the statements per request."""
    emulator = start_emulator()
    try:
        programs = 50 * SCALE
        seed_emulator(emulator, programs)
        fresh = make_engine(url)
        with fresh.begin() as connection:  # a form submitted again closes quietly: each run's forms are new
            connection.execute(text("TRUNCATE work, submission_receipt"))
        fresh.dispose()
        app, application = serve_app(url, emulator.url)
        make = Requests(emulator_base(emulator), programs)
        sent = Counter[str]()
        for engine in {app.deps.engine, app.queue.engine}:  # type: ignore[union-attr]
            event.listen(engine, "before_cursor_execute", lambda *_: sent.update(["statement"]))
        for kind in kinds:
            run(application, [getattr(make, kind)() for _ in range(WARMUP)])
        figures: dict[str, tuple[list[float], float]] = {kind: ([], 0.0) for kind in kinds}
        for round_ in range(rounds):
            for kind in kinds:
                bodies = [getattr(make, kind)() for _ in range(requests)]
                profiler = cProfile.Profile() if profile == kind and round_ == 0 else None
                sent.clear()
                started = time.process_time()
                if profiler is not None:
                    profiler.runcall(run, application, bodies)
                else:
                    run(application, bodies)
                spent = time.process_time() - started
                figures[kind][0].append(1000 * spent / requests)
                figures[kind] = (figures[kind][0], sent["statement"] / requests)
                if profiler is not None:
                    pstats.Stats(profiler).sort_stats("cumulative").print_stats(50)
        return figures
    finally:
        emulator.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", default=DATABASE, help="the database (default: %(default)s)")
    parser.add_argument("--seed", action="store_true", help="rebuild its schema and fill the 10× portfolio first")
    parser.add_argument("--requests", type=int, default=200, help="requests of each kind per round")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--profile", choices=KINDS, help="cProfile the first round of this kind")
    args = parser.parse_args(argv)
    if args.seed:
        from bench.__main__ import ensure_database

        ensure_database(args.postgres)
        reset_postgres(args.postgres)
        engine = make_engine(args.postgres)
        rows = fill(engine, SCALE)
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
        engine.dispose()
        print("portfolio:", ", ".join(f"{n:,} {table}" for table, n in rows.items()), flush=True)
    figures = measure(args.postgres, args.requests, args.rounds, args.kinds.split(","), args.profile)
    for kind, (spent, statements) in figures.items():
        ordered = sorted(spent)
        print(f"{kind:<10} CPU per request: min {ordered[0]:.2f} ms, median {ordered[len(ordered) // 2]:.2f} ms, "
              f"max {ordered[-1]:.2f} ms over {len(spent)} rounds; {statements:.1f} statements", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
