from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event
from sqlmodel import select

from scheduler.delivery import deliver
from scheduler.sweep import sweep
from store.audit import AuditEntry
from store.db import transaction
from store.outbox import Outbox, Status
from store.stability import results as stability_results
from store.stability import service as stability
from store.stability.rules import SETTLED_AFTER, due, horizons, stages
from tests import factories
from tests.stability_factories import study as make_study

NY = ZoneInfo("America/New_York")
CREATED = datetime(2027, 1, 20, 15, 0, tzinfo=UTC)
RULES = [due]


class FakeSlack:
    def __init__(self):
        self.posts: list[dict] = []

    def chat_postMessage(self, **kw):  # noqa: N802 — the WebClient's name
        self.posts.append(kw)
        return {"channel": kw["channel"], "ts": f"{len(self.posts)}.000"}


def _pass(engine, client, now):
    with transaction(engine) as session:
        sweep(session, now, RULES)
    deliver(engine, client, now)


def test_two_years_of_reminders_exactly_once_at_local_mornings(engine):
    with transaction(engine) as session:
        program = factories.program(session, CREATED)
        study = make_study(session, program, CREATED, time_points={"LT25": [0, 3, 6, 9, 12, 18, 24],
                                                                    "ACC40": [0, 3, 6]})
        pulls = {(p.condition, p.months): p for p in stability.pulls_of(session, study.id)}
        program_id = program.id
    # every pull is made on its date, except: LT25 9 months is never made; LT25 12 months comes late
    actions: dict[date, list] = {date(2028, 2, 20): [pulls[("LT25", 12)]]}
    for key, pull in pulls.items():
        if key not in {("LT25", 9), ("LT25", 12)}:
            actions.setdefault(pull.due_on, []).append(pull)
    client = FakeSlack()
    day = CREATED.date()
    while day <= date(2029, 3, 31):
        now = datetime.combine(day, time(14, 30), tzinfo=UTC)  # after 09:00 New York, winter and summer
        _pass(engine, client, now)
        for pull in actions.get(day, []):
            with transaction(engine) as session:
                program = session.get(factories.Program, program_id)
                stability.record_pull(session, program=program, pull=session.get(stability.StabilityPull, pull.id),
                                      actor=factories.ADMIN, now=now + timedelta(hours=2), pulled_on=day)
        day += timedelta(days=1)

    with transaction(engine) as session:
        rows = list(session.exec(select(Outbox).where(Outbox.status == Status.sent)))
        deviations = {(p.condition, p.months): p.deviation for p in stability.pulls_of(session, study.id)}
        audit_rows = session.exec(select(AuditEntry).where(AuditEntry.entity == "stability_pull"))
        audit_actions = [a.action for a in audit_rows]
    sent = Counter((r.key, r.target) for r in rows)
    assert all(n == 1 for n in sent.values())
    assert len(client.posts) == len(rows)

    expected: dict[str, date] = {}
    for (condition, months), pull in pulls.items():
        for stage, when in stages(pull):
            if stage == "missed" and (condition, months) not in {("LT25", 9), ("LT25", 12)}:
                continue
            if stage != "missed" and (condition, months) == ("LT25", 9) and when > pull.closes_on:
                continue
            expected[f"stability:pull:{pull.id}:{stage}"] = when
    by_key: dict[str, set[str]] = {}
    for row in rows:
        by_key.setdefault(row.key, set()).add(row.target)
        assert row.due_on == expected[row.key], row.key
        local = row.sent_at.astimezone(NY)
        assert local.date() == row.due_on  # sent on its local day, never late
        assert row.not_before == datetime.combine(row.due_on, time(9), tzinfo=NY)  # urgent too: never at night
    assert set(by_key) == set(expected)
    p6, p9, p12 = pulls[("LT25", 6)], pulls[("LT25", 9)], pulls[("LT25", 12)]
    # ±7 days up to 6 months: the notice falls on the window's first day, so one message, not two
    assert f"stability:pull:{p6.id}:window-open" in by_key and f"stability:pull:{p6.id}:notice-7d" not in by_key
    assert expected[f"stability:pull:{p9.id}:window-open"] == date(2027, 10, 17)
    assert expected[f"stability:pull:{p9.id}:notice-7d"] == date(2027, 10, 24)
    assert expected[f"stability:pull:{p9.id}:missed"] == date(2027, 11, 15)
    team = {"CACME001", "USTAB1"}
    assert by_key[f"stability:pull:{p9.id}:notice-7d"] == team
    assert by_key[f"stability:pull:{p9.id}:missed"] == team | {"UPM1", "UQA1"}
    assert by_key[f"stability:pull:{p12.id}:missed"] == team | {"UPM1", "UQA1"}
    missed = next(r for r in rows if r.key.endswith(f"{p9.id}:missed"))
    assert missed.urgent and "Missed stability pull" in missed.text and missed.buttons[0]["label"] == "Mark pulled"
    assert deviations[("LT25", 12)] is True and deviations[("LT25", 6)] is False
    assert audit_actions.count("pulled_out_of_window") == 1 and audit_actions.count("pulled") == 8


def test_recording_cancels_pending_reminders_in_the_same_transaction(session):
    now = datetime(2027, 1, 24, 15, 0, tzinfo=UTC)
    program = factories.program(session, CREATED)
    study = make_study(session, program, CREATED, conditions=("LT25",), time_points={"LT25": [0, 3]})
    sweep(session, now, RULES)
    pending = list(session.exec(select(Outbox).where(Outbox.status == Status.pending)))
    assert {r.key.rsplit(":", 1)[1] for r in pending} == {"notice-7d"} and len(pending) == 2
    pull = stability.find_pull(session, study, "lt25", 0)
    stability.record_pull(session, program=program, pull=pull, actor=factories.ADMIN, now=now + timedelta(days=7),
                          pulled_on=date(2027, 1, 31))
    assert {r.status for r in session.exec(select(Outbox))} == {Status.cancelled}
    assert pull.deviation is False
    assert sweep(session, now + timedelta(days=30), RULES).inserted == []


def test_after_an_outage_only_the_latest_stage_is_sent(session):
    program = factories.program(session, CREATED)
    make_study(session, program, CREATED, conditions=("LT25",), time_points={"LT25": [0, 12]})
    # back on 2028-01-25: the 12-month pull (due 31 Jan 2028) had its window open on 17 Jan and notice on 24 Jan
    sweep(session, datetime(2028, 1, 25, 15, tzinfo=UTC), RULES)
    keys = {r.key.split(":")[-1] for r in session.exec(select(Outbox))}
    assert "notice-7d" in keys and "window-open" not in keys


@pytest.mark.parametrize("zone", ["Asia/Singapore", "America/New_York"])
def test_an_unsent_missed_alert_is_history_from_the_programs_own_midnight(session, zone):
    """`SETTLED_AFTER` after the window closed, counted in the program's days like the stages and the digest's
    missed lines, whatever the UTC day (it counted from the UTC day until Dec 2026: an unsent alert became history
    8 hours before Singapore's midnight, 5 after New York's, and App Home's missed pull with it); that day is the
    rule's horizon."""
    from store.health import Health
    from store.stability.rules import health, owed

    program = factories.program(session, CREATED, timezone=zone)
    study = make_study(session, program, CREATED, conditions=("LT25",), time_points={"LT25": [0, 24]})
    closes = stability.find_pull(session, study, "LT25", 0).closes_on
    last = datetime.combine(closes + SETTLED_AFTER, time(23, 59), tzinfo=ZoneInfo(zone)).astimezone(UTC)
    first = datetime.combine(closes + SETTLED_AFTER + timedelta(days=1), time(0), tzinfo=ZoneInfo(zone)
                             ).astimezone(UTC)
    assert last.date() == first.date()  # the same UTC day: it cannot tell the two apart

    def missed(now: datetime) -> list[str]:
        return [d.key for d in due(session, now) if d.key.endswith(":missed")]

    assert len(missed(last)) == 1 and missed(first) == []
    assert len(owed(session, "USTAB1", [program], last)) == 1 and owed(session, "USTAB1", [program], first) == []
    seen = {at: Health() for at in (last, first)}
    for at, found in seen.items():
        health(session, [program], at, found)
    assert "1 missed pull(s)" in seen[last].fragments[program.id][0]
    assert "missed" not in "".join(seen[first].fragments[program.id])
    assert horizons(session, last, None, {program.id: program}) == {program.id: closes + SETTLED_AFTER
                                                                    + timedelta(days=1)}


def test_statement_count_does_not_grow_with_pulls(engine):
    def count_for(n_studies: int) -> int:
        from tests.conftest import wipe

        wipe(engine)
        with transaction(engine) as session:
            program = factories.program(session, CREATED)
            for i in range(n_studies):
                make_study(session, program, CREATED, code=f"STB-{i + 1:04d}")
        statements = []
        listener = lambda *args: statements.append(1)  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            with transaction(engine) as session:
                list(due(session, datetime(2027, 10, 20, 15, tzinfo=UTC)))
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(statements)

    assert count_for(1) == count_for(6)


def test_results_late_reminder_once_and_stopped_by_results(session):
    now = datetime(2027, 2, 1, 15, tzinfo=UTC)
    program = factories.program(session, CREATED)
    study = make_study(session, program, CREATED, conditions=("LT25",), time_points={"LT25": [0, 3]})
    pull = stability.find_pull(session, study, "LT25", 0)
    stability.record_pull(session, program=program, pull=pull, actor=factories.ADMIN, now=now,
                          pulled_on=date(2027, 1, 31))
    stability.submit_to_lab(session, program=program, pull=pull, actor=factories.ADMIN, now=now, lab="QC lab",
                            sample_ids="S-1, S-2", submitted_on=date(2027, 2, 1), results_due_on=date(2027, 2, 15))
    assert sweep(session, datetime(2027, 2, 15, 15, tzinfo=UTC), RULES).inserted == []
    late = sweep(session, datetime(2027, 2, 16, 15, tzinfo=UTC), RULES)
    assert len(late.inserted) == 2  # the channel and the stability team
    row = session.exec(select(Outbox).where(Outbox.key.like("%results-late"))).first()
    assert row.due_on == date(2027, 2, 16) and "QC lab" in row.text
    rows = [stability_results.ResultRow(2, "STB-0001", "LT25", 0, "Assay", 99.5, "%", 95, 105)]
    stability_results.import_results(session, program=program, actor=factories.ADMIN, now=now, rows=rows)
    assert {r.status for r in session.exec(select(Outbox).where(Outbox.key.like("%results-late")))} == {
        Status.cancelled}
    assert sweep(session, datetime(2027, 2, 20, 15, tzinfo=UTC), RULES).inserted == []


def test_digest_lines_show_upcoming_missed_and_late(session):
    from store.digest import compose
    from store.stability.rules import digest_section

    program = factories.program(session, CREATED)
    study = make_study(session, program, CREATED, conditions=("LT25",), time_points={"LT25": [0, 3, 6]})
    assert digest_section(session, program, date(2027, 1, 10)) == []
    lines = digest_section(session, program, date(2027, 4, 20))
    assert len(lines) == 2 and "missed pull" in lines[0] and "0 months" in lines[0] and "3 months" in lines[1]
    pull = stability.find_pull(session, study, "LT25", 0)
    stability.record_pull(session, program=program, pull=pull, actor=factories.ADMIN,
                          now=datetime(2027, 4, 20, 15, tzinfo=UTC), pulled_on=date(2027, 4, 20))
    stability.submit_to_lab(session, program=program, pull=pull, actor=factories.ADMIN,
                            now=datetime(2027, 4, 20, 15, tzinfo=UTC), lab="QC", sample_ids="S-1",
                            submitted_on=date(2027, 4, 20), results_due_on=date(2027, 4, 25))
    assert pull.deviation is True
    text = compose(session, program, date(2027, 4, 27))
    assert "stability pull" in text and "results overdue for 1 pull" in text and "missed" not in text


def test_home_owed_and_health(session):
    from store.home import health, owed
    from store.stability.rules import owed as stability_owed

    program = factories.program(session, CREATED)
    make_study(session, program, CREATED, conditions=("LT25",), time_points={"LT25": [0, 3, 9]})
    now = datetime(2027, 4, 26, 15, tzinfo=UTC)  # 3-month pull due 30 Apr; the 0-month one was missed
    items = stability_owed(session, "USTAB1", [program], now)
    assert [(i.rank, i.text.startswith(":rotating_light: missed pull")) for i in items] == [(-85, True), (4, False)]
    assert items[0].buttons[0].action_id == "stability_mark_pulled"
    assert stability_owed(session, "UPM1", [program], now) == []
    assert [i.rank for i in owed(session, "USTAB1", [program], now)][:2] == [-85, 4]
    fragments = health(session, [program], now)
    assert "stability: next pull Fri 30 Apr 2027, 1 pull(s) in 14 days, :rotating_light: 1 missed pull(s)" \
        in fragments.fragments[program.id]
    assert fragments.deadlines[program.id] == date(2027, 4, 30)


def test_health_shows_the_next_pull_however_far_ahead(session):
    from store.home import health

    program = factories.program(session, CREATED)
    study = make_study(session, program, CREATED, conditions=("LT25",), time_points={"LT25": [0, 3, 9]})
    now = datetime(2027, 5, 10, 15, tzinfo=UTC)  # the 3-month pull is done; the 9-month one is due 31 Oct 2027
    [three] = [p for p in stability.pulls_of(session, study.id) if p.months == 3]
    stability.record_pull(session, program=program, pull=three, actor=factories.ADMIN, now=now,
                          pulled_on=date(2027, 4, 30))
    fragments = health(session, [program], now)
    assert "stability: next pull Sun 31 Oct 2027, :rotating_light: 1 missed pull(s)" in fragments.fragments[program.id]
    assert fragments.deadlines[program.id] == date(2027, 10, 31)
    [nine] = [p for p in stability.pulls_of(session, study.id) if p.months == 9]
    stability.record_pull(session, program=program, pull=nine, actor=factories.ADMIN,
                          now=datetime(2027, 10, 31, 15, tzinfo=UTC), pulled_on=date(2027, 10, 31))
    assert not any("next pull" in f for f in health(session, [program], now).fragments.get(program.id, []))
