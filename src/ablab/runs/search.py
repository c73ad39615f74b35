"""Hyperparameter search helpers for Hydra's Optuna sweeper (`hparams_search=<family>_optuna`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from optuna import Study
from optuna.distributions import BaseDistribution
from optuna.samplers import RandomSampler, TPESampler
from optuna.trial import FrozenTrial


class ResumableTPESampler(TPESampler):
    """TPE whose random numbers go on where a resumed study left off.

    A seeded sampler restarts its random stream in every process, so a study continued from its
    storage would propose again the trials it already ran. This one seeds itself with
    `seed + <trials already in the study>` at its first trial: a new study samples exactly like
    `TPESampler(seed)`, a continued one samples new points, and both are reproducible.
    """

    def __init__(self, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self._base_seed = seed
        self._offset_applied = False

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        """Called first for every trial: reseed once, from the number of the first trial we sample."""
        if not self._offset_applied:
            self._offset_applied = True
            if self._base_seed is not None and trial.number:
                seed = self._base_seed + trial.number
                # optuna 2.10's TPESampler keeps its random state in these two attributes.
                self._rng = np.random.RandomState(seed)
                self._random_sampler = RandomSampler(seed=seed)
        return super().infer_relative_search_space(study, trial)
