"""The stopping rule of an adaptive study (`sweep.seeds: auto`), as a pure function of the per-seed
differences: which comparisons are decided (better, worse, equivalent) and which need more seeds.

The design (docs/statistics.md has it in full, with references): looks at n = seeds_initial,
+ seeds_step, ..., seeds_max paired seeds; Lan-DeMets alpha spending over the looks
(O'Brien-Fleming-like by default, Pocock-like on request). Each look's paired t-test p-value is turned
into a sequential p-value q (the smallest level whose boundary it crosses), with boundaries calibrated
for t-tests by simulating null paths, which are pivotal (`method="calibrated"`, the default); or
q = min over looks of p_k / f_k, Bonferroni across looks with the spending shares f_k
(`method="bonferroni"`: valid without calibration, but 11-15 points less powerful). Holm's step-down
(Shaffer's, with the equivalence tests) across the comparisons then decides; q only falls from look
to look and the step-down is monotone, so the family-wise error stays at alpha across looks and
comparisons (measured by tests/analysis/test_sequential_simulation.py).

Written by hand: group-sequential libraries (R's gsDesign/rpact; nothing maintained in Python) compute
boundaries for normal statistics, which with 2 degrees of freedom at the first look would not hold
their level. Vectorised over leading axes so that the simulation test drives thousands of studies at
once through this same code.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri, stdtr

from ablab.analysis.verdicts import step_down
from ablab.errors import ConfigError

BOUNDARIES = ("obrien_fleming", "pocock")
METHODS = ("calibrated", "bonferroni")
CONTINUE, BETTER, WORSE, EQUIVALENT, UNDECIDED = "continue", "better", "worse", "equivalent", "undecided"
_CODES = {0: CONTINUE, 1: BETTER, -1: WORSE, 2: EQUIVALENT}


@dataclass(frozen=True)
class Plan:
    """The looks of an adaptive study: the seeds per comparison at each (3, 5, 7, 9, 10 by default)."""

    seeds_initial: int = 3
    seeds_step: int = 2
    seeds_max: int = 10

    def __post_init__(self) -> None:
        if not 2 <= self.seeds_initial <= self.seeds_max or self.seeds_step < 1:
            raise ConfigError(
                f"sweep.seeds_initial={self.seeds_initial}, seeds_step={self.seeds_step}, "
                f"seeds_max={self.seeds_max}: need 2 <= seeds_initial <= seeds_max and seeds_step >= 1 "
                "(e.g. 3, 2, 10)"
            )

    @property
    def looks(self) -> tuple[int, ...]:
        """Seeds per comparison at each look; the last is seeds_max."""
        looks = list(range(self.seeds_initial, self.seeds_max, self.seeds_step))
        return (*looks, self.seeds_max)


def spent(fraction: np.ndarray | float, alpha: float, boundary: str = "obrien_fleming") -> np.ndarray:
    """Alpha spent by information fraction t (Lan & DeMets 1983): O'Brien-Fleming-like
    2 - 2 Phi(z_{1-alpha/2} / sqrt(t)), or Pocock-like alpha ln(1 + (e - 1) t); alpha at t = 1."""
    t = np.asarray(fraction, dtype=float)
    if boundary == "obrien_fleming":
        with np.errstate(divide="ignore"):
            return np.where(t > 0, 2 - 2 * ndtr(ndtri(1 - alpha / 2) / np.sqrt(t)), 0.0)
    if boundary == "pocock":
        return alpha * np.log1p((math.e - 1) * t)
    raise ConfigError(f"boundary={boundary!r} is not one of {', '.join(BOUNDARIES)}")


def look_shares(plan: Plan, alpha: float, boundary: str = "obrien_fleming") -> np.ndarray:
    """The share of alpha each look spends (they sum to 1): the spending function's increments at the
    information fractions n_k / seeds_max."""
    cumulative = spent(np.array(plan.looks) / plan.seeds_max, alpha, boundary) / alpha
    cumulative[-1] = 1.0
    return np.diff(cumulative, prepend=0.0)


# Levels at which the boundaries are calibrated, and the null paths that calibrate them.
LEVELS = np.geomspace(1e-4, 1.0, 97)
PATHS = 200_000
_CALIBRATION_SEED = 20261202


def _t_p(x: np.ndarray, sided: int) -> np.ndarray:
    """Paired t-test p-values over the last axis: two-sided, or one-sided for a positive mean."""
    n = x.shape[-1]
    t = x.mean(axis=-1) / (x.std(axis=-1, ddof=1) / math.sqrt(n))
    return 2 * stdtr(n - 1, -np.abs(t)) if sided == 2 else stdtr(n - 1, -t)


@functools.lru_cache(maxsize=16)
def nominal_levels(looks: tuple[int, ...], boundary: str, sided: int) -> np.ndarray:
    """Nominal p-value thresholds c[j, k] of look k for the design at level LEVELS[j]: the first
    crossing at look k has the null probability the spending function gives that look.

    Calibrated on PATHS null paths of the t-test p-values at these looks (seeded: the same table on
    every machine): under "no difference" the path is pivotal (free of the mean and the spread), so
    the table holds for every metric. Monotone in the level at each look."""
    rng = np.random.default_rng(_CALIBRATION_SEED)
    x = rng.standard_normal((PATHS, looks[-1]))
    p = np.stack([_t_p(x[:, :n], sided) for n in looks], axis=1)
    fractions = np.array(looks) / looks[-1]
    table = np.zeros((len(LEVELS), len(looks)))
    for j, level in enumerate(LEVELS):
        cumulative = spent(fractions, level, boundary) if level < 1 else np.ones(len(looks))
        cumulative[-1] = level
        counts = np.round(np.diff(cumulative, prepend=0.0) * PATHS).astype(int)
        alive = np.ones(PATHS, bool)
        for k in range(len(looks)):
            left = p[alive, k]
            if counts[k] > 0 and len(left):
                table[j, k] = np.partition(left, min(counts[k], len(left)) - 1)[min(counts[k], len(left)) - 1]
                alive &= p[:, k] > table[j, k]
    return np.maximum.accumulate(table, axis=0)


def sequential_p(p: np.ndarray, k: int, table: np.ndarray) -> np.ndarray:
    """The smallest calibrated level at which a p-value p at look k crosses its boundary
    (log-linear between calibrated levels; LEVELS[0] below them, 1 above)."""
    thresholds = np.log(np.maximum(table[:, k], 1e-300))
    with np.errstate(divide="ignore"):
        logged = np.log(np.where(np.isnan(p), 1.0, p))
    q = np.exp(np.interp(logged, thresholds, np.log(LEVELS), left=np.log(LEVELS[0]), right=0.0))
    return np.where(np.isnan(p), np.nan, q)


@dataclass(frozen=True)
class Outcome:
    """The rule's state per comparison (arrays with the input's leading axes and m comparisons):
    `code` 1 better, -1 worse, 2 equivalent, 0 open; `look` the look index that decided it (-1 none);
    `seeds` the paired seeds it used; `p_difference`/`p_equivalence` its sequential p-values; `looks`
    how many looks the data allowed."""

    code: np.ndarray
    look: np.ndarray
    seeds: np.ndarray
    p_difference: np.ndarray
    p_equivalence: np.ndarray
    looks: np.ndarray


def _look_p(d: np.ndarray, margin: float | None) -> tuple[np.ndarray, ...]:
    """Mean, two-sided paired t-test p-value, and the two one-sided p-values of the equivalence test
    (mean <= -margin, mean >= +margin) over the last axis; NaN without spread."""
    n = d.shape[-1]
    mean, sd = d.mean(axis=-1), d.std(axis=-1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.where(sd > 0, sd / math.sqrt(n), np.nan)
        p = 2 * stdtr(n - 1, -np.abs(mean / se))
        low = up = np.full_like(p, np.nan)
        if margin:
            low, up = stdtr(n - 1, -(mean + margin) / se), stdtr(n - 1, (mean - margin) / se)
    return mean, p, low, up


class _Levels:
    """Look k's sequential p-values for the difference and the equivalence tests, by the chosen
    method: `calibrated` (exact spending boundaries for t-tests) or `bonferroni` (p_k / share_k)."""

    def __init__(self, plan: Plan, alpha: float, boundary: str, method: str) -> None:
        if method not in METHODS:
            raise ConfigError(f"method={method!r} is not one of {', '.join(METHODS)}")
        self.method, self.shares = method, look_shares(plan, alpha, boundary)
        if method == "calibrated":
            self.two = nominal_levels(plan.looks, boundary, 2)
            self.one = nominal_levels(plan.looks, boundary, 1)

    def difference(self, p: np.ndarray, k: int) -> np.ndarray:
        return p / self.shares[k] if self.method == "bonferroni" else sequential_p(p, k, self.two)

    def equivalence(self, low: np.ndarray, up: np.ndarray, k: int) -> np.ndarray:
        if self.method == "bonferroni":
            return np.maximum(low, up) / self.shares[k]
        return np.maximum(sequential_p(low, k, self.one), sequential_p(up, k, self.one))


def run_rule(
    differences: np.ndarray,
    plan: Plan,
    *,
    alpha: float = 0.05,
    boundary: str = "obrien_fleming",
    margin: float | None = None,
    method: str = "calibrated",
) -> Outcome:
    """Replay the looks over `differences` (..., m comparisons, seeds; variant - baseline oriented so
    that positive is better; NaN where a seed has not run) and decide each comparison.

    A look is taken in a study when every comparison still open has its seeds; a decided comparison
    keeps its verdict and gets no further seeds."""
    d = np.asarray(differences, dtype=float)
    lead, m = d.shape[:-2], d.shape[-2]
    levels = _Levels(plan, alpha, boundary, method)
    code, look = np.zeros((*lead, m), int), np.full((*lead, m), -1)
    seeds = np.zeros((*lead, m), int)
    q_diff, q_eq = np.ones((*lead, m)), np.full((*lead, m), 1.0 if margin else np.nan)
    going = np.ones(lead, bool)  # studies whose open comparisons all have this look's seeds
    taken = np.zeros(lead, int)
    groups = list(range(m)) * 2
    for k, n in enumerate(plan.looks):
        open_ = code == 0
        if n > d.shape[-1]:
            break
        going &= ~np.any(open_ & np.isnan(d[..., n - 1]), axis=-1)
        active = open_ & going[..., None]
        if not active.any():
            break
        mean, p, low, up = _look_p(np.where(active[..., None], d[..., :n], 0.0), margin)
        q_diff = np.where(active, np.fmin(q_diff, levels.difference(p, k)), q_diff)
        if margin:
            q_eq = np.where(active, np.fmin(q_eq, levels.equivalence(low, up, k)), q_eq)
        adjusted = step_down(np.concatenate([q_diff, q_eq], axis=-1), groups)
        beyond = np.abs(mean) > margin if margin else True
        differ = active & (adjusted[..., :m] < alpha) & beyond
        same = active & ~differ & (adjusted[..., m:] < alpha)
        code = np.where(differ, np.where(mean > 0, 1, -1), np.where(same, 2, code))
        look = np.where(differ | same, k, look)
        seeds = np.where(active, n, seeds)
        taken = np.where(going, k + 1, taken)
    return Outcome(code, look, seeds, q_diff, q_eq, taken)


@dataclass(frozen=True)
class Decision:
    """One comparison's state: better/worse/equivalent (decided, no more seeds), continue (run the
    next look's seeds), undecided (seeds_max reached)."""

    state: str
    seeds: int
    next_seeds: int | None
    p_difference: float
    p_equivalence: float


def decide(
    differences: Sequence[Sequence[float]],
    plan: Plan,
    *,
    mode: str = "max",
    alpha: float = 0.05,
    boundary: str = "obrien_fleming",
    margin: float | None = None,
    method: str = "calibrated",
) -> list[Decision]:
    """The rule on one study: per comparison, the per-seed differences variant - baseline in metric
    units, in seed order (a decided comparison's list ends where it stopped)."""
    sign = 1.0 if mode == "max" else -1.0
    width = max([plan.seeds_max, *(len(x) for x in differences)])
    d = np.full((len(differences), width), np.nan)
    for i, x in enumerate(differences):
        d[i, : len(x)] = sign * np.asarray(x, dtype=float)
    outcome = run_rule(d, plan, alpha=alpha, boundary=boundary, margin=margin, method=method)
    decisions = []
    for i in range(len(differences)):
        state = _CODES[int(outcome.code[i])]
        if state == CONTINUE and int(outcome.looks) == len(plan.looks):
            state = UNDECIDED
        taken = int(outcome.looks)
        upcoming = plan.looks[taken] if state == CONTINUE and taken < len(plan.looks) else None
        decisions.append(
            Decision(
                state=state,
                seeds=int(outcome.seeds[i]),
                next_seeds=upcoming,
                p_difference=float(outcome.p_difference[i]),
                p_equivalence=float(outcome.p_equivalence[i]),
            )
        )
    return decisions
