"""Results per batch (lot) and the ICH Q1E poolability decision in the data package. Expected p-values and
crossings come from statsmodels (the nested-model F tests and confidence intervals of `test_stability_q1e`),
never from the product's own helpers."""

import io
from datetime import UTC, date, datetime

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from store.stability import results as stability_results
from store.stability import results_file as stability_import
from store.stability import service as stability
from store.stability.report import compile_package, pdf, workbook
from store.stability.schedule import ICH_BY_CODE
from tests import factories
from tests.unit.test_stability_q1e import NOISE, _ancova, _batches, _crossing, _ols

NOW = datetime(2029, 2, 10, 15, tzinfo=UTC)
LOTS = ("L-2201", "L-2202", "L-2203")


def _study(session, lots="L-2201, L-2202, L-2203"):
    program = factories.program(session, NOW)
    study = stability.create_study(
        session, program=program, actor=factories.ADMIN, now=datetime(2027, 1, 20, tzinfo=UTC), code="STB-0001",
        product="Acmezol 10 mg tablets", placed_on=date(2027, 1, 31), duration_months=24,
        conditions=[ICH_BY_CODE["LT25"]], time_points={"LT25": [0, 3, 6, 9, 12, 18]}, lots=lots)
    return program, study


def _import(session, program, data, *, lots=LOTS):
    rows = [stability_results.ResultRow(i, "STB-0001", "LT25", m, "Assay", v, "%", 95, None, batch=lot)
            for i, (lot, batch) in enumerate(zip(lots, data.values(), strict=True)) for m, v in batch]
    return stability_results.import_results(session, program=program, actor=factories.ADMIN, now=NOW, rows=rows,
                                    record_missing=True)


def test_three_lots_at_one_time_point_are_three_results(session):
    program, study = _study(session)
    report = _import(session, program, _batches([-0.15] * 3, [100.0] * 3, NOISE))
    assert len(report.accepted) == 18 and not report.rejected
    content = ("Study,Condition,Time point,Batch No,Attribute,Value,Unit,LSL\n"
               "STB-0001,LT25,3,L-2201,Assay,99.0,%,95\n"       # a different result for a lot that has one
               "STB-0001,LT25,3,l-2202,Assay,{v},%,95\n"        # the same result, the lot written in lower case
               "STB-0001,LT25,3,L-9999,Assay,99.0,%,95\n")      # not a lot of the study
    same = 100.0 - 0.15 * 3 + NOISE[1][1]
    rows, unreadable = stability_import.read("lims.csv", content.format(v=same).encode())
    again = stability_results.import_results(session, program=program, actor=factories.ADMIN, now=NOW, rows=rows,
                                     rejected=unreadable)
    assert again.already == 1 and not again.accepted
    reasons = dict(again.rejected)
    assert reasons[2] == "duplicate: Assay of lot L-2201 at LT25 3 months already has a different result"
    assert reasons[4] == "lot 'L-9999' is not a lot of STB-0001 (L-2201, L-2202, L-2203)"
    stored = {(r.batch, p.months) for p, r in stability.results_of(session, study.id)}
    assert len(stored) == 18 and ("L-2202", 3) in stored


@pytest.mark.parametrize(("slopes", "intercepts", "decision", "governing", "row"), [
    ([-0.15, -0.15, -0.15], [100.0, 100.0, 100.0], "pooled", "pooled", None),
    ([-0.15, -0.15, -0.15], [100.0, 101.0, 99.2], "common slope", "L-2203", lambda m: [0, 0, 1, m]),
    ([-0.10, -0.15, -0.30], [100.0, 100.0, 100.0], "separate", "L-2203", None),
])
def test_the_data_package_shows_the_poolability_decision(session, slopes, intercepts, decision, governing, row):
    program, study = _study(session)
    data = _batches(slopes, intercepts, NOISE)
    _import(session, program, data)
    slopes_p, intercepts_p, common, pooled = _ancova(data)
    if decision == "pooled":
        expected = _crossing(pooled, lambda m: [1, m], 95.0, 0.10, True)
    elif decision == "common slope":
        expected = _crossing(common, row, 95.0, 0.10, True)
    else:  # separate lines: B-3's own regression
        expected = _crossing(_ols(data["B-3"]), lambda m: [1, m], 95.0, 0.10, True)
    package = compile_package(study, stability.results_of(session, study.id), NOW)

    book = load_workbook(io.BytesIO(workbook(package)))
    lt = [[c.value for c in r] for r in book["LT25"].iter_rows(min_row=3)]
    assert [r[1] for r in lt] == list(LOTS)  # one row per lot
    rows = [[c.value for c in r] for r in book["ICH Q1E"].iter_rows(min_row=2)]
    assert {r[2] for r in rows} == {decision}
    assert rows[0][3] == pytest.approx(slopes_p, rel=1e-6)
    if decision == "separate":
        assert rows[0][4] is None
    else:
        assert rows[0][4] == pytest.approx(intercepts_p, rel=1e-6)
    lines = {r[5]: r for r in rows}
    assert set(lines) == ({"pooled"} if decision == "pooled" else set(LOTS))
    [governs] = [r for r in rows if r[14] == "yes"]
    assert governs[5] == governing
    assert governs[13] == pytest.approx(expected, abs=0.01)
    # 18 months of long-term data at room temperature: min(2·18, 18+12) = 30 months may be claimed
    supported = min(expected, 30)
    assert all(r[17] == pytest.approx(supported, abs=0.01) for r in rows)

    text = " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf(package))).pages)
    assert "Poolability of batches L-2201, L-2202, L-2203" in text
    assert f"equality of slopes p = {slopes_p:.4f}" in text
    assert (f"equality of intercepts p = {intercepts_p:.4f}" in text) is (decision != "separate")
    name = "pooled batches" if governing == "pooled" else f"batch {governing}"
    assert f"Governing: {name} — its bound meets the limit 95 at {governs[13]:.2f} months" in text
    assert f"supported shelf life {round(governs[17], 2):g} months (room temperature storage" in text
    for lot in LOTS:
        assert f"lot {lot}" in text  # the chart's legend: one series per batch


def test_a_study_of_one_batch_is_evaluated_as_before(session):
    program, study = _study(session, lots="L-2201")
    data = _batches([-0.15], [100.0], NOISE)
    _import(session, program, data, lots=("",))  # results that name no lot
    package = compile_package(study, stability.results_of(session, study.id), NOW)
    [assessment] = package.assessments
    assert assessment.evaluation.decision == "single batch" and assessment.evaluation.slopes_p is None
    text = " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf(package))).pages)
    assert "Poolability" not in text and "one-sided 95 % confidence bound meets the limit 95" in text
