"""The data package of a stability study: an XLSX workbook (one sheet per condition, attributes by time
point) and a PDF report (the same tables, a trend chart per attribute with its specification limits, and
for long-term conditions the ICH Q1E regression with its confidence bound: one-sided 95 % towards a single
limit, two-sided 95 % between two limits, see `store.stability.stats`).

How far a shelf life may be extrapolated beyond the long-term data depends on the storage (ICH Q1E,
Appendix A): room temperature min(2X, X+12) months, refrigerated min(1.5X, X+6), frozen none — X being the
last long-term time point. A bound that meets its limit beyond that says so for its condition.

A study of several batches (lots) is evaluated per attribute and long-term condition over all of them: the
Q1E poolability test (`stability_stats.evaluate_batches`) decides between one pooled line, a common slope or
separate lines; the line whose bound meets its limit first (the worst batch) governs the shelf life. Results
that name no lot are one batch, as before batches were recorded."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from xml.sax.saxutils import escape as xml_escape

from openpyxl import Workbook
from openpyxl.styles import Font
from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import KeepTogether

from store.sheets import append_row, sheet_title
from store.stability.schedule import Kind, Storage, storage_of
from store.stability.service import StabilityPull, StabilityResult, StabilityStudy
from store.stability.stats import Decision, Evaluation, Regression, Side, evaluate_batches


@dataclass
class Series:
    """One attribute at one condition for one batch (lot; "" for results that name none)."""

    condition: str
    attribute: str
    unit: str
    spec_low: float | None
    spec_high: float | None
    points: list[tuple[int, float]] = field(default_factory=list)
    regression: Regression | None = None  # this batch's own line (None when the batches are pooled)
    storage: Storage = Storage.room
    batch: str = ""

    @property
    def spec(self) -> str:
        low, high = self.spec_low, self.spec_high
        if low is not None and high is not None:
            return f"{low:g}–{high:g}"
        return f">= {low:g}" if low is not None else f"<= {high:g}" if high is not None else "—"


@dataclass
class Assessment:
    """The ICH Q1E evaluation of one attribute at one long-term condition over all its batches."""

    condition: str
    attribute: str
    series: list[Series]
    evaluation: Evaluation | None

    @property
    def last_month(self) -> int:
        return max(m for s in self.series for m, _ in s.points)

    @property
    def storage(self) -> Storage:
        return self.series[0].storage

    @property
    def governing(self) -> Regression | None:
        return self.evaluation.governing if self.evaluation and self.evaluation.lines else None

    def supported(self) -> float | None:
        """The shelf life the data support: where the governing bound meets a limit, capped by extrapolation."""
        line = self.governing
        return None if line is None else _supported(line, self.last_month, self.storage)


@dataclass
class Package:
    study: StabilityStudy
    generated_at: datetime
    series: list[Series]
    assessments: list[Assessment] = field(default_factory=list)

    def conditions(self) -> list[str]:
        return list(dict.fromkeys(s.condition for s in self.series))

    def months(self, condition: str) -> list[int]:
        return sorted({m for s in self.series if s.condition == condition for m, _ in s.points})

    def attributes(self, condition: str) -> list[list[Series]]:
        """The condition's series grouped by attribute, each group one series per batch."""
        groups: dict[str, list[Series]] = {}
        for series in (s for s in self.series if s.condition == condition):
            groups.setdefault(series.attribute.lower(), []).append(series)
        return list(groups.values())

    def assessment(self, condition: str, attribute: str) -> Assessment | None:
        return next((a for a in self.assessments
                     if a.condition == condition and a.attribute.lower() == attribute.lower()), None)


RULES = {
    Storage.room: "min(2X, X+12)",
    Storage.refrigerated: "min(1.5X, X+6)",
    Storage.frozen: "no extrapolation",
}
DECISIONS = {
    Decision.pooled: "slopes and intercepts do not differ: the batches are pooled, one line through all their data",
    Decision.common_slope: "slopes do not differ but intercepts do: a common slope with each batch's own "
                           "intercept, the worst batch governs",
    Decision.separate: "slopes differ: each batch on its own line, the worst batch governs",
}


def extrapolation_limit(last_month: float, storage: Storage = Storage.room) -> float:
    """ICH Q1E Appendix A: how far beyond the last long-term time point X a shelf life may reach."""
    if storage is Storage.frozen:
        return float(last_month)
    if storage is Storage.refrigerated:
        return min(1.5 * last_month, last_month + 6)
    return min(2 * last_month, last_month + 12)


def _supported(line: Regression, last_month: float, storage: Storage) -> float:
    allowed = extrapolation_limit(last_month, storage)
    return allowed if line.crossing is None else min(line.crossing, allowed)


def supported_months(series: Series) -> float | None:
    """The shelf life one batch's data support: where the bound meets a limit, capped by the extrapolation."""
    if series.regression is None:
        return None
    return _supported(series.regression, max(m for m, _ in series.points), series.storage)


def batch_name(label: str) -> str:
    return "pooled batches" if label == "pooled" else f"batch {label}" if label else "results without a lot"


def compile_package(study: StabilityStudy, results: Sequence[tuple[StabilityPull, StabilityResult]],
                    now: datetime) -> Package:
    grouped: dict[tuple[str, str, str], Series] = {}
    for pull, result in results:
        key = (pull.condition, result.attribute.lower(), result.batch)
        series = grouped.setdefault(key, Series(pull.condition, result.attribute, result.unit, result.spec_low,
                                                result.spec_high, batch=result.batch))
        series.points.append((pull.months, result.value))
        if result.spec_low is not None or result.spec_high is not None:
            series.spec_low, series.spec_high = result.spec_low, result.spec_high
    ordered = sorted(grouped.values(), key=lambda s: (s.condition, s.attribute.lower(), s.batch))
    package = Package(study, now, ordered)
    horizon = max(2.0 * study.duration_months, 60.0)
    for code in package.conditions():
        condition = study.condition(code)
        for group in package.attributes(code):
            for series in group:
                series.points.sort()
            if condition is None or condition.kind is not Kind.long_term:
                continue
            first = group[0]
            evaluation = evaluate_batches({s.batch: s.points for s in group}, first.spec_low, first.spec_high,
                                          horizon)
            lines = {line.label: line for line in (evaluation.lines if evaluation else [])}
            for series in group:
                series.storage = storage_of(condition)
                series.regression = lines.get(series.batch)
            package.assessments.append(Assessment(code, first.attribute, group, evaluation))
    return package


def _line_text(reg: Regression, unit: str, spec: str, last: float, storage: Storage) -> str:
    limit = extrapolation_limit(last, storage)
    head = (f"n = {reg.n}, slope = {reg.slope:.4f} {unit}/month, intercept = {reg.intercept:.3f}, "
            f"s = {reg.s:.4f}, t({'0.975' if reg.side is Side.two_sided else '0.95'}, {reg.df}) = {reg.t:.3f}. ")
    if reg.side is Side.two_sided:
        side, meet, stay = f"The two-sided 95 % confidence limits (specification {spec})", "meet", "stay"
    else:
        side, meet, stay = f"The {reg.side} one-sided 95 % confidence bound", "meets", "stays"
    allowed = (f"{storage} storage allows no extrapolation beyond the {last:g} months of data"
               if storage is Storage.frozen else
               f"{storage} storage allows extrapolation to {limit:g} months, {RULES[storage]}")
    if reg.crossing is None:
        return head + f"{side} {stay} within the limits for {reg.horizon:g} months; {allowed}."
    if reg.crossing <= limit:
        return head + f"{side} {meet} the limit {reg.limit:g} at {reg.crossing:.2f} months; {allowed}."
    return head + (f"{side} {meet} the limit {reg.limit:g} at {reg.crossing:.2f} months, beyond the ICH Q1E "
                   f"extrapolation limit of {limit:g} months for {storage} storage ({RULES[storage]}): "
                   f"the data support {limit:g} months.")


NO_REGRESSION = "Too few time points, or no specification limit, for an ICH Q1E regression."


def regression_text(series: Series) -> str:
    """The Q1E text of one batch's own line."""
    if series.regression is None:
        return NO_REGRESSION
    return _line_text(series.regression, series.unit, series.spec, max(m for m, _ in series.points), series.storage)


def assessment_text(assessment: Assessment) -> list[str]:
    """The Q1E paragraphs of an attribute: the poolability decision with both p-values, each line, and the
    governing batch with the shelf life the data support."""
    evaluation, first = assessment.evaluation, assessment.series[0]
    if evaluation is None or not evaluation.lines:
        return [NO_REGRESSION]
    last, storage = assessment.last_month, assessment.storage
    lines = [(f"{batch_name(line.label).capitalize()}: " if evaluation.decision is not Decision.single or line.label
              else "") + _line_text(line, first.unit, first.spec, last, storage) for line in evaluation.lines]
    if evaluation.decision is Decision.single:
        return lines
    tests = f"equality of slopes p = {evaluation.slopes_p:.4f}"
    if evaluation.intercepts_p is not None:
        tests += f", equality of intercepts p = {evaluation.intercepts_p:.4f}"
    names = ", ".join(s.batch or "—" for s in assessment.series if len({m for m, _ in s.points}) >= 3)
    head = (f"Poolability of batches {names} (ICH Q1E, analysis of covariance at the 0.25 level): {tests} — "
            f"{DECISIONS[evaluation.decision]}.")
    governing = evaluation.governing
    where = (f"its bound meets the limit {governing.limit:g} at {governing.crossing:.2f} months"
             if governing.crossing is not None else
             f"its bound stays within the limits for {governing.horizon:g} months")
    foot = (f"Governing: {batch_name(governing.label)} — {where}; supported shelf life "
            f"{round(_supported(governing, last, storage), 2):g} months ({storage} storage, {RULES[storage]}).")
    return [head, *lines, foot]


# ---------------------------------------------------------------- XLSX


def workbook(package: Package) -> bytes:
    book = Workbook()
    info = book.active
    info.title = "Study"
    study = package.study
    for row in (("Study", study.code), ("Product", study.product), ("Lots", study.lots),
                ("Protocol", study.protocol), ("Placement date", study.placed_on),
                ("Duration (months)", study.duration_months), ("Generated (UTC)", package.generated_at.replace(
                    tzinfo=None))):
        append_row(info, row)
    taken = {"Study"}
    for code in package.conditions():
        condition = study.condition(code)
        sheet = book.create_sheet(sheet_title(code, taken))
        months = package.months(code)
        append_row(sheet, [f"{code} — {condition.label if condition else code}"])
        append_row(sheet, ["Attribute", "Lot", "Unit", "Lower limit", "Upper limit", *(f"{m} m" for m in months)])
        for cell in sheet[2]:
            cell.font = Font(bold=True)
        for series in (s for s in package.series if s.condition == code):
            values = dict(series.points)
            append_row(sheet, [series.attribute, series.batch, series.unit, series.spec_low, series.spec_high,
                               *(values.get(m) for m in months)])
    evaluated = [(a, a.evaluation) for a in package.assessments if a.evaluation and a.evaluation.lines]
    if evaluated:
        sheet = book.create_sheet(sheet_title("ICH Q1E", taken))
        append_row(sheet, ["Condition", "Attribute", "Decision", "Slopes p", "Intercepts p", "Line", "n",
                           "Slope per month", "Intercept", "Residual SD", "t quantile", "Bound", "Limit met",
                           "Months to limit", "Governing", "Storage", "Extrapolation limit (months)",
                           "Supported shelf life (months)"])
        for a, evaluation in evaluated:
            for r in evaluation.lines:
                append_row(sheet, [a.condition, a.attribute, str(evaluation.decision), evaluation.slopes_p,
                                   evaluation.intercepts_p, r.label, r.n, r.slope, r.intercept, r.s, r.t,
                                   r.confidence, r.limit if r.crossing is not None else None, r.crossing,
                                   "yes" if r is a.governing else "", str(a.storage),
                                   extrapolation_limit(a.last_month, a.storage), a.supported()])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# ---------------------------------------------------------------- PDF

CHART_W, CHART_H = 240 * mm, 70 * mm
BATCH_COLOURS = ("#1f4e79", "#2e7d32", "#6a1b9a", "#00838f", "#8d6e63", "#ad1457")


def chart(group: Sequence[Series], assessment: Assessment | None) -> Drawing:
    """One attribute at one condition: each batch's results (a colour per batch), the specification limits,
    the Q1E lines and the confidence bound(s) of the governing line."""
    from reportlab.graphics.widgets.markers import makeMarker

    drawing = Drawing(CHART_W, CHART_H + 12 * mm)
    plot = LinePlot()
    plot.x, plot.y, plot.width, plot.height = 15 * mm, 8 * mm, CHART_W - 25 * mm, CHART_H - 5 * mm
    first = group[0]
    end = max([float(m) for s in group for m, _ in s.points] + [1.0])
    governing = assessment.governing if assessment else None
    if governing is not None and governing.crossing is not None:
        end = max(end, min(governing.crossing, governing.horizon))
    colour = {s.batch: colors.HexColor(BATCH_COLOURS[i % len(BATCH_COLOURS)]) for i, s in enumerate(group)}
    data = [[(float(m), float(v)) for m, v in s.points] for s in group]
    styles: list[tuple] = [(colour[s.batch], None, True) for s in group]
    for limit in (first.spec_low, first.spec_high):
        if limit is not None:
            data.append([(0.0, limit), (end, limit)])
            styles.append((colors.red, (4, 2), False))
    steps = [end * i / 40 for i in range(41)]
    for line in (assessment.evaluation.lines if assessment and assessment.evaluation else []):
        data.append([(t, line.fit(t)) for t in steps])
        styles.append((colour.get(line.label, colors.grey), None, False))
    if governing is not None:
        for side in governing.sides():
            data.append([(t, governing.bound(t, side)) for t in steps])
            styles.append((colors.orange, (2, 2), False))
    plot.data = data
    for i, (stroke, dash, points) in enumerate(styles):
        plot.lines[i].strokeColor = stroke
        plot.lines[i].strokeWidth = 1.5 if points else 1
        if dash:
            plot.lines[i].strokeDashArray = dash
        if points:
            plot.lines[i].symbol = makeMarker("FilledCircle", fillColor=stroke)
    plot.xValueAxis.valueMin, plot.xValueAxis.valueMax = 0, end
    plot.xValueAxis.labelTextFormat = "%g"
    plot.yValueAxis.labelTextFormat = "%g"
    drawing.add(plot)
    drawing.add(String(15 * mm, CHART_H + 6 * mm, f"{first.condition} — {first.attribute} ({first.unit}); red: "
                       "specification limits; lines: regression; orange: 95 % confidence bound(s)", fontSize=8))
    x = 15 * mm
    for series in group if len(group) > 1 or group[0].batch else ():
        label = f"● lot {series.batch or '—'}"
        drawing.add(String(x, CHART_H + 2 * mm, label, fontSize=8, fillColor=colour[series.batch]))
        x += (len(label) + 3) * 4.5
    return drawing


def pdf(package: Package) -> bytes:
    out = io.BytesIO()
    styles = getSampleStyleSheet()
    study = package.study
    doc = SimpleDocTemplate(out, pagesize=landscape(A4), title=f"Stability data package {study.code}",
                            leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm, bottomMargin=15 * mm)
    p = lambda text, style="BodyText": Paragraph(xml_escape(text), styles[style])  # noqa: E731
    story = [
        p(f"Stability data package — {study.code}", "Title"),
        p(f"Product: {study.product} · Lots: {study.lots or '—'} · Protocol: {study.protocol or '—'} · "
          f"Placed {study.placed_on.isoformat()} · {study.duration_months} months · generated "
          f"{package.generated_at:%Y-%m-%d %H:%M} UTC"),
    ]
    if not package.series:
        story.append(p("No results have been recorded yet."))
    for code in package.conditions():
        condition = study.condition(code)
        months = package.months(code)
        story += [Spacer(1, 4 * mm), p(f"{code} — {condition.label if condition else code}", "Heading2")]
        rows = [["Attribute", "Lot", "Unit", "Specification", *(f"{m} m" for m in months)]]
        for series in (s for s in package.series if s.condition == code):
            values = dict(series.points)
            rows.append([series.attribute, series.batch or "—", series.unit, series.spec,
                         *(f"{values[m]:g}" if m in values else "" for m in months)])
        table = Table(rows, repeatRows=1)
        table.setStyle(TableStyle([
            ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde6f0")),
            ("FONTSIZE", (0, 0), (-1, -1), 8),
        ]))
        story.append(table)
        for group in package.attributes(code):
            assessment = package.assessment(code, group[0].attribute)
            parts: list = [chart(group, assessment)]
            if condition is not None and condition.kind is Kind.long_term:
                texts = assessment_text(assessment) if assessment else [NO_REGRESSION]
                parts += [p(f"ICH Q1E — {group[0].attribute}: {texts[0]}"), *(p(t) for t in texts[1:])]
            story.append(KeepTogether(parts))
    doc.build(story)
    return out.getvalue()
