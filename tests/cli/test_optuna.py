"""`hparams_search=hnet_optuna`: a seeded TPE search through Hydra's Optuna sweeper whose trials are
ordinary runs; its SQLite storage lets the same command continue the study, and a failing trial is
recorded while the search goes on."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import yaml

from tests.conftest import TINY_HNET, find_records, run_cli

pytestmark = pytest.mark.slow

# hidden_size=-1 makes a trial fail validation (ConfigError). With sampler seed 2 the first four
# trials draw hidden sizes 16, 16, 16, -1: three complete, the fourth fails.
SEARCH = ["hparams_search=hnet_optuna", "hydra.sweeper.sampler.seed=2", "model.hidden_size=choice(16,-1)"]
TINY = [o for o in TINY_HNET if not o.startswith("model.hidden_size=")]


def _search(tmp_path: Path, n_trials: int) -> tuple[int, str]:
    args = [
        "-m",
        *SEARCH,
        f"hydra.sweeper.n_trials={n_trials}",
        "logger=csv",
        f"paths.log_dir={tmp_path / 'logs'}",
        f"paths.cache_dir={tmp_path / 'cache'}",
        *TINY,
    ]
    proc = run_cli(args, timeout=400, check=False)
    return proc.returncode, proc.stderr


def _trials(sweep_dir: Path) -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name="hnet_optuna", storage=f"sqlite:///{sweep_dir / 'optuna.db'}")
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE  # metric.mode: max
    return study.trials


def _record_of(trial: optuna.trial.FrozenTrial, records: list[dict]) -> dict:
    """The run a trial launched: the record whose overrides are the trial's parameters."""
    wanted = {f"{k}={v}" for k, v in trial.params.items()}
    (record,) = [r for r in records if wanted <= set(r["overrides"])]
    return record


def test_optuna_search_records_trials_names_the_best_and_resumes(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "logs" / "hnet_optuna"

    code, stderr = _search(tmp_path, n_trials=4)
    # The failing trial makes the sweep exit 1, after all four trials and the results file.
    assert code == 1, stderr[-3000:]
    assert "3 completed / 0 skipped / 1 failed" in stderr
    trials = _trials(sweep_dir)
    states = [t.state for t in trials]
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert states == [optuna.trial.TrialState.COMPLETE] * 3 + [optuna.trial.TrialState.FAIL]
    records = find_records(sweep_dir)
    assert len(records) == 4
    failed = _record_of(trials[3], records)
    assert failed["status"] == "failed"
    assert "model.hidden_size=-1 is invalid" in failed["error"]["message"]
    for trial in trials[:3]:
        record = _record_of(trial, records)
        assert record["status"] == "completed"
        assert trial.value == pytest.approx(record["metrics"]["val/f1_weighted"])

    best = max(trials[:3], key=lambda t: t.value)
    results = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert results["best_params"] == best.params
    assert results["best_value"] == pytest.approx(best.value)

    # The same command with the same storage continues the study: new trials 4 and 5 at new points.
    code, stderr = _search(tmp_path, n_trials=2)
    assert code in (0, 1), stderr[-3000:]
    resumed = _trials(sweep_dir)
    assert [t.number for t in resumed] == [0, 1, 2, 3, 4, 5]
    assert [(t.params, t.state, t.value) for t in resumed[:4]] == [
        (t.params, t.state, t.value) for t in trials
    ]
    earlier = [t.params for t in trials]
    assert all(t.params not in earlier for t in resumed[4:])
    assert len(find_records(sweep_dir)) == 6
    finished = [t for t in resumed if t.state == optuna.trial.TrialState.COMPLETE]
    results = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert results["best_value"] == pytest.approx(max(t.value for t in finished))
