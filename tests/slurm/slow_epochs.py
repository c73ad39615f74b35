"""Test-only callback: slow a run down until it has been resumed from a checkpoint.

A SLURM job's fresh attempt then runs into its time limit (or stays running long enough to be
cancelled), while the attempt that resumes from last.ckpt finishes quickly. It sleeps, so it costs
no CPU. The SLURM tests put this folder on PYTHONPATH and add it as `+callbacks.slow`.
"""

from __future__ import annotations

import time
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer


class SlowUntilResumed(Callback):
    """Sleeps `seconds` after every training epoch of an attempt that did not resume."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.resumed = False

    def on_load_checkpoint(
        self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        self.resumed = True

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self.resumed:
            time.sleep(self.seconds)
