"""The stopping rule on one study: which comparisons are decided, which get the next look's seeds."""

from __future__ import annotations

import numpy as np
import pytest

from ablab.analysis.sequential import (
    LEVELS,
    Plan,
    decide,
    look_shares,
    nominal_levels,
    spent,
)
from ablab.errors import ConfigError


def test_looks_of_the_default_plan_and_bad_plans() -> None:
    assert Plan().looks == (3, 5, 7, 9, 10)
    assert Plan(seeds_initial=4, seeds_step=3, seeds_max=10).looks == (4, 7, 10)
    with pytest.raises(ConfigError, match="need 2 <= seeds_initial <= seeds_max"):
        Plan(seeds_initial=1)


def test_spending_functions_spend_alpha_by_the_end() -> None:
    # O'Brien-Fleming-like: at half the information 2 - 2 Phi(1.95996 / sqrt(0.5)) = 0.005575
    assert spent(0.5, 0.05) == pytest.approx(0.005575, abs=1e-6)
    assert spent(1.0, 0.05) == pytest.approx(0.05) and spent(1.0, 0.05, "pocock") == pytest.approx(0.05)
    shares = look_shares(Plan(), 0.05)
    assert shares.sum() == pytest.approx(1.0) and np.all(np.diff(shares[:-1]) > 0)
    with pytest.raises(ConfigError, match="boundary='haybittle'"):
        spent(0.5, 0.05, "haybittle")


def test_calibrated_boundaries_are_the_fixed_test_at_a_single_look() -> None:
    # one look: the boundary of level a is the t-test's own (p <= a), up to the calibration's paths
    table = nominal_levels((10,), "obrien_fleming", 2)
    j = int(np.argmin(np.abs(LEVELS - 0.05)))
    assert table[j, 0] == pytest.approx(LEVELS[j], rel=0.03)


def test_a_clear_loss_stops_and_a_close_variant_continues() -> None:
    rng = np.random.default_rng(3)
    worse = list(-0.05 + rng.normal(0, 0.002, 5))
    close = list(0.0005 + rng.normal(0, 0.004, 5))
    decisions = decide([worse, close], Plan(), margin=0.005)
    assert decisions[0].state == "worse" and decisions[0].next_seeds is None
    assert decisions[1].state == "continue" and decisions[1].next_seeds == 7
    assert decisions[1].seeds == 5
    # lower is better: the same numbers are an improvement
    assert decide([worse, close], Plan(), mode="min", margin=0.005)[0].state == "better"


def test_replay_stops_at_the_first_look_an_open_comparison_lacks() -> None:
    rng = np.random.default_rng(4)
    decided_early = list(-0.05 + rng.normal(0, 0.001, 5))  # stopped at look 2 (5 seeds)
    still_open = list(rng.normal(0, 0.004, 7))
    decisions = decide([decided_early, still_open], Plan())
    assert decisions[0].state == "worse" and decisions[0].seeds == 5
    assert decisions[1].state == "continue" and decisions[1].next_seeds == 9


def test_undecided_at_the_last_look() -> None:
    rng = np.random.default_rng(5)
    decisions = decide([list(rng.normal(0, 0.01, 10))], Plan())
    assert decisions[0].state == "undecided" and decisions[0].seeds == 10
    assert decisions[0].next_seeds is None


def test_a_verdict_once_reached_stays_as_the_study_goes_on() -> None:
    rng = np.random.default_rng(6)
    effects = np.array([-2.0, -1.0, 0.0, 0.5, 1.0, 2.0])[:, None] * 0.01
    full = effects + rng.normal(0, 0.01, (6, 10)) - rng.normal(0, 0.01, (1, 10))
    earlier: dict[int, tuple[str, int]] = {}
    for n in Plan().looks:
        # a decided comparison's seeds end at its decision; the open ones have this look's seeds
        seeds = {i: n for i in range(6)} | {i: len_ for i, (_, len_) in earlier.items()}
        states = decide([full[i, : seeds[i]] for i in range(6)], Plan(), margin=0.005)
        for i, (state, _) in earlier.items():
            assert states[i].state == state
        earlier |= {
            i: (s.state, s.seeds)
            for i, s in enumerate(states)
            if s.state in ("better", "worse", "equivalent")
        }
    assert earlier  # some comparison was decided on the way
