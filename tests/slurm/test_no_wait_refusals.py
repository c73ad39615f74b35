"""`hydra.launcher.wait=false` where it cannot work, refused in one line before anything is written or
submitted (no cluster needed: the refusal comes first)."""

from __future__ import annotations

from tests.conftest import TINY_CSV, run_cli


def test_a_search_that_would_not_wait_for_its_trials_is_refused_before_it_starts(run_paths, tmp_path) -> None:
    proc = run_cli(
        [
            "-m",
            "hparams_search=hnet_optuna",
            "hydra.sweeper.n_trials=1",
            "hydra/launcher=slurm",
            "hydra.launcher.wait=false",
            *run_paths,
            *TINY_CSV,
        ],
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: hydra.launcher.wait=false submits and returns, but the sweeper OptunaSweeper needs each "
        "trial's result to choose the next: drop hydra.launcher.wait=false"
    ]
    study = tmp_path / "logs" / "hnet_optuna"
    assert not study.exists() or list(study.iterdir()) == []  # no optuna.db, no journal, no job


def test_an_adaptive_study_that_would_not_wait_for_its_looks_is_refused_before_it_starts(
    run_paths, tmp_path
) -> None:
    proc = run_cli(
        [
            "-m",
            "ablation=hnet/baseline,hnet/no_fc",
            "sweep.seeds=auto",
            "hydra/launcher=slurm",
            "hydra.launcher.wait=false",
            *run_paths,
            *TINY_CSV,
        ],
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: hydra.launcher.wait=false submits and returns, but sweep.seeds=auto needs each look's results "
        "to choose the next seeds: drop hydra.launcher.wait=false"
    ]
    assert not list(tmp_path.rglob("results.json"))
