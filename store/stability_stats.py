"""ICH Q1E evaluation of one quantitative attribute: least-squares line, one-sided 95 % confidence bound
of the mean, and the time at which that bound meets the acceptance criterion.

The bound at time t is ŷ(t) ∓ t(0.95, n−2) · s · √(1/n + (t − t̄)² / Sxx) (lower bound for an attribute
that falls towards a lower limit, upper bound for one that rises towards an upper limit). The Student t
quantile comes from the regularized incomplete beta function of mpmath.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import mpmath

CONFIDENCE = 0.95
STEP = 0.01  # months: resolution of the crossing time


@lru_cache(maxsize=256)
def t_quantile(p: float, df: int) -> float:
    """The p-quantile of Student's t with `df` degrees of freedom (p > 0.5)."""
    if df < 1 or not 0.5 < p < 1:
        raise ValueError("need df >= 1 and 0.5 < p < 1")

    def upper_tail(t):  # P(T > t) for t >= 0
        return mpmath.betainc(df / 2, 0.5, 0, df / (df + t * t), regularized=True) / 2

    low, high = mpmath.mpf(0), mpmath.mpf(1)
    while upper_tail(high) > 1 - p:
        high *= 2
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if upper_tail(mid) > 1 - p else (low, mid)
    return float((low + high) / 2)


@dataclass(frozen=True)
class Regression:
    n: int
    intercept: float
    slope: float
    s: float  # residual standard deviation
    t: float  # t(0.95, n−2)
    mean_time: float
    sxx: float
    side: str  # "lower" or "upper": which one-sided bound is compared with which limit
    limit: float
    crossing: float | None  # months at which the bound meets the limit, None when not within `horizon`
    horizon: float

    def fit(self, months: float) -> float:
        return self.intercept + self.slope * months

    def bound(self, months: float) -> float:
        half = self.t * self.s * math.sqrt(1 / self.n + (months - self.mean_time) ** 2 / self.sxx)
        return self.fit(months) - half if self.side == "lower" else self.fit(months) + half


def evaluate(points: Sequence[tuple[float, float]], spec_low: float | None, spec_high: float | None,
             horizon: float) -> Regression | None:
    """The regression of (months, value) pairs and where its bound meets the limit, when the data allow:
    at least three distinct time points and a limit on the side the attribute moves towards."""
    n = len(points)
    times = [float(t) for t, _ in points]
    if n < 3 or len(set(times)) < 3:
        return None
    values = [float(v) for _, v in points]
    mean_t, mean_v = sum(times) / n, sum(values) / n
    sxx = sum((t - mean_t) ** 2 for t in times)
    slope = sum((t - mean_t) * (v - mean_v) for t, v in zip(times, values, strict=True)) / sxx
    intercept = mean_v - slope * mean_t
    residuals = [v - (intercept + slope * t) for t, v in zip(times, values, strict=True)]
    s = math.sqrt(sum(r * r for r in residuals) / (n - 2))
    if spec_low is not None and (slope < 0 or spec_high is None):
        side, limit = "lower", spec_low
    elif spec_high is not None:
        side, limit = "upper", spec_high
    else:
        return None
    result = Regression(n, intercept, slope, s, t_quantile(CONFIDENCE, n - 2), mean_t, sxx, side, limit, None,
                        horizon)
    return Regression(**{**vars(result), "crossing": _crossing(result)})


def _crossing(reg: Regression) -> float | None:
    """The first time from 0 on at which the bound reaches the limit, to STEP months, within the horizon."""
    def beyond(months: float) -> bool:
        value = reg.bound(months)
        return value <= reg.limit if reg.side == "lower" else value >= reg.limit

    if beyond(0):
        return 0.0
    steps = int(reg.horizon / STEP)
    for i in range(1, steps + 1):
        if beyond(i * STEP):
            low, high = (i - 1) * STEP, i * STEP
            for _ in range(40):
                mid = (low + high) / 2
                low, high = (low, mid) if beyond(mid) else (mid, high)
            return round(high, 2)
    return None
