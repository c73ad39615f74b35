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
    shap_explainer: str = "captum"


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


@dataclass
class _Rows:
    """The explained rows, standardised as the model sees them, and their labels and names."""

    background: Any
    samples: Any
    labels: Any
    feature_names: list[str]
    class_names: list[str]


def _rows(task: Any, datamodule: Any, settings: ExplainSettings) -> _Rows:
    """Background rows from the training split, explained rows from the test split, both sampled by
    the seed and standardised with the checkpoint's scaler."""
    import numpy as np
    import torch

    rng = np.random.default_rng(settings.seed)

    def standardised(split: str, count: int) -> tuple[torch.Tensor, np.ndarray]:
        features, labels = datamodule.arrays(split)
        rows = np.sort(rng.choice(len(features), size=min(count, len(features)), replace=False))
        with torch.no_grad():
            return task.scaler(torch.from_numpy(features[rows])), labels[rows]

    background, _ = standardised("train", settings.background)
    samples, labels = standardised("test", settings.shap_samples)
    names = task.feature_names or list(datamodule.feature_names)
    return _Rows(background, samples, labels, names, task.class_names)


def _shap_figures(result: Any, rows: _Rows, shown: int, out: Path) -> dict[str, Path]:
    from ablab.families.hybrid.explain.figures import save_figure
    from ablab.families.hybrid.explain.shap_values import plot_class_summary, plot_global_bar, plot_waterfall

    values, names, classes = rows.samples.numpy(), rows.feature_names, rows.class_names
    images = {"shap/global": save_figure(plot_global_bar(result, names), out / "shap_global_bar.png")}
    for k, name in enumerate(classes):
        fig = plot_class_summary(result, values, names, classes, k)
        images[f"shap/summary_{name}"] = save_figure(fig, out / f"shap_summary_{_slug(name)}.png")
    for i in range(shown):
        fig = plot_waterfall(result, i, values, names, classes, int(rows.labels[i]))
        images[f"shap/waterfall_{i}"] = save_figure(fig, out / f"shap_waterfall_sample{i}.png")
    return images


def _map_figures(
    model: Any, rows: _Rows, preds: Any, shown: int, block: int, out: Path
) -> tuple[dict, Any, Any]:
    """Grad-CAM and attention figures of the first `shown` rows; returns them and the maps."""
    from ablab.families.hybrid.explain.attention_maps import attention_maps, plot_attention, step_labels
    from ablab.families.hybrid.explain.figures import save_figure
    from ablab.families.hybrid.explain.gradcam import gradcam, plot_gradcam

    values, names, classes, truth = rows.samples.numpy(), rows.feature_names, rows.class_names, rows.labels
    images: dict[str, Path] = {}
    cams = gradcam(model, rows.samples, block=block)
    block_name = f"CNN block {block % len(model.cnn) + 1} of {len(model.cnn)}"
    for i in range(shown):
        title = (
            f"Grad-CAM ({block_name}), sample {i}: predicted {classes[preds[i]]}, true {classes[truth[i]]}"
        )
        images[f"gradcam/sample_{i}"] = save_figure(
            plot_gradcam(values[i], cams[i], names, title), out / f"gradcam_sample{i}.png"
        )
    maps = attention_maps(model, rows.samples[:shown])
    if maps is not None:
        labels = step_labels(names, maps.shape[-1], model.pool_size, len(model.cnn))
        for i in range(shown):
            title = f"Attention, sample {i}: predicted {classes[preds[i]]}, true {classes[truth[i]]}"
            images[f"attention/sample_{i}"] = save_figure(
                plot_attention(maps[i], labels, title), out / f"attention_sample{i}.png"
            )
    return images, cams, maps


def explain_model(
    task: Any, datamodule: Any, out: Path, settings: ExplainSettings
) -> tuple[dict[str, Any], dict[str, Path]]:
    """The summary (rankings, Grad-CAM means, files) and the images written into `out`, by W&B key."""
    from ablab.families.hybrid.explain.shap_values import shap_values, shap_values_reference

    model = task.model
    if not hasattr(model, "gradcam_layer"):
        raise ConfigError(f"ablab-explain needs a hybrid model (model=hybrid), not {type(model).__name__}")
    if not hasattr(datamodule, "arrays"):
        raise ConfigError("ablab-explain needs tabular data (data=wine, csv, ...)")
    rows = _rows(task, datamodule, settings)
    explain = shap_values if settings.shap_explainer == "captum" else shap_values_reference
    result = explain(model, rows.background, rows.samples, nsamples=settings.nsamples, seed=settings.seed)
    shown = min(settings.n_samples, len(rows.samples))
    images = _shap_figures(result, rows, shown, out)
    maps_images, cams, maps = _map_figures(
        model, rows, result.probs.argmax(axis=1), shown, settings.gradcam_block, out
    )
    images.update(maps_images)
    importance, names = result.global_importance(), rows.feature_names
    summary = {
        "explained_rows": len(rows.samples),
        "background_rows": len(rows.background),
        "shap_ranking": [names[j] for j in result.ranking()],
        "shap_importance": {names[j]: float(importance[j]) for j in range(len(names))},
        "gradcam_block": settings.gradcam_block % len(model.cnn),
        "gradcam_mean": {names[j]: float(v) for j, v in enumerate(cams.mean(axis=0))},
        "attention": maps is not None,
        "files": sorted(str(p.relative_to(out)) for p in images.values()),
    }
    return summary, images
