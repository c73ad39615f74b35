"""Faults injected into real runs through the config (`+callbacks.fault._target_=tests.helpers.faults...`):
the thing under test is how ablab handles them, not the fault itself."""

from __future__ import annotations

import os
from typing import Any

import lightning as L
import torch


class OutOfMemoryAbove(L.Callback):
    """CUDA's out-of-memory error on the first training batch larger than `batch_size` rows, as a GPU
    too small for it would raise (on CPU, to test the runner's handling)."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: Any, batch: Any, batch_idx: int) -> None:
        rows = trainer.datamodule.batch_size
        if rows > self.batch_size:
            raise torch.cuda.OutOfMemoryError(
                f"CUDA out of memory. Tried to allocate 2.00 GiB (batch of {rows} rows; injected)"
            )


class ExitOnSeed(L.Callback):
    """The process dies (no exception, no record) after the first epoch of the run whose seed is
    `die_on`: a worker killed under the launcher."""

    def __init__(self, seed: int, die_on: int) -> None:
        self.dies = int(seed) == int(die_on)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        if self.dies:
            os._exit(17)
