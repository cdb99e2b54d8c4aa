"""`/cmo batch …`: batch records ready for the customer's review, decisions (command, button, signing
modal), the status log and history, review calls with an .ics invitation, settings and order-to-cash figures.

Every decision re-authorizes the person from the payload's user id; buttons and modals carry only the
batch id, validated and re-checked against the batch's current state. Slow work (DMs, uploads, updates of
earlier messages) happens after the ack; a Slack call that still fails after the client's retries is told
to the person who acted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, field_validator
from slack_bolt import App
from slack_sdk import WebClient

from bot import blocks as bk
from bot.downloads import fetch
from commands import batch_release, home, people
from commands import signing as signing_commands
from commands.args import UsageError, iso_date
from commands.batch_messages import Outcome, by_ref, dm_all, gate, post_batch, publish_homes, refresh
from commands.batch_release import cmd_qa_release
from commands.batches_views import (
    BatchRef,
    Ids,
    SignRef,
    call_view,
    figures_text,
    history_text,
    log_text,
    new_view,
    reason_view,
    sign_view,
)
from commands.boundary import explain, tell
from commands.deps import Deps
from commands.forms import is_sealed, metadata, seal, submit
from commands.router import Area, Request, Verb
from store import batches as store
from store import batches_rules, ical, signing
from store.audit import Actor
from store.db import transaction
from store.errors import Invalid, NotAllowed
from store.filing import file_document
from store.markup import day, escape, local_time
from store.programs import Program, Role, authorize, user_ids, visible_to

PREPARERS = (Role.program_manager, Role.cmo_quality)
CALLERS = (Role.customer_approver, Role.program_manager, Role.cmo_quality)


def actor_of(deps: Deps, user: dict[str, Any]) -> Actor:
    return people.actor_of(deps, user)


# ---------------------------------------------------------------------------------------------- decisions


def decider(deps: Deps, actor: Actor, *, code: str | None, channel_id: str | None, batch_no: str,
            doing: str) -> tuple[Program, store.Batch]:
    """The program and batch, if the person is one of its customer approvers. A member's refusal is audited
    first; someone with no role at all hears that there is no program (nothing written, nothing leaked)."""
    now = deps.clock.now()
    with transaction(deps.engine) as session:
        program = authorize(session, actor, code=code, channel_id=None if code else channel_id).program
        allowed = store.may_decide(session, program, batch_no, actor=actor, now=now, doing=doing)
        batch = store.get(session, program, batch_no) if allowed else None
    if batch is None:
        raise NotAllowed(f"Only the customer approvers of {program.code} can {doing} batch records. "
                         "This attempt was recorded.")
    return program, batch


def after_hold_or_reject(deps: Deps, client: WebClient, batch: store.Batch, program: Program, actor: Actor,
                         rejected: bool) -> None:
    out = Outcome(client)
    with transaction(deps.engine) as session:
        managers = user_ids(session, program.id, Role.program_manager)
    verb = "rejected" if rejected else "put on hold"
    dm_all(out, managers, f":{'x' if rejected else 'double_vertical_bar'}: Batch {escape(batch.batch_no)} of "
                          f"{escape(program.code)} was *{verb}* by {bk.mention(actor.user_id)}: "
                          f"{escape(batch.reason or '')}"
                          + ("" if rejected else f"\nWhen resolved: `/cmo batch resume {escape(batch.batch_no)}`."))
    refresh(deps, out, batch.id)
    out.report(actor.user_id)
    publish_homes(deps, client, program.id)


def hold_or_reject(deps: Deps, actor: Actor, program: Program, batch_no: str, reason: str, *, rejected: bool
                   ) -> store.Batch:
    """Hold, or reject without a signing dialog (programs signing with initials); a segregation-of-duties
    refusal is committed (audited) before it is told."""
    with transaction(deps.engine) as session:
        if rejected:
            done = store.reject(session, session.get(Program, program.id), batch_no, reason=reason, actor=actor,
                                now=deps.clock.now())
        else:
            done = store.hold(session, session.get(Program, program.id), batch_no, reason=reason, actor=actor,
                              now=deps.clock.now())
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
    ref = SignRef(batch_id=batch.id, review_round=batch.review_round, record_sha256=batch.record_sha256,
                  name=name, tz=tz, rejected=rejected)
    ref.mac = seal(deps, "batch-sign", *ref.parts(actor.user_id))
    client.views_open(trigger_id=trigger_id, view=sign_view(batch, program, ref, text))


def signed_ref(deps: Deps, view: dict[str, Any], user_id: str) -> SignRef:
    ref = metadata(view, SignRef)
    if not is_sealed(ref.mac, deps, "batch-sign", *ref.parts(user_id)):
        raise Invalid("This form's data was altered; open it again from Slack.")
    return ref


def after_sign(deps: Deps, client: WebClient, signed: store.Signed, actor: Actor) -> None:
    out = Outcome(client)
    batch, signature = signed.batch, signed.signature
    refresh(deps, out, batch.id)
    utc = signature.signed_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    status = ("The batch is *approved*." if signed.complete else
              f"Still to sign: {', '.join(bk.mention(u) for u in signed.missing)}.")
    out.call("your signature receipt", client.chat_postMessage, channel=actor.user_id,
             text=(f":white_check_mark: Signed by *{escape(signature.signer_name)}* ({actor.user_id}) at {utc} "
                   f"({escape(signature.local_time)} {escape(signature.local_tz)}).\n"
                   f"Meaning: _{escape(signature.meaning)}_\n{status}"))
    if signed.complete:
        gate(deps, out, batch.id, stage="approval", actor=actor)
    out.report(actor.user_id)
    publish_homes(deps, client, batch.program_id)


# ---------------------------------------------------------------------------------------------- review calls


def parse_when(day_text: str, time_text: str) -> datetime:
    when = iso_date(day_text, "call date")
    if not re.fullmatch(r"\d{1,2}:\d{2}", time_text or ""):
        raise UsageError(f"The time {str(time_text)[:10]!r} is not HH:MM (24-hour), e.g. 14:00.")
    hour, minute = (int(x) for x in time_text.split(":"))
    if hour > 23 or minute > 59:
        raise UsageError(f"The time {time_text!r} is not HH:MM (24-hour), e.g. 14:00.")
    return datetime(when.year, when.month, when.day, hour, minute)


def schedule_call(deps: Deps, client: WebClient, actor: Actor, *, code: str | None, channel_id: str | None,
                  batch_no: str, starts_local: datetime, minutes: int) -> str:
    now = deps.clock.now()
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


# ---------------------------------------------------------------------------------------------- commands


def cmd_ready(req: Request) -> None:
    req.args.only("program", "product", "release-by")
    batch_no = req.args.word(0, "the batch number (e.g. B-1042)")
    release = req.args.flag("release-by")
    release_by = iso_date(release, "release-by date") if release else None
    with req.session() as session:
        access = req.access(session)
        access.require(*PREPARERS, doing="mark batch records ready for review")
        program = access.program
        batch = store.ready(session, program, batch_no=batch_no, release_by=release_by, actor=req.actor, now=req.now,
                            product=req.args.flag("product") or program.products.split(",")[0].strip())
        readers = first_readers(session, batch)
        rows = batches_rules.request_review(session, program, batch, readers, now=req.now, to_channel=True)
    announce(req.deps, req.client, batch.id, readers, rows, req.actor)
    if batch.state == store.BatchStatus.qa_release:
        who = ", ".join(bk.mention(u) for u in readers) or "nobody (the program has no CMO quality!)"
        req.reply(f":white_check_mark: Batch {escape(batch.batch_no)} awaits the CMO's QA release "
                  f"(`/cmo batch qa-release {escape(batch.batch_no)}`); sent to {who}.")
        return
    who = ", ".join(bk.mention(u) for u in readers) or "nobody (the program has no customer approver!)"
    req.reply(f":white_check_mark: Batch {escape(batch.batch_no)} is ready for review; sent to {who}.")


def first_readers(session, batch: store.Batch) -> list[str]:
    """Who is asked first: CMO quality while the batch awaits its QA release, else the customer's approvers."""
    role = Role.cmo_quality if batch.state == store.BatchStatus.qa_release else Role.customer_approver
    return user_ids(session, batch.program_id, role)


def announce(deps: Deps, client: WebClient, batch_id: int, readers: list[str], rows: list[int],
             actor: Actor) -> None:
    out = Outcome(client)
    post_batch(deps, client, batch_id, rows, actor)
    gate(deps, out, batch_id, stage="ready", actor=actor)
    out.report(actor.user_id)
    for user in readers:
        home.publish(deps, client, user)


def cmd_new(req: Request) -> None:
    req.args.only("program")
    with req.session() as session:
        access = req.access(session)
        access.require(*PREPARERS, doing="mark batch records ready for review")
    req.client.views_open(trigger_id=req.trigger_id, view=new_view(access.program))


def cmd_approve(req: Request) -> None:
    req.args.only("program")
    batch_no = req.args.word(0, "the batch number")
    program, batch = decider(req.deps, req.actor, code=req.args.flag("program"), channel_id=req.channel_id,
                             batch_no=batch_no, doing="approve")
    if batch.state != store.BatchStatus.awaiting:
        raise store.refusal(batch, "approved")
    open_signing(req.deps, req.client, req.actor, batch, program, req.trigger_id, rejected=False,
                 text=req.args.rest(1))


def _cmd_hold_or_reject(req: Request, rejected: bool) -> None:
    req.args.only("program")
    batch_no = req.args.word(0, "the batch number")
    reason = req.args.rest(1)
    if not reason.strip():
        raise UsageError("Give the reason after the batch number.")
    program, batch = decider(req.deps, req.actor, code=req.args.flag("program"), channel_id=req.channel_id,
                             batch_no=batch_no, doing="reject" if rejected else "put on hold")
    if rejected and signs_with_code(program):
        if batch.state not in store.OPEN:
            raise store.refusal(batch, "rejected")
        open_signing(req.deps, req.client, req.actor, batch, program, req.trigger_id, rejected=True, text=reason)
        return
    batch = hold_or_reject(req.deps, req.actor, program, batch.batch_no, reason, rejected=rejected)
    req.reply(f"Batch {escape(batch.batch_no)} is {batch.state.label}; the program managers were told.")
    after_hold_or_reject(req.deps, req.client, batch, program, req.actor, rejected)


def cmd_hold(req: Request) -> None:
    _cmd_hold_or_reject(req, rejected=False)


def cmd_reject(req: Request) -> None:
    _cmd_hold_or_reject(req, rejected=True)


def cmd_resume(req: Request) -> None:
    req.args.only("program")
    batch_no = req.args.word(0, "the batch number")
    with req.session() as session:
        access = req.access(session)
        access.require(*PREPARERS, doing="send batch records back to review")
        batch = store.resume(session, access.program, batch_no, actor=req.actor, now=req.now, note=req.args.rest(1))
        approvers = user_ids(session, access.program.id, Role.customer_approver)
        rows = batches_rules.request_review(session, access.program, batch, approvers, now=req.now, to_channel=False)
    out = Outcome(req.client)
    refresh(req.deps, out, batch.id)
    out.report(req.user_id)
    post_batch(req.deps, req.client, batch.id, rows, req.actor)
    publish_homes(req.deps, req.client, batch.program_id)
    req.reply(f"Batch {escape(batch.batch_no)} is back in review (round {batch.review_round}); "
              "the approvers have new buttons.")


def cmd_log(req: Request) -> None:
    req.args.only("program")
    with req.session() as session:
        program = req.access(session).program
        rows = store.of_program(session, program)
    req.reply(log_text(program, rows, req.now.astimezone(program.tz).date()))


def cmd_status(req: Request) -> None:
    req.args.only("program")
    batch_no = req.args.word(0, "the batch number")
    with req.session() as session:
        program = req.access(session).program
        batch = store.get(session, program, batch_no)
        entries = store.history(session, program, batch)
    req.reply(history_text(batch, program, entries, req.now.astimezone(program.tz).date()))


def cmd_call(req: Request) -> None:
    req.args.only("program", "minutes")
    batch_no = req.args.word(0, "the batch number")
    starts = parse_when(req.args.word(1, "the date (YYYY-MM-DD)"), req.args.word(2, "the time (HH:MM)"))
    minutes_text = req.args.flag("minutes") or "30"
    if not minutes_text.isdecimal():
        raise UsageError("--minutes takes a whole number, e.g. --minutes 45.")
    req.reply(schedule_call(req.deps, req.client, req.actor, code=req.args.flag("program"),
                            channel_id=req.channel_id, batch_no=batch_no, starts_local=starts,
                            minutes=int(minutes_text)))


def cmd_stats(req: Request) -> None:
    req.args.only("program", "days", "all")
    days_text = req.args.flag("days") or "90"
    if not days_text.isdecimal() or not 1 <= int(days_text) <= 3650:
        raise UsageError("--days takes a number of days from 1 to 3650.")
    days = int(days_text)
    across = req.args.switch("all")
    with req.session() as session:
        if across:
            if not req.actor.is_admin:
                raise NotAllowed("Only admins see the figures across programs.")
            program_ids = [p.id for p in visible_to(session, req.actor)]
        else:
            access = req.access(session)
            access.require_internal("see the review figures")
            access.require(*PREPARERS, doing="see the review figures")
            program_ids = [access.program.id]
        rows = batches_rules.figures(session, program_ids, now=req.now, days=days, total=across)
    req.reply(figures_text(rows, days))


SETTING_FLAGS = {"reminder": "reminder_business_days", "sla": "sla_business_days",
                 "release-warning": "release_warning_business_days", "approvals": "approvals", "signing": "signing",
                 "qa-release": "qa_release"}
WORD_SETTINGS = ("approvals", "signing", "qa_release")
SIGNING = {"totp": "a code from an authenticator app", "initials": "initials re-typed"}
QA_RELEASE = {"required": "CMO quality signs a release before the customer reviews",
              "off": "straight to the customer"}


def cmd_settings(req: Request) -> None:
    req.args.only("program", *SETTING_FLAGS)
    changes: dict[str, Any] = {}
    for flag, name in SETTING_FLAGS.items():
        value = req.args.flag(flag)
        if value is not None:
            if name not in WORD_SETTINGS and not value.isdecimal():
                raise UsageError(f"--{flag} takes a number of business days.")
            changes[name] = value.lower() if name in WORD_SETTINGS else int(value)
    with req.session() as session:
        access = req.access(session)
        if changes:
            access.require_internal("change the review settings")
            access.require(Role.program_manager, doing="change the review settings")
            settings = store.configure(session, access.program, actor=req.actor, now=req.now, **changes)
        else:
            settings = store.settings_of(access.program)
    req.reply(f"*Batch review settings of {escape(access.program.code)}*: reminder after "
              f"{settings.reminder_business_days} business days, SLA {settings.sla_business_days} business days, "
              f"release-by warning {settings.release_warning_business_days} business days before, approvals: "
              f"{settings.approvals} ({'one approver' if settings.approvals == 'any' else 'every approver'}), "
              f"signing: {settings.signing} ({SIGNING[settings.signing]}), QA release: {settings.qa_release} "
              f"({QA_RELEASE[settings.qa_release]}).")


AREA = Area("batch", "batch record review: ready → the customer's approval, reminders, review calls", (
    Verb("ready", "/cmo batch ready B-1042 [--product NAME] [--release-by YYYY-MM-DD]",
         "the batch record is available: post it and ask the customer's approvers (managers, quality)", cmd_ready),
    Verb("new", "/cmo batch new", "the same as ready, in a form, with the batch record file", cmd_new),
    Verb("qa-release", "/cmo batch qa-release B-1042",
         "CMO quality: sign the release of the batch record for the customer's review", cmd_qa_release),
    Verb("approve", "/cmo batch approve B-1042 [comment]", "sign the approval (customer approvers)", cmd_approve),
    Verb("hold", "/cmo batch hold B-1042 <reason>", "put it on hold with a reason (customer approvers)", cmd_hold),
    Verb("reject", "/cmo batch reject B-1042 <reason>", "reject it with a reason (customer approvers)", cmd_reject),
    Verb("resume", "/cmo batch resume B-1042 [note]", "a held batch goes back to review (managers, quality)",
         cmd_resume),
    Verb("log", "/cmo batch log", "every batch of the program with its status", cmd_log),
    Verb("status", "/cmo batch status B-1042", "one batch's whole history", cmd_status),
    Verb("call", "/cmo batch call B-1042 2026-12-03 14:00 [--minutes 30]",
         "schedule a review call (program time zone) and share an .ics invitation", cmd_call),
    Verb("stats", "/cmo batch stats [--days 90] [--all]",
         "order-to-cash figures: median and P90 review days, SLA breaches (--all: admins, every program)",
         cmd_stats, frozenset({"all"})),
    Verb("settings", "/cmo batch settings [--reminder N] [--sla N] [--release-warning N] [--approvals any|all] "
                     "[--signing totp|initials] [--qa-release required|off]",
         "show or change the review settings (managers change)", cmd_settings),
))


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


class CallForm(BaseModel):
    date: date
    time: str
    minutes: int = 30


class NewForm(BaseModel):
    batch_no: str
    product: str | None = None
    release_by: date | None = None
    record: list[dict[str, Any]] = []

    @field_validator("batch_no")
    @classmethod
    def _batch_no(cls, v: str) -> str:
        return store.validate_batch_no(v)


class ProgramRef(BaseModel):
    program_id: int


def file_record(deps: Deps, client: WebClient, batch_id: int, file: dict[str, Any], actor: Actor) -> None:
    with transaction(deps.engine) as session:
        batch, program = store.by_id(session, batch_id)
    downloaded = fetch(client, file["id"])
    filed = file_document(deps.files, program.code, "batches", batch.batch_no, name=downloaded.name,
                          content=downloaded.content)
    with transaction(deps.engine) as session:
        batch, program = store.by_id(session, batch_id)
        store.attach_record(session, program, batch, filed=filed, name=downloaded.name, actor=actor,
                            now=deps.clock.now())


def register(app: App, deps: Deps) -> None:
    batch_release.register(app, deps)

    def button_ref(body: dict[str, Any]) -> BatchRef:
        try:
            return BatchRef.model_validate_json(body["actions"][0].get("value") or "")
        except ValueError:
            raise Invalid("This button's data was altered; use `/cmo batch status`.") from None

    def open_for(ack, body: dict[str, Any], doing: str, done: str,
                 show: Callable[[Actor, store.Batch, Program], None]) -> None:
        """A decision button: the clicker re-authorized, the batch still awaiting review, then its dialog."""
        ack()
        actor = actor_of(deps, body["user"])
        batch, program = by_ref(deps, button_ref(body))
        program, batch = decider(deps, actor, code=program.code, channel_id=None, batch_no=batch.batch_no,
                                 doing=doing)
        if batch.state != store.BatchStatus.awaiting:
            raise store.refusal(batch, done)
        show(actor, batch, program)

    def signing_dialog(body: dict[str, Any], client: WebClient, *, rejected: bool):
        return lambda actor, batch, program: open_signing(deps, client, actor, batch, program, body["trigger_id"],
                                                          rejected=rejected)

    def reason_dialog(body: dict[str, Any], client: WebClient, *, rejected: bool):
        return lambda actor, batch, program: client.views_open(trigger_id=body["trigger_id"],
                                                               view=reason_view(batch, reject=rejected))

    @app.action(Ids.approve.value)
    def on_approve(ack, body: dict[str, Any], client: WebClient) -> None:
        open_for(ack, body, "approve", "approved", signing_dialog(body, client, rejected=False))

    @app.action(Ids.hold.value)
    def on_hold(ack, body: dict[str, Any], client: WebClient) -> None:
        open_for(ack, body, "put on hold", "put on hold", reason_dialog(body, client, rejected=False))

    @app.action(Ids.reject.value)
    def on_reject(ack, body: dict[str, Any], client: WebClient) -> None:
        """Signed in programs that sign with an authenticator code; a reason form in those that kept initials."""
        ack()
        _, program = by_ref(deps, button_ref(body))
        dialog = signing_dialog if signs_with_code(program) else reason_dialog
        open_for(lambda **_: None, body, "reject", "rejected", dialog(body, client, rejected=True))

    @app.action(Ids.call.value)
    def on_call(ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        ref = BatchRef.model_validate_json(body["actions"][0].get("value") or "{}")
        batch, program = by_ref(deps, ref)
        with transaction(deps.engine) as session:
            authorize(session, people.actor_of(deps, body["user"], session), code=program.code).require(
                *CALLERS, doing="schedule review calls")
        today = deps.clock.now().astimezone(program.tz).date()
        client.views_open(trigger_id=body["trigger_id"], view=call_view(batch, program, today))

    def on_signing(ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        """Approve or reject in the signing dialog. Everything it needs came sealed with the dialog: nothing
        here calls Slack before the ack."""
        actor = actor_of(deps, body["user"])
        field = "initials" if any(b.get("block_id") == "initials" for b in view.get("blocks", [])) else "code"
        locked: list[Program] = []

        def act(form: SignForm) -> tuple[Program, store.Signed | store.Batch]:
            ref = signed_ref(deps, view, actor.user_id)
            batch, program = by_ref(deps, BatchRef(batch_id=ref.batch_id))
            doing = "reject" if ref.rejected else "approve"
            program, batch = decider(deps, actor, code=program.code, channel_id=None, batch_no=batch.batch_no,
                                     doing=doing)
            signer = store.Signer(actor.user_id, ref.name, ref.tz, form.component)
            by = Actor(actor.user_id, ref.name, actor.is_admin)  # the printed name recorded at signing
            opened = store.Opened(ref.review_round, ref.record_sha256)
            key = deps.settings.cmo_secret_key

            def sign() -> store.Signed | store.Batch | signing.Refusal:
                with transaction(deps.engine) as session:
                    current = session.get(Program, program.id)
                    if ref.rejected:
                        return store.reject(session, current, batch.batch_no, reason=form.reason or "", actor=by,
                                             now=deps.clock.now(), signer=signer, opened=opened, key=key)
                    return store.approve(session, current, batch.batch_no, signer=signer, actor=by,
                                         now=deps.clock.now(), comment=form.comment or "", opened=opened, key=key)

            done = sign()
            if isinstance(done, signing.Refusal):
                if done.locked:
                    locked.append(program)
                raise Invalid(done.message, field)
            return program, done

        done = submit(ack, view, SignForm, act, fallback=field)
        if locked:
            signing_commands.warn_locked(deps, client, actor.user_id, locked[0])
        if done is None:
            return
        program, outcome = done
        if isinstance(outcome, store.Signed):
            after_sign(deps, client, outcome, actor)
        else:
            after_hold_or_reject(deps, client, outcome, program, actor, rejected=True)

    @app.view(Ids.sign_view.value)
    def on_sign(ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        on_signing(ack, body, view, client)

    @app.view(Ids.reject_sign_view.value)
    def on_reject_sign(ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        on_signing(ack, body, view, client)

    def on_reason(ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, rejected: bool) -> None:
        actor = actor_of(deps, body["user"])
        doing = "reject" if rejected else "put on hold"

        def act(form: ReasonForm) -> tuple[store.Batch, Program]:
            batch, program = by_ref(deps, metadata(view, BatchRef))
            program, batch = decider(deps, actor, code=program.code, channel_id=None, batch_no=batch.batch_no,
                                     doing=doing)
            return hold_or_reject(deps, actor, program, batch.batch_no, form.reason, rejected=rejected), program

        done = submit(ack, view, ReasonForm, act, fallback="reason")
        if done is not None:
            after_hold_or_reject(deps, client, done[0], done[1], actor, rejected)

    @app.view(Ids.hold_view.value)
    def on_hold_view(ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        on_reason(ack, body, view, client, rejected=False)

    @app.view(Ids.reject_view.value)
    def on_reject_view(ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        on_reason(ack, body, view, client, rejected=True)

    @app.view(Ids.call_view.value)
    def on_call_view(ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        actor = actor_of(deps, body["user"])

        def act(form: CallForm) -> tuple[store.Batch, Program, datetime, int]:
            batch, program = by_ref(deps, metadata(view, BatchRef))
            try:
                starts = parse_when(form.date.isoformat(), form.time)
            except UsageError as exc:
                raise Invalid(str(exc), "time") from None
            if not 5 <= form.minutes <= 480:
                raise Invalid("A review call lasts 5 to 480 minutes.", "minutes")
            if starts.replace(tzinfo=program.tz) <= deps.clock.now():
                raise Invalid(f"{day(form.date)} {form.time} has passed; pick a later time.", "time")
            return batch, program, starts, form.minutes

        chosen = submit(ack, view, CallForm, act, fallback="time")
        if chosen is not None:
            batch, program, starts, minutes = chosen
            try:
                note = schedule_call(deps, client, actor, code=program.code, channel_id=None,
                                     batch_no=batch.batch_no, starts_local=starts, minutes=minutes)
            except Exception as exc:  # after the ack the form is gone: tell the person in a DM
                note = explain(exc)
            tell(client, {"user_id": actor.user_id}, note)

    @app.view(Ids.new_view.value)
    def on_new(ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        actor = actor_of(deps, body["user"])

        def act(form: NewForm) -> tuple[int, list[str], list[dict[str, Any]], list[int]]:
            ref = metadata(view, ProgramRef)
            with transaction(deps.engine) as session:
                program = session.get(Program, ref.program_id)
                if program is None:
                    raise Invalid("That program no longer exists.", "batch_no")
                access = authorize(session, actor, code=program.code)
                if not access.has(*PREPARERS):
                    raise Invalid("Only program managers or CMO quality can mark batch records ready.", "batch_no")
                batch = store.ready(session, program, batch_no=form.batch_no, product=form.product or "",
                                    release_by=form.release_by, actor=actor, now=deps.clock.now())
                readers = first_readers(session, batch)
                rows = batches_rules.request_review(session, program, batch, readers, now=deps.clock.now(),
                                                    to_channel=True)
                return batch.id, readers, form.record, rows

        created = submit(ack, view, NewForm, act, fallback="batch_no")
        if created is None:
            return
        batch_id, approvers, files, rows = created
        if files:
            try:
                file_record(deps, client, batch_id, files[0], actor)
            except Invalid as exc:
                tell(client, {"user_id": actor.user_id}, f":warning: The batch was recorded, but its file was not "
                                                         f"filed: {exc}")
        announce(deps, client, batch_id, approvers, rows, actor)
