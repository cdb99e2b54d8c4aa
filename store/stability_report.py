"""The data package of a stability study: an XLSX workbook (one sheet per condition, attributes by time
point) and a PDF report (the same tables, a trend chart per attribute with its specification limits, and
for long-term conditions the ICH Q1E regression with its confidence bound: one-sided 95 % towards a single
limit, two-sided 95 % between two limits, see `store.stability_stats`).

How far a shelf life may be extrapolated beyond the long-term data depends on the storage (ICH Q1E,
Appendix A): room temperature min(2X, X+12) months, refrigerated min(1.5X, X+6), frozen none — X being the
last long-term time point. A bound that meets its limit beyond that says so for its condition."""

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
from store.stability import StabilityPull, StabilityResult, StabilityStudy
from store.stability_schedule import Kind, Storage, storage_of
from store.stability_stats import Regression, Side, evaluate


@dataclass
class Series:
    condition: str
    attribute: str
    unit: str
    spec_low: float | None
    spec_high: float | None
    points: list[tuple[int, float]] = field(default_factory=list)
    regression: Regression | None = None
    storage: Storage = Storage.room

    @property
    def spec(self) -> str:
        low, high = self.spec_low, self.spec_high
        if low is not None and high is not None:
            return f"{low:g}–{high:g}"
        return f">= {low:g}" if low is not None else f"<= {high:g}" if high is not None else "—"


@dataclass
class Package:
    study: StabilityStudy
    generated_at: datetime
    series: list[Series]

    def conditions(self) -> list[str]:
        return list(dict.fromkeys(s.condition for s in self.series))

    def months(self, condition: str) -> list[int]:
        return sorted({m for s in self.series if s.condition == condition for m, _ in s.points})


RULES = {
    Storage.room: "min(2X, X+12)",
    Storage.refrigerated: "min(1.5X, X+6)",
    Storage.frozen: "no extrapolation",
}


def extrapolation_limit(last_month: float, storage: Storage = Storage.room) -> float:
    """ICH Q1E Appendix A: how far beyond the last long-term time point X a shelf life may reach."""
    if storage is Storage.frozen:
        return float(last_month)
    if storage is Storage.refrigerated:
        return min(1.5 * last_month, last_month + 6)
    return min(2 * last_month, last_month + 12)


def supported_months(series: Series) -> float | None:
    """The shelf life the data support: where the bound meets a limit, capped by the allowed extrapolation."""
    if series.regression is None:
        return None
    allowed = extrapolation_limit(max(m for m, _ in series.points), series.storage)
    crossing = series.regression.crossing
    return allowed if crossing is None else min(crossing, allowed)


def compile_package(study: StabilityStudy, results: Sequence[tuple[StabilityPull, StabilityResult]],
                    now: datetime) -> Package:
    grouped: dict[tuple[str, str], Series] = {}
    for pull, result in results:
        key = (pull.condition, result.attribute.lower())
        series = grouped.setdefault(key, Series(pull.condition, result.attribute, result.unit, result.spec_low,
                                                result.spec_high))
        series.points.append((pull.months, result.value))
        if result.spec_low is not None or result.spec_high is not None:
            series.spec_low, series.spec_high = result.spec_low, result.spec_high
    for series in grouped.values():
        series.points.sort()
        condition = study.condition(series.condition)
        if condition is not None and condition.kind is Kind.long_term:
            horizon = max(2.0 * study.duration_months, 60.0)
            series.storage = storage_of(condition)
            series.regression = evaluate(series.points, series.spec_low, series.spec_high, horizon)
    ordered = sorted(grouped.values(), key=lambda s: (s.condition, s.attribute.lower()))
    return Package(study, now, ordered)


def regression_text(series: Series) -> str:
    reg = series.regression
    if reg is None:
        return "Too few time points, or no specification limit, for an ICH Q1E regression."
    last = max(m for m, _ in series.points)
    limit = extrapolation_limit(last, series.storage)
    head = (f"n = {reg.n}, slope = {reg.slope:.4f} {series.unit}/month, intercept = {reg.intercept:.3f}, "
            f"s = {reg.s:.4f}, t({'0.975' if reg.side is Side.two_sided else '0.95'}, {reg.n - 2}) = {reg.t:.3f}. ")
    if reg.side is Side.two_sided:
        side, meet, stay = f"The two-sided 95 % confidence limits (specification {series.spec})", "meet", "stay"
    else:
        side, meet, stay = f"The {reg.side} one-sided 95 % confidence bound", "meets", "stays"
    allowed = (f"{series.storage} storage allows no extrapolation beyond the {last:g} months of data"
               if series.storage is Storage.frozen else
               f"{series.storage} storage allows extrapolation to {limit:g} months, {RULES[series.storage]}")
    if reg.crossing is None:
        return head + f"{side} {stay} within the limits for {reg.horizon:g} months; {allowed}."
    if reg.crossing <= limit:
        return head + f"{side} {meet} the limit {reg.limit:g} at {reg.crossing:.2f} months; {allowed}."
    return head + (f"{side} {meet} the limit {reg.limit:g} at {reg.crossing:.2f} months, beyond the ICH Q1E "
                   f"extrapolation limit of {limit:g} months for {series.storage} storage ({RULES[series.storage]}): "
                   f"the data support {limit:g} months.")


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
        append_row(sheet, ["Attribute", "Unit", "Lower limit", "Upper limit", *(f"{m} m" for m in months)])
        for cell in sheet[2]:
            cell.font = Font(bold=True)
        for series in (s for s in package.series if s.condition == code):
            values = dict(series.points)
            append_row(sheet, [series.attribute, series.unit, series.spec_low, series.spec_high,
                               *(values.get(m) for m in months)])
    regressions = [s for s in package.series if s.regression is not None]
    if regressions:
        sheet = book.create_sheet(sheet_title("ICH Q1E", taken))
        append_row(sheet, ["Condition", "Attribute", "n", "Slope per month", "Intercept", "Residual SD",
                           "t quantile", "Bound", "Limit met", "Months to limit", "Storage",
                           "Extrapolation limit (months)", "Supported shelf life (months)"])
        for s in regressions:
            r = s.regression
            last = max(m for m, _ in s.points)
            append_row(sheet, [s.condition, s.attribute, r.n, r.slope, r.intercept, r.s, r.t, r.confidence,
                               r.limit if r.crossing is not None else None, r.crossing, str(s.storage),
                               extrapolation_limit(last, s.storage), supported_months(s)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# ---------------------------------------------------------------- PDF

CHART_W, CHART_H = 240 * mm, 70 * mm


def chart(series: Series) -> Drawing:
    drawing = Drawing(CHART_W, CHART_H + 12 * mm)
    plot = LinePlot()
    plot.x, plot.y, plot.width, plot.height = 15 * mm, 8 * mm, CHART_W - 25 * mm, CHART_H - 5 * mm
    months = [float(m) for m, _ in series.points]
    end = max(months + [1.0])
    reg = series.regression
    if reg is not None and reg.crossing is not None:
        end = max(end, min(reg.crossing, reg.horizon))
    data = [[(float(m), float(v)) for m, v in series.points]]
    styles = [(colors.HexColor("#1f4e79"), None)]
    for limit in (series.spec_low, series.spec_high):
        if limit is not None:
            data.append([(0.0, limit), (end, limit)])
            styles.append((colors.red, (4, 2)))
    if reg is not None:
        steps = [end * i / 40 for i in range(41)]
        data.append([(t, reg.fit(t)) for t in steps])
        styles.append((colors.grey, None))
        for side in reg.sides():
            data.append([(t, reg.bound(t, side)) for t in steps])
            styles.append((colors.orange, (2, 2)))
    plot.data = data
    for i, (color, dash) in enumerate(styles):
        plot.lines[i].strokeColor = color
        plot.lines[i].strokeWidth = 1.5 if i == 0 else 1
        if dash:
            plot.lines[i].strokeDashArray = dash
    from reportlab.graphics.widgets.markers import makeMarker

    plot.lines[0].symbol = makeMarker("FilledCircle")
    plot.xValueAxis.valueMin, plot.xValueAxis.valueMax = 0, end
    plot.xValueAxis.labelTextFormat = "%g"
    plot.yValueAxis.labelTextFormat = "%g"
    drawing.add(plot)
    drawing.add(String(15 * mm, CHART_H + 6 * mm, f"{series.condition} — {series.attribute} ({series.unit}); "
                       "red: specification limits; grey: regression; orange: 95 % confidence bound(s)", fontSize=8))
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
        rows = [["Attribute", "Unit", "Specification", *(f"{m} m" for m in months)]]
        for series in (s for s in package.series if s.condition == code):
            values = dict(series.points)
            rows.append([series.attribute, series.unit, series.spec,
                         *(f"{values[m]:g}" if m in values else "" for m in months)])
        table = Table(rows, repeatRows=1)
        table.setStyle(TableStyle([
            ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde6f0")),
            ("FONTSIZE", (0, 0), (-1, -1), 8),
        ]))
        story.append(table)
        for series in (s for s in package.series if s.condition == code):
            parts = [chart(series)]
            if condition is not None and condition.kind is Kind.long_term:
                parts.append(p(f"ICH Q1E — {series.attribute}: {regression_text(series)}"))
            story.append(KeepTogether(parts))
    doc.build(story)
    return out.getvalue()
