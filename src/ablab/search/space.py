"""The search space in Hydra's override grammar, as `conf/hparams_search/*.yaml` and the command line
type it, turned into Optuna distributions:

    choice(32, 64, 128)           categorical (also `a,b,c`)
    range(1, 4)                   integers 1, 2, 3 (Hydra's range excludes its end; a float step: floats)
    interval(0.1, 0.5)            uniform float; two integers: uniform integer
    tag(log, interval(1e-4, 1e-2))    log-uniform (float, or integer for two integers)
    tag(int, interval(8, 64))     uniform integer

Anything else is a fixed override, passed to every trial as typed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from ablab.errors import ConfigError

_PLAIN = re.compile(r"^[\w./:+-]+$")


@dataclass
class SearchSpace:
    """The distributions to sample and the overrides every trial shares, in the order typed."""

    distributions: dict[str, Any] = field(default_factory=dict)
    fixed: list[str] = field(default_factory=list)

    def grid(self) -> dict[str, list[Any]]:
        """Every value of every axis, for the grid sampler; only discrete axes have them."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        grid = {}
        for key, dist in self.distributions.items():
            if isinstance(dist, CategoricalDistribution):
                grid[key] = list(dist.choices)
            elif isinstance(dist, IntDistribution | FloatDistribution) and dist.step and not dist.log:
                count = math.floor((dist.high - dist.low) / dist.step + 1e-9) + 1
                grid[key] = [dist.low + i * dist.step for i in range(count)]
            else:
                raise ConfigError(
                    f"hydra.sweeper.params.{key}: the grid sampler needs choice(...) or range(...), not "
                    f"{dist.__class__.__name__}; use another sampler (hydra.sweeper.sampler=tpe) or fix the axis (task.optimizer.lr=0.001)"
                )
        return grid

    def grid_size(self) -> int:
        return math.prod(len(values) for values in self.grid().values())


def _choices(override: Any) -> list[Any]:
    from hydra.core.override_parser.types import Transformer

    values = list(override.sweep_iterator(transformer=Transformer.encode))
    for value in values:
        if not isinstance(value, str | int | float | bool | type(None)):
            raise ConfigError(
                f"{override.input_line}: a choice takes numbers, strings, true/false or null, not {value!r}"
            )
    return values


def _range(override: Any) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    sweep = override.value()
    if sweep.shuffle:
        return CategoricalDistribution(_choices(override))
    values = _choices(override)
    if not values:
        raise ConfigError(f"{override.input_line}: the range is empty")
    if all(isinstance(v, int) for v in values):
        return IntDistribution(values[0], values[-1], step=int(sweep.step))
    return FloatDistribution(float(values[0]), float(values[-1]), step=float(sweep.step))


def _interval(override: Any) -> Any:
    from optuna.distributions import FloatDistribution, IntDistribution

    sweep = override.value()
    log = "log" in sweep.tags
    low, high = sweep.start, sweep.end
    if low >= high or (log and low <= 0):
        raise ConfigError(
            f"{override.input_line}: an interval needs low < high{' and low > 0 on a log scale' if log else ''}"
        )
    if "int" in sweep.tags or (isinstance(low, int) and isinstance(high, int)):
        return IntDistribution(int(low), int(high), log=log)
    return FloatDistribution(float(low), float(high), log=log)


def distribution_of(override: Any) -> Any | None:
    """The distribution a sweep override samples from; None for a fixed value."""
    from optuna.distributions import CategoricalDistribution

    if not override.is_sweep_override():
        return None
    if override.is_choice_sweep():
        return CategoricalDistribution(_choices(override))
    if override.is_range_sweep():
        return _range(override)
    if override.is_interval_sweep():
        return _interval(override)
    raise ConfigError(
        f"{override.input_line}: a search takes choice(), range() or interval(), not this sweep"
    )


def parse_space(params: dict[str, Any] | None, arguments: list[str]) -> SearchSpace:
    """`hydra.sweeper.params` first, then the command line's overrides, which win per key."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    lines = [f"{key}={value}" for key, value in (params or {}).items()] + list(arguments)
    try:
        overrides = OverridesParser.create().parse_overrides(lines)
    except Exception as exc:
        raise ConfigError(f"the search space does not parse: {exc}") from None
    space = SearchSpace()
    fixed: dict[str, str] = {}
    for override in overrides:
        key = override.get_key_element()
        distribution = distribution_of(override)
        space.distributions.pop(key, None)
        fixed.pop(key, None)
        if distribution is None:
            fixed[key] = override.input_line
        else:
            space.distributions[key] = distribution
    if not space.distributions:
        raise ConfigError(
            "the search has nothing to search: give hydra.sweeper.params (conf/hparams_search/*.yaml) or an "
            "override such as 'model.hidden_size=choice(32,64)'"
        )
    space.fixed = list(fixed.values())
    return space


def override_value(value: Any) -> str:
    """A sampled value as an override types it: numbers and plain words as they are, null, true/false,
    other strings quoted."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    return text if _PLAIN.match(text) else "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def trial_overrides(space: SearchSpace, params: dict[str, Any]) -> list[str]:
    """One trial's job: the shared overrides, then its sampled values."""
    return [*space.fixed, *(f"{key}={override_value(value)}" for key, value in params.items())]
