from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

from scheduler.delivery import claim
from scheduler.sweep import sweep
from store import digest
from store.outbox import Due, Outbox, Status, not_before
from store.programs import Program
from tests import factories
from tests.conftest import NOW


def _rule(*dues_by_key):
    """A due rule yielding the given Due objects, whatever the instant."""
    return lambda session, now: list(dues_by_key)


def _due(program: Program, key: str = "thing:1:reminder", **kw) -> Due:
    return Due(key=key, program_id=program.id, subject="thing:1", due_on=kw.pop("due_on", date(2026, 11, 2)),
               text="remember", to_users=("UPM1",), **kw)


def test_second_sweep_inserts_nothing(session):
    program = factories.program(session, NOW)
    rule = _rule(_due(program))
    first = sweep(session, NOW, [rule])
    second = sweep(session, NOW, [rule])
    assert len(first.inserted) == 2  # the channel and the manager's DM
    assert second.inserted == [] and second.cancelled == 0
    targets = sorted(r.target for r in session.exec(select(Outbox)))
    assert targets == ["CACME001", "UPM1"]


def test_no_longer_due_is_cancelled_not_sent(session):
    program = factories.program(session, NOW)
    sweep(session, NOW, [_rule(_due(program))])
    result = sweep(session, NOW, [_rule()])
    assert result.cancelled == 2
    assert {r.status for r in session.exec(select(Outbox))} == {Status.cancelled}


def test_nine_local_across_dst():
    ny = ZoneInfo("America/New_York")
    assert not_before(date(2026, 3, 7), ny) == datetime(2026, 3, 7, 14, 0, tzinfo=UTC)  # EST
    assert not_before(date(2026, 3, 8), ny) == datetime(2026, 3, 8, 13, 0, tzinfo=UTC)  # EDT
    assert not_before(date(2026, 11, 1), ny) == datetime(2026, 11, 1, 14, 0, tzinfo=UTC)


def test_nothing_found_due_at_night_goes_out_before_nine():
    berlin = ZoneInfo("Europe/Berlin")  # CET: 09:00 local = 08:00 UTC
    due = date(2026, 11, 2)
    nine = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    assert not_before(due, berlin, datetime(2026, 11, 1, 23, 30, tzinfo=UTC)) == nine  # 00:30 local, found early
    assert not_before(due, berlin, datetime(2026, 11, 2, 13, 0, tzinfo=UTC)) == nine  # the afternoon: at once
    # a catch-up found at 23:00 local (an outage, a late record) waits for the next morning
    assert not_before(due, berlin, datetime(2026, 11, 2, 22, 0, tzinfo=UTC)) == datetime(2026, 11, 3, 8, 0,
                                                                                           tzinfo=UTC)
    assert not_before(date(2026, 10, 30), berlin, datetime(2026, 11, 2, 3, 0, tzinfo=UTC)) == nine  # 04:00 local


def test_urgent_alerts_wait_for_the_working_day_and_then_go_first(session):
    program = factories.program(session, NOW, timezone="Europe/Berlin")
    urgent = _due(program, "thing:1:expiry", urgent=True)
    sweep(session, datetime(2026, 11, 1, 23, 5, tzinfo=UTC), [_rule(urgent, _due(program))])  # 00:05 local
    rows = session.exec(select(Outbox)).all()
    assert {r.not_before for r in rows} == {datetime(2026, 11, 2, 8, 0, tzinfo=UTC)}
    session.commit()
    engine = session.get_bind()
    assert claim(engine, datetime(2026, 11, 2, 7, 59, tzinfo=UTC)) == []  # 08:59 local: nothing
    claimed = claim(engine, datetime(2026, 11, 2, 8, 0, tzinfo=UTC))
    assert [row.key for row, _ in claimed][:2] == ["thing:1:expiry", "thing:1:expiry"]


def test_program_without_channel_gets_only_dms(session):
    program = factories.program(session, NOW, channel=None)
    sweep(session, NOW, [_rule(_due(program))])
    assert [r.target for r in session.exec(select(Outbox))] == ["UPM1"]


def test_digest_periods():
    monday, thursday = date(2026, 11, 2), date(2026, 11, 5)
    assert digest.period_start("weekly", thursday) == monday
    assert digest.period_start("monthly", thursday) == date(2026, 11, 1)
    assert digest.period_start("off", thursday) is None
    # biweekly: every other Monday from Monday 5 January 2026 (26 Oct is 42 weeks on → a digest Monday)
    assert digest.period_start("biweekly", thursday) == date(2026, 10, 26)
    assert digest.period_start("biweekly", date(2026, 11, 12)) == date(2026, 11, 9)


def test_biweekly_digests_keep_the_fortnight_across_53_week_iso_years():
    # Hand-listed fortnights: 2026 and 2032 have an ISO week 53. Through the turn of each year the digest
    # Mondays stay 14 days apart and each day maps to the Monday on or before it within its fortnight.
    fortnights = {
        2026: [date(2026, 12, 7), date(2026, 12, 21), date(2027, 1, 4), date(2027, 1, 18)],
        2032: [date(2032, 12, 13), date(2032, 12, 27), date(2033, 1, 10), date(2033, 1, 24)],  # 27 Dec: ISO week 53
    }
    for mondays in fortnights.values():
        for start in mondays:
            for offset in range(14):
                assert digest.period_start("biweekly", start + timedelta(days=offset)) == start
    # the same holds on every day of ten years: each period starts on a Monday, 14 days after the previous
    day, starts = date(2025, 1, 1), []
    while day < date(2035, 1, 1):
        start = digest.period_start("biweekly", day)
        assert start.weekday() == 0 and 0 <= (day - start).days < 14
        if not starts or starts[-1] != start:
            starts.append(start)
        day += timedelta(days=1)
    assert {(b - a).days for a, b in zip(starts, starts[1:], strict=False)} == {14}


def test_one_digest_per_period(session):
    factories.program(session, NOW)
    first = sweep(session, NOW, [digest.due])
    again = sweep(session, datetime(2026, 11, 6, 15, tzinfo=UTC), [digest.due])
    next_week = sweep(session, datetime(2026, 11, 9, 15, tzinfo=UTC), [digest.due])
    assert (len(first.inserted), len(again.inserted), len(next_week.inserted)) == (1, 0, 1)
    row = session.exec(select(Outbox).order_by(Outbox.id)).first()
    assert row.key.endswith(":digest:2026-11-02") and "ACME-001 status" in row.text
