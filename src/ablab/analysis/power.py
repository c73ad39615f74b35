"""What a study could have found: the smallest difference its t-test detects with 80% power at the
significance level Holm's correction demands of the first comparison (alpha / m), from the spread the
seeds showed; and how many seeds a given difference needs.

The power of a two-sided t-test with standard error `se` and `df` degrees of freedom against a true
difference d is P(|T| > t_crit) for T ~ noncentral t(df, d / se) (scipy.special's `nctdtr`, without
scipy.stats' import cost); d is found by bisection.
"""

from __future__ import annotations

import math

from scipy.special import nctdtr, stdtrit

POWER = 0.8


def power(delta: float, se: float, df: float, alpha: float) -> float:
    """Probability that a two-sided t-test at `alpha` rejects when the true difference is `delta`."""
    if not (se > 0 and df > 0):
        return math.nan
    crit = float(stdtrit(df, 1 - alpha / 2))
    nc = abs(delta) / se
    return float(1 - nctdtr(df, nc, crit) + nctdtr(df, nc, -crit))


def detectable(se: float, df: float, alpha: float, target: float = POWER) -> float:
    """The smallest difference detected with probability `target`."""
    if not (se > 0 and df > 0) or math.isnan(se):
        return math.nan
    low, high = 0.0, 1.0
    while power(high * se, se, df, alpha) < target:
        high *= 2
        if high > 1e6:
            return math.inf
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if power(middle * se, se, df, alpha) < target else (low, middle)
    return high * se


def paired_se(std_diff: float, n: int) -> tuple[float, float]:
    """Standard error and degrees of freedom of a paired test over n seeds."""
    return std_diff / math.sqrt(n), float(n - 1)


def welch_se(std_a: float, n_a: int, std_b: float, n_b: int) -> tuple[float, float]:
    """Standard error and Welch-Satterthwaite degrees of freedom of two independent samples."""
    va, vb = std_a**2 / n_a, std_b**2 / n_b
    if va + vb <= 0:
        return 0.0, math.nan
    return math.sqrt(va + vb), (va + vb) ** 2 / (va**2 / (n_a - 1) + vb**2 / (n_b - 1))


def seeds_needed(delta: float, std: float, alpha: float, paired: bool, most: int = 200) -> int | None:
    """Seeds per variant at which `delta` is detected with 80% power, for a per-seed spread `std` (of
    the differences when paired); None beyond `most`."""
    for n in range(2, most + 1):
        se, df = paired_se(std, n) if paired else welch_se(std, n, std, n)
        if power(delta, se, df, alpha) >= POWER:
            return n
    return None
