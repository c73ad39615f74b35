"""HNet's floors and ceiling on the test split, scored like the task scores itself (weighted F1 with
the training split's cell weights, and the thresholded metrics):

- all zeros: no association at all;
- the chord rule: 1 wherever 0 <= d <= 2, the range of a distance between two unit vectors (it
  learns nothing; distractor cells that happen to fall in that range fool it);
- the Hungarian oracle: scipy's `linear_sum_assignment` on the cells with 0 <= d <= 2, the exact
  assignment the data's generator computes (only distractors in that range make it err).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from ablab.families.hnet.data import HNetDataModule
from ablab.families.hnet.metrics import SampleWeightedF1
from ablab.families.hnet.task import association_metrics
from ablab.lightning.references import Reference, test_metrics

CHORD = 2.0  # the largest distance between two points of the unit sphere
_FORBIDDEN = 1e6


def chord_rule(dist: np.ndarray) -> np.ndarray:
    """1 on every cell whose value could be a distance between two directions."""
    return ((dist >= 0) & (dist <= CHORD)).astype(np.float32)


def hungarian_oracle(dist: np.ndarray) -> np.ndarray:
    """The optimal assignment of each sample's plausible cells (0 <= d <= 2); pairs on other cells are
    dropped."""
    out = np.zeros_like(dist, dtype=np.float32)
    valid = (dist >= 0) & (dist <= CHORD)
    for i in range(len(dist)):
        if not valid[i].any():
            continue
        rows, cols = linear_sum_assignment(np.where(valid[i], dist[i], _FORBIDDEN))
        keep = valid[i][rows, cols]
        out[i, rows[keep], cols[keep]] = 1.0
    return out


def score(prediction: np.ndarray, target: torch.Tensor, weights: torch.Tensor, threshold: float) -> dict:
    """The task's test metrics of a 0/1 prediction."""
    probs = torch.from_numpy(prediction).flatten(1)
    labels = target.flatten(1).int()
    metrics = association_metrics(threshold)
    metrics.update(probs, labels)
    weighted = SampleWeightedF1(threshold)
    weighted.update(probs, labels, weights.flatten().expand_as(probs))
    values = {k: float(v) for k, v in metrics.compute().items()}
    return test_metrics({**values, "f1_weighted": float(weighted.compute())})


def hnet_references(datamodule: HNetDataModule, threshold: float = 0.5) -> list[Reference]:
    """All zeros, the chord rule and the Hungarian oracle on the test split."""
    datamodule.setup("test")
    dist, target = datamodule.dataset("test").tensors
    weights = datamodule.cell_weights
    dist_np = dist.numpy()
    rules = (
        ("all zeros", "floor", np.zeros_like(dist_np), "predicts no association"),
        ("chord rule", "floor", chord_rule(dist_np), "1 wherever 0 <= d <= 2; learns nothing"),
        (
            "Hungarian oracle",
            "ceiling",
            hungarian_oracle(dist_np),
            "linear_sum_assignment on the cells with 0 <= d <= 2",
        ),
    )
    return [
        Reference(name, kind, score(p, target, weights, threshold), note) for name, kind, p, note in rules
    ]
