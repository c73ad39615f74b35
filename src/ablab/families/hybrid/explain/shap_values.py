"""SHAP values of a classifier's class probabilities (expected gradients, the estimator of shap's
GradientExplainer, on a background sample from the training split), their global ranking, and shap's
plots of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn


class Probabilities(nn.Module):
    """softmax(model(x)): SHAP values then add up to probability differences, readable as such."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(x), dim=-1)


@dataclass
class ShapResult:
    """values (N, F, K): feature j's contribution to class k's probability for sample i; base (K,):
    the mean probabilities over the background; probs (N, K): the explained samples' probabilities."""

    values: np.ndarray
    base: np.ndarray
    probs: np.ndarray

    def global_importance(self) -> np.ndarray:
        """Mean |SHAP| per feature over samples and classes, (F,)."""
        return np.abs(self.values).mean(axis=(0, 2))

    def ranking(self) -> np.ndarray:
        """Feature indices, most important first."""
        return np.argsort(-self.global_importance(), kind="stable")


def shap_values(
    model: nn.Module,
    background: torch.Tensor,
    samples: torch.Tensor,
    nsamples: int = 200,
    seed: int = 0,
) -> ShapResult:
    """Expected-gradient SHAP values of `model`'s class probabilities for `samples` (N, F) against
    `background` (M, F), both in the model's input space (standardised); seeded.

    captum's GradientShap (per row: `nsamples` draws of a background row r and t ~ U(0, 1); mean of
    grad f(r + t (x - r)) * (x - r)), one batched call per class: the estimator of shap's
    GradientExplainer without its Python loop over rows and draws. `shap_values_reference` runs shap's
    own explainer; the tests check that both agree. captum draws from numpy's global generator, so it
    is seeded here and put back as it was."""
    from captum.attr import GradientShap

    wrapped = Probabilities(model)
    was_training = model.training
    model.eval()
    state = np.random.get_state()
    try:
        with torch.no_grad():
            base = wrapped(background).mean(dim=0)
            probs = wrapped(samples)
        np.random.seed(seed)
        explainer = GradientShap(wrapped)
        per_class = [
            explainer.attribute(
                samples, baselines=background, n_samples=nsamples, stdevs=0.0, target=k
            ).detach()
            for k in range(probs.shape[1])
        ]
    finally:
        np.random.set_state(state)
        model.train(was_training)
    return ShapResult(values=torch.stack(per_class, dim=-1).numpy(), base=base.numpy(), probs=probs.numpy())


def shap_values_reference(
    model: nn.Module, background: torch.Tensor, samples: torch.Tensor, nsamples: int = 200, seed: int = 0
) -> ShapResult:
    """The same values from shap's own GradientExplainer (slower: a Python loop per row, draw and class)."""
    import shap

    wrapped = Probabilities(model)
    was_training = model.training
    model.eval()
    try:
        explainer = shap.GradientExplainer(wrapped, background, batch_size=nsamples)
        values = np.asarray(explainer.shap_values(samples, nsamples=nsamples, rseed=seed))
        with torch.no_grad():
            base, probs = wrapped(background).mean(dim=0).numpy(), wrapped(samples).numpy()
    finally:
        model.train(was_training)
    return ShapResult(values=values.reshape(*samples.shape, -1), base=base, probs=probs)


def plot_global_bar(result: ShapResult, feature_names: list[str], max_display: int = 20) -> Any:
    """Horizontal bars of mean |SHAP| per feature (over samples and classes), largest on top."""
    import matplotlib.pyplot as plt

    importance = result.global_importance()
    order = result.ranking()[:max_display][::-1]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(order) + 1.5))
    ax.barh([feature_names[i] for i in order], importance[order], color="#1f77b4")
    ax.set_xlabel("mean |SHAP value| (class probability, averaged over classes)")
    ax.set_ylabel("feature")
    ax.set_title(f"Global feature importance ({result.values.shape[0]} samples)")
    return fig


def plot_class_summary(
    result: ShapResult,
    features: np.ndarray,
    feature_names: list[str],
    class_names: list[str],
    k: int,
    max_display: int = 20,
) -> Any:
    """shap's beeswarm summary for class k: one dot per sample and feature, coloured by feature value."""
    import matplotlib.pyplot as plt
    import shap

    shap.summary_plot(
        result.values[:, :, k],
        features,
        feature_names=feature_names,
        max_display=max_display,
        show=False,
        plot_size=(8, 0.35 * min(max_display, len(feature_names)) + 1.5),
        rng=np.random.default_rng(0),
    )
    fig = plt.gcf()
    ax = fig.axes[0]
    ax.set_xlabel(f"SHAP value (impact on P({class_names[k]}))")
    ax.set_ylabel("feature")
    ax.set_title(f"Class {class_names[k]}: per-sample SHAP values")
    return fig


def plot_waterfall(
    result: ShapResult,
    i: int,
    features: np.ndarray,
    feature_names: list[str],
    class_names: list[str],
    true_class: int | None = None,
    max_display: int = 12,
) -> Any:
    """shap's waterfall for sample i and its predicted class: from the background's mean probability to
    this sample's probability, feature by feature."""
    import matplotlib.pyplot as plt
    import shap

    k = int(result.probs[i].argmax())
    explanation = shap.Explanation(
        values=result.values[i, :, k],
        base_values=float(result.base[k]),
        data=features[i],
        feature_names=feature_names,
    )
    plt.figure()
    shap.plots.waterfall(explanation, max_display=max_display, show=False)
    fig = plt.gcf()
    fig.axes[0].set_title(waterfall_title(result, i, class_names, true_class), fontsize=9)
    fig.axes[0].set_ylabel("feature = standardised value")
    return fig


def waterfall_title(result: ShapResult, i: int, class_names: list[str], true_class: int | None = None) -> str:
    """The waterfall's title: its own end point f(x) = E[f(X)] + sum of the SHAP values, and the model's
    probability, which differ by the expected-gradient estimate's sampling error (the values add up to
    the probability only in expectation); the gap is named when it shows at the plot's precision."""
    k = int(result.probs[i].argmax())
    fx = float(result.base[k] + result.values[i, :, k].sum())
    prob = float(result.probs[i, k])
    truth = f", true {class_names[true_class]}" if true_class is not None and true_class >= 0 else ""
    title = (
        f"Sample {i}: f(x) = {fx:.3f} (SHAP sum) for P({class_names[k]}); the model gives {prob:.3f}{truth}"
    )
    if abs(fx - prob) >= 0.0005:
        title += f"\nthe gap ({fx - prob:+.3f}) is the sampling error of the expected-gradient estimate"
    return title
