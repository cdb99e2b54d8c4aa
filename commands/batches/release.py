"""`/cmo batch qa-release B-1042` and the "QA release" button (CMO quality's DM and App Home): the CMO quality
unit's signed release of a batch record for the customer's review (store.batches.release), in the batch signing
dialog — an authenticator code in `totp` programs, initials in `initials` programs. After the release the
customer's approvers get their requests (what `ready` does in programs without the step).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from slack_bolt import App
from slack_sdk import WebClient

from bot import blocks as bk
from commands import people
from commands.after import Run, follow_up, later
from commands.batches.messages import by_ref, post_batch, publish_homes, refresh
from commands.batches.views import BatchRef, SignRef, component_input
from commands.deps import Deps
from commands.forms import is_sealed, metadata, open_form, seal, submit
from commands.interaction import Acting, Interaction
from commands.outcome import Outcome
from commands.router import Request
from store import signing
from store.audit import Actor
from store.batches import release as store
from store.batches import rules as batches_rules
from store.batches import service as batches
from store.batches.release import ACTION
from store.db import pk, transaction
from store.errors import Invalid
from store.markup import escape
from store.programs import Program, Role, user_ids

VIEW = "batch_qa_release_sign"
PURPOSE = "batch-qa-release"  # sealed apart from approval dialogs: one cannot be replayed as the other


class ReleaseForm(BaseModel):
    code: str | None = None
    initials: str | None = None

    @property
    def component(self) -> str:
        return self.code or self.initials or ""


def release_view(batch: batches.Batch, program: Program, ref: SignRef) -> dict:
    record = f" · batch record SHA-256 `{batch.record_sha256[:12]}…`" if batch.record_sha256 else ""
    return bk.modal("QA release", VIEW, [
        bk.section(f"*Meaning of this signature:*\n>{escape(store.meaning(batch))}"),
        bk.context(f"Signing as *{escape(ref.name)}* (CMO quality) · program {escape(program.code)}{record}. Your "
                   f"printed name, Slack id, the date and time (UTC and {escape(ref.tz)}) and this meaning are "
                   "recorded with the batch and in the audit trail; the customer's review starts after it."),
        component_input(batches.settings_of(program).signing),
    ], submit="Sign and release", private_metadata=ref.model_dump_json())


def open_release(deps: Deps, client: WebClient, actor: Actor, batch: batches.Batch, program: Program,
                 trigger_id: str) -> None:
    name, tz = people.as_signer(deps, client, actor.user_id, program.timezone)
    ref = SignRef(batch_id=pk(batch), review_round=batch.review_round, record_sha256=batch.record_sha256,
                  name=name, tz=tz)
    ref.mac = seal(deps, PURPOSE, *ref.parts(actor.user_id))
    open_form(client, trigger_id=trigger_id, view=release_view(batch, program, ref))


def cmd_qa_release(req: Request) -> None:
    req.args.only("program")
    batch_no = req.args.word(0, "the batch number")
    with req.session() as session:
        access = req.access(session)
        access.require_internal("QA-release batch records")
        batch = store.releasable(session, access.program, batch_no, actor=req.actor)
    open_release(req.deps, req.client, req.actor, batch, access.program, req.trigger_id)


def after_release(who: Acting, client: WebClient, released: store.Released, approvers: list[str], rows: list[int]
                  ) -> None:
    """The customer's review starts: the approvers' requests (queued with the release), every earlier message
    updated, a receipt."""
    actor, out = who.actor, Outcome(client)
    batch, row = released.batch, released.release
    refresh(who, out, pk(batch))
    post_batch(who, client, pk(batch), rows)
    utc = row.signed_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    out.call("your signature receipt", client.chat_postMessage, channel=actor.user_id,
             text=(f":white_check_mark: QA release signed by *{escape(row.signer_name)}* ({actor.user_id}) at {utc} "
                   f"({escape(row.local_time)} {escape(row.local_tz)}).\nMeaning: _{escape(row.meaning)}_\n"
                   f"Sent to the customer's approvers: {', '.join(bk.mention(u) for u in approvers) or 'nobody'}."))
    out.report(actor.user_id)
    publish_homes(who, client, batch.program_id)


def on_button(interaction: Interaction, ack: Callable[..., Any], body: dict[str, Any], client: WebClient) -> None:
    """The QA release button of a batch awaiting it: opens the signing dialog for CMO quality."""
    ack()
    try:
        ref = BatchRef.model_validate_json(body["actions"][0].get("value") or "")
    except ValueError:
        raise Invalid("This button's data was altered; use `/cmo batch status`.") from None
    batch, program = by_ref(interaction.deps, ref)
    with interaction.session() as session:
        interaction.authorize(session, code=program.code)
        batch = store.releasable(session, program, batch.batch_no, actor=interaction.actor)
    open_release(interaction.deps, client, interaction.actor, batch, program, body["trigger_id"])


def on_sign(interaction: Interaction, ack: Callable[..., Any], view: dict[str, Any], client: WebClient) -> None:
    """Sign the release. Everything came sealed with the dialog: no Slack call before the ack."""
    deps, actor = interaction.deps, interaction.actor
    field = "initials" if any(b.get("block_id") == "initials" for b in view.get("blocks", [])) else "code"

    def act(form: ReleaseForm) -> None:
        ref = metadata(view, SignRef)
        if not is_sealed(ref.mac, deps, PURPOSE, *ref.parts(actor.user_id)):
            raise Invalid("This form's data was altered; open it again from Slack.")
        signer = batches.Signer(actor.user_id, ref.name, ref.tz, form.component)
        by = Actor(actor.user_id, ref.name, actor.is_admin)  # the printed name recorded at signing
        with interaction.session() as session:
            batch, program = batches.by_id(session, ref.batch_id)
            interaction.authorize(session, code=program.code)
            done = store.release(session, program, batch.batch_no, signer=signer, actor=by, now=interaction.now,
                                 opened=batches.Opened(ref.review_round, ref.record_sha256),
                                 key=deps.settings.cmo_secret_key)
            if not isinstance(done, signing.Refusal):
                approvers = user_ids(session, pk(program), Role.customer_approver)
                rows = batches_rules.request_review(session, program, done.batch, approvers, now=interaction.now,
                                                    to_channel=False)  # the approvers asked, with the release
                later(interaction, client, "batches.released", session=session, batch_id=pk(done.batch),
                      release_id=pk(done.release), internal_days=done.internal_days, approvers=approvers, rows=rows)
            elif done.locked:  # the lockout commits, the form shows the refusal
                later(interaction, client, "signing.locked", session=session, program_id=pk(program))
        if isinstance(done, signing.Refusal):
            raise Invalid(done.message, field)

    submit(ack, view, ReleaseForm, act, fallback=field)


@follow_up("batches.released")
def after_release_form(run: Run, batch_id: int, release_id: int, internal_days: int, approvers: list[str],
                       rows: list[int]) -> None:
    """After the ack (commands/after.py): the customer's review starts (`after_release`)."""
    with transaction(run.who.deps.engine) as session:
        released = store.Released(session.get_one(batches.Batch, batch_id),
                                  session.get_one(store.BatchRelease, release_id), internal_days)
    after_release(run.who, run.client, released, approvers, rows)


def register(app: App) -> None:
    app.action(ACTION)(on_button)
    app.view(VIEW)(on_sign)
