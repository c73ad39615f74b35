"""Self-attention weights of the hybrid model (averaged over heads) as heatmaps, read from the attention
module's `last_weights` after an ordinary forward."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn


def attention_maps(model: nn.Module, inputs: torch.Tensor) -> np.ndarray | None:
    """(N, T, T) weights (rows: query steps, columns: key steps), or None when the model's attention
    keeps no weights (`model/attention=none`)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(inputs)
    finally:
        model.train(was_training)
    weights = getattr(model.attention, "last_weights", None)
    return None if weights is None else weights.cpu().numpy()


def step_labels(feature_names: list[str], steps: int, pool_size: int, blocks: int) -> list[str]:
    """What each time step after the CNN covers: the first and last feature of its pooled window
    (pool_size ** blocks features, before the convolutions' overlap)."""
    width = pool_size**blocks
    labels = []
    for t in range(steps):
        first, last = t * width, min((t + 1) * width, len(feature_names)) - 1
        labels.append(
            feature_names[first] if first == last else f"{feature_names[first]}…{feature_names[last]}"
        )
    return labels


def plot_attention(weights: np.ndarray, labels: list[str], title: str) -> Any:
    """One sample's (T, T) attention heatmap with the features each step covers on both axes."""
    import matplotlib.pyplot as plt

    size = max(4.0, 0.5 * len(labels) + 3)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(weights, cmap="viridis", vmin=0)
    ticks = np.arange(len(labels))
    ax.set_xticks(ticks, labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(ticks, labels, fontsize=8)
    ax.set_xlabel("key step (features it covers)")
    ax.set_ylabel("query step (features it covers)")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="attention weight (mean over heads)")
    return fig
