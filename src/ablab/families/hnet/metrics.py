"""Metrics torchmetrics does not provide."""

from __future__ import annotations

import torch
from torchmetrics import Metric


class SampleWeightedF1(Metric):
    """Binary-label F1 averaged over both classes weighted by their (sample-weighted) support, as
    sklearn's `f1_score(average="weighted", sample_weight=w)`. torchmetrics' F1 takes no sample
    weights, which the Hungarian network's reported metric needs."""

    full_state_update = False

    def __init__(self, threshold: float = 0.5) -> None:
        super().__init__()
        self.threshold = threshold
        for name in ("tp", "fp", "fn", "tn"):
            self.add_state(name, default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, probs: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> None:
        pred = probs.flatten() >= self.threshold
        true = target.flatten() >= 0.5
        w = weight.flatten().to(torch.float64)
        self.tp += (w * (pred & true)).sum()
        self.fp += (w * (pred & ~true)).sum()
        self.fn += (w * (~pred & true)).sum()
        self.tn += (w * (~pred & ~true)).sum()

    @staticmethod
    def _f1(tp: torch.Tensor, fp: torch.Tensor, fn: torch.Tensor) -> torch.Tensor:
        denom = 2 * tp + fp + fn
        return torch.where(denom > 0, 2 * tp / denom.clamp_min(1e-300), torch.zeros_like(denom))

    def compute(self) -> torch.Tensor:
        support_pos, support_neg = self.tp + self.fn, self.tn + self.fp
        total = support_pos + support_neg
        if total <= 0:
            return torch.zeros((), dtype=torch.float64)
        f1_pos = self._f1(self.tp, self.fp, self.fn)
        f1_neg = self._f1(self.tn, self.fn, self.fp)
        return ((f1_pos * support_pos + f1_neg * support_neg) / total).to(torch.float32)
