"""Test data built through the store's own services (never raw inserts), so fixtures obey the rules."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlmodel import Session

from store import programs
from store.agreements import service as agreements
from store.audit import Actor
from store.batches import service as batches
from store.programs import Program, Role
from store.stability import service as stability
from store.stability.schedule import ICH_BY_CODE
from store.submissions import service as submissions

ZONES = ("America/New_York", "Europe/Berlin", "Asia/Singapore")

ADMIN = Actor("UADMIN", "Ada Admin", is_admin=True)


def program(session: Session, now: datetime, code: str = "ACME-001", *, channel: str | None = "CACME001",
            timezone: str = "America/New_York", members: dict[Role, list[str]] | None = None,
            qa_release: str | None = "off", **extra) -> Program:
    created = programs.create(
        session, actor=ADMIN, now=now, code=code, customer=extra.pop("customer", f"{code} Customer"),
        timezone=timezone, members=members if members is not None else {
            Role.program_manager: ["UPM1"], Role.customer_approver: ["UAPP1"], Role.cmo_quality: ["UQA1"],
            Role.stability: ["USTAB1"], Role.regulatory: ["URA1"],
        }, **extra,
    )
    if channel:
        programs.link_channel(session, created, channel, actor=ADMIN, now=now)
    if qa_release is not None:  # the customer-review tests start after (or without) the CMO's release step
        created.settings = {**created.settings, "batches": {**(created.settings.get("batches") or {}),
                                                            "qa_release": qa_release}}
    session.flush()
    return created


def portfolio(session: Session, now: datetime, indexes: range, manager: str = "UPM1") -> list[Program]:
    """Programs created 200 days before `now`, managed by `manager` (who holds every role, so every area has
    something to say to them), each with an executed and a draft agreement, batches in review (one due for a
    reminder, one with a release-by date), a stability study with pulls falling due and a submission with an
    item due: the portfolio the statement-count tests compare at two sizes."""
    earlier = now - timedelta(days=200)
    made = []
    for i in indexes:
        made.append(created := program(session, earlier, f"P-{i:03d}", channel=f"CP{i:03d}",
                                        timezone=ZONES[i % len(ZONES)], holiday_calendar="US",
                                        members={role: [manager] for role in Role}))
        agreements.create(session, program=created, actor=ADMIN, now=earlier, kind=agreements.Kind.quality,
                          counterparty="Acme Pharma", status=agreements.Status.executed, owner_id=manager,
                          terms=agreements.Terms(date(2025, 12, 1), date(2026, 12, 1 + i % 20)))
        agreements.create(session, program=created, actor=ADMIN, now=earlier, kind=agreements.Kind.nda,
                          counterparty="Acme Pharma", status=agreements.Status.draft, terms=agreements.Terms())
        batches.ready(session, created, batch_no=f"B-{i}-1", product="Acmezol", actor=ADMIN,
                      now=now - timedelta(days=10))
        batches.ready(session, created, batch_no=f"B-{i}-2", release_by=date(2026, 11, 6 + i % 5), actor=ADMIN,
                      now=now - timedelta(days=1))
        stability.create_study(session, program=created, actor=ADMIN, now=earlier, code=f"STB-{i:04d}",
                               product="Acmezol 10 mg tablets", placed_on=date(2026, 8, 3 + i % 20),
                               duration_months=24, conditions=[ICH_BY_CODE["LT25"], ICH_BY_CODE["ACC40"]],
                               lots="L-001, L-002", protocol="PR-17")
        submission = submissions.create(session, program=created, actor=ADMIN, now=earlier,
                                        kind=submissions.SubmissionType.fda_510k, title="Catheter",
                                        filing_date=date(2026, 11, 20 + i % 5))
        submissions.add_item(session, submission=submission, actor=ADMIN, now=earlier, section="Quality",
                             document="Annual report", owner=manager, due_on=date(2026, 11, 9 + i % 4))
    return made
