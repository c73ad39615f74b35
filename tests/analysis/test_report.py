"""The report on synthetic run folders: grouping, statistics in the table, bad input, outputs."""

from __future__ import annotations

import csv
import math
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats as scipy_stats

from ablab.analysis import load_studies, load_study, read_curves
from ablab.cli.report import main
from ablab.errors import DataError
from tests.conftest import cli_env

BASE = {1: 0.80, 2: 0.82, 3: 0.79}
PAIRED = {1: 0.86, 2: 0.875, 3: 0.851}  # the baseline's seeds: paired test
OTHER_SEEDS = {4: 0.70, 5: 0.90, 6: 0.81}  # seeds the baseline did not run: Welch only


@pytest.fixture
def study(make_run, tmp_path) -> Path:
    """A study with a paired variant, a Welch-only variant, a failed one, a diverged one, a running one."""
    for seed, value in BASE.items():
        make_run(variant="baseline", seed=seed, value=value)
    for seed, value in PAIRED.items():
        make_run(
            variant="wider",
            seed=seed,
            value=value,
            cost={
                "cost/train_s": 15.0,
                "cost/model_mem_mb": 1.5,
                "cost/params_m": 1.0,
                "cost/latency_ms": 3.0,
                "cost/flops": 2000.0,
            },
        )
    for seed, value in OTHER_SEEDS.items():
        make_run(variant="relu", seed=seed, value=value)
    make_run(variant="relu", seed=7, status="failed", reason="RuntimeError: CUDA out of memory")
    make_run(variant="no_norm", seed=1, status="diverged", reason="RunDiverged: loss is nan at step 12")
    make_run(variant="no_norm", seed=2, status="diverged", reason="RunDiverged: loss is inf at step 3")
    make_run(variant="deeper", seed=1, value=0.83)
    make_run(variant="deeper", seed=2, status="running")
    return tmp_path / "logs" / "toy"


def _row(table: pd.DataFrame, variant: str) -> pd.Series:
    return table.set_index("variant").loc[variant]


def test_variants_are_aggregated_over_seeds_with_scipy_statistics(study) -> None:
    comparison = load_study(study, warn=lambda _: None)
    table = comparison.table
    assert comparison.baseline == "baseline" and comparison.metric == "test/f1_weighted"
    assert table["variant"].tolist() == ["baseline", "deeper", "no_norm", "relu", "wider"]
    base, wider, relu = (_row(table, v) for v in ("baseline", "wider", "relu"))
    b, w, r = list(BASE.values()), list(PAIRED.values()), list(OTHER_SEEDS.values())

    assert base["n"] == 3 and base["mean"] == pytest.approx(sum(b) / 3)
    assert base["std"] == pytest.approx(pd.Series(b).std(ddof=1))
    low, high = scipy_stats.t.interval(0.95, 2, loc=sum(b) / 3, scale=scipy_stats.sem(b))
    assert (base["ci_low"], base["ci_high"]) == pytest.approx((low, high))

    assert wider["delta"] == pytest.approx(sum(w) / 3 - sum(b) / 3)
    assert wider["delta_pct"] == pytest.approx(100 * (sum(w) / 3 - sum(b) / 3) / (sum(b) / 3))
    assert wider["test"] == "paired"
    assert wider["p_paired"] == pytest.approx(scipy_stats.ttest_rel(w, b).pvalue)
    assert wider["p_welch"] == pytest.approx(scipy_stats.ttest_ind(w, b, equal_var=False).pvalue)
    assert relu["test"] == "welch" and math.isnan(relu["p_paired"])
    assert relu["p_welch"] == pytest.approx(scipy_stats.ttest_ind(r, b, equal_var=False).pvalue)

    # Holm over the two defined comparisons (deeper has n=1, no_norm none): m = 2
    p_small, p_large = sorted([wider["p_paired"], relu["p_welch"]])
    assert wider["p_holm"] == pytest.approx(2 * p_small)
    assert relu["p_holm"] == pytest.approx(max(2 * p_small, p_large))
    assert bool(wider["significant"]) and bool(wider["better"]) and not relu["significant"]

    assert wider["train_s"] == 15.0 and wider["train_s_delta"] == 5.0
    assert wider["train_s_delta_pct"] == pytest.approx(50.0)
    assert wider["model_mem_mb_delta_pct"] == pytest.approx(50.0)
    assert wider["params_m_delta_pct"] == pytest.approx(100.0)
    assert wider["latency_ms_delta_pct"] == pytest.approx(50.0)
    assert wider["flops_delta_pct"] == pytest.approx(100.0)
    # costs that do not vary over seeds have a point interval; the quality interval is the paired one
    assert (wider["flops_delta_pct_low"], wider["flops_delta_pct_high"]) == (100.0, 100.0)
    d = [w - b_ for w, b_ in zip(w, b)]
    low, high = scipy_stats.t.interval(0.95, 2, loc=sum(d) / 3, scale=scipy_stats.sem(d))
    assert (wider["delta_ci_low"], wider["delta_ci_high"]) == pytest.approx((low, high))


def test_failed_diverged_and_running_runs_are_listed_with_reason_not_averaged(study) -> None:
    comparison = load_study(study, warn=lambda _: None)
    relu, no_norm, deeper = (_row(comparison.table, v) for v in ("relu", "no_norm", "deeper"))
    assert relu["n"] == 3 and relu["n_runs"] == 4 and relu["status"] == "3 completed, 1 failed"
    assert relu["mean"] == pytest.approx(sum(OTHER_SEEDS.values()) / 3)
    assert "seed 7 failed: RuntimeError: CUDA out of memory" in relu["excluded"]
    assert no_norm["n"] == 0 and math.isnan(no_norm["mean"]) and no_norm["status"] == "2 diverged"
    assert "loss is nan at step 12" in no_norm["excluded"] and "loss is inf at step 3" in no_norm["excluded"]
    assert "no completed runs" in no_norm["notes"]
    assert deeper["n"] == 1 and deeper["status"] == "1 completed, 1 running"
    assert "seed 2 running" in deeper["excluded"]
    assert math.isnan(deeper["p_value"])  # one seed: no test


def test_cli_writes_every_output_and_marks_significance_and_small_n(study, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert main([str(study), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    names = {p.name for p in out.iterdir()}
    assert {
        "comparison_table.csv",
        "comparison_table.md",
        "report.html",
        "runs.csv",
        "metric_by_variant.png",
        "delta_vs_baseline.png",
        "seed_distribution.png",
        "cost_vs_quality.png",
    } <= names
    assert "val_curves.png" not in names  # synthetic runs have no csv/metrics.csv

    rows = {r["variant"]: r for r in csv.DictReader((out / "comparison_table.csv").open())}
    assert rows["wider"]["significant"] == "True" and rows["relu"]["significant"] == "False"
    assert rows["no_norm"]["n"] == "0" and rows["no_norm"]["status"] == "2 diverged"

    markdown = (out / "comparison_table.md").read_text()
    wider_line = next(line for line in markdown.splitlines() if line.startswith("| wider |"))
    assert re.search(r"\| \+0\.\d{4}\* \|", wider_line), wider_line  # significant delta marked
    assert "n<3: low power" in next(line for line in markdown.splitlines() if line.startswith("| deeper |"))
    assert "## Runs not averaged in" in markdown and "CUDA out of memory" in markdown
    assert "n < 3 completed seeds for deeper" in captured.err
    assert "wider" in captured.out and "baseline" in captured.out  # the terminal table

    html = (out / "report.html").read_text()
    images = re.findall(r'<img[^>]*src="([^"]*)"', html)
    assert len(images) == 4 and all(src.startswith("data:image/png;base64,") for src in images)
    assert "loss is nan at step 12" in html


def test_default_report_folder_is_inside_the_first_dir(study) -> None:
    assert main([str(study)]) == 0
    assert (study / "report" / "report.html").is_file()
    assert main([str(study)]) == 0  # the report folder itself is not mistaken for runs


def test_unrelated_studies_are_reported_separately(make_run, tmp_path) -> None:
    logs = tmp_path / "logs"
    for seed in (1, 2, 3):
        make_run(study="alpha", variant="baseline", seed=seed, value=0.5 + seed / 100)
        make_run(study="alpha", variant="small", seed=seed, value=0.4 + seed / 100)
        make_run(study="beta", variant="default", seed=seed, value=3.0 + seed, metric="loss", mode="min")
        make_run(
            study="beta",
            variant="model.attention=none",
            seed=seed,
            value=2.0 + seed,
            metric="loss",
            mode="min",
        )
    out = tmp_path / "out"
    assert main([str(logs), "--out", str(out)]) == 0
    alpha = pd.read_csv(out / "alpha" / "comparison_table.csv")
    beta = pd.read_csv(out / "beta" / "comparison_table.csv")
    assert alpha["variant"].tolist() == ["baseline", "small"] and set(alpha["metric"]) == {"test/f1_weighted"}
    assert beta["variant"].tolist() == ["default", "model.attention=none"]
    assert set(beta["metric"]) == {"test/loss"} and set(beta["mode"]) == {"min"}
    assert beta.set_index("variant").loc["model.attention=none", "better"]  # lower loss is better


def test_baseline_choice_default_then_alphabetical_then_flag(make_run, tmp_path) -> None:
    for seed in (1, 2):
        make_run(study="s", variant="default", seed=seed)
        make_run(study="s", variant="a_variant", seed=seed)
        make_run(study="t", variant="zeta", seed=seed)
        make_run(study="t", variant="eta", seed=seed)
    studies = {s.study: s for s in load_studies([tmp_path / "logs"], warn=lambda _: None)}
    assert studies["s"].baseline == "default"
    assert studies["t"].baseline == "eta" and "alphabetically" in studies["t"].baseline_rule
    chosen = load_study(tmp_path / "logs" / "t", baseline="zeta", warn=lambda _: None)
    assert chosen.baseline == "zeta" and chosen.table["variant"].tolist() == ["zeta", "eta"]


def test_metric_flag_compares_another_recorded_metric(make_run, tmp_path, capsys) -> None:
    for seed in (1, 2, 3):
        make_run(variant="baseline", seed=seed, extra_metrics={"test/accuracy": 0.5, "test/loss": 1.0 + seed})
        make_run(variant="other", seed=seed, extra_metrics={"test/accuracy": 0.6, "test/loss": 0.5 + seed})
    comparison = load_study(tmp_path / "logs", metric="loss", warn=lambda _: None)
    assert comparison.metric == "test/loss" and comparison.mode == "min"
    other = _row(comparison.table, "other")
    assert other["delta"] == pytest.approx(-0.5) and other["better"]
    assert main([str(tmp_path / "logs"), "--metric", "test/recall"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "has no metric test/recall" in err and "test/accuracy" in err


def _error_line(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err


def test_empty_or_missing_folder_is_one_error_line(tmp_path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert "no runs under" in _error_line([str(tmp_path / "empty")], capsys)
    assert "does not exist" in _error_line([str(tmp_path / "nowhere")], capsys)


def test_cli_process_exits_non_zero_with_one_line_for_a_folder_without_runs(tmp_path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ablab.cli.report", str(tmp_path)],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: no runs under {tmp_path}: expected <study>/<variant>/seed<seed>-<hash>/results.json; "
        "run a study first (python train.py -m sweep=hnet) or check the path"
    ]


def test_runs_of_different_primary_metrics_in_one_study_are_refused(make_run, tmp_path, capsys) -> None:
    make_run(variant="baseline", seed=1, metric="f1_weighted")
    make_run(variant="other", seed=1, metric="accuracy")
    err = _error_line([str(tmp_path / "logs")], capsys)
    assert "study 'toy' mixes primary metrics" in err and "accuracy" in err and "f1_weighted" in err


def test_unknown_baseline_is_one_error_line(make_run, tmp_path, capsys) -> None:
    make_run(variant="baseline", seed=1)
    err = _error_line([str(tmp_path / "logs"), "--baseline", "nope"], capsys)
    assert "no variant 'nope'" in err and "baseline" in err


def test_corrupt_record_is_skipped_with_one_warning_naming_it(make_run, tmp_path, capsys) -> None:
    for seed in (1, 2):
        make_run(variant="baseline", seed=seed)
    broken = make_run(variant="baseline", seed=3) / "results.json"
    broken.write_text('{"schema": 1, "status": "compl')
    assert main([str(tmp_path / "logs"), "--out", str(tmp_path / "out")]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if str(broken) in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: skipped")
    assert pd.read_csv(tmp_path / "out" / "comparison_table.csv")["n"].tolist() == [2]


def test_set_aside_attempts_and_duplicate_seeds_are_not_counted_twice(make_run, tmp_path) -> None:
    run = make_run(variant="baseline", seed=1, value=0.9)
    make_run(root=run / "previous" / "20260101-000000-failed", variant="baseline", seed=1, value=0.1)
    make_run(variant="baseline", seed=1, value=0.2, config="older defaults", status="failed")
    messages: list[str] = []
    comparison = load_study(tmp_path / "logs", warn=messages.append)
    assert comparison.table["n"].tolist() == [1] and comparison.table["mean"].tolist() == [0.9]
    assert any("seed 1 has 2 runs" in m for m in messages)


def test_curves_take_the_last_row_of_each_epoch(tmp_path) -> None:
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "metrics.csv").write_text(
        "epoch,step,train/loss_epoch,val/f1_weighted,val/loss\n"
        "0,5,,0.50,1.0\n0,5,2.0,,\n1,11,,0.60,0.9\n"
        "1,11,,0.65,0.8\n"  # the same epoch again after a resume: the later value wins
        "2,17,,0.70,0.7\n3,18,,,\n"
    )
    curves = read_curves(tmp_path)
    assert curves.index.tolist() == [0, 1, 2]
    assert curves["val/f1_weighted"].tolist() == [0.50, 0.65, 0.70]
    assert curves["val/loss"].tolist() == [1.0, 0.8, 0.7]
    assert read_curves(tmp_path / "missing").empty


def test_report_imports_neither_torch_nor_lightning_nor_wandb(study, tmp_path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "ablab.cli.report",
            str(study),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "ablab.analysis" in imported
    heavy = {
        m
        for m in imported
        if m.split(".")[0]
        in {"torch", "lightning", "wandb", "transformers", "lightning_fabric", "pytorch_lightning"}
    }
    assert not heavy, sorted(heavy)[:5]


def test_load_study_refuses_a_folder_of_several_studies_without_a_name(make_run, tmp_path) -> None:
    make_run(study="one", seed=1)
    make_run(study="two", seed=1)
    with pytest.raises(DataError, match="holds the studies one, two"):
        load_study(tmp_path / "logs", warn=lambda _: None)
    assert load_study(tmp_path / "logs", study="two", warn=lambda _: None).study == "two"


def test_constant_per_seed_difference_falls_back_to_welch(make_run, tmp_path) -> None:
    base, shifted = [0.70, 0.75, 0.72], [0.80, 0.85, 0.82]  # every seed exactly +0.10: paired t undefined
    for seed, (b, s) in enumerate(zip(base, shifted), start=1):
        make_run(variant="baseline", seed=seed, value=b)
        make_run(variant="shifted", seed=seed, value=s)
    row = _row(load_study(tmp_path / "logs", warn=lambda _: None).table, "shifted")
    assert math.isnan(row["p_paired"]) and row["test"] == "welch"
    assert row["p_value"] == pytest.approx(scipy_stats.ttest_ind(shifted, base, equal_var=False).pvalue)


def test_a_variant_identical_to_the_baseline_is_flagged(tmp_path) -> None:
    """An override on the command line can mask an ablation (hidden_32 run with model.hidden_size=16)."""
    from ablab.runs.records import RESULTS_FILE, write_json_atomic
    from tests.analysis.conftest import make_record, run_dir_of

    for variant in ("baseline", "hidden_32", "relu"):
        for seed in (1, 2, 3):
            record = make_record(variant=variant, seed=seed, value=0.8 + 0.01 * seed)
            if variant != "relu":
                record["config_hash"] = f"same{seed}"  # hidden_32 ran exactly the baseline's configs
            write_json_atomic(run_dir_of(tmp_path / "logs", record) / RESULTS_FILE, record)
    warnings: list[str] = []
    comparison = load_study(tmp_path / "logs", warn=warnings.append)
    assert "same configs as the baseline" in _row(comparison.table, "hidden_32")["notes"]
    assert "same configs" not in _row(comparison.table, "relu")["notes"]
    assert any("'hidden_32'" in w and "masks" in w for w in warnings)


def test_the_baseline_a_sweep_declared_wins_unless_it_has_no_completed_run(make_run, tmp_path) -> None:
    from ablab.runs.study import StudyPlan, write_study_file

    for seed in (1, 2):
        make_run(study="adhoc", variant="model.attention=mha", seed=seed, value=0.7)
        make_run(study="adhoc", variant="model.attention=none", seed=seed, value=0.8)
    plan = StudyPlan(baseline="model.attention=none", baseline_rule="model/attention: the first value typed")
    write_study_file(tmp_path / "logs" / "adhoc", "adhoc", plan)
    comparison = load_study(tmp_path / "logs" / "adhoc", warn=lambda _: None)
    assert comparison.baseline == "model.attention=none"
    assert comparison.baseline_rule == "the sweep's baseline: model/attention: the first value typed"

    for seed in (1, 2):
        make_run(study="broken", variant="baseline", seed=seed, status="failed")
        make_run(study="broken", variant="other", seed=seed, value=0.7)
    assert load_study(tmp_path / "logs" / "broken", warn=lambda _: None).baseline == "other"


def test_one_seed_each_is_no_test_not_a_seed_mismatch(make_run, tmp_path) -> None:
    make_run(variant="baseline", seed=1, value=0.8)
    make_run(variant="relu", seed=1, value=0.7)
    make_run(variant="gelu", seed=2, value=0.7)
    table = load_study(tmp_path / "logs", warn=lambda _: None).table
    assert "one seed: no test" in _row(table, "relu")["notes"]
    assert "seeds differ" not in _row(table, "relu")["notes"]
    assert "seeds differ from the baseline's" in _row(table, "gelu")["notes"]


def test_a_baseline_without_a_completed_run_is_never_the_baseline(make_run, tmp_path) -> None:
    for seed in (1, 2):
        make_run(variant="baseline", seed=seed, status="failed", reason="RuntimeError: boom")
        make_run(variant="wider", seed=seed, value=0.8 + seed / 100)
        make_run(variant="deeper", seed=seed, value=0.7 + seed / 100)
    messages: list[str] = []
    comparison = load_study(tmp_path / "logs", warn=messages.append)
    assert comparison.baseline == "deeper"  # the first completed variant, not the failed `baseline`
    row = _row(comparison.table, "wider")
    assert row["delta"] == pytest.approx(0.1) and row["n"] == 2
    assert _row(comparison.table, "baseline")["n"] == 0
    assert any("'baseline' has no completed run: it cannot be the baseline" in m for m in messages)
    with pytest.raises(DataError, match="--baseline 'baseline' has no completed run to compare with"):
        load_study(tmp_path / "logs", baseline="baseline", warn=lambda _: None)


def test_runs_on_two_versions_of_the_data_are_never_mixed(make_run, tmp_path) -> None:
    """The study's CSV changed between seeds: only the runs on the newest version are reported."""
    old, new = "a" * 16, "b" * 16
    for variant, value in (("baseline", 0.5), ("wider", 0.6)):
        make_run(variant=variant, seed=1, value=value, data=old, finished_at="2026-01-01T00:10:00+0000")
        for seed in (1, 2):
            make_run(
                variant=variant,
                seed=seed,
                value=value + 0.3,
                data=new,
                finished_at="2026-01-02T00:10:00+0000",
            )
    messages: list[str] = []
    comparison = load_study(tmp_path / "logs", warn=messages.append)
    assert comparison.table["n"].tolist() == [2, 2]
    assert comparison.table["mean"].tolist() == pytest.approx([0.8, 0.9])
    (note,) = [m for m in messages if "versions of its data" in m]
    assert f"reporting the 4 run(s) on the newest ({new}), leaving out 2 run(s) on older data" in note
    assert note.split(": ", 1)[1] in comparison.warnings  # also on the report's page
