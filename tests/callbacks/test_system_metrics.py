"""SystemMetrics on a real (tiny) Trainer on CPU: cadence, throughput arithmetic, cost record, and a
per-run peak memory that an earlier job of the same process does not inflate."""

from __future__ import annotations

import csv
import warnings
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ablab.lightning.callbacks.system_metrics import FIT_KEYS, TEST_KEYS, SystemMetrics, peak_rss_gb

BATCH, BATCHES = 4, 10


class TinyRegression(L.LightningModule):
    """A linear model: training, validation and test steps, nothing else."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)

    def _loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        return nn.functional.mse_loss(self.layer(x), y)

    def training_step(self, batch, batch_idx):
        return self._loss(batch)

    def validation_step(self, batch, batch_idx):
        self.log("val/loss", self._loss(batch))

    def test_step(self, batch, batch_idx):
        self.log("test/loss", self._loss(batch))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def _loader() -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH * BATCHES, 3, generator=generator)
    return DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=BATCH)


@dataclass
class Fitted:
    system: SystemMetrics
    cost: dict
    rows: list[dict]  # the CSV logger's rows holding system/ metrics
    earlier_peak: float
    warnings: list[warnings.WarningMessage]
    # the cost/ totals in trainer.callback_metrics (ddp_spawn's way back) after fit and after test
    carried_after_fit: dict[str, float]
    carried_after_test: dict[str, float]


def _carried(trainer: L.Trainer) -> dict[str, float]:
    return {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("cost/")}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> Fitted:
    """Two epochs of 10 batches with logs every 3 batches, after an earlier 400 MB peak in this process."""
    earlier = bytearray(400_000_000)  # an earlier job's peak: touched pages count in RSS
    earlier[::4096] = b"\x01" * len(earlier[::4096])
    del earlier
    earlier_peak = peak_rss_gb()
    system = SystemMetrics(log_every_n_steps=3)
    logger = CSVLogger(tmp_path_factory.mktemp("system"), name="csv", version="")
    trainer = L.Trainer(
        max_epochs=2,
        accelerator="cpu",
        devices=1,
        logger=logger,
        callbacks=[system],
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        log_every_n_steps=1,
    )
    model = TinyRegression()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(model, train_dataloaders=_loader(), val_dataloaders=_loader())
        after_fit = _carried(trainer)
        trainer.test(model, dataloaders=_loader(), verbose=False)
    with (Path(logger.log_dir) / "metrics.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("system/step_time_ms")]
    return Fitted(
        system, system.cost(trainer, model), rows, earlier_peak, caught, after_fit, _carried(trainer)
    )


def test_system_metrics_are_logged_every_n_batches_and_before_validation(fitted) -> None:
    rows = fitted.rows
    # per epoch: windows of 3, 3, 3 batches, then the last batch flushed when validation starts
    assert [int(r["step"]) for r in rows] == [3, 6, 9, 10, 13, 16, 19, 20]


def test_throughput_and_step_time_describe_the_same_window(fitted) -> None:
    for row in fitted.rows:
        step_s = float(row["system/step_time_ms"]) / 1e3
        assert step_s > 0
        assert float(row["system/samples_per_s"]) * step_s == pytest.approx(BATCH, rel=1e-6)


def test_cost_record_has_every_documented_figure(fitted) -> None:
    assert set(fitted.cost) == {*FIT_KEYS, *TEST_KEYS, "cost/params_m"}


def test_cost_record_counts_params_flops_and_throughput_exactly(fitted) -> None:
    system, cost = fitted.system, fitted.cost
    assert cost["cost/params_m"] == pytest.approx(4 / 1e6)  # Linear(3, 1): 3 weights + 1 bias
    assert cost["cost/flops"] == 6  # addmm of one sample: 2 x 3 inputs x 1 output
    assert cost["cost/train_s"] >= system.timed_seconds > 0
    assert cost["cost/samples_per_s"] == pytest.approx(2 * BATCHES * BATCH / system.timed_seconds, rel=1e-3)


def test_latency_is_a_median_over_repeats_of_one_test_batch(fitted) -> None:
    cost = fitted.cost
    assert cost["cost/latency_batch"] == BATCH
    assert 0 < cost["cost/latency_ms"] < 100 and cost["cost/latency_ms_iqr"] >= 0
    assert cost["cost/latency_ms_per_sample"] == pytest.approx(cost["cost/latency_ms"] / BATCH, rel=1e-3)


def test_model_memory_is_the_models_own_not_the_process(fitted) -> None:
    cost = fitted.cost
    # a Linear(3, 1) and a batch of 4: a few hundred bytes of tensors, while the process holds > 50 MB
    assert 0 < cost["cost/model_mem_mb"] < 0.01 and 0 < cost["cost/infer_mem_mb"] < 0.01
    assert cost["cost/process_rss_gb"] > 0.05


def test_fit_and_test_leave_their_totals_where_ddp_spawn_carries_them_back(fitted) -> None:
    fit, test, cost = fitted.carried_after_fit, fitted.carried_after_test, fitted.cost
    assert set(fit) == set(FIT_KEYS)
    assert fit["cost/train_s"] == pytest.approx(cost["cost/train_s"], abs=1e-3)
    assert fit["cost/samples_per_s"] == pytest.approx(cost["cost/samples_per_s"], abs=1e-2)
    assert 0 < fit["cost/process_rss_gb"] <= cost["cost/process_rss_gb"] + 1e-3
    assert {k: v for k, v in test.items() if k in TEST_KEYS} == {
        k: pytest.approx(cost[k], abs=1e-4) for k in TEST_KEYS
    }


def test_peak_memory_is_this_runs_not_an_earlier_jobs(fitted) -> None:
    assert fitted.earlier_peak > 0.4
    run_peak = fitted.cost["cost/process_rss_gb"]
    assert 0.05 < run_peak < fitted.earlier_peak - 0.3
    assert all(float(r["system/peak_rss_gb"]) <= run_peak + 1e-3 for r in fitted.rows)


def test_cpu_runs_log_no_gpu_keys_and_warn_nothing_about_gpus(fitted) -> None:
    assert not [k for k in fitted.rows[0] if "gpu" in k or "cuda" in k]
    assert not [
        str(w.message)
        for w in fitted.warnings
        if any(s in str(w.message).lower() for s in ("gpu", "nvml", "cuda"))
    ]


@pytest.mark.slow
def test_ddp_spawn_workers_carry_the_fit_cost_back_to_the_main_process(tmp_path) -> None:
    system = SystemMetrics(log_every_n_steps=3)
    trainer = L.Trainer(
        max_epochs=1,
        accelerator="cpu",
        devices=2,
        strategy="ddp_spawn",
        logger=False,
        callbacks=[system],
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        default_root_dir=tmp_path,
    )
    model = TinyRegression()
    trainer.fit(model, train_dataloaders=_loader(), val_dataloaders=_loader())
    assert system.train_seconds == 0  # this process did not train: its workers did
    cost = system.cost(trainer, model)
    assert cost["cost/train_s"] > 0 and cost["cost/samples_per_s"] > 0
    assert 0.05 < cost["cost/process_rss_gb"] < 64 and cost["cost/model_mem_mb"] > 0
