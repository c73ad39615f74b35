"""Per-device GPU utilisation and memory through NVML; silent and empty where NVML is missing."""

from __future__ import annotations

import contextlib
from typing import Any


def nvml_index(index: int) -> int:
    """The NVML (physical) index of torch's CUDA device `index`: they differ under CUDA_VISIBLE_DEVICES
    (as SLURM sets it), which torch's own mapping accounts for."""
    import torch

    try:
        return int(torch.cuda._get_nvml_device_index(index))
    except Exception:  # an odd CUDA_VISIBLE_DEVICES: torch's index is the best guess left
        return index


class GpuMonitor:
    """Reads utilisation (%) and used memory (GB) of the run's CUDA devices, keyed by torch index.

    Every failure (no NVML, a MIG slice without utilisation counters) drops that figure quietly: the
    callback still logs torch's allocator peaks, and W&B records its own `gpu.*` metrics."""

    def __init__(self, indices: list[int]) -> None:
        self.handles: dict[int, Any] = {}
        try:
            import pynvml

            pynvml.nvmlInit()
        except Exception:
            return
        self._nvml = pynvml
        for index in indices:
            try:
                self.handles[index] = pynvml.nvmlDeviceGetHandleByIndex(nvml_index(index))
            except Exception:
                continue

    def read(self) -> dict[str, float]:
        """`system/gpu<i>_util_pct` and `system/gpu<i>_mem_used_gb` for each device NVML answers for."""
        values: dict[str, float] = {}
        for index, handle in self.handles.items():
            with contextlib.suppress(Exception):
                util = self._nvml.nvmlDeviceGetUtilizationRates(handle)
                values[f"system/gpu{index}_util_pct"] = float(util.gpu)
            with contextlib.suppress(Exception):
                memory = self._nvml.nvmlDeviceGetMemoryInfo(handle)
                values[f"system/gpu{index}_mem_used_gb"] = memory.used / 1e9
        return values
