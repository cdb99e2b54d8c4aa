"""Real concurrent writers (threads, each with its own connection) on the test database: PostgreSQL when
CMO_TEST_DATABASE_URL names one, else SQLite. "Create if missing" must never end in a duplicate-key failure."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import delete
from sqlmodel import select

from store import audit, programs
from store.audit import Actor, AuditHead
from store.db import make_engine, transaction
from store.errors import Invalid
from store.migrate import upgrade
from tests.conftest import NOW

ADMIN = Actor("UADMIN", "Ada Admin", is_admin=True)
WRITERS = 6


def at_once(work: Callable[[int], object], count: int = WRITERS) -> list[object]:
    """Run `work(i)` in `count` threads released together; each result or the exception it raised."""
    start = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # collected: the test asserts on what each writer saw
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def create(engine, code: str) -> int:
    with transaction(engine) as session:
        return programs.create(session, actor=ADMIN, now=NOW, code=code, customer="Acme").id


def test_the_migration_creates_the_chain_head(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade(url)
    engine = make_engine(url)
    with transaction(engine) as session:
        head = session.get(AuditHead, 1)
    engine.dispose()
    assert head is not None and head.seq == 0 and head.hash == audit.GENESIS


def test_first_writers_on_a_headless_chain_do_not_race(engine):
    with transaction(engine) as session:
        session.exec(delete(AuditHead))  # type: ignore[call-overload]  # tables made without the migration
    results = at_once(lambda i: create(engine, f"FIRST-{i}"))
    assert [r for r in results if isinstance(r, Exception)] == []
    with transaction(engine) as session:
        report = audit.verify(session)
        assert session.get(AuditHead, 1).seq == WRITERS
    assert report.ok and report.rows == WRITERS


def test_the_same_program_created_at_once_is_created_once(engine):
    results = at_once(lambda i: create(engine, "SAME-001"))
    created = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, Invalid)]
    assert len(created) == 1, results
    assert len(refused) == WRITERS - 1 and all("already exists" in str(r) for r in refused), results
    with transaction(engine) as session:
        assert len(session.exec(select(programs.Program)).all()) == 1
        assert audit.verify(session).ok


def test_the_same_role_granted_at_once_is_granted_once(engine):
    program_id = create(engine, "ROLE-001")

    def grant(_: int) -> bool:
        with transaction(engine) as session:
            program = session.get(programs.Program, program_id)
            return programs.add_member(session, program, "UALICE", programs.Role.customer_approver, actor=ADMIN,
                                       now=NOW)

    results = at_once(grant)
    assert sorted(results, key=str) == [False] * (WRITERS - 1) + [True], results
