"""Shared fixtures: one migrated database per test session (SQLite by default, PostgreSQL when
CMO_TEST_DATABASE_URL says so), wiped before each test; data is built through store services."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete

from store.audit import AuditHead
from store.db import make_engine, transaction
from store.migrate import upgrade
from store.models import metadata

NOW = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)  # a Monday


@pytest.fixture(scope="session")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("CMO_TEST_DATABASE_URL") or f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    upgrade(url)
    return url


def wipe(engine) -> None:
    with transaction(engine) as session:
        for table in reversed(metadata.sorted_tables):
            session.exec(delete(table))  # type: ignore[call-overload]
        session.add(AuditHead())  # as the migration leaves it: the chain's head exists before the first write


@pytest.fixture
def engine(db_url: str):
    engine = make_engine(db_url)
    wipe(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine):
    with transaction(engine) as session:
        yield session


def pytest_terminal_summary(terminalreporter):
    from tests.hardening import report

    if report.COUNTS:
        terminalreporter.write_line(report.line())
