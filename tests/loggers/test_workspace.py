"""`ablab-dashboard`: the W&B workspace of a real tiny study, built offline. Its panels, the keys they
name (each one occurs in the study's offline .wandb files), the grouping by variant and the run filters.
Saving to a W&B server is not tested here (no server can be reached)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ablab.lightning.loggers.wandb_file import find_runs, read_run
from ablab.lightning.loggers.workspace import (
    COST_PANELS,
    RunKeys,
    StudyDashboard,
    build_workspace,
    keys_of,
    panels_of,
    specification,
)
from tests.conftest import find_records, run_cli

DASHBOARD = [sys.executable, "-m", "ablab.cli.dashboard"]


@pytest.fixture(scope="module")
def dashboard(tiny_wandb_study: Path) -> dict:
    proc = run_cli([str(tiny_wandb_study)], program=DASHBOARD)
    path = tiny_wandb_study / "report" / "wandb_workspace.json"
    runs = [read_run(folder) for r in find_records(tiny_wandb_study) for folder in find_runs(r["_dir"])]
    return {"proc": proc, "view": json.loads(path.read_text()), "runs": runs, "keys": keys_of(runs)}


def _panels(view: dict, section: str) -> list[dict]:
    return [p for p in panels_of(view) if p["section"] == section]


def test_the_compared_metric_is_bars_per_variant_with_error_bars_over_seeds_and_the_baseline_marked(
    dashboard,
) -> None:
    bar = _panels(dashboard["view"], "compared metric")[0]
    assert bar["viewType"] == "Bar Chart"
    assert bar["config"]["metrics"] == ["test/f1_weighted"]
    assert (bar["config"]["groupBy"], bar["config"]["groupAgg"], bar["config"]["groupArea"]) == (
        "variant.value",
        "mean",
        "stddev",
    )
    assert "baseline baseline in black" in bar["config"]["chartTitle"]
    runset = dashboard["view"]["spec"]["section"]["runSets"][0]
    colours = dashboard["view"]["spec"]["section"]["customRunColors"]
    assert list(colours.values()) == ["#000000"] and "baseline" in next(iter(colours))
    # W&B's baseline run is the baseline's first seed, by the id its offline run file holds.
    (first,) = [r for r in dashboard["runs"] if r.config["variant"] == "baseline" and r.config["seed"] == 1]
    from wandb_workspaces.workspaces.interface import _decode_run_gid

    assert _decode_run_gid(runset["baselineRunId"]) == first.run_id


def test_runs_are_the_studys_group_without_the_report_grouped_by_variant_never_by_seed(dashboard) -> None:
    runset = dashboard["view"]["spec"]["section"]["runSets"][0]
    assert runset["grouping"] == [{"section": "config", "name": "variant.value"}]
    filters = {(f["key"]["name"], f["op"], f["value"]) for f in runset["filters"]["filters"]}
    assert filters == {("group", "=", "tiny_wandb"), ("jobType", "!=", "report")}
    assert {r.group for r in dashboard["runs"]} == {"tiny_wandb"}
    for panel in panels_of(dashboard["view"]):
        assert "seed" not in json.dumps(panel["config"].get("groupBy", ""))


def test_every_panel_names_keys_that_occur_in_the_runs_offline_files(dashboard) -> None:
    keys: RunKeys = dashboard["keys"]
    curves = _panels(dashboard["view"], "validation curves")
    assert curves[0]["config"]["metrics"] == ["val/f1_weighted"]  # the compared metric first
    assert {m for p in curves for m in p["config"]["metrics"]} == {
        k for k in keys.history if k.startswith("val/")
    }
    assert all(p["config"]["xAxis"] == "epoch" and p["config"]["groupArea"] == "stddev" for p in curves)
    costs = {m for p in _panels(dashboard["view"], "cost") for m in p["config"]["metrics"]}
    assert costs == {k for k, _ in COST_PANELS if k in keys.summary}
    assert {
        "cost/train_s",
        "cost/process_rss_gb",
    } <= costs  # a CPU run records both; FLOPs only where recorded
    system = [m for p in _panels(dashboard["view"], "system") for m in p["config"]["metrics"]]
    ours = [m for m in system if m in keys.history]
    theirs = [m.removeprefix("system/") for m in system if m not in keys.history]
    assert sorted(ours) == sorted(k for k in keys.history if k.startswith("system/")) and ours
    assert set(theirs) <= keys.stats
    assert not any(k.startswith("gpu.") for k in keys.stats)  # no GPU here: no gpu.* panel either


def test_the_parallel_coordinates_cover_the_choices_that_vary_and_end_in_the_metric(dashboard) -> None:
    (panel,) = _panels(dashboard["view"], "choices")
    accessors = [c["accessor"] for c in panel["config"]["columns"]]
    # The ablation (and the attention option it changes) varies; every other choice is shared.
    assert accessors == [
        "config:hydra_choices.value.ablation",
        "config:hydra_choices.value.model/attention",
        "summary:test/f1_weighted",
    ]
    assert {"hydra_choices.ablation", "hydra_choices.model/attention"} <= dashboard["keys"].config


def test_offline_it_writes_the_specification_says_how_to_publish_and_running_again_changes_nothing(
    dashboard, tiny_wandb_study
) -> None:
    out = dashboard["proc"].stdout
    count = len(panels_of(dashboard["view"]))
    assert f"{count} panels in 5 sections over the 4 W&B runs of group tiny_wandb" in out
    assert "to publish it: `wandb login`" in out and "--online" in out
    run_cli([str(tiny_wandb_study)], program=DASHBOARD)
    again = json.loads((tiny_wandb_study / "report" / "wandb_workspace.json").read_text())

    def without_ids(view: dict) -> str:
        text = json.dumps(view, sort_keys=True)
        for panel in panels_of(view):
            text = text.replace(panel["__id__"], "")
        return text.replace(view["spec"]["section"]["runSets"][0]["id"], "")

    assert without_ids(again) == without_ids(dashboard["view"])
    # The view W&B would store loads back into a workspace.
    import wandb_workspaces.workspaces as ws
    from wandb_workspaces.workspaces.internal import View

    loaded = ws.Workspace._from_model(View.model_validate(again))
    assert loaded.name == "ablab: tiny_wandb" and [s.name for s in loaded.sections] == [
        "compared metric",
        "validation curves",
        "choices",
        "cost",
        "system",
    ]


def test_gpu_runs_get_wandbs_gpu_panels_and_a_flops_panel_when_recorded() -> None:
    """The GPU and FLOPs paths with the key names W&B and ablab write there (no GPU here to make them)."""
    keys = RunKeys(
        history=frozenset({"epoch", "val/acc", "system/gpu0_util_pct", "system/cuda_max_allocated_gb"}),
        summary=frozenset({"test/acc", "cost/train_s", "cost/flops"}),
        stats=frozenset({"gpu.0.gpu", "gpu.0.memoryAllocated", "gpu.1.gpu", "disk.in"}),
    )
    spec = StudyDashboard("s", "ablab", None, "test/acc", "max", "baseline", keys)
    view = specification(build_workspace(spec))
    metrics = {p["section"]: set() for p in panels_of(view)}
    for panel in panels_of(view):
        metrics[panel["section"]] |= set(panel["config"].get("metrics") or [])
    assert metrics["cost"] == {"cost/train_s", "cost/flops"}
    assert metrics["system"] == {
        "system/gpu0_util_pct",
        "system/cuda_max_allocated_gb",
        "system/gpu.0.gpu",
        "system/gpu.0.memoryAllocated",
        "system/gpu.1.gpu",
    }


def test_a_study_without_wandb_runs_is_one_error_line(tmp_path) -> None:
    proc = run_cli([str(tmp_path)], program=DASHBOARD, check=False)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and len(proc.stderr.splitlines()) == 1
