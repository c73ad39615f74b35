"""What a benchmark reports: a measured value, its baseline from the same run, and the target."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

# `ABLAB_BENCH_SMOKE=1`: every benchmark at a tiny size, so that a test (tests/test_benchmarks.py) runs
# them all in about a minute and none rots; the figures then mean nothing and misses are expected.
SMOKE = os.environ.get("ABLAB_BENCH_SMOKE") == "1"
# A run's console chatter off: the benchmark's figures are what it prints.
QUIET = ["print_config=false", "trainer.enable_progress_bar=false", "callbacks.progress_bar=null"]


def size(full: int, smoke: int) -> int:
    """`full` in a real benchmark run, `smoke` under ABLAB_BENCH_SMOKE=1."""
    return smoke if SMOKE else full


@dataclass
class Result:
    """`value` against `baseline` (same units); ok when value/baseline (or value) meets the target."""

    name: str
    value: float
    baseline: float | None
    target: str
    ok: bool
    unit: str = "s"

    def line(self) -> str:
        ratio = f"  ratio {self.value / self.baseline:.3f}" if self.baseline else ""
        base = f"  baseline {self.baseline:.4g} {self.unit}" if self.baseline is not None else ""
        return (
            f"{'ok  ' if self.ok else 'MISS'} {self.name}: {self.value:.4g} {self.unit}{base}{ratio}"
            f"  (target: {self.target})"
        )


def median_time(fn: Callable[[], object], repeat: int = 3) -> float:
    """Median wall time of `repeat` calls of `fn`."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)
