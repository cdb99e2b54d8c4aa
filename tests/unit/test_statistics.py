"""The planner's statistics upkeep: on SQLite the scheduler (at start and hourly) and `cmo-bot import` leave
sqlite_stat1 filled, so the views' queries are planned from the portfolio's real sizes; on PostgreSQL it does
nothing (autovacuum analyzes there). Runs on whichever database the suite runs on, and says what it expects
of each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from scheduler import jobs
from store.db import refresh_statistics, transaction
from tests import factories

NOW = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
MAIN_TABLES = {"program", "program_member", "agreement", "batch"}


def _portfolio(engine) -> None:
    with transaction(engine) as session:
        factories.portfolio(session, NOW, range(3))


def _analyzed_tables(engine) -> set[str]:
    with engine.connect() as connection:
        if not connection.exec_driver_sql(
                "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").scalar():
            return set()
        return set(connection.execute(text("SELECT DISTINCT tbl FROM sqlite_stat1")).scalars())


def _clear_statistics(engine) -> None:
    """The shared test database may have been analyzed by an earlier test: start from none."""
    with engine.begin() as connection:
        if connection.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").scalar():
            connection.exec_driver_sql("DELETE FROM sqlite_stat1")


def test_the_upkeep_leaves_statistics_on_sqlite_and_does_nothing_on_postgresql(engine):
    _portfolio(engine)
    if engine.dialect.name == "sqlite":
        _clear_statistics(engine)
        assert refresh_statistics(engine) is True
        assert MAIN_TABLES <= _analyzed_tables(engine)
    else:
        assert refresh_statistics(engine) is False  # and it did not fail


def test_the_scheduler_refreshes_statistics_at_start_and_hourly(engine):
    alerts: list[str] = []
    scheduler = jobs.planned(engine, client=None, now=lambda: NOW, alert=alerts.append)  # type: ignore[arg-type]
    job = scheduler.get_job("statistics")
    assert job is not None
    assert job.trigger.interval == timedelta(hours=1)
    assert job.next_run_time is not None  # at once, when the scheduler starts
    _portfolio(engine)
    if engine.dialect.name == "sqlite":
        _clear_statistics(engine)
    job.func()  # what the scheduler runs, without waiting for its clock
    assert alerts == []
    if engine.dialect.name == "sqlite":
        assert MAIN_TABLES <= _analyzed_tables(engine)
