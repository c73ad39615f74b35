"""SampleWeightedF1 equals sklearn's weighted F1 with sample weights, also across batches."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import f1_score

from ablab.families.hnet.metrics import SampleWeightedF1


def test_matches_sklearn_weighted_f1_with_sample_weights() -> None:
    rng = np.random.default_rng(0)
    probs, target, weight = rng.random(500), rng.integers(0, 2, 500), rng.random(500)
    metric = SampleWeightedF1()
    for chunk in np.array_split(np.arange(500), 7):
        metric.update(torch.tensor(probs[chunk]), torch.tensor(target[chunk]), torch.tensor(weight[chunk]))
    expected = f1_score(target, probs >= 0.5, average="weighted", sample_weight=weight)
    assert abs(metric.compute().item() - expected) < 1e-6


def test_perfect_predictions_score_one() -> None:
    metric = SampleWeightedF1()
    target = torch.tensor([0, 1, 1, 0])
    metric.update(target.float(), target, torch.ones(4))
    assert metric.compute().item() == 1.0
