"""The scheduler's reusing sweep (scheduler/sweep.py, `reuse=True`) asks the rules only about the programs whose
answer may have changed, and skips them only when none can have: two years of a portfolio in three time zones,
swept six times a day with people acting in between (in one program at a time, in several, and globally), queue
and send exactly what full sweeps do; a skipped pass reads two rows, and a pass after a change to one program
reads as many statements and rows for 12 programs as for 2."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pyotp
import pytest
from sqlmodel import col, select

from scheduler import sweep as sweeping
from scheduler.delivery import deliver
from scheduler.rules import RULES
from scheduler.sweep import sweep
from store import programs, signing
from store.agreements import service as agreements
from store.agreements.models import Agreement
from store.batches import service as batches
from store.calendar import add_business_days
from store.db import transaction
from store.outbox import Outbox
from store.programs import Program, Role
from store.stability import service as stability
from store.stability.service import StabilityStudy
from store.submissions import service as submissions
from tests import factories
from tests.conftest import wipe
from tests.statements import counted
from tests.unit.test_stability_rules import FakeSlack

START = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)  # a Monday
DAYS = 731
PASS_HOURS = (1, 5, 9, 13, 17, 21)  # UTC; midnights (UTC, New York, Berlin, Singapore) fall in between
ACTS_AT = time(10, 0)  # UTC: after the 09:10 pass, so the 13:10 pass, which no midnight precedes, sees it


def _setup(engine) -> None:
    with transaction(engine) as session:
        factories.portfolio(session, START, range(3))


GLOBAL_DAYS = (20, 21, 200)  # someone enrolls for signing, is reset, enrolls again: audit rows of no program
KEY = signing.new_key()


def _act(session, day: int, today: date, now: datetime) -> None:
    """What people do on day `day` of the simulation: every kind of record each rule reads changes at some point,
    in one program or in several the same day, and on `GLOBAL_DAYS` something of no program (a full pass)."""
    made = {p.code: p for p in session.exec(select(Program))}
    p0, p1, p2 = made["P-000"], made["P-001"], made["P-002"]
    admin = factories.ADMIN
    if day == 1:
        batches.schedule_call(session, p0, "B-0-1", starts_local=datetime.combine(today + timedelta(days=3), time(8)),
                              minutes=30, actor=admin, now=now)  # before 09:00: announced the day before
        batches.schedule_call(session, p1, "B-1-1", starts_local=datetime.combine(today + timedelta(days=5), time(15)),
                              minutes=30, actor=admin, now=now)
    if day == 5:
        batches.hold(session, p2, "B-2-1", reason="waiting for the deviation report", actor=admin, now=now)
    if day == 12:
        batches.resume(session, p2, "B-2-1", actor=admin, now=now)
    if day == 9:
        agreement = session.exec(select(Agreement).where(Agreement.program_id == p0.id,
                                                         Agreement.status == agreements.Status.executed)).one()
        agreements.renew(session, agreement, program=p0, actor=admin, now=now, expires_on=date(2027, 12, 1))
    if day == 30:
        submission = submissions.create(session, program=p1, actor=admin, now=now, title="Pump", filing_date=today
                                        + timedelta(days=60), kind=submissions.SubmissionType.fda_510k)
        submissions.add_item(session, submission=submission, actor=admin, now=now, section="Labeling",
                             document="IFU", owner="UPM1", due_on=today + timedelta(days=40))
    if day == 45:
        programs.add_member(session, p2, "UNEW", Role.stability, actor=admin, now=now)
    if day == 90:  # one program's manager leaves: its reminders to them are cancelled
        programs.remove_member(session, p1, "UPM1", Role.program_manager, actor=admin, now=now)
    if day in GLOBAL_DAYS and day != 21:
        secret = pyotp.random_base32()
        signing.enroll(session, KEY, user_id="USIGN", secret=secret, code=pyotp.TOTP(secret).at(now), actor=admin,
                       now=now)
    if day == 21:
        signing.reset(session, user_id="USIGN", actor=admin, now=now)
    study = session.exec(select(StabilityStudy).where(StabilityStudy.program_id == p0.id)).one()
    for pull in stability.pulls_of(session, study.id):  # program 0 pulls on time; the others miss theirs
        if pull.due_on == today and pull.pulled_on is None and not pull.standby:
            stability.record_pull(session, program=p0, pull=pull, actor=admin, now=now, pulled_on=today)
            stability.submit_to_lab(session, program=p0, pull=pull, actor=admin, now=now, lab="Lab A",
                                    sample_ids="S-1", submitted_on=today, results_due_on=today + timedelta(days=20))


def _mark(session) -> tuple[datetime, datetime] | None:
    """(swept_at, full_at) of the scheduler's rules' mark."""
    mark = session.get(sweeping.sweep_marks.SweepMark, sweeping.fingerprint(RULES))
    return None if mark is None else (mark.swept_at, mark.full_at)


def _full_sweep_changes_nothing(engine, now: datetime) -> bool:
    """What a full sweep would do at `now`, rolled back: nothing queued, nothing cancelled."""
    with transaction(engine) as session:
        result = sweep(session, now, RULES, reuse=False)
        session.rollback()
    return result.inserted == [] and result.cancelled == 0


def test_two_years_of_reusing_sweeps_queue_and_send_what_full_sweeps_do(engine, monkeypatch):
    """Every pass reuses where it can; wherever it skipped the rules or asked them about some programs only, a
    full sweep at that instant (rolled back) is checked to change nothing. So, by induction over the passes, the
    outbox (keys, recipients, due days, not-before instants, statuses, sent-at instants, texts) is at every pass
    exactly what full sweeps would have left: one simulation proves what running it twice (reuse on, reuse off)
    and comparing would, at half the cost. Only the audit trail and the clock decide: no hourly reconciliation
    to hide a missed boundary."""
    monkeypatch.setattr(sweeping, "RECONCILE", timedelta(days=400))
    wipe(engine)
    _setup(engine)
    client, passes, wrong = FakeSlack(), {"skipped": 0, "incremental": 0, "full": 0}, []
    full_after_global = []
    for day in range(DAYS):
        today = START.date() + timedelta(days=day)
        for hour in PASS_HOURS:
            now = datetime.combine(today, time(hour, 10), tzinfo=UTC)
            if now < START:
                continue
            if hour == PASS_HOURS[3]:  # the people acted since the previous pass
                with transaction(engine) as session:
                    _act(session, day, today, datetime.combine(today, ACTS_AT, tzinfo=UTC))
            with transaction(engine) as session:
                before = _mark(session)
                sweep(session, now, RULES, reuse=True)
                after = _mark(session)
            kind = "skipped" if after == before else "full" if after is not None and after[1] == now else "incremental"
            passes[kind] += 1
            if hour == PASS_HOURS[3] and day in GLOBAL_DAYS:
                full_after_global.append(kind == "full")
            if kind != "full" and not _full_sweep_changes_nothing(engine, now):
                wrong.append((now, kind))
            deliver(engine, client, now)
    with transaction(engine) as session:
        kinds = {":".join(p for p in key.split(":") if not p[0].isdigit()) for key in session.exec(select(Outbox.key))}
    assert wrong == []  # no skipped or incremental pass left what a full one would not have
    assert full_after_global == [True] * len(GLOBAL_DAYS)  # a change of no program ran the rules for all
    # a day: the 01:10 pass runs in full (a UTC midnight), the 13:10 one asks about the programs people changed
    # (on the days they act), the 05:10 and 17:10 ones about New York's and Singapore's programs only on the
    # days one of their horizons falls (a reminder's day, a digest's period), the rest skip: with horizons, 264
    # incremental passes in two years, where bringing a zone's every program round at its midnight made 1,500
    assert DAYS / 4 < passes["incremental"] < DAYS and DAYS * 4 < passes["skipped"] and passes["full"] < DAYS * 1.1
    assert {"program:digest", "batch:call", "batch:r1:reminder", "batch:r2:reminder", "stability:pull:missed",
            "stability:pull:window-open", "stability:pull:lab:results-late", "submission_item:due:remind",
            "submission_item:due:overdue", "agreement:renewal"} <= kinds  # every rule had something to say


def test_a_skipped_pass_reads_two_rows_and_any_change_or_midnight_runs_it_in_full(engine):
    _setup(engine)
    with transaction(engine) as session:
        first = sweep(session, START, RULES, reuse=True)
    assert first.inserted
    with counted(engine) as statements, transaction(engine) as session:
        assert sweep(session, START + timedelta(minutes=5), RULES, reuse=True).inserted == []
    assert [s.split()[0] for s in statements if not s.startswith("BEGIN")] == ["SELECT", "SELECT"]  # head, mark
    with transaction(engine) as session:
        program = session.exec(select(Program).where(Program.code == "P-000")).one()
        programs.add_member(session, program, "UNEW", Role.program_manager, actor=factories.ADMIN, now=START)
    with counted(engine) as statements, transaction(engine) as session:
        assert sweep(session, START + timedelta(minutes=10), RULES, reuse=True).inserted  # the new manager's alerts
    assert len(statements) > 10
    with transaction(engine) as session:  # the earliest midnight: Singapore's, 16:00 UTC
        mark = session.get(sweeping.sweep_marks.SweepMark, sweeping.fingerprint(RULES))
        assert mark.until == datetime(2026, 11, 2, 16, 0, tzinfo=UTC)
    with transaction(engine) as session:  # a dry run of an earlier instant is never answered by the mark
        assert not sweeping.sweep_marks.unchanged(sweeping.sweep_marks.seen(session, mark.rules),
                                                  START - timedelta(minutes=1))


@pytest.mark.parametrize("zone, now, expected", [
    ("America/New_York", datetime(2027, 3, 13, 12, tzinfo=UTC), datetime(2027, 3, 14, 5, tzinfo=UTC)),  # EST
    ("America/New_York", datetime(2027, 3, 14, 12, tzinfo=UTC), datetime(2027, 3, 15, 4, tzinfo=UTC)),  # EDT
    ("America/Santiago", datetime(2027, 9, 4, 12, tzinfo=UTC), datetime(2027, 9, 5, 4, tzinfo=UTC)),  # 00:00 skipped
])
def test_the_next_midnight_is_when_the_local_date_changes(zone, now, expected):
    from zoneinfo import ZoneInfo

    found = sweeping._next_midnight(now, ZoneInfo(zone))
    assert found == expected
    assert (found - timedelta(microseconds=1)).astimezone(ZoneInfo(zone)).date() < found.astimezone(
        ZoneInfo(zone)).date()


def _affected(engine, now: datetime) -> set[str] | None:
    """The codes of the programs the scheduler's pass at `now` would ask the rules about (None: all of them)."""
    with transaction(engine) as session:
        found = sweeping.affected(session, sweeping.sweep_marks.seen(session, sweeping.fingerprint(RULES)), now)
        if found is None:
            return None
        return set(session.exec(select(Program.code).where(col(Program.id).in_(found))))


def test_a_pass_asks_about_the_programs_changed_whose_midnight_or_call_passed_and_about_all_after_a_global_change(
        engine, monkeypatch):
    """P-000 is in New York, P-001 in Berlin, P-002 in Singapore (16:00 UTC is its midnight, 05:00 New York's)."""
    monkeypatch.setattr(sweeping, "RECONCILE", timedelta(hours=2))
    _setup(engine)
    with transaction(engine) as session:
        sweep(session, START, RULES, reuse=True)  # the first pass: in full
        made = {p.code: p for p in session.exec(select(Program))}
        programs.add_member(session, made["P-001"], "UNEW", Role.regulatory, actor=factories.ADMIN, now=START)
        batches.schedule_call(session, made["P-000"], "B-0-1", starts_local=datetime(2026, 11, 2, 10, 30),
                              minutes=30, actor=factories.ADMIN, now=START)  # 15:30 UTC
    assert _affected(engine, START + timedelta(minutes=10)) == {"P-000", "P-001"}  # both changed
    with transaction(engine) as session:
        sweep(session, START + timedelta(minutes=10), RULES, reuse=True)
    assert _affected(engine, START + timedelta(minutes=20)) == set()  # nothing since
    assert _affected(engine, START + timedelta(minutes=35)) == {"P-000"}  # its call started
    assert _affected(engine, START + timedelta(hours=1, minutes=5)) == {"P-000", "P-002"}  # and Singapore's midnight
    assert _affected(engine, START + timedelta(hours=2)) is None  # RECONCILE after the full pass: the safety net
    assert _affected(engine, datetime(2026, 11, 3, 0, 5, tzinfo=UTC)) is None  # a UTC midnight (stability's window)
    assert _affected(engine, START) is None  # earlier than the last pass (a dry run of the past)
    with transaction(engine) as session:
        secret, at = pyotp.random_base32(), START + timedelta(minutes=12)
        signing.enroll(session, KEY, user_id="USIGN", secret=secret, code=pyotp.TOTP(secret).at(at),
                       actor=factories.ADMIN, now=at)
    assert _affected(engine, START + timedelta(minutes=20)) is None  # a change of no program


def test_a_zones_midnight_asks_only_about_the_programs_whose_answer_that_day_can_change(engine):
    """Two programs in Singapore without digests: FAR's agreement expires in two years (its first reminder is
    months away), NEAR's batch awaits review (its reminder and its escalation fall due on two business days).
    Over four weeks of Singapore's midnights (16:00 UTC), FAR is never asked about and NEAR only on those two
    days: once its reminder and escalation stand, its answer stays (a message queued is never reworded, so a
    review late by one more day changes nothing the sweep holds)."""
    wipe(engine)
    start = datetime(2026, 11, 2, 15, 30, tzinfo=UTC)  # a Monday, 23:30 in Singapore
    with transaction(engine) as session:
        far = factories.program(session, start, "FAR", channel="CFAR", timezone="Asia/Singapore", status_cadence="off")
        agreements.create(session, program=far, actor=factories.ADMIN, now=start, kind=agreements.Kind.quality,
                          counterparty="Acme Pharma", status=agreements.Status.executed, owner_id="UPM1",
                          terms=agreements.Terms(date(2026, 1, 1), date(2028, 12, 31)))
        near = factories.program(session, start, "NEAR", channel="CNEAR", timezone="Asia/Singapore",
                                 status_cadence="off")
        batches.ready(session, near, batch_no="B-1", product="Acmezol", actor=factories.ADMIN, now=start)
        settings = batches.settings_of(near)
        began = start.astimezone(near.tz).date()
        changes = {add_business_days(began, settings.reminder_business_days),
                   add_business_days(began, settings.sla_business_days + 1)}
    asked_on = set()
    for day in range(1, 29):
        before = datetime.combine(start.date() + timedelta(days=day), time(15, 50), tzinfo=UTC)
        with transaction(engine) as session:  # the day's first pass, after the UTC midnight: in full
            sweep(session, before, RULES, reuse=True)
        midnight = before + timedelta(minutes=20)
        found = _affected(engine, midnight)
        assert found is not None and "FAR" not in found
        if "NEAR" in found:
            asked_on.add(midnight.astimezone(near.tz).date())
        with transaction(engine) as session:
            sweep(session, midnight, RULES, reuse=True)
        assert _full_sweep_changes_nothing(engine, midnight)
    assert asked_on == changes and len(changes) == 2
