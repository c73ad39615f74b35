"""Synthetic run folders for the report tests: real results.json files with chosen values."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ablab.runs.records import RESULTS_FILE, SCHEMA, write_json_atomic

MakeRun = Callable[..., Path]


def make_record(
    *,
    study: str = "toy",
    variant: str = "baseline",
    seed: int = 1,
    value: float | None = 0.8,
    status: str = "completed",
    metric: str = "f1_weighted",
    mode: str = "max",
    cost: dict[str, float] | None = None,
    reason: str | None = None,
    config: str = "",
    extra_metrics: dict[str, float] | None = None,
    data: str | None = None,
    finished_at: str = "2026-01-01T00:10:00+0000",
    references: dict[str, Any] | None = None,
    margin: float | None = None,
) -> dict[str, Any]:
    """A schema-1 record as the runner writes it; `value` is test/<metric> (val/<metric> a bit higher)."""
    config_hash = hashlib.sha256(f"{study}/{variant}/{seed}/{config}/{data}".encode()).hexdigest()[:10]
    record: dict[str, Any] = {
        "schema": SCHEMA,
        "status": status,
        "study": study,
        "variant": variant,
        "family": "toy",
        "seed": seed,
        "config_hash": config_hash,
        "metric": {"name": metric, "mode": mode},
        "overrides": [f"seed={seed}"],
        "choices": {},
        "metrics": {},
        "cost": {},
        "started_at": "2026-01-01T00:00:00+0000",
        "data": {"hash": data, "files": {}} if data else None,
        "report": {"margin": margin},
    }
    if status == "completed":
        record["metrics"] = {f"test/{metric}": value, f"val/{metric}": value + 0.01, **(extra_metrics or {})}
        record["cost"] = cost or {
            "cost/train_s": 10.0,
            "cost/model_mem_mb": 1.0,
            "cost/params_m": 0.5,
            "cost/latency_ms": 2.0,
            "cost/flops": 1000.0,
        }
        record["finished_at"] = finished_at
        if references is not None:
            record["references"] = references
    if status in ("failed", "diverged"):
        record["error"] = {"message": reason or "RuntimeError: boom", "traceback": "Traceback ..."}
    return record


def run_dir_of(root: Path, record: dict[str, Any]) -> Path:
    """`<root>/<study>/<variant>/seed<seed>-<hash>`, the runner's layout."""
    return root / record["study"] / record["variant"] / f"seed{record['seed']}-{record['config_hash']}"


@pytest.fixture
def make_run(tmp_path: Path) -> MakeRun:
    """Write one run's results.json under `root` (default: this test's `logs/`); return its folder."""

    def make(root: Path | None = None, **fields: Any) -> Path:
        record = make_record(**fields)
        run_dir = run_dir_of(root or tmp_path / "logs", record)
        write_json_atomic(run_dir / RESULTS_FILE, record)
        return run_dir

    return make
