"""What a benchmark reports: a measured value, its baseline from the same run, and the target."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


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
