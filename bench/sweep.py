"""Sweep cost: time and SQL statements of one `scheduler.sweep.sweep` at 1x, 10x and 100x the unit portfolio.

Each size gets a fresh database (a SQLite file; PostgreSQL database `cmo_bench`, schema dropped and
migrated again), the portfolio, its planner statistics (PostgreSQL ANALYZEd as autovacuum would; SQLite given the
scheduler's upkeep, `store.db.refresh_statistics`, which it runs at start and hourly), then sweeps as of the same
instant: the first records everything due
(inserts), the second is the steady state (everything already queued: a no-op) run in full, the third the
scheduler's pass in that state (`reuse=True`: the rules skipped while nothing changed), the fourth the
scheduler's pass after one audited change in one program (a role granted that no message addresses: the rules
asked about that program alone, nothing new to send), the scheduler's pass just after Singapore's midnight
(a sixth of the portfolio's programs change day: the rules asked about those whose horizon it reached, and the
safety net's slice of the hour begun, 16:00 UTC) beside a full pass at that instant (each rolled back, so both
start from the same state: the same rows queued and cancelled), the scheduler's pass just after the UTC midnight
(Dublin's and UTC's programs change day, and the hour-0 slice is due; once a full pass) and an hourly pass with no
midnight (the slice alone), each after a pass ten minutes before it (every earlier midnight caught up; all rolled
back), and the floor, an empty transaction reading one row (what no pass can beat). Statements are counted
with SQLAlchemy's `before_cursor_execute` event, in total and per due rule, so a rule that queries per
row shows up as a count that grows with the size.
"""

from __future__ import annotations

import functools
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from bench.portfolio import fill
from scheduler.rules import RULES
from scheduler.sweep import sweep
from store import programs
from store.audit import SYSTEM
from store.db import make_engine, refresh_statistics, transaction
from store.migrate import upgrade
from store.programs import Program, Role

NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)  # Monday 2 Nov 2026, 10:00 in New York
MIDNIGHT = datetime(2026, 11, 2, 16, 5, tzinfo=UTC)  # Tuesday 00:05 in Singapore (no other zone's, nor UTC's)
UTC_MIDNIGHT = datetime(2026, 11, 3, 0, 5, tzinfo=UTC)  # Tuesday 00:05 UTC (and Dublin): the hour-0 slice
HOURLY = datetime(2026, 11, 2, 20, 5, tzinfo=UTC)  # no zone's midnight: the hour-20 slice alone
SIZES = (1, 10, 100)


@dataclass
class Counter:
    total: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)
    seconds_by_rule: dict[str, float] = field(default_factory=dict)
    rule: str = "sweep"

    def __call__(self, *args) -> None:
        self.total += 1
        self.by_rule[self.rule] = self.by_rule.get(self.rule, 0) + 1


def rule_name(rule) -> str:
    return f"{rule.__module__}.{rule.__name__}"


def counted(counter: Counter):
    """RULES wrapped so that the statements and time spent iterating each one are attributed to it."""

    def wrap(rule):
        name = rule_name(rule)

        @functools.wraps(rule)  # the sweep finds the rule's horizon through `__wrapped__`
        def run(session, now, *only):
            counter.rule = name
            started = time.perf_counter()
            try:
                yield from rule(session, now, *only)
            finally:
                counter.seconds_by_rule[name] = counter.seconds_by_rule.get(name, 0) + time.perf_counter() - started
                counter.rule = "sweep"

        return run

    return [wrap(rule) for rule in RULES]


@contextmanager
def sections_counted(counter: Counter):
    """The digest's per-area sections attributed like rules (each runs once per sweep, for every program)."""
    from store import areas, digest

    def wrap(section):
        name = f"digest section {section.__module__}.{section.__name__}"

        def run(session, days):
            outer, counter.rule = counter.rule, name
            started = time.perf_counter()
            try:
                return section(session, days)
            finally:
                counter.seconds_by_rule[name] = counter.seconds_by_rule.get(name, 0) + time.perf_counter() - started
                counter.rule = outer

        return run

    defaults = digest.compose_all.__defaults__
    digest.compose_all.__defaults__ = (tuple(wrap(s) for s in areas.DIGEST),)
    try:
        yield
    finally:
        digest.compose_all.__defaults__ = defaults


@dataclass
class SweepFigure:
    database: str
    size: int
    rows: dict[str, int]
    seconds: float
    statements: int
    inserted: int
    again_seconds: float
    again_statements: int
    reused_seconds: float
    reused_statements: int
    changed_seconds: float
    changed_statements: int
    floor_seconds: float
    by_rule: dict[str, int]
    seconds_by_rule: dict[str, float]
    midnight: Midnight | None = None  # the scheduler's pass after Singapore's midnight
    midnight_full: Midnight | None = None  # a full pass at that instant
    utc_midnight: Midnight | None = None  # the scheduler's pass after the UTC midnight (a slice, two zones' midnight)
    utc_midnight_full: Midnight | None = None  # a full pass at that instant
    hourly: Midnight | None = None  # the scheduler's pass after an hour began, no midnight (the slice alone)


@dataclass(frozen=True)
class Midnight:
    seconds: float
    statements: int
    queued: int
    cancelled: int


@contextmanager
def fresh_url(kind: str, postgres_url: str, name: str):
    """The URL of an empty, migrated database: a throwaway SQLite file, or the benchmark's PostgreSQL reset."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="cmo-bench-") as folder:
            url = f"sqlite:///{Path(folder) / f'{name}.db'}"
            upgrade(url)
            yield url
        return
    reset_postgres(postgres_url)
    yield postgres_url


@contextmanager
def fresh_database(kind: str, postgres_url: str):
    with fresh_url(kind, postgres_url, "sweep") as url:
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


def reset_postgres(url: str) -> None:
    """An empty, migrated schema in the benchmark's own database."""
    admin = make_engine(url)
    with admin.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    admin.dispose()
    upgrade(url)


def one_sweep(engine: Engine, reuse: bool = False) -> tuple[float, Counter, int]:
    counter = Counter()
    event.listen(engine, "before_cursor_execute", counter)
    try:
        started = time.perf_counter()
        with transaction(engine) as session, sections_counted(counter):
            result = sweep(session, NOW, counted(counter), reuse=reuse)
        seconds = time.perf_counter() - started
    finally:
        event.remove(engine, "before_cursor_execute", counter)
    return seconds, counter, len(result.inserted)


def measure(kind: str, size: int, postgres_url: str) -> SweepFigure:
    with fresh_database(kind, postgres_url) as engine:
        rows = fill(engine, size)
        if engine.dialect.name == "postgresql":
            with engine.begin() as connection:
                connection.execute(text("ANALYZE"))
        refresh_statistics(engine)  # SQLite's, as the scheduler keeps them (without, it drove a one-program pass
        # through the open items of every program)
        seconds, counter, inserted = one_sweep(engine)
        again, again_counter, _ = one_sweep(engine)
        reused = [one_sweep(engine, reuse=True) for _ in range(5)]
        changed = [after_one_change(engine, n) for n in range(5)]
        midnight = min((zone_midnight(engine, reuse=True) for _ in range(3)), key=lambda m: m.seconds)
        midnight_full = min((zone_midnight(engine, reuse=False) for _ in range(3)), key=lambda m: m.seconds)
        after = {(at, reuse): min((caught_up(engine, at, reuse) for _ in range(3)), key=lambda m: m.seconds)
                 for at, reuse in ((UTC_MIDNIGHT, True), (UTC_MIDNIGHT, False), (HOURLY, True))}
        floor = min(floor_seconds(engine) for _ in range(5))
    return SweepFigure(kind, size, rows, seconds, counter.total, inserted, again, again_counter.total,
                       min(r[0] for r in reused), reused[0][1].total, min(c[0] for c in changed), changed[0][1].total,
                       floor, counter.by_rule, counter.seconds_by_rule, midnight, midnight_full,
                       after[(UTC_MIDNIGHT, True)], after[(UTC_MIDNIGHT, False)], after[(HOURLY, True)])


def zone_midnight(engine: Engine, reuse: bool) -> Midnight:
    """A pass at `MIDNIGHT`, after the ones at `NOW`, rolled back (the next one starts from the same state)."""
    counter = Counter()
    event.listen(engine, "before_cursor_execute", counter)
    try:
        with transaction(engine) as session, sections_counted(counter):
            started = time.perf_counter()
            result = sweep(session, MIDNIGHT, counted(counter), reuse=reuse)
            seconds = time.perf_counter() - started
            session.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", counter)
    return Midnight(seconds, counter.total, len(result.inserted), result.cancelled)


def caught_up(engine: Engine, at: datetime, reuse: bool) -> Midnight:
    """A pass at `at` after the scheduler's pass ten minutes before (the midnights and slices since the last
    committed pass caught up, untimed), both rolled back."""
    counter = Counter()
    with transaction(engine) as session:
        sweep(session, at - timedelta(minutes=10), RULES, reuse=True)
        event.listen(engine, "before_cursor_execute", counter)
        try:
            with sections_counted(counter):
                started = time.perf_counter()
                result = sweep(session, at, counted(counter), reuse=reuse)
                seconds = time.perf_counter() - started
        finally:
            event.remove(engine, "before_cursor_execute", counter)
        session.rollback()
    return Midnight(seconds, counter.total, len(result.inserted), result.cancelled)


def after_one_change(engine: Engine, n: int) -> tuple[float, Counter, int]:
    """The scheduler's pass after someone is granted a role in one program (audited; a role no message
    addresses, so the pass has nothing new to send): the rules asked about that program alone."""
    with transaction(engine) as session:
        program = session.exec(select(Program).order_by(col(Program.id)).limit(1)).first()
        assert program is not None
        programs.add_member(session, program, f"UBENCH{n}", Role.regulatory, actor=SYSTEM, now=NOW)
    return one_sweep(engine, reuse=True)


def floor_seconds(engine: Engine) -> float:
    """A transaction reading one row by its key: the least any pass costs on this database."""
    started = time.perf_counter()
    with transaction(engine) as session:
        session.execute(text("SELECT seq FROM audit_head WHERE id = 1")).first()
    return time.perf_counter() - started


def run(postgres_url: str, sizes=SIZES, databases=("sqlite", "postgresql"), log=print) -> list[SweepFigure]:
    figures = []
    for kind in databases:
        for size in sizes:
            log(f"sweep: {kind} {size}x …")
            figure = measure(kind, size, postgres_url)
            log(f"  {figure.seconds:.2f} s, {figure.statements} statements, {figure.inserted} queued; "
                f"again {figure.again_seconds:.2f} s, {figure.again_statements} statements; "
                f"reused {figure.reused_seconds * 1000:.1f} ms, {figure.reused_statements} statements; "
                f"after one change {figure.changed_seconds * 1000:.1f} ms, {figure.changed_statements} statements; "
                f"floor {figure.floor_seconds * 1000:.1f} ms")
            for name, at in (("Singapore's midnight", figure.midnight), ("in full", figure.midnight_full),
                             ("after the UTC midnight", figure.utc_midnight), ("in full", figure.utc_midnight_full),
                             ("an hour's slice alone", figure.hourly)):
                if at is not None:
                    log(f"  {name}: {at.seconds * 1000:.1f} ms, {at.statements} statements, {at.queued} queued, "
                        f"{at.cancelled} cancelled")
            figures.append(figure)
    return figures


def per_row_rules(figures: list[SweepFigure]) -> list[str]:
    """Rules whose statement count grew with the portfolio on some database."""
    found = set()
    for kind in {f.database for f in figures}:
        mine = sorted((f for f in figures if f.database == kind), key=lambda f: f.size)
        for small, big in zip(mine, mine[1:], strict=False):
            for name, count in big.by_rule.items():
                if name != "sweep" and count > small.by_rule.get(name, 0) + 2:
                    found.add(name)
    return sorted(found)
