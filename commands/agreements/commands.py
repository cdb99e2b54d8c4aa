"""`/cmo agreement …`: log agreements, their redline rounds, execution, renewal and filed originals, and the
agreements' place in the File to program shortcut. The forms and the buttons that open them are in
commands/agreements/forms.py; the channel notices and the filing of documents in commands/agreements/messages.py."""

from __future__ import annotations

from datetime import UTC

from slack_bolt import App

from bot.downloads import SlackFile
from commands import file_to_program
from commands.agreements import forms as agreement_forms
from commands.agreements.forms import EDITORS, NEGOTIATORS, default_side
from commands.agreements.messages import announce, file_one, notice, redline_text, summary
from commands.agreements.views import execute_view, list_text, new_view, show_blocks
from commands.args import UsageError, iso_date
from commands.forms import open_form
from commands.interaction import Interaction
from commands.router import Area, Request, Verb
from store import programs
from store.agreements import rules
from store.agreements import service as store
from store.agreements.service import Agreement, Side, Status
from store.audit import Actor
from store.db import pk
from store.errors import Conflict, Invalid
from store.markup import day, escape
from store.programs import Access, Role

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
    open_form(req.client, trigger_id=req.trigger_id, view=new_view(access.program, req.user_id))
    req.reply(f"Opened the form to log an agreement of {escape(access.program.code)}.")


def cmd_list(req: Request) -> None:
    req.args.only("program", "all")
    words(req, 0)
    everywhere = req.args.switch("all") or (req.actor.is_admin and not req.args.flag("program")
                                            and not _has_program(req))
    with req.session() as session:
        if everywhere:
            visible = {pk(p): p for p in programs.visible_to(session, req.actor)
                       if req.actor.is_admin or not programs.is_external(session, pk(p), req.user_id)}
        else:
            access = member(req, session)
            visible = {pk(access.program): access.program}
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
        rounds = store.redlines(session, pk(agreement))
        docs = store.documents(session, pk(agreement))
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
        text = redline_text(agreement, redline, req.user_id)
        rows = notice(session, access.program, agreement, f"redline:{redline.round}", text, req.now)
    announce(req, req.client, access.program, text, rows)
    req.reply(f"Logged round {redline.round} of {escape(agreement.ref)}; the channel was told.")


def cmd_execute(req: Request) -> None:
    req.args.only("program")
    words(req, 1)
    with req.session() as session:
        access = member(req, session, *EDITORS, doing="execute agreements")
        program, agreement = access.program, named(req, session, access)
    if agreement.status not in (Status.draft, Status.negotiation):
        raise Conflict(f"{agreement.ref} is already {agreement.status.label.lower()}.")
    open_form(req.client, trigger_id=req.trigger_id, view=execute_view(program, agreement))
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
    announce(req, req.client, access.program, text, rows)
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
            rules.set_reminder_days(session, program, days, actor=req.actor, now=req.now)
        current = rules.reminder_days(program)
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
        if not actor.is_admin and programs.is_external(session, pk(program), actor.user_id):
            continue  # people outside the company file nothing
        roles = programs.roles_of(session, pk(program), actor.user_id)
        editor, negotiator = (actor.is_admin or bool(roles & set(group)) for group in (EDITORS, NEGOTIATORS))
        for a in store.for_program(session, pk(program)):
            if a.status == Status.executed and editor:
                choices.append((f"{program.code}|{a.ref}|original", f"{program.code} {a.title}: executed original"))
            elif a.status in (Status.draft, Status.negotiation) and negotiator:
                choices.append((f"{program.code}|{a.ref}|redline", f"{program.code} {a.title}: new redline round"))
    return choices


def file_to(interaction: Interaction, value: str, slack_file: SlackFile, note: str) -> str:
    code, _, rest = value.partition("|")
    ref, _, role = rest.partition("|")
    actor = interaction.actor
    with interaction.session() as session:
        access = interaction.authorize(session, code=code, internal="file agreement documents",
                                       roles=EDITORS if role == "original" else NEGOTIATORS,
                                       doing="file agreement documents")
        agreement = store.get(session, access.program, ref)
        if role == "original" and agreement.status != Status.executed:
            raise Conflict(f"{agreement.ref} is not executed; file the document as a redline round instead.")
        if role == "redline":
            store.log_redline(session, agreement, actor=actor, now=interaction.now, side=default_side(access),
                              note=note, slack_file_id=slack_file.id, file_name=slack_file.name)
        elif role != "original":
            raise Invalid("That is not a place to file to.")
    return file_one(interaction, access.program, agreement, slack_file, role)


FILING = file_to_program.Target(
    "agreements", filing_choices, file_to, needs="executed originals of agreements (program managers, CMO "
    "quality) and redline rounds of agreements in draft or negotiation (also customer approvers)")


# --- listeners ----------------------------------------------------------------------------------------------

def register(app: App) -> None:
    agreement_forms.register(app)
