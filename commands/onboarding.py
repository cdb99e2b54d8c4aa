"""Onboarding and audits from Slack: the "Import tracker" message shortcut and `/cmo program export`.

Import: an admin uses the shortcut on a message carrying a tracker (CSV or XLSX). After the ack the bot
downloads it with the bot token, recognises the kind of tracker from its columns, takes the program of the
channel (or a Program column), runs the import as a dry run and DMs the summary with an **Import** button
(and a button to read slash dates the other way round). The button re-authorizes the clicker, downloads
the file again and imports only if it is byte for byte what was checked (same SHA-256); running it twice
adds nothing, the import being idempotent.

Export: `/cmo program export` builds every area's records and the audit trail (store/onboarding/exporting.py) and
uploads the workbook to the caller by DM.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import blocks as bk
from bot.downloads import fetch
from commands.args import UsageError, iso_date
from commands.boundary import explain, tell
from commands.interaction import Interaction
from commands.router import Request
from store import programs as program_store
from store.areas import KINDS, SHEETS
from store.audit import Actor
from store.errors import DomainError, Invalid, NotAllowed
from store.markup import escape
from store.onboarding import exporting, importing
from store.onboarding.importing import Report
from store.programs import Role

log = logging.getLogger(__name__)

PROBLEM_LINES = 25
TRACKER_SUFFIXES = (".csv", ".xlsx", ".xlsm", ".tsv", ".txt")


class Ids(StrEnum):
    shortcut = "import_tracker"
    run = "import_tracker_run"
    recheck = "import_tracker_recheck"


class Planned(BaseModel):
    """What a button carries back: which file, read how, into which program, and what was checked."""

    file_id: str = Field(max_length=32, pattern=r"^F[A-Z0-9]+$")
    kind: str = Field(max_length=32)
    program: str | None = Field(default=None, max_length=20)
    dayfirst: bool = False
    sha256: str = Field(max_length=64, pattern=r"^[0-9a-f]{64}$")


def require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise NotAllowed("Only admins (CMO_ADMINS) can import trackers.")


# --------------------------------------------------------------------------------------------- rendering


def report_blocks(report: Report, planned: Planned | None) -> list[dict]:
    problems = report.problems()
    shown = problems[:PROBLEM_LINES]
    if len(problems) > PROBLEM_LINES:
        shown.append(f"…and {len(problems) - PROBLEM_LINES} more")
    blocks: list[Any] = [bk.section(f"*{escape(report.headline())}*")]
    if shown:
        blocks.append(bk.section("\n".join(escape(line) for line in shown)))
    blocks.append(bk.section(escape(report.totals())))
    if planned is not None:
        reading = "day first (31/01/2027)" if planned.dayfirst else "month first (01/31/2027)"
        other = "Read dates month first" if planned.dayfirst else "Read dates day first"
        recheck = planned.model_copy(update={"dayfirst": not planned.dayfirst})
        buttons = [bk.button(other, Ids.recheck, recheck.model_dump_json())]
        if report.imported:
            buttons.insert(0, bk.button("Import", Ids.run, planned.model_dump_json(), style="primary"))
        blocks.append(bk.context(f"Slash dates read {reading}. "
                                 + ("Nothing is written until you press Import." if report.imported
                                    else "There is nothing new to import.")))
        blocks.append(bk.actions(*buttons))
    return bk.message(blocks)


def report_text(report: Report) -> str:
    """The notification text: file names and cell values come from people, so they are escaped."""
    return "\n".join(escape(line) for line in report.lines())


def refusal(error: DomainError) -> str:
    """A domain error as the person sees it, its text escaped (it may quote a file name or a cell)."""
    return explain(error).replace(str(error), escape(str(error)))


# --------------------------------------------------------------------------------------------- import


def tracker_file(body: dict[str, Any]) -> dict[str, Any]:
    files = (body.get("message") or {}).get("files") or []
    for candidate in files:
        if (candidate.get("name") or "").lower().endswith(TRACKER_SUFFIXES):
            return candidate
    if files:
        raise Invalid("That message has no CSV or XLSX file. Save the tracker as .xlsx or .csv and share it.")
    raise Invalid("That message has no file. Use the shortcut on the message that carries the tracker.")


def check(interaction: Interaction, planned: Planned, *, dry_run: bool, content: bytes, file_name: str) -> Report:
    return importing.run(interaction.deps.engine, kind=importing.kind_named(planned.kind, KINDS), content=content,
                         file_name=file_name, actor=interaction.actor, now=interaction.now, program=planned.program,
                         dayfirst=planned.dayfirst, dry_run=dry_run)


def preview(interaction: Interaction, client: WebClient, body: dict[str, Any]) -> None:
    """The shortcut's slow part: download, recognise, dry-run, DM the summary with the buttons."""
    actor = interaction.actor
    require_admin(actor)
    shared = tracker_file(body)
    downloaded = fetch(client, shared["id"])
    kind = importing.detect(downloaded.content, downloaded.name, KINDS)
    channel = (body.get("channel") or {}).get("id") or ""
    with interaction.session() as session:
        program = program_store.by_channel(session, channel) if channel else None
    planned = Planned(file_id=shared["id"], kind=kind.name, program=program.code if program else None,
                      sha256=importing.sha256(downloaded.content))
    report = check(interaction, planned, dry_run=True, content=downloaded.content, file_name=downloaded.name)
    client.chat_postMessage(channel=actor.user_id, text=report_text(report), blocks=report_blocks(report, planned))


def on_shortcut(interaction: Interaction, ack: Callable[..., Any], body: dict[str, Any], client: WebClient) -> None:
    """The Import tracker shortcut on a message with a tracker file: a dry run and its report."""
    ack()
    try:
        preview(interaction, client, body)
    except DomainError as error:
        tell(client, {"user_id": body["user"]["id"]}, refusal(error))


def rerun(interaction: Interaction, body: dict[str, Any], client: WebClient, *, dry_run: bool) -> None:
    """Check the file again (a dry run) or import it, as the report's button asks; the report is updated."""
    actor = interaction.actor
    require_admin(actor)
    action = body["actions"][0]
    try:
        planned = Planned.model_validate_json(action.get("value") or "{}")
    except ValidationError:
        raise Invalid("This button's data was altered; use Import tracker on the file again.") from None
    downloaded = fetch(client, planned.file_id)
    if importing.sha256(downloaded.content) != planned.sha256 and not dry_run:
        raise Invalid("The file changed since it was checked; use Import tracker on it again.")
    planned = planned.model_copy(update={"sha256": importing.sha256(downloaded.content)})
    report = check(interaction, planned, dry_run=dry_run, content=downloaded.content, file_name=downloaded.name)
    channel, ts = (body.get("channel") or {}).get("id"), (body.get("message") or {}).get("ts")
    blocks = report_blocks(report, planned if dry_run else None)
    if channel and ts:
        client.chat_update(channel=channel, ts=ts, text=report_text(report), blocks=blocks)
    else:
        client.chat_postMessage(channel=actor.user_id, text=report_text(report), blocks=blocks)


# Domain errors are told here rather than raised to the @app.error boundary: Bolt (1.2x) resets an ack
# to "none" when a listener raises within its 10 ms polling interval after acking, and then answers
# Slack 404 "unhandled request" although the click was acknowledged.
def on_import(interaction: Interaction, ack: Callable[..., Any], body: dict[str, Any], client: WebClient,
              respond: Callable[..., Any]) -> None:
    """The report's Import button: the file, unchanged since it was checked, is imported."""
    ack()
    try:
        rerun(interaction, body, client, dry_run=False)
    except DomainError as error:
        tell(client, body, refusal(error), respond)


def on_recheck(interaction: Interaction, ack: Callable[..., Any], body: dict[str, Any], client: WebClient,
               respond: Callable[..., Any]) -> None:
    """The report's Check again button: another dry run of the file as it is now."""
    ack()
    try:
        rerun(interaction, body, client, dry_run=True)
    except DomainError as error:
        tell(client, body, refusal(error), respond)


def register(app: App) -> None:
    app.shortcut(Ids.shortcut.value)(on_shortcut)
    app.action(Ids.run.value)(on_import)
    app.action(Ids.recheck.value)(on_recheck)


# --------------------------------------------------------------------------------------------- export


def cmd_export(req: Request) -> None:
    """`/cmo program export [--format xlsx|csv] [--from DATE] [--to DATE] [--program CODE]`."""
    req.args.only("program", "format", "from", "to")
    fmt = (req.args.flag("format") or "xlsx").lower()
    if fmt not in exporting.FORMATS:
        raise UsageError("--format is xlsx or csv.")
    since, until = req.args.flag("from"), req.args.flag("to")
    start = iso_date(since, "--from date") if since else None
    end = iso_date(until, "--to date") if until else None
    with req.session() as session:
        access = req.access(session)
        access.require_internal("export a program's records")
        access.require(Role.program_manager, Role.cmo_quality, doing="export the program's records")
        result = exporting.build(session, sheets=SHEETS, programs=[access.program], everything=False, now=req.now,
                                 fmt=fmt, start=start, end=end)
    counts = ", ".join(f"{t.title} {t.count}" for t in result.tables[1:])
    comment = f"Records of {access.program.code} ({counts}). {result.verified.summary()}."
    try:
        dm = req.client.conversations_open(users=req.user_id)["channel"]["id"]
        req.client.files_upload_v2(channel=dm, content=result.content, filename=result.file_name,
                                   title=result.file_name, initial_comment=comment)
    except SlackApiError as exc:
        raise Invalid(f"The export could not be sent to you (`{exc.response.get('error')}`); try again.") from None
    req.reply(f":white_check_mark: {escape(result.file_name)} is in your DMs with the bot. "
              f"{escape(result.verified.summary())}.")
