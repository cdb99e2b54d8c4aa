"""`/healthz` answers while another process holds SQLite's write lock (a long import): it takes no lock."""

from __future__ import annotations

import sqlite3
import threading

from bot.server import _health
from store.db import make_engine


def test_healthz_does_not_wait_for_sqlite_write_lock(tmp_path):
    path = tmp_path / "busy.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # what a long import in another process holds
    writer.execute("INSERT INTO t VALUES (1)")
    answers: list[str] = []
    checker = threading.Thread(target=lambda: _health(engine, lambda status, _headers: answers.append(status)),
                               daemon=True)
    try:
        checker.start()
        checker.join(timeout=5)  # today's check waits up to SQLite's 30 s busy timeout for the lock
        assert answers == ["200 OK"]
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        checker.join(timeout=35)
        engine.dispose()
