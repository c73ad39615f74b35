"""Pooling a (B, T, D) sequence over its time steps to (B, D): the `model/pooling` choices."""

from __future__ import annotations

import torch
from torch import nn


class MeanPool(nn.Module):
    """(B, T, D) -> (B, D): the mean over time steps."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=1)


class MaxPool(nn.Module):
    """(B, T, D) -> (B, D): the maximum over time steps, per channel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.max(dim=1).values


class LastPool(nn.Module):
    """(B, T, D) -> (B, D): the last time step."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, -1]
