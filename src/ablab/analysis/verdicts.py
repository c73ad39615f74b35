"""Verdicts instead of bare p-values: per variant against the baseline on paired seeds, the standardized
effect with its interval, the probability of improvement with its interval, and a verdict (better,
worse, equivalent within `report.margin`, or undecided at n = k with the n that would likely decide).

Written on `scipy.special` (like `ablab.analysis.stats`, to keep the report's start fast); the tests
check each figure against `scipy.stats` (`nct`, `binomtest(...).proportion_ci("wilson")`,
`ttest_1samp`). statsmodels, which has TOST and Wilson, is not a dependency of ablab. What no library
does: the step-down over a difference test and an equivalence test per comparison (`step_down`).
The exact procedure, with its references, is in docs/statistics.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import nctdtr, ndtri, stdtr

from ablab.analysis import power

NAN = float("nan")
BASELINE = "baseline"


def step_down(pvalues: np.ndarray, groups: Sequence[int]) -> np.ndarray:
    """Adjusted p-values of Shaffer's (1986) step-down for hypotheses of which at most one per group
    can be true (a comparison's "no difference" and "differs by the margin or more" are disjoint).

    Along the last axis of `pvalues` (NaN: not tested): sorted ascending, the j-th smallest is
    multiplied by t_j, the number of groups with a hypothesis outside the j - 1 smaller ones (at most
    that many nulls can still be true), and the running maximum taken. With one hypothesis per group
    t_j = m - j + 1: Holm's procedure. Leading axes are independent studies (the simulation's batch).
    """
    p = np.asarray(pvalues, dtype=float)
    group = np.broadcast_to(np.asarray(groups), p.shape)
    order = np.argsort(np.where(np.isnan(p), np.inf, p), axis=-1, kind="stable")
    sorted_p = np.take_along_axis(p, order, axis=-1)
    sorted_group = np.take_along_axis(group, order, axis=-1)
    present = ~np.isnan(sorted_p)
    n_groups = int(np.max(group)) + 1
    # the position of the last tested hypothesis of each group: where that group is used up
    positions = np.broadcast_to(np.arange(p.shape[-1]), p.shape)
    last = np.full((*p.shape[:-1], n_groups), -1)
    for g in range(n_groups):
        mine = present & (sorted_group == g)
        last[..., g] = np.where(mine, positions, -1).max(axis=-1)
    tested_groups = (last >= 0).sum(axis=-1, keepdims=True)
    completes = np.take_along_axis(last, sorted_group, axis=-1) == positions
    used_up_before = np.cumsum(completes & present, axis=-1) - (completes & present)
    multiplier = tested_groups - used_up_before
    scaled = np.where(present, np.minimum(1.0, multiplier * np.where(present, sorted_p, 0.0)), -np.inf)
    adjusted_sorted = np.maximum.accumulate(scaled, axis=-1)
    adjusted = np.empty_like(p)
    np.put_along_axis(adjusted, order, np.where(present, adjusted_sorted, NAN), axis=-1)
    return adjusted


def wilson(successes: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval of a proportion (ties counted as half a success keep it defined)."""
    if n <= 0:
        return NAN, NAN
    z = float(ndtri(0.5 + confidence / 2))
    share = successes / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def _noncentrality(t: float, df: float, tail: float) -> float:
    """The noncentrality λ at which P(T <= t) = tail for T ~ noncentral t(df, λ) (bisection: the
    cdf falls as λ grows)."""
    low, high = t - 10 - 2 * abs(t), t + 10 + 2 * abs(t)
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if nctdtr(df, middle, t) > tail else (low, middle)
    return (low + high) / 2


def effect_size(differences: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Paired standardized effect d_z = mean / sd of the per-seed differences, with its interval by
    inverting the noncentral t distribution of d_z * sqrt(n) (Steiger & Fouladi 1997)."""
    d = np.asarray(differences, dtype=float)
    n = len(d)
    if n < 2 or not d.std(ddof=1) > 0:
        return NAN, NAN, NAN
    dz = float(d.mean() / d.std(ddof=1))
    t, tail = dz * math.sqrt(n), (1 - confidence) / 2
    low = _noncentrality(t, n - 1, 1 - tail) / math.sqrt(n)
    high = _noncentrality(t, n - 1, tail) / math.sqrt(n)
    return dz, low, high


def improvement(differences: Sequence[float], mode: str, confidence: float = 0.95) -> tuple[float, ...]:
    """Share of paired seeds on which the variant beats the baseline (ties count half), with Wilson's
    interval."""
    d = np.asarray(differences, dtype=float) * (1 if mode == "max" else -1)
    if len(d) == 0:
        return NAN, NAN, NAN
    wins = float((d > 0).sum() + 0.5 * (d == 0).sum())
    return (wins / len(d), *wilson(wins, len(d), confidence))


def tost(differences: Sequence[float], margin: float) -> float:
    """p-value of the two one-sided paired t-tests of |mean difference| >= margin (Schuirmann 1987):
    the larger of the two one-sided p-values."""
    d = np.asarray(differences, dtype=float)
    n = len(d)
    if n < 2 or not margin > 0 or not d.std(ddof=1) > 0:
        return NAN
    se, df = float(d.std(ddof=1)) / math.sqrt(n), n - 1
    above = float(stdtr(df, -(d.mean() + margin) / se))  # H0: mean <= -margin
    below = float(stdtr(df, (d.mean() - margin) / se))  # H0: mean >= +margin
    return max(above, below)


def seeds_to_decide(delta: float, std: float, margin: float | None, alpha: float, paired: bool) -> float:
    """Seeds per variant that would likely (80% power) decide the comparison if the observed
    difference and spread held: the difference test against |delta| when it lies beyond the margin
    (or no margin is set), else the equivalence test (one-sided at alpha, its nearer bound) against
    margin - |delta|. NaN when no n up to 200 does."""
    if not (std > 0) or math.isnan(delta):
        return NAN
    if margin and abs(delta) < margin:
        needed = power.seeds_needed(margin - abs(delta), std, 2 * alpha, paired)
    else:
        needed = power.seeds_needed(abs(delta), std, alpha, paired) if delta else None
    return NAN if needed is None else float(needed)


def verdict_of(row: pd.Series, alpha: float, margin: float | None, mode: str) -> str:
    """better / worse / equivalent / undecided at n = k, from the adjusted p-values of one row."""
    sign = 1 if mode == "max" else -1
    interval_clear = row["delta_ci_low"] > 0 or row["delta_ci_high"] < 0
    beyond = margin is None or abs(row["delta"]) > margin
    if row["p_difference_adj"] < alpha and interval_clear and beyond:
        return "better" if sign * row["delta"] > 0 else "worse"
    if row["p_equivalence_adj"] < alpha:
        return "equivalent"
    return f"undecided at n = {int(row['n'])}"


def _paired_differences(x: pd.Series, base: pd.Series, test: str) -> np.ndarray | None:
    if test != "paired":
        return None
    return x.sort_index().to_numpy() - base.sort_index().to_numpy()


def _spread(x: pd.Series, base: pd.Series, d: np.ndarray | None) -> float:
    """The per-seed spread a further seed would show: of the differences when paired, else the two
    samples' pooled sd."""
    if d is not None:
        return float(d.std(ddof=1)) if len(d) >= 2 else NAN
    if len(x) < 2 or len(base) < 2:
        return NAN
    return math.sqrt((float(x.std(ddof=1)) ** 2 + float(base.std(ddof=1)) ** 2) / 2)


def add_verdicts(
    table: pd.DataFrame,
    values: dict[str, pd.Series],
    baseline: str,
    *,
    mode: str,
    alpha: float,
    confidence: float,
    margin: float | None,
) -> None:
    """Add to the comparison table, per variant: `effect_size` (d_z) with `effect_low`/`effect_high`,
    `p_improve` with `p_improve_low`/`p_improve_high`, `p_equivalence` (TOST within ± margin), the
    step-down adjusted `p_difference_adj`/`p_equivalence_adj`, `verdict` and `seeds_to_decide`.

    The seeds to decide are planned at alpha / m (Holm's first, strictest step), like the `mde`
    column: a comparison's later step depends on the other comparisons' p-values, which a plan for
    more seeds cannot know."""
    base = values[baseline]
    names = ("effect_size", "effect_low", "effect_high", "p_improve", "p_improve_low", "p_improve_high")
    columns: dict[str, list[float]] = {k: [] for k in (*names, "p_equivalence", "spread")}
    for row in table.itertuples():
        d = None if row.is_baseline else _paired_differences(values[row.variant], base, row.test)
        effect = effect_size(d, confidence) if d is not None else (NAN,) * 3
        share = improvement(d, mode, confidence) if d is not None else (NAN,) * 3
        for key, value in zip(columns, (*effect, *share)):
            columns[key].append(value)
        columns["p_equivalence"].append(tost(d, margin) if d is not None and margin else NAN)
        columns["spread"].append(NAN if row.is_baseline else _spread(values[row.variant], base, d))
    for key, column in columns.items():
        table[key] = column
    m = len(table)
    groups = list(range(m)) * 2
    adjusted = step_down(np.concatenate([table["p_value"].to_numpy(float), table["p_equivalence"]]), groups)
    table["p_difference_adj"], table["p_equivalence_adj"] = adjusted[:m], adjusted[m:]
    compared = max(int((~table["is_baseline"] & table["p_value"].notna()).sum()), 1)
    table["verdict"] = [
        BASELINE if r.is_baseline else verdict_of(r, alpha, margin, mode) for _, r in table.iterrows()
    ]
    needed = [
        seeds_to_decide(r.delta, r.spread, margin, alpha / compared, r.test == "paired")
        if r.verdict.startswith("undecided")
        else NAN
        for r in table.itertuples()
    ]
    # undecided now, so at least one more seed whatever the plan says the current n could do
    table["seeds_to_decide"] = [max(k, n + 1) if k == k else NAN for k, n in zip(needed, table["n"])]
    table.drop(columns="spread", inplace=True)
