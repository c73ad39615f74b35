"""HNet: one training epoch through our Trainer stack vs a hand-written PyTorch loop (same model,
batches and optimiser, same process), and the start-up time of `python train.py --cfg job`.

The Trainer side runs what a real run runs: the CSV logger, checkpointing (best and last) and early
stopping, with the project's callbacks; its epoch is timed up to the end of training, after the
checkpoint is written."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmarks.common import SMOKE, Result

ROOT = Path(__file__).resolve().parents[1]
BATCH = 256
SMOKE_BATCHES = 4


def _compose(*overrides: str):
    from hydra import compose, initialize_config_dir

    from ablab.runs.identity import register_resolvers

    register_resolvers()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("train", overrides=list(overrides))


def _batches(cache: Path) -> list[tuple[torch.Tensor, torch.Tensor]]:
    from hydra.utils import instantiate

    cfg = _compose(f"data.batch_size={BATCH}")
    datamodule = instantiate(cfg.data, cache_dir=str(cache))
    datamodule.prepare_data()
    datamodule.setup()
    dist, target = datamodule.splits["train"].tensors
    batches = [(dist[i : i + BATCH], target[i : i + BATCH]) for i in range(0, len(dist), BATCH)]
    return batches[:SMOKE_BATCHES] if SMOKE else batches


def _model():
    from hydra.utils import instantiate

    torch.manual_seed(0)
    return instantiate(_compose().model)


def hand_loop_epoch(batches) -> float:
    model = _model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    started = time.perf_counter()
    for dist, target in batches:
        optimizer.zero_grad()
        flat, rows, cols = model(dist)
        loss = (
            F.binary_cross_entropy_with_logits(flat, target.flatten(1))
            + F.binary_cross_entropy_with_logits(rows, target.sum(-1))
            + F.binary_cross_entropy_with_logits(cols, target.sum(-2))
        )
        loss.backward()
        optimizer.step()
    return time.perf_counter() - started


def trainer_epoch(batches, log_dir: Path) -> float:
    import lightning as L
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    from ablab.families.hnet.task import HNetTask
    from ablab.lightning.callbacks.divergence import DivergenceGuard
    from ablab.lightning.callbacks.rng_state import RngStateInCheckpoint
    from ablab.lightning.callbacks.system_metrics import SystemMetrics

    class EpochTimer(L.Callback):
        def on_train_epoch_start(self, *args) -> None:
            self.started = time.perf_counter()

        def on_train_end(self, *args) -> None:  # after the epoch-end checkpoint and early stopping
            self.seconds = time.perf_counter() - self.started

    timer = EpochTimer()
    task = HNetTask(_model(), optimizer=lambda p: torch.optim.Adam(p, lr=1e-3))
    trainer = L.Trainer(
        max_epochs=1,
        accelerator="cpu",
        limit_val_batches=0,
        enable_progress_bar=False,
        enable_model_summary=False,
        logger=CSVLogger(log_dir),
        callbacks=[
            ModelCheckpoint(
                dirpath=log_dir / "checkpoints", filename="best", monitor="train/loss_epoch", save_last=True
            ),
            EarlyStopping(monitor="train/loss_epoch", patience=5, check_on_train_epoch_end=True),
            DivergenceGuard(),
            SystemMetrics(),
            RngStateInCheckpoint(),
            timer,
        ],
    )
    from torch.utils.data import DataLoader

    trainer.fit(task, train_dataloaders=DataLoader(batches, batch_size=None))
    return timer.seconds


def startup_seconds() -> tuple[float, list[str]]:
    command = [sys.executable, "-X", "importtime", str(ROOT / "train.py"), "--cfg", "job"]
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - started
    heavy = {"lightning", "torchmetrics", "transformers", "wandb", "torch"}
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines() if "|" in line}
    return seconds, sorted(heavy & imported)


def run() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        batches = _batches(Path(tmp) / "cache")
        trainer_epoch(batches[:5], Path(tmp) / "warm")  # warm up allocator and imports
        hand = min(hand_loop_epoch(batches) for _ in range(3))
        ours = min(trainer_epoch(batches, Path(tmp) / f"log{i}") for i in range(3))
    startup, heavy = min(startup_seconds() for _ in range(3))
    return [
        Result(
            "hnet epoch: Trainer stack (CSV logger, checkpoints, early stopping) vs hand-written loop (batch 256)",
            ours,
            hand,
            "ratio <= 1.10",
            ours / hand <= 1.10,
        ),
        Result(
            f"start-up `train.py --cfg job` (heavy imports: {heavy or 'none'})",
            startup,
            None,
            "< 1.5 s, no lightning/torchmetrics/transformers/wandb",
            startup < 1.5 and not heavy,
        ),
    ]
