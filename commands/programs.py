"""`/cmo program …`: create a program (modal → channel, invitations, welcome), list, status, roles."""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, field_validator
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot import blocks as bk
from bot import people as slack_people
from commands import onboarding, people
from commands.after import Run, follow_up, later
from commands.args import UsageError, channel_id, user_id
from commands.boundary import tell
from commands.forms import open_form, submit
from commands.interaction import Acting, Interaction
from commands.outcome import Outcome
from commands.router import Area, Request, Verb
from store import digest, holiday_calendars
from store import programs as store
from store.batches import service as batch_store
from store.db import pk, transaction
from store.errors import NotAllowed
from store.markup import escape
from store.programs import Role

log = logging.getLogger(__name__)

ROLE_WORDS = {
    "pm": Role.program_manager, "manager": Role.program_manager, "program_manager": Role.program_manager,
    "quality": Role.cmo_quality, "qa": Role.cmo_quality, "cmo_quality": Role.cmo_quality,
    "approver": Role.customer_approver, "customer_approver": Role.customer_approver,
    "stability": Role.stability, "regulatory": Role.regulatory, "ra": Role.regulatory,
}


class Ids(StrEnum):
    new_view = "program_new"


class ProgramForm(BaseModel):
    code: str
    customer: str
    products: str | None = None
    channel: str | None = None
    timezone: str | None = None
    cadence: str | None = None
    holidays: str | None = None
    program_manager: list[str] = []
    cmo_quality: list[str] = []
    customer_approver: list[str] = []
    stability: list[str] = []
    regulatory: list[str] = []

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        return store.validate_code(v)


def new_program_view(default_tz: str) -> dict:
    role_inputs = [bk.users_input(role.value, role.label) for role in Role]
    return bk.modal("New program", Ids.new_view, [
        bk.text_input("code", "Program code", placeholder="ACME-001", max_length=20,
                      hint="Letters, digits and dashes; people type it, so keep it short."),
        bk.text_input("customer", "Customer", max_length=200),
        bk.text_input("products", "Products", optional=True, max_length=1000),
        bk.channel_input("channel", "Existing channel", hint="Leave empty to create a channel named after the code."),
        bk.text_input("timezone", "Time zone", initial=default_tz, hint="IANA name, e.g. Europe/Berlin"),
        bk.select_input("cadence", "Status digest", [(c, c.capitalize()) for c in store.CADENCES],
                        initial="weekly"),
        bk.grouped_select_input("holidays", "Site's holiday calendar", holiday_calendars.choices(), optional=True,
                                hint="Where the site is: its public holidays are not business days. Leave empty "
                                     "for weekends only."),
        *role_inputs,
    ], submit="Create")


def welcome_text(program: store.Program) -> str:
    digest_line = {
        "weekly": "every Monday", "biweekly": "every other Monday", "monthly": "on the 1st of each month",
    }.get(program.status_cadence)
    lines = [
        f":wave: This is the channel of *{escape(program.code)}* ({escape(program.customer)}).",
        "Here the bot will:",
        "• track the NDA and quality agreement, and remind 90/60/30 days before they expire",
        "• announce batch records ready for review, collect the customer's approvals and chase late reviews",
        "• remind stability pulls before they are due and alert on a missed pull",
        "• collect the documents a regulatory submission needs and assemble the package",
    ]
    if digest_line:
        lines.append(f"• post a status digest {digest_line} at 09:00 {program.timezone}")
    lines.append("Type `/cmo help` to see every command.")
    return "\n".join(lines)


def create_channel(client: WebClient, code: str) -> str:
    """A channel named after the code; a taken name gets a numeric suffix."""
    base = code.lower()
    for attempt in range(1, 6):
        name = base if attempt == 1 else f"{base}-{attempt}"
        try:
            return client.conversations_create(name=name)["channel"]["id"]
        except SlackApiError as exc:
            if exc.response.get("error") != "name_taken":
                raise
    raise UsageError(f"Channels named {base} to {base}-5 are all taken; link an existing channel instead.")


def classify(who: Acting, client: WebClient, user_ids: list[str], home_team: str | None) -> str:
    """Mark which members are outside the company (Slack Connect guests): they only act on their own items,
    and keep their printed names for the records of what they do. Returns a warning naming whom Slack could
    not classify (they count as outside until it can), else ""."""
    deps = who.deps
    failed = slack_people.classify(deps.engine, client, user_ids, actor=who.actor, now=who.now,
                                   home_team=home_team,
                                   seen=lambda person: people.remember(deps, person.id, person.name))
    if not failed:
        return ""
    return (f"\n:warning: Slack did not say whether {', '.join(bk.mention(u) for u in failed)} "
            "belong to the manufacturer; until it does they count as outside the company (their own items "
            "only). The bot asks again on the next scheduler pass and on their next command.")


def open_channel(who: Acting, client: WebClient, program_id: int, channel: str | None) -> str:
    """Give the program its channel: `channel` (joined), or a new one named after the code; link it, invite
    every member and post the welcome. Returns the channel id."""
    deps, actor = who.deps, who.actor
    with transaction(deps.engine) as session:
        program = session.get_one(store.Program, program_id)
        members = store.user_ids(session, program_id)
    if channel is None:
        channel = create_channel(client, program.code)
    else:
        join(client, channel)
    if channel != program.channel_id:
        with transaction(deps.engine) as session:
            store.link_channel(session, session.get_one(store.Program, program_id), channel, actor=actor,
                               now=who.now)
    invitees = [p for p in members if p != actor.user_id] + [actor.user_id]
    try:
        client.conversations_invite(channel=channel, users=",".join(invitees))
    except SlackApiError as exc:
        if exc.response.get("error") not in ("already_in_channel", "cant_invite_self"):
            raise
    client.chat_postMessage(channel=channel, text=welcome_text(program))
    return channel


def set_up(interaction: Interaction, client: WebClient, program_id: int) -> None:
    """The slow part after the ack: channel, invitations, welcome. Failures are told to the creator."""
    creator = interaction.actor
    with interaction.session() as session:
        program = session.get_one(store.Program, program_id)
        members = store.user_ids(session, program_id)
    unclassified = classify(interaction, client, members, interaction.team_id)
    if unclassified:
        tell(client, {"user_id": creator.user_id}, f"{program.code}:{unclassified}")
    try:
        channel = open_channel(interaction, client, program_id, program.channel_id)
    except SlackApiError as exc:
        out = Outcome(client)
        out.refused(f"setting up the channel of {program.code}", exc)
        out.report(creator.user_id, f"Link a channel with `/cmo program channel #name --program {program.code}`, "
                                    f"or create one with `/cmo program channel --program {program.code}`.")
        return
    client.chat_postMessage(channel=creator.user_id,
                            text=f":white_check_mark: Program *{escape(program.code)}* is ready in <#{channel}>.")


def join(client: WebClient, channel: str) -> None:
    try:
        client.conversations_join(channel=channel)
    except SlackApiError as exc:  # private channels cannot be joined; the bot must be invited there
        if exc.response.get("error") not in ("method_not_supported_for_channel_type", "already_in_channel"):
            raise


def cmd_new(req: Request) -> None:
    if not req.actor.is_admin:
        raise NotAllowed("Only admins (CMO_ADMINS) can create programs.")
    open_form(req.client, trigger_id=req.trigger_id, view=new_program_view(req.deps.settings.cmo_timezone))


def cmd_list(req: Request) -> None:
    req.args.only()
    with req.session() as session:
        rows = []
        for program in store.visible_to(session, req.actor):
            roles = store.roles_of(session, pk(program), req.user_id)
            mine = ", ".join(sorted(r.label for r in roles)) or ("admin" if req.actor.is_admin else "")
            rows.append((program.code, program.customer, mine))
    if not rows:
        req.reply("You have no role on any program yet.")
        return
    req.reply(f"Your programs ({len(rows)}):\n" + bk.table(rows, ("Code", "Customer", "Your role")))


def cmd_status(req: Request) -> None:
    req.args.only("program")
    with req.session() as session:
        access = req.access(session)
        access.require_internal("see a program's status")
        program = access.program
        today = req.now.astimezone(program.tz).date()
        health = digest.compose(session, program, today)
        roster = store.members(session, pk(program))
    roles = {role: [m.user_id for m in roster if m.role == role] for role in Role}
    blocks = [
        bk.header(f"{program.code} — {program.customer}"),
        bk.fields([
            ("Products", escape(program.products) or "—"),
            ("Channel", f"<#{program.channel_id}>" if program.channel_id else "none linked"),
            ("Time zone", program.timezone),
            ("Status digest", program.status_cadence),
            ("Holidays", holiday_calendars.label(program.holiday_calendar)),
            ("Signing", batch_store.settings_of(program).signing),
        ]),
        bk.section(health),
        bk.context(" · ".join(f"{r.label}: {', '.join(bk.mention(u) for u in ids) or '—'}"
                              for r, ids in roles.items())),
    ]
    req.reply(health, bk.message(blocks))


def approver_grant(req: Request, action: str, who: str) -> str:
    """Segregation of duties: only admins grant or remove customer approvers, and an approver is someone on the
    customer's side (outside the company, as Slack says) unless the admin records why (`--reason`, audited).
    Returns the recorded reason ("" when none is needed)."""
    if not req.actor.is_admin:
        raise NotAllowed("Only admins (CMO_ADMINS) can grant or remove the customer approver role "
                         "(segregation of duties).")
    reason = (req.args.flag("reason") or "").strip()
    if action == "add" and not reason:
        try:
            outside = slack_people.look_up(req.client, who, req.body.get("team_id")).external
        except SlackClientError:  # fail closed: not known to be the customer's, so not granted without a reason
            raise UsageError(f"Slack did not say whether {bk.mention(who)} is outside the company; try again in a "
                             "moment, or add `--reason \"why\"` (it is recorded).") from None
        if not outside:
            raise UsageError(f"{bk.mention(who)} is inside the company, and a customer approver signs for the "
                             "customer. If that is really intended, add `--reason \"why\"` (it is recorded).")
    return reason


def cmd_channel(req: Request) -> None:
    """Link a channel to the program, or create a new one named after the code (a creation interrupted before
    its channel existed, an archived channel): members invited, welcome posted."""
    req.args.only("program")
    wanted = channel_id(req.args.words[0]) if req.args.words else None
    with req.session() as session:
        access = req.access(session)
        access.require_internal("link the program's channel")
        if not req.actor.is_admin:
            access.require(Role.program_manager, doing="link the program's channel")
        program = access.program
    channel = open_channel(req, req.client, pk(program), wanted)
    req.reply(f":white_check_mark: {escape(program.code)} now lives in <#{channel}>: members invited, welcome posted.")


def cmd_roles(req: Request) -> None:
    req.args.only("program", "reason")
    action = req.args.words[0].lower() if req.args.words else "show"
    reason = ""
    if action in ("add", "remove") and ROLE_WORDS.get((req.args.words[2:3] or [""])[0].lower()) == \
            Role.customer_approver:
        with req.session() as session:  # who may change roles here at all, before asking Slack about anyone
            access = req.access(session)
            access.require_internal("see or change roles")
            access.require(Role.program_manager, doing="change roles")
        reason = approver_grant(req, action, user_id(req.args.word(1, "the person")))
    with req.session() as session:
        access = req.access(session)
        access.require_internal("see or change roles")
        program = access.program
        if action in ("add", "remove"):
            access.require(Role.program_manager, doing="change roles")
            who = user_id(req.args.word(1, "the person"))
            role = ROLE_WORDS.get(req.args.word(2, "the role").lower())
            if role is None:
                raise UsageError(f"Roles are {', '.join(r.value for r in Role)}.")
            if action == "add":  # Slack says which side they are on, below
                changed = store.add_member(session, program, who, role, actor=req.actor, now=req.now, external=None,
                                           reason=reason)
            else:
                changed = store.remove_member(session, program, who, role, actor=req.actor, now=req.now)
            verb = "now has" if action == "add" else "no longer has"
            note = f"{bk.mention(who)} {verb} the role {role.label.lower()} on {program.code}."
            text = note if changed else f"Nothing changed: {note}"
        elif action == "show":
            roster = store.members(session, pk(program))
            text = "\n".join(
                [f"*Roles on {escape(program.code)}*"]
                + [f"• {r.label}: {', '.join(bk.mention(m.user_id) for m in roster if m.role == r) or '—'}"
                   for r in Role]
            )
        else:
            raise UsageError(f"`{action[:20]}` is not show, add or remove.")
    if action == "add" and changed:
        text += classify(req, req.client, [who], req.body.get("team_id"))
    if action == "add" and changed and program.channel_id:
        try:
            req.client.conversations_invite(channel=program.channel_id, users=who)
        except SlackApiError as exc:
            if exc.response.get("error") != "already_in_channel":
                text += f"\n:warning: Could not invite them to the channel (`{exc.response.get('error')}`)."
    req.reply(text)


AREA = Area("program", "programs, their channels and who holds which role", (
    Verb("new", "/cmo program new", "create a program (admins): opens a form", cmd_new),
    Verb("list", "/cmo program list", "the programs you have a role on", cmd_list),
    Verb("status", "/cmo program status [--program CODE]", "the program's health at a glance", cmd_status),
    Verb("roles", "/cmo program roles [add|remove @person ROLE] [--reason WHY] [--program CODE]",
         "show roles; managers and admins change them (roles: pm, quality, approver, stability, regulatory)",
         cmd_roles),
    Verb("channel", "/cmo program channel [#channel] [--program CODE]",
         "link the program to a channel, or (without one) create a new channel named after the code; members are "
         "invited (managers and admins)", cmd_channel),
    Verb("export", "/cmo program export [--format xlsx|csv] [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--program CODE]",
         "every record and the audit trail of the period, sent to you by DM (managers, quality, admins)",
         onboarding.cmd_export),
))


def on_new_program(interaction: Interaction, ack: Callable[..., Any], view: dict[str, Any], client: WebClient) -> None:
    """The new-program form submitted (admins only): the program is created and set up."""
    deps, actor, now = interaction.deps, interaction.actor, interaction.now

    def create(form: ProgramForm) -> None:
        if not actor.is_admin:
            raise NotAllowed("Only admins (CMO_ADMINS) can create programs.")
        with transaction(deps.engine) as session:
            program = store.create(
                session, actor=actor, now=now, code=form.code, customer=form.customer,
                products=form.products or "", timezone=form.timezone or deps.settings.cmo_timezone,
                status_cadence=form.cadence or "weekly",
                holiday_calendar=form.holidays or "",
                members={role: getattr(form, role.value) for role in Role}, external=None,
            )
            if form.channel:
                store.link_channel(session, program, form.channel, actor=actor, now=now)
            later(interaction, client, "programs.set_up", session=session, program_id=pk(program))

    submit(ack, view, ProgramForm, create, fallback="code")


@follow_up("programs.set_up")
def after_new_program(run: Run, program_id: int) -> None:
    """After the ack (commands/after.py): the new program's channel, invitations, welcome."""
    set_up(run.who, run.client, program_id)


def register(app: App) -> None:
    app.view(Ids.new_view.value)(on_new_program)
