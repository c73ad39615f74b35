"""Explanations are correct, not just drawn: on data where only feature k decides the label, SHAP's
global ranking and Grad-CAM's peak both point at k."""

from __future__ import annotations

import functools

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ablab.components.attention import MultiHeadAttention, NoAttention
from ablab.components.pooling import MeanPool
from ablab.errors import ConfigError
from ablab.families.hybrid.explain.attention_maps import attention_maps, plot_attention, step_labels
from ablab.families.hybrid.explain.gradcam import gradcam, plot_gradcam, resolution_window
from ablab.families.hybrid.explain.shap_values import (
    plot_class_summary,
    plot_global_bar,
    plot_waterfall,
    shap_values,
    shap_values_reference,
)
from ablab.families.hybrid.model import HybridCNNLSTM

NUM_FEATURES, DECIDING = 12, 7
NAMES = [f"f{i}" for i in range(NUM_FEATURES)]


def synthetic(rows: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Standard-normal features; the label is whether feature DECIDING is positive, nothing else."""
    x = torch.from_numpy(np.random.default_rng(seed).normal(size=(rows, NUM_FEATURES)).astype(np.float32))
    return x, (x[:, DECIDING] > 0).long()


def small_model(cnn_blocks: int = 1, attention: object = None) -> HybridCNNLSTM:
    attention = attention or functools.partial(MultiHeadAttention, num_heads=2)
    return HybridCNNLSTM(
        attention,
        MeanPool(),
        NUM_FEATURES,
        2,
        cnn_channels=8,
        cnn_blocks=cnn_blocks,
        lstm_hidden=16,
        lstm_layers=1,
    )


@pytest.fixture(scope="module")
def trained() -> tuple[HybridCNNLSTM, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A one-block hybrid (the cnn_blocks_1 variant: Grad-CAM's last block at full resolution) trained
    on the synthetic task; returns the model, a training background and held-out rows with labels."""
    torch.manual_seed(0)
    x, y = synthetic(600, seed=0)
    model = small_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(15):
        for batch in torch.randperm(len(x)).split(32):
            loss = F.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    held_x, held_y = synthetic(200, seed=1)
    with torch.no_grad():
        assert (model(held_x).argmax(dim=-1) == held_y).float().mean() > 0.8
    return model, x[:60], held_x, held_y


def test_shap_ranks_the_deciding_feature_first_and_adds_up(trained) -> None:
    model, background, held_x, _ = trained
    result = shap_values(model, background, held_x[:30], nsamples=240, seed=0)
    assert result.values.shape == (30, NUM_FEATURES, 2)
    importance = result.global_importance()
    assert result.ranking()[0] == DECIDING
    assert importance[DECIDING] > 3 * np.delete(importance, DECIDING).max()
    # Expected gradients: each row's values add up to its probability minus the background mean, up to
    # Monte Carlo error, unbiased on average (measured with captum's GradientShap over seeds 0-2: mean
    # |gap| 0.08-0.10 and mean gap up to 0.054 at 60 samples; 0.044-0.050 and up to 0.021 at 240; 0.018-0.022
    # and up to 0.006 at 960).
    gap = result.values.sum(axis=1) - (result.probs - result.base)
    assert np.abs(gap).mean() < 0.15
    assert np.abs(gap.mean(axis=0)).max() < 0.05
    again = shap_values(model, background, held_x[:30], nsamples=240, seed=0)
    np.testing.assert_array_equal(again.values, result.values)


def test_captums_gradient_shap_agrees_with_shaps_gradient_explainer(trained) -> None:
    model, background, held_x, _ = trained
    ours = shap_values(model, background, held_x[:6], nsamples=400, seed=1)
    reference = shap_values_reference(model, background, held_x[:6], nsamples=400, seed=1)
    assert reference.values.shape == ours.values.shape
    np.testing.assert_allclose(reference.base, ours.base, rtol=1e-5)
    # Two Monte Carlo estimates of the same expectation: equal up to sampling error.
    assert np.corrcoef(ours.values.ravel(), reference.values.ravel())[0, 1] > 0.95
    difference = np.abs(ours.values - reference.values).mean() / np.abs(reference.values).mean()
    assert difference < 0.25  # 0.14 measured
    assert ours.ranking()[0] == reference.ranking()[0] == DECIDING


def test_gradcam_peaks_at_the_deciding_feature(trained) -> None:
    model, _, held_x, _ = trained
    maps = gradcam(model, held_x)
    assert maps.shape == (200, NUM_FEATURES)
    assert maps.min() >= 0 and np.allclose(maps.max(axis=1)[maps.max(axis=1) > 0], 1.0)
    assert int(maps.mean(axis=0).argmax()) in resolution_window(model, DECIDING)
    assert list(resolution_window(model, DECIDING)) == [6, 7, 8]


def test_gradcam_windows_widen_with_pooling() -> None:
    model = small_model(cnn_blocks=2)
    assert list(resolution_window(model, 7)) == [4, 5, 6, 7, 8, 9]  # block 2 reads pooled pairs
    assert list(resolution_window(model, 7, block=0)) == [6, 7, 8]
    assert list(resolution_window(model, 0)) == [0, 1, 2, 3]
    assert gradcam(model.eval(), torch.randn(3, NUM_FEATURES), block=0).shape == (3, NUM_FEATURES)
    with pytest.raises(ConfigError, match="Grad-CAM block 2 does not exist: the model has 2 CNN blocks"):
        model.gradcam_layer(2)


def test_attention_maps_are_row_stochastic_and_absent_without_attention(trained) -> None:
    model, _, held_x, _ = trained
    maps = attention_maps(model, held_x[:4])
    steps = model.sequence_length
    assert maps.shape == (4, steps, steps)
    np.testing.assert_allclose(maps.sum(axis=-1), 1.0, rtol=1e-5)
    assert attention_maps(small_model(attention=NoAttention).eval(), held_x[:4]) is None


def test_step_labels_name_the_features_each_step_covers() -> None:
    assert step_labels(list("abcdefghij"), 2, 2, 2) == ["a…d", "e…h"]
    assert step_labels(list("abc"), 3, 1, 1) == ["a", "b", "c"]


def test_plots_carry_feature_and_class_names(trained) -> None:
    model, background, held_x, held_y = trained
    result = shap_values(model, background[:20], held_x[:8], nsamples=20, seed=0)
    features, classes = held_x[:8].numpy(), ["negative", "positive"]

    def labels(fig: object, axis: str) -> set[str]:
        ax = fig.axes[0]
        ticks = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
        return {t.get_text() for t in ticks}

    assert set(NAMES) <= labels(plot_global_bar(result, NAMES), "y")
    summary = plot_class_summary(result, features, NAMES, classes, 1)
    assert "P(positive)" in summary.axes[0].get_xlabel() and labels(summary, "y") <= set(NAMES)
    waterfall = plot_waterfall(result, 0, features, NAMES, classes, int(held_y[0]))
    assert "positive" in waterfall.axes[0].get_title() or "negative" in waterfall.axes[0].get_title()
    assert labels(plot_gradcam(features[0], gradcam(model, held_x[:1])[0], NAMES, "t"), "x") == set(NAMES)
    maps = attention_maps(model, held_x[:1])
    steps = step_labels(NAMES, model.sequence_length, model.pool_size, len(model.cnn))
    heat = plot_attention(maps[0], steps, "t")
    assert labels(heat, "x") == labels(heat, "y") == set(steps)
    matplotlib.pyplot.close("all")


def test_waterfall_title_states_the_f_x_the_plot_draws_and_explains_its_gap(trained) -> None:
    import re

    model, background, held_x, held_y = trained
    result = shap_values(model, background[:20], held_x[:8], nsamples=5, seed=0)  # few draws: a visible gap
    classes = ["negative", "positive"]
    waterfall = plot_waterfall(result, 0, held_x[:8].numpy(), NAMES, classes, int(held_y[0]))
    title = waterfall.axes[0].get_title()
    # shap labels its end point with two ticks of one twin axis: "$f(x)$" and "$ = 0.807$"
    ticks = [[t.get_text() for t in ax.get_xticklabels()] for ax in waterfall.axes]
    drawn = next(labels for labels in ticks if "$f(x)$" in labels)
    numbers = {float(m) for text in drawn for m in re.findall(r"-?\d+\.\d+", text)}
    k = int(result.probs[0].argmax())
    fx = float(result.base[k] + result.values[0, :, k].sum())
    assert f"f(x) = {fx:.3f}" in title and f"the model gives {result.probs[0, k]:.3f}" in title
    assert round(fx, 3) in {round(n, 3) for n in numbers}  # the same f(x) as shap's own label
    gap = fx - float(result.probs[0, k])
    assert ("sampling error" in title) == (abs(gap) >= 0.0005)
    matplotlib.pyplot.close("all")
