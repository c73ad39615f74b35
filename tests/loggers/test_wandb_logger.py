"""ablab's WandbLogger in this process: a failing fit ends its W&B run, a run left open by an earlier
job is ended before the next starts, run ids are reused only on resume, bad settings are caught."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
import wandb
from omegaconf import OmegaConf
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ablab.errors import ConfigError
from ablab.lightning.loggers import TrackedRun, finish_runs
from ablab.lightning.loggers.wandb import WandbLogger
from ablab.lightning.loggers.wandb_file import find_runs, read_run
from ablab.lightning.loggers.wandb_setup import wait_for_run_file
from ablab.runs.tracking import RUN_ID_FILE, run_id, tracked_run

CFG = OmegaConf.create({"study": "s", "family": "f", "variant": "v", "seed": 3, "run_id": {"ignore": []}})


@pytest.fixture
def offline(tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv("WANDB_MODE", raising=False)
    for name, sub in (
        ("WANDB_CACHE_DIR", "cache"),
        ("WANDB_DATA_DIR", "data"),
        ("WANDB_CONFIG_DIR", "config"),
    ):
        monkeypatch.setenv(name, str(tmp_path / sub))
    monkeypatch.setenv("WANDB_SILENT", "true")
    return tmp_path


class FailsAtStep3(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        if batch_idx == 3:
            raise RuntimeError("boom")
        loss = self.layer(batch[0]).pow(2).mean()
        self.log("train/loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _logger(tmp_path: Path, run: TrackedRun | None = None) -> WandbLogger:
    return WandbLogger(
        project="tests", save_dir=tmp_path / "run", group="s", job_type="f", name="v-seed3", run=run
    )


def test_a_failing_fit_ends_its_wandb_run_with_exit_code_1(offline) -> None:
    logger = _logger(offline, tracked_run(CFG, offline / "run", None))
    trainer = L.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=logger,
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    loader = DataLoader(TensorDataset(torch.randn(32, 2)), batch_size=4)
    with pytest.raises(RuntimeError, match="boom"):
        trainer.fit(FailsAtStep3(), train_dataloaders=loader)
    assert wandb.run is None
    finish_runs([logger], {"test/x": 1.0})  # the runner's finish after a failure changes nothing
    (folder,) = find_runs(offline / "run")
    run = read_run(folder)
    assert run.exit_code == 1 and len(run.metric("train/loss")) == 3
    assert (run.group, run.job_type, run.name, run.tags) == ("s", "f", "v-seed3", ["v"])
    assert "test/x" not in run.summary


def test_runs_left_open_in_the_process_are_ended_and_never_reused(offline) -> None:
    crashed = wandb.init(project="tests", dir=str(offline), mode="offline")  # an earlier job's, left open
    other = wandb.init(project="tests", dir=str(offline), mode="offline", reinit="create_new")
    logger = _logger(offline, tracked_run(CFG, offline / "run", None))
    assert wandb.run is None
    logger.log_metrics({"val/x": 0.5}, step=0)
    finish_runs([logger], {"test/x": 0.25})
    assert wait_for_run_file(crashed) and wait_for_run_file(other)
    runs = {r.run_id: r for r in map(read_run, find_runs(offline))}
    assert runs[crashed.id].exit_code == 1 and runs[other.id].exit_code is not None
    mine = runs[logger.version]
    assert logger.version not in (crashed.id, other.id)
    assert mine.exit_code == 0 and mine.summary["test/x"] == 0.25 and mine.metric("val/x") == [0.5]
    assert mine.config["config_hash"] and mine.config["variant"] == "v"
    assert "val/x" not in runs[other.id].summary


def test_the_run_id_is_reused_only_when_the_run_resumes(tmp_path) -> None:
    first = run_id(CFG, tmp_path, None)
    assert (tmp_path / RUN_ID_FILE).read_text().strip() == first
    assert run_id(CFG, tmp_path, tmp_path / "checkpoints" / "last.ckpt") == first
    fresh = run_id(CFG, tmp_path, None)  # force_rerun, or a failed run started again
    assert fresh != first and (tmp_path / RUN_ID_FILE).read_text().strip() == fresh


def test_uploading_checkpoints_offline_is_a_config_error_naming_the_fix(offline) -> None:
    with pytest.raises(ConfigError, match=r"log_model.*logger.wandb.offline=false"):
        WandbLogger(save_dir=offline, log_model=True)
