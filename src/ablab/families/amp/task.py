"""Binary classification on (B,) logits: a configurable loss (`loss=bce|conservative_bce`), torchmetrics
accuracy, precision, recall, F1, MCC, ROC-AUC and average precision, and the test predictions saved
in the run folder (`predictions_test.csv`: id, label, probability) for ensembles.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    BinaryAccuracy,
    BinaryAUROC,
    BinaryAveragePrecision,
    BinaryF1Score,
    BinaryMatthewsCorrCoef,
    BinaryPrecision,
    BinaryRecall,
)

from ablab.errors import require
from ablab.families.amp.data import PeptideDataInfo
from ablab.lightning.task import StagedTask

PREDICTIONS_FILE = "predictions_test.csv"
METRIC_NAMES = ("accuracy", "precision", "recall", "f1", "mcc", "roc_auc", "ap")


def binary_metrics(threshold: float = 0.5, prefix: str = "") -> MetricCollection:
    """The family's metrics on probabilities and 0/1 targets (also used by `ablab-ensemble`)."""
    return MetricCollection(
        {
            "accuracy": BinaryAccuracy(threshold=threshold),
            "precision": BinaryPrecision(threshold=threshold),
            "recall": BinaryRecall(threshold=threshold),
            "f1": BinaryF1Score(threshold=threshold),
            "mcc": BinaryMatthewsCorrCoef(threshold=threshold),
            "roc_auc": BinaryAUROC(),
            "ap": BinaryAveragePrecision(),
        },
        prefix=prefix,
    )


class ConservativeBCELoss(nn.Module):
    """BCE + alpha * mean(relu(sigmoid(logit) - target)^3): the reference study's loss, which adds a
    cubic penalty on probability above the target (over-prediction, i.e. false positives)."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        require(alpha >= 0, "task.loss.alpha", alpha, "must be >= 0")
        self.alpha = alpha

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        penalty = torch.relu(torch.sigmoid(logits) - target).pow(3).mean()
        return F.binary_cross_entropy_with_logits(logits, target) + self.alpha * penalty


def write_predictions(path: Path, ids: list[str], labels: list[int], probabilities: list[float]) -> None:
    """CSV id,label,probability, written atomically."""
    from ablab.lightning.files import atomic_file

    with atomic_file(path, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "label", "probability"])
        writer.writerows((i, y, f"{p:.6f}") for i, y, p in zip(ids, labels, probabilities))


class BinaryTask(StagedTask):
    """Heads map a batch's embeddings and mask to logits; logs `<stage>/loss` and `<stage>/<metric>`."""

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
        threshold: float = 0.5,
    ) -> None:
        super().__init__(model, optimizer, scheduler)
        require(0.0 < threshold < 1.0, "task.threshold", threshold, "must be in (0, 1)")
        self.loss = loss
        self.threshold = threshold
        self.metrics = self.per_stage(lambda stage: binary_metrics(threshold, f"{stage}/"))
        self._test_outputs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.model(x, mask)

    def inference(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits of a batch of cached embeddings (the encoder ran once, into the cache)."""
        return self(batch["x"], batch["mask"])

    def _step(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        logits = self(batch["x"], batch["mask"])
        loss = self.loss(logits, batch["y"])
        probs = torch.sigmoid(logits.detach())
        self.stage(self.metrics, stage).update(probs, batch["y"].int())
        self.log_loss(stage, loss, len(logits))
        if stage == "test":
            self._test_outputs.append((batch["index"].cpu(), batch["y"].int().cpu(), probs.float().cpu()))
        return loss

    def epoch_values(self, stage: str) -> dict[str, torch.Tensor]:
        return {name: value.float() for name, value in self.stage(self.metrics, stage).compute().items()}

    def on_test_epoch_start(self) -> None:
        self._test_outputs = []

    def on_test_epoch_end(self) -> None:
        super().on_test_epoch_end()
        self._save_predictions()

    def _save_predictions(self) -> None:
        """`predictions_test.csv` in the run folder; ids from the data module when it has them."""
        if not self._test_outputs or not self.trainer.is_global_zero:
            return
        index, labels, probs = (torch.cat(parts) for parts in zip(*self._test_outputs))
        self._test_outputs = []
        order = index.argsort()
        index, labels, probs = index[order], labels[order], probs[order]
        info = self.data_info()
        ids = info.ids if isinstance(info, PeptideDataInfo) else None
        names = [ids[i] if ids is not None else str(i) for i in index.tolist()]
        folder = Path(self.trainer.default_root_dir)
        folder.mkdir(parents=True, exist_ok=True)
        write_predictions(folder / PREDICTIONS_FILE, names, labels.tolist(), probs.tolist())
