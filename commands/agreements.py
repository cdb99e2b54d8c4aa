"""`/cmo agreement …`: log agreements, their redline rounds, execution, renewal and filed originals."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, ValidationError, field_validator
from slack_bolt import App
from slack_sdk import WebClient
from sqlmodel import Session

from bot.downloads import SlackFile, fetch
from commands import file_to_program, people
from commands.agreements_views import Ids, Ref, execute_view, list_text, new_view, redline_view, show_blocks
from commands.args import UsageError, iso_date
from commands.boundary import explain, tell
from commands.deps import Deps
from commands.forms import metadata, submit
from commands.router import Area, Request, Verb
from scheduler.delivery import SENT, deliver_now
from store import agreements as store
from store import outbox, programs
from store.agreement_gaps import gaps
from store.agreements import Agreement, Kind, Side, Status, Terms
from store.audit import Actor
from store.db import transaction
from store.errors import Conflict, DomainError, Invalid
from store.filing import file_document, safe_name
from store.markup import day, escape
from store.programs import Access, Program, Role

log = logging.getLogger(__name__)

EDITORS = (Role.program_manager, Role.cmo_quality)  # log, execute, renew
NEGOTIATORS = (Role.program_manager, Role.cmo_quality, Role.customer_approver)  # log a redline round


class TermsForm(BaseModel):
    effective: date | None = None
    expires: date | None = None
    evergreen: list[str] = []
    review: date | None = None
    notice: int | None = None
    files: list[dict[str, Any]] = []

    @field_validator("notice", mode="before")
    @classmethod
    def _notice(cls, v: Any) -> Any:
        if isinstance(v, str) and not v.strip().isdecimal():
            raise ValueError("Write the notice period as a whole number of days, e.g. 60.")
        return v

    def terms(self) -> Terms:
        return Terms(self.effective, self.expires, bool(self.evergreen), self.review, self.notice)

    def file_ids(self) -> list[str]:
        return [f["id"] for f in self.files if isinstance(f, dict) and f.get("id")]


class NewForm(TermsForm):
    kind: Kind
    counterparty: str
    status: Status
    version: str | None = None
    owner: str | None = None
    notes: str | None = None


class ExecuteForm(TermsForm):
    version: str | None = None


class RedlineForm(BaseModel):
    version: str | None = None
    side: Side
    note: str | None = None
    files: list[dict[str, Any]] = []


def actor_of(deps: Deps, body: dict[str, Any]) -> Actor:
    return people.actor_of(deps, body["user"])


def default_side(access: Access) -> Side:
    cmo = access.roles & {Role.program_manager, Role.cmo_quality}
    return Side.customer if Role.customer_approver in access.roles and not cmo else Side.cmo


def file_one(deps: Deps, actor: Actor, program: Program, agreement: Agreement, slack_file: SlackFile,
             role: str) -> str:
    """Write a downloaded file to the program folder and record it with its checksum (audit included)."""
    filed = file_document(deps.files, program.code, "agreements",
                          name=f"{agreement.ref}-{safe_name(slack_file.name)}", content=slack_file.content)
    with transaction(deps.engine) as session:
        fresh = session.get(Agreement, agreement.id)
        store.record_document(session, fresh, filed, actor=actor, now=deps.clock.now(), role=role,
                              name=slack_file.name, slack_file_id=slack_file.id)
    return (f":file_folder: Filed *{escape(slack_file.name)}* to {escape(program.code)} {escape(agreement.ref)} "
            f"({role}) as `{escape(filed.path)}`, SHA-256 `{filed.sha256}`.")


def file_all(deps: Deps, client: WebClient, actor: Actor, program: Program, agreement: Agreement,
             file_ids: list[str], role: str) -> None:
    """After the ack: download and file each; the person hears of every success and every failure."""
    for file_id in file_ids:
        try:
            text = file_one(deps, actor, program, agreement, fetch(client, file_id), role)
        except DomainError as error:
            text = f"{explain(error)}\n{escape(agreement.ref)} itself was saved; file the document again with " \
                   "the message shortcut *File to program*."
        tell(client, {"user_id": actor.user_id}, text)


def notice(session: Session, program: Program, agreement: Agreement, event: str, text: str,
           now: datetime) -> list[int]:
    """The channel's notice of a change, queued through the outbox in the change's own transaction, so that
    a crash or a Slack outage does not lose it (nothing is queued for a program without a channel)."""
    if not program.channel_id:
        return []
    return outbox.announce(session, key=f"agreement:{agreement.id}:{event}", program_id=program.id,
                           subject=f"agreement:{agreement.id}:notice", text=text, targets=[(program.channel_id, ())],
                           today=now.astimezone(program.tz).date(), now=now)


def announce(deps: Deps, client: WebClient, program: Program, text: str, rows: list[int], actor: Actor) -> None:
    """Post the queued notice now; without a channel, tell the person who acted instead."""
    if not program.channel_id:
        tell(client, {"user_id": actor.user_id}, text)
        return
    missed = [o for o in deliver_now(deps.engine, client, deps.clock.now(), rows) if o.result not in SENT]
    if missed:
        tell(client, {"user_id": actor.user_id},
             f"{text}\n:warning: Could not post this in the program channel just now ({escape(missed[0].detail)}); "
             "the bot will post it as soon as Slack takes it.")


def summary(agreement: Agreement) -> str:
    if agreement.evergreen:
        term = f"evergreen, review {day(agreement.review_on)}" if agreement.review_on else "evergreen"
    elif agreement.expires_on:
        term = f"expires {day(agreement.expires_on)}"
    else:
        term = "no dates yet"
    effective = f"effective {day(agreement.effective_on)}, " if agreement.effective_on else ""
    return f"*{escape(agreement.title)}* with {escape(agreement.counterparty)} — " \
           f"{agreement.status.label.lower()}, {effective}{term}"


# --- commands ---------------------------------------------------------------------------------------------

def member(req: Request, session, *roles: Role, doing: str = "") -> Access:
    """The program of the request, for people of the manufacturer holding one of `roles` (any role if none)."""
    access = req.access(session)
    access.require_internal("work with agreements")
    if roles:
        access.require(*roles, doing=doing)
    return access


def named(req: Request, session, access: Access) -> Agreement:
    return store.get(session, access.program, req.args.word(0, "the agreement ID (e.g. QA-1)"))


def words(req: Request, count: int) -> None:
    """Exactly `count` words after the verb (more is a typo the person should hear about)."""
    if len(req.args.words) > count:
        raise UsageError(f"Unexpected `{_clip(req.args.words[count])}`.")


def _clip(text: str) -> str:
    return escape(text[:40].replace("`", "'"))


def cmd_new(req: Request) -> None:
    req.args.only("program")
    words(req, 0)
    with req.session() as session:
        access = member(req, session, *EDITORS, doing="log agreements")
    req.client.views_open(trigger_id=req.trigger_id, view=new_view(access.program, req.user_id))
    req.reply(f"Opened the form to log an agreement of {escape(access.program.code)}.")


def cmd_list(req: Request) -> None:
    req.args.only("program", "all")
    words(req, 0)
    everywhere = req.args.switch("all") or (req.actor.is_admin and not req.args.flag("program")
                                            and not _has_program(req))
    with req.session() as session:
        if everywhere:
            visible = {p.id: p for p in programs.visible_to(session, req.actor)
                       if req.actor.is_admin or not programs.is_external(session, p.id, req.user_id)}
        else:
            access = member(req, session)
            visible = {access.program.id: access.program}
        rows = store.for_programs(session, list(visible))
    zone = next(iter(visible.values())).tz if len(visible) == 1 else UTC
    today = req.now.astimezone(zone).date()
    ordered = [(visible[a.program_id], a) for a in store.ordered(rows, today)]
    if not ordered:
        where = "your programs" if everywhere else escape(next(iter(visible.values())).code)
        req.reply(f"No agreements logged for {where} yet. Log one with `/cmo agreement new`.")
        return
    title = "Agreements of your programs" if everywhere else f"Agreements of {escape(ordered[0][0].code)}"
    req.reply(f"*{title}* (expired and expiring within {store.EXPIRING_SOON_DAYS} days first)\n"
              + list_text(ordered, today, with_program=everywhere))


def _has_program(req: Request) -> bool:
    with req.session() as session:
        return programs.by_channel(session, req.channel_id) is not None


def cmd_show(req: Request) -> None:
    req.args.only("program")
    words(req, 1)
    with req.session() as session:
        access = member(req, session)
        agreement = named(req, session, access)
        rounds = store.redlines(session, agreement.id)
        docs = store.documents(session, agreement.id)
    today = req.now.astimezone(access.program.tz).date()
    req.reply(summary(agreement), show_blocks(access.program, agreement, rounds, docs, today))


def cmd_redline(req: Request) -> None:
    req.args.only("program", "version", "from")
    with req.session() as session:
        access = member(req, session, *NEGOTIATORS, doing="log redlines")
        agreement = named(req, session, access)
        side_word = (req.args.flag("from") or default_side(access).value).lower()
        if side_word not in {s.value for s in Side}:
            raise UsageError("--from is cmo or customer.")
        redline = store.log_redline(session, agreement, actor=req.actor, now=req.now, side=Side(side_word),
                                    version=req.args.flag("version") or "", note=req.args.rest(1))
        text = _redline_text(agreement, redline, req.user_id)
        rows = notice(session, access.program, agreement, f"redline:{redline.round}", text, req.now)
    announce(req.deps, req.client, access.program, text, rows, req.actor)
    req.reply(f"Logged round {redline.round} of {escape(agreement.ref)}; the channel was told.")


def _redline_text(agreement: Agreement, redline: store.Redline, user: str) -> str:
    note = f": {escape(redline.note)}" if redline.note else ""
    file = f" (file {escape(redline.file_name)})" if redline.file_name else ""
    return (f":memo: Redline round {redline.round} of *{escape(agreement.title)}* logged by <@{user}> — "
            f"from the {redline.side.label}{note}{file}. History: `/cmo agreement show {agreement.ref}`.")


def cmd_execute(req: Request) -> None:
    req.args.only("program")
    words(req, 1)
    with req.session() as session:
        access = member(req, session, *EDITORS, doing="execute agreements")
        program, agreement = access.program, named(req, session, access)
    if agreement.status not in (Status.draft, Status.negotiation):
        raise Conflict(f"{agreement.ref} is already {agreement.status.label.lower()}.")
    req.client.views_open(trigger_id=req.trigger_id, view=execute_view(program, agreement))
    req.reply(f"Opened the form to record the execution of {escape(agreement.ref)}.")


def cmd_renew(req: Request) -> None:
    req.args.only("program", "version")
    words(req, 2)
    expires = iso_date(req.args.word(1, "the new expiration date (YYYY-MM-DD)"), "new expiration date")
    with req.session() as session:
        access = member(req, session, *EDITORS, doing="renew agreements")
        agreement = named(req, session, access)
        store.renew(session, agreement, program=access.program, actor=req.actor, now=req.now, expires_on=expires,
                    version=req.args.flag("version"))
        text = (f":repeat: <@{req.user_id}> recorded the renewal of {summary(agreement)}. "
                "Reminders now count to the new date.")
        rows = notice(session, access.program, agreement, f"renewed:{expires.isoformat()}", text, req.now)
    announce(req.deps, req.client, access.program, text, rows, req.actor)
    req.reply(f"Renewed {escape(agreement.ref)} to {day(expires)}; the channel was told.")


def cmd_reminders(req: Request) -> None:
    req.args.only("program")
    with req.session() as session:
        access = member(req, session)
        program = access.program
        if req.args.words:
            access.require(Role.program_manager, doing="change the reminder days")
            try:
                days = [int(d) for d in req.args.rest(0).replace(",", " ").split()]
            except ValueError:
                raise UsageError("Give days as numbers, e.g. `90,60,30`.") from None
            store.set_reminder_days(session, program, days, actor=req.actor, now=req.now)
        current = store.reminder_days(program)
    req.reply(f"Agreement renewal reminders of {escape(program.code)} go out {', '.join(map(str, current))} days "
              "before expiry (before the notice deadline when there is a notice period), and on the day it expires.")


AREA = Area("agreement", "NDAs, quality agreements and other agreements: negotiation, execution, renewal", (
    Verb("new", "/cmo agreement new [--program CODE]", "log an agreement (opens a form)", cmd_new),
    Verb("list", "/cmo agreement list [--all] [--program CODE]",
         "the program's agreements, expired and expiring first; --all: every program you can see", cmd_list,
         frozenset({"all"})),
    Verb("show", "/cmo agreement show QA-1", "an agreement with its negotiation history and filed documents",
         cmd_show),
    Verb("redline", "/cmo agreement redline QA-1 [--from cmo|customer] [--version V] [note]",
         "log a negotiation round", cmd_redline),
    Verb("execute", "/cmo agreement execute QA-1", "record the execution (opens a form for the dates)", cmd_execute),
    Verb("renew", "/cmo agreement renew QA-1 2028-03-31 [--version V]",
         "record a renewal to a new expiration date", cmd_renew),
    Verb("reminders", "/cmo agreement reminders [90,60,30]",
         "show or set (program managers) the renewal reminder days", cmd_reminders),
))


# --- "File to program" target -------------------------------------------------------------------------------

def filing_choices(session, actor: Actor) -> list[tuple[str, str]]:
    choices = []
    for program in programs.visible_to(session, actor):
        if not actor.is_admin and programs.is_external(session, program.id, actor.user_id):
            continue  # people outside the company file nothing
        roles = programs.roles_of(session, program.id, actor.user_id)
        editor, negotiator = (actor.is_admin or bool(roles & set(group)) for group in (EDITORS, NEGOTIATORS))
        for a in store.for_program(session, program.id):
            if a.status == Status.executed and editor:
                choices.append((f"{program.code}|{a.ref}|original", f"{program.code} {a.title}: executed original"))
            elif a.status in (Status.draft, Status.negotiation) and negotiator:
                choices.append((f"{program.code}|{a.ref}|redline", f"{program.code} {a.title}: new redline round"))
    return choices


def file_to(deps: Deps, actor: Actor, value: str, slack_file: SlackFile, note: str) -> str:
    code, _, rest = value.partition("|")
    ref, _, role = rest.partition("|")
    with transaction(deps.engine) as session:
        access = programs.authorize(session, actor, code=code)
        access.require_internal("file agreement documents")
        access.require(*(EDITORS if role == "original" else NEGOTIATORS), doing="file agreement documents")
        agreement = store.get(session, access.program, ref)
        if role == "original" and agreement.status != Status.executed:
            raise Conflict(f"{agreement.ref} is not executed; file the document as a redline round instead.")
        if role == "redline":
            store.log_redline(session, agreement, actor=actor, now=deps.clock.now(), side=default_side(access),
                              note=note, slack_file_id=slack_file.id, file_name=slack_file.name)
        elif role != "original":
            raise Invalid("That is not a place to file to.")
    return file_one(deps, actor, access.program, agreement, slack_file, role)


# --- listeners ----------------------------------------------------------------------------------------------

def register(app: App, deps: Deps) -> None:
    file_to_program.add_target(file_to_program.Target(
        "agreements", filing_choices, file_to, needs="executed originals of agreements (program managers, CMO "
        "quality) and redline rounds of agreements in draft or negotiation (also customer approvers)"))

    def reauthorize(actor: Actor, ref: Ref, *roles: Role, doing: str) -> tuple[Program, Agreement | None]:
        with transaction(deps.engine) as session:
            access = programs.authorize(session, actor, code=ref.program)
            access.require_internal("work with agreements")
            access.require(*roles, doing=doing)
            agreement = store.get(session, access.program, ref.ref) if ref.ref else None
        return access.program, agreement

    @app.view(Ids.new_view.value)
    def on_new(ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        actor, now = actor_of(deps, body), deps.clock.now()

        def create(form: NewForm) -> tuple[Program, Agreement, list[str], str, list[int]]:
            program, _ = reauthorize(actor, metadata(view, Ref), *EDITORS, doing="log agreements")
            with transaction(deps.engine) as session:
                agreement = store.create(
                    session, program=program, actor=actor, now=now, kind=form.kind, counterparty=form.counterparty,
                    status=form.status, terms=form.terms(), version=form.version or "", owner_id=form.owner,
                    notes=form.notes or "")
                text = (f":page_facing_up: <@{actor.user_id}> logged {summary(agreement)}. "
                        f"`/cmo agreement show {agreement.ref}`")
                rows = notice(session, program, agreement, "logged", text, now)
            return program, agreement, form.file_ids(), text, rows

        created = submit(ack, view, NewForm, create, fallback="counterparty")
        if created is None:
            return
        program, agreement, file_ids, text, rows = created
        announce(deps, client, program, text, rows, actor)
        role = "original" if agreement.status == Status.executed else "attachment"
        file_all(deps, client, actor, program, agreement, file_ids, role)

    @app.view(Ids.execute_view.value)
    def on_execute(ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        actor, now = actor_of(deps, body), deps.clock.now()

        def execute(form: ExecuteForm) -> tuple[Program, Agreement, list[str], str, list[int]]:
            program, agreement = reauthorize(actor, metadata(view, Ref), *EDITORS, doing="execute agreements")
            with transaction(deps.engine) as session:
                fresh = session.get(Agreement, agreement.id)
                older = store.execute(session, fresh, program=program, actor=actor, now=now,
                                      terms=form.terms(), version=form.version)  # executed meanwhile: on the form
                replaced = f" It supersedes {', '.join(escape(o.title) for o in older)}." if older else ""
                replaced += "".join(f"\n:warning: Coverage gap: {gap.sentence()}." for gap in gaps([*older, fresh]))
                text = f":white_check_mark: <@{actor.user_id}> recorded the execution of {summary(fresh)}.{replaced}"
                return program, fresh, form.file_ids(), text, notice(session, program, fresh, "executed", text, now)

        done = submit(ack, view, ExecuteForm, execute, fallback="effective")
        if done is None:
            return
        program, executed, file_ids, text, rows = done
        announce(deps, client, program, text, rows, actor)
        file_all(deps, client, actor, program, executed, file_ids, "original")

    @app.view(Ids.redline_view.value)
    def on_redline(ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        actor, now = actor_of(deps, body), deps.clock.now()

        def log_round(form: RedlineForm) -> tuple[Program, Agreement, list[str], str, list[int]]:
            program, agreement = reauthorize(actor, metadata(view, Ref), *NEGOTIATORS, doing="log redlines")
            first = next((f for f in form.files if isinstance(f, dict) and f.get("id")), None)
            with transaction(deps.engine) as session:
                fresh = session.get(Agreement, agreement.id)
                redline = store.log_redline(session, fresh, actor=actor, now=now, side=form.side,
                                            version=form.version or "", note=form.note or "",
                                            slack_file_id=first and first["id"], file_name=first and first.get("name"))
                text = _redline_text(fresh, redline, actor.user_id)
                rows = notice(session, program, fresh, f"redline:{redline.round}", text, now)
            return program, fresh, [first["id"]] if first else [], text, rows

        done = submit(ack, view, RedlineForm, log_round, fallback="note")
        if done is None:
            return
        program, fresh, file_ids, text, rows = done
        announce(deps, client, program, text, rows, actor)
        file_all(deps, client, actor, program, fresh, file_ids, "redline")

    def button_ref(body: dict[str, Any]) -> Ref:
        try:
            return Ref.model_validate(json.loads(body["actions"][0].get("value") or "{}"))
        except (ValueError, ValidationError):
            raise Invalid("This button's data was altered; use `/cmo agreement show` again.") from None

    @app.action(Ids.open_redline.value)
    def on_open_redline(ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        actor = actor_of(deps, body)
        ref = button_ref(body)
        with transaction(deps.engine) as session:
            access = programs.authorize(session, actor, code=ref.program)
            access.require_internal("work with agreements")
            access.require(*NEGOTIATORS, doing="log redlines")
            agreement = store.get(session, access.program, ref.ref)
        client.views_open(trigger_id=body["trigger_id"],
                          view=redline_view(access.program, agreement, default_side(access)))

    @app.action(Ids.open_execute.value)
    def on_open_execute(ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        program, agreement = reauthorize(actor_of(deps, body), button_ref(body), *EDITORS, doing="execute agreements")
        if agreement.status not in (Status.draft, Status.negotiation):
            raise Conflict(f"{agreement.ref} is already {agreement.status.label.lower()}.")
        client.views_open(trigger_id=body["trigger_id"], view=execute_view(program, agreement))
