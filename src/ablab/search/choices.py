"""Samplers and pruners by name (`hydra.sweeper.sampler=gp`, `hydra.sweeper.pruner=median`), or any
Optuna one as a `{_target_: ...}` config. Plain fields rather than Hydra config groups: a leftover
hydra-optuna-sweeper registers schemas under `hydra/sweeper/sampler/*` that reject other fields."""

from __future__ import annotations

from typing import Any

from ablab.errors import ConfigError

SAMPLERS = {
    "tpe": "optuna.samplers.TPESampler",
    "gp": "optuna.samplers.GPSampler",
    "random": "optuna.samplers.RandomSampler",
    "grid": "optuna.samplers.GridSampler",
}
# Samplers that model the results after `n_startup_trials` random ones.
_MODELLING = ("tpe", "gp")
PRUNERS = {
    "median": "optuna.pruners.MedianPruner",
    "successive_halving": "optuna.pruners.SuccessiveHalvingPruner",
    "hyperband": "optuna.pruners.HyperbandPruner",
}


def _named(kind: str, value: Any, names: dict[str, str]) -> dict[str, Any]:
    if isinstance(value, dict):
        if "_target_" not in value:
            raise ConfigError(
                f"hydra.sweeper.{kind}: a config needs _target_ (e.g. {next(iter(names.values()))})"
            )
        return dict(value)
    if str(value) not in names:
        raise ConfigError(
            f"hydra.sweeper.{kind}={value!r} is unknown: use one of {', '.join(names)} or {{_target_: ...}}"
        )
    return {"_target_": names[str(value)]}


def sampler_config(value: Any, seed: int | None, n_startup_trials: int | None) -> dict[str, Any]:
    """The sampler's config: the named one with the seed and start-up trials, or the given one (which
    gets the seed unless it sets its own)."""
    config = _named("sampler", value or "tpe", SAMPLERS)
    if seed is not None:
        config.setdefault("seed", seed)
    if not isinstance(value, dict) and value in _MODELLING and n_startup_trials is not None:
        config["n_startup_trials"] = n_startup_trials
    return config


def is_grid(config: dict[str, Any]) -> bool:
    return str(config.get("_target_", "")).endswith("GridSampler")


def pruner_config(value: Any) -> dict[str, Any] | None:
    """The pruner's config; None for no pruning."""
    if value in (None, "", "none", "null") or value == {}:
        return None
    return _named("pruner", value, PRUNERS)
