"""A job's own trial, reached through the storage from whatever process or node runs the job.

The sweeper asks for trials in the launching process and hands each job its trial's number as
`hydra.sweeper.trial`; the job reads the storage, the study name and the pruner from the same sweeper
config. It reports its validation metric each epoch and asks the study's pruner whether to go on,
with Optuna's public storage and pruner API only (no live `optuna.trial.Trial` crosses processes).
"""

from __future__ import annotations

import math
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ablab.search.storage import open_storage, storage_spec

SWEEPER_TARGET = "hydra_plugins.ablab_sweepers.optuna.OptunaSweeper"


class StoredTrial:
    """Trial `number` of study `study_name` in `storage`; opened lazily, so it pickles (ddp_spawn)."""

    def __init__(self, storage: str, study_name: str, number: int, pruner: dict[str, Any] | None) -> None:
        self.storage = storage
        self.study_name = study_name
        self.number = number
        self.pruner = pruner
        self._opened: tuple[Any, Any, int] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_opened": None}

    def _open(self) -> tuple[Any, Any, int]:
        if self._opened is None:
            import optuna
            from hydra.utils import instantiate

            storage = open_storage(self.storage)
            pruner = instantiate(self.pruner) if self.pruner else optuna.pruners.NopPruner()
            study = optuna.load_study(study_name=self.study_name, storage=storage, pruner=pruner)
            study_id = storage.get_study_id_from_name(self.study_name)
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, self.number)
            self._opened = (storage, study, trial_id)
        return self._opened

    def report(self, step: int, value: float) -> None:
        """The metric after epoch `step`; an epoch reported before (a resumed run) keeps its value."""
        storage, _, trial_id = self._open()
        if math.isfinite(value) and step not in storage.get_trial(trial_id).intermediate_values:
            storage.set_trial_intermediate_value(trial_id, step, value)

    def should_prune(self) -> bool:
        """What the study's pruner says of this trial now."""
        storage, study, trial_id = self._open()
        return bool(study.pruner.prune(study, storage.get_trial(trial_id)))


def _plain(value: Any) -> Any:
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def _sweeper_node() -> DictConfig | None:
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    sweeper = HydraConfig.get().sweeper
    if sweeper.get("_target_") != SWEEPER_TARGET or sweeper.get("trial") is None:
        return None
    return sweeper


def current_trial() -> StoredTrial | None:
    """This job's trial, when an ablab Optuna search launched it."""
    sweeper = _sweeper_node()
    if sweeper is None:
        return None
    from hydra.core.hydra_config import HydraConfig

    from ablab.search.choices import pruner_config

    return StoredTrial(
        storage=storage_spec(sweeper.get("storage"), HydraConfig.get().sweep.dir),
        study_name=str(sweeper.study_name),
        number=int(sweeper.trial),
        pruner=pruner_config(_plain(sweeper.get("pruner"))),
    )


def trial_note() -> dict[str, Any] | None:
    """What a record says of its trial: the study and the trial number."""
    sweeper = _sweeper_node()
    return None if sweeper is None else {"study": str(sweeper.study_name), "number": int(sweeper.trial)}


def pruning_callback(cfg: DictConfig) -> Any | None:
    """The callback that reports to this job's trial and stops it when pruned; None outside a search
    or without a pruner."""
    from ablab.search.choices import pruner_config

    sweeper = _sweeper_node()
    if sweeper is None or pruner_config(_plain(sweeper.get("pruner"))) is None:
        return None
    trial = current_trial()
    from ablab.lightning.callbacks.pruning import TrialPruning
    from ablab.search.objectives import objectives_of

    objectives = sweeper.get("objectives")
    monitor = objectives_of(list(objectives) if objectives else None, cfg.metric.name)[0]
    return TrialPruning(trial, monitor)
