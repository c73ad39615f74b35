"""Per-device GPU utilisation and memory through NVML; silent and empty where NVML is missing."""

from __future__ import annotations

import torch


class GpuMonitor:
    """Reads utilisation (%) and used memory (GB) of one CUDA device via nvidia-ml-py."""

    def __init__(self, device: torch.device) -> None:
        self.index = device.index if device.index is not None else torch.cuda.current_device()
        self.handle = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self.handle = pynvml.nvmlDeviceGetHandleByIndex(self.index)
            self._nvml = pynvml
        except Exception:  # NVML absent (driver-less container): keep torch's own numbers only.
            self.handle = None

    def read(self) -> dict[str, float]:
        if self.handle is None:
            return {}
        util = self._nvml.nvmlDeviceGetUtilizationRates(self.handle)
        mem = self._nvml.nvmlDeviceGetMemoryInfo(self.handle)
        return {f"system/gpu{self.index}_util_pct": float(util.gpu),
                f"system/gpu{self.index}_mem_used_gb": mem.used / 1e9}
