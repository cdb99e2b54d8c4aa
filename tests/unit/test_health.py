"""`/healthz` answers at once while another process holds SQLite's write lock (a long import): it neither waits
for the lock (SQLite's busy timeout is 30 s on the command line) nor holds it; it reports the stalled write path."""

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
        checker.join(timeout=5)  # a check that waited for the lock would take SQLite's 30 s busy timeout
        assert answers == ["503 Service Unavailable"]  # the write path is stalled, and /healthz says so
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        checker.join(timeout=35)
    _health(engine, lambda status, _headers: answers.append(status))
    assert answers[-1] == "200 OK"  # the lock released: healthy again
    engine.dispose()
