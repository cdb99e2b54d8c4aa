"""Test data built through the store's own services (never raw inserts), so fixtures obey the rules."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from store import programs
from store.audit import Actor
from store.programs import Program, Role

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
