"""The text-to-sign cost: system metrics whose inference is sampling a clip.

The task's `inference` samples clips for a batch's captions (DDIM steps x 2 network passes for
guidance), so `cost/flops`, `cost/latency_ms_per_sample` and `cost/infer_mem_mb` are per generated
clip. One sampling call takes seconds on a CPU: the latency is timed on one clip, three runs after
one warm-up, and the FLOPs are counted on one clip (they do not depend on the caption).
"""

from __future__ import annotations

from ablab.lightning.callbacks.system_metrics import SystemMetrics


class ClipSamplingCost(SystemMetrics):
    """SystemMetrics timed and counted on `clips` generated clips."""

    def __init__(self, log_every_n_steps: int = 20, clips: int = 1, repeats: int = 3) -> None:
        super().__init__(
            log_every_n_steps=log_every_n_steps,
            latency_samples=clips,
            flop_samples=clips,
            latency_min_s=0.0,
            latency_repeats=repeats,
        )
