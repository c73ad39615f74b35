"""Every explanation of a trained hybrid classifier (SHAP, Grad-CAM, attention maps) as PNG files,
and a summary of them; `ablab-explain` (ablab.cli.explain) rebuilds the run and calls this."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ablab.errors import ConfigError


@dataclass(frozen=True)
class ExplainSettings:
    """How many rows to explain and how: see `ablab-explain --help`."""

    n_samples: int = 5
    shap_samples: int = 100
    background: int = 100
    nsamples: int = 200
    seed: int = 0
    gradcam_block: int = -1
    shap_explainer: str = "vectorised"


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


def explain_model(
    task: Any, datamodule: Any, out: Path, settings: ExplainSettings
) -> tuple[dict[str, Any], dict[str, Path]]:
    """The summary (rankings, Grad-CAM means, files) and the images written into `out`, by W&B key."""
    import numpy as np
    import torch

    from ablab.families.hybrid.explain.attention_maps import attention_maps, plot_attention, step_labels
    from ablab.families.hybrid.explain.figures import save_figure
    from ablab.families.hybrid.explain.gradcam import gradcam, plot_gradcam
    from ablab.families.hybrid.explain.shap_values import (
        plot_class_summary,
        plot_global_bar,
        plot_waterfall,
        shap_values,
        shap_values_reference,
    )

    model = task.model
    if not hasattr(model, "gradcam_layer"):
        raise ConfigError(f"ablab-explain needs a hybrid model (model=hybrid), not {type(model).__name__}")
    if not hasattr(datamodule, "arrays"):
        raise ConfigError("ablab-explain needs tabular data (data=wine, csv, ...)")
    n_samples, nsamples, seed = settings.n_samples, settings.nsamples, settings.seed
    gradcam_block = settings.gradcam_block
    rng = np.random.default_rng(seed)
    feature_names = task.feature_names or list(datamodule.feature_names)
    class_names = task.class_names

    def standardised(split: str, count: int) -> tuple[torch.Tensor, np.ndarray]:
        features, labels = datamodule.arrays(split)
        rows = np.sort(rng.choice(len(features), size=min(count, len(features)), replace=False))
        with torch.no_grad():
            return task.scaler(torch.from_numpy(features[rows])), labels[rows]

    base_x, _ = standardised("train", settings.background)
    test_x, test_y = standardised("test", settings.shap_samples)
    images: dict[str, Path] = {}

    explain = shap_values if settings.shap_explainer == "vectorised" else shap_values_reference
    result = explain(model, base_x, test_x, nsamples=nsamples, seed=seed)
    values = test_x.numpy()
    images["shap/global"] = save_figure(plot_global_bar(result, feature_names), out / "shap_global_bar.png")
    for k, name in enumerate(class_names):
        fig = plot_class_summary(result, values, feature_names, class_names, k)
        images[f"shap/summary_{name}"] = save_figure(fig, out / f"shap_summary_{_slug(name)}.png")
    shown = min(n_samples, len(values))
    for i in range(shown):
        fig = plot_waterfall(result, i, values, feature_names, class_names, int(test_y[i]))
        images[f"shap/waterfall_{i}"] = save_figure(fig, out / f"shap_waterfall_sample{i}.png")

    cams = gradcam(model, test_x, block=gradcam_block)
    preds = result.probs.argmax(axis=1)
    block_name = f"CNN block {gradcam_block % len(model.cnn) + 1} of {len(model.cnn)}"
    for i in range(shown):
        title = f"Grad-CAM ({block_name}), sample {i}: predicted {class_names[preds[i]]}, true {class_names[test_y[i]]}"
        fig = plot_gradcam(values[i], cams[i], feature_names, title)
        images[f"gradcam/sample_{i}"] = save_figure(fig, out / f"gradcam_sample{i}.png")

    maps = attention_maps(model, test_x[:shown])
    if maps is not None:
        labels = step_labels(feature_names, maps.shape[-1], model.pool_size, len(model.cnn))
        for i in range(shown):
            title = f"Attention, sample {i}: predicted {class_names[preds[i]]}, true {class_names[test_y[i]]}"
            images[f"attention/sample_{i}"] = save_figure(
                plot_attention(maps[i], labels, title), out / f"attention_sample{i}.png"
            )

    importance = result.global_importance()
    summary = {
        "explained_rows": len(values),
        "background_rows": len(base_x),
        "shap_ranking": [feature_names[j] for j in result.ranking()],
        "shap_importance": {feature_names[j]: float(importance[j]) for j in range(len(feature_names))},
        "gradcam_block": gradcam_block % len(model.cnn),
        "gradcam_mean": {feature_names[j]: float(v) for j, v in enumerate(cams.mean(axis=0))},
        "attention": maps is not None,
        "files": sorted(str(p.relative_to(out)) for p in images.values()),
    }
    return summary, images
