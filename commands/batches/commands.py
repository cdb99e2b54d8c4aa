"""`/cmo batch …`: batch records ready for the customer's review (command or form), the commands that decide
(their buttons and dialogs are in commands/batches/decisions.py), the status log and history, review calls
(commands/batches/calls.py), settings and order-to-cash figures.

Slow work (DMs, uploads, updates of earlier messages) happens after the ack; a Slack call that still fails
after the client's retries is told to the person who acted.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import partial
from typing import Any

from pydantic import BaseModel, field_validator
from slack_bolt import App
from slack_sdk import WebClient

from bot import blocks as bk
from bot.downloads import fetch
from commands import home
from commands.after import Run, follow_up, later
from commands.args import UsageError, iso_date
from commands.batches import calls as batch_calls
from commands.batches import decisions as batch_decisions
from commands.batches import release as batch_release
from commands.batches.calls import parse_when, schedule_call
from commands.batches.decisions import (
    after_hold_or_reject,
    decider,
    hold_or_reject,
    open_signing,
    signs_with_code,
)
from commands.batches.messages import gate, post_batch, publish_homes, refresh
from commands.batches.release import cmd_qa_release
from commands.batches.views import (
    Ids,
    figures_text,
    history_text,
    log_text,
    new_view,
)
from commands.boundary import tell
from commands.forms import metadata, open_form, submit
from commands.interaction import Acting, Interaction
from commands.outcome import Outcome
from commands.router import Area, Request, Verb
from store.batches import rules as batches_rules
from store.batches import service as store
from store.batches import settings as batch_settings
from store.db import pk, transaction
from store.errors import Invalid, NotAllowed
from store.filing import file_document
from store.markup import escape
from store.programs import Program, Role, user_ids, visible_to

PREPARERS = (Role.program_manager, Role.cmo_quality)


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
    announce(req, req.client, pk(batch), readers, rows)
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


def announce(who: Acting, client: WebClient, batch_id: int, readers: list[str], rows: list[int]) -> None:
    """A batch marked ready: its message posted, the agreement gate checked, the first readers' Homes updated."""
    out = Outcome(client)
    post_batch(who, client, batch_id, rows)
    gate(who, out, batch_id, stage="ready")
    out.report(who.actor.user_id)
    for user in readers:
        home.publish(who.deps, client, user, who.now)


def cmd_new(req: Request) -> None:
    req.args.only("program")
    with req.session() as session:
        access = req.access(session)
        access.require(*PREPARERS, doing="mark batch records ready for review")
    open_form(req.client, trigger_id=req.trigger_id, view=new_view(access.program))


def cmd_approve(req: Request) -> None:
    req.args.only("program")
    batch_no = req.args.word(0, "the batch number")
    program, batch = decider(req, code=req.args.flag("program"), channel_id=req.channel_id, batch_no=batch_no,
                             doing="approve")
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
    program, batch = decider(req, code=req.args.flag("program"), channel_id=req.channel_id, batch_no=batch_no,
                             doing="reject" if rejected else "put on hold")
    if rejected and signs_with_code(program):
        if batch.state not in store.OPEN:
            raise store.refusal(batch, "rejected")
        open_signing(req.deps, req.client, req.actor, batch, program, req.trigger_id, rejected=True, text=reason)
        return
    batch = hold_or_reject(req, program, batch.batch_no, reason, rejected=rejected)
    req.reply(f"Batch {escape(batch.batch_no)} is {batch.state.label}; the program managers were told.")
    after_hold_or_reject(req, req.client, batch, program, rejected)


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
        approvers = user_ids(session, pk(access.program), Role.customer_approver)
        rows = batches_rules.request_review(session, access.program, batch, approvers, now=req.now, to_channel=False)
    out = Outcome(req.client)
    refresh(req, out, pk(batch))
    out.report(req.user_id)
    post_batch(req, req.client, pk(batch), rows)
    publish_homes(req, req.client, batch.program_id)
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
    req.reply(schedule_call(req, req.client, code=req.args.flag("program"), channel_id=req.channel_id,
                            batch_no=batch_no, starts_local=starts, minutes=int(minutes_text)))


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
            program_ids = [pk(p) for p in visible_to(session, req.actor)]
        else:
            access = req.access(session)
            access.require_internal("see the review figures")
            access.require(*PREPARERS, doing="see the review figures")
            program_ids = [pk(access.program)]
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
            settings = batch_settings.configure(session, access.program, actor=req.actor, now=req.now, **changes)
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


def file_record(interaction: Interaction, client: WebClient, batch_id: int, file: dict[str, Any]) -> None:
    deps = interaction.deps
    with transaction(deps.engine) as session:
        batch, program = store.by_id(session, batch_id)
    downloaded = fetch(client, file["id"])
    filed = file_document(deps.files, program.code, "batches", batch.batch_no, name=downloaded.name,
                          content=downloaded.content)
    with transaction(deps.engine) as session:
        batch, program = store.by_id(session, batch_id)
        store.attach_record(session, program, batch, filed=filed, name=downloaded.name, actor=interaction.actor,
                            now=interaction.now)


def on_new(interaction: Interaction, ack: Callable[..., Any], view: dict[str, Any], client: WebClient) -> None:
    """The `/cmo batch new` form submitted: the batch is marked ready, its record file filed, the readers asked."""
    actor, now = interaction.actor, interaction.now

    def act(form: NewForm) -> None:
        ref = metadata(view, ProgramRef)
        with interaction.session() as session:
            program = session.get(Program, ref.program_id)
            if program is None:
                raise Invalid("That program no longer exists.", "batch_no")
            access = interaction.authorize(session, code=program.code)
            if not access.has(*PREPARERS):
                raise Invalid("Only program managers or CMO quality can mark batch records ready.", "batch_no")
            batch = store.ready(session, program, batch_no=form.batch_no, product=form.product or "",
                                release_by=form.release_by, actor=actor, now=now)
            readers = first_readers(session, batch)
            rows = batches_rules.request_review(session, program, batch, readers, now=now,
                                                to_channel=True)
            later(interaction, client, "batches.ready", session=session, batch_id=pk(batch), approvers=readers,
                  record=[str(form.record[0]["id"])] if form.record else [], rows=rows)

    submit(ack, view, NewForm, act, fallback="batch_no")


@follow_up("batches.ready")
def after_new(run: Run, batch_id: int, approvers: list[str], record: list[str], rows: list[int]) -> None:
    """After the ack (commands/after.py): the record file filed (once: its mark goes with its write), then the
    batch announced (`announce`)."""

    def file_it(file_id: str) -> None:
        try:
            file_record(run.who, run.client, batch_id, {"id": file_id})
        except Invalid as exc:
            tell(run.client, {"user_id": run.who.actor.user_id},
                 f":warning: The batch was recorded, but its file was not filed: {exc}")

    for file_id in record:
        run.once(f"file:{file_id}", partial(file_it, file_id))
    announce(run.who, run.client, batch_id, approvers, rows)


def register(app: App) -> None:
    batch_release.register(app)
    batch_decisions.register(app)
    batch_calls.register(app)
    app.view(Ids.new_view.value)(on_new)
