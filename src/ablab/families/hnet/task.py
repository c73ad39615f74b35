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
from ablab.families.hnet.data import HNetDataInfo
from ablab.families.hnet.metrics import SampleWeightedF1
from ablab.lightning.task import StagedTask


def association_metrics(threshold: float, prefix: str = "") -> MetricCollection:
    """Accuracy, precision, recall and F1 of the thresholded association matrix (the references score
    their rules with the same). validate_args=False: inputs are the task's own tensors, and the checks
    cost time every step."""
    return MetricCollection(
        {
            "accuracy": BinaryAccuracy(threshold=threshold, validate_args=False),
            "precision": BinaryPrecision(threshold=threshold, validate_args=False),
            "recall": BinaryRecall(threshold=threshold, validate_args=False),
            "f1": BinaryF1Score(threshold=threshold, validate_args=False),
        },
        prefix=prefix,
    )


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
        self.metrics = self.per_stage(lambda stage: association_metrics(threshold, f"{stage}/"))
        self.weighted_f1 = self.per_stage(lambda stage: SampleWeightedF1(threshold))
        self.register_buffer("cell_weights", torch.ones(model.max_len**2), persistent=True)

    def setup(self, stage: str) -> None:
        info = self.data_info()
        if isinstance(info, HNetDataInfo):
            self.cell_weights.copy_(info.cell_weights.flatten())

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
        self.stage(self.metrics, stage).update(probs, labels)
        self.stage(self.weighted_f1, stage).update(probs, labels, self.cell_weights.expand_as(probs))
        self.log_loss(stage, loss, dist.shape[0])
        return loss

    def epoch_values(self, stage: str) -> dict[str, torch.Tensor]:
        values = self.stage(self.metrics, stage).compute()
        values[f"{stage}/f1_weighted"] = self.stage(self.weighted_f1, stage).compute()
        return values
