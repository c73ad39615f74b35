"""`hydra/sweeper=optuna`: an Optuna search (ask/tell, Optuna 4/5) whose trials are ordinary ablab
runs, launched batch by batch through whichever Hydra launcher is configured (basic, joblib, SLURM,
Ray). Replaces `hydra-optuna-sweeper`, which caps Optuna below 3 and knows neither pruning nor
ablab's run records. The loop is `ablab.search.driver`; this class is only Hydra's entry to it.
"""

from __future__ import annotations

from typing import Any

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class OptunaSweeper(Sweeper):
    """Asks `n_jobs` trials at a time, launches them, tells their results, `n_trials` in all."""

    def __init__(self, **settings: Any) -> None:
        self.settings = settings
        self.config: DictConfig | None = None
        self.launcher: Any = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )

    def sweep(self, arguments: list[str]) -> None:
        from ablab.search.driver import run_search

        assert self.config is not None
        run_search(self.settings, self.config, self.launcher, list(arguments))
