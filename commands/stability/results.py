"""Importing stability results: from the results form, from a file shared in a channel (*File to program*), and
the one-step *Record the pulls and import* button for results whose pulls were never recorded.

Onboarding a running study, a lab's file holds results for pulls made before the bot knew of them. Those rows
are not refused: the reply names the pulls, and its button records each on its pull date (flagged as recorded
from results, audited) and imports the rows. The button carries what the import was made of (the program, the
shared files, a typed row), sealed, so the click re-reads exactly that and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError
from slack_bolt import App
from slack_sdk import WebClient

from bot import blocks as bk
from bot import downloads
from commands import file_to_program
from commands.deps import Deps
from commands.forms import is_sealed, seal
from commands.interaction import Acting, Interaction
from store import programs as program_store
from store.audit import Actor
from store.db import pk, transaction
from store.errors import Invalid, NotFound
from store.markup import day, escape, plural
from store.programs import Role
from store.stability import change as stability_change
from store.stability import results_file as stability_import
from store.stability import service as store
from store.stability.results import ImportReport, ResultRow, import_results

RECORDERS = (Role.stability, Role.program_manager, Role.cmo_quality)
RECORD_AND_IMPORT = "stability_record_and_import"
MAX_REJECTED_SHOWN = 30
MAX_MISSING_SHOWN = 20


class ResultsImport(BaseModel):
    """One import: the program, the Slack files and the row typed into the form (if any)."""

    program: str
    files: list[str] = []
    study: str | None = None
    typed: dict[str, Any] | None = None
    mac: str = ""

    def sealed(self, deps: Deps, user_id: str) -> ResultsImport:
        return self.model_copy(update={"mac": seal(deps, "results", user_id, self._content())})

    def is_sealed(self, deps: Deps, user_id: str) -> bool:
        return is_sealed(self.mac, deps, "results", user_id, self._content())

    def _content(self) -> str:
        return self.model_dump_json(exclude={"mac"})


def _read(client: WebClient, request: ResultsImport) -> tuple[list[ResultRow], list[tuple[int, str]], list[str]]:
    """Every row of the typed result and the files, the rows that could not be read, and a line per file."""
    rows = [ResultRow(**request.typed)] if request.typed else []
    rejected: list[tuple[int, str]] = []
    notes: list[str] = []
    for file_id in request.files:
        name = file_id
        try:
            fetched = downloads.fetch(client, file_id)
            name = fetched.name
            read, bad = stability_import.read(fetched.name, fetched.content, request.study)
        except Invalid as exc:
            notes.append(f"• {escape(name)}: {escape(exc)}")
            continue
        rows += read
        rejected += bad
        notes.append(f"• {escape(fetched.name)}: {plural(len(read) + len(bad), 'row')} read")
    return rows, rejected, notes


def _pull(study: store.StabilityStudy, pull: store.StabilityPull) -> str:
    return f"{escape(study.code)} {pull.condition} {pull.months} months (pull date {day(pull.due_on)})"


def run(who: Acting, client: WebClient, request: ResultsImport, *, record_missing: bool = False
        ) -> tuple[str, list[dict]]:
    """After the ack: import every sound row, announce results out of specification to the program managers and
    CMO quality at once, and return the importer's reply (with the button when pulls are missing)."""
    deps, actor, now = who.deps, who.actor, who.now
    rows, rejected, notes = _read(client, request)
    with transaction(deps.engine) as session:
        program = program_store.by_code(session, request.program)
        if program is None:  # authorized before the ack; gone since
            raise NotFound(program_store.NO_ACCESS)
        report = import_results(session, program=program, actor=actor, now=now, rows=rows, rejected=rejected,
                                      record_missing=record_missing)
        managers = program_store.user_ids(session, pk(program), Role.program_manager, Role.cmo_quality)
        oos = [_describe_result(session, r) for r in report.out_of_spec]
        change = significant_change_alert(session, request.program, actor, report)
        team = program_store.user_ids(session, pk(program), Role.program_manager, Role.cmo_quality,
                                      Role.stability)
    if oos:
        alert = (f":rotating_light: *Out-of-specification stability result* in {escape(request.program)} "
                 f"(imported by {bk.mention(actor.user_id)}):\n" + "\n".join(f"• {o}" for o in oos))
        for person in managers:
            client.chat_postMessage(channel=person, text=alert)
    if change:
        for person in team:
            client.chat_postMessage(channel=person, text=change)
    return reply(deps, actor, request, report, notes)


def significant_change_alert(session, program_code: str, actor: Actor, report: ImportReport) -> str | None:
    """The alert of significant changes at accelerated (ICH Q1A(R2) §2.2.7), per study: the results, and the
    intermediate testing started — or Q1A(R2)'s recommendation when the protocol has no intermediate condition."""
    if not report.changes:
        return None
    lines = [f":warning: *Significant change at accelerated* (ICH Q1A(R2) §2.2.7) in {escape(program_code)} "
             f"(imported by {bk.mention(actor.user_id)}):"]
    studies = {c.study.code: c.study for c in report.changes}
    for study in studies.values():
        lines += [f"• {_describe_result(session, c.result)}: {escape(c.reason)}"
                  for c in report.changes if c.study.code == study.code]
        started = report.started.get(study.code) or []
        intermediate = stability_change.intermediate_codes(study)
        if started:
            upcoming = [p for p in started if p.activated_on is not None and p.closes_on >= p.activated_on]
            first = f"; next pull {upcoming[0].condition} {upcoming[0].months} months on {day(upcoming[0].due_on)}" \
                if upcoming else ""
            lines.append(f"→ {escape(study.code)}: intermediate testing at {', '.join(intermediate)} has started: "
                         f"{plural(len(started), 'pull')} from standby to the schedule, dated from placement{first}.")
        elif intermediate:
            lines.append(f"→ {escape(study.code)}: intermediate testing at {', '.join(intermediate)} is already on "
                         "the schedule.")
        else:
            lines.append(f"→ {escape(study.code)}: ICH Q1A(R2) recommends testing at the intermediate condition "
                         "(30 °C / 65 % RH); the study's protocol has none.")
    return "\n".join(lines)


def reply(deps: Deps, actor: Actor, request: ResultsImport, report: ImportReport, notes: list[str]
          ) -> tuple[str, list[dict]]:
    head = (f":bar_chart: Results for {escape(request.program)}: {plural(len(report.accepted), 'result')} imported, "
            f"{plural(len(report.rejected), 'row')} refused"
            + (f", {report.already} already imported before" if report.already else "") + ".")
    lines = [head, *notes]
    if report.recorded:
        lines.append(":white_check_mark: Recorded from these results, each on its pull date: "
                     + "; ".join(_pull(study, pull) for study, pull in report.recorded) + ".")
    for line, reason in sorted(report.rejected)[:MAX_REJECTED_SHOWN]:
        lines.append(f"• row {line}: {escape(reason)}")
    if len(report.rejected) > MAX_REJECTED_SHOWN:
        lines.append(f"…and {len(report.rejected) - MAX_REJECTED_SHOWN} more refused rows.")
    if report.missing:
        waiting = sum(len(lines) for lines in report.waiting.values())
        shown = [f"• {_pull(study, pull)}: rows {', '.join(map(str, report.waiting[pk(pull)]))}"
                 for study, pull in report.missing[:MAX_MISSING_SHOWN]]
        if len(report.missing) > MAX_MISSING_SHOWN:
            shown.append(f"…and {len(report.missing) - MAX_MISSING_SHOWN} more pulls.")
        missing = (f":hourglass: {plural(waiting, 'row')} wait for {plural(len(report.missing), 'pull')} not "
                   "recorded yet:\n" + "\n".join(shown) + "\nRecord them on their pull dates (flagged as recorded "
                   "from results, in the audit trail) and import these rows in one step, or record each with "
                   "`/cmo stability pulled` and import again.")
        lines.append(missing)
    blocks: list = _sections(lines)
    if report.missing:
        value = request.sealed(deps, actor.user_id).model_dump_json()
        blocks.append(bk.actions(bk.button(f"Record {plural(len(report.missing), 'pull')} and import",
                                           RECORD_AND_IMPORT, value, "primary")))
    return "\n".join(lines), bk.message(blocks)


def _sections(lines: list[str]) -> list:
    """The lines in as few sections as Slack's 3,000 characters a section allow."""
    chunks: list[list[str]] = [[]]
    for line in lines:
        if chunks[-1] and len("\n".join([*chunks[-1], line])) > bk.SECTION_TEXT:
            chunks.append([])
        chunks[-1].append(line)
    return [bk.section("\n".join(chunk)) for chunk in chunks]


def _describe_result(session, result: store.StabilityResult) -> str:
    pull = session.get(store.StabilityPull, result.pull_id)
    study = session.get(store.StabilityStudy, result.study_id)
    low = "" if result.spec_low is None else f"{result.spec_low:g}"
    high = "" if result.spec_high is None else f"{result.spec_high:g}"
    lot = f" lot {escape(result.batch)}" if result.batch else ""
    return (f"{escape(study.code)} {pull.condition} {pull.months} months{lot}: {escape(result.attribute)} "
            f"{result.value:g} {escape(result.unit)} (specification {low}–{high})")


def tell_importer(client: WebClient, actor: Actor, answer: tuple[str, list[dict]]) -> None:
    text, blocks = answer
    client.chat_postMessage(channel=actor.user_id, text=text, blocks=blocks)


# ---------------------------------------------------------------- File to program: results import as a destination


def filing_choices(session, actor: Actor) -> list[tuple[str, str]]:
    """Each program with a study where the person may import results (stability team, managers, CMO quality;
    people of the manufacturer only): its studies, and the program as a whole for files with a study column."""
    choices = []
    for program in program_store.visible_to(session, actor):
        if not actor.is_admin and (program_store.is_external(session, pk(program), actor.user_id)
                                   or not program_store.roles_of(session, pk(program), actor.user_id)
                                   & set(RECORDERS)):
            continue
        studies = store.studies(session, pk(program))
        if studies:
            choices.append((f"{program.code}|", f"{program.code} stability results (the file names the study)"))
        choices += [(f"{program.code}|{s.code}", f"{program.code} {s.code} stability results ({s.product})")
                    for s in studies]
    return choices


def file_all(interaction: Interaction, client: WebClient, value: str, file_ids: list[str], note: str) -> None:
    """The shared files are one results import (all their rows in one report), re-authorized here."""
    code, _, study = value.partition("|")
    with interaction.session() as session:
        access = interaction.authorize(session, code=code, internal="import stability results", roles=RECORDERS,
                                       doing="import results")
        if study:
            store.get_study(session, pk(access.program), study)
    request = ResultsImport(program=access.program.code, files=file_ids, study=study or None)
    tell_importer(client, interaction.actor, run(interaction, client, request))


NEEDS = "stability results files (stability team, program managers, CMO quality) for a program with a study"


def on_record_and_import(interaction: Interaction, ack: Callable[..., Any], body: dict[str, Any],
                         respond: Callable[..., Any], client: WebClient) -> None:
    """The Record the pulls and import button: the missing pulls are recorded and the rows imported."""
    ack()
    deps, actor = interaction.deps, interaction.actor
    try:
        request = ResultsImport.model_validate(json.loads((body.get("actions") or [{}])[0].get("value") or ""))
    except (ValueError, ValidationError):
        request = None
    if request is None or not request.is_sealed(deps, actor.user_id):
        raise Invalid("This button's data was altered; import the results again.")
    with interaction.session() as session:
        interaction.authorize(session, code=request.program, roles=RECORDERS, doing="record pulls and import results")
    text, blocks = run(interaction, client, request, record_missing=True)
    respond(text=text, blocks=blocks, replace_original=True)


FILING = file_to_program.Target("stability", filing_choices, file_all=file_all, needs=NEEDS)


def register(app: App) -> None:
    app.action(RECORD_AND_IMPORT)(on_record_and_import)
