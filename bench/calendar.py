"""The calendar feed of a person holding a role on 500 programs, served by the real route in process.

    python -m bench.calendar [--postgres URL]     # default: a throwaway SQLite database

The portfolio is `bench.portfolio` at scale 10 (500 programs, 5,000 agreements, 20,000 batches, 100,000
pulls, 20,000 submission documents), plus one program manager on all 500 programs. Times `GET
/calendar/<token>.ics` through `bot.calendar_route` (the handler `serve` mounts): the first fetch (renders
every event and writes the SEQUENCE ledger), a fetch after a change was recorded (renders again), a fetch of
the unchanged feed (kept), and a conditional fetch answered 304.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from datetime import UTC, datetime

from sqlalchemy import insert
from sqlmodel import select

from bench.portfolio import fill
from bot.calendar_route import Limiter, calendar_route
from bot.clock import Clock
from bot.settings import Settings
from commands.deps import Deps
from store import audit, feeds
from store.audit import SYSTEM
from store.db import make_engine, transaction
from store.migrate import upgrade
from store.programs import Program, ProgramMember

NOW = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
KEY = "xoxb-bench"


def _get(app, path: str, etag: str | None = None) -> tuple[float, str, dict, int]:
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "wsgi.input": io.BytesIO()}
    if etag:
        environ["HTTP_IF_NONE_MATCH"] = etag
    answer: list = []
    started = time.perf_counter()
    body = b"".join(app(environ, lambda status, headers: answer.append((status, dict(headers)))))
    return (time.perf_counter() - started) * 1000, answer[0][0], answer[0][1], len(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", help="a PostgreSQL URL whose schema may be rebuilt (default: SQLite)")
    url = parser.parse_args().postgres or f"sqlite:///{tempfile.mkdtemp()}/calendar.db"
    upgrade(url)
    engine = make_engine(url)
    print("portfolio:", fill(engine, 10))
    with transaction(engine) as session:
        ids = list(session.exec(select(Program.id)))
        session.execute(insert(ProgramMember.__table__), [  # type: ignore[attr-defined]
            {"program_id": i, "user_id": "UCAL", "role": "program_manager", "external": False, "classified": True}
            for i in ids])
        token = feeds.link(session, user_id="UCAL", program_id=None, key=KEY, now=NOW)
    deps = Deps(engine, Settings(slack_bot_token=KEY, database_url=url), Clock(NOW.isoformat()))
    app = calendar_route(deps, Limiter(burst=10_000))
    path = f"/calendar/{token}.ics"
    first, status, headers, size = _get(app, path)
    print(f"first fetch: {first:.0f} ms, {status}, {size / 1e6:.1f} MB")
    with transaction(engine) as session:  # any recorded change renders the feed again
        audit.record(session, actor=SYSTEM, action="bench", entity="bench", entity_id="1", now=NOW)
    changed = [_get(app, path)[0]]
    kept = [_get(app, path)[0] for _ in range(20)]
    etag = _get(app, path)[2]["ETag"]
    unchanged = [_get(app, path, etag) for _ in range(20)]
    assert all(u[1] == "304 Not Modified" for u in unchanged)
    print(f"after a change: {changed[0]:.0f} ms; unchanged (kept): median {statistics.median(kept):.1f} ms; "
          f"304: median {statistics.median(u[0] for u in unchanged):.1f} ms")


if __name__ == "__main__":
    main()
