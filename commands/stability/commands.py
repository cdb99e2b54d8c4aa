"""`/cmo stability …`: studies (modal), the pull schedule, upcoming pulls, recording pulls (command or the
reminder's Mark pulled button), lab submissions, results (file or form) and the data package."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import date, timedelta
from typing import Any

from pydantic import BaseModel, field_validator
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlmodel import Session

from bot import blocks as bk
from commands import home
from commands.after import Run, follow_up, later
from commands.args import UsageError, iso_date
from commands.boundary import tell
from commands.forms import metadata, open_form, submit
from commands.interaction import Interaction
from commands.router import Area, Request, Verb
from commands.stability import results
from commands.stability.views import Ids, new_study_view, pulls_blocks, results_view, schedule_blocks
from store import filing
from store import programs as program_store
from store.db import pk
from store.errors import Invalid, NotFound
from store.markup import day, escape, plural
from store.programs import Access, Program, Role
from store.stability import notation
from store.stability import results_file as stability_import
from store.stability import service as store
from store.stability.results import ResultRow
from store.stability.schedule import Condition

PLANNERS = (Role.stability, Role.program_manager)
RECORDERS = results.RECORDERS


class ProgramRef(BaseModel):
    """What a stability modal carries in `private_metadata`; re-authorized on submit."""

    program: str


class StudyForm(BaseModel):
    study: str
    product: str
    lots: str | None = None
    protocol: str | None = None
    conditions: list[str] = []
    custom: str | None = None
    duration: int
    placed: date
    timepoints: str | None = None

    @field_validator("study")
    @classmethod
    def _study(cls, v: str) -> str:
        return store.validate_study_code(v)

    def time_points(self, conditions: list[Condition]) -> Mapping[str, list[int]]:
        """`LT25: 0, 3, 6` or `25/60: 0, 3M, 6M` lines → {LT25: [0, 3, 6]}; a bare list with one condition."""
        return notation.time_points_by_condition(self.timepoints, conditions)


class ResultForm(BaseModel):
    file: list[dict[str, Any]] = []
    study: str | None = None
    condition: str | None = None
    timepoint: str | None = None
    lot: str | None = None
    attribute: str | None = None
    value: str | None = None
    unit: str | None = None
    low: str | None = None
    high: str | None = None

    def row(self) -> ResultRow | None:
        """The one result typed into the form, or None when the form only carries files."""
        typed = [self.condition, self.timepoint, self.attribute, self.value]
        if not any(typed):
            if not self.file:
                raise Invalid("Attach a results file or enter a result.", "file")
            return None
        table = [("study", "condition", "months", "lot", "attribute", "value", "unit", "lsl", "usl"),
                 (self.study, self.condition, self.timepoint, self.lot, self.attribute, self.value, self.unit,
                  self.low, self.high)]
        rows, rejected = stability_import.to_rows(table, self.study)
        if rejected or not self.study:
            raise Invalid(rejected[0][1] if rejected else "Name the study.", "value" if rejected else "study")
        return rows[0]


# ---------------------------------------------------------------- commands


def no_words(req: Request) -> None:
    if req.args.words:
        raise UsageError(f"`{req.args.words[0][:30]}` is not understood here; this verb takes only options.")


def cmd_new(req: Request) -> None:
    req.args.only("program")
    no_words(req)
    with req.session() as session:
        access = req.access(session)
        access.require(*PLANNERS, doing="create stability studies")
        program = access.program
        suggested = store.next_code(session, pk(program))
    today = req.now.astimezone(program.tz).date()
    view = new_study_view(program.code, suggested, today, ProgramRef(program=program.code).model_dump_json())
    open_form(req.client, trigger_id=req.trigger_id, view=view)


def cmd_list(req: Request) -> None:
    req.args.only("program")
    no_words(req)
    with req.session() as session:
        program = req.access(session).program
        rows = [(s.code, s.product, s.placed_on.isoformat(), f"{s.duration_months} m",
                 ", ".join(c["code"] for c in s.conditions)) for s in store.studies(session, pk(program))]
    if not rows:
        req.reply(f"{escape(program.code)} has no stability studies yet. Start one with `/cmo stability new`.")
        return
    req.reply(f"Stability studies of {escape(program.code)} ({len(rows)}):\n"
              + bk.table(rows, ("Study", "Product", "Placed", "Duration", "Conditions")))


def the_study(session: Session, program_id: int, code: str) -> store.StabilityStudy:
    """The program's study of that code; `store.get_study` raises NotFound when there is none."""
    study = store.get_study(session, program_id, code)
    if study is None:
        raise NotFound(f"There is no stability study {code.strip().upper()[:20]} in this program.")
    return study


def cmd_schedule(req: Request) -> None:
    req.args.only("program")
    code = req.args.word(0, "the study id")
    with req.session() as session:
        program = req.access(session).program
        study = the_study(session, pk(program), code)
        pulls = store.pulls_of(session, pk(study))
    text, blocks = schedule_blocks(study, pulls, req.now.astimezone(program.tz).date())
    req.reply(text, blocks)


def cmd_pulls(req: Request) -> None:
    req.args.only("program", "days")
    no_words(req)
    days_text = req.args.flag("days") or "30"
    if not days_text.isdecimal() or not 1 <= int(days_text) <= 366:
        raise UsageError("--days is a number of days from 1 to 366.")
    days = int(days_text)
    with req.session() as session:
        in_program = req.args.flag("program") or program_store.by_channel(session, req.channel_id)
        if in_program:
            programs = [req.access(session).program]
            scope = programs[0].code
        else:  # across the programs where the caller is on the stability team (admins: all)
            programs = [p for p in program_store.visible_to(session, req.actor)
                        if req.actor.is_admin
                        or Role.stability in program_store.roles_of(session, pk(p), req.user_id)]
            scope = "all your programs"
            if not programs:
                raise NotFound("You are on no program's stability team; use `--program CODE`.")
        start = min(req.now.astimezone(p.tz).date() for p in programs)
        items = store.upcoming(session, [pk(p) for p in programs], start, start + timedelta(days=days))
    text, blocks = pulls_blocks(items, days, scope)
    req.reply(text, blocks)


def _pull_of(req: Request, session) -> tuple[Access, store.StabilityStudy, store.StabilityPull]:
    """`STB-0001 LT25 6`, `STB-0001 25/60 6M`, `STB-0001 25 °C / 60 % RH 6 months`: the study, then the condition
    and the time point as people write them (the time point is the last word, or the last two)."""
    access = req.access(session)
    study = the_study(session, pk(access.program), req.args.word(0, "the study id"))
    req.args.word(1, "the condition (e.g. LT25 or 25/60)")
    req.args.word(2, "the time point (e.g. 6 or 6M)")
    words = req.args.words[1:]
    cut = len(words) - 2 if len(words) > 2 and words[-1].isalpha() and words[-2].isdecimal() else len(words) - 1
    try:
        months = notation.parse_time_point(" ".join(words[cut:]))
    except Invalid as exc:
        raise UsageError(str(exc)) from None
    return access, study, store.find_pull(session, study, " ".join(words[:cut]), months)


def pulled_text(study: store.StabilityStudy, pull: store.StabilityPull, who: str) -> str:
    text = (f":white_check_mark: {escape(study.code)} {pull.condition} {pull.months}-month pull recorded as pulled "
            f"on {day(pull.pulled_on)} by {bk.mention(who)}.")
    if pull.deviation:
        text += (f"\n:warning: *Out of window* ({day(pull.opens_on)} – {day(pull.closes_on)}): recorded as a "
                 "deviation to investigate.")
    return text


def cmd_pulled(req: Request) -> None:
    req.args.only("program", "date")
    with req.session() as session:
        access, study, pull = _pull_of(req, session)
        access.require(*RECORDERS, doing="record pulls")
        when = req.args.flag("date")
        pulled_on = iso_date(when) if when else req.now.astimezone(access.program.tz).date()
        store.record_pull(session, program=access.program, pull=pull, actor=req.actor, now=req.now,
                          pulled_on=pulled_on)
    req.post(pulled_text(study, pull, req.user_id))


def cmd_submit(req: Request) -> None:
    req.args.only("program", "lab", "samples", "date", "expected")
    with req.session() as session:
        access, study, pull = _pull_of(req, session)
        access.require(*RECORDERS, doing="submit samples to the lab")
        lab = req.args.flag("lab") or ""
        expected = req.args.flag("expected")
        if not lab or not expected:
            raise UsageError("Name the lab (--lab) and the expected result date (--expected YYYY-MM-DD).")
        when = req.args.flag("date")
        submitted = iso_date(when) if when else req.now.astimezone(access.program.tz).date()
        store.submit_to_lab(session, program=access.program, pull=pull, actor=req.actor, now=req.now, lab=lab,
                            sample_ids=req.args.flag("samples") or "", submitted_on=submitted,
                            results_due_on=iso_date(expected, "expected date"))
    req.reply(f":microscope: {escape(study.code)} {pull.condition} {pull.months}-month samples submitted to "
              f"{escape(pull.lab)} on {day(submitted)}; results expected by {day(pull.results_due_on)}. "
              "The stability team is reminded if they are late.")


def cmd_results(req: Request) -> None:
    req.args.only("program")
    with req.session() as session:
        access = req.access(session)
        access.require(*RECORDERS, doing="import results")
        study = req.args.words[0].upper() if req.args.words else None
        if study:
            store.get_study(session, pk(access.program), study)
    view = results_view(access.program.code, study, ProgramRef(program=access.program.code).model_dump_json())
    open_form(req.client, trigger_id=req.trigger_id, view=view)


def cmd_report(req: Request) -> None:
    from store.stability import (
        report as stability_report,  # reportlab and openpyxl load only when a package is compiled
    )

    req.args.only("program")
    code = req.args.word(0, "the study id")
    with req.session() as session:
        access = req.access(session)
        program, study = access.program, the_study(session, pk(access.program), code)
        package = stability_report.compile_package(study, store.results_of(session, pk(study)), req.now)
    files = {f"{study.code}-data-package.xlsx": stability_report.workbook(package),
             f"{study.code}-data-package.pdf": stability_report.pdf(package)}
    filed = {name: filing.file_document(req.deps.files, program.code, "stability", study.code, name=name,
                                        content=content) for name, content in files.items()}
    with req.session() as session:
        store.record_report(session, program=program, study=study, actor=req.actor, now=req.now,
                            files={str(f.path): f.sha256 for f in filed.values()})
    checksums = "\n".join(f"• `{escape(name)}` SHA-256 `{f.sha256}`" for name, f in filed.items())
    if not program.channel_id:
        req.reply(f"The data package of {escape(study.code)} is filed in the program folder, but {program.code} "
                  f"has no channel to share it in.\n{checksums}")
        return
    try:
        req.client.files_upload_v2(
            channel=program.channel_id,
            file_uploads=[{"file": content, "filename": filed[name].path.name, "title": name}
                          for name, content in files.items()],
            initial_comment=f":package: Stability data package of *{escape(study.code)}* "
                            f"({escape(study.product)}), compiled by {bk.mention(req.user_id)}.\n{checksums}",
        )
    except SlackApiError as exc:
        req.reply(f":warning: The package is filed, but the upload to <#{program.channel_id}> failed "
                  f"(`{exc.response.get('error')}`); run the command again to share it.\n{checksums}")
        return
    req.reply(f":package: The data package of {escape(study.code)} is in <#{program.channel_id}> and filed in the "
              f"program folder.\n{checksums}")


AREA = Area("stability", "stability studies: pull schedule, reminders, pulls, lab, results, data package", (
    Verb("new", "/cmo stability new [--program CODE]", "start a study (stability team, managers): opens a form",
         cmd_new),
    Verb("list", "/cmo stability list [--program CODE]", "the program's studies", cmd_list),
    Verb("schedule", "/cmo stability schedule STB-0001 [--program CODE]",
         "every pull of a study with its date, window and state", cmd_schedule),
    Verb("pulls", "/cmo stability pulls [--days 30] [--program CODE]",
         "upcoming pulls of the program (outside a program channel: of all your programs)", cmd_pulls),
    Verb("pulled", "/cmo stability pulled STB-0001 LT25 6 [--date 2027-07-31] [--program CODE]",
         "record a pull (today unless --date; the condition and time point as labs write them too: 25/60 6M); "
         "outside its window it is flagged as a deviation", cmd_pulled),
    Verb("submit", '/cmo stability submit STB-0001 LT25 6 --lab "QC lab" --samples S-1,S-2 --expected 2027-08-31 '
         "[--date 2027-08-02]", "record the samples' submission to the lab and when results are expected",
         cmd_submit),
    Verb("results", "/cmo stability results [STB-0001] [--program CODE]",
         "import results: attach a CSV/XLSX or enter one in a form", cmd_results),
    Verb("report", "/cmo stability report STB-0001 [--program CODE]",
         "compile the data package (XLSX + PDF with trends and ICH Q1E regression), share and file it",
         cmd_report),
))


# ---------------------------------------------------------------- modals and buttons


def on_new_study(interaction: Interaction, ack: Callable[..., Any], view: dict[str, Any], client: WebClient) -> None:
    """The new-study form submitted: the study and its pulls are created, the program channel told."""
    now = interaction.now
    ref = metadata(view, ProgramRef)

    def create(form: StudyForm) -> None:
        with interaction.session() as session:
            access = interaction.authorize(session, code=ref.program, roles=PLANNERS, doing="create stability studies")
            conditions = store.parse_conditions(form.conditions, form.custom)
            study = store.create_study(
                session, program=access.program, actor=access.actor, now=now, code=form.study,
                product=form.product, placed_on=form.placed, duration_months=form.duration,
                conditions=conditions, time_points=form.time_points(conditions), lots=form.lots or "",
                protocol=form.protocol or "")
            count = len(store.pulls_of(session, pk(study)))
            later(interaction, client, "stability.study_created", session=session,
                  channel=access.program.channel_id or access.actor.user_id, text=(
                      f":test_tube: Stability study *{escape(study.code)}* ({escape(study.product)}) placed "
                      f"{day(study.placed_on)}: {plural(count, 'pull')} planned over {study.duration_months} "
                      f"months at {', '.join(c.code for c in conditions)}. See "
                      f"`/cmo stability schedule {study.code}`."))

    submit(ack, view, StudyForm, create, fallback="study")


@follow_up("stability.study_created")
def after_new_study(run: Run, channel: str, text: str) -> None:
    """After the ack (commands/after.py): the program channel (or the person, without one) told."""
    run.once("told", lambda: run.client.chat_postMessage(channel=channel, text=text))


def on_results(interaction: Interaction, ack: Callable[..., Any], view: dict[str, Any], client: WebClient) -> None:
    """The results form submitted (files or one typed result): checked before the ack, imported after it."""
    ref = metadata(view, ProgramRef)

    def check(form: ResultForm) -> tuple[ResultForm, ResultRow | None]:
        typed = form.row()
        with interaction.session() as session:
            access = interaction.authorize(session, code=ref.program, roles=RECORDERS, doing="import results")
            study = typed and store.get_study(session, pk(access.program), typed.study, missing_ok=True)
            if typed and study:
                study.lot(typed.batch)  # an unknown lot is a field error, before anything is imported
        return form, typed

    checked = submit(ack, view, ResultForm, check, fallback="file")
    if checked is not None:  # after the ack: a failure reaches the person through the error boundary
        form, typed = checked
        request = results.ResultsImport(program=ref.program, files=[str(f.get("id")) for f in form.file],
                                        study=form.study, typed=asdict(typed) if typed else None)
        later(interaction, client, "stability.results", request=request.model_dump(mode="json"))


@follow_up("stability.results")
def after_results(run: Run, request: dict[str, Any]) -> None:
    """After the ack (commands/after.py): the results imported (once: its mark goes with its first write) and
    the importer answered."""
    run.once("import", lambda: results.tell_importer(
        run.client, run.who.actor, results.run(run.who, run.client, results.ResultsImport.model_validate(request))))


def on_mark_pulled(interaction: Interaction, ack: Callable[..., Any], body: dict[str, Any],
                   respond: Callable[..., Any], client: WebClient) -> None:
    """The reminder's Mark pulled button: the pull is recorded today and the program channel told."""
    ack()
    now = interaction.now
    value = (body.get("actions") or [{}])[0].get("value") or ""
    if not value.isdecimal():
        raise Invalid("This button's data was altered; use `/cmo stability pulled` instead.")
    with interaction.session() as session:
        pull = session.get(store.StabilityPull, int(value))
        program = session.get(Program, pull.program_id) if pull else None
        if pull is None or program is None:
            raise NotFound(program_store.NO_ACCESS)
        access = interaction.authorize(session, code=program.code, roles=RECORDERS, doing="record pulls")
        study = session.get_one(store.StabilityStudy, pull.study_id)
        store.record_pull(session, program=program, pull=pull, actor=access.actor, now=now,
                          pulled_on=now.astimezone(program.tz).date())
        text = pulled_text(study, pull, access.actor.user_id)
    if program.channel_id:  # the program sees who pulled, wherever the button was pressed
        client.chat_postMessage(channel=program.channel_id, text=text)
    if (body.get("container") or {}).get("type") == "view":  # pressed in App Home: refresh it
        home.publish(interaction.deps, client, access.actor.user_id, now)
    elif (body.get("channel") or {}).get("id") != program.channel_id:  # pressed in a DM
        tell(client, body, text, respond)


def register(app: App) -> None:
    results.register(app)
    app.view(Ids.new_view.value)(on_new_study)
    app.view(Ids.results_view.value)(on_results)
    app.action(Ids.mark_pulled.value)(on_mark_pulled)
