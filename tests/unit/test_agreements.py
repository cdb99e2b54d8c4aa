from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event
from sqlmodel import select

from scheduler.sweep import sweep
from store import digest
from store.agreements import rules
from store.agreements import service as ag
from store.agreements.service import Agreement, Kind, Side, Status, Terms
from store.audit import AuditEntry
from store.errors import Conflict, Invalid
from store.outbox import Outbox
from store.outbox import Status as OutboxStatus
from tests import factories
from tests.conftest import NOW

ADMIN = factories.ADMIN


def _agreement(expires: date, notice: int | None = None, *, set_on: date = date(2020, 1, 1),
               evergreen: bool = False, review: date | None = None) -> Agreement:
    return Agreement(id=7, program_id=1, ref="QA-1", kind=Kind.quality, counterparty="Acme", status=Status.executed,
                     effective_on=date(2019, 1, 1), expires_on=None if evergreen else expires, evergreen=evergreen,
                     review_on=review, notice_days=notice, dates_set_on=set_on, created_by="U1",
                     created_at=NOW, updated_at=NOW)


def _dates(agreement: Agreement, days=(90, 60, 30)) -> dict[str, date]:
    return {s.name: s.on for s in ag.schedule(agreement, days)}


def test_reminders_count_back_from_expiry_across_month_ends():
    assert _dates(_agreement(date(2027, 3, 1))) == {
        "90d": date(2026, 12, 1), "60d": date(2026, 12, 31), "30d": date(2027, 1, 30), "expiry": date(2027, 3, 1)}
    # 31 March: the 30-day reminder lands on 1 March (February is short), not on a non-existent 31 Feb
    assert _dates(_agreement(date(2027, 3, 31)))["30d"] == date(2027, 3, 1)


def test_leap_day_expiry():
    assert _dates(_agreement(date(2028, 2, 29))) == {
        "90d": date(2027, 12, 1), "60d": date(2027, 12, 31), "30d": date(2028, 1, 30), "expiry": date(2028, 2, 29)}
    # across the leap day: 30 days before 30 March 2028 is 29 Feb 2028
    assert _dates(_agreement(date(2028, 3, 30)))["30d"] == date(2028, 2, 29)


def test_notice_period_moves_reminders_before_the_notice_deadline():
    agreement = _agreement(date(2028, 2, 29), notice=60)
    assert ag.notice_deadline(agreement) == date(2027, 12, 31)
    dates = _dates(agreement)
    assert dates == {"90d": date(2027, 10, 2), "60d": date(2027, 11, 1), "30d": date(2027, 12, 1),
                     "expiry": date(2028, 2, 29)}
    assert max(d for name, d in dates.items() if name != "expiry") < ag.notice_deadline(agreement)
    stage = ag.schedule(agreement, (90, 60, 30))[0]
    text = rules.stage_text(agreement, factories_program(), stage)
    assert "Notice of non-renewal is due by *Fri 31 Dec 2027*" in text and "60-day notice" in text


def factories_program():
    from store.programs import Program

    return Program(id=1, code="ACME-001", customer="Acme", timezone="UTC", created_at=NOW)


def test_stage_before_the_dates_were_recorded_is_due_that_day_not_late():
    agreement = _agreement(date(2027, 1, 20), set_on=date(2026, 11, 2))  # 79 days ahead: the 90d stage passed
    stages = ag.schedule(agreement, (90, 60, 30))
    assert stages[0].on == date(2026, 11, 2) and stages[0].nominal == date(2026, 10, 22)
    assert ag.current_stage(agreement, (90, 60, 30), date(2026, 11, 2)).name == "90d"


def test_after_an_outage_only_the_latest_stage_is_due():
    agreement = _agreement(date(2027, 3, 1))
    assert ag.current_stage(agreement, (90, 60, 30), date(2026, 11, 30)) is None
    assert ag.current_stage(agreement, (90, 60, 30), date(2026, 12, 1)).name == "90d"
    assert ag.current_stage(agreement, (90, 60, 30), date(2027, 2, 10)).name == "30d"
    assert ag.current_stage(agreement, (90, 60, 30), date(2027, 6, 1)).name == "expiry"


def test_evergreen_gets_a_review_reminder_only():
    agreement = _agreement(date(2027, 3, 1), evergreen=True, review=date(2027, 6, 30))
    assert [(s.name, s.on) for s in ag.schedule(agreement, (90, 60, 30))] == [("review", date(2027, 6, 30))]


@pytest.mark.parametrize(("terms", "executed", "field"), [
    (Terms(date(2026, 12, 1), date(2026, 12, 1)), False, "expires"),
    (Terms(date(2026, 12, 1), date(2026, 11, 1)), False, "expires"),
    (Terms(None, date(2027, 12, 1)), True, "effective"),
    (Terms(date(2026, 11, 1), None), True, "expires"),
    (Terms(date(2026, 11, 1), None, evergreen=True), True, "review"),
    (Terms(date(2030, 1, 1), date(2031, 1, 1)), False, "effective"),
    (Terms(date(2026, 11, 1), date(2027, 1, 1), notice_days=90), True, "notice"),
    (Terms(date(2026, 11, 1), date(2027, 1, 1), notice_days=-1), True, "notice"),
])
def test_terms_are_checked_per_field(terms, executed, field):
    with pytest.raises(Invalid) as error:
        ag.check_terms(terms, executed=executed, today=date(2026, 11, 2))
    assert error.value.field == field


def _log(session, program, kind=Kind.quality, expires=date(2027, 3, 1), notice=None, now=NOW,
         status=Status.executed, **kw):
    return ag.create(session, program=program, actor=ADMIN, now=now, kind=kind, counterparty="Acme Pharma",
                     status=status, terms=Terms(date(2026, 1, 1), expires, notice_days=notice),
                     version=kw.pop("version", "v1"), owner_id="UPM1", **kw)


def _at(day_: date, hour: int = 15) -> datetime:
    return datetime(day_.year, day_.month, day_.day, hour, tzinfo=UTC)


def _keys(session) -> list[tuple[str, str]]:
    rows = session.exec(select(Outbox).where(Outbox.key.like("agreement:%")).order_by(Outbox.id))  # type: ignore
    return [(r.key, r.target, r.status) for r in rows]


def test_each_reminder_once_to_channel_and_owner(session):
    program = factories.program(session, NOW)
    agreement = _log(session, program)
    for when in [NOW, _at(date(2026, 12, 1)), _at(date(2026, 12, 2)), _at(date(2026, 12, 31)),
                 _at(date(2027, 1, 30)), _at(date(2027, 2, 1)), _at(date(2027, 3, 1)), _at(date(2027, 4, 1))]:
        sweep(session, when, [rules.due])
        sweep(session, when, [rules.due])
        for row in session.exec(select(Outbox).where(Outbox.not_before <= when)):  # deliver what is due
            if row.status == OutboxStatus.pending:
                row.status = OutboxStatus.sent
                session.add(row)
    keys = _keys(session)
    base = f"agreement:{agreement.id}"
    expected = [f"{base}:renewal:90d:2027-03-01", f"{base}:renewal:60d:2027-03-01",
                f"{base}:renewal:30d:2027-03-01", f"{base}:expiry:2027-03-01"]
    assert [k for k, _, _ in keys] == [k for k in expected for _ in (0, 1)]
    assert {t for _, t, _ in keys} == {"CACME001", "UPM1"} and {s for *_, s in keys} == {OutboxStatus.sent}
    expiry = session.exec(select(Outbox).where(Outbox.key == f"{base}:expiry:2027-03-01")).first()
    assert expiry.urgent and expiry.not_before == datetime(2027, 3, 1, 14, tzinfo=UTC)  # 09:00 EST, not midnight
    ninety = session.exec(select(Outbox).where(Outbox.key == expected[0])).first()
    assert ninety.not_before == datetime(2026, 12, 1, 14, tzinfo=UTC)  # 09:00 EST
    assert "expires on *Mon 1 Mar 2027*" in ninety.text and "/cmo agreement renew QA-1" in ninety.text


def test_outage_sends_only_the_latest_stage(session):
    program = factories.program(session, NOW)
    agreement = _log(session, program)
    sweep(session, _at(date(2027, 2, 5)), [rules.due])
    assert [k for k, _, _ in _keys(session)] == [f"agreement:{agreement.id}:renewal:30d:2027-03-01"] * 2


def test_renewal_cancels_pending_and_starts_a_fresh_series(session):
    program = factories.program(session, NOW)
    agreement = _log(session, program)
    sweep(session, _at(date(2026, 12, 1), 10), [rules.due])  # queued, not yet delivered (09:00 EST = 14:00 UTC)
    now = _at(date(2026, 12, 1), 12)
    ag.renew(session, agreement, program=program, actor=ADMIN, now=now, expires_on=date(2028, 3, 1))
    assert {s for *_, s in _keys(session)} == {OutboxStatus.cancelled}
    sweep(session, _at(date(2027, 12, 2)), [rules.due])  # 90 days before 1 Mar 2028 (a leap year)
    pending = [k for k, _, s in _keys(session) if s == OutboxStatus.pending]
    assert pending == [f"agreement:{agreement.id}:renewal:90d:2028-03-01"] * 2
    history = ag.audit.history(session, entity="agreement", entity_id="QA-1")
    assert history[-1].action == "renewed" and history[-1].after["reminders_cancelled"] == 2
    with pytest.raises(Invalid):
        ag.renew(session, agreement, program=program, actor=ADMIN, now=now, expires_on=date(2028, 1, 1))


def test_superseded_agreement_stops_its_reminders(session):
    program = factories.program(session, NOW)
    old = _log(session, program)
    sweep(session, _at(date(2026, 12, 1), 10), [rules.due])
    new = _log(session, program, status=Status.negotiation, expires=None, now=_at(date(2026, 12, 1), 11))
    ag.log_redline(session, new, actor=ADMIN, now=_at(date(2026, 12, 1), 11), side=Side.customer, note="edits")
    superseded = ag.execute(session, new, program=program, actor=ADMIN, now=_at(date(2026, 12, 1), 12),
                            terms=Terms(date(2026, 12, 15), date(2028, 12, 15)), version="v2")
    assert [a.id for a in superseded] == [old.id]
    assert old.status is Status.superseded and old.superseded_on == date(2026, 12, 15)
    assert {s for k, _, s in _keys(session) if k.startswith(f"agreement:{old.id}:")} == {OutboxStatus.cancelled}
    sweep(session, _at(date(2027, 3, 2)), [rules.due])
    assert not [k for k, _, s in _keys(session) if k.startswith(f"agreement:{old.id}:") and s != "cancelled"]
    # the old one still covered the days before the new one took effect
    assert ag.is_covered(session, program_id=program.id, on=date(2026, 12, 14))
    assert ag.is_covered(session, program_id=program.id, on=date(2026, 12, 15))
    with pytest.raises(Conflict):
        ag.log_redline(session, new, actor=ADMIN, now=NOW, side=Side.cmo)


def test_configured_reminder_days(session):
    program = factories.program(session, NOW)
    assert rules.reminder_days(program) == (90, 60, 30)
    rules.set_reminder_days(session, program, [14, 120], actor=ADMIN, now=NOW)
    assert rules.reminder_days(program) == (120, 14)
    agreement = _log(session, program, expires=date(2027, 6, 1))
    sweep(session, _at(date(2027, 2, 1)), [rules.due])
    assert _keys(session)[0][0] == f"agreement:{agreement.id}:renewal:120d:2027-06-01"
    with pytest.raises(Invalid):
        rules.set_reminder_days(session, program, [0], actor=ADMIN, now=NOW)


def test_drafts_get_no_reminders_and_refs_are_per_type(session):
    program = factories.program(session, NOW)
    draft = _log(session, program, status=Status.draft, expires=date(2026, 12, 1))
    nda = _log(session, program, kind=Kind.nda)
    assert (draft.ref, nda.ref) == ("QA-1", "NDA-2")
    assert ag.get(session, program, "nda-2").id == nda.id
    sweep(session, _at(date(2026, 12, 2)), [rules.due])
    assert {k.split(":")[1] for k, _, _ in _keys(session)} == {str(nda.id)}


def test_the_gate(session):
    program = factories.program(session, NOW)
    gaps = ag.coverage_gaps(session, program_id=program.id, on=date(2026, 11, 2))
    assert gaps == ["no current executed Quality Agreement"]  # the gate is the Quality Agreement alone
    _log(session, program, kind=Kind.quality, expires=date(2026, 12, 4), status=Status.negotiation)
    assert ag.coverage_gaps(session, program_id=program.id, on=date(2026, 11, 2)) == \
        ["no current executed Quality Agreement (QA-1 is in negotiation)"]
    _log(session, program, kind=Kind.quality, expires=date(2026, 12, 4))
    _log(session, program, kind=Kind.nda, expires=date(2028, 1, 1))
    assert ag.coverage_gaps(session, program_id=program.id, on=date(2026, 12, 3)) == []
    assert ag.is_covered(session, program_id=program.id, on=date(2026, 12, 3))
    assert not ag.is_covered(session, program_id=program.id, on=date(2026, 12, 4))
    assert ag.coverage_gaps(session, program_id=program.id, on=date(2026, 12, 4)) == \
        ["the Quality Agreement expired on Fri 4 Dec 2026"]
    assert not ag.is_covered(session, program_id=program.id, on=date(2025, 12, 31))  # before it took effect
    lines = digest.compose(session, program, date(2026, 12, 5))
    assert "Quality agreement gate not met*: the Quality Agreement expired on Fri 4 Dec 2026" in lines
    assert "Quality Agreement QA-2 v1 expired on Fri 4 Dec 2026" in lines


def test_list_order_flags_expired_and_expiring_first(session):
    program = factories.program(session, NOW)
    later = _log(session, program, kind=Kind.msa, expires=date(2028, 1, 1))
    soon = _log(session, program, kind=Kind.nda, expires=date(2026, 11, 20))
    expired = _log(session, program, kind=Kind.supply, expires=date(2026, 10, 1))
    draft = _log(session, program, status=Status.draft, expires=None)
    order = ag.ordered(ag.for_program(session, program.id), date(2026, 11, 2))
    assert [a.ref for a in order] == [expired.ref, soon.ref, later.ref, draft.ref]


def test_rule_statement_count_does_not_grow_with_agreements(engine, session):
    program = factories.program(session, NOW)

    def statements(count: int) -> int:
        for _ in range(count):
            _log(session, program, kind=Kind.other)
        session.flush()
        seen = []
        listener = lambda *args: seen.append(1)  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            list(rules.due(session, _at(date(2026, 12, 2))))
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(seen)

    assert statements(1) == statements(5)


def test_audit_rows_for_each_change(session):
    program = factories.program(session, NOW)
    agreement = _log(session, program, status=Status.draft, expires=None)
    ag.log_redline(session, agreement, actor=ADMIN, now=NOW + timedelta(hours=1), side=Side.cmo, note="first")
    ag.execute(session, agreement, program=program, actor=ADMIN, now=NOW + timedelta(hours=2),
               terms=Terms(date(2026, 11, 1), date(2027, 11, 1), notice_days=30))
    actions = [e.action for e in session.exec(select(AuditEntry).where(AuditEntry.entity == "agreement")
                                                  .order_by(AuditEntry.seq))]  # type: ignore[arg-type]
    assert actions == ["created", "redline_logged", "executed"]
    assert [r.version for r in ag.redlines(session, agreement.id)] == ["R1"]


def test_logged_after_it_expired_the_alert_says_when_and_is_not_late(session):
    program = factories.program(session, NOW)
    agreement = _log(session, program, expires=date(2026, 10, 1))
    [due] = list(rules.due(session, _at(date(2026, 11, 2))))
    assert due.due_on == date(2026, 11, 2) and due.urgent and due.key.endswith(":expiry:2026-10-01")
    assert "has expired (on Thu 1 Oct 2026)" in due.text and agreement.ref in due.text


def test_home_owes_the_owner_a_decision_and_shows_the_gate(session):
    from store import home

    program = factories.program(session, NOW)
    _log(session, program, kind=Kind.quality, expires=date(2027, 6, 1), notice=30)
    assert home.owed(session, "UPM1", [program], _at(date(2027, 1, 31))) == []  # reminders not started yet
    items = home.owed(session, "UPM1", [program], _at(date(2027, 2, 6)))  # 90 days before 2 May started on 1 Feb
    assert [i.rank for i in items] == [85]
    assert "notice of non-renewal due Sun 2 May 2027" in items[0].text and home.owed(
        session, "UQA1", [program], _at(date(2027, 2, 6))) == []
    health = home.Health()
    rules.health(session, [program], NOW, health)
    assert health.fragments[program.id] == ["QA in force", "Mutual NDA not in force (no current executed Mutual NDA)"]
    assert health.deadlines[program.id] == date(2027, 6, 1)


def _gap_setup(session):
    """QA-1 runs to Mon 1 Mar 2027; on Mon 2 Nov 2026 (NOW) QA-2 is executed, effective only Thu 1 Apr 2027:
    no Quality Agreement from 1 Mar to 31 Mar 2027 — 31 days (hand-counted: March has 31)."""
    program = factories.program(session, NOW)
    old = _log(session, program)  # 2026-01-01 .. 2027-03-01
    sweep(session, _at(date(2026, 12, 1)), [rules.due])  # the 90-day renewal reminder is queued (not yet sent)
    new = _log(session, program, status=Status.negotiation, expires=None)
    ag.execute(session, new, program=program, actor=ADMIN, now=_at(date(2026, 12, 1), 16),
               terms=Terms(date(2027, 4, 1), date(2029, 4, 1)), version="v2")
    return program, old, new


def _rows(session, prefix):
    rows = session.exec(select(Outbox).where(Outbox.key.like(prefix + "%")).order_by(Outbox.id))  # type: ignore
    return [(r.key, r.target, r.status, r.due_on) for r in rows]


def test_superseding_with_a_gap_keeps_the_expiry_alert_and_alerts_the_gap(session):
    from store.agreements import gaps as agreement_gaps

    program, old, new = _gap_setup(session)
    (gap,) = agreement_gaps.gaps(ag.for_program(session, program.id))
    assert (gap.starts, gap.last_day, gap.days) == (date(2027, 3, 1), date(2027, 3, 31), 31)
    assert not ag.is_covered(session, program_id=program.id, on=date(2027, 3, 1))
    assert ag.is_covered(session, program_id=program.id, on=date(2027, 2, 28))
    assert ag.is_covered(session, program_id=program.id, on=date(2027, 4, 1))
    both = [rules.due, agreement_gaps.due]
    # the old one's renewal reminder is cancelled (its successor is decided)
    assert {s for _, _, s, _ in _rows(session, f"agreement:{old.id}:renewal")} == {OutboxStatus.cancelled}
    # at once: the gap alert to the program manager and CMO quality (and the channel), due the day of execution
    sweep(session, _at(date(2026, 12, 1), 16), both)
    known = f"agreement:{old.id}:gap:known:2027-03-01:2027-04-01"
    assert [(k, t, d) for k, t, _, d in _rows(session, f"agreement:{old.id}:gap")] == \
        [(known, target, date(2026, 12, 1)) for target in ("CACME001", "UPM1", "UQA1")]
    text = session.exec(select(Outbox).where(Outbox.key == known)).first().text
    assert "from Mon 1 Mar 2027 to Wed 31 Mar 2027 (31 days)" in text
    assert "QA-2 takes effect only on Thu 1 Apr 2027" in text
    # nothing more until 14 days before the gap: Mon 15 Feb 2027
    sweep(session, _at(date(2027, 2, 14)), both)
    assert len(_rows(session, f"agreement:{old.id}:gap")) == 3
    sweep(session, _at(date(2027, 2, 15)), both)
    soon = f"agreement:{old.id}:gap:soon:2027-03-01:2027-04-01"
    assert [(t, d) for k, t, _, d in _rows(session, soon)] == \
        [("CACME001", date(2027, 2, 15)), ("UPM1", date(2027, 2, 15)), ("UQA1", date(2027, 2, 15))]
    # the day QA-1 expires: its expiry alert goes out although it is superseded
    sweep(session, _at(date(2027, 3, 1)), both)
    expiry = f"agreement:{old.id}:expiry:2027-03-01"
    assert [(t, s, d) for _, t, s, d in _rows(session, expiry)] == \
        [("CACME001", OutboxStatus.pending, date(2027, 3, 1)), ("UPM1", OutboxStatus.pending, date(2027, 3, 1))]
    assert "Coverage gap" in session.exec(select(Outbox).where(Outbox.key == expiry)).first().text
    # once QA-2 is in force nothing about the gap is owed any more
    assert list(agreement_gaps.due(session, _at(date(2027, 4, 1)))) == []


def test_superseding_without_a_gap_stays_silent(session):
    from store.agreements import gaps as agreement_gaps

    program = factories.program(session, NOW)
    old = _log(session, program)  # expires 2027-03-01
    new = _log(session, program, status=Status.negotiation, expires=None)
    ag.execute(session, new, program=program, actor=ADMIN, now=_at(date(2026, 12, 1), 16),
               terms=Terms(date(2027, 3, 1), date(2029, 3, 1)))  # takes effect the day QA-1 expires
    assert agreement_gaps.gaps(ag.for_program(session, program.id)) == []
    assert list(agreement_gaps.due(session, _at(date(2027, 3, 1)))) == []
    assert old.status is Status.superseded


def test_a_gap_known_late_alerts_once_now(session):
    """Executed ten days before the gap starts: the 14-day warning (15 Feb) is before the day it became
    known (19 Feb), so only the one alert, due 19 Feb."""
    from store.agreements import gaps as agreement_gaps

    program = factories.program(session, NOW)
    old = _log(session, program)
    new = _log(session, program, status=Status.negotiation, expires=None)
    ag.execute(session, new, program=program, actor=ADMIN, now=_at(date(2027, 2, 19), 16),
               terms=Terms(date(2027, 3, 8), date(2029, 3, 8)))
    (gap,) = agreement_gaps.gaps(ag.for_program(session, program.id))
    assert gap.days == 7 and [a.name for a in agreement_gaps.alerts(gap)] == ["known"]
    sweep(session, _at(date(2027, 2, 19), 16), [agreement_gaps.due])
    assert {d for *_, d in _rows(session, f"agreement:{old.id}:gap")} == {date(2027, 2, 19)}
