"""Thread safety and bounded waits: shared holiday calendars, a pool for every listener thread, and a busy
database answered "busy, try again" (never a crash) before Slack's 3 seconds; a long import lets other
audited writers through; /healthz tells a stalled write path."""

from __future__ import annotations

import json
import sys
import threading
import time

import holidays
from sqlmodel import Session

from bot.app import LISTENER_THREADS
from bot.server import _health
from commands import boundary
from commands.forms import BUSY_FIELD, submit
from store import audit, calendar, programs
from store.db import SERVING_WAIT, make_engine, transaction
from store.onboarding import importing
from tests import factories
from tests.conftest import NOW
from tests.unit.test_concurrent_writers import ADMIN, at_once
from tests.unit.test_importing import GRANTS  # the generic importer's test kind


def test_a_shared_calendar_loading_years_never_answers_business_day_for_a_holiday():
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # threads take turns often, as on a busy server
    try:
        for attempt in range(5):  # fresh calendar objects; each thread asks about the holidays of another year
            calendar._calendar.cache_clear()
            calendar.is_business_day.cache_clear()  # answers kept from earlier tests would skip the look-ups
            years = list(range(2031 + 8 * attempt, 2039 + 8 * attempt))
            days = [sorted(d for d in holidays.country_holidays("US", years=y) if d.weekday() < 5) for y in years]
            answers = at_once(lambda i, days=days: [calendar.is_business_day(d, "US") for d in days[i]], count=8)
            assert answers == [[False] * len(d) for d in days], answers
    finally:
        sys.setswitchinterval(interval)


def test_every_listener_thread_can_hold_a_connection_at_once(db_url):
    engine = make_engine(db_url, wait=SERVING_WAIT)
    held = [engine.connect() for _ in range(LISTENER_THREADS + 2)]  # + the scheduler's two jobs
    try:
        assert len(held) == LISTENER_THREADS + 2
    finally:
        for connection in held:
            connection.close()
        engine.dispose()


def test_an_exhausted_pool_is_busy_try_again_quickly(db_url):
    engine = make_engine(db_url, wait=SERVING_WAIT)
    held = []
    try:
        while True:  # take every connection the pool has
            started = time.monotonic()
            try:
                held.append(engine.connect())
            except Exception as exc:  # the pool refused one more
                waited, error = time.monotonic() - started, exc
                break
        assert waited < 3, waited
        answer = boundary.explain(error)
        assert "busy" in answer and "try again" in answer and "Something went wrong" not in answer
    finally:
        for connection in held:
            connection.close()
        engine.dispose()


class _Ack:
    def __init__(self):
        self.calls: list[dict] = []

    def __call__(self, **kwargs):
        self.calls.append(kwargs)


def _held_chain(engine) -> tuple[Session, threading.Event]:
    """Another writer holding the audit chain's head (SQLite: the write lock) until released."""
    session = Session(engine)
    audit.lock(session)
    return session, threading.Event()


def test_a_form_meeting_a_held_lock_is_answered_busy_on_the_form_before_slack_gives_up(engine, db_url):
    serving = make_engine(db_url, wait=SERVING_WAIT)
    holder, _ = _held_chain(engine)
    ack = _Ack()
    view = {"blocks": [{"block_id": "code"}], "state": {"values": {"code": {"a": {"type": "plain_text_input",
                                                                                   "value": "BUSY-001"}}}}}

    def create(form) -> int:
        with transaction(serving) as session:
            return programs.create(session, actor=ADMIN, now=NOW, code=form.code, customer="Acme").id

    from pydantic import BaseModel

    class Form(BaseModel):
        code: str

    started = time.monotonic()
    try:
        result = submit(ack, view, Form, create, fallback="code")
    finally:
        holder.rollback()
        holder.close()
        serving.dispose()
    assert time.monotonic() - started < 3
    assert result is None and ack.calls == [{"response_action": "errors", "errors": {"code": BUSY_FIELD}}]
    with transaction(engine) as session:
        assert programs.by_code(session, "BUSY-001") is None


def test_a_long_import_lets_other_audited_writes_through(engine, db_url):
    with transaction(engine) as session:
        program = factories.program(session, NOW, "ACME-001", members={})
    rows = "\n".join(f"U{i:04d};stability;2026-01-01;;" for i in range(3 * importing.CHUNK))
    content = ("Slack id;Function;Since;Guest;Comment\n" + rows + "\n").encode()
    serving = make_engine(db_url, wait=SERVING_WAIT)
    outcome: list[object] = []

    def other_writer() -> None:
        try:
            with transaction(serving) as session:
                outcome.append(programs.add_member(session, session.get(programs.Program, program.id), "UOTHER",
                                                   programs.Role.regulatory, actor=ADMIN, now=NOW))
        except Exception as exc:  # what the other person would have met
            outcome.append(exc)

    def progress(items, total):
        for number, item in enumerate(items):
            if number == importing.CHUNK:  # mid-file, after the first chunk
                writer = threading.Thread(target=other_writer)
                writer.start()
                writer.join(timeout=10)
            yield item

    report = importing.run(engine, kind=GRANTS, content=content, file_name="grants.csv", actor=ADMIN, now=NOW,
                           program="ACME-001", progress=progress)
    serving.dispose()
    assert outcome == [True]
    assert len(report.imported) == 3 * importing.CHUNK
    with transaction(engine) as session:
        assert audit.verify(session).ok


def test_healthz_reports_a_stalled_write_path(engine, db_url):
    serving = make_engine(db_url, wait=SERVING_WAIT)
    def health() -> tuple[str, dict]:
        """What GET /healthz answers (bot.server's route calls this with the serving engine)."""
        statuses: list[str] = []
        body = b"".join(_health(serving, lambda status, headers: statuses.append(status)))
        return statuses[0], json.loads(body)

    try:
        assert health() == ("200 OK", {"ok": True})
        holder, _ = _held_chain(engine)
        try:
            started = time.monotonic()
            status, body = health()
            assert time.monotonic() - started < 3
        finally:
            holder.rollback()
            holder.close()
        assert status.startswith("503") and body == {"ok": False, "error": "write path stalled"}
        assert health() == ("200 OK", {"ok": True})
    finally:
        serving.dispose()
