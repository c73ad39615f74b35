"""Statistics over seeds: t confidence intervals, Welch's and paired t-tests, Holm's correction.

Written on `scipy.special`'s Student-t functions (0.5 s to import) instead of `scipy.stats` (2 s), so the
report starts fast; the tests check every number against `scipy.stats`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import stdtr, stdtrit

NAN = float("nan")


@dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation (ddof=1), t confidence interval and n of one variant's values."""

    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class TTest:
    """A two-sided t-test: statistic, degrees of freedom, p-value; NaN where the test is undefined."""

    statistic: float
    df: float
    pvalue: float


_UNDEFINED = TTest(NAN, NAN, NAN)


def _t_quantile(df: float, confidence: float) -> float:
    return float(stdtrit(df, 0.5 + confidence / 2))


def _two_sided_p(statistic: float, df: float) -> float:
    return float(2 * stdtr(df, -abs(statistic)))


def _no_spread(spread: float, *samples: np.ndarray) -> bool:
    """True when `spread` is zero up to rounding of the samples' values (differences of floats such as
    0.8 - 0.7 vs 0.85 - 0.75 differ by 1e-16): a t statistic over it would be noise divided by noise."""
    scale = max(float(np.abs(s).max()) for s in samples)
    return spread <= 1e-12 * max(scale, 1e-300)


def summarize(values: Sequence[float], confidence: float = 0.95) -> Summary:
    """Summary of `values`; std and the CI are NaN for fewer than two values (one seed has no spread)."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 0:
        return Summary(0, NAN, NAN, NAN, NAN)
    mean = float(x.mean())
    if n < 2:
        return Summary(1, mean, NAN, NAN, NAN)
    std = float(x.std(ddof=1))
    half = _t_quantile(n - 1, confidence) * std / math.sqrt(n)
    return Summary(n, mean, std, mean - half, mean + half)


def welch(a: Sequence[float], b: Sequence[float]) -> TTest:
    """Welch's unequal-variance t-test of mean(a) - mean(b) (scipy's `ttest_ind(equal_var=False)`)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(x) < 2 or len(y) < 2:
        return _UNDEFINED
    vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    if _no_spread(math.sqrt(vx + vy), x, y):
        return _UNDEFINED
    statistic = float((x.mean() - y.mean()) / math.sqrt(vx + vy))
    df = float((vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1)))
    return TTest(statistic, df, _two_sided_p(statistic, df))


def welch_interval(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Confidence interval of mean(a) - mean(b) with Welch's standard error and degrees of freedom."""
    test = welch(a, b)
    if math.isnan(test.df):
        return NAN, NAN
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = float(x.mean() - y.mean())
    half = _t_quantile(test.df, confidence) * math.sqrt(x.var(ddof=1) / len(x) + y.var(ddof=1) / len(y))
    return diff - half, diff + half


def paired(a: Sequence[float], b: Sequence[float]) -> TTest:
    """Paired t-test of a - b, element by element (scipy's `ttest_rel`); a and b aligned by seed."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(x) != len(y):
        raise ValueError(f"paired test needs equal lengths, got {len(x)} and {len(y)}")
    d = x - y
    if len(d) < 2 or _no_spread(d.std(ddof=1), x, y):
        return _UNDEFINED
    statistic = float(d.mean() / (d.std(ddof=1) / math.sqrt(len(d))))
    df = float(len(d) - 1)
    return TTest(statistic, df, _two_sided_p(statistic, df))


def paired_interval(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Confidence interval of mean(a - b) over matched pairs (the interval of the paired t-test)."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if len(d) < 2:
        return NAN, NAN
    half = _t_quantile(len(d) - 1, confidence) * float(d.std(ddof=1)) / math.sqrt(len(d))
    return float(d.mean()) - half, float(d.mean()) + half


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order; NaN entries stay NaN and do not count.

    Sorted ascending, the i-th smallest of m p-values becomes max over j <= i of min(1, (m - j + 1) p_j).
    """
    indexed = [(p, i) for i, p in enumerate(pvalues) if not math.isnan(p)]
    indexed.sort()
    m = len(indexed)
    adjusted = [NAN] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(indexed):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted
