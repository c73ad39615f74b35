"""System metrics for every run: step time, throughput, peak memory, inference time (and GPU state).

Logged under `system/` to every logger; the totals become the run's `cost/` record, which the report's
cost columns read.
"""

from __future__ import annotations

import resource
import sys
import time
from typing import Any

import lightning as L
import torch

from ablab.tasks.base import count_parameters


def peak_rss_gb() -> float:
    """This process's peak resident set size in GB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1e9


def _batch_size(batch: Any) -> int:
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0])
    if isinstance(batch, dict):
        batch = list(batch.values())
    if isinstance(batch, list | tuple) and batch:
        return _batch_size(batch[0])
    return 0


class SystemMetrics(L.Callback):
    """Measures cost while training and testing; `cost()` returns the `cost/` record."""

    def __init__(self, log_every_n_steps: int = 20) -> None:
        self.log_every_n_steps = log_every_n_steps
        self.train_seconds = 0.0
        self.infer_seconds = 0.0
        self.infer_batches = 0
        self._fit_started: float | None = None
        self._step_started = 0.0
        self._infer_started = 0.0
        self._gpu = None

    def _cuda(self, trainer: L.Trainer) -> torch.device | None:
        device = trainer.strategy.root_device
        return device if device.type == "cuda" else None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._fit_started = time.perf_counter()
        device = self._cuda(trainer)
        if device is not None:
            torch.cuda.reset_peak_memory_stats(device)
            from ablab.callbacks.gpu import GpuMonitor

            self._gpu = GpuMonitor(device)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._fit_started is not None:
            self.train_seconds += time.perf_counter() - self._fit_started
            self._fit_started = None

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        self._step_started = time.perf_counter()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        if trainer.global_step % self.log_every_n_steps:
            return
        step_s = time.perf_counter() - self._step_started
        values = {"system/step_time_ms": step_s * 1e3,
                  "system/samples_per_s": _batch_size(batch) / max(step_s, 1e-9)}
        values.update(self.memory(trainer))
        pl_module.log_dict(values, on_step=True, on_epoch=False, batch_size=1)

    def on_test_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any,
                            batch_idx: int, dataloader_idx: int = 0) -> None:
        device = self._cuda(trainer)
        if device is not None:
            torch.cuda.synchronize(device)
        self._infer_started = time.perf_counter()

    def on_test_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any,
                          batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        device = self._cuda(trainer)
        if device is not None:
            torch.cuda.synchronize(device)
        self.infer_seconds += time.perf_counter() - self._infer_started
        self.infer_batches += 1

    def memory(self, trainer: L.Trainer) -> dict[str, float]:
        """Peak memory so far: CUDA allocator peaks on GPU (plus NVML state), else peak RSS."""
        device = self._cuda(trainer)
        if device is None:
            return {"system/peak_rss_gb": peak_rss_gb()}
        values = {
            "system/cuda_max_allocated_gb": torch.cuda.max_memory_allocated(device) / 1e9,
            "system/cuda_max_reserved_gb": torch.cuda.max_memory_reserved(device) / 1e9,
        }
        if self._gpu is not None:
            values.update(self._gpu.read())
        return values

    def cost(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, float]:
        memory = self.memory(trainer)
        peak = memory.get("system/cuda_max_allocated_gb", memory.get("system/peak_rss_gb", 0.0))
        return {
            "cost/train_s": round(self.train_seconds, 3),
            "cost/peak_mem_gb": round(peak, 4),
            "cost/params_m": count_parameters(pl_module) / 1e6,
            "cost/infer_ms": round(1e3 * self.infer_seconds / self.infer_batches, 4)
            if self.infer_batches else None,
        }
