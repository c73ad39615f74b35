"""A W&B workspace made for one ablation study (`ablab-dashboard`), built with `wandb-workspaces`.

W&B's default workspace plots each run's raw curves and knows nothing of variants, seeds or baselines.
This one shows the runs of the study's group (the report run left out), grouped by variant and never by
seed: the compared test metric per variant as bars with the mean and the standard deviation over seeds,
the baseline marked (its group coloured black, its first seed W&B's baseline run, its name in the
title); the validation curves per variant with the seeds as the spread; a parallel-coordinates panel
over the study's group choices and swept keys ending in the metric; the cost panels (train time, peak
memory, FLOPs, parameters, inference time: those the runs recorded); and the system panels, ablab's
`system/*` keys and W&B's own `gpu.*` (GPU runs) and process memory. Every panel names only keys that
occur in the study's W&B run files, so nothing is left empty.

Offline the workspace is a specification (the JSON of the view W&B would store); `save_workspace`
publishes it to a W&B server and, given the URL it saved before, updates that same view. Imports
wandb_workspaces (and through it wandb) only inside these functions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ablab.lightning.loggers.wandb_file import OfflineRun

BASELINE_COLOUR = "#000000"
# Cost keys a record may hold, in the order their panels appear, with the label each panel gets.
COST_PANELS = (
    ("cost/train_s", "train time (s)"),
    ("cost/flops", "FLOPs per sample"),
    ("cost/params_m", "parameters (M)"),
    ("cost/latency_ms", "latency (ms per batch, median)"),
    ("cost/latency_ms_per_sample", "latency (ms per sample, median)"),
    ("cost/model_mem_mb", "the model's memory (MB)"),
    ("cost/process_rss_gb", "process peak RSS (GB)"),
)
# W&B's own system metrics worth a panel: every per-GPU figure, and the process's memory and CPU.
WANDB_SYSTEM = re.compile(r"^(gpu\.\d+\.\w+|proc\.memory\.rssMB|cpu)$")
SYSTEM_X = "RelativeTime(Process)"  # system metrics have no training step


@dataclass(frozen=True)
class RunKeys:
    """The keys the study's W&B run files hold: history, summary, system stats, config (flattened)."""

    history: frozenset[str] = frozenset()
    summary: frozenset[str] = frozenset()
    stats: frozenset[str] = frozenset()
    config: frozenset[str] = frozenset()


def _flat(config: dict[str, Any], prefix: str = "") -> Iterable[str]:
    for key, value in config.items():
        name = f"{prefix}{key}"
        yield name
        if isinstance(value, dict):
            yield from _flat(value, name + ".")


def keys_of(runs: Iterable[OfflineRun]) -> RunKeys:
    """Every key that occurs in any of the runs."""
    history: set[str] = set()
    summary: set[str] = set()
    stats: set[str] = set()
    config: set[str] = set()
    for run in runs:
        for row in run.history:
            history |= set(row)
        summary |= set(run.summary)
        for row in run.stats:
            stats |= set(row)
        config |= set(_flat(run.config))
    return RunKeys(frozenset(history), frozenset(summary), frozenset(stats), frozenset(config))


@dataclass
class StudyDashboard:
    """What the workspace of one study is built from (gathered by `ablab.cli.dashboard`)."""

    study: str
    project: str
    entity: str | None
    metric: str  # the compared record key, `test/<name>`
    mode: str
    baseline: str | None
    keys: RunKeys
    choices: list[str] = field(default_factory=list)  # group choices that vary (`model/attention`)
    swept: list[str] = field(default_factory=list)  # swept value keys (`model.hidden_size`)
    baseline_run_id: str | None = None

    @property
    def name(self) -> str:
        """The workspace's name, which is also how a later run finds the view to update."""
        return f"ablab: {self.study}"


def _by_variant(**extra: Any) -> dict[str, Any]:
    """Runs grouped by variant, the mean over seeds and their standard deviation as the spread."""
    import wandb_workspaces.reports.v2 as wr

    return {
        "groupby": wr.Config("variant"),
        "groupby_aggfunc": "mean",
        "groupby_rangefunc": "stddev",
        **extra,
    }


def _compared(spec: StudyDashboard) -> list[Any]:
    import wandb_workspaces.reports.v2 as wr

    better = "lower" if spec.mode == "min" else "higher"
    marked = f"; baseline {spec.baseline} in black" if spec.baseline else ""
    panels = [
        wr.BarPlot(
            title=f"{spec.metric} per variant: mean ± std over seeds ({better} is better{marked})",
            metrics=[spec.metric],
            orientation="v",
            **_by_variant(),
        )
    ]
    val = "val/" + spec.metric.split("/", 1)[-1]
    if val in spec.keys.summary:
        panels.append(
            wr.BarPlot(
                title=f"best {val} per variant: mean ± std over seeds",
                metrics=[val],
                orientation="v",
                **_by_variant(),
            )
        )
    return panels


def _curves(spec: StudyDashboard) -> list[Any]:
    import wandb_workspaces.reports.v2 as wr

    x = "epoch" if "epoch" in spec.keys.history else "Step"
    first = "val/" + spec.metric.split("/", 1)[-1]
    keys = sorted(k for k in spec.keys.history if k.startswith("val/"))
    keys.sort(key=lambda k: k != first)
    return [
        wr.LinePlot(title=f"{key} per variant (mean, ± std over seeds)", x=x, y=[key], **_by_variant())
        for key in keys
    ]


def _choices(spec: StudyDashboard) -> list[Any]:
    import wandb_workspaces.reports.v2 as wr

    columns = [f"hydra_choices.{c}" for c in spec.choices if f"hydra_choices.{c}" in spec.keys.config]
    columns += [k for k in spec.swept if k in spec.keys.config and k not in columns]
    if not columns:
        return []
    axes = [
        wr.ParallelCoordinatesPlotColumn(metric=wr.Config(c), display_name=c.split(".", 1)[-1])
        for c in columns
    ]
    axes.append(
        wr.ParallelCoordinatesPlotColumn(metric=wr.SummaryMetric(spec.metric), display_name=spec.metric)
    )
    return [wr.ParallelCoordinatesPlot(title=f"choices → {spec.metric}", columns=axes)]


def _costs(spec: StudyDashboard) -> list[Any]:
    import wandb_workspaces.reports.v2 as wr

    return [
        wr.BarPlot(
            title=f"{label} per variant: mean ± std over seeds",
            metrics=[key],
            orientation="v",
            **_by_variant(),
        )
        for key, label in COST_PANELS
        if key in spec.keys.summary
    ]


def _system(spec: StudyDashboard) -> list[Any]:
    import wandb_workspaces.reports.v2 as wr

    ours = [
        wr.LinePlot(title=f"{key} per variant", x="Step", y=[key], **_by_variant())
        for key in sorted(k for k in spec.keys.history if k.startswith("system/"))
    ]
    # W&B shows its own system metrics under `system/<name>` (`system/gpu.0.gpu`).
    theirs = [
        wr.LinePlot(title=f"W&B {key} per variant", x=SYSTEM_X, y=[f"system/{key}"], **_by_variant())
        for key in sorted(k for k in spec.keys.stats if WANDB_SYSTEM.match(k))
    ]
    return ours + theirs


def build_workspace(spec: StudyDashboard) -> Any:
    """The study's `wandb_workspaces.workspaces.Workspace` (nothing is sent anywhere)."""
    import wandb_workspaces.workspaces as ws
    from wandb_workspaces import expr

    sections = [
        ("compared metric", _compared(spec)),
        ("validation curves", _curves(spec)),
        ("choices", _choices(spec)),
        ("cost", _costs(spec)),
        ("system", _system(spec)),
    ]
    runset = ws.RunsetSettings(
        filters=[expr.Metric("Group") == spec.study, expr.Metric("JobType") != "report"],
        groupby=[expr.Config("variant")],
        group_colors={spec.baseline: BASELINE_COLOUR} if spec.baseline else {},
        baseline_run=spec.baseline_run_id,
    )
    return ws.Workspace(
        entity=spec.entity or "",
        project=spec.project,
        name=spec.name,
        sections=[ws.Section(name=n, panels=p, is_open=True) for n, p in sections if p],
        settings=ws.WorkspaceSettings(x_axis="Step", max_runs=100),
        runset_settings=runset,
    )


def specification(workspace: Any) -> dict[str, Any]:
    """The view W&B stores for this workspace, as JSON-ready data (`Workspace._to_model()`:
    ablab.patches)."""
    return workspace._to_model().model_dump(mode="json", by_alias=True, exclude_none=True)


def panels_of(spec_json: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel of a specification, each with its section's name under `section`."""
    sections = spec_json["spec"]["section"]["panelBankConfig"]["sections"]
    return [{**panel, "section": s["name"]} for s in sections for panel in s["panels"]]


def save_workspace(workspace: Any, saved_url: str | None) -> str:
    """Publish the workspace (needs `wandb login`); update the view at `saved_url` when there is one,
    so running again changes that view instead of adding another. Returns the view's URL."""
    import wandb
    import wandb_workspaces.workspaces as ws

    if not workspace.entity:  # offline runs name no entity: the logged-in user's default one
        workspace.entity = wandb.Api().default_entity
    if saved_url:
        try:
            existing = ws.Workspace.from_url(saved_url)
        except Exception:  # deleted or not readable: save a new view
            existing = None
        if existing is not None:
            existing.name = workspace.name
            existing.sections = workspace.sections
            existing.settings = workspace.settings
            existing.runset_settings = workspace.runset_settings
            return str(existing.save().url)
    return str(workspace.save().url)


def saved_url_of(path: Path) -> str | None:
    """The URL a previous `ablab-dashboard` saved the view at (the `url` field of its JSON)."""
    import json

    try:
        return json.loads(path.read_text()).get("url")
    except (OSError, ValueError, AttributeError):
        return None
