"""Grad-CAM on a CNN block of the hybrid model (default: the last; captum's LayerGradCam on the block's
activation before its pooling), upsampled to the input length so that each input feature gets a weight."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn


def gradcam(
    model: nn.Module, inputs: torch.Tensor, target: torch.Tensor | None = None, block: int = -1
) -> np.ndarray:
    """(N, F) maps in [0, 1] per sample for class `target` (default: the predicted class): the block's
    length-T map linearly interpolated to the F input features."""
    from captum.attr import LayerAttribution, LayerGradCam

    layer = model.gradcam_layer(block).act
    was_training = model.training
    model.eval()
    try:
        if target is None:
            with torch.no_grad():
                target = model(inputs).argmax(dim=-1)
        maps = LayerGradCam(model, layer).attribute(inputs, target=target, relu_attributions=True).detach()
    finally:
        model.train(was_training)
    maps = LayerAttribution.interpolate(maps, (inputs.shape[-1],), interpolate_mode="linear")
    maps = maps.reshape(inputs.shape[0], -1).numpy()
    peak = maps.max(axis=1, keepdims=True)
    return np.divide(maps, peak, out=np.zeros_like(maps), where=peak > 0)


def resolution_window(model: nn.Module, feature: int, block: int = -1) -> range:
    """The input features Grad-CAM on `block` cannot tell apart from `feature` (its pooled
    neighbourhood): those the block's convolution unit at `feature`'s position reads."""
    blocks = len(model.cnn)
    index = block % blocks
    stride = model.pool_size**index
    reach = model.cnn[index].conv.kernel_size[0] // 2
    position = feature // stride
    return range(
        max(0, (position - reach) * stride), min(model.num_features, (position + reach + 1) * stride)
    )


def plot_gradcam(features: np.ndarray, cam: np.ndarray, feature_names: list[str], title: str) -> Any:
    """The sample's (standardised) feature values as bars over the Grad-CAM map as a heat strip."""
    import matplotlib.pyplot as plt

    positions = np.arange(len(features))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.35 * len(features) + 2), 4))
    low, high = min(float(features.min()), 0.0) - 0.5, max(float(features.max()), 0.0) + 0.5
    image = ax.imshow(
        cam[None, :],
        aspect="auto",
        cmap="Reds",
        alpha=0.6,
        vmin=0,
        vmax=1,
        extent=(-0.5, len(features) - 0.5, low, high),
    )
    ax.bar(positions, features, color="#1f77b4", width=0.6)
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.set_xticks(positions, feature_names, rotation=60, ha="right", fontsize=8)
    ax.set_xlabel("feature")
    ax.set_ylabel("standardised value")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="Grad-CAM")
    return fig
