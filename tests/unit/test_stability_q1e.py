"""ICH Q1E evaluation checked against a second implementation: statsmodels' OLS, its confidence intervals of
the mean and its F tests between nested models — none of the product's own helpers compute an expected value."""

import numpy as np
import pytest
import statsmodels.api as sm
from scipy.optimize import brentq
from statsmodels.stats.anova import anova_lm

from store.stability.report import extrapolation_limit
from store.stability.schedule import Condition, Kind, Storage, storage_of
from store.stability.stats import Decision, evaluate, evaluate_batches

ASSAY = [(0, 100.1), (3, 99.6), (6, 99.2), (9, 98.7), (12, 98.1), (18, 97.4)]


def _crossing(model, row_of, limit: float, alpha: float, lower: bool) -> float:
    """Where statsmodels' confidence limit of the mean (two-sided at `alpha`) meets `limit`."""
    def gap(months: float) -> float:
        low, high = model.get_prediction(np.array([row_of(months)])).conf_int(alpha=alpha)[0]
        return (low - limit) if lower else (limit - high)
    return brentq(gap, 0, 120)


def _ols(points):
    t = np.array([float(m) for m, _ in points])
    return sm.OLS(np.array([v for _, v in points]), sm.add_constant(t)).fit()


def test_one_sided_bound_towards_a_single_limit():
    model = _ols(ASSAY)
    reg = evaluate(ASSAY, 95.0, None, horizon=60)
    assert reg.side == "lower"
    # a one-sided 95 % bound is one end of a two-sided 90 % interval
    assert reg.crossing == pytest.approx(_crossing(model, lambda m: [1, m], 95.0, 0.10, lower=True), abs=0.01)


def test_two_limits_use_two_sided_95_percent_limits():
    model = _ols(ASSAY)
    reg = evaluate(ASSAY, 95.0, 105.0, horizon=60)
    assert reg.side == "two-sided" and reg.limit == 95.0
    expected = _crossing(model, lambda m: [1, m], 95.0, 0.05, lower=True)
    assert reg.crossing == pytest.approx(expected, abs=0.01)
    assert reg.crossing < evaluate(ASSAY, 95.0, None, horizon=60).crossing  # one-sided overstates shelf life
    # the upper limit is met first by a rising attribute between two limits (water 1.0–3.0 %)
    water = [(0, 1.6), (3, 1.75), (6, 1.95), (9, 2.1), (12, 2.2)]
    rising = evaluate(water, 1.0, 3.0, horizon=60)
    assert rising.limit == 3.0
    assert rising.crossing == pytest.approx(_crossing(_ols(water), lambda m: [1, m], 3.0, 0.05, lower=False),
                                            abs=0.01)


@pytest.mark.parametrize(("label", "storage"), [
    ("25 °C / 60 % RH long term", Storage.room), ("30°C/75%RH", Storage.room), ("5 °C", Storage.refrigerated),
    ("2-8°C", Storage.refrigerated), ("2–8 °C refrigerated", Storage.refrigerated), ("-20 °C", Storage.frozen),
    ("−20°C frozen", Storage.frozen), ("-70C", Storage.frozen)])
def test_storage_from_the_condition(label, storage):
    assert storage_of(Condition("CUST1", label, Kind.long_term)) is storage


@pytest.mark.parametrize(("last", "storage", "allowed"), [
    (18, Storage.room, 30), (6, Storage.room, 12), (24, Storage.room, 36),       # min(2X, X+12)
    (18, Storage.refrigerated, 24), (6, Storage.refrigerated, 9), (12, Storage.refrigerated, 18),  # min(1.5X, X+6)
    (18, Storage.frozen, 18), (36, Storage.frozen, 36),                          # none
])
def test_extrapolation_limit_by_storage(last, storage, allowed):
    assert extrapolation_limit(last, storage) == allowed


def _batches(slopes, intercepts, noise):
    months = [0, 3, 6, 9, 12, 18]
    return {f"B-{i + 1}": [(m, intercepts[i] + slopes[i] * m + noise[i][j]) for j, m in enumerate(months)]
            for i in range(len(slopes))}


NOISE = [[0.05, -0.04, 0.02, -0.03, 0.04, -0.02], [-0.03, 0.05, -0.02, 0.01, -0.04, 0.03],
         [0.02, -0.01, -0.04, 0.05, -0.02, 0.01]]


def _ancova(data):
    """statsmodels' nested-model F tests: slopes (separate vs common slope), intercepts (common vs pooled)."""
    rows = [(b, float(m), v) for b, points in data.items() for m, v in points]
    names = sorted(data)
    t = np.array([r[1] for r in rows])
    y = np.array([r[2] for r in rows])
    dummies = np.array([[1.0 if r[0] == b else 0.0 for b in names] for r in rows])
    separate = sm.OLS(y, np.column_stack([dummies, dummies * t[:, None]])).fit()
    common = sm.OLS(y, np.column_stack([dummies, t])).fit()
    pooled = sm.OLS(y, sm.add_constant(t)).fit()
    slopes_p = anova_lm(common, separate)["Pr(>F)"].iloc[1]
    intercepts_p = anova_lm(pooled, common)["Pr(>F)"].iloc[1]
    return slopes_p, intercepts_p, common, pooled


def test_poolable_batches_give_one_line():
    data = _batches([-0.15, -0.15, -0.15], [100.0, 100.0, 100.0], NOISE)
    slopes_p, intercepts_p, _, pooled = _ancova(data)
    result = evaluate_batches(data, 95.0, None, horizon=60)
    assert result.slopes_p == pytest.approx(slopes_p, rel=1e-6) and slopes_p >= 0.25
    assert result.intercepts_p == pytest.approx(intercepts_p, rel=1e-6) and intercepts_p >= 0.25
    assert result.decision is Decision.pooled and [line.label for line in result.lines] == ["pooled"]
    assert result.governing.crossing == pytest.approx(_crossing(pooled, lambda m: [1, m], 95.0, 0.10, True), abs=0.01)


def test_common_slope_different_intercepts_the_lowest_batch_governs():
    data = _batches([-0.15, -0.15, -0.15], [100.0, 101.0, 99.2], NOISE)
    slopes_p, intercepts_p, common, _ = _ancova(data)
    result = evaluate_batches(data, 95.0, None, horizon=60)
    assert slopes_p >= 0.25 and intercepts_p < 0.25
    assert result.decision is Decision.common_slope
    assert result.intercepts_p == pytest.approx(intercepts_p, rel=1e-6)
    assert result.governing.label == "B-3"  # the lowest intercept meets 95 % first
    expected = _crossing(common, lambda m: [0, 0, 1, m], 95.0, 0.10, True)
    assert result.governing.crossing == pytest.approx(expected, abs=0.01)


def test_different_slopes_each_batch_alone_the_worst_governs():
    data = _batches([-0.10, -0.15, -0.30], [100.0, 100.0, 100.0], NOISE)
    slopes_p, *_ = _ancova(data)
    result = evaluate_batches(data, 95.0, None, horizon=60)
    assert slopes_p < 0.25 and result.decision is Decision.separate
    assert result.slopes_p == pytest.approx(slopes_p, rel=1e-6) and result.intercepts_p is None
    worst = result.governing
    assert worst.label == "B-3"
    assert worst.crossing == pytest.approx(_crossing(_ols(data["B-3"]), lambda m: [1, m], 95.0, 0.10, True),
                                           abs=0.01)
    assert {line.label for line in result.lines} == {"B-1", "B-2", "B-3"}


def test_one_batch_or_too_little_data():
    assert evaluate_batches({"B-1": ASSAY}, 95.0, None, 60).decision is Decision.single
    assert evaluate_batches({"B-1": ASSAY[:2]}, 95.0, None, 60) is None
    assert evaluate_batches({"B-1": ASSAY}, None, None, 60) is None


@pytest.mark.parametrize(("storage", "allowed", "rule"), [
    (Storage.room, 30, "min(2X, X+12)"), (Storage.refrigerated, 24, "min(1.5X, X+6)"),
    (Storage.frozen, 18, "no extrapolation")])
def test_report_names_the_allowed_extrapolation_of_each_condition(storage, allowed, rule):
    from store.stability.report import Series, regression_text, supported_months

    series = Series("C1", "Assay", "%", 95.0, None, list(ASSAY), evaluate(ASSAY, 95.0, None, 60), storage)
    text = regression_text(series)
    assert "meets the limit 95 at 31.25 months" in text  # the one-sided crossing of ASSAY (tables: 31.25)
    assert (f"beyond the ICH Q1E extrapolation limit of {allowed} months for {storage} storage ({rule}): "
            f"the data support {allowed} months") in text
    assert supported_months(series) == allowed
