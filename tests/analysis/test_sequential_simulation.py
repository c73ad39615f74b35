"""The adaptive study's stopping rule on simulated studies (no training): 2,000 studies of 8 variants
and a baseline, per-seed metrics drawn from normals with sd 1, looks at 3, 5, 7, 9 and 10 seeds.

Run with `-s` to see the figures (docs/statistics.md quotes them)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import stdtr

from ablab.analysis.sequential import Plan, run_rule
from ablab.analysis.verdicts import step_down

STUDIES, VARIANTS, ALPHA = 2000, 8, 0.05
PLAN = Plan(seeds_initial=3, seeds_step=2, seeds_max=10)
FIXED_RUNS = (VARIANTS + 1) * PLAN.seeds_max
# the Monte Carlo error of a rate near alpha over 2,000 studies
MC_ERROR = math.sqrt(ALPHA * (1 - ALPHA) / STUDIES)


def _differences(effect: float, seed: int) -> np.ndarray:
    """Per-seed variant - baseline differences: every variant shares its seed's baseline run."""
    rng = np.random.default_rng(seed)
    baseline = rng.normal(0.0, 1.0, (STUDIES, 1, PLAN.seeds_max))
    return rng.normal(effect, 1.0, (STUDIES, VARIANTS, PLAN.seeds_max)) - baseline


def _fixed(d: np.ndarray) -> np.ndarray:
    """The fixed design at the adaptive maximum: paired t-tests at seeds_max, Holm across variants."""
    n = d.shape[-1]
    t = d.mean(-1) / (d.std(-1, ddof=1) / math.sqrt(n))
    rejected = step_down(2 * stdtr(n - 1, -np.abs(t)), list(range(VARIANTS))) < ALPHA
    return np.where(rejected, np.sign(t), 0)


def _runs(outcome) -> np.ndarray:
    """Runs per study: each variant's seeds, and the baseline's (every seed any variant needed)."""
    return outcome.seeds.sum(-1) + outcome.seeds.max(-1)


def test_under_the_null_the_family_wise_error_stays_at_alpha() -> None:
    d = _differences(0.0, seed=11)
    outcome = run_rule(d, PLAN, alpha=ALPHA)
    adaptive = float((outcome.code != 0).any(-1).mean())
    fixed = float((_fixed(d) != 0).any(-1).mean())
    print(
        f"\nnull, {STUDIES} studies x {VARIANTS} variants: family-wise false-positive rate adaptive "
        f"{adaptive:.4f}, fixed {PLAN.seeds_max} seeds {fixed:.4f} (alpha {ALPHA}, Monte Carlo error "
        f"{MC_ERROR:.4f}); runs adaptive {_runs(outcome).mean():.1f}, fixed {FIXED_RUNS}"
    )
    assert adaptive <= ALPHA + 2 * MC_ERROR
    assert adaptive > ALPHA / 2  # calibrated boundaries spend their alpha; the Bonferroni bound does not


@pytest.mark.parametrize("effect", [1.0, 2.0])
def test_power_stays_near_the_fixed_design_with_fewer_runs(effect) -> None:
    d = _differences(effect, seed=int(20 + effect))
    outcome = run_rule(d, PLAN, alpha=ALPHA)
    adaptive, fixed = float((outcome.code == 1).mean()), float((_fixed(d) == 1).mean())
    bonferroni = float((run_rule(d, PLAN, alpha=ALPHA, method="bonferroni").code == 1).mean())
    runs = float(_runs(outcome).mean())
    print(
        f"\ntrue effect {effect:g} sd: power adaptive {adaptive:.3f}, fixed {PLAN.seeds_max} seeds "
        f"{fixed:.3f} (Bonferroni across looks {bonferroni:.3f}); runs per study adaptive {runs:.1f}, "
        f"fixed {FIXED_RUNS}; wrong-direction verdicts {int((outcome.code == -1).sum())}"
    )
    assert abs(adaptive - fixed) <= 0.05
    assert runs < FIXED_RUNS
    assert bonferroni < adaptive  # why the boundaries are calibrated (docs/statistics.md)
    assert not (outcome.code == -1).any()


def test_equivalence_holds_its_level_at_the_margin_and_saves_runs_inside_it() -> None:
    margin = 2.0
    at_margin = run_rule(_differences(margin, seed=31), PLAN, alpha=ALPHA, margin=margin)
    false_equivalent = float((at_margin.code == 2).any(-1).mean())
    inside = run_rule(_differences(0.0, seed=32), PLAN, alpha=ALPHA, margin=margin)
    equivalent, runs = float((inside.code == 2).mean()), float(_runs(inside).mean())
    print(
        f"\nmargin {margin:g} sd: studies with a false 'equivalent' when the true difference is the "
        f"margin {false_equivalent:.4f} (alpha {ALPHA}); no difference: {equivalent:.3f} of the "
        f"variants called equivalent, runs per study {runs:.1f} against {FIXED_RUNS}"
    )
    assert false_equivalent <= ALPHA + 2 * MC_ERROR
    assert equivalent > 0.5 and runs < FIXED_RUNS
    assert (np.abs(inside.code) == 1).any(-1).mean() <= ALPHA + 2 * MC_ERROR
