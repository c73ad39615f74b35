"""System metrics for every run: step time, throughput, peak memory, GPU state and inference time.

Logged under `system/` to every logger (CSV, W&B) every `log_every_n_steps` training batches and at
the end of each epoch's training; the totals become the run's `cost/` record, which the report's cost
columns read. On CPU only the host figures are logged, without warnings.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch

from ablab.lightning.task import count_parameters


def peak_rss_gb() -> float:
    """This process's peak resident set size in GB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1e9


def current_rss_gb() -> float:
    """This process's resident set size now, in GB."""
    import psutil

    return psutil.Process().memory_info().rss / 1e9


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux: `5 > /proc/self/clear_refs`), so that a run's peak is
    its own and not that of an earlier job in the same process; False where that is not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _batch_size(batch: Any) -> int:
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.dim() else 1
    if isinstance(batch, dict):
        batch = list(batch.values())
    if isinstance(batch, list | tuple) and batch:
        return _batch_size(batch[0])
    return 0


class SystemMetrics(L.Callback):
    """Measures cost while training and testing; `cost()` returns the `cost/` record.

    Step time and samples/s are wall-clock averages over the batches since the last log (data loading
    included, validation excluded), with one CUDA synchronisation per log instead of one per step."""

    def __init__(self, log_every_n_steps: int = 20) -> None:
        self.log_every_n_steps = max(1, int(log_every_n_steps))
        self.train_seconds = 0.0
        self.infer_seconds = 0.0
        self.infer_batches = 0
        self.timed_seconds = 0.0
        self.timed_samples = 0
        self._fit_started: float | None = None
        self._window_started = 0.0
        self._window_batches = 0
        self._window_samples = 0
        self._infer_started = 0.0
        self._rss_reset = False
        self._rss_before = 0.0
        self._rss_sampled = 0.0
        self._gpu = None

    @staticmethod
    def _cuda(trainer: L.Trainer) -> torch.device | None:
        device = trainer.strategy.root_device
        return device if device.type == "cuda" else None

    def _now(self, trainer: L.Trainer) -> float:
        device = self._cuda(trainer)
        if device is not None:
            torch.cuda.synchronize(device)
        return time.perf_counter()

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._fit_started = time.perf_counter()
        self._rss_reset = reset_peak_rss()
        self._rss_before = peak_rss_gb()
        device = self._cuda(trainer)
        if device is not None:
            from ablab.lightning.callbacks.gpu import GpuMonitor

            torch.cuda.reset_peak_memory_stats(device)
            indices = [i for i in (trainer.device_ids or [device.index or 0]) if isinstance(i, int)]
            self._gpu = GpuMonitor(indices)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._fit_started is not None:
            self.train_seconds += time.perf_counter() - self._fit_started
            self._fit_started = None
        self._carry(trainer, ("cost/train_s", "cost/peak_mem_gb", "cost/samples_per_s"))

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._carry(trainer, ("cost/infer_ms",))

    def _carry(self, trainer: L.Trainer, keys: tuple[str, ...]) -> None:
        """ddp_spawn fits and tests in worker processes and brings back only `trainer.callback_metrics`
        to the main process: the stage's totals travel there, for `cost` to read."""
        measured = self._measured(trainer)
        for key in keys:
            if measured[key] is not None:
                trainer.callback_metrics[key] = torch.tensor(measured[key], dtype=torch.float64)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start_window(trainer)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self._window_batches += 1
        self._window_samples += _batch_size(batch)
        if self._window_batches >= self.log_every_n_steps:
            self._flush(trainer)

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._flush(trainer)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start_window(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._flush(trainer)

    def on_test_batch_start(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self._infer_started = self._now(trainer)

    def on_test_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self.infer_seconds += self._now(trainer) - self._infer_started
        self.infer_batches += 1

    def _start_window(self, trainer: L.Trainer) -> None:
        self._window_started = self._now(trainer)
        self._window_batches = self._window_samples = 0

    def _flush(self, trainer: L.Trainer) -> None:
        """Log the window's step time and throughput with the memory and GPU state to every logger."""
        if not self._window_batches:
            return
        seconds = max(self._now(trainer) - self._window_started, 1e-9)
        self.timed_seconds += seconds
        self.timed_samples += self._window_samples
        values = {
            "system/step_time_ms": 1e3 * seconds / self._window_batches,
            "system/samples_per_s": self._window_samples / seconds,
        }
        values.update(self.memory(trainer))
        for logger in trainer.loggers:
            logger.log_metrics(values, step=trainer.global_step)
        self._start_window(trainer)

    def peak_rss(self) -> float:
        """This run's peak RSS in GB. Where the kernel mark could not be reset and an earlier job of
        this process set a higher one, the largest RSS sampled at the logs stands in."""
        peak = peak_rss_gb()
        if self._rss_reset or peak > self._rss_before:
            return peak
        self._rss_sampled = max(self._rss_sampled, current_rss_gb())
        return self._rss_sampled

    def memory(self, trainer: L.Trainer) -> dict[str, float]:
        """Peak memory so far (host RSS; on CUDA also the allocator peaks) and the GPUs' NVML state."""
        values = {"system/peak_rss_gb": self.peak_rss()}
        device = self._cuda(trainer)
        if device is not None:
            values["system/cuda_max_allocated_gb"] = torch.cuda.max_memory_allocated(device) / 1e9
            values["system/cuda_max_reserved_gb"] = torch.cuda.max_memory_reserved(device) / 1e9
        if self._gpu is not None:
            values.update(self._gpu.read())
        return values

    def _measured(self, trainer: L.Trainer) -> dict[str, float | None]:
        memory = self.memory(trainer)
        peak = memory.get("system/cuda_max_allocated_gb", memory["system/peak_rss_gb"])
        return {
            "cost/train_s": round(self.train_seconds, 3),
            "cost/peak_mem_gb": round(peak, 4),
            "cost/infer_ms": round(1e3 * self.infer_seconds / self.infer_batches, 4)
            if self.infer_batches
            else None,
            "cost/samples_per_s": round(self.timed_samples / self.timed_seconds, 2)
            if self.timed_seconds
            else None,
        }

    def cost(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, float | None]:
        """The record's `cost/` figures: fit seconds, peak memory (CUDA allocator on GPU, else RSS),
        parameters in millions, test inference ms per batch, and mean training samples/s. Where this
        process did not train (ddp_spawn's main process), the figures its workers carried back."""
        cost = self._measured(trainer)
        if not self.train_seconds:
            carried = trainer.callback_metrics
            cost.update({k: round(float(carried[k]), 4) for k in cost if k in carried})
        cost["cost/params_m"] = count_parameters(pl_module) / 1e6
        return cost
