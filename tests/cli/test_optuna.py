"""`hparams_search=hnet_optuna` on ablab's Optuna sweeper (Optuna 5): a seeded TPE search with a
median pruner whose trials are ordinary runs (pruned ones recorded `pruned`), continued from its
SQLite storage; the grid sampler reusing completed runs and recording a failed trial; the journal
storage under two parallel jobs; a Pareto search whose front the report draws."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml

from tests.conftest import TINY_CSV, find_records, run_cli

pytestmark = pytest.mark.slow

TINY = [o for o in TINY_CSV if not o.startswith(("model.hidden_size=", "trainer.max_epochs="))]
# Seeded TPE over the learning rate (log scale) and a width; with a median pruner after one completed
# trial, seed 0 prunes three of the first six trials after their first epoch.
PRUNED = [
    "hparams_search=hnet_optuna",
    "hydra.sweeper.seed=0",
    "hydra.sweeper.pruner={_target_: optuna.pruners.MedianPruner, n_startup_trials: 1}",
    "model.hidden_size=choice(8,16)",
    "task.optimizer.lr=tag(log, interval(0.00001, 0.03))",
    "model.gru_layers=1",
    "model/attention=none",
    "trainer.max_epochs=3",
]


def _search(log_dir: Path, *args: str, check: bool = True):
    paths = [f"paths.log_dir={log_dir}", f"paths.cache_dir={log_dir.parent / 'cache'}"]
    return run_cli(["-m", *TINY, *paths, *args], timeout=600, check=check)


def _study(sweep_dir: Path, name: str = "hnet_optuna", storage: str | None = None) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=storage or f"sqlite:///{sweep_dir / 'optuna.db'}")


def _record_of(trial: optuna.trial.FrozenTrial, records: list[dict]) -> dict:
    (record,) = [r for r in records if (r.get("trial") or {}).get("number") == trial.number]
    assert {f"{k}={v}" for k, v in trial.params.items()} <= set(record["overrides"])
    return record


def _val_curve(run_dir: Path) -> dict[int, float]:
    import pandas as pd

    frame = pd.read_csv(run_dir / "csv" / "metrics.csv").dropna(subset=["val/f1_weighted"])
    return {int(e): float(v) for e, v in zip(frame["epoch"], frame["val/f1_weighted"])}


@pytest.fixture(scope="module")
def pruned_search(tmp_path_factory) -> tuple[Path, str, str]:
    """Six trials, then the same command continued by two more."""
    log_dir = tmp_path_factory.mktemp("pruned") / "logs"
    first = _search(log_dir, *PRUNED, "hydra.sweeper.n_trials=6").stderr
    second = _search(log_dir, *PRUNED, "hydra.sweeper.n_trials=2").stderr
    return log_dir / "hnet_optuna", first, second


def test_a_pruner_stops_hopeless_trials_and_their_runs_are_recorded_pruned(pruned_search) -> None:
    sweep_dir, stderr, _ = pruned_search
    trials = _study(sweep_dir).trials[:6]
    states = [t.state for t in trials]
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    completed = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(pruned) >= 1 and len(completed) >= 2 and len(pruned) + len(completed) == 6, states
    assert f"{len(completed)} completed / 0 skipped / 0 failed / 0 diverged / {len(pruned)} pruned" in stderr
    records = find_records(sweep_dir)
    for trial in pruned:
        record = _record_of(trial, records)
        assert record["status"] == "pruned" and "error" not in record
        assert record["pruned"]["epochs"] == record["epochs"] < 3
        assert record["pruned"]["metric"] == "val/f1_weighted"
        assert not any(k.startswith("test/") for k in record["metrics"])
    for trial in completed:
        record = _record_of(trial, records)
        assert record["status"] == "completed" and record["epochs"] == 3
        assert trial.value == pytest.approx(record["metrics"]["val/f1_weighted"])
    # Each epoch's validation metric reached the trial from the job: the run's own CSV curve.
    for trial in trials:
        assert trial.intermediate_values == pytest.approx(_val_curve(_record_of(trial, records)["_dir"]))
    best = max(completed, key=lambda t: t.value)
    results = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert results["best_params"] == best.params and results["best_value"] == pytest.approx(best.value)
    assert f"best: trial {best.number}, val/f1_weighted" in stderr


def test_the_same_command_continues_the_study_at_new_trials(pruned_search) -> None:
    sweep_dir, _, stderr = pruned_search
    first = _study(sweep_dir).trials
    assert [t.number for t in first] == list(range(8))
    assert "8 trials" in stderr
    earlier = [t.params for t in first[:6]]
    assert all(t.params not in earlier for t in first[6:])
    assert len(find_records(sweep_dir)) == 8


def test_grid_search_reuses_completed_runs_and_records_a_failed_trial(tmp_path: Path) -> None:
    grid = ["hparams_search=hnet_optuna", "hydra.sweeper.sampler=grid", "model.hidden_size=choice(16,-1)",
            "model.gru_layers=1", "model/attention=none", "task.optimizer.lr=0.003", "trainer.max_epochs=2"]  # fmt: skip
    log_dir, sweep_dir = tmp_path / "logs", tmp_path / "logs" / "hnet_optuna"
    proc = _search(log_dir, *grid, "hydra.sweeper.study_name=first", check=False)
    assert proc.returncode == 1 and "1 completed / 0 skipped / 1 failed" in proc.stderr
    first = {t.params["model.hidden_size"]: t for t in _study(sweep_dir, "first").trials}
    assert first[16].state == optuna.trial.TrialState.COMPLETE
    assert first[-1].state == optuna.trial.TrialState.FAIL
    assert "model.hidden_size=-1 is invalid" in first[-1].user_attrs["fail_reason"]
    (done,) = [r for r in find_records(sweep_dir) if r["status"] == "completed"]
    stamp = (done["_dir"] / "results.json").stat().st_mtime_ns
    # Another study over the same runs: the completed one is skipped and its recorded value told.
    proc = _search(log_dir, *grid, "hydra.sweeper.study_name=second", check=False)
    assert "0 completed / 1 skipped / 1 failed" in proc.stderr
    second = {t.params["model.hidden_size"]: t for t in _study(sweep_dir, "second").trials}
    assert second[16].value == pytest.approx(done["metrics"]["val/f1_weighted"]) == first[16].value
    assert second[-1].state == optuna.trial.TrialState.FAIL
    assert (done["_dir"] / "results.json").stat().st_mtime_ns == stamp


def test_the_journal_storage_serves_two_parallel_jobs_without_loss(tmp_path: Path) -> None:
    journal = tmp_path / "shared" / "study.journal"
    _search(
        tmp_path / "logs",
        *PRUNED,
        "hydra/launcher=local_parallel",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=4",
        f"hydra.sweeper.storage=journal:{journal}",
    )
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    trials = _study(tmp_path, storage=storage).trials
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert all(t.state.is_finished() for t in trials)
    records = find_records(tmp_path / "logs")
    assert len(records) == 4
    for trial in trials:  # every epoch both jobs reported at once is in the journal
        record = _record_of(trial, records)
        assert sorted(trial.intermediate_values) == list(range(record["epochs"]))
        assert trial.intermediate_values == pytest.approx(_val_curve(record["_dir"]))


def test_a_pareto_search_returns_its_front_and_the_report_draws_it(tmp_path: Path) -> None:
    log_dir, sweep_dir = tmp_path / "logs", tmp_path / "logs" / "hnet_optuna"
    proc = _search(
        log_dir,
        "hparams_search=hnet_optuna",
        "hydra.sweeper.n_trials=5",
        "hydra.sweeper.objectives=[val/f1_weighted,cost/params_m]",
        "model.hidden_size=choice(4,16,48)",
        "model.gru_layers=1",
        "trainer.max_epochs=2",
    )
    study = _study(sweep_dir)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    front = study.best_trials
    assert front and "Pareto front (val/f1_weighted vs cost/params_m)" in proc.stderr
    results = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert sorted(t["number"] for t in results["best_trials"]) == sorted(t.number for t in front)
    search = json.loads((sweep_dir / "search.json").read_text())
    assert search["objectives"] == ["val/f1_weighted", "cost/params_m"]

    report = run_cli(
        [str(sweep_dir), "--no-wandb"], program=[str(Path(sys.executable).with_name("ablab-report"))]
    )
    out = sweep_dir / "report"
    assert (out / "pareto_front.png").stat().st_size > 0 and (out / "param_importances.png").exists()
    assert (out / "axis_model_hidden_size.png").exists()
    listed = pd.read_csv(out / "pareto_front.csv")
    distinct_front = {(round(t.values[0], 6), round(t.values[1], 6)) for t in front}
    assert len(listed) == len(distinct_front)
    assert set(listed["Trial"]) <= {t.number for t in study.trials}
    html = (out / "report.html").read_text()
    assert "Pareto front" in html and "cost/params_m" in html, report.stdout[-2000:]
