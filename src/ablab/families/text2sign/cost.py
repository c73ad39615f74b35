"""System metrics plus the per-clip sampling cost that generative tasks measure at test."""

from __future__ import annotations

import lightning as L
import torch

from ablab.lightning.callbacks.system_metrics import SystemMetrics

PER_CLIP = ("infer_ms_per_clip", "infer_mem_gb_per_clip")


class ClipSamplingCost(SystemMetrics):
    """`cost()` adds `cost/infer_ms_per_clip` and `cost/infer_mem_gb_per_clip` from the task's
    `test/` metrics of the same names. On CUDA the task's memory measurement resets the allocator's
    peak, so the training peak is taken before testing and kept in `cost/peak_mem_gb`."""

    def __init__(self, log_every_n_steps: int = 20) -> None:
        super().__init__(log_every_n_steps=log_every_n_steps)
        self._cuda_peak_before_test = 0.0

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_test_start(trainer, pl_module)
        device = trainer.strategy.root_device
        if device.type == "cuda":
            self._cuda_peak_before_test = max(
                self._cuda_peak_before_test, torch.cuda.max_memory_allocated(device) / 1e9
            )

    def cost(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, float | None]:
        cost = super().cost(trainer, pl_module)
        if self._cuda_peak_before_test:
            cost["cost/peak_mem_gb"] = max(
                cost.get("cost/peak_mem_gb") or 0.0, round(self._cuda_peak_before_test, 4)
            )
        for key in PER_CLIP:
            value = trainer.callback_metrics.get(f"test/{key}")
            if value is not None:
                cost[f"cost/{key}"] = round(float(value), 6)
        return cost
