"""Multi-class classification for any family: cross-entropy, accuracy, macro F1, per-class precision
and recall, and at test end a confusion matrix and classification report in the run folder.

The task also holds the input scaler (`scaler`, fitted by a tabular data module on its training split)
as buffers, so a checkpoint maps raw features to predictions by itself (`predict_csv`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)

from ablab.errors import require
from ablab.families.hybrid.data import TabularDataInfo
from ablab.lightning.task import StagedTask

CHECKPOINT_KEY = "classification"


def metric_suffix(name: str) -> str:
    """A class name as it appears in metric keys: `test/precision_<suffix>`."""
    return re.sub(r"[^0-9A-Za-z_]+", "_", name).strip("_") or "class"


class Standardize(nn.Module):
    """(x - mean) / std with mean and std as buffers; the identity until `fit` is called. Loading a
    state dict resizes the buffers, so a fresh task loads any checkpoint's scaler."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(0))
        self.register_buffer("std", torch.ones(0))

    def fit(self, mean: np.ndarray | torch.Tensor, std: np.ndarray | torch.Tensor) -> None:
        self.mean = torch.as_tensor(mean, dtype=torch.float32, device=self.mean.device).clone()
        self.std = torch.as_tensor(std, dtype=torch.float32, device=self.std.device).clone()

    def _load_from_state_dict(
        self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any
    ) -> None:
        for name in ("mean", "std"):
            if prefix + name in state_dict:
                setattr(
                    self, name, torch.empty_like(state_dict[prefix + name], device=getattr(self, name).device)
                )
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std if self.mean.numel() else x


def step_lr(
    optimizer: torch.optim.Optimizer, max_epochs: int, steps: int = 3, gamma: float = 0.1
) -> torch.optim.lr_scheduler.StepLR:
    """StepLR that multiplies the learning rate by `gamma` every `max_epochs // steps` epochs (the
    reference recipe: a third of the epochs, gamma 0.1), so the schedule follows trainer.max_epochs."""
    require(steps >= 1, "task.scheduler.steps", steps, "must be >= 1")
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, max_epochs // steps), gamma=gamma)


class ClassificationTask(StagedTask):
    """Cross-entropy on (B, K) logits; logs `<stage>/loss`, `accuracy`, `f1_macro`, and per class
    `precision_<class>`, `recall_<class>` (val and test)."""

    metrics_in_progress_bar = False

    def __init__(
        self,
        model: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        num_classes: int,
        scheduler: Callable[..., Any] | None = None,
        class_names: list[str] | None = None,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(model, optimizer, scheduler)
        require(num_classes >= 2, "task.num_classes", num_classes, "must be >= 2")
        require(0.0 <= label_smoothing < 1.0, "task.label_smoothing", label_smoothing, "must be in [0, 1)")
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing
        self.class_names = self._names(class_names)
        self.feature_names: list[str] | None = None
        self.scaler = Standardize()
        self.metrics = self.per_stage(
            lambda stage: MetricCollection(
                {
                    "accuracy": MulticlassAccuracy(num_classes, average="micro"),
                    "f1_macro": MulticlassF1Score(num_classes, average="macro"),
                    "precision": MulticlassPrecision(num_classes, average=None),
                    "recall": MulticlassRecall(num_classes, average=None),
                }
            )
        )
        self.confusion = MulticlassConfusionMatrix(num_classes)

    def _names(self, names: list[str] | None) -> list[str]:
        if names is None:
            return [str(i) for i in range(self.num_classes)]
        require(
            len(names) == self.num_classes,
            "task.class_names",
            list(names),
            f"needs one name per class ({self.num_classes})",
        )
        return [str(n) for n in names]

    def setup(self, stage: str) -> None:
        """Take the scaler and the names from tabular data (any other data keeps the defaults)."""
        info = self.data_info()
        if isinstance(info, TabularDataInfo):
            self.scaler.fit(info.feature_mean, info.feature_std)
            self.class_names = self._names(info.class_names)
            self.feature_names = info.feature_names

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[CHECKPOINT_KEY] = {"class_names": self.class_names, "feature_names": self.feature_names}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        stored = checkpoint.get(CHECKPOINT_KEY, {})
        if stored.get("class_names"):
            self.class_names = self._names(stored["class_names"])
        self.feature_names = stored.get("feature_names") or self.feature_names

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw features -> (B, K) logits."""
        return self.model(self.scaler(x))

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Raw features -> (B, K) class probabilities, in eval mode."""
        return torch.softmax(self(x), dim=-1)

    def predict_csv(self, csv_path: str | Path, config: Any) -> Any:
        """Class and probabilities for each row of a CSV (ablab.families.hybrid.predict)."""
        from ablab.families.hybrid.predict import predict_frame

        return predict_frame(self, csv_path, (config.get("data") or {}).get("label_column"))

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        preds = logits.detach().argmax(dim=-1)
        self.stage(self.metrics, stage).update(preds, y)
        if stage == "test":
            self.confusion.update(preds, y)
        self.log_loss(stage, loss, x.shape[0])
        return loss

    def epoch_values(self, stage: str) -> dict[str, torch.Tensor]:
        values = self.stage(self.metrics, stage).compute()
        logged = {f"{stage}/accuracy": values["accuracy"], f"{stage}/f1_macro": values["f1_macro"]}
        if stage != "train":
            for name, per_class in (("precision", values["precision"]), ("recall", values["recall"])):
                for class_name, value in zip(self.class_names, per_class):
                    logged[f"{stage}/{name}_{metric_suffix(class_name)}"] = value
        return logged

    def on_test_epoch_start(self) -> None:
        self.confusion.reset()

    def on_test_epoch_end(self) -> None:
        super().on_test_epoch_end()
        matrix = self.confusion.compute().cpu().numpy()
        self.confusion.reset()
        if self.trainer.is_global_zero:
            from ablab.families.hybrid.explain.figures import log_images

            paths = write_test_report(matrix, self.class_names, Path(self.trainer.default_root_dir))
            log_images(self.loggers, {"test/confusion_matrix": paths["confusion_matrix_png"]})


def classification_report_text(matrix: np.ndarray, class_names: list[str]) -> str:
    """scikit-learn's classification report for the (true x predicted) count matrix."""
    from sklearn.metrics import classification_report

    classes = np.arange(len(class_names))
    y_true = np.repeat(classes, matrix.sum(axis=1))
    y_pred = np.concatenate([np.repeat(classes, row) for row in matrix])
    return classification_report(
        y_true, y_pred, labels=classes, target_names=class_names, digits=4, zero_division=0
    )


def write_test_report(matrix: np.ndarray, class_names: list[str], out_dir: Path) -> dict[str, Path]:
    """confusion_matrix.csv / .png and classification_report.txt in `out_dir`."""
    import pandas as pd
    from matplotlib.figure import Figure

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "confusion_matrix_csv": out_dir / "confusion_matrix.csv",
        "confusion_matrix_png": out_dir / "confusion_matrix.png",
        "classification_report": out_dir / "classification_report.txt",
    }
    frame = pd.DataFrame(
        matrix.astype(np.int64),
        index=pd.Index(class_names, name="true"),
        columns=pd.Index(class_names, name="predicted"),
    )
    frame.to_csv(paths["confusion_matrix_csv"])
    paths["classification_report"].write_text(classification_report_text(matrix, class_names))

    size = 1.6 + 0.45 * len(class_names)
    fig = Figure(figsize=(size + 1.2, size))
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, label="test rows")
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title("Test confusion matrix")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, int(count), ha="center", va="center", color="white" if count > threshold else "black")
    fig.savefig(paths["confusion_matrix_png"], dpi=120, bbox_inches="tight")
    return paths
