"""PNG plots of a study: metric with CIs, deltas against the baseline, per-seed spread, validation curves,
cost against quality.

Drawn on matplotlib `Figure` objects with the Agg canvas: no pyplot state, no GUI backend, safe inside
notebooks and worker processes.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ablab.analysis.aggregate import StudyComparison
from ablab.analysis.tables import direction

BASELINE_COLOUR = "black"
BETTER, WORSE, NEUTRAL = "#2a9d8f", "#e76f51", "#8d99ae"


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    return path


def _height(count: int) -> float:
    return max(2.5, 0.45 * count + 1.4)


def _y_axis(ax, labels: list[str]) -> np.ndarray:
    positions = np.arange(len(labels))[::-1]
    ax.set_yticks(positions, labels)
    ax.set_ylim(-0.7, len(labels) - 0.3)
    return positions


def plot_metric(comparison: StudyComparison, path: Path) -> Path:
    """Mean per variant with its CI as error bars; the baseline drawn in black with its CI band."""
    table = comparison.table
    figure = _figure(7, _height(len(table)))
    ax = figure.add_subplot()
    positions = _y_axis(ax, table["variant"].tolist())
    base = table[table["is_baseline"]].iloc[0]
    if not math.isnan(base["mean"]):
        ax.axvline(base["mean"], color=BASELINE_COLOUR, linestyle="--", linewidth=1, label="baseline mean")
        if not math.isnan(base["ci_low"]):
            ax.axvspan(base["ci_low"], base["ci_high"], color=BASELINE_COLOUR, alpha=0.08)
    for y, row in zip(positions, table.itertuples()):
        if row.n == 0:
            ax.annotate(
                f"no completed runs ({row.status})",
                (0.02, y),
                xycoords=("axes fraction", "data"),
                va="center",
                color=WORSE,
            )
            continue
        error = None if math.isnan(row.ci_low) else [[row.mean - row.ci_low], [row.ci_high - row.mean]]
        colour = BASELINE_COLOUR if row.is_baseline else (BETTER if row.better else WORSE)
        ax.errorbar(row.mean, y, xerr=error, fmt="o", color=colour, capsize=4)
        ax.annotate(
            f"n={row.n}",
            (row.mean, y),
            xytext=(0, 9),
            textcoords="offset points",
            ha="center",
            fontsize=8,
            color="dimgray",
        )
    ax.set_xlabel(f"{comparison.metric} (mean, {comparison.confidence:.0%} CI; {direction(comparison)})")
    ax.set_title(f"{comparison.study}: {comparison.metric} per variant")
    ax.legend(loc="best", fontsize=8)
    return _save(figure, path)


def plot_delta(comparison: StudyComparison, path: Path) -> Path:
    """Delta of each variant against the baseline with its Welch CI; `*` where significant after Holm."""
    table = comparison.table[~comparison.table["is_baseline"]]
    figure = _figure(7, _height(max(len(table), 1)))
    ax = figure.add_subplot()
    positions = _y_axis(ax, table["variant"].tolist())
    ax.axvline(0, color=BASELINE_COLOUR, linewidth=1)
    for y, row in zip(positions, table.itertuples()):
        if math.isnan(row.delta):
            ax.annotate(
                "no delta (no completed runs)",
                (0.02, y),
                xycoords=("axes fraction", "data"),
                va="center",
                color=WORSE,
            )
            continue
        colour = BETTER if row.better else WORSE
        error = (
            None
            if math.isnan(row.delta_ci_low)
            else [[row.delta - row.delta_ci_low], [row.delta_ci_high - row.delta]]
        )
        ax.barh(y, row.delta, color=colour, alpha=0.9 if row.significant else 0.45, height=0.6)
        if error is not None:
            ax.errorbar(row.delta, y, xerr=error, fmt="none", color="dimgray", capsize=3)
        label = f"{row.delta_pct:+.1f}%" if not math.isnan(row.delta_pct) else ""
        ax.annotate(
            label + ("*" if row.significant else ""),
            (row.delta, y),
            xytext=(4, 6),
            textcoords="offset points",
            fontsize=8,
        )
    ax.set_xlabel(
        f"Δ {comparison.metric} vs {comparison.baseline} ({direction(comparison)}; "
        f"bars: {comparison.confidence:.0%} Welch CI; * p(Holm) < {comparison.alpha:g})"
    )
    ax.set_title(f"{comparison.study}: delta against the baseline")
    return _save(figure, path)


def plot_seeds(comparison: StudyComparison, path: Path) -> Path:
    """Box plot and per-seed points of every variant: the spread the statistics are made of."""
    table = comparison.table
    figure = _figure(7, _height(len(table)))
    ax = figure.add_subplot()
    positions = _y_axis(ax, table["variant"].tolist())
    rng = np.random.default_rng(0)
    for y, row in zip(positions, table.itertuples()):
        values = comparison.values(row.variant).to_numpy()
        if not len(values):
            continue
        colour = BASELINE_COLOUR if row.is_baseline else NEUTRAL
        ax.boxplot(
            values,
            positions=[y],
            orientation="horizontal",
            widths=0.5,
            showfliers=False,
            medianprops={"color": colour},
            boxprops={"color": colour},
        )
        jitter = rng.uniform(-0.12, 0.12, len(values))
        ax.scatter(values, y + jitter, s=18, color=colour, zorder=3)
    ax.set_yticks(positions, table["variant"].tolist())
    ax.set_xlabel(f"{comparison.metric} per seed ({direction(comparison)})")
    ax.set_title(f"{comparison.study}: distribution across seeds")
    return _save(figure, path)


def plot_curves(comparison: StudyComparison, curves: pd.DataFrame, path: Path) -> Path | None:
    """Mean validation curves per variant (band: ± std over seeds); None when no run logged any."""
    if curves.empty:
        return None
    metrics = [m for m in (comparison.curve_metric, "val/loss") if m in set(curves["metric"])]
    if not metrics:
        return None
    from matplotlib.ticker import MaxNLocator

    figure = _figure(6 * len(metrics), 4.2)
    axes = figure.subplots(1, len(metrics), squeeze=False)[0]
    colours = _colours(comparison.table["variant"].tolist(), comparison.baseline)
    for ax, metric in zip(axes, metrics):
        for variant, colour in colours.items():
            part = curves[(curves["variant"] == variant) & (curves["metric"] == metric)].sort_values("epoch")
            if part.empty:
                continue
            is_base = variant == comparison.baseline
            ax.plot(
                part["epoch"],
                part["mean"],
                color=colour,
                linewidth=2.2 if is_base else 1.3,
                label=f"{variant} (baseline)" if is_base else variant,
                marker="o",
                markersize=3,
            )
            std = part["std"].fillna(0)
            ax.fill_between(part["epoch"], part["mean"] - std, part["mean"] + std, color=colour, alpha=0.12)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(f"mean {metric} over seeds")
    axes[-1].legend(fontsize=7, loc="best")
    return _save(figure, path)


def _colours(variants: list[str], baseline: str) -> dict[str, str]:
    from matplotlib import colormaps

    palette = colormaps["tab10"].colors
    others = [v for v in variants if v != baseline]
    colours = {baseline: BASELINE_COLOUR}
    colours.update({v: palette[i % len(palette)] for i, v in enumerate(others)})
    return colours


def plot_cost_quality(comparison: StudyComparison, path: Path) -> Path | None:
    """Mean train time against mean quality per variant: what each variant buys and costs."""
    table = comparison.table[comparison.table["n"] > 0]
    if table.empty or table["train_s"].isna().all():
        return None
    figure = _figure(6.5, 4.5)
    ax = figure.add_subplot()
    colours = _colours(comparison.table["variant"].tolist(), comparison.baseline)
    for row in table.itertuples():
        error = None if math.isnan(row.ci_low) else [[row.mean - row.ci_low], [row.ci_high - row.mean]]
        ax.errorbar(row.train_s, row.mean, yerr=error, fmt="o", color=colours[row.variant], capsize=3)
        ax.annotate(
            row.variant, (row.train_s, row.mean), xytext=(4, 4), textcoords="offset points", fontsize=8
        )
    ax.set_xlabel("mean train time (s)")
    ax.set_ylabel(f"{comparison.metric} ({direction(comparison)})")
    ax.set_title(f"{comparison.study}: cost against quality")
    return _save(figure, path)


PLOTS = {
    "metric_by_variant.png": plot_metric,
    "delta_vs_baseline.png": plot_delta,
    "seed_distribution.png": plot_seeds,
    "cost_vs_quality.png": plot_cost_quality,
}


def write_plots(comparison: StudyComparison, curves: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Every plot that has data, as PNGs in `out_dir`."""
    written = [draw(comparison, out_dir / name) for name, draw in PLOTS.items()]
    written.append(plot_curves(comparison, curves, out_dir / "val_curves.png"))
    return [p for p in written if p is not None]
