"""The search part of the report on synthetic trials with a known answer: the metric against each
axis (seeds grouped), fANOVA importances that rank the parameter the metric depends on first, and the
Pareto front as the non-dominated trials, found here by brute force."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from ablab.analysis import load_study
from ablab.analysis.axes import axis_frame, write_axis_plots
from ablab.analysis.search import search_report, write_search
from ablab.runs.records import RESULTS_FILE, write_json_atomic
from tests.analysis.conftest import make_record, run_dir_of

LRS = (1e-4, 1e-3, 1e-2, 1e-1)
ACTS = ("relu", "tanh")
PARAMS_M = {1e-4: 0.4, 1e-3: 0.9, 1e-2: 0.3, 1e-1: 0.6}  # cost/params_m, chosen so the front is mixed


def _value(lr: float, act: str, seed: int) -> float:
    """test/f1: driven by lr (best at 1e-2), barely by the activation, a little seed noise."""
    return 0.8 - 0.1 * abs(math.log10(lr) + 2) + (0.002 if act == "tanh" else 0.0) + 0.001 * seed


@pytest.fixture
def searched(tmp_path: Path) -> Path:
    """Eight trials (4 lr x 2 activations), two seeds each, and the search.json a search leaves."""
    import optuna

    study = tmp_path / "logs" / "toy"
    number = 0
    for lr in LRS:
        for act in ACTS:
            for seed in (1, 2):
                record = make_record(
                    variant=f"lr{lr:g}-{act}",
                    seed=seed,
                    value=_value(lr, act, seed),
                    config=f"{lr}-{act}",
                    cost={"cost/train_s": 1.0, "cost/process_rss_gb": 0.1, "cost/params_m": PARAMS_M[lr],
                          "cost/latency_ms": 1.0},
                )  # fmt: skip
                record["overrides"] = [f"model.lr={lr}", f"model.act={act}", f"seed={seed}"]
                record["trial"] = {"number": number}
                number += 1
                write_json_atomic(run_dir_of(tmp_path / "logs", record) / RESULTS_FILE, record)
    space = {
        "model.lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True),
        "model.act": optuna.distributions.CategoricalDistribution(ACTS),
    }
    (study / "search.json").write_text(
        json.dumps({
            "objectives": ["val/f1_weighted", "cost/params_m"],
            "directions": ["maximize", "minimize"],
            "space": {k: optuna.distributions.distribution_to_json(d) for k, d in space.items()},
        })
    )  # fmt: skip
    return study


def test_each_axis_is_the_metric_against_its_value_with_seeds_grouped(searched, tmp_path) -> None:
    comparison = load_study(searched)
    frame = axis_frame(comparison)
    assert set(frame.columns[3:]) == {"model.lr", "model.act"}
    assert len(frame) == 16 and set(frame["model.act"]) == set(ACTS)
    means = frame.groupby(["variant", "model.lr"])["value"].mean()
    assert len(means) == 8  # one point per configuration: its two seeds averaged
    written = write_axis_plots(comparison, tmp_path / "out")
    assert sorted(p.name for p in written) == ["axis_model_act.png", "axis_model_lr.png"]
    assert all(p.stat().st_size > 0 for p in written)


def test_importances_rank_the_parameter_the_metric_depends_on_first(searched) -> None:
    report = search_report(load_study(searched))
    assert report is not None and not report.warnings
    shares = report.importances["val/f1_weighted"]
    assert max(shares, key=shares.get) == "model.lr" and shares["model.lr"] > 0.9
    assert math.isclose(sum(shares.values()), 1.0, abs_tol=1e-6)
    costs = report.importances["cost/params_m"]
    assert max(costs, key=costs.get) == "model.lr"  # params_m is lr's alone


def test_the_front_is_exactly_the_non_dominated_trials_and_the_report_lists_them(searched, tmp_path) -> None:
    report = search_report(load_study(searched))
    runs = report.runs
    points = list(zip(runs["val/f1_weighted"], runs["cost/params_m"]))

    def dominated(f1: float, params: float) -> bool:
        return any(g >= f1 and p <= params and (g, p) != (f1, params) for g, p in points)

    expected = {int(t) for t, point in zip(runs["trial"], points) if not dominated(*point)}
    assert set(report.front["trial"].astype(int)) == expected and expected
    files, html = write_search(load_study(searched), tmp_path)
    assert {p.name for p in files} == {"param_importances.png", "pareto_front.png", "pareto_front.csv"}
    listed = (tmp_path / "pareto_front.csv").read_text().splitlines()
    assert len(listed) == len(expected) + 1 and f"Pareto front: {len(expected)} trial(s)" in html
