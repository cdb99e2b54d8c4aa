"""Review calls on a batch record: `/cmo batch call`, the Call button of a review message and its form; the
call is recorded, and an .ics invitation is shared in the program channel (or in each participant's DM)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from slack_bolt import App
from slack_sdk import WebClient

from bot import blocks as bk
from commands.after import Run, follow_up, later
from commands.args import UsageError, iso_date
from commands.batches.messages import by_ref
from commands.batches.views import BatchRef, Ids, call_view
from commands.boundary import explain, tell
from commands.forms import metadata, open_form, submit
from commands.interaction import Acting, Interaction
from commands.outcome import Outcome
from store import ical
from store.batches import service as store
from store.db import transaction
from store.errors import Invalid
from store.markup import day, escape, local_time
from store.programs import Program, Role, authorize

CALLERS = (Role.customer_approver, Role.program_manager, Role.cmo_quality)


def parse_when(day_text: str, time_text: str) -> datetime:
    when = iso_date(day_text, "call date")
    if not re.fullmatch(r"\d{1,2}:\d{2}", time_text or ""):
        raise UsageError(f"The time {str(time_text)[:10]!r} is not HH:MM (24-hour), e.g. 14:00.")
    hour, minute = (int(x) for x in time_text.split(":"))
    if hour > 23 or minute > 59:
        raise UsageError(f"The time {time_text!r} is not HH:MM (24-hour), e.g. 14:00.")
    return datetime(when.year, when.month, when.day, hour, minute)


def schedule_call(who: Acting, client: WebClient, *, code: str | None, channel_id: str | None, batch_no: str,
                  starts_local: datetime, minutes: int) -> str:
    deps, actor, now = who.deps, who.actor, who.now
    with transaction(deps.engine) as session:
        access = authorize(session, actor, code=code, channel_id=None if code else channel_id)
        access.require(*CALLERS, doing="schedule review calls")
        program = access.program
        batch, call = store.schedule_call(session, program, batch_no, starts_local=starts_local, minutes=minutes,
                                          actor=actor, now=now)
        participants = store.call_participants(session, program, actor.user_id)
    starts = call.starts_at.astimezone(program.tz)
    text = (f":telephone_receiver: Review call on batch record {store.describe(batch)} of "
            f"{escape(program.code)}: *{local_time(starts)}* ({call.minutes} min), requested by "
            f"{bk.mention(actor.user_id)}. Participants: {', '.join(bk.mention(u) for u in participants)}. "
            "The invitation (.ics) is attached; a reminder comes the morning of the call.")
    invitation = ical.invitation(
        uid=f"batch-{batch.id}-call-{call.id}@cmo-bot", starts=starts, minutes=call.minutes, stamp=now,
        summary=f"Batch record review call: {batch.batch_no} ({program.code})",
        description=f"Review of the executed batch record {batch.batch_no} {batch.product}".strip(),
    )
    out = Outcome(client)
    filename = f"review-call-{batch.batch_no.replace('/', '-')}.ics"
    targets = [program.channel_id] if program.channel_id else [
        (out.call("opening a DM", client.conversations_open, users=u) or {}).get("channel", {}).get("id")
        for u in participants
    ]
    for target in filter(None, targets):
        out.call("uploading the invitation", client.files_upload_v2, channel=target, content=invitation,
                 filename=filename, title=f"Review call {batch.batch_no}", initial_comment=text)
    out.report(actor.user_id)
    return f"Review call scheduled for {local_time(starts)} ({call.minutes} min); the invitation was shared."


# --------------------------------------------------------------------------------------------- listeners


class CallForm(BaseModel):
    date: date
    time: str
    minutes: int = 30


def on_call(interaction: Interaction, ack: Callable[..., None], body: dict[str, Any], client: WebClient) -> None:
    """The Call button of a review message: opens the call form for those who may schedule calls."""
    ack()
    ref = BatchRef.model_validate_json(body["actions"][0].get("value") or "{}")
    batch, program = by_ref(interaction.deps, ref)
    with interaction.session() as session:
        interaction.authorize(session, code=program.code, roles=CALLERS, doing="schedule review calls")
    today = interaction.now.astimezone(program.tz).date()
    open_form(client, trigger_id=body["trigger_id"], view=call_view(batch, program, today))


def on_call_view(interaction: Interaction, ack: Callable[..., None], view: dict[str, Any], client: WebClient) -> None:
    """The call form submitted: a bad time is a field error; the call itself is scheduled after the ack."""

    def act(form: CallForm) -> tuple[store.Batch, Program, datetime, int]:
        batch, program = by_ref(interaction.deps, metadata(view, BatchRef))
        try:
            starts = parse_when(form.date.isoformat(), form.time)
        except UsageError as exc:
            raise Invalid(str(exc), "time") from None
        if not 5 <= form.minutes <= 480:
            raise Invalid("A review call lasts 5 to 480 minutes.", "minutes")
        if starts.replace(tzinfo=program.tz) <= interaction.now:
            raise Invalid(f"{day(form.date)} {form.time} has passed; pick a later time.", "time")
        return batch, program, starts, form.minutes

    chosen = submit(ack, view, CallForm, act, fallback="time")
    if chosen is not None:
        batch, program, starts, minutes = chosen
        later(interaction, client, "batches.call", code=program.code, batch_no=batch.batch_no,
              starts_local=starts.isoformat(), minutes=minutes)


@follow_up("batches.call")
def after_call_form(run: Run, code: str, batch_no: str, starts_local: str, minutes: int) -> None:
    """After the ack (commands/after.py): the call scheduled and the person told by DM (once: its mark goes
    with the call's write)."""

    def schedule() -> None:
        try:
            note = schedule_call(run.who, run.client, code=code, channel_id=None, batch_no=batch_no,
                                 starts_local=datetime.fromisoformat(starts_local), minutes=minutes)
        except Exception as exc:  # after the ack the form is gone: tell the person in a DM
            note = explain(exc)
        tell(run.client, {"user_id": run.who.actor.user_id}, note)

    run.once("call", schedule)


def register(app: App) -> None:
    app.action(Ids.call.value)(on_call)
    app.view(Ids.call_view.value)(on_call_view)
