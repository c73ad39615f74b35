"""How each searched or ablated axis moves the metric, as Ablator plots it: for every axis of a study
(its `study.json` axes and a search's parameters; seeds are replicates, not an axis) the compared
metric against the axis value. A categorical axis gets a violin of its runs with each configuration's
mean over seeds on top; a numeric one a regression plot of the configurations' means (log x for an
axis searched on a log scale). Seeds are grouped: a point is one configuration, averaged over seeds.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from ablab.analysis.aggregate import StudyComparison
from ablab.analysis.tables import direction
from ablab.runs.records import RESULTS_FILE, CorruptRecord, read_record

REPLICATES = ("seed",)
_GROUPS = ("ablation", "experiment")


def study_folder(comparison: StudyComparison) -> Path | None:
    """The study folder its runs live in (`<study>/<variant>/<run>`)."""
    paths = [Path(p) for p in comparison.runs["path"]]
    return paths[0].parent.parent if paths else None


def axis_value(record: dict[str, Any], key: str) -> str | None:
    """What a run set `key` to: its group choice, else the last override of it, as typed."""
    from ablab.runs.identity import override_key

    if "/" in key or key in _GROUPS:
        value = (record.get("choices") or {}).get(key)
        if value is not None:
            return str(value)
    found = None
    for override in record.get("overrides") or []:
        if override_key(override) == key.lstrip("+"):
            found = override.split("=", 1)[1]
    return found


def study_axes(folder: Path | None) -> tuple[list[str], set[str]]:
    """The axes of the study in `folder` and those searched on a log scale."""
    import json

    from ablab.runs.study import read_study_file

    if folder is None:
        return [], set()
    axes = [k for k in (read_study_file(folder) or {}).get("axes", {}) if k not in REPLICATES]
    logs: set[str] = set()
    try:
        space = json.loads((folder / "search.json").read_text()).get("space", {})
    except (OSError, ValueError):
        space = {}
    for key, text in space.items():
        axes += [key] if key not in axes else []
        if json.loads(text).get("attributes", {}).get("log"):
            logs.add(key)
    return axes, logs


def axis_frame(comparison: StudyComparison) -> pd.DataFrame:
    """One row per averaged run: variant, seed, value and each axis's value (as text)."""
    axes, _ = study_axes(study_folder(comparison))
    rows = []
    for row in comparison.runs[comparison.runs["included"]].itertuples():
        try:
            record = read_record(Path(row.path) / RESULTS_FILE)
        except CorruptRecord:
            continue
        rows.append({"variant": row.variant, "seed": row.seed, "value": row.value,
                     **{axis: axis_value(record, axis) for axis in axes}})  # fmt: skip
    return pd.DataFrame(rows, columns=["variant", "seed", "value", *axes])


def _numeric(values: pd.Series) -> pd.Series | None:
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.isna().any() or values.isin(["true", "false", "True", "False"]).any():
        return None
    return numbers if numbers.nunique() >= 3 else None


def plot_axis(frame: pd.DataFrame, axis: str, log: bool, comparison: StudyComparison, path: Path) -> Path:
    """The metric against one axis: violin and configuration means, or a regression of the means."""
    import seaborn as sns

    from ablab.analysis.plots import _figure, _save

    data = frame.dropna(subset=[axis])
    means = data.groupby(["variant", axis], as_index=False)["value"].mean()
    seeds = data.groupby("variant")["seed"].nunique().max()
    figure = _figure(7, 4.2)
    ax = figure.add_subplot()
    numbers = _numeric(means[axis])
    if numbers is not None:
        means = means.assign(x=numbers)
        sns.regplot(
            data=means, x="x", y="value", ax=ax, logx=log, ci=95, scatter_kws={"s": 28}, n_boot=500, seed=0
        )
        if log:
            ax.set_xscale("log")
        ax.set_xlabel(f"{axis} (log scale)" if log else axis)
    else:
        order = sorted(data[axis].unique(), key=str)
        sns.violinplot(data=data, x=axis, y="value", order=order, ax=ax, inner=None, cut=0, color="#dde5f0")
        sns.stripplot(data=means, x=axis, y="value", order=order, ax=ax, color="black", marker="D", size=5)
        ax.tick_params(axis="x", labelrotation=30 if len(order) > 4 else 0)
    ax.set_ylabel(f"{comparison.metric} ({direction(comparison)})")
    ax.set_title(
        f"{comparison.study}: {comparison.metric} by {axis} (a point: one config, mean of {seeds} seed(s))"
    )
    return _save(figure, path)


def write_axis_plots(comparison: StudyComparison, out_dir: Path) -> list[Path]:
    """`axis_<key>.png` for every axis whose completed runs take two values or more."""
    frame = axis_frame(comparison)
    _, logs = study_axes(study_folder(comparison))
    written = []
    for axis in frame.columns[3:]:
        if frame[axis].dropna().nunique() < 2 or math.isnan(frame["value"].mean()):
            continue
        name = "axis_" + "".join(c if c.isalnum() else "_" for c in axis) + ".png"
        written.append(plot_axis(frame, axis, axis in logs, comparison, out_dir / name))
    return written
