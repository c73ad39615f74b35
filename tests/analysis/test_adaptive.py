"""Where an adaptive study stands from its per-seed results: the states, the next look's seeds, and the
report's sequential verdicts on the same results."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ablab.analysis.adaptive import (
    Design,
    apply_sequential,
    completed_looks,
    paired_differences,
    seeds_needed,
    study_state,
)
from ablab.analysis.sequential import Plan
from ablab.errors import ConfigError

DESIGN = Design(plan=Plan(3, 2, 7), alpha=0.05)


def _values(means: dict[str, float], seeds: dict[str, int], sd: float = 0.01, seed: int = 0) -> dict:
    """Per variant, a metric for seeds 1..n: the variant's mean plus the seed's shared baseline noise
    and its own noise."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(0, sd, 20)
    out = {}
    for name, mean in means.items():
        own = rng.normal(0, sd / 2, 20)
        out[name] = {s: mean + shared[s - 1] + own[s - 1] for s in range(1, seeds[name] + 1)}
    return out


def test_paired_differences_stop_at_the_first_seed_either_lacks() -> None:
    assert paired_differences({1: 0.5, 2: 0.6, 4: 0.9}, {1: 0.4, 2: 0.4, 3: 0.4, 4: 0.4}) == pytest.approx(
        [0.1, 0.2]
    )
    assert paired_differences({1: math.nan, 2: 0.6}, {1: 0.4, 2: 0.4}) == []
    assert paired_differences({}, {1: 0.4}) == []


def test_before_any_run_everyone_needs_the_first_look() -> None:
    states = study_state({"baseline": {}, "a": {}, "b": {}}, "baseline", DESIGN)
    assert {s.state for s in states.values()} == {"continue"}
    assert seeds_needed(states, "baseline", DESIGN) == {"a": 3, "b": 3, "baseline": 3}
    assert completed_looks(states, DESIGN) == 0


def test_a_clear_effect_is_decided_and_needs_no_more_seeds_while_a_null_one_goes_on() -> None:
    values = _values({"baseline": 0.9, "worse": 0.6, "same": 0.9}, {"baseline": 5, "worse": 5, "same": 5})
    states = study_state(values, "baseline", DESIGN)
    assert states["worse"].state == "worse" and states["worse"].look == 1 and states["worse"].seeds == 3
    assert states["same"].state == "continue" and states["same"].next_seeds == 7
    # the baseline runs the seeds of every open comparison; the decided one runs none
    assert seeds_needed(states, "baseline", DESIGN) == {"same": 7, "baseline": 7}
    assert states["worse"].why() == "decided worse at look 1 (3 seeds)"
    assert "budget" in states["same"].why("budget_runs")


def test_a_half_finished_look_replays_to_the_last_complete_one() -> None:
    # killed mid-look 2: "same" has seed 4 but not 5; the rule stands at look 1 and asks for 5 seeds
    values = _values({"baseline": 0.9, "same": 0.9}, {"baseline": 5, "same": 4})
    states = study_state(values, "baseline", DESIGN)
    assert states["same"].state == "continue" and states["same"].seeds == 3
    assert seeds_needed(states, "baseline", DESIGN) == {"same": 5, "baseline": 5}


def test_at_seeds_max_an_open_comparison_is_undecided() -> None:
    values = _values({"baseline": 0.9, "same": 0.9}, {"baseline": 7, "same": 7})
    states = study_state(values, "baseline", DESIGN)
    assert states["same"].state == "undecided" and states["same"].seeds == 7
    assert seeds_needed(states, "baseline", DESIGN) == {}
    assert completed_looks(states, DESIGN) == 3


def test_lower_is_better_metrics_flip_the_direction() -> None:
    values = _values({"baseline": 1.0, "higher_loss": 1.5}, {"baseline": 5, "higher_loss": 5})
    design = Design(plan=Plan(3, 2, 7), mode="min")
    assert study_state(values, "baseline", design)["higher_loss"].state == "worse"


def test_bad_designs_name_their_field() -> None:
    with pytest.raises(ConfigError, match=r"sweep.seeds_max='ten' is invalid"):
        Design.from_config({"seeds_initial": 3, "seeds_step": 2, "seeds_max": "ten"}, None, "max")
    with pytest.raises(ConfigError, match=r"sweep\.alpha=1\.5"):
        Design(plan=Plan(), alpha=1.5)
    with pytest.raises(ConfigError, match=r"sweep\.boundary='linear'"):
        Design(plan=Plan(), boundary="linear")
    design = Design(plan=Plan(4, 3, 10), alpha=0.01, boundary="pocock", margin=0.01, mode="min")
    assert Design.from_dict(design.to_dict()) == design


def test_the_report_takes_the_sequential_verdicts_of_the_same_results() -> None:
    values = _values({"baseline": 0.9, "worse": 0.6, "same": 0.9}, {"baseline": 7, "worse": 5, "same": 7})
    table = pd.DataFrame(
        {
            "variant": ["baseline", "worse", "same"],
            "is_baseline": [True, False, False],
            "verdict": ["baseline", "x", "y"],
        }
    )
    series = {name: pd.Series(v) for name, v in values.items()}
    apply_sequential(table, series, "baseline", {"design": DESIGN.to_dict(), "stopped": "seeds_max"})
    assert table["verdict"].tolist() == ["baseline", "worse", "undecided at n = 7"]
    assert table["sequential"].tolist() == [
        "",
        "sequential: look 1, 3 seeds",
        "sequential: seeds_max reached",
    ]
    assert table["p_sequential"].iloc[1] < 0.05 and math.isnan(table["p_sequential"].iloc[0])
