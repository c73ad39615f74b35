"""CUDA out-of-memory, injected on CPU by a callback that raises torch's OutOfMemoryError above a batch
size: the run is recorded `oom` with the batch size it tried; with retry_oom=true it is retried once
at half the batch size, and the record says so."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.conftest import TINY_CSV, find_records, run_cli

pytestmark = pytest.mark.slow

OOM_ABOVE_32 = [
    "+callbacks.oom._target_=tests.helpers.faults.OutOfMemoryAbove",
    "+callbacks.oom.batch_size=32",
]


def test_an_out_of_memory_run_is_recorded_oom_with_its_batch_size(tmp_path: Path, run_paths) -> None:
    proc = run_cli([*TINY_CSV, *OOM_ABOVE_32, *run_paths], check=False)
    assert proc.returncode == 1
    assert "CUDA out of memory at data.batch_size=64" in proc.stderr and "retry_oom=true" in proc.stderr
    (record,) = find_records(tmp_path / "logs")
    assert record["status"] == "oom"
    assert record["oom"] == {"batch_size": 64}
    assert record["error"]["kind"] == "oom"


def test_retry_oom_retries_once_at_half_the_batch_and_says_so(tmp_path: Path, run_paths) -> None:
    run_cli([*TINY_CSV, *OOM_ABOVE_32, *run_paths, "retry_oom=true"])
    (record,) = find_records(tmp_path / "logs")
    assert record["status"] == "completed"
    assert record["oom"] == {"batch_size": 64, "retried_at": 32, "retry": "completed"}
    # The first attempt's outputs were set aside; the checkpoints are the retry's, at batch size 32.
    assert [p.name.split("-", 2)[-1] for p in (record["_dir"] / "previous").iterdir()] == ["oom"]
    state = torch.load(record["_dir"] / record["best_checkpoint"], map_location="cpu", weights_only=False)
    assert state["ablab"]["config"]["data"]["batch_size"] == 32


def test_a_retry_that_runs_out_of_memory_again_stays_oom(tmp_path: Path, run_paths) -> None:
    tight = [OOM_ABOVE_32[0], "+callbacks.oom.batch_size=16"]
    proc = run_cli([*TINY_CSV, *tight, *run_paths, "retry_oom=true"], check=False)
    assert proc.returncode == 1
    (record,) = find_records(tmp_path / "logs")
    assert record["status"] == "oom"
    assert record["oom"] == {"batch_size": 64, "retried_at": 32, "retry": "oom"}
