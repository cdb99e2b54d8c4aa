"""A program with one date of every kind a calendar feed holds, built through the store services (for the
feed's unit and end-to-end tests)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlmodel import Session

from store.agreements import service as agreements
from store.batches import service as batches
from store.programs import Program
from store.submissions import service as subs
from tests import factories
from tests.conftest import NOW
from tests.stability_factories import study

TODAY = NOW.date()


def every_kind_of_date(session: Session, program: Program, calls: Iterable[datetime]) -> subs.Submission:
    """An executed agreement with a notice period, a study's pulls, an open batch record with review calls at
    `calls` (local times in the program's zone) and a submission with its documents; returns the submission."""
    agreements.create(session, program=program, actor=factories.ADMIN, now=NOW, kind=agreements.Kind.quality,
                      counterparty="Acme Pharma", status=agreements.Status.executed,
                      terms=agreements.Terms(effective_on=TODAY - timedelta(days=400),
                                             expires_on=TODAY + timedelta(days=300), notice_days=90))
    study(session, program, NOW, code="STB-0001", placed_on=TODAY - timedelta(days=200), duration=12,
          conditions=("LT25",))
    batches.ready(session, program, batch_no="B-1042", product="Acmezol", actor=factories.ADMIN, now=NOW,
                  release_by=TODAY + timedelta(days=130))
    for starts in calls:
        batches.schedule_call(session, program, "B-1042", starts_local=starts, minutes=45, actor=factories.ADMIN,
                              now=NOW)
    submission = subs.create(session, program=program, actor=factories.ADMIN, now=NOW, kind=subs.SubmissionType.other,
                             title="Acmezol DMF", filing_date=TODAY + timedelta(days=60))
    assert submission is not None
    return submission
