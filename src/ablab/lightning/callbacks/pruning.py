"""Report the monitored validation metric to the run's Optuna trial after each validation and stop
training when the study's pruner says the trial is hopeless.

Written here rather than taken from optuna-integration's PyTorchLightningPruningCallback: that one
needs a live `optuna.trial.Trial` in the training process (Optuna does not mean its constructor for
direct use), while ablab asks for trials in the launching process and each job reaches its own through
the storage; under DDP it accepts only RDB storage (not the journal file clusters use) and needs a
manual `check_pruned()` after fit; and it reads Lightning's private `_accelerator_connector`. This one
asks on rank zero only and broadcasts the answer, and stops the way early stopping does (the epoch's
checkpoints are written), so the runner records the run as `pruned` instead of failed.
"""

from __future__ import annotations

from typing import Any, Protocol

import lightning as L

from ablab.errors import ConfigError


class Trial(Protocol):
    """What the callback needs of a trial (ablab.search.trial.StoredTrial)."""

    def report(self, step: int, value: float) -> None: ...

    def should_prune(self) -> bool: ...


class TrialPruning(L.Callback):
    """After each validation epoch: report `monitor` to `trial`, stop if the pruner says so."""

    def __init__(self, trial: Trial, monitor: str) -> None:
        self.trial = trial
        self.monitor = monitor
        self.pruned_at: int | None = None
        self.value: float | None = None

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        stop = False
        if trainer.is_global_zero:
            value: Any = trainer.callback_metrics.get(self.monitor)
            if value is None:
                logged = ", ".join(sorted(k for k in trainer.callback_metrics if k.startswith("val/")))
                raise ConfigError(
                    f"hydra.sweeper.objectives: the pruner watches {self.monitor}, which this task does not "
                    f"log (it logs {logged or 'no val/ metric'}): name one of those first"
                )
            self.value = float(value)
            self.trial.report(trainer.current_epoch, self.value)
            stop = self.trial.should_prune()
        stop = bool(trainer.strategy.broadcast(stop))
        if stop:
            self.pruned_at = trainer.current_epoch
            trainer.should_stop = True
