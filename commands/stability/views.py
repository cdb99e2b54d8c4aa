"""Block Kit for `/cmo stability`: the new-study and results modals, the schedule and pull lists."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from enum import StrEnum

from bot import blocks as bk
from store.markup import day, escape
from store.stability.rules import MARK_PULLED
from store.stability.schedule import ICH_CONDITIONS, default_time_points
from store.stability.service import StabilityPull, StabilityStudy, Upcoming


class Ids(StrEnum):
    new_view = "stability_new"
    results_view = "stability_results"
    mark_pulled = MARK_PULLED


def new_study_view(program_code: str, suggested: str, today: date, metadata: str) -> dict:
    defaults = "; ".join(f"{c.code} {', '.join(map(str, default_time_points(c.kind, 36)))}"
                         for c in ICH_CONDITIONS[2:4]) + "; long term 0, 3, 6, 9, 12, 18, 24, 36 …"
    return bk.modal(f"New study {program_code}", Ids.new_view, [
        bk.text_input("study", "Study id", initial=suggested, max_length=20),
        bk.text_input("product", "Product", max_length=200),
        bk.text_input("lots", "Lot(s)", optional=True, max_length=500, placeholder="L-001, L-002"),
        bk.text_input("protocol", "Protocol number", optional=True, max_length=100),
        bk.checkbox_input("conditions", "Storage conditions (ICH)",
                          [(c.code, f"{c.code} — {c.label}") for c in ICH_CONDITIONS]),
        bk.text_input("custom", "Custom conditions", optional=True, multiline=True, max_length=1000,
                      placeholder="25/40 = 25 °C / 40 % RH semi-permeable",
                      hint="One per line: CODE = label. Custom conditions are long term, or intermediate when "
                           "the label says intermediate."),
        bk.text_input("duration", "Duration (months)", initial="36", max_length=3),
        bk.date_input("placed", "Placement date (time zero)", initial=today),
        bk.text_input("timepoints", "Time points per condition (months)", optional=True, multiline=True,
                      max_length=1000, placeholder="LT25: 0, 3, 6, 9, 12, 18, 24, 36",
                      hint="One line per condition to change its list (LT25: … or 25/60: 0, 3M, 6M); with one "
                           f"condition a bare list will do. Otherwise the ICH defaults ({defaults})."),
    ], submit="Create", private_metadata=metadata)


def results_view(program_code: str, study: str | None, metadata: str) -> dict:
    return bk.modal(f"Results {program_code}", Ids.results_view, [
        bk.section("Attach a CSV or XLSX (columns: study, condition, time point, lot, attribute, value, unit, "
                   "lower limit, upper limit), or enter one result below."),
        bk.file_input("file", "Results file", max_files=3),
        bk.text_input("study", "Study id", initial=study, optional=True, max_length=20),
        bk.text_input("condition", "Condition", optional=True, max_length=40, placeholder="LT25 or 25°C/60%RH"),
        bk.text_input("timepoint", "Time point (months)", optional=True, max_length=12, placeholder="6 or 6M"),
        bk.text_input("lot", "Lot (batch)", optional=True, max_length=40, placeholder="L-2201",
                      hint="For a study of several batches: the lot this result is for."),
        bk.text_input("attribute", "Attribute", optional=True, max_length=100, placeholder="Assay"),
        bk.text_input("value", "Value", optional=True, max_length=30),
        bk.text_input("unit", "Unit", optional=True, max_length=32, placeholder="%"),
        bk.text_input("low", "Lower specification limit", optional=True, max_length=30),
        bk.text_input("high", "Upper specification limit", optional=True, max_length=30),
    ], submit="Import", private_metadata=metadata)


def window(pull: StabilityPull) -> str:
    return f"{pull.opens_on.isoformat()} – {pull.closes_on.isoformat()}"


def pull_state(pull: StabilityPull, today: date) -> str:
    if pull.pulled_on is not None:
        flag = " :warning: out of window (deviation)" if pull.deviation else ""
        flag += " (from results)" if pull.from_results else ""
        lab = f", lab {escape(pull.lab)}" if pull.lab else ""
        results = ", results in" if pull.results_on else ""
        return f"pulled {pull.pulled_on.isoformat()}{flag}{lab}{results}"
    if pull.standby:
        return "standby (intermediate: starts on a significant change at accelerated)"
    if pull.closes_on < today:
        return ":rotating_light: missed"
    return "window open" if pull.opens_on <= today else "planned"


def schedule_blocks(study: StabilityStudy, pulls: Sequence[StabilityPull], today: date) -> tuple[str, list[dict]]:
    head = (f"*{escape(study.code)}* — {escape(study.product)} · lots {escape(study.lots or '—')} · protocol "
            f"{escape(study.protocol or '—')} · placed {day(study.placed_on)} · {study.duration_months} months")
    labels = "\n".join(f"• {c['code']}: {escape(c['label'])}" for c in study.conditions)
    rows = [(p.condition, f"{p.months} m", p.due_on.isoformat(), window(p), pull_state(p, today)) for p in pulls]
    tables = [rows[i:i + 40] for i in range(0, len(rows), 40)]
    blocks = [bk.section(head), bk.section(labels)]
    blocks += [bk.section(bk.table(chunk, ("Condition", "Time", "Pull date", "Window", "State"))) for chunk in tables]
    return head, bk.message(blocks)


def pulls_blocks(items: Sequence[Upcoming], days: int, scope: str) -> tuple[str, list[dict]]:
    if not items:
        text = f"No stability pulls are due in the next {days} days ({scope})."
        return text, bk.message([bk.section(text)])
    head = f"*Stability pulls in the next {days} days* ({scope}): {len(items)}"
    rows = [(i.program.code, i.study.code, i.pull.condition, f"{i.pull.months} m", i.pull.due_on.isoformat(),
             window(i.pull)) for i in items]
    chunks = [rows[i:i + 40] for i in range(0, len(rows), 40)]
    blocks = [bk.section(head)] + [bk.section(bk.table(c, ("Program", "Study", "Condition", "Time", "Pull date",
                                                            "Window"))) for c in chunks]
    return head, bk.message(blocks)
