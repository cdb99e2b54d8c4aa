"""A program's batch review settings (`Program.settings["batches"]`): reminder and SLA business days, the
release-by warning, whether one approver or all approve, the signing method and the CMO's QA release."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlmodel import Session

from store import audit, signing
from store.audit import Actor
from store.errors import Invalid
from store.programs import Program


class ApprovalMode(StrEnum):
    any = "any"  # one approver's signature approves the batch
    all = "all"  # every customer approver of the program must sign


@dataclass(frozen=True)
class ReviewSettings:
    """Per program, in `Program.settings["batches"]`; defaults stated in the README."""

    reminder_business_days: int = 3
    sla_business_days: int = 5
    release_warning_business_days: int = 2
    approvals: ApprovalMode = ApprovalMode.any
    signing: str = signing.SigningMethod.totp  # programs older than this setting keep `initials` (migration 0170)
    qa_release: str = "required"  # the CMO's signed release before the customer review; older programs: off (0200)


DEFAULTS = ReviewSettings()
QA_RELEASE = ("required", "off")


def settings_of(program: Program) -> ReviewSettings:
    """The program's review settings; a malformed stored value falls back to its default."""
    stored = (program.settings or {}).get("batches") or {}
    values: dict[str, Any] = {}
    for name in ("reminder_business_days", "sla_business_days", "release_warning_business_days"):
        value = stored.get(name)
        if isinstance(value, int) and 0 < value <= 60:
            values[name] = value
    if stored.get("approvals") in set(ApprovalMode):
        values["approvals"] = ApprovalMode(stored["approvals"])
    if stored.get("signing") in signing.SigningMethod.ALL:
        values["signing"] = stored["signing"]
    if stored.get("qa_release") in QA_RELEASE:
        values["qa_release"] = stored["qa_release"]
    return replace(DEFAULTS, **values)


def configure(session: Session, program: Program, *, actor: Actor, now: datetime, **changes: Any) -> ReviewSettings:
    before = settings_of(program)
    for name, value in changes.items():
        if name == "approvals":
            if value not in set(ApprovalMode):
                raise Invalid("Approvals must be `any` (one approver) or `all` (every approver).", "approvals")
        elif name == "signing":
            if value not in signing.SigningMethod.ALL:
                raise Invalid("Signing must be `totp` (a code from an authenticator app) or `initials`.", "signing")
        elif name == "qa_release":
            if value not in QA_RELEASE:
                raise Invalid("QA release must be `required` (CMO quality signs before the customer reviews) or "
                              "`off`.", "qa_release")
        elif not isinstance(value, int) or not 0 < value <= 60:
            raise Invalid(f"{name.replace('_', ' ')} must be a whole number of business days from 1 to 60.", name)
    after = replace(before, **changes)
    program.settings = {**(program.settings or {}), "batches": {**asdict(after), "approvals": str(after.approvals)}}
    session.add(program)
    audit.record(session, actor=actor, action="batch_settings_changed", entity="program", entity_id=program.code,
                 program_id=program.id, before=asdict(before), after=asdict(after), now=now)
    return after

