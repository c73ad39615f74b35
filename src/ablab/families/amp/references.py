"""AMP's references on its test split, scored with the task's own metrics (ROC-AUC, AP, accuracy,
precision, recall, F1, MCC at the task's threshold): the majority class, and a logistic regression
and a random forest on amino-acid + dipeptide composition (`ablab.families.amp.composition`), fitted
on the training split. A head that does not beat the composition forest adds nothing a classical
model would not."""

from __future__ import annotations

import numpy as np
import torch

from ablab.families.amp.composition import composition_features
from ablab.families.amp.data import PeptideDataModule
from ablab.families.amp.task import binary_metrics
from ablab.lightning.classical import classical_models
from ablab.lightning.references import Reference, test_metrics


def score(probability: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, float]:
    """The task's test metrics of positive-class probabilities."""
    metrics = binary_metrics(threshold)
    metrics.update(torch.from_numpy(probability).float(), torch.from_numpy(labels).int())
    return test_metrics({k: float(v) for k, v in metrics.compute().items()})


def amp_references(
    datamodule: PeptideDataModule, trees: int = 300, seed: int = 0, threshold: float = 0.5
) -> list[Reference]:
    """Majority class, and logistic regression and random forest on composition, on the test split."""
    peptides = datamodule.load()
    features = composition_features(peptides.sequences)
    labels = np.asarray(peptides.labels, dtype=np.int64)
    train, test = datamodule.splits["train"], datamodule.splits["test"]
    rows = []
    for name, kind, fit, note in classical_models(trees, seed):
        probability = fit(features[train], labels[train], features[test])[:, 1]
        if kind != "floor":
            name, note = f"{name} (composition)", f"{note}; amino-acid + dipeptide composition (420)"
        rows.append(Reference(name, kind, score(probability, labels[test], threshold), note))
    return rows
