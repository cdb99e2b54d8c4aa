"""The CMO's own release step: ready → awaiting CMO QA release → (signed by CMO quality) → the customer's review,
segregation of duties, the review clock starting at the release, and the split order-to-cash figures.
Dates hand-worked on the US calendar: Thanksgiving is Thu 26 Nov 2026."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlmodel import select

from store import signing
from store.audit import Actor, AuditEntry
from store.batches import release as batch_release
from store.batches import rules as batches_rules
from store.batches import service as batches
from store.batches import settings as batch_settings
from store.errors import Conflict, NotAllowed
from store.programs import Role
from tests import factories

PM = Actor("UPM1", "Pat Manager")
QUINN = Actor("UQA1", "Quinn Quality")
RAY = Actor("UQA2", "Ray Reviewer")
ALICE = Actor("UAPP1", "Alice Approver")
MON_23 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Monday 23 Nov 2026, 10:00 in New York
WED_25 = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
MEMBERS = {Role.program_manager: ["UPM1"], Role.customer_approver: ["UAPP1"], Role.cmo_quality: ["UQA1", "UQA2"]}


def _signer(actor: Actor, initials: str | None = None) -> batches.Signer:
    return batches.Signer(actor.user_id, actor.name, "America/New_York",
                          initials or batches.Signer.expected_initials(actor.name))


def _new_program(session):
    """A program as created now (qa_release `required`, the default), signing with initials."""
    program = factories.program(session, MON_23, holiday_calendar="US", members=MEMBERS, qa_release=None)
    batch_settings.configure(session, program, actor=PM, now=MON_23, signing="initials")
    return program


def test_a_new_program_holds_the_batch_for_the_cmo_release_and_asks_no_approver(session):
    program = _new_program(session)
    batch = batches.ready(session, program, batch_no="B-1042", product="Acmezol", actor=PM, now=MON_23)
    assert batch.state == batches.BatchStatus.qa_release and batch.state.label == "awaiting CMO QA release"
    # a week later the approvers still owe nothing: their reminder and SLA start only with the release
    assert list(batches_rules.due(session, datetime(2026, 12, 1, 15, tzinfo=UTC))) == []
    lines = batches_rules.digest_section(session, program, date(2026, 11, 30))
    assert "B-1042" in lines[1] and "awaiting CMO QA release" in lines[1]
    with pytest.raises(Conflict, match="awaits the CMO's QA release"):
        batches.approve(session, program, "B-1042", signer=_signer(ALICE), actor=ALICE, now=MON_23)


def test_release_is_signed_by_cmo_quality_and_starts_the_customer_review(session):
    program = _new_program(session)
    batches.ready(session, program, batch_no="B-1042", product="Acmezol", actor=PM, now=MON_23)
    with pytest.raises(NotAllowed, match="Only CMO quality"):
        batch_release.release(session, program, "B-1042", signer=_signer(PM), actor=PM, now=WED_25)
    wrong = batch_release.release(session, program, "B-1042", signer=_signer(QUINN, "XX"), actor=QUINN, now=WED_25)
    assert isinstance(wrong, signing.Refusal) and "initials" in wrong.message
    done = batch_release.release(session, program, "B-1042", signer=_signer(QUINN, "q.q."), actor=QUINN, now=WED_25)
    assert done.batch.state == batches.BatchStatus.awaiting and done.internal_days == 2  # Tue 24, Wed 25
    assert (done.batch.released_on, done.batch.round_started_on) == (date(2026, 11, 25), date(2026, 11, 25))
    row = batch_release.of_batch(session, done.batch.id)
    assert row.meaning == "I release the executed batch record B-1042 for the customer's review."
    assert (row.signer_name, row.second_component, row.local_time) == \
        ("Quinn Quality", "initials", "2026-11-25T10:00:00-05:00")
    assert row.linked_sha256 == batches.link(program, done.batch, 1)
    audited = session.exec(select(AuditEntry).where(AuditEntry.action == "qa_released")).one()
    assert audited.after["signature"]["signer_name"] == "Quinn Quality"
    # the reminder: 3 business days after Wed 25 Nov skipping Thanksgiving: Fri 27, Mon 30, Tue 1 Dec
    [reminder] = [d for d in batches_rules.due(session, datetime(2026, 12, 1, 15, tzinfo=UTC))
                  if d.key.endswith(":reminder")]
    assert reminder.due_on == date(2026, 12, 1) and reminder.to_users == ("UAPP1",)
    assert list(batches_rules.due(session, datetime(2026, 11, 30, 15, tzinfo=UTC))) == []
    with pytest.raises(Conflict, match="already released"):
        batch_release.release(session, program, "B-1042", signer=_signer(RAY), actor=RAY, now=WED_25)


def test_whoever_marked_it_ready_cannot_release_it(session):
    program = _new_program(session)
    batches.ready(session, program, batch_no="B-1042", actor=QUINN, now=MON_23)  # CMO quality may mark it ready
    refused = batch_release.release(session, program, "B-1042", signer=_signer(QUINN), actor=QUINN, now=WED_25)
    assert isinstance(refused, signing.Refusal) and "segregation of duties" in refused.message
    assert batches.get(session, program, "B-1042").state == batches.BatchStatus.qa_release
    done = batch_release.release(session, program, "B-1042", signer=_signer(RAY), actor=RAY, now=WED_25)
    assert done.release.user_id == "UQA2"


def test_programs_with_the_release_off_go_straight_to_review(session):
    program = factories.program(session, MON_23, members=MEMBERS)  # qa_release off, as migrated programs
    batch = batches.ready(session, program, batch_no="B-7", actor=PM, now=MON_23)
    assert batch.state == batches.BatchStatus.awaiting and batch.released_on is None


def test_figures_split_internal_and_customer_review_days(session):
    program = _new_program(session)
    batches.ready(session, program, batch_no="B-1042", actor=PM, now=MON_23)
    batch_release.release(session, program, "B-1042", signer=_signer(QUINN), actor=QUINN, now=WED_25)
    batches.approve(session, program, "B-1042", signer=_signer(ALICE), actor=ALICE,
                    now=datetime(2026, 12, 1, 15, tzinfo=UTC))
    [figures] = batches_rules.figures(session, [program.id], now=datetime(2026, 12, 2, 15, tzinfo=UTC))
    # internal: Mon 23 → Wed 25 = 2 business days; customer: Wed 25 → Tue 1 Dec = Fri 27, Mon 30, Tue 1 = 3
    assert (figures.reviewed, figures.internal_median_days, figures.median_days) == (1, 2.0, 3.0)


def test_app_home_offers_cmo_quality_the_release(session):
    program = _new_program(session)
    batches.ready(session, program, batch_no="B-1042", actor=PM, now=MON_23)
    [item] = batch_release.owed(session, "UQA1", [program], WED_25)
    assert "awaits your QA release" in item.text and item.buttons[0].action_id == "batch_qa_release"
    assert batch_release.owed(session, "UAPP1", [program], WED_25) == []
