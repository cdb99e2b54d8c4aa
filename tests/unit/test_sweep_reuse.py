"""The scheduler's reusing sweep (scheduler/sweep.py, `reuse=True`) asks the rules only about the programs whose
answer may have changed, and skips them only when none can have: two years of a portfolio in three time zones,
swept six times a day with people acting in between (in one program at a time, in several, and as one person),
and Slack out of reach for months, queue and send exactly what full sweeps do, with the safety net's hourly
slices and without; a skipped pass reads two rows, and a pass after a change to one program reads as many
statements and rows for 12 programs as for 2."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pyotp
import pytest
from sqlmodel import col, select

from scheduler import sweep as sweeping
from scheduler.delivery import deliver
from scheduler.rules import RULES
from scheduler.sweep import sweep
from store import audit, programs, signing
from store.agreements import service as agreements
from store.agreements.models import Agreement
from store.batches import service as batches
from store.calendar import add_business_days
from store.db import transaction
from store.outbox import Outbox, Status
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
SIGNER = "UNEW"  # who: a role in P-002 from day 45 (`_act`)
KEY = signing.new_key()
OUTAGE = range(440, 600)  # days Slack is out of reach: the 18-month pulls missed then (and late results) are
# history (store/stability/rules.py `SETTLED_AFTER`) before delivery resumes, so their alerts are cancelled unsent


def _act(session, day: int, today: date, now: datetime) -> None:
    """What people do on day `day` of the simulation: every kind of record each rule reads changes at some point,
    in one program or in several the same day, and on `GLOBAL_DAYS` something of no program (a person's signing:
    the programs they hold a role in are asked about)."""
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
        signing.enroll(session, KEY, user_id=SIGNER, secret=secret, code=pyotp.TOTP(secret).at(now), actor=admin,
                       now=now)
    if day == 21:
        signing.reset(session, user_id=SIGNER, actor=admin, now=now)
    study = session.exec(select(StabilityStudy).where(StabilityStudy.program_id == p0.id)).one()
    for pull in stability.pulls_of(session, study.id):  # program 0 pulls on time; the others miss theirs
        if pull.due_on == today and pull.pulled_on is None and not pull.standby:
            stability.record_pull(session, program=p0, pull=pull, actor=admin, now=now, pulled_on=today)
            stability.submit_to_lab(session, program=p0, pull=pull, actor=admin, now=now, lab="Lab A",
                                    sample_ids="S-1", submitted_on=today, results_due_on=today + timedelta(days=20))


def _full_sweep_changes_nothing(engine, now: datetime) -> bool:
    """What a full sweep would do at `now`, rolled back: nothing queued, nothing cancelled."""
    with transaction(engine) as session:
        result = sweep(session, now, RULES, reuse=False)
        session.rollback()
    return result.inserted == [] and result.cancelled == 0


@pytest.mark.parametrize("net", ["off", "on"])
def test_two_years_of_reusing_sweeps_queue_and_send_what_full_sweeps_do(engine, monkeypatch, net):
    """Every pass reuses where it can; wherever it skipped the rules or asked them about some programs only, a
    full sweep at that instant (rolled back) is checked to change nothing. So, by induction over the passes, the
    outbox (keys, recipients, due days, not-before instants, statuses, sent-at instants, texts) is at every pass
    exactly what full sweeps would have left: one simulation proves what running it twice (reuse on, reuse off)
    and comparing would, at half the cost. With the safety net off, only the audit trail and the horizons decide:
    no reconciliation to hide a missed boundary; on, its slices are passes like the others, checked alike, and
    every program is asked about every day."""
    if net == "off":
        monkeypatch.setattr(sweeping, "slices", lambda before, now: set())
    asked: list[set[int] | None] = []
    run = sweeping._pass

    def spy(session, now, rules, only, active):
        asked.append(None if only is None else set(only))
        return run(session, now, rules, only, active)

    monkeypatch.setattr(sweeping, "_pass", spy)
    wipe(engine)
    _setup(engine)
    with transaction(engine) as session:
        made = {p.code: p.id for p in session.exec(select(Program))}
    client, passes, wrong = FakeSlack(), {"skipped": 0, "incremental": 0, "full": 0}, []
    after_global, unasked_days = {}, 0
    for day in range(DAYS):
        today = START.date() + timedelta(days=day)
        asked_today: set[int] = set()
        for hour in PASS_HOURS:
            now = datetime.combine(today, time(hour, 10), tzinfo=UTC)
            if now < START:
                continue
            if hour == PASS_HOURS[3]:  # the people acted since the previous pass
                with transaction(engine) as session:
                    _act(session, day, today, datetime.combine(today, ACTS_AT, tzinfo=UTC))
            asked.clear()
            with transaction(engine) as session:
                sweep(session, now, RULES, reuse=True)
            only = asked[0] if asked else set()
            kind = "skipped" if not asked else "full" if only is None else "incremental"
            passes[kind] += 1
            asked_today |= set(made.values()) if only is None else only
            if hour == PASS_HOURS[3] and day in GLOBAL_DAYS:
                after_global[day] = only
            if kind != "full" and not _full_sweep_changes_nothing(engine, now):
                wrong.append((now, kind))
            if day not in OUTAGE:
                deliver(engine, client, now)
        unasked_days += asked_today != set(made.values())
    with transaction(engine) as session:
        kinds = {":".join(p for p in key.split(":") if not p[0].isdigit()) for key in session.exec(select(Outbox.key))}
        settled = session.exec(select(Outbox.key).where(col(Outbox.key).like("%:missed"),
                                                        Outbox.status == Status.cancelled)).all()
    assert wrong == []  # no skipped or incremental pass left what a full one would not have
    assert settled  # missed alerts became history unsent: the settled window's horizon was needed
    assert passes["full"] == 1  # the first: no UTC midnight, no daily safety net, no person's change costs them all
    # a person's signing asks about the programs they hold a role in (none on days 20 and 21), not about all
    assert None not in after_global.values() and made["P-002"] in after_global[200]
    # a day: the 13:10 pass asks about the programs people changed (on the days they act), the 01:10, 05:10 and
    # 17:10 ones about Berlin's, New York's and Singapore's programs only on the days one of their horizons falls
    # (a reminder's day, a digest's period, an alert becoming history), the rest skip — and, the safety net on,
    # the first pass of each UTC hour asks about the programs of its slice too, so every program every day
    assert DAYS / 4 < passes["incremental"] and DAYS * 2 < passes["skipped"]
    assert unasked_days == 0 if net == "on" else unasked_days > DAYS / 2
    assert {"program:digest", "batch:call", "batch:r1:reminder", "batch:r2:reminder", "stability:pull:missed",
            "stability:pull:window-open", "stability:pull:lab:results-late", "submission_item:due:remind",
            "submission_item:due:overdue", "agreement:renewal"} <= kinds  # every rule had something to say


def test_a_skipped_pass_reads_two_rows_until_a_change_a_midnight_or_the_next_hour(engine):
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
    with transaction(engine) as session:  # the next UTC hour (the safety net's next slice), Singapore's midnight
        mark = session.get(sweeping.sweep_marks.SweepMark, sweeping.fingerprint(RULES))
        assert mark.until == datetime(2026, 11, 2, 16, 0, tzinfo=UTC)
    with transaction(engine) as session:  # an hour later, before any midnight: the next hour
        sweep(session, datetime(2026, 11, 2, 17, 10, tzinfo=UTC), RULES, reuse=True)
        assert session.get(sweeping.sweep_marks.SweepMark, mark.rules).until == datetime(2026, 11, 2, 18, tzinfo=UTC)
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

    found = sweeping._midnight(now.astimezone(ZoneInfo(zone)).date() + timedelta(days=1), ZoneInfo(zone))
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
    """P-000 is in New York, P-001 in Berlin, P-002 in Singapore (16:00 UTC is its midnight, 05:00 New York's);
    the safety net aside (its slices depend on the programs' ids: see the next test)."""
    monkeypatch.setattr(sweeping, "slices", lambda before, now: set())
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
    assert _affected(engine, datetime(2026, 11, 3, 0, 5, tzinfo=UTC)) is not None  # a UTC midnight changes no answer
    assert _affected(engine, START) is None  # earlier than the last pass (a dry run of the past)
    with transaction(engine) as session:
        secret, at = pyotp.random_base32(), START + timedelta(minutes=12)
        signing.enroll(session, KEY, user_id="USIGN", secret=secret, code=pyotp.TOTP(secret).at(at),
                       actor=factories.ADMIN, now=at)
    assert _affected(engine, START + timedelta(minutes=20)) == set()  # a person of no program's signing: none
    with transaction(engine) as session:
        signing.enroll(session, KEY, user_id=SIGNER, secret=secret, code=pyotp.TOTP(secret).at(at),
                       actor=factories.ADMIN, now=at)
    assert _affected(engine, START + timedelta(minutes=20)) == {"P-001"}  # the programs the person has a role in
    with transaction(engine) as session:
        audit.record(session, actor=factories.ADMIN, action="changed", entity="setting", entity_id="holidays",
                     now=at)
    assert _affected(engine, START + timedelta(minutes=20)) is None  # a change of no program, nor person: all


def test_the_safety_net_asks_about_each_program_once_a_day_a_slice_at_each_utc_hour(engine):
    """A pass asks about the programs whose id modulo 24 is the number of a UTC hour begun since the last one,
    besides what changed; one a day or more after the last runs in full."""
    assert sweeping.slices(datetime(2026, 11, 2, 15, 10, tzinfo=UTC), datetime(2026, 11, 2, 15, 50, tzinfo=UTC)) \
        == set()
    assert sweeping.slices(datetime(2026, 11, 2, 15, 10, tzinfo=UTC), datetime(2026, 11, 2, 16, tzinfo=UTC)) == {16}
    assert sweeping.slices(datetime(2026, 11, 2, 22, 10, tzinfo=UTC), datetime(2026, 11, 3, 1, 10, tzinfo=UTC)) \
        == {23, 0, 1}
    assert sweeping.slices(datetime(2026, 11, 2, 15, 10, tzinfo=UTC), datetime(2026, 11, 3, 14, 59, tzinfo=UTC)) \
        == set(range(24)) - {15}
    assert sweeping.slices(datetime(2026, 11, 2, 15, 10, tzinfo=UTC), datetime(2026, 11, 3, 15, 0, tzinfo=UTC)) \
        is None  # every slice: in full
    _setup(engine)
    with transaction(engine) as session:
        sweep(session, START, RULES, reuse=True)  # the first pass: in full
        ids = {p.code: p.id for p in session.exec(select(Program))}
    for code, id_ in ids.items():
        hour = datetime.combine(START.date() + timedelta(days=1), time(id_ % 24), tzinfo=UTC)
        with transaction(engine) as session:
            sweep(session, hour - timedelta(minutes=1), RULES, reuse=True)
        before, after = _affected(engine, hour - timedelta(seconds=1)), _affected(engine, hour)
        assert before is not None and after is not None and code not in before and code in after


def test_a_zones_midnight_asks_only_about_the_programs_whose_answer_that_day_can_change(engine, monkeypatch):
    """Two programs in Singapore without digests: FAR's agreement expires in two years (its first reminder is
    months away), NEAR's batch awaits review (its reminder and its escalation fall due on two business days).
    Over four weeks of Singapore's midnights (16:00 UTC), FAR is never asked about and NEAR only on those two
    days: once its reminder and escalation stand, its answer stays (a message queued is never reworded, so a
    review late by one more day changes nothing the sweep holds). The safety net aside: its slices depend on ids."""
    monkeypatch.setattr(sweeping, "slices", lambda before, now: set())
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
        with transaction(engine) as session:  # the pass before Singapore's midnight
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
