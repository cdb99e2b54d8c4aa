"""The calendar feed of a person holding a role on 500 programs, served by the real route in process.

    python -m bench.calendar [--postgres URL]     # default: a throwaway SQLite database

The portfolio is `bench.portfolio` at scale 10 (500 programs, 5,000 agreements, 20,000 batches, 100,000
pulls, 20,000 submission documents), plus one program manager on all 500 programs. Times `GET
/calendar/<token>.ics` through `bot.calendar_route` (the handler `serve` mounts), and counts its SQL
statements: the first fetch (renders every event and writes the SEQUENCE ledger); five fetches, each after a
document's due date was moved in another program (that program gathered again); after an audit row that names no program
(every program gathered again, unchanged events' VEVENTs reused); five new days (the pulls missed since
derived again, nothing gathered); in a new process (an empty cache: every program gathered again, VEVENTs
read from the ledger); in a new process whose cache `warm` filled first, as `serve` and `socket` do in the
background when they start (the feed kept); the unchanged feed (kept); and a conditional fetch answered 304.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import event, insert
from sqlmodel import select

from bench.portfolio import fill
from bot.calendar_route import Limiter, calendar_route, warm
from bot.clock import Clock
from bot.settings import Settings
from commands.deps import Deps
from store import audit, feeds
from store.audit import SYSTEM
from store.calendar_feed import FeedCache
from store.db import make_engine, transaction
from store.migrate import upgrade
from store.programs import Program, ProgramMember
from store.submissions import service as submissions
from store.submissions.service import OPEN, SubmissionItem

NOW = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
KEY = "xoxb-bench"
ROUNDS = 5  # changes in one program, and new days, each timed


def _get(app, path: str, etag: str | None = None) -> tuple[float, str, dict, int]:
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "wsgi.input": io.BytesIO()}
    if etag:
        environ["HTTP_IF_NONE_MATCH"] = etag
    answer: list = []
    started = time.perf_counter()
    body = b"".join(app(environ, lambda status, headers: answer.append((status, dict(headers)))))
    return (time.perf_counter() - started) * 1000, answer[0][0], answer[0][1], len(body)


def _counted(engine, app, path: str) -> tuple[float, int]:
    """Time (ms) and SQL statements of one fetch."""
    seen: list[int] = []
    listener = lambda *args: seen.append(1)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        took, status, _, _ = _get(app, path)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert status == "200 OK", status
    return took, len(seen)


def _move_a_due_date(engine, nth: int) -> None:
    """The `nth` open document's due date moved a day earlier through the store, as `/cmo submission due` does."""
    with transaction(engine) as session:
        entry = session.exec(select(SubmissionItem).where(SubmissionItem.status.in_(OPEN),  # type: ignore[attr-defined]
                                                          SubmissionItem.due_on > NOW.date())
                             .order_by(SubmissionItem.id).offset(nth * 97)).first()  # another program each time
        assert entry is not None
        submissions.set_due(session, entry=entry, due_on=entry.due_on - timedelta(days=1), actor=SYSTEM, now=NOW)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", help="a PostgreSQL URL whose schema may be rebuilt (default: SQLite)")
    workdir = Path(tempfile.mkdtemp())
    url = parser.parse_args().postgres or f"sqlite:///{workdir}/calendar.db"
    upgrade(url)
    engine = make_engine(url)
    print("portfolio:", fill(engine, 10))
    with transaction(engine) as session:
        ids = list(session.exec(select(Program.id)))
        session.execute(insert(ProgramMember.__table__), [  # type: ignore[attr-defined]
            {"program_id": i, "user_id": "UCAL", "role": "program_manager", "external": False, "classified": True}
            for i in ids])
        token = feeds.link(session, user_id="UCAL", program_id=None, key=KEY, now=NOW)
    clock = workdir / "now.txt"
    clock.write_text(NOW.isoformat())
    deps = Deps(engine, Settings(slack_bot_token=KEY, database_url=url), Clock(f"@{clock}"))
    app = calendar_route(deps, Limiter(burst=10_000))
    path = f"/calendar/{token}.ics"
    lines = [("first ever (every VEVENT rendered by `icalendar`, every ledger row written)",
              [_counted(engine, app, path)])]
    changed = []
    for nth in range(ROUNDS):
        _move_a_due_date(engine, nth)
        changed.append(_counted(engine, app, path))
    lines.append(("after a due date moved in one program (that program gathered again)", changed))
    with transaction(engine) as session:
        audit.record(session, actor=SYSTEM, action="bench", entity="bench", entity_id="1", now=NOW)
    lines.append(("after an audit row that names no program (every program gathered again, no VEVENT rendered)",
                  [_counted(engine, app, path)]))
    days = []
    for day in range(1, ROUNDS + 1):
        clock.write_text((NOW + timedelta(days=day)).isoformat())
        days.append(_counted(engine, app, path))
    lines.append(("a new day (pulls missed since derived again from the kept parts; nothing gathered)", days))
    lines.append(("in a new process (every program gathered again, their VEVENTs read from the ledger)",
                  [_counted(engine, calendar_route(deps, Limiter(burst=10_000)), path)]))
    warmed, started = FeedCache(), time.perf_counter()
    warm(deps, warmed)  # what `serve` and `socket` run in a background thread when they start
    lines.append((f"in a new process warmed at start (the warm-up took {time.perf_counter() - started:.1f} s "
                  "in the background; then the fetch)",
                  [_counted(engine, calendar_route(deps, Limiter(burst=10_000), cache=warmed), path)]))
    kept = [_get(app, path)[0] for _ in range(20)]
    size = _get(app, path)[3]
    etag = _get(app, path)[2]["ETag"]
    unchanged = [_get(app, path, etag) for _ in range(20)]
    assert all(u[1] == "304 Not Modified" for u in unchanged)
    print(f"load average: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}; feed: {size / 1e6:.1f} MB")
    print("| fetch | time (median) | slowest | fetches | SQL statements |\n|---|---:|---:|---:|---:|")
    for what, samples in lines:
        times, statements = [t for t, _ in samples], sorted({n for _, n in samples})
        print(f"| {what} | {statistics.median(times):,.0f} ms | {max(times):,.0f} ms | {len(samples)} | "
              f"{', '.join(map(str, statements))} |")
    for what, times in (("unchanged (the kept rendering)", kept),
                        ("`If-None-Match` with the current ETag → 304", [u[0] for u in unchanged])):
        print(f"| {what} | {statistics.median(times):.1f} ms | {max(times):.1f} ms | {len(times)} | |")


if __name__ == "__main__":
    main()
