"""`sweep.*` of an adaptive study checked before it starts: each bad value names its field."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from ablab.errors import ConfigError
from ablab.search.adaptive import check_settings, is_adaptive

SWEEP = {
    "seeds": "auto",
    "seeds_initial": 3,
    "seeds_step": 2,
    "seeds_max": 10,
    "budget_runs": None,
    "budget_hours": None,
    "alpha": 0.05,
    "boundary": "obrien_fleming",
    "look": None,
}


def _config(**sweep: object) -> object:
    return OmegaConf.create(
        {"sweep": {**SWEEP, **sweep}, "report": {"margin": 0.005}, "metric": {"mode": "max"}}
    )


def test_the_default_design_and_its_margin() -> None:
    design, budget_runs, budget_hours = check_settings(_config(budget_runs=60))
    assert budget_runs == 60 and budget_hours is None
    assert design.plan.looks == (3, 5, 7, 9, 10) and design.margin == 0.005 and design.alpha == 0.05
    assert is_adaptive(_config()) and not is_adaptive(_config(seeds="fixed"))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("seeds", "sometimes", "sweep.seeds='sometimes' is invalid: use sweep.seeds=fixed"),
        ("budget_runs", -3, "sweep.budget_runs=-3 is invalid: must be a positive int or null"),
        ("budget_runs", 2.5, "sweep.budget_runs=2.5 is invalid"),
        ("budget_hours", "soon", "sweep.budget_hours='soon' is invalid"),
        ("alpha", 0, "sweep.alpha=0.0 is invalid"),
        ("seeds_step", 0, "need 2 <= seeds_initial <= seeds_max and seeds_step >= 1"),
        ("seeds_max", "ten", "sweep.seeds_max='ten' is invalid: must be an integer"),
    ],
)
def test_a_bad_value_names_its_field(field: str, value: object, message: str) -> None:
    config = _config(**{field: value})
    with pytest.raises(ConfigError) as caught:
        is_adaptive(config) and check_settings(config)
    assert message in str(caught.value)
