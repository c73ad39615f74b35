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
from ablab.analysis.axes import broken_x, main_index, panel_of, panels, spread_labels
from ablab.analysis.tables import direction

BASELINE_COLOUR = "black"
BETTER, WORSE, NEUTRAL = "#2a9d8f", "#e76f51", "#8d99ae"
# Reference lines: floors (learn nothing), classical models, ceilings.
REFERENCE_STYLE = {
    "floor": {"color": "#b5179e", "linestyle": ":"},
    "classical": {"color": "#3a86ff", "linestyle": "-."},
    "ceiling": {"color": "#2b9348", "linestyle": "--"},
}


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
    return max(2.8, 0.45 * count + 1.6)


def _y_axis(ax, labels: list[str]) -> np.ndarray:
    positions = np.arange(len(labels))[::-1]
    ax.set_yticks(positions, labels)
    ax.set_ylim(-0.7, len(labels) - 0.3)
    return positions


def _halves(table: pd.DataFrame, low: str, high: str, centre: str) -> list[float]:
    return [
        max(c - lo, hi - c) if lo == lo else math.nan
        for c, lo, hi in zip(table[centre], table[low], table[high])
    ]


def _reference_lines(axes: list, ranges: list, references: pd.DataFrame, shift: float = 0.0) -> None:
    """A vertical line per reference (at value - shift) in the panel that holds it, named in the legend."""
    for ref in references.itertuples():
        x = ref.value - shift
        index = panel_of(x, ranges)
        if index is None:
            continue
        style = REFERENCE_STYLE.get(ref.kind, REFERENCE_STYLE["floor"])
        axes[index].axvline(x, linewidth=1.2, label=f"{ref.kind}: {ref.name} ({ref.value:.4g})", **style)


def _legend(figure, axes: list) -> None:
    handles, labels = [], []
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    if handles:
        figure.legend(handles, labels, loc="outside lower center", fontsize=7, ncols=min(3, len(labels)))


def _xlabel(ax, text: str, fontsize: int = 9) -> None:
    """An x label wrapped to its axes' width, so that a long one is never cut."""
    import textwrap

    width = max(30, int(ax.get_position().width * ax.figure.get_figwidth() * 72 / (0.6 * fontsize)))
    ax.set_xlabel("\n".join(textwrap.wrap(text, width)), fontsize=fontsize)


def _no_runs(ax, y: float, text: str) -> None:
    ax.annotate(text, (0.02, y), xycoords=("axes fraction", "data"), va="center", color=WORSE)


def plot_metric(comparison: StudyComparison, path: Path) -> Path:
    """Mean per variant with its CI; the baseline in black with its CI band; the references as lines.
    A variant (or reference) far from the others sits in a panel of its own (broken axis)."""
    table = comparison.table
    refs = comparison.references
    ranges = panels(
        table["mean"].tolist(),
        _halves(table, "ci_low", "ci_high", "mean"),
        refs["value"].tolist() if len(refs) else [],
    )
    figure = _figure(7.5, _height(len(table)) + 0.5)
    axes = broken_x(figure, ranges)
    positions = _y_axis(axes[0], table["variant"].tolist())
    base = table[table["is_baseline"]].iloc[0]
    for ax in axes:
        if not math.isnan(base["mean"]):
            ax.axvline(
                base["mean"], color=BASELINE_COLOUR, linestyle="--", linewidth=1, label="baseline mean"
            )
            if not math.isnan(base["ci_low"]):
                ax.axvspan(base["ci_low"], base["ci_high"], color=BASELINE_COLOUR, alpha=0.08)
    _reference_lines(axes, ranges, refs)
    for y, row in zip(positions, table.itertuples()):
        if row.n == 0:
            _no_runs(axes[0], y, f"no completed runs ({row.status})")
            continue
        error = None if math.isnan(row.ci_low) else [[row.mean - row.ci_low], [row.ci_high - row.mean]]
        colour = BASELINE_COLOUR if row.is_baseline else (BETTER if row.better else WORSE)
        below = bool(getattr(row, "below_floor", False))
        for ax in axes:
            ax.errorbar(
                row.mean, y, xerr=error, fmt="o", color=colour, capsize=4, mfc="white" if below else colour
            )
        index = panel_of(row.mean, ranges)
        if index is not None:
            axes[index].annotate(
                f"n={row.n}" + (" (below floor)" if below else ""),
                (row.mean, y),
                xytext=(0, 9),
                textcoords="offset points",
                ha="center",
                fontsize=7,
                color="dimgray",
            )
    _xlabel(
        axes[main_index(ranges)],
        f"{comparison.metric} (mean, {comparison.confidence:.0%} CI; {direction(comparison)})",
        fontsize=9,
    )
    axes[0].set_title(f"{comparison.study}: {comparison.metric} per variant", loc="left")
    _legend(figure, axes)
    return _save(figure, path)


def plot_delta(comparison: StudyComparison, path: Path) -> Path:
    """Delta of each variant against the baseline with the interval of its test (paired when the
    p-value is); `*` where significant after Holm; the references as lines (value - baseline mean)."""
    table = comparison.table[~comparison.table["is_baseline"]]
    figure = _figure(7.5, _height(max(len(table), 1)) + 0.5)
    ranges = panels(
        [0.0, *table["delta"].tolist()], [math.nan, *_halves(table, "delta_ci_low", "delta_ci_high", "delta")]
    )
    axes = broken_x(figure, ranges)
    positions = _y_axis(axes[0], table["variant"].tolist())
    base = comparison.table[comparison.table["is_baseline"]].iloc[0]["mean"]
    for ax in axes:
        ax.axvline(0, color=BASELINE_COLOUR, linewidth=1)
    if len(comparison.references) and not math.isnan(base):
        _reference_lines(axes, ranges, comparison.references, shift=base)
    for y, row in zip(positions, table.itertuples()):
        if math.isnan(row.delta):
            _no_runs(axes[0], y, "no delta (no completed runs)")
            continue
        colour = BETTER if row.better else WORSE
        low, high = row.delta_ci_low, row.delta_ci_high
        for ax in axes:
            ax.barh(y, row.delta, color=colour, alpha=0.9 if row.significant else 0.45, height=0.6)
            if not math.isnan(low):
                ax.errorbar(
                    row.delta,
                    y,
                    xerr=[[row.delta - low], [high - row.delta]],
                    fmt="none",
                    color="dimgray",
                    capsize=3,
                )
        index = panel_of(row.delta, ranges)
        if index is not None:
            label = f"{row.delta_pct:+.1f}%" if not math.isnan(row.delta_pct) else ""
            axes[index].annotate(
                label + ("*" if row.significant else ""),
                (row.delta, y),
                xytext=(4, 6),
                textcoords="offset points",
                fontsize=7,
            )
    tests = sorted(set(table["test"]) - {""}) or ["welch"]
    _xlabel(
        axes[main_index(ranges)],
        f"Δ {comparison.metric} vs {comparison.baseline} ({direction(comparison)}; bars: "
        f"{comparison.confidence:.0%} CI of the {' or '.join(tests)} test; * p(Holm) < {comparison.alpha:g})",
        fontsize=9,
    )
    axes[0].set_title(f"{comparison.study}: delta against the baseline", loc="left")
    _legend(figure, axes)
    return _save(figure, path)


def plot_seeds(comparison: StudyComparison, path: Path) -> Path:
    """Box plot and per-seed points of every variant, the references as lines: the spread the
    statistics are made of."""
    table = comparison.table
    values = {v: comparison.values(v).to_numpy() for v in table["variant"]}
    every = [x for v in values.values() for x in v]
    refs = comparison.references
    ranges = panels(
        every or [0.0], [math.nan] * max(len(every), 1), refs["value"].tolist() if len(refs) else []
    )
    figure = _figure(7.5, _height(len(table)) + 0.5)
    axes = broken_x(figure, ranges)
    positions = _y_axis(axes[0], table["variant"].tolist())
    _reference_lines(axes, ranges, refs)
    rng = np.random.default_rng(0)
    for y, row in zip(positions, table.itertuples()):
        own = values[row.variant]
        if not len(own):
            continue
        colour = BASELINE_COLOUR if row.is_baseline else NEUTRAL
        jitter = rng.uniform(-0.12, 0.12, len(own))
        for ax in axes:
            ax.boxplot(
                own,
                positions=[y],
                orientation="horizontal",
                widths=0.5,
                showfliers=False,
                medianprops={"color": colour},
                boxprops={"color": colour},
            )
            ax.scatter(own, y + jitter, s=18, color=colour, zorder=3)
    axes[0].set_yticks(positions, table["variant"].tolist())
    _xlabel(axes[main_index(ranges)], f"{comparison.metric} per seed ({direction(comparison)})", fontsize=9)
    axes[0].set_title(f"{comparison.study}: distribution across seeds", loc="left")
    _legend(figure, axes)
    return _save(figure, path)


def plot_curves(comparison: StudyComparison, curves: pd.DataFrame, path: Path) -> Path | None:
    """Mean validation curves per variant (band: ± std over seeds); None when no run logged any."""
    if curves.empty:
        return None
    metrics = [m for m in (comparison.curve_metric, "val/loss") if m in set(curves["metric"])]
    if not metrics:
        return None
    from matplotlib.ticker import MaxNLocator

    figure = _figure(6 * len(metrics), 4.4)
    axes = figure.subplots(1, len(metrics), squeeze=False)[0]
    colours = _colours(comparison.table["variant"].tolist(), comparison.baseline)
    for ax, metric in zip(axes, metrics):
        _curve_limits(ax, curves[curves["metric"] == metric])
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


def _curve_limits(ax, curves: pd.DataFrame) -> None:
    """y limits that hold the bulk of the variants' final values and their paths: one collapsed
    variant's curve runs off the top or bottom instead of squashing the others."""
    if curves.empty:
        return
    last = curves.sort_values("epoch").groupby("variant")["mean"].last()
    ranges = panels(last.tolist(), [math.nan] * len(last))
    if len(ranges) == 1:
        return
    main = ranges[1] if len(ranges) == 3 else max(ranges, key=lambda r: sum(r[0] <= v <= r[1] for v in last))
    kept = curves[curves["variant"].isin(last[(last >= main[0]) & (last <= main[1])].index)]["mean"]
    pad = 0.05 * (kept.max() - kept.min() or 1)
    ax.set_ylim(kept.min() - pad, kept.max() + pad)
    ax.set_title("(variants off the scale run past the edge)", fontsize=7, loc="right")


def _colours(variants: list[str], baseline: str) -> dict[str, str]:
    from matplotlib import colormaps

    palette = colormaps["tab10"].colors
    others = [v for v in variants if v != baseline]
    colours = {baseline: BASELINE_COLOUR}
    colours.update({v: palette[i % len(palette)] for i, v in enumerate(others)})
    return colours


# (column, axis label, log scale): what a variant costs, deterministic first.
COST_AXES = (
    ("flops", "FLOPs per sample (flop_counter)", True),
    ("latency_ms_per_sample", "latency per sample (ms, median)", True),
    ("train_s", "train time (s, wall clock)", False),
)


def _quality_range(table: pd.DataFrame, refs: pd.DataFrame) -> tuple[float, float]:
    """The y range of the bulk of the variants (and references near them): the main panel's range."""
    ranges = panels(
        table["mean"].tolist(),
        _halves(table, "ci_low", "ci_high", "mean"),
        refs["value"].tolist() if len(refs) else [],
    )
    return (
        ranges[1]
        if len(ranges) == 3
        else max(ranges, key=lambda r: sum(1 for m in table["mean"] if r[0] <= m <= r[1]))
    )


def plot_cost_quality(comparison: StudyComparison, path: Path) -> Path | None:
    """Quality against each recorded cost per variant (FLOPs, latency, train time), the references as
    horizontal lines. A variant off the quality scale of the others is drawn at the edge with a
    triangle and its value in its label; labels are moved apart (adjustText)."""
    table = comparison.table[comparison.table["n"] > 0]
    axes_spec = [a for a in COST_AXES if a[0] in table and table[a[0]].notna().any()]
    if table.empty or not axes_spec:
        return None
    refs = comparison.references
    low, high = _quality_range(table, refs)
    figure = _figure(4.2 * len(axes_spec) + 0.5, 4.6)
    axes = figure.subplots(1, len(axes_spec), squeeze=False, sharey=True)[0]
    colours = _colours(comparison.table["variant"].tolist(), comparison.baseline)
    for ax, (column, label, log) in zip(axes, axes_spec):
        texts = []
        for row in table.itertuples():
            x = getattr(row, column)
            if math.isnan(x):
                continue
            y, marker, name = row.mean, "o", row.variant
            if not low <= y <= high:  # off the scale of the others: at the edge, its value in the label
                y, marker = (low, "v") if row.mean < low else (high, "^")
                name = f"{row.variant} ({row.mean:.3g}, off scale)"
            error = (
                None
                if math.isnan(row.ci_low) or marker != "o"
                else [[row.mean - row.ci_low], [row.ci_high - row.mean]]
            )
            ax.errorbar(x, y, yerr=error, fmt=marker, color=colours[row.variant], capsize=3, clip_on=False)
            texts.append(ax.text(x, y, name, fontsize=7))
        for ref in refs.itertuples():
            if low <= ref.value <= high:
                style = REFERENCE_STYLE.get(ref.kind, REFERENCE_STYLE["floor"])
                ax.axhline(
                    ref.value, linewidth=1.1, label=f"{ref.kind}: {ref.name} ({ref.value:.4g})", **style
                )
        if log and (table[column] > 0).all():
            ax.set_xscale("log")
        ax.set_ylim(low, high)
        ax.margins(x=0.15)
        ax.set_xlabel(label, fontsize=8)
        spread_labels(ax, texts)
    axes[0].set_ylabel(f"{comparison.metric} ({direction(comparison)})")
    figure.suptitle(f"{comparison.study}: cost against quality", fontsize=10)
    _legend(figure, list(axes))
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
