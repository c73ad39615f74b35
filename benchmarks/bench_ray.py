"""Per-run overhead through `hydra/launcher=ray` against the basic launcher: the same tiny HNet runs,
one at a time on both (each Ray task asks for both CPUs of a Ray started for the sweep), so the
difference is Ray's own cost per run (a task, a worker's imports, the runtime env), not parallelism.
Ray's start-up is reported apart (a one-run sweep through each)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from benchmarks.bench_sweep import SMALL, _sweep
from benchmarks.common import Result

RAY = ["hydra/launcher=ray", "hydra.launcher.ray.init.num_cpus=2", "hydra.launcher.ray.remote.num_cpus=2"]


def _per_run(base: Path, name: str, *launcher: str) -> tuple[float, float]:
    """Seconds a sweep takes per run beyond training, and the one-run sweep's seconds."""
    one, _ = _sweep(base / f"{name}-one", *SMALL, "seed=1", *launcher)
    five, records = _sweep(base / f"{name}-five", *SMALL, "seed=1,2,3,4,5", *launcher)
    training = sum(r["cost"]["cost/train_s"] for r in records) / len(records)
    return (five - one) / 4 - training, one


def run() -> list[Result]:
    try:
        import ray  # noqa: F401
    except ImportError as exc:
        raise SystemExit("bench_ray: ray is not installed; `make install` installs the ray extra") from exc
    home = os.environ.get("HOME")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        os.environ["HOME"] = str(base / "home")  # Ray 2.60 writes its auth token under ~/.ray
        try:
            basic, basic_one = _per_run(base, "basic")
            ray_run, ray_one = _per_run(base, "ray", *RAY)
        finally:
            if home is not None:
                os.environ["HOME"] = home
    return [
        Result("per-run overhead beyond training: Ray task vs basic launcher", ray_run, basic,
               "< 3 s per run", ray_run < 3.0),
        # Starting Ray on this machine measured about 13 s once (docs/ray.md).
        Result("one-run sweep: Ray (its start-up included) vs basic", ray_one, basic_one,
               "<= basic + 20 s", ray_one <= basic_one + 20.0),
    ]  # fmt: skip
