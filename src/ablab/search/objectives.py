"""What a search optimises: record keys (`val/<metric>`, `cost/params_m`, `cost/flops`, any key the
record holds under `metrics` or `cost`) and their directions. One key is a single-objective search,
several a Pareto search. Directions are inferred unless given: the experiment's metric follows its
`metric.mode`, costs are minimised, other metrics as the report reads them (a loss is minimised)."""

from __future__ import annotations

import math
from typing import Any

from ablab.errors import ConfigError

DIRECTIONS = {"max": "maximize", "maximize": "maximize", "min": "minimize", "minimize": "minimize"}


def objectives_of(objectives: list[str] | None, metric_name: str) -> list[str]:
    """The objective keys; the experiment's validation metric by default."""
    keys = [str(k) for k in (objectives or [f"val/{metric_name}"])]
    bad = [k for k in keys if "/" not in k]
    if bad:
        raise ConfigError(
            f"hydra.sweeper.objectives: {bad[0]!r} is not a record key: use <stage>/<name> or cost/<name>, "
            f"e.g. [val/{metric_name}, cost/params_m]"
        )
    return keys


def directions_of(
    keys: list[str], directions: list[str] | None, metric_name: str, metric_mode: str
) -> list[str]:
    """`maximize`/`minimize` per objective, given or inferred."""
    if directions:
        given = [DIRECTIONS.get(str(d).lower()) for d in directions]
        if len(given) != len(keys) or None in given:
            raise ConfigError(
                f"hydra.sweeper.directions={list(directions)} must give one of max/min per objective "
                f"({len(keys)}: {', '.join(keys)}), or be null to infer them"
            )
        return [str(d) for d in given]
    from ablab.analysis.aggregate import resolve_metric

    inferred = []
    for key in keys:
        if key.startswith("cost/"):
            inferred.append("minimize")
        else:
            _, mode = resolve_metric(key, metric_name, metric_mode)
            inferred.append(DIRECTIONS[mode])
    return inferred


def values_of(result: dict[str, Any], keys: list[str]) -> tuple[list[float] | None, str | None]:
    """A finished run's objective values from its record, or None and why they are missing."""
    found = {**(result.get("cost") or {}), **(result.get("metrics") or {})}
    values = []
    for key in keys:
        value = found.get(key)
        try:
            number = float(value)
        except (TypeError, ValueError):
            recorded = ", ".join(sorted(found)) or "none"
            return None, f"the record has no {key} (it records {recorded})"
        if not math.isfinite(number):
            return None, f"{key} is {number}"
        values.append(number)
    return values, None
