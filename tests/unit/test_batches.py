"""Batch record review: state changes, signatures, due rules across weekends and holidays, figures."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import event
from sqlmodel import select

from scheduler.sweep import sweep
from store.audit import Actor, AuditEntry
from store.batches import rules as batches_rules
from store.batches import service as batches
from store.batches import settings as batch_settings
from store.db import transaction
from store.errors import Conflict, Invalid
from store.outbox import Outbox, Status
from store.programs import Role
from tests import factories

PM = Actor("UPM1", "Pat Manager")
ALICE = Actor("UAPP1", "Alice Approver")
BOB = Actor("UAPP2", "Bob Approver")
MON_23 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Monday 23 Nov 2026, 10:00 in New York
MEMBERS = {Role.program_manager: ["UPM1"], Role.customer_approver: ["UAPP1", "UAPP2"], Role.cmo_quality: ["UQA1"]}


def signer(actor: Actor, initials: str | None = None) -> batches.Signer:
    return batches.Signer(actor.user_id, actor.name, "America/New_York",
                          initials or batches.Signer.expected_initials(actor.name))


def make(session, now=MON_23, approvals="any", **kw):
    """A program that signs with initials (store.signing has the authenticator tests)."""
    program = factories.program(session, now, holiday_calendar="US", members=MEMBERS)
    batch_settings.configure(session, program, actor=PM, now=now, approvals=approvals, signing="initials")
    batch = batches.ready(session, program, batch_no=kw.pop("batch_no", "b-1042"), product="Acmezol 10 mg",
                          actor=PM, now=now, **kw)
    return program, batch


def keys_due(session, now):
    return sorted({(d.key, d.due_on, d.to_users) for d in batches_rules.due(session, now)})


def test_ready_normalises_and_refuses_duplicates(session):
    program, batch = make(session)
    assert (batch.batch_no, batch.status, batch.ready_on) == ("B-1042", batches.BatchStatus.awaiting,
                                                               date(2026, 11, 23))
    with pytest.raises(Conflict, match="already recorded"):
        batches.ready(session, program, batch_no="B-1042", actor=PM, now=MON_23)
    with pytest.raises(Invalid):
        batches.ready(session, program, batch_no="../etc", actor=PM, now=MON_23)


def test_approval_records_signature_attributes_and_refuses_second(session):
    program, batch = make(session)
    signed = batches.approve(session, program, "B-1042", signer=signer(ALICE), actor=ALICE, now=MON_23,
                             comment="fine")
    assert signed.complete and signed.batch.status == batches.BatchStatus.approved
    sig = signed.signature
    assert sig.signer_name == "Alice Approver" and sig.user_id == "UAPP1"
    assert sig.meaning == "I approve the executed batch record B-1042 of Acmezol 10 mg for release."
    assert sig.signed_at == MON_23 and sig.local_time == "2026-11-23T10:00:00-05:00"
    assert sig.second_component == "initials"
    with pytest.raises(Conflict, match="already approved by Alice Approver"):
        batches.approve(session, program, "B-1042", signer=signer(BOB), actor=BOB, now=MON_23)
    actions = [e.action for e in batches.history(session, program, batch)]
    assert actions == ["ready", "signed", "approved"]


def test_wrong_initials_are_a_field_error_and_nothing_is_signed(session):
    program, batch = make(session)
    refused = batches.approve(session, program, "B-1042", signer=signer(ALICE, "XY"), actor=ALICE, now=MON_23)
    assert "initials do not match" in refused.message
    assert batches.signatures(session, batch) == []


def test_all_mode_needs_every_approver(session):
    program, batch = make(session, approvals="all")
    first = batches.approve(session, program, "B-1042", signer=signer(ALICE), actor=ALICE, now=MON_23)
    assert not first.complete and first.missing == ("UAPP2",) and batch.status == batches.BatchStatus.awaiting
    with pytest.raises(Conflict, match="already signed"):
        batches.approve(session, program, "B-1042", signer=signer(ALICE), actor=ALICE, now=MON_23)
    second = batches.approve(session, program, "B-1042", signer=signer(BOB), actor=BOB, now=MON_23)
    assert second.complete and second.batch.status == batches.BatchStatus.approved


def test_hold_needs_reason_then_back_to_review_starts_a_new_round(session):
    program, batch = make(session)
    with pytest.raises(Invalid) as error:
        batches.hold(session, program, "B-1042", reason=" ", actor=ALICE, now=MON_23)
    assert error.value.field == "reason"
    batches.hold(session, program, "B-1042", reason="Deviation DV-7 open", actor=ALICE, now=MON_23)
    with pytest.raises(Conflict, match="on hold"):
        batches.approve(session, program, "B-1042", signer=signer(ALICE), actor=ALICE, now=MON_23)
    later = datetime(2026, 11, 25, 15, tzinfo=UTC)
    batches.resume(session, program, "B-1042", actor=PM, now=later)
    assert (batch.status, batch.review_round, batch.round_started_on) == (batches.BatchStatus.awaiting, 2,
                                                                          date(2026, 11, 25))
    batches.reject(session, program, "B-1042", reason="OOS assay", actor=BOB, now=later)
    assert batch.status == batches.BatchStatus.rejected and batch.decided_by == "UAPP2"


def test_only_approvers_decide_and_refusals_are_audited(session):
    program, _ = make(session)
    assert batches.may_decide(session, program, "B-1042", actor=ALICE, now=MON_23, doing="approve")
    assert not batches.may_decide(session, program, "B-1042", actor=PM, now=MON_23, doing="approve")
    admin = Actor("UADMIN", "Ada", is_admin=True)
    assert not batches.may_decide(session, program, "B-1042", actor=admin, now=MON_23, doing="reject")
    refused = session.exec(select(AuditEntry).where(AuditEntry.action == "decision_refused")
                           .order_by(AuditEntry.seq)).all()
    assert [(e.actor_id, e.after["attempted"]) for e in refused] == [("UPM1", "approve"), ("UADMIN", "reject")]


def test_reminder_and_escalation_across_weekend_and_thanksgiving(session):
    program, batch = make(session, release_by=date(2026, 12, 4))
    reminder, sla, release = (f"batch:{batch.id}:r1:reminder", f"batch:{batch.id}:r1:sla",
                              f"batch:{batch.id}:release-by")
    # Tue 24, Wed 25 = 2 business days; Thu 26 is Thanksgiving: nothing due yet
    assert keys_due(session, datetime(2026, 11, 26, 20, tzinfo=UTC)) == []
    # Fri 27 = the 3rd business day: the reminder to both approvers
    assert keys_due(session, datetime(2026, 11, 27, 15, tzinfo=UTC)) == [
        (reminder, date(2026, 11, 27), ("UAPP1", "UAPP2"))]
    # the weekend and Mon 30 (4th): still only the reminder
    assert len(keys_due(session, datetime(2026, 11, 30, 22, tzinfo=UTC))) == 1
    # Tue 1 Dec = 5th business day: still within the SLA of 5 business days, no escalation yet
    assert keys_due(session, datetime(2026, 12, 1, 22, tzinfo=UTC)) == [
        (reminder, date(2026, 11, 27), ("UAPP1", "UAPP2"))]
    # Wed 2 Dec = 6th business day: past the SLA — the escalation to the manager; and 2 business days before release
    assert keys_due(session, datetime(2026, 12, 2, 15, tzinfo=UTC)) == [
        (reminder, date(2026, 11, 27), ("UAPP1", "UAPP2")),
        (sla, date(2026, 12, 2), ("UPM1",)),
        (release, date(2026, 12, 2), ("UPM1",)),
    ]


def test_escalation_digest_home_and_stats_agree_on_the_sla_day(session):
    """One definition: with an SLA of 5 business days, day 5 (Tue 1 Dec) is on time and day 6 (Wed 2 Dec,
    counting Tue 24, Wed 25, Fri 27, Mon 30, Tue 1 after a ready day of Mon 23, Thanksgiving skipped) is past."""
    from store import home

    program, batch = make(session)
    for when, past in ((datetime(2026, 12, 1, 22, tzinfo=UTC), False), (datetime(2026, 12, 2, 15, tzinfo=UTC), True)):
        keys = [k for k, _, _ in keys_due(session, when)]
        assert (f"batch:{batch.id}:r1:sla" in keys) is past
        digest = " ".join(batches_rules.digest_section(session, program, when.astimezone(program.tz).date()))
        assert ("past SLA" in digest) is past
        owed = batches_rules.owed(session, "UAPP1", [program], when)
        assert ("past the SLA" in owed[0].text) is past
        health = home.health(session, [program], when)
        assert ("past SLA" in " ".join(health.fragments[program.id])) is past
    batches.approve(session, program, "B-1042", signer=signer(ALICE), actor=ALICE,
                    now=datetime(2026, 12, 2, 15, tzinfo=UTC))
    stats = batches_rules.figures(session, [program.id], now=datetime(2026, 12, 3, 15, tzinfo=UTC))
    assert stats[0].breaches == 1 and stats[0].days_lost == 1


def test_each_once_and_a_decision_cancels_what_is_pending(session):
    program, batch = make(session)
    friday = datetime(2026, 11, 27, 12, tzinfo=UTC)  # before 09:00 local: queued, not yet sent
    first = sweep(session, friday, [batches_rules.due])
    again = sweep(session, friday, [batches_rules.due])
    assert (len(first.inserted), len(again.inserted)) == (2, 0)
    batches.approve(session, program, "B-1042", signer=signer(ALICE), actor=ALICE, now=friday)
    assert {r.status for r in session.exec(select(Outbox))} == {Status.cancelled}
    assert keys_due(session, datetime(2026, 12, 10, 15, tzinfo=UTC)) == []


def test_all_mode_reminds_only_who_has_not_signed(session):
    program, batch = make(session, approvals="all")
    batches.approve(session, program, "B-1042", signer=signer(ALICE), actor=ALICE, now=MON_23)
    assert keys_due(session, datetime(2026, 11, 27, 15, tzinfo=UTC)) == [
        (f"batch:{batch.id}:r1:reminder", date(2026, 11, 27), ("UAPP2",))]


def test_an_early_call_is_announced_the_working_day_before_never_at_night(session):
    program, batch = make(session)
    batches.schedule_call(session, program, "B-1042", starts_local=datetime(2026, 12, 3, 7, 30), minutes=30,
                          actor=PM, now=MON_23)
    assert not [d for d in batches_rules.due(session, datetime(2026, 12, 2, 4, tzinfo=UTC)) if ":call:" in d.key]
    [due] = [d for d in batches_rules.due(session, datetime(2026, 12, 2, 15, tzinfo=UTC)) if ":call:" in d.key]
    assert (due.due_on, due.urgent) == (date(2026, 12, 2), True)  # 09:00 the day before, not midnight of the day
    assert due.text.startswith(":telephone_receiver: Tomorrow:") and "07:30 EST" in due.text


def test_call_morning_reminder_until_the_call(session):
    program, batch = make(session)
    _, call = batches.schedule_call(session, program, "B-1042", starts_local=datetime(2026, 12, 3, 14, 0),
                                    minutes=30, actor=PM, now=MON_23)
    assert call.starts_at == datetime(2026, 12, 3, 19, 0, tzinfo=UTC)
    morning = [d for d in batches_rules.due(session, datetime(2026, 12, 3, 13, tzinfo=UTC)) if ":call:" in d.key]
    assert [(d.due_on, d.to_users, d.urgent) for d in morning] == [
        (date(2026, 12, 3), ("UAPP1", "UAPP2", "UPM1", "UQA1"), False)]
    assert "14:00 EST" in morning[0].text
    assert not [d for d in batches_rules.due(session, datetime(2026, 12, 3, 20, tzinfo=UTC)) if ":call:" in d.key]
    with pytest.raises(Invalid):
        batches.schedule_call(session, program, "B-1042", starts_local=datetime(2026, 11, 1, 9), minutes=30,
                              actor=PM, now=MON_23)


def test_due_rule_query_count_does_not_grow(engine):
    def count_for(n: int) -> int:
        with transaction(engine) as session:
            program = factories.program(session, MON_23, code=f"P-{n}", channel=f"C{n}", members=MEMBERS)
            for i in range(n):
                batches.ready(session, program, batch_no=f"B-{n}-{i}", actor=PM, now=MON_23)
        statements = []
        listener = lambda *a: statements.append(1)  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            with transaction(engine) as session:
                list(batches_rules.due(session, datetime(2026, 12, 10, 15, tzinfo=UTC)))
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(statements)

    assert count_for(2) == count_for(12)


def test_figures_median_p90_breaches(session):
    program = factories.program(session, MON_23, holiday_calendar="US", members=MEMBERS)
    batch_settings.configure(session, program, actor=PM, now=MON_23, signing="initials")
    # decided after 1, 2, 3, 7 and 9 business days (SLA 5): two breaches, 2 + 4 days lost
    for n, decided in enumerate([date(2026, 11, 24), date(2026, 11, 25), date(2026, 11, 27), date(2026, 12, 3),
                                 date(2026, 12, 7)]):
        batches.ready(session, program, batch_no=f"B-{n}", actor=PM, now=MON_23)
        at = datetime.combine(decided, datetime.min.time(), tzinfo=UTC).replace(hour=15)
        batches.approve(session, program, f"B-{n}", signer=signer(ALICE), actor=ALICE, now=at)
    [fig] = batches_rules.figures(session, [program.id], now=datetime(2026, 12, 8, tzinfo=UTC), days=90)
    assert (fig.reviewed, fig.median_days, fig.p90_days, fig.breaches, fig.days_lost) == (5, 3.0, 9.0, 2, 6)
    assert batches_rules.percentile([], 0.9) is None


def test_digest_section_lists_open_batches(session):
    program, _ = make(session)
    lines = batches_rules.digest_section(session, program, date(2026, 12, 2))
    assert "1 batch open" in lines[0] and "B-1042" in lines[1] and "past SLA" in lines[1]


def test_settings_defaults_and_validation(session):
    program = factories.program(session, MON_23, qa_release=None)  # a new program as created: the release required
    assert batches.settings_of(program) == batch_settings.ReviewSettings(3, 5, 2, batches.ApprovalMode.any)
    assert batches.settings_of(program).qa_release == "required"
    with pytest.raises(Invalid):
        batch_settings.configure(session, program, actor=PM, now=MON_23, qa_release="maybe")
    with pytest.raises(Invalid):
        batch_settings.configure(session, program, actor=PM, now=MON_23, sla_business_days=0)
    batch_settings.configure(session, program, actor=PM, now=MON_23, sla_business_days=2, approvals="all")
    assert batches.settings_of(program).sla_business_days == 2
    assert batches.settings_of(program).approvals == batches.ApprovalMode.all


@pytest.mark.parametrize("approvals", ["any", "all"])
def test_concurrent_approvals_make_one_decision(engine, approvals):
    with transaction(engine) as session:
        program, _ = make(session, approvals=approvals)
        program_id = program.id
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def sign(actor: Actor) -> None:
        barrier.wait()
        try:
            with transaction(engine) as session:
                prog = session.get(type(program), program_id)
                outcomes[actor.user_id] = batches.approve(session, prog, "B-1042", signer=signer(actor),
                                                          actor=actor, now=MON_23).complete
        except Conflict as exc:
            outcomes[actor.user_id] = exc

    threads = [threading.Thread(target=sign, args=(a,)) for a in (ALICE, BOB)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    with transaction(engine) as session:
        approved = session.exec(select(AuditEntry).where(AuditEntry.action == "approved")).all()
        signed = session.exec(select(batches.BatchSignature)).all()
    assert len(approved) == 1
    if approvals == "any":
        assert len(signed) == 1 and sorted(map(type, outcomes.values()), key=str) == sorted([bool, Conflict],
                                                                                              key=str)
    else:  # both signatures count, and exactly one of the two transactions completed the approval
        assert len(signed) == 2 and sorted(outcomes.values()) == [False, True]
