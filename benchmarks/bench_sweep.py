"""Sweep costs: per-run overhead beyond training with the basic launcher, and the speed-up of the
local_parallel launcher (2 joblib workers) over sequential on 8 CPU-bound runs.

Sequential runs use every core inside torch (intra-op threads); parallel jobs get one core each. The
speed-up can therefore not exceed 2 x (sequential train time / parallel train time per run), the
ceiling printed beside it: 1.5-1.7 for these HNet runs on 2 idle cores (torch already runs them
1.2-1.3x faster on two threads than on one), where the launcher reached 1.46x."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import QUIET, SMOKE, Result

ROOT = Path(__file__).resolve().parents[1]
SMALL = [
    "data.train_per_case=20",
    "data.val_per_case=5",
    "data.test_per_case=5",
    "model.hidden_size=8",
    "trainer.max_epochs=1",
]
# Long enough that training, not start-up, is most of a run (~5 s of ~7 s on 2 idle cores).
CPU_BOUND = (
    SMALL
    if SMOKE
    else [
        "data.train_per_case=2000",
        "data.val_per_case=50",
        "data.test_per_case=50",
        "trainer.max_epochs=4",
        "callbacks.early_stopping=null",
    ]
)
SEEDS = 2 if SMOKE else 8


def _sweep(log_dir: Path, *args: str) -> tuple[float, list[dict]]:
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        "-m",
        *QUIET,
        f"paths.log_dir={log_dir}",
        f"paths.cache_dir={log_dir}/cache",
        *args,
    ]
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, capture_output=True, check=True)
    seconds = time.perf_counter() - started
    records = [json.loads(p.read_text()) for p in log_dir.rglob("results.json") if "previous" not in p.parts]
    return seconds, records


def run() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        one, _ = _sweep(base / "one", *SMALL, "seed=1")
        many = 3 if SMOKE else 6
        six, records = _sweep(base / "six", *SMALL, "seed=" + ",".join(map(str, range(1, many + 1))))
        per_run = (six - one) / (many - 1)
        training = sum(r["cost"]["cost/train_s"] for r in records) / len(records)
        overhead = per_run - training
        seeds = "seed=" + ",".join(map(str, range(1, SEEDS + 1)))
        _sweep(base / "warm", *CPU_BOUND, "seed=1")  # generate and cache the data once
        sequential, seq_records = _sweep(
            base / "seq", *CPU_BOUND, seeds, f"paths.cache_dir={base}/warm/cache"
        )
        parallel, par_records = _sweep(
            base / "par",
            *CPU_BOUND,
            seeds,
            "hydra/launcher=local_parallel",
            f"paths.cache_dir={base}/warm/cache",
        )
    # Jobs use fewer threads in parallel, so float reductions may differ in the last digits.
    by_seed = {r["seed"]: r["metrics"]["test/f1_weighted"] for r in seq_records}
    same = len(par_records) == SEEDS and all(
        abs(by_seed[r["seed"]] - r["metrics"]["test/f1_weighted"]) < 1e-3 for r in par_records
    )

    def train_s(records: list[dict]) -> float:
        return sum(r["cost"]["cost/train_s"] for r in records)

    ceiling = 2 * train_s(seq_records) / train_s(par_records)
    return [
        Result(
            "sweep overhead per run beyond training (basic launcher)", overhead, None, "< 1 s", overhead < 1.0
        ),
        Result(
            "ceiling of the 2-worker speed-up: 2 x sequential / parallel train time per run",
            ceiling,
            None,
            ">= 1.6 (needs torch to gain < 1.25x from its second thread)",
            ceiling >= 1.6,
            unit="x",
        ),
        Result(
            f"{SEEDS} runs: sequential vs local_parallel, 2 workers (same results: {same})",
            sequential,
            parallel,
            "ratio >= 1.6",
            sequential / parallel >= 1.6 and same,
        ),
    ]
