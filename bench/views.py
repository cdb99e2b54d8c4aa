"""The views of a manager of 500 programs, timed in process with their SQL statements counted.

    python -m bench.views [--postgres URL] [--sizes 1,10,100] [--databases sqlite,postgresql]

For each database and size, a fresh `bench.portfolio` (1× = 50 programs, 500 agreements, 2,000 batches, 10,000
pulls, 100 submissions) plus one program manager, UMGR, on its first 500 programs (all 50 at 1×). Each view
runs as the bot runs it after the ack, with a stand-in for the Slack Web API (its calls cost nothing here):
App Home published (`commands.home.publish`), `/cmo status` in a managed program's channel (the next 14 days'
plan), `/cmo status --all`, `/cmo program status`, and the sweep's status-digest rule composing every active
program's digest (the whole portfolio, nothing queued yet). Time: the median of 5 runs after one to warm up;
statements: those of one run (`before_cursor_execute`). PostgreSQL: the schema of `--postgres` is rebuilt.

After loading, each database gets the planner statistics a deployment has: PostgreSQL is ANALYZEd (autovacuum),
SQLite gets the scheduler's upkeep once (`store.db.refresh_statistics`, run at start and hourly);
`--no-sqlite-statistics` leaves SQLite without them, as it was before the scheduler kept them.

The "programs managed" column is the number of programs a view covers: the manager's for the views, every active
program for the digests (the digest rule composes the whole portfolio's, not the manager's).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, insert, text
from sqlmodel import select

from bench.portfolio import channel_of, fill
from bench.sweep import fresh_url
from bot.clock import Clock
from bot.settings import Settings
from commands import home, programs, status
from commands.args import parse, split
from commands.deps import Deps
from commands.router import Request
from store import digest
from store.db import make_engine, refresh_statistics, transaction
from store.programs import Program, ProgramMember

NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
MANAGER = "UMGR"
MANAGED = 500
RUNS = 5
DIGESTS = "status digests (every program)"
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/cmo_bench"


class Slack:
    """The Web API calls the views make, answered at once."""

    def conversations_open(self, users: str) -> dict:
        return {"channel": {"id": f"D{users}"}}

    def files_upload_v2(self, **_kwargs) -> dict:
        return {"ok": True}

    def views_publish(self, **_kwargs) -> dict:
        return {"ok": True}


def views(deps: Deps) -> dict[str, Callable[[], object]]:
    def command(run: Callable[[Request], None], words: str) -> Callable[[], object]:
        body = {"user_id": MANAGER, "channel_id": channel_of(0), "text": words, "team_id": "T1"}
        return lambda: run(Request(deps, Slack(), lambda **_: None, body, parse(split(words), frozenset({"all"})),
                                   NOW))

    def digests() -> object:
        with transaction(deps.engine) as session:
            return list(digest.due(session, NOW))

    return {
        "App Home": lambda: home.publish(deps, Slack(), MANAGER, NOW),  # type: ignore[arg-type]
        "/cmo status": command(status.run, ""),
        "/cmo status --all": command(status.run, "--all"),
        "/cmo program status": command(programs.cmd_status, ""),
        DIGESTS: digests,
    }


def timed(engine, view: Callable[[], object]) -> tuple[float, int, object]:
    """(median milliseconds, statements of one run, what the first run returned)."""
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    result = view()
    event.listen(engine, "before_cursor_execute", count)
    try:
        view()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        view()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), len(statements), result


def programs_of(view: str, result: Any, managed: int) -> int:
    """The programs a view covers: the manager's, except the digests', which are every active program's (one
    per program composed, 5,000 at 100×)."""
    return len({due.program_id for due in result}) if view == DIGESTS else managed


def measure(kind: str, size: int, postgres_url: str, statistics_kept: bool = True
            ) -> list[tuple[str, str, int, int, float, int]]:
    with fresh_url(kind, postgres_url, "views") as url:
        engine = make_engine(url)
        try:
            fill(engine, size)
            with transaction(engine) as session:
                ids = list(session.exec(select(Program.id).order_by(Program.id).limit(MANAGED)))
                session.execute(insert(ProgramMember.__table__), [  # type: ignore[attr-defined]
                    {"program_id": i, "user_id": MANAGER, "role": "program_manager", "external": False,
                     "classified": True} for i in ids])
            if engine.dialect.name == "postgresql":  # what autovacuum does soon after a bulk load
                with engine.begin() as connection:
                    connection.execute(text("ANALYZE"))
            elif statistics_kept:  # what the scheduler does within the hour (and `cmo-bot import` at once)
                refresh_statistics(engine)
            deps = Deps(engine, Settings(_env_file=None, database_url=url), Clock(NOW.isoformat()))
            rows = []
            for name, view in views(deps).items():
                ms, count, result = timed(engine, view)
                rows.append((kind, name, size, programs_of(name, result, len(ids)), ms, count))
            return rows
        finally:
            engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", default=POSTGRES, help="a PostgreSQL URL whose schema may be rebuilt")
    parser.add_argument("--sizes", default="1,10,100")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--no-sqlite-statistics", action="store_true",
                        help="leave SQLite without planner statistics (as before the scheduler kept them)")
    args = parser.parse_args()
    from bench.__main__ import load_average, machine  # here: `python -m bench` runs this module's `measure`
    print(*machine(), f"load average before: {load_average()}", "", sep="\n")
    print("| database | view | size | programs managed | server time | statements |")
    print("|---|---|---:|---:|---:|---:|")
    for kind in args.databases.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            rows = measure(kind, size, args.postgres, statistics_kept=not args.no_sqlite_statistics)
            for kind_, name, size_, managed, ms, count in rows:
                print(f"| {kind_} | {name} | {size_}× | {managed} | {ms:,.0f} ms | {count} |", flush=True)
    print(f"\nload average after: {load_average()}")


if __name__ == "__main__":
    main()
