"""A feed kept in parts, one per program (`store.calendar_feed`): the same statements whatever the number of
programs, only the changed program gathered again, and always the bytes of a feed rendered whole — a valid
iCalendar that `icalendar` parses back — also when time alone changed an event."""

from __future__ import annotations

import logging
import threading
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar
from sqlalchemy import event
from sqlmodel import select

from bot.calendar_route import calendar_route, warm
from bot.clock import Clock
from bot.settings import Settings
from commands.deps import Deps
from store import audit, feeds, programs
from store.calendar_feed import FeedCache, render
from store.db import make_engine, transaction
from store.programs import Role
from store.stability.service import StabilityPull
from store.submissions import service as subs
from tests import factories
from tests.calendar_factories import every_kind_of_date
from tests.conftest import NOW

KEY = "xoxb-unit-key"
TODAY = NOW.date()


def _program(session, code: str) -> programs.Program:
    """A program with one date of every kind the feed holds, a timed review call among them."""
    program = factories.program(session, NOW, code, channel=f"C{code.replace('-', '')}",
                                members={Role.program_manager: ["UPM1"]})
    every_kind_of_date(session, program, calls=[datetime(2027, 3, 16, 10, 0)])
    return program


def _move_due_date(engine, code: str, number: int) -> None:
    with transaction(engine) as session:
        program = programs.by_code(session, code)
        submission = session.exec(select(subs.Submission).where(subs.Submission.program_id == program.id)).one()
        entry = subs.item(session, submission, number)
        subs.set_due(session, entry=entry, due_on=entry.due_on - timedelta(days=1), actor=factories.ADMIN, now=NOW)


def _statements(engine, fetch) -> tuple[int, object]:
    seen: list[int] = []
    listener = lambda *args: seen.append(1)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        with transaction(engine) as session:
            found = fetch(session)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return len(seen), found


def _fetches(engine, user: str, code: str, number: int) -> list[int]:
    """The statements of one feed's fetches: first; after a due date moved in one program; after an audit row
    naming no program; on the next day; unchanged."""
    with transaction(engine) as session:
        token = feeds.link(session, user_id=user, program_id=None, key=KEY, now=NOW)
    cache = FeedCache()
    counts = [_statements(engine, lambda s: render(s, token, NOW, cache))[0]]
    _move_due_date(engine, code, number)
    counts.append(_statements(engine, lambda s: render(s, token, NOW, cache))[0])
    with transaction(engine) as session:
        audit.record(session, actor=audit.SYSTEM, action="test", entity="test", entity_id="1", now=NOW)
    counts.append(_statements(engine, lambda s: render(s, token, NOW, cache))[0])
    counts.append(_statements(engine, lambda s: render(s, token, NOW + timedelta(days=1), cache))[0])
    counts.append(_statements(engine, lambda s: render(s, token, NOW + timedelta(days=1), cache))[0])
    return counts


def test_statements_of_a_feed_do_not_grow_with_its_programs(engine):
    with transaction(engine) as session:
        first = _program(session, "ACME-001")
        programs.add_member(session, first, "USMALL", Role.program_manager, actor=factories.ADMIN, now=NOW)
        for code in ("BETA-001", "GAMMA-001", "DELTA-001", "ACME-002"):
            programs.add_member(session, _program(session, code), "UBIG", Role.program_manager,
                                actor=factories.ADMIN, now=NOW)
        programs.add_member(session, first, "UBIG", Role.program_manager, actor=factories.ADMIN, now=NOW)
    small = _fetches(engine, "USMALL", "ACME-001", 1)  # a feed of one program
    big = _fetches(engine, "UBIG", "DELTA-001", 2)  # a feed of five
    assert small == big
    assert big[-1] < big[1]  # unchanged: nothing gathered again


def test_feed_kept_in_parts_is_the_feed_rendered_whole(engine):
    with transaction(engine) as session:
        for code in ("ACME-001", "BETA-001", "GAMMA-001"):
            _program(session, code)
        token = feeds.link(session, user_id="UPM1", program_id=None, key=KEY, now=NOW)
    cache = FeedCache()
    with transaction(engine) as session:
        first = render(session, token, NOW, cache)
    _move_due_date(engine, "BETA-001", 1)
    with transaction(engine) as session:  # GAMMA-001 leaves the person's feed
        gamma = programs.by_code(session, "GAMMA-001")
        programs.remove_member(session, gamma, "UPM1", Role.program_manager, actor=factories.ADMIN, now=NOW)
    with transaction(engine) as session:
        kept = render(session, token, NOW, cache)
        whole = render(session, token, NOW, None)
    assert first is not None and kept is not None and whole is not None
    assert kept.body == whole.body and kept.etag == whole.etag and kept.events == whole.events
    assert kept.body != first.body and kept.etag != first.etag
    calendar = Calendar.from_ical(kept.body)
    found = {str(e["UID"]): e for e in calendar.walk("VEVENT")}
    assert len(found) == kept.events
    assert {str(e["SUMMARY"]).split(" ")[0] for e in found.values()} == {"ACME-001", "BETA-001"}
    assert [str(z["TZID"]) for z in calendar.walk("VTIMEZONE")] == ["America/New_York"]
    with transaction(engine) as session:
        moved = subs.item(session, session.exec(select(subs.Submission).where(
            subs.Submission.program_id == programs.by_code(session, "BETA-001").id)).one(), 1)
    event_ = found[f"submission-item-{moved.id}@cmo-bot"]
    assert event_.decoded("DTSTART") == moved.due_on and int(event_["SEQUENCE"]) == 1
    assert isinstance(event_.decoded("DTSTART"), date)


def test_warming_keeps_the_latest_feeds_so_their_first_fetch_gathers_nothing(engine):
    with transaction(engine) as session:
        _program(session, "ACME-001")
        beta = _program(session, "BETA-001")
        programs.add_member(session, beta, "UPM2", Role.program_manager, actor=factories.ADMIN, now=NOW)
        older = feeds.link(session, user_id="UPM1", program_id=None, key=KEY, now=NOW)
        newer = feeds.link(session, user_id="UPM2", program_id=None, key=KEY, now=NOW + timedelta(minutes=1))
        feeds.link(session, user_id="UPM1", program_id=beta.id, key="a key since rotated",
                   now=NOW + timedelta(minutes=2))  # the latest, but its URL opens nothing under KEY
    cache = FeedCache(size=2)
    assert warm(Deps(engine, Settings(slack_bot_token=KEY), Clock(NOW.isoformat())), cache) == 1
    warmed, kept = _statements(engine, lambda s: render(s, newer, NOW, cache))
    unchanged, _ = _statements(engine, lambda s: render(s, newer, NOW, cache))
    cold, _ = _statements(engine, lambda s: render(s, older, NOW, cache))  # beyond the two latest: not warmed
    with transaction(engine) as session:
        whole = render(session, newer, NOW, None)
    assert kept is not None and whole is not None and kept.body == whole.body
    assert warmed == unchanged < cold


def test_a_planned_pull_is_missed_the_day_after_its_window_closed_with_nothing_recorded(engine):
    with transaction(engine) as session:
        program = _program(session, "ACME-001")
        token = feeds.link(session, user_id="UPM1", program_id=None, key=KEY, now=NOW)
        pull = session.exec(select(StabilityPull).where(StabilityPull.program_id == program.id,
                                                        StabilityPull.closes_on >= TODAY)
                            .order_by(StabilityPull.closes_on)).first()  # type: ignore[arg-type]
    assert pull is not None and pull.pulled_on is None
    uid = f"pull-{pull.id}@cmo-bot"
    cache = FeedCache()
    summaries = []
    asked: list[str] = []
    listener = lambda conn, cursor, statement, *args: asked.append(statement)  # noqa: E731
    days = [pull.closes_on + timedelta(days=n) for n in (-1, 0, 1)]  # in the program's zone, New York
    for day in days:
        at = datetime.combine(day, time(12), ZoneInfo("America/New_York"))
        asked.clear()
        event.listen(engine, "before_cursor_execute", listener)
        try:
            with transaction(engine) as session:
                kept = render(session, token, at, cache)
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        if day != days[0]:  # the kept part served, the pull derived again: no query gathered the records
            assert not any("stability_pull" in statement for statement in asked)
        with transaction(engine) as session:
            whole = render(session, token, at, None)
        assert kept is not None and whole is not None and kept.body == whole.body
        summaries.append(str({str(e["UID"]): e for e in Calendar.from_ical(kept.body).walk("VEVENT")}[uid]["SUMMARY"]))
    assert [s.rsplit("(", 1)[1] for s in summaries] == ["planned)", "planned)", "missed)"]


def test_a_new_process_serves_the_renderings_kept_in_the_ledger_and_renders_only_what_changed(engine):
    with transaction(engine) as session:
        _program(session, "ACME-001")
        token = feeds.link(session, user_id="UPM1", program_id=None, key=KEY, now=NOW)
    with transaction(engine) as session:
        first = render(session, token, NOW, FeedCache())

    def writes() -> tuple[list[int], object]:
        """The rows each write statement of a fetch in a new process (an empty cache) carried."""
        seen: list[int] = []

        def listener(conn, cursor, statement, parameters, context, executemany):
            if statement.lstrip().upper().startswith(("INSERT", "UPDATE")):
                seen.append(len(parameters) if executemany else 1)
        event.listen(engine, "before_cursor_execute", listener)
        try:
            with transaction(engine) as session:
                found = render(session, token, NOW, FeedCache())
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return seen, found

    written, again = writes()
    assert written == [] and again is not None and first is not None and again.body == first.body
    _move_due_date(engine, "ACME-001", 1)
    written, moved = writes()
    assert written == [1, 1]  # that event's SEQUENCE bumped, then its VEVENT rendered again and kept
    assert moved is not None and moved.body != first.body and moved.events == first.events


def test_warming_with_the_database_away_is_one_line_not_a_traceback(tmp_path, caplog):
    away = make_engine(f"sqlite:///{tmp_path / 'missing' / 'no.db'}")  # its folder does not exist: no connection
    with caplog.at_level(logging.INFO, logger="bot.calendar_route"):
        assert warm(Deps(away, Settings(slack_bot_token=KEY), Clock(NOW.isoformat())), FeedCache()) == 0
    assert [r.getMessage() for r in caplog.records] == ["calendar feeds not warmed: OperationalError"]
    assert not any(r.exc_info for r in caplog.records)


def test_serving_on_sqlite_warms_no_feed_so_no_command_waits_for_its_write_lock(tmp_path, caplog):
    sqlite = make_engine(f"sqlite:///{tmp_path / 'bot.db'}")  # every transaction there takes the one write lock
    cache = FeedCache()
    with caplog.at_level(logging.INFO, logger="bot.calendar_route"):
        calendar_route(Deps(sqlite, Settings(slack_bot_token=KEY), Clock(NOW.isoformat())), warmed=True, cache=cache)
    assert [r.getMessage() for r in caplog.records] == [
        "calendar feeds not warmed on SQLite: each is gathered at its first fetch"]
    assert cache.get("any") is None and not any(t.name == "calendar-warm-up" for t in threading.enumerate())
