"""System metrics for every run: step time, throughput, memory, GPU state; and the run's costs.

Logged under `system/` to every logger (CSV, W&B) every `log_every_n_steps` training batches and at
the end of each epoch's training. The run's `cost/` record, which the report's cost columns read:

- `cost/params_m`: parameters, in millions;
- `cost/flops`: forward FLOPs per test sample of the task's `inference` (one prediction; one generated
  clip for a generator), from torch.utils.flop_counter: deterministic, the same on any machine;
- `cost/latency_ms` (median), `cost/latency_ms_iqr`, `cost/latency_ms_per_sample`, `cost/latency_batch`:
  wall time of `inference` on the first test batch (`latency_samples` of it), with warm-up and repeats
  (torch.utils.benchmark), on the run's threads;
- `cost/model_mem_mb`: the model's own training peak: CUDA `max_memory_allocated` over the fit on GPU;
  on CPU parameters, buffers and optimiser state plus the tensor-level peak of the first training step
  (activations, gradients, new optimiser state); `cost/infer_mem_mb`: the same for one `inference` call;
- `cost/process_rss_gb`: the process's peak resident memory during the fit, the framework included:
  what the machine needs, not what the model costs;
- `cost/train_s`, `cost/samples_per_s`: wall time of the fit and training throughput (single readings:
  the report gives their spread over seeds).
On CPU only the host figures are logged, without warnings.
"""

from __future__ import annotations

import resource
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch

from ablab.lightning.callbacks.cost_measures import TensorPeak, count_flops, latency, tensor_bytes
from ablab.lightning.task import count_parameters, forward_inputs

MB = 1e6
FIT_KEYS = ("cost/train_s", "cost/model_mem_mb", "cost/process_rss_gb", "cost/samples_per_s")
TEST_KEYS = (
    "cost/flops",
    "cost/latency_ms",
    "cost/latency_ms_iqr",
    "cost/latency_ms_per_sample",
    "cost/latency_batch",
    "cost/infer_mem_mb",
)


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


def significant(value: float, digits: int = 6) -> float:
    """`value` to `digits` significant digits: small figures (bytes, microseconds) keep theirs."""
    return float(f"{value:.{digits}g}")


def head(batch: Any, count: int | None) -> Any:
    """The first `count` samples of a batch (tensors, or tuples, lists and dicts of them)."""
    if count is None:
        return batch
    if isinstance(batch, torch.Tensor):
        return batch[:count] if batch.dim() else batch
    if isinstance(batch, dict):
        return {k: head(v, count) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(head(v, count) for v in batch)
    return batch


def optimizer_state_bytes(optimizers: list[torch.optim.Optimizer]) -> int:
    """Bytes of the tensors the optimisers hold in their state now."""
    return sum(
        v.numel() * v.element_size()
        for optimizer in optimizers
        for state in optimizer.state.values()
        for v in state.values()
        if isinstance(v, torch.Tensor)
    )


def inference_call(pl_module: L.LightningModule, batch: Any) -> Any:
    """What one prediction costs: the task's `inference(batch)`, else the module's forward on the
    batch's inputs."""
    if hasattr(pl_module, "inference"):
        return lambda: pl_module.inference(batch)
    return lambda: forward_inputs(pl_module, batch)


class SystemMetrics(L.Callback):
    """Measures cost while training and testing; `cost()` returns the `cost/` record.

    Step time and samples/s are wall-clock averages over the batches since the last log (data loading
    included, validation excluded), with one CUDA synchronisation per log instead of one per step.
    `latency_samples`: samples of the first test batch timed per call (None: the whole batch);
    `flop_samples`: test samples whose FLOPs are counted (whole batches, up to this many)."""

    def __init__(
        self,
        log_every_n_steps: int = 20,
        latency_samples: int | None = None,
        flop_samples: int = 1024,
        latency_min_s: float = 0.3,
        latency_repeats: int = 5,
    ) -> None:
        self.log_every_n_steps = max(1, int(log_every_n_steps))
        self.latency_samples, self.flop_samples = latency_samples, max(1, int(flop_samples))
        self.latency_min_s, self.latency_repeats = latency_min_s, max(1, int(latency_repeats))
        self.train_seconds = 0.0
        self.timed_seconds = 0.0
        self.timed_samples = 0
        self.model_mem_bytes: float | None = None
        self.test_costs: dict[str, float] = {}
        self._flops = [0, 0]  # FLOPs and samples counted
        self._step_peak: TensorPeak | None = None
        self._step_base = 0
        self._fit_started: float | None = None
        self._window_started = 0.0
        self._window_batches = 0
        self._window_samples = 0
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
        device = self._cuda(trainer)
        if device is not None:  # kept now: measuring inference resets the allocator's peak
            self.model_mem_bytes = float(torch.cuda.max_memory_allocated(device))
        self._carry(trainer, FIT_KEYS)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._carry(trainer, TEST_KEYS)

    def _carry(self, trainer: L.Trainer, keys: tuple[str, ...]) -> None:
        """ddp_spawn fits and tests in worker processes and brings back only `trainer.callback_metrics`
        to the main process: the stage's totals travel there, for `cost` to read."""
        measured = self._measured(trainer)
        for key in keys:
            if measured.get(key) is not None:
                trainer.callback_metrics[key] = torch.tensor(measured[key], dtype=torch.float64)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start_window(trainer)

    # ---- the model's own memory: the first training step, tensor by tensor (CPU) ----------------
    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self.model_mem_bytes is not None or self._step_peak is not None or self._cuda(trainer):
            return
        self._step_base = tensor_bytes(pl_module) + optimizer_state_bytes(trainer.optimizers)
        self._step_peak = TensorPeak()
        self._step_peak.__enter__()

    def _end_step_peak(self) -> None:
        if self._step_peak is not None:
            self._step_peak.__exit__(None, None, None)
            self.model_mem_bytes = float(self._step_base + self._step_peak.peak)
            self._step_peak = None

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._end_step_peak()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self._end_step_peak()
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

    # ---- inference: FLOPs, latency and memory of the task's `inference` on test batches ------------
    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.test_costs, self._flops = {}, [0, 0]

    def on_test_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if not trainer.is_global_zero or self._flops[1] < 0:
            return
        try:
            self._measure_inference(trainer, pl_module, batch, batch_idx)
        except Exception as exc:  # a module without a usable forward: no inference figures
            self._flops = [0, -1]
            warnings.warn(
                f"cost/flops and cost/latency_ms not measured: {type(pl_module).__name__}'s inference on a "
                f"test batch raised {type(exc).__name__}: {exc}; give the task an `inference(batch)` method",
                stacklevel=2,
            )

    def _measure_inference(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        if self._flops[1] < self.flop_samples:
            part = head(batch, self.flop_samples - self._flops[1])
            self._flops[0] += count_flops(inference_call(pl_module, part))
            self._flops[1] += _batch_size(part)
            self.test_costs["cost/flops"] = round(self._flops[0] / max(self._flops[1], 1))
        if batch_idx == 0 and "cost/latency_ms" not in self.test_costs:
            self.test_costs.update(self._inference_costs(trainer, pl_module, head(batch, self.latency_samples)))

    def _inference_costs(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any) -> dict[str, float]:
        call, samples = inference_call(pl_module, batch), max(_batch_size(batch), 1)
        timed = latency(call, self.latency_min_s, self.latency_repeats)
        device = self._cuda(trainer)
        if device is not None:
            torch.cuda.synchronize(device)
            before = torch.cuda.memory_allocated(device)
            torch.cuda.reset_peak_memory_stats(device)
            call()
            torch.cuda.synchronize(device)
            extra = torch.cuda.max_memory_allocated(device) - before
        else:
            with TensorPeak() as peak:
                call()
            extra = peak.peak
        return {
            "cost/latency_ms": significant(1e3 * timed.median_s),
            "cost/latency_ms_iqr": significant(1e3 * timed.iqr_s),
            "cost/latency_ms_per_sample": significant(1e3 * timed.median_s / samples),
            "cost/latency_batch": samples,
            "cost/infer_mem_mb": significant((tensor_bytes(pl_module) + extra) / MB),
        }

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
        return {
            "cost/train_s": round(self.train_seconds, 3),
            "cost/model_mem_mb": significant(self.model_mem_bytes / MB) if self.model_mem_bytes else None,
            "cost/process_rss_gb": round(self.peak_rss(), 4),
            "cost/samples_per_s": round(self.timed_samples / self.timed_seconds, 2)
            if self.timed_seconds
            else None,
            **self.test_costs,
        }

    def cost(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, float | None]:
        """The record's `cost/` figures (the module docstring says what each measures). Where this
        process did not train or test (ddp_spawn's main process), the figures its workers carried
        back."""
        cost = self._measured(trainer)
        carried = trainer.callback_metrics
        if not self.train_seconds:
            cost.update({k: significant(float(carried[k])) for k in FIT_KEYS if k in carried})
        if not self.test_costs:
            cost.update({k: significant(float(carried[k])) for k in TEST_KEYS if k in carried})
        cost["cost/params_m"] = count_parameters(pl_module) / 1e6
        return {k: v for k, v in cost.items() if v is not None}
