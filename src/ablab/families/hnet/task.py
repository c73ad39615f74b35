"""The Hungarian network's training: three BCE terms, thresholded-association metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import BinaryAccuracy, BinaryF1Score, BinaryPrecision, BinaryRecall

from ablab.errors import require
from ablab.families.hnet.metrics import SampleWeightedF1
from ablab.lightning.task import StagedTask

STAGES = ("train", "val", "test")


def _key(stage: str) -> str:
    """ModuleDict key of a stage's metrics (`train` itself would clash with nn.Module.train)."""
    return f"{stage}_"


class HNetTask(StagedTask):
    """Loss: BCE(matrix) + BCE(row-max, row sums of A) + BCE(column-max, column sums of A), weighted."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
        loss_weights: tuple[float, float, float] = (1.0, 1.0, 1.0),
        threshold: float = 0.5,
    ) -> None:
        super().__init__(model, optimizer, scheduler)
        require(
            len(loss_weights) == 3,
            "task.loss_weights",
            list(loss_weights),
            "needs three weights: matrix, row, column",
        )
        require(0.0 < threshold < 1.0, "task.threshold", threshold, "must be in (0, 1)")
        self.loss_weights = tuple(float(w) for w in loss_weights)
        self.threshold = threshold
        # validate_args=False: inputs are this task's own tensors, and the checks cost time every step.
        self.metrics = nn.ModuleDict(
            {
                _key(stage): MetricCollection(
                    {
                        "accuracy": BinaryAccuracy(threshold=threshold, validate_args=False),
                        "precision": BinaryPrecision(threshold=threshold, validate_args=False),
                        "recall": BinaryRecall(threshold=threshold, validate_args=False),
                        "f1": BinaryF1Score(threshold=threshold, validate_args=False),
                    },
                    prefix=f"{stage}/",
                )
                for stage in STAGES
            }
        )
        self.weighted_f1 = nn.ModuleDict({_key(stage): SampleWeightedF1(threshold) for stage in STAGES})
        self.register_buffer("cell_weights", torch.ones(model.max_len**2), persistent=True)

    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        weights = getattr(datamodule, "cell_weights", None)
        if weights is not None:
            self.cell_weights.copy_(weights.flatten())

    def forward(self, dist: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.model(dist)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        dist, target = batch
        flat, row_max, col_max = self(dist)
        w_matrix, w_row, w_col = self.loss_weights
        loss = (
            w_matrix * F.binary_cross_entropy_with_logits(flat, target.flatten(1))
            + w_row * F.binary_cross_entropy_with_logits(row_max, target.sum(dim=-1))
            + w_col * F.binary_cross_entropy_with_logits(col_max, target.sum(dim=-2))
        )
        probs = torch.sigmoid(flat.detach())
        labels = target.flatten(1).int()
        self.metrics[_key(stage)].update(probs, labels)
        self.weighted_f1[_key(stage)].update(probs, labels, self.cell_weights.expand_as(probs))
        on_step = stage == "train"
        self.log(
            f"{stage}/loss", loss, on_step=on_step, on_epoch=True, prog_bar=True, batch_size=dist.shape[0]
        )
        return loss

    def _log_epoch(self, stage: str) -> None:
        # Log computed values, then reset: logging the metric objects would let Lightning reset
        # them at its own time and mix epochs.
        values = self.metrics[_key(stage)].compute()
        values[f"{stage}/f1_weighted"] = self.weighted_f1[_key(stage)].compute()
        self.log_dict(values, prog_bar=stage != "train", sync_dist=False)
        self.metrics[_key(stage)].reset()
        self.weighted_f1[_key(stage)].reset()
