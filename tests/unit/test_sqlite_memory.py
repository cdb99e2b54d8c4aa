"""SQLite's memory in a process is bounded as a whole (store.db.SQLITE_HEAP): a serving process whose listener
threads each hold a connection would otherwise add one page cache per thread (bench/memory.py)."""

from __future__ import annotations

from store.db import SQLITE_HEAP, make_engine


def test_every_sqlite_engine_bounds_the_process_sqlite_memory(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'bounded.db'}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA soft_heap_limit").scalar() == SQLITE_HEAP
    finally:
        engine.dispose()
