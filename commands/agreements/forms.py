"""The agreement forms — log an agreement, record its execution, log a redline round — and the buttons of
`/cmo agreement show` that open them. Each submission re-authorizes the person against the program its
form carries, inside the form's action: a refusal is answered on the form through `forms.submit` like any
other domain error, and nothing is saved. The channel's notice and the documents attached to a form are posted
and filed after the ack, by a worker when there are some (commands/after.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Any

from pydantic import BaseModel, ValidationError, field_validator
from slack_bolt import App
from slack_sdk import WebClient
from sqlmodel import Session

from commands.after import Run, follow_up, later
from commands.agreements.messages import announce, file_all, notice, redline_text, summary
from commands.agreements.views import Ids, Ref, execute_view, redline_view
from commands.deps import Deps
from commands.forms import metadata, open_form, submit
from commands.interaction import Interaction
from store import receipts
from store.agreements import service as store
from store.agreements.gaps import gaps
from store.agreements.service import Agreement, Kind, Side, Status, Terms
from store.audit import Actor
from store.db import pk, transaction
from store.errors import Conflict, Invalid
from store.markup import escape
from store.programs import Access, Program, Role

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


def default_side(access: Access) -> Side:
    cmo = access.roles & {Role.program_manager, Role.cmo_quality}
    return Side.customer if Role.customer_approver in access.roles and not cmo else Side.cmo


def reauthorize(interaction: Interaction, ref: Ref, *roles: Role, doing: str) -> tuple[Access, Agreement | None]:
    """The program of the form or button, if the person may still act on it, and its agreement (if any)."""
    with interaction.session() as session:
        return authorized(session, interaction, ref, *roles, doing=doing)


def authorized(session: Session, interaction: Interaction, ref: Ref, *roles: Role,
               doing: str) -> tuple[Access, Agreement | None]:
    access = interaction.authorize(session, code=ref.program, internal="work with agreements", roles=roles,
                                   doing=doing)
    return access, store.get(session, access.program, ref.ref) if ref.ref else None


@dataclass(frozen=True)
class Submitted:
    """A form submission, re-authorized: who sent it and when, the program, and the agreement it is about
    (None for a new one), read in `session`, the submission's one transaction, which the save writes in."""

    session: Session
    deps: Deps
    actor: Actor
    now: datetime
    program: Program
    agreement: Agreement | None

    @property
    def fresh(self) -> Agreement:
        """The agreement the form is about (a form about an existing one always carries it)."""
        if self.agreement is None:
            raise Invalid("This form's data was altered; open it again from Slack.")
        return self.agreement


@dataclass(frozen=True)
class Saved:
    """What a form saved, for after the ack: the agreement, the attached Slack files to file as `role`, and the
    channel notice (its text and outbox rows)."""

    agreement: Agreement
    file_ids: list[str]
    role: str
    text: str
    rows: list[int]


def save_form(interaction: Interaction, ack: Callable[..., None], view: dict[str, Any], client: WebClient,
              form: type[BaseModel], save: Callable[[Submitted, Any], Saved], *, roles: tuple[Role, ...], doing: str,
              field: str) -> None:
    """A form's submission: re-authorized and saved by `save` inside submit's action (a refusal, or the
    agreement changed meanwhile, shows on the form, nothing saved), then, after the ack and by a worker when
    there are some, the channel told and the attached files filed (`after_saved`).

    Before the ack, one transaction: the form's receipt, the person, their roles, the agreement, the write and
    its follow-up's work row (commands/after.py: committed with the write, never lost after it). Each
    read in a transaction of its own cost a round trip or two (PostgreSQL) or a turn at the write lock (SQLite,
    where every transaction takes it), in the acknowledging process, for every submission."""

    def act(filled: Any) -> None:
        with interaction.session() as session:
            receipts.claim(session)  # before anything else: a form submitted again closes quietly
            access, agreement = authorized(session, interaction, metadata(view, Ref), *roles, doing=doing)
            submitted = Submitted(session, interaction.deps, interaction.actor_in(session), interaction.now,
                                  access.program, agreement)
            saved = save(submitted, filled)
            later(interaction, client, "agreements.saved", session=session, program_id=pk(access.program),
                  agreement_id=pk(saved.agreement), text=saved.text, rows=saved.rows, file_ids=saved.file_ids,
                  role=saved.role)

    submit(ack, view, form, act, fallback=field, receipt_claimed_by_act=True)


@follow_up("agreements.saved")
def after_saved(run: Run, program_id: int, agreement_id: int, text: str, rows: list[int], file_ids: list[str],
                role: str) -> None:
    """After a form's ack (commands/after.py): the channel told (or the person, without one: once), then the
    attached files filed."""
    with transaction(run.who.deps.engine) as session:
        program, agreement = session.get_one(Program, program_id), session.get_one(Agreement, agreement_id)
    if program.channel_id:
        announce(run.who, run.client, program, text, rows)  # the outbox posts each row once
    else:
        run.once("notice", partial(announce, run.who, run.client, program, text, rows))
    file_all(run, program, agreement, file_ids, role)


def create(s: Submitted, form: NewForm) -> Saved:
    agreement = store.create(
        s.session, program=s.program, actor=s.actor, now=s.now, kind=form.kind, counterparty=form.counterparty,
        status=form.status, terms=form.terms(), version=form.version or "", owner_id=form.owner,
        notes=form.notes or "")
    text = (f":page_facing_up: <@{s.actor.user_id}> logged {summary(agreement)}. "
            f"`/cmo agreement show {agreement.ref}`")
    role = "original" if agreement.status == Status.executed else "attachment"
    return Saved(agreement, form.file_ids(), role, text, notice(s.session, s.program, agreement, "logged", text,
                                                                s.now))


def execute(s: Submitted, form: ExecuteForm) -> Saved:
    fresh = s.fresh
    older = store.execute(s.session, fresh, program=s.program, actor=s.actor, now=s.now, terms=form.terms(),
                          version=form.version)  # executed meanwhile: on the form
    replaced = f" It supersedes {', '.join(escape(o.title) for o in older)}." if older else ""
    replaced += "".join(f"\n:warning: Coverage gap: {gap.sentence()}." for gap in gaps([*older, fresh]))
    text = f":white_check_mark: <@{s.actor.user_id}> recorded the execution of {summary(fresh)}.{replaced}"
    return Saved(fresh, form.file_ids(), "original", text, notice(s.session, s.program, fresh, "executed", text,
                                                                  s.now))


def log_round(s: Submitted, form: RedlineForm) -> Saved:
    first = next((f for f in form.files if isinstance(f, dict) and f.get("id")), None)
    fresh = s.fresh
    redline = store.log_redline(s.session, fresh, actor=s.actor, now=s.now, side=form.side,
                                version=form.version or "", note=form.note or "",
                                slack_file_id=first["id"] if first else None,
                                file_name=first.get("name") if first else None)
    text = redline_text(fresh, redline, s.actor.user_id)
    rows = notice(s.session, s.program, fresh, f"redline:{redline.round}", text, s.now)
    return Saved(fresh, [first["id"]] if first else [], "redline", text, rows)


def on_new(interaction: Interaction, ack: Callable[..., None], view: dict[str, Any], client: WebClient) -> None:
    """The new-agreement form submitted: the agreement is logged, the channel told, its files filed."""
    save_form(interaction, ack, view, client, NewForm, create, roles=EDITORS, doing="log agreements",
              field="counterparty")


def on_execute(interaction: Interaction, ack: Callable[..., None], view: dict[str, Any], client: WebClient) -> None:
    """The execution form submitted: the agreement is executed (superseding older ones), the channel told
    of it and of any coverage gap, the signed original filed."""
    save_form(interaction, ack, view, client, ExecuteForm, execute, roles=EDITORS, doing="execute agreements",
              field="effective")


def on_redline(interaction: Interaction, ack: Callable[..., None], view: dict[str, Any], client: WebClient) -> None:
    """The redline form submitted: a negotiation round is logged, the channel told, its file filed."""
    save_form(interaction, ack, view, client, RedlineForm, log_round, roles=NEGOTIATORS, doing="log redlines",
              field="note")


def button_ref(body: dict[str, Any]) -> Ref:
    try:
        return Ref.model_validate(json.loads(body["actions"][0].get("value") or "{}"))
    except (ValueError, ValidationError):
        raise Invalid("This button's data was altered; use `/cmo agreement show` again.") from None


def on_open_redline(interaction: Interaction, ack: Callable[..., None], body: dict[str, Any],
                    client: WebClient) -> None:
    """The Log redline button of `/cmo agreement show`: opens the redline form."""
    ack()
    access, agreement = reauthorize(interaction, button_ref(body), *NEGOTIATORS, doing="log redlines")
    open_form(client, trigger_id=body["trigger_id"],
              view=redline_view(access.program, opened(agreement), default_side(access)))


def on_open_execute(interaction: Interaction, ack: Callable[..., None], body: dict[str, Any],
                    client: WebClient) -> None:
    """The Record execution button of `/cmo agreement show`: opens the execution form while the
    agreement is still in draft or negotiation."""
    ack()
    access, found = reauthorize(interaction, button_ref(body), *EDITORS, doing="execute agreements")
    agreement = opened(found)
    if agreement.status not in (Status.draft, Status.negotiation):
        raise Conflict(f"{agreement.ref} is already {agreement.status.label.lower()}.")
    open_form(client, trigger_id=body["trigger_id"], view=execute_view(access.program, agreement))


def opened(agreement: Agreement | None) -> Agreement:
    """The agreement a button of `/cmo agreement show` is about (its value always names one)."""
    if agreement is None:
        raise Invalid("This button's data was altered; use `/cmo agreement show` again.")
    return agreement


def register(app: App) -> None:
    app.view(Ids.new_view.value)(on_new)
    app.view(Ids.execute_view.value)(on_execute)
    app.view(Ids.redline_view.value)(on_redline)
    app.action(Ids.open_redline.value)(on_open_redline)
    app.action(Ids.open_execute.value)(on_open_execute)
