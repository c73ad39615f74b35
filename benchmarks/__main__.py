"""`python -m benchmarks [NAME ...]`: run every `benchmarks/bench_*.py` (or the named ones).

Each module defines `run() -> list[Result]`. Targets are reported, not asserted: a miss prints MISS
and the command exits 1 so `make bench` shows it.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

import benchmarks
from benchmarks.common import Result


def main(names: list[str]) -> int:
    modules = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))
    chosen = [m for m in modules if not names or m in names or m.removeprefix("bench_") in names]
    misses = 0
    for name in chosen:
        started = time.perf_counter()
        results: list[Result] = importlib.import_module(f"benchmarks.{name}").run()
        for result in results:
            print(result.line())
            misses += not result.ok
        print(f"  ({name}: {time.perf_counter() - started:.1f} s)")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
