"""What a W&B run of ablab is, without starting one: mode, folders, tags, and the runs' W&B settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from ablab.errors import ConfigError
from ablab.lightning.loggers.wandb_report import wandb_settings_of_runs
from ablab.lightning.loggers.wandb_setup import use_local_dirs, wandb_mode
from ablab.runs.tracking import run_tags

IGNORE = ["hydra", "paths", "logger", "print_config", "callbacks.progress_bar", "trainer.enable_progress_bar"]
WANDB_DIRS = ("WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR")


def test_wandb_is_offline_unless_the_config_or_the_environment_says_online() -> None:
    assert wandb_mode(True, {}) == "offline"
    assert wandb_mode(False, {}) == "online"
    assert wandb_mode(True, {"WANDB_MODE": "online"}) == "online"
    assert wandb_mode(False, {"WANDB_MODE": "offline"}) == "offline"
    assert wandb_mode(False, {"WANDB_MODE": "dryrun"}) == "offline"
    assert wandb_mode(True, {"WANDB_MODE": "Disabled"}) == "disabled"


def test_an_unknown_wandb_mode_is_a_config_error_naming_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"WANDB_MODE='offlne'.*online, offline or disabled"):
        wandb_mode(True, {"WANDB_MODE": "offlne"})


def test_wandb_cache_and_data_go_under_the_cache_dir(tmp_path, monkeypatch) -> None:
    for name in WANDB_DIRS:
        monkeypatch.delenv(name, raising=False)
    used = use_local_dirs(tmp_path / "wandb")
    assert used == {
        "WANDB_CACHE_DIR": str(tmp_path / "wandb" / "cache"),
        "WANDB_DATA_DIR": str(tmp_path / "wandb" / "data"),
    }


def test_wandb_folders_the_user_set_win(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("WANDB_CACHE_DIR", "/scratch/wandb-cache")
    monkeypatch.delenv("WANDB_DATA_DIR", raising=False)
    monkeypatch.delenv("WANDB_CONFIG_DIR", raising=False)
    used = use_local_dirs(tmp_path, config_dir=tmp_path / "settings")
    assert used == {
        "WANDB_CACHE_DIR": "/scratch/wandb-cache",
        "WANDB_DATA_DIR": str(tmp_path / "data"),
        "WANDB_CONFIG_DIR": str(tmp_path / "settings"),
    }


def test_tags_are_the_variant_and_the_result_changing_overrides() -> None:
    overrides = [
        "model/attention=none",
        "+data.noise=0.1",
        "paths.log_dir=/tmp/x",
        "logger=csv",
        "trainer.enable_progress_bar=false",
        "seed=2",
        "model.hidden_size=" + "1" * 80,
    ]
    tags = run_tags("model.attention=none", overrides, IGNORE)
    assert tags == [
        "model.attention=none",
        "model/attention=none",
        "data.noise=0.1",
        "seed=2",
        ("model.hidden_size=" + "1" * 80)[:64],
    ]


def _write_hydra_config(run_dir: Path, text: str) -> Path:
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "config.yaml").write_text(text)
    runtime = f"hydra:\n  runtime:\n    cwd: /home/lab/project\n    output_dir: {run_dir}\n"
    (run_dir / ".hydra" / "hydra.yaml").write_text(runtime)
    return run_dir


def test_the_report_finds_the_wandb_settings_its_runs_used(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("WANDB_PROJECT", "ablations")
    csv_only = _write_hydra_config(tmp_path / "a", "logger:\n  csv:\n    save_dir: x\n")
    with_wandb = _write_hydra_config(
        tmp_path / "b",
        "paths:\n  root_dir: ${hydra:runtime.cwd}\n  cache_dir: ${paths.root_dir}/.cache\n"
        "  output_dir: ${hydra:runtime.output_dir}\n"
        "logger:\n  wandb:\n    project: ${oc.env:WANDB_PROJECT,ablab}\n    entity: team\n"
        "    offline: false\n    save_dir: ${paths.output_dir}\n    cache_dir: ${paths.cache_dir}/wandb\n",
    )
    assert wandb_settings_of_runs([csv_only, tmp_path / "missing"]) is None
    assert wandb_settings_of_runs([csv_only, with_wandb]) == {
        "project": "ablations",
        "entity": "team",
        "offline": False,
        "cache_dir": "/home/lab/project/.cache/wandb",
    }
