"""The customer's decision on a batch record: approve, hold or reject, by command or by the buttons of the
review message, through the signing dialog (approve, and reject in programs signing with an authenticator
code) or the reason form (hold, and reject in programs that kept initials).

Every decision re-authorizes the person from the payload's user id; buttons and modals carry only the batch
id, validated and re-checked against the batch's current state. Slow work (DMs, updates of earlier messages)
happens after the ack."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from slack_bolt import App
from slack_sdk import WebClient
from sqlmodel import Session

from bot import blocks as bk
from commands import people
from commands.after import Run, follow_up, later
from commands.batches.messages import by_ref, dm_all, gate, publish_homes, refresh
from commands.batches.views import BatchRef, Ids, SignRef, reason_view, sign_view
from commands.deps import Deps
from commands.forms import is_sealed, metadata, open_form, seal, submit
from commands.interaction import Acting, Interaction
from commands.outcome import Outcome
from store import signing
from store.audit import Actor
from store.batches import service as store
from store.db import pk, transaction
from store.errors import Invalid, NotAllowed
from store.markup import escape
from store.programs import Program, Role, authorize, user_ids

# ---------------------------------------------------------------------------------------------- decisions


def decider(who: Acting, *, code: str | None, channel_id: str | None, batch_no: str, doing: str
            ) -> tuple[Program, store.Batch]:
    """The program and batch, if the person is one of its customer approvers. A member's refusal is audited
    first; someone with no role at all hears that there is no program (nothing written, nothing leaked)."""
    deps, actor, now = who.deps, who.actor, who.now
    with transaction(deps.engine) as session:
        program = authorize(session, actor, code=code, channel_id=None if code else channel_id).program
        allowed = store.may_decide(session, program, batch_no, actor=actor, now=now, doing=doing)
        batch = store.get(session, program, batch_no) if allowed else None
    if batch is None:
        raise NotAllowed(f"Only the customer approvers of {program.code} can {doing} batch records. "
                         "This attempt was recorded.")
    return program, batch


def after_hold_or_reject(who: Acting, client: WebClient, batch: store.Batch, program: Program, rejected: bool
                         ) -> None:
    deps, actor, out = who.deps, who.actor, Outcome(client)
    with transaction(deps.engine) as session:
        managers = user_ids(session, pk(program), Role.program_manager)
    verb = "rejected" if rejected else "put on hold"
    dm_all(out, managers, f":{'x' if rejected else 'double_vertical_bar'}: Batch {escape(batch.batch_no)} of "
                          f"{escape(program.code)} was *{verb}* by {bk.mention(actor.user_id)}: "
                          f"{escape(batch.reason or '')}"
                          + ("" if rejected else f"\nWhen resolved: `/cmo batch resume {escape(batch.batch_no)}`."))
    refresh(who, out, pk(batch))
    out.report(actor.user_id)
    publish_homes(who, client, pk(program))


def hold_or_reject(who: Acting, program: Program, batch_no: str, reason: str, *, rejected: bool,
                   then: Callable[[Session, store.Batch], None] | None = None) -> store.Batch:
    """Hold, or reject without a signing dialog (programs signing with initials); a segregation-of-duties
    refusal is committed (audited) before it is told. `then`: run in the transaction of the change (a form
    names its follow-up there, to commit with it: commands/after.py)."""
    with transaction(who.deps.engine) as session:
        current = session.get_one(Program, program.id)
        if rejected:
            done = store.reject(session, current, batch_no, reason=reason, actor=who.actor, now=who.now)
        else:
            done = store.hold(session, current, batch_no, reason=reason, actor=who.actor, now=who.now)
        if then is not None and not isinstance(done, signing.Refusal):
            then(session, done)
    if isinstance(done, signing.Refusal):
        raise NotAllowed(done.message)
    return done


def signs_with_code(program: Program) -> bool:
    return store.settings_of(program).signing == signing.SigningMethod.totp


def open_signing(deps: Deps, client: WebClient, actor: Actor, batch: store.Batch, program: Program,
                 trigger_id: str, *, rejected: bool, text: str = "") -> None:
    """The signing dialog, bound to the batch's current round and record checksum, with the printed name and
    time zone Slack holds for the signer (users.info, here after the ack, never in the submission)."""
    name, tz = people.as_signer(deps, client, actor.user_id, program.timezone)
    ref = SignRef(batch_id=pk(batch), review_round=batch.review_round, record_sha256=batch.record_sha256,
                  name=name, tz=tz, rejected=rejected)
    ref.mac = seal(deps, "batch-sign", *ref.parts(actor.user_id))
    open_form(client, trigger_id=trigger_id, view=sign_view(batch, program, ref, text))


def signed_ref(deps: Deps, view: dict[str, Any], user_id: str) -> SignRef:
    ref = metadata(view, SignRef)
    if not is_sealed(ref.mac, deps, "batch-sign", *ref.parts(user_id)):
        raise Invalid("This form's data was altered; open it again from Slack.")
    return ref


def after_sign(who: Acting, client: WebClient, signed: store.Signed) -> None:
    actor, out = who.actor, Outcome(client)
    batch, signature = signed.batch, signed.signature
    refresh(who, out, pk(batch))
    utc = signature.signed_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    status = ("The batch is *approved*." if signed.complete else
              f"Still to sign: {', '.join(bk.mention(u) for u in signed.missing)}.")
    out.call("your signature receipt", client.chat_postMessage, channel=actor.user_id,
             text=(f":white_check_mark: Signed by *{escape(signature.signer_name)}* ({actor.user_id}) at {utc} "
                   f"({escape(signature.local_time)} {escape(signature.local_tz)}).\n"
                   f"Meaning: _{escape(signature.meaning)}_\n{status}"))
    if signed.complete:
        gate(who, out, pk(batch), stage="approval")
    out.report(actor.user_id)
    publish_homes(who, client, batch.program_id)


# ---------------------------------------------------------------------------------------------- listeners


class SignForm(BaseModel):
    code: str | None = None  # programs signing with an authenticator app
    initials: str | None = None  # programs that kept initials
    comment: str | None = None
    reason: str | None = None

    @property
    def component(self) -> str:
        return self.code or self.initials or ""


class ReasonForm(BaseModel):
    reason: str


def button_ref(body: dict[str, Any]) -> BatchRef:
    try:
        return BatchRef.model_validate_json(body["actions"][0].get("value") or "")
    except ValueError:
        raise Invalid("This button's data was altered; use `/cmo batch status`.") from None


Dialog = Callable[[Actor, store.Batch, Program], object]


def open_for(interaction: Interaction, ack: Callable[..., Any], body: dict[str, Any], doing: str, done: str,
             show: Dialog) -> None:
    """A decision button: the clicker re-authorized, the batch still awaiting review, then its dialog."""
    ack()
    batch, program = by_ref(interaction.deps, button_ref(body))
    program, batch = decider(interaction, code=program.code, channel_id=None, batch_no=batch.batch_no, doing=doing)
    if batch.state != store.BatchStatus.awaiting:
        raise store.refusal(batch, done)
    show(interaction.actor, batch, program)


def signing_dialog(deps: Deps, body: dict[str, Any], client: WebClient, *, rejected: bool) -> Dialog:
    return lambda actor, batch, program: open_signing(deps, client, actor, batch, program, body["trigger_id"],
                                                      rejected=rejected)


def reason_dialog(deps: Deps, body: dict[str, Any], client: WebClient, *, rejected: bool) -> Dialog:
    return lambda actor, batch, program: open_form(client, trigger_id=body["trigger_id"],
                                                   view=reason_view(batch, reject=rejected))


def on_approve(interaction: Interaction, ack: Callable[..., Any], body: dict[str, Any], client: WebClient) -> None:
    """The Approve button of a review message: opens the signing dialog."""
    dialog = signing_dialog(interaction.deps, body, client, rejected=False)
    open_for(interaction, ack, body, "approve", "approved", dialog)


def on_hold(interaction: Interaction, ack: Callable[..., Any], body: dict[str, Any], client: WebClient) -> None:
    """The Hold button of a review message: opens the reason form."""
    dialog = reason_dialog(interaction.deps, body, client, rejected=False)
    open_for(interaction, ack, body, "put on hold", "put on hold", dialog)


def on_reject(interaction: Interaction, ack: Callable[..., Any], body: dict[str, Any], client: WebClient) -> None:
    """The Reject button: signed in programs that sign with an authenticator code; a reason form in those that
    kept initials."""
    ack()
    _, program = by_ref(interaction.deps, button_ref(body))
    dialog = signing_dialog if signs_with_code(program) else reason_dialog
    open_for(interaction, lambda **_: None, body, "reject", "rejected",
             dialog(interaction.deps, body, client, rejected=True))


def on_signing(interaction: Interaction, ack: Callable[..., Any], view: dict[str, Any], client: WebClient) -> None:
    """Approve or reject in the signing dialog. Everything it needs came sealed with the dialog: nothing
    here calls Slack before the ack."""
    deps, actor = interaction.deps, interaction.actor
    field = "initials" if any(b.get("block_id") == "initials" for b in view.get("blocks", [])) else "code"

    def act(form: SignForm) -> None:
        ref = signed_ref(deps, view, actor.user_id)
        batch, program = by_ref(deps, BatchRef(batch_id=ref.batch_id))
        doing = "reject" if ref.rejected else "approve"
        program, batch = decider(interaction, code=program.code, channel_id=None, batch_no=batch.batch_no,
                                 doing=doing)
        signer = store.Signer(actor.user_id, ref.name, ref.tz, form.component)
        by = Actor(actor.user_id, ref.name, actor.is_admin)  # the printed name recorded at signing
        opened = store.Opened(ref.review_round, ref.record_sha256)
        key = deps.settings.cmo_secret_key

        done: store.Signed | store.Batch | signing.Refusal
        with transaction(deps.engine) as session:
            current = session.get_one(Program, program.id)
            if ref.rejected:
                done = store.reject(session, current, batch.batch_no, reason=form.reason or "", actor=by,
                                    now=interaction.now, signer=signer, opened=opened, key=key)
            else:
                done = store.approve(session, current, batch.batch_no, signer=signer, actor=by,
                                     now=interaction.now, comment=form.comment or "", opened=opened, key=key)
            if isinstance(done, store.Signed):
                later(interaction, client, "batches.signed", session=session, batch_id=pk(done.batch),
                      signature_id=pk(done.signature), complete=done.complete, missing=list(done.missing))
            elif isinstance(done, store.Batch):
                later(interaction, client, "batches.held", session=session, batch_id=pk(done),
                      program_id=pk(program), rejected=True)
            elif done.locked:  # the lockout commits, the form shows the refusal
                later(interaction, client, "signing.locked", session=session, program_id=pk(program))
        if isinstance(done, signing.Refusal):
            raise Invalid(done.message, field)

    submit(ack, view, SignForm, act, fallback=field)


@follow_up("batches.signed")
def after_signing_form(run: Run, batch_id: int, signature_id: int, complete: bool, missing: list[str]) -> None:
    """After the ack (commands/after.py): the signature's messages and receipt (`after_sign`)."""
    with transaction(run.who.deps.engine) as session:
        signed = store.Signed(session.get_one(store.Batch, batch_id), session.get_one(store.BatchSignature,
                                                                                      signature_id),
                              complete, tuple(missing))
    after_sign(run.who, run.client, signed)


@follow_up("batches.held")
def after_reason_form(run: Run, batch_id: int, program_id: int, rejected: bool) -> None:
    """After the ack (commands/after.py): the managers told, the messages and Homes updated
    (`after_hold_or_reject`)."""
    with transaction(run.who.deps.engine) as session:
        batch, program = session.get_one(store.Batch, batch_id), session.get_one(Program, program_id)
    after_hold_or_reject(run.who, run.client, batch, program, rejected)


def on_reason(interaction: Interaction, ack: Callable[..., Any], view: dict[str, Any], client: WebClient,
              rejected: bool) -> None:
    doing = "reject" if rejected else "put on hold"

    def act(form: ReasonForm) -> None:
        batch, program = by_ref(interaction.deps, metadata(view, BatchRef))
        program, batch = decider(interaction, code=program.code, channel_id=None, batch_no=batch.batch_no,
                                 doing=doing)

        def held(session: Session, done: store.Batch) -> None:
            later(interaction, client, "batches.held", session=session, batch_id=pk(done), program_id=pk(program),
                  rejected=rejected)

        hold_or_reject(interaction, program, batch.batch_no, form.reason, rejected=rejected, then=held)

    submit(ack, view, ReasonForm, act, fallback="reason")


def on_hold_view(interaction: Interaction, ack: Callable[..., Any], view: dict[str, Any], client: WebClient) -> None:
    """The hold form submitted: the batch goes on hold with its reason."""
    on_reason(interaction, ack, view, client, rejected=False)


def on_reject_view(interaction: Interaction, ack: Callable[..., Any], view: dict[str, Any],
                   client: WebClient) -> None:
    """The reject form submitted (programs signing with initials): the batch is rejected with its reason."""
    on_reason(interaction, ack, view, client, rejected=True)


def register(app: App) -> None:
    app.action(Ids.approve.value)(on_approve)
    app.action(Ids.hold.value)(on_hold)
    app.action(Ids.reject.value)(on_reject)
    app.view(Ids.sign_view.value)(on_signing)
    app.view(Ids.reject_sign_view.value)(on_signing)
    app.view(Ids.hold_view.value)(on_hold_view)
    app.view(Ids.reject_view.value)(on_reject_view)
