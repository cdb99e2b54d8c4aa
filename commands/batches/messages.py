"""The Slack side of a batch change, shared by the review (commands/batches/commands.py) and the CMO's QA release
(commands/batches/release.py): the batch message delivered from the outbox at once, earlier messages updated in
place, the approvers' App Homes, the quality agreement gate's warning, and the Slack calls made after the ack
whose failures are told to the person who acted.
"""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient

from bot import blocks as bk
from bot.slack import alerter
from commands import home
from commands.batches.views import BatchRef, batch_message
from commands.boundary import tell
from commands.deps import Deps
from commands.interaction import Acting
from commands.outcome import Outcome
from scheduler.delivery import SENT, deliver_now
from store.batches import service as store
from store.db import pk, transaction
from store.markup import escape
from store.programs import Program, Role, user_ids


def post_batch(who: Acting, client: WebClient, batch_id: int, rows: list[int]) -> None:
    """Deliver the batch message the action queued in the outbox (`batches_rules.request_review`) at once, as
    the full batch message; what Slack does not take now the scheduler retries (in the outbox's plainer form),
    and the sent rows are the messages updated in place later."""
    deps, actor, now = who.deps, who.actor, who.now
    with transaction(deps.engine) as session:
        batch, program = store.by_id(session, batch_id)
        signed = store.signatures(session, batch)
    today = who.now.astimezone(program.tz).date()

    def full(row: Any, _late: bool) -> tuple[str, list[dict]]:
        recipient = None if row.target == program.channel_id else row.target
        return batch_message(batch, program, signed, recipient=recipient, today=today)

    outcomes = deliver_now(deps.engine, client, now, rows, full, alerter(client, deps.settings))
    missed = [o for o in outcomes if o.result not in SENT]
    if missed:
        tell(client, {"user_id": actor.user_id},
             f":warning: The change was saved, but Slack did not take {len(missed)} of its messages just now "
             f"({escape(missed[0].detail)}); the bot will send them as soon as Slack does.")


def refresh(who: Acting, out: Outcome, batch_id: int) -> None:
    """Update every message about the batch in place, so no old button shows a stale state."""
    deps = who.deps
    with transaction(deps.engine) as session:
        batch, program = store.by_id(session, batch_id)
        signed = store.signatures(session, batch)
        posted = store.messages(session, batch)
    today = who.now.astimezone(program.tz).date()
    for message in posted:
        text, blocks = batch_message(batch, program, signed, recipient=message.user_id, today=today)
        out.call("updating an earlier message", out.client.chat_update, channel=message.channel, ts=message.ts,
                 text=text, blocks=blocks)


def publish_homes(who: Acting, client: WebClient, program_id: int) -> None:
    """The approvers' App Home lists what awaits them; it changes with every batch state change."""
    with transaction(who.deps.engine) as session:
        approvers = user_ids(session, program_id, Role.customer_approver)
    for user in approvers:
        home.publish(who.deps, client, user, who.now)


def dm_all(out: Outcome, users: list[str], text: str) -> None:
    for user in users:
        out.call(f"a message to {bk.mention(user)}", out.client.chat_postMessage, channel=user, text=text)


def gate(who: Acting, out: Outcome, batch_id: int, *, stage: str) -> None:
    """No Quality Agreement in force (the Mutual NDA is not part of this gate): warn the program managers and
    CMO quality (and audit it)."""
    with transaction(who.deps.engine) as session:
        batch, program = store.by_id(session, batch_id)
        gaps = store.gate(session, program, batch, stage=stage, actor=who.actor, now=who.now)
        warned = user_ids(session, pk(program), Role.program_manager, Role.cmo_quality)
    if not gaps:
        return
    doing = "marked ready for review" if stage == "ready" else "approved"
    dm_all(out, warned, f":warning: *Quality agreement gate* — batch {escape(batch.batch_no)} of "
                        f"{escape(program.code)} was {doing} with no Quality Agreement in force: "
                        f"{escape('; '.join(gaps))}. This is recorded in the audit trail.")


def by_ref(deps: Deps, ref: BatchRef) -> tuple[store.Batch, Program]:
    with transaction(deps.engine) as session:
        return store.by_id(session, ref.batch_id)
