"""The agreements' renewal reminders: the days before expiry (or the notice deadline) at which a program wants
them, and one of the scheduler's due rules: the latest due stage of each executed agreement's term
(store.agreements.service.current_stage), keyed by the term's date so that a renewal starts a fresh series, and the
text that says what to decide. No Slack imports."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlmodel import Session, col, select

from store import audit
from store.agreements.models import Agreement, Status
from store.agreements.service import MAX_NOTICE_DAYS, Stage, current_stage, notice_deadline, subject
from store.audit import Actor
from store.db import pk
from store.errors import Invalid
from store.markup import day, escape
from store.outbox import Due
from store.programs import Program

DEFAULT_REMINDER_DAYS = (90, 60, 30)


def reminder_days(program: Program) -> tuple[int, ...]:
    """Days before expiry (or before the notice deadline) at which to remind, largest first."""
    configured = ((program.settings or {}).get("agreements") or {}).get("reminder_days")
    if not isinstance(configured, list) or not configured:
        return DEFAULT_REMINDER_DAYS
    days = {d for d in configured if isinstance(d, int) and not isinstance(d, bool) and 0 < d <= MAX_NOTICE_DAYS}
    return tuple(sorted(days, reverse=True)) or DEFAULT_REMINDER_DAYS


def set_reminder_days(session: Session, program: Program, days: Iterable[int], *, actor: Actor,
                      now: datetime) -> tuple[int, ...]:
    wanted = sorted(set(days), reverse=True)
    if not wanted or any(not 0 < d <= MAX_NOTICE_DAYS for d in wanted) or len(wanted) > 6:
        raise Invalid(f"Give one to six day counts between 1 and {MAX_NOTICE_DAYS}, e.g. 90,60,30.")
    before = reminder_days(program)
    settings = dict(program.settings or {})
    settings["agreements"] = {**(settings.get("agreements") or {}), "reminder_days": wanted}
    program.settings = settings  # a new dict so the JSON column is seen as changed
    session.add(program)
    audit.record(session, actor=actor, action="settings_changed", entity="program", entity_id=program.code,
                 program_id=program.id, before={"agreements.reminder_days": list(before)},
                 after={"agreements.reminder_days": wanted}, now=now)
    return tuple(wanted)


def stage_key(agreement: Agreement, stage: Stage) -> str:
    """The term's date is part of the key: a renewal starts a fresh series, never a 'notified' flag."""
    anchor = agreement.review_on if stage.name == "review" else agreement.expires_on
    kind = "review" if stage.name == "review" else "expiry" if stage.name == "expiry" else "renewal"
    suffix = "" if stage.name in ("review", "expiry") else f":{stage.name}"
    return f"agreement:{agreement.id}:{kind}{suffix}:{anchor.isoformat() if anchor else ''}"


def stage_text(agreement: Agreement, program: Program, stage: Stage) -> str:
    what = f"*{escape(agreement.kind.label)} {escape(agreement.ref)}*" + \
        (f" ({escape(agreement.version)})" if agreement.version else "") + \
        f" with {escape(agreement.counterparty)}"
    ref = escape(agreement.ref)
    if stage.name == "review":
        return (f":spiral_calendar_pad: {escape(program.code)}: {what} is evergreen and due for its periodic review "
                f"on {day(stage.nominal)}.\nTo do: review it with the counterparty; record a revision with "
                f"`/cmo agreement new` and `/cmo agreement execute`.")
    expires = agreement.expires_on
    assert expires is not None
    if stage.name == "expiry":
        when = f"expired today, {day(expires)}" if stage.on == expires else f"has expired (on {day(expires)})"
        return (f":rotating_light: {escape(program.code)}: {what} *{when}*.\n"
                f"Until a renewed or new one is executed the program is not covered by it. To do: record the "
                f"renewal with `/cmo agreement renew {ref} YYYY-MM-DD`, or execute the new version.")
    left = (expires - stage.on).days
    lines = [f":hourglass_flowing_sand: {escape(program.code)}: {what} expires on *{day(expires)}* "
             f"({left} days from {day(stage.on)})."]
    deadline = notice_deadline(agreement)
    if deadline:
        lines.append(f"Notice of non-renewal is due by *{day(deadline)}* ({agreement.notice_days}-day notice "
                     "period): decide before then whether to renew, renegotiate or give notice.")
    else:
        lines.append("Decide now whether to renew, renegotiate or let it lapse.")
    lines.append(f"To do: record a renewal with `/cmo agreement renew {ref} YYYY-MM-DD`, or start the next "
                 "version with `/cmo agreement new`.")
    return "\n".join(lines)


def due(session: Session, now: datetime) -> Iterable[Due]:
    """The latest due stage of every executed agreement's term; one statement for all programs."""
    query = select(Agreement, Program).join(Program, col(Program.id) == Agreement.program_id).where(
        Agreement.status == Status.executed, Program.active == True)  # noqa: E712
    for agreement, program in session.exec(query):
        stage = current_stage(agreement, reminder_days(program), now.astimezone(program.tz).date())
        if stage is None:
            continue
        yield Due(key=stage_key(agreement, stage), program_id=pk(program), subject=subject(pk(agreement)),
                  due_on=stage.on, text=stage_text(agreement, program, stage), to_channel=True,
                  to_users=(agreement.owner_id,) if agreement.owner_id else (), urgent=stage.urgent)

