"""ICH Q1E evaluation of one quantitative attribute: least-squares lines, confidence bounds of the mean,
the time at which a bound meets its acceptance criterion, and the poolability of batches.

Why these rules (ICH Q1E, Appendix B):
- An attribute with a limit on one side only is known to move towards it: its one-sided 95 % bound is
  compared with that limit.
- An attribute with both limits (pH, water content, an assay of 95–105 %) has no known direction of change:
  Q1E asks for two-sided 95 % confidence limits, i.e. a 97.5 % bound on each side, and the shelf life ends
  where either bound first meets its limit. Taking the side from the slope's sign with a one-sided bound
  overstates the shelf life.
- Batches are pooled only when the data allow (Q1E B.2.2): equality of slopes is tested first and equality of
  intercepts next, each by analysis of covariance at the 0.25 significance level. Slopes that differ → each
  batch on its own and the shortest shelf life governs; common slope but different intercepts → one slope,
  each batch's own intercept, the shortest governs; both equal → one line through all data.

The linear algebra and the t and F distributions come from numpy and scipy; nothing is tabulated by hand.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
POOLING_ALPHA = 0.25
STEP = 0.01  # months: resolution of the crossing time


def t_quantile(p: float, df: int) -> float:
    """The p-quantile of Student's t with `df` degrees of freedom."""
    if df < 1 or not 0.5 < p < 1:
        raise ValueError("need df >= 1 and 0.5 < p < 1")
    return float(stats.t.ppf(p, df))


class Side(StrEnum):
    lower_limit = "lower"  # not `lower`: a member so named would hide str.lower()
    upper_limit = "upper"
    two_sided = "two-sided"


@dataclass(frozen=True)
class LinearFit:
    """An ordinary least-squares fit y = X·β, with what a confidence bound of the mean needs."""

    beta: np.ndarray
    s: float  # residual standard deviation
    df: int
    xtx_inv: np.ndarray
    rss: float

    @classmethod
    def of(cls, design: np.ndarray, values: np.ndarray) -> LinearFit:
        beta, *_ = np.linalg.lstsq(design, values, rcond=None)
        residuals = values - design @ beta
        df = design.shape[0] - design.shape[1]
        rss = float(residuals @ residuals)
        return cls(beta, (rss / df) ** 0.5, df, np.linalg.pinv(design.T @ design), rss)

    def half_width(self, row: np.ndarray, t: float) -> float:
        return t * self.s * float(row @ self.xtx_inv @ row) ** 0.5


@dataclass(frozen=True)
class Regression:
    """One line of a Q1E evaluation (a batch's, or the pooled one) and where its bound meets the limit."""

    label: str  # the batch, or "pooled"
    n: int
    intercept: float
    slope: float
    s: float  # residual standard deviation of the model the line comes from
    t: float  # the t quantile of each bound
    side: Side
    spec_low: float | None
    spec_high: float | None
    crossing: float | None  # months at which a bound meets its limit, None when not within `horizon`
    limit: float | None  # the limit met at `crossing` (or the only limit, when none is met)
    horizon: float
    _fit: LinearFit
    _row: tuple[float, ...]  # the design row of month 0 for this line; the last entry multiplies the months

    @property
    def df(self) -> int:
        """Degrees of freedom of the t quantile: those of the model the line comes from."""
        return self._fit.df

    @property
    def confidence(self) -> str:
        return "two-sided 95 %" if self.side is Side.two_sided else "one-sided 95 %"

    def fit(self, months: float) -> float:
        return self.intercept + self.slope * months

    def _design(self, months: float) -> np.ndarray:
        row = np.array(self._row, dtype=float)
        row[-1] = months
        return row

    def bound(self, months: float, side: Side | None = None) -> float:
        """The lower or upper confidence bound of the mean at `months` (the line's own side by default)."""
        side = side or (Side.lower_limit if self.side is Side.two_sided else self.side)
        half = self._fit.half_width(self._design(months), self.t)
        return self.fit(months) - half if side is Side.lower_limit else self.fit(months) + half

    def sides(self) -> tuple[Side, ...]:
        return (Side.lower_limit, Side.upper_limit) if self.side is Side.two_sided else (self.side,)


def side_of(spec_low: float | None, spec_high: float | None) -> Side | None:
    if spec_low is not None and spec_high is not None:
        return Side.two_sided
    if spec_low is not None:
        return Side.lower_limit
    return Side.upper_limit if spec_high is not None else None


def _line(label: str, fit: LinearFit, row: tuple[float, ...], n: int, side: Side, spec_low: float | None,
          spec_high: float | None, horizon: float) -> Regression:
    base = np.array(row, dtype=float)
    base[-1] = 0.0
    intercept = float(base @ fit.beta)
    slope = float(fit.beta[-1])
    p = 1 - (1 - CONFIDENCE) / 2 if side is Side.two_sided else CONFIDENCE
    limit = spec_low if side is Side.lower_limit else spec_high if side is Side.upper_limit else None
    draft = Regression(label, n, intercept, slope, fit.s, t_quantile(p, fit.df), side, spec_low, spec_high, None,
                       limit, horizon, fit, row)
    crossing, met = _crossing(draft)
    return Regression(label, n, intercept, slope, fit.s, draft.t, side, spec_low, spec_high, crossing,
                      met if met is not None else limit, horizon, fit, row)


def _crossing(reg: Regression) -> tuple[float | None, float | None]:
    """The first time from 0 on at which a bound reaches its limit, to STEP months, within the horizon."""
    def beyond(months: float) -> float | None:
        for side in reg.sides():
            value = reg.bound(months, side)
            if side is Side.lower_limit and reg.spec_low is not None and value <= reg.spec_low:
                return reg.spec_low
            if side is Side.upper_limit and reg.spec_high is not None and value >= reg.spec_high:
                return reg.spec_high
        return None

    if (met := beyond(0)) is not None:
        return 0.0, met
    for i in range(1, int(reg.horizon / STEP) + 1):
        if beyond(i * STEP) is not None:
            low, high = (i - 1) * STEP, i * STEP
            for _ in range(40):
                mid = (low + high) / 2
                low, high = (low, mid) if beyond(mid) is not None else (mid, high)
            return round(high, 2), beyond(high)
    return None, None


def _enough(points: Sequence[tuple[float, float]]) -> bool:
    return len(points) >= 3 and len({float(t) for t, _ in points}) >= 3


def evaluate(points: Sequence[tuple[float, float]], spec_low: float | None, spec_high: float | None,
             horizon: float, label: str = "pooled") -> Regression | None:
    """The regression of (months, value) pairs and where its bound meets a limit, when the data allow: at
    least three distinct time points and at least one limit."""
    side = side_of(spec_low, spec_high)
    if side is None or not _enough(points):
        return None
    times = np.array([float(t) for t, _ in points])
    design = np.column_stack([np.ones_like(times), times])
    fit = LinearFit.of(design, np.array([float(v) for _, v in points]))
    return _line(label, fit, (1.0, 0.0), len(points), side, spec_low, spec_high, horizon)


class Decision(StrEnum):
    pooled = "pooled"  # one line through every batch's data
    common_slope = "common slope"  # one slope, each batch's own intercept
    separate = "separate"  # each batch on its own
    single = "single batch"


@dataclass(frozen=True)
class Evaluation:
    """Every line of an attribute and the Q1E decision between them; `governing` sets the shelf life."""

    decision: Decision
    slopes_p: float | None
    intercepts_p: float | None
    lines: list[Regression]

    @property
    def governing(self) -> Regression:
        """The line whose bound meets its limit first (the pooled line when pooled)."""
        return min(self.lines, key=lambda r: (r.crossing is None, r.crossing or 0.0))


def _ancova_designs(batches: list[str], times: np.ndarray, labels: list[str]) -> tuple[np.ndarray, ...]:
    dummies = np.column_stack([[1.0 if label == b else 0.0 for label in labels] for b in batches])
    separate = np.column_stack([dummies, dummies * times[:, None]])
    common = np.column_stack([dummies, times])
    pooled = np.column_stack([np.ones_like(times), times])
    return separate, common, pooled


def _f_p(rss_small: float, rss_big: float, extra: int, big: LinearFit) -> float:
    """p-value of the F test that the larger model explains nothing more than the smaller one."""
    if big.rss <= 0:
        return 0.0 if rss_small > rss_big else 1.0
    f = ((rss_small - rss_big) / extra) / (big.rss / big.df)
    return float(stats.f.sf(f, extra, big.df))


def evaluate_batches(by_batch: Mapping[str, Sequence[tuple[float, float]]], spec_low: float | None,
                     spec_high: float | None, horizon: float) -> Evaluation | None:
    """Q1E evaluation of several batches: the poolability tests, then the lines the decision calls for."""
    side = side_of(spec_low, spec_high)
    usable = {b: list(points) for b, points in by_batch.items() if _enough(points)}
    if side is None or not usable:
        return None
    if len(usable) == 1:
        (label, points), = usable.items()
        line = evaluate(points, spec_low, spec_high, horizon, label=label)
        return Evaluation(Decision.single, None, None, [line] if line else [])
    batches = sorted(usable)
    labels = [b for b in batches for _ in usable[b]]
    times = np.array([float(t) for b in batches for t, _ in usable[b]])
    values = np.array([float(v) for b in batches for _, v in usable[b]])
    separate_x, common_x, pooled_x = _ancova_designs(batches, times, labels)
    separate, common, pooled = (LinearFit.of(x, values) for x in (separate_x, common_x, pooled_x))
    k = len(batches)
    slopes_p = _f_p(common.rss, separate.rss, k - 1, separate)
    if slopes_p < POOLING_ALPHA:
        lines = [evaluate(usable[b], spec_low, spec_high, horizon, label=b) for b in batches]
        return Evaluation(Decision.separate, slopes_p, None, [line for line in lines if line])
    intercepts_p = _f_p(pooled.rss, common.rss, k - 1, common)
    if intercepts_p < POOLING_ALPHA:
        common_lines = []
        for i, b in enumerate(batches):
            row = tuple(1.0 if j == i else 0.0 for j in range(k)) + (0.0,)
            common_lines.append(_line(b, common, row, len(usable[b]), side, spec_low, spec_high, horizon))
        return Evaluation(Decision.common_slope, slopes_p, intercepts_p, common_lines)
    line = _line("pooled", pooled, (1.0, 0.0), len(values), side, spec_low, spec_high, horizon)
    return Evaluation(Decision.pooled, slopes_p, intercepts_p, [line])
