"""Shared fixtures: one migrated database per test session (SQLite by default, PostgreSQL when
CMO_TEST_DATABASE_URL says so), wiped before each test; data is built through store services. Documents
go to a local folder and to a real S3 server (`files`, parametrised)."""

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


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory):
    """SeaweedFS serving S3 on 127.0.0.1: started by the first test that needs it, stopped at the end."""
    from tests.s3_server import SeaweedS3

    server = SeaweedS3(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.stop()


@pytest.fixture(params=["local", "s3"])
def files(request: pytest.FixtureRequest, tmp_path):
    """The document store, once a local folder and once a bucket prefix of the real S3 server."""
    from store.storage import LocalStore

    if request.param == "local":
        return LocalStore(tmp_path / "files")
    return request.getfixturevalue("s3_server").store()


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
