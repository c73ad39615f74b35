"""The hybrid's references on its test split, scored with the task's own metrics (accuracy, macro F1,
per-class precision and recall): the majority class, a logistic regression and a random forest on the
same standardised training rows. A linear model that matches the network says the data cannot
separate the network's components."""

from __future__ import annotations

import numpy as np
import torch
from torchmetrics.functional.classification import (
    multiclass_accuracy,
    multiclass_f1_score,
    multiclass_precision,
    multiclass_recall,
)

from ablab.families.hybrid.data import TabularDataModule
from ablab.families.hybrid.task import metric_suffix
from ablab.lightning.classical import classical_models
from ablab.lightning.references import Reference, test_metrics


def score(probs: np.ndarray, labels: np.ndarray, class_names: list[str]) -> dict[str, float]:
    """The task's test metrics of predicted class probabilities."""
    k = len(class_names)
    preds, target = torch.from_numpy(probs.argmax(axis=1)), torch.from_numpy(labels)
    values = {
        "accuracy": multiclass_accuracy(preds, target, k, average="micro"),
        "f1_macro": multiclass_f1_score(preds, target, k, average="macro"),
    }
    for name, function in (("precision", multiclass_precision), ("recall", multiclass_recall)):
        for class_name, value in zip(class_names, function(preds, target, k, average=None)):
            values[f"{name}_{metric_suffix(class_name)}"] = value
    return test_metrics(values)


def hybrid_references(datamodule: TabularDataModule, trees: int = 300, seed: int = 0) -> list[Reference]:
    """Majority class, logistic regression and random forest, fitted on the training split."""
    train_x, train_y = datamodule.arrays("train")
    test_x, test_y = datamodule.arrays("test")
    scale = lambda x: (x - datamodule.feature_mean) / datamodule.feature_std  # noqa: E731
    names = list(datamodule.class_names)
    return [
        Reference(name, kind, score(fit(scale(train_x), train_y, scale(test_x)), test_y, names), note)
        for name, kind, fit, note in classical_models(trees, seed)
    ]
