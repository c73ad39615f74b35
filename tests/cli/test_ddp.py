"""`trainer=ddp_sim`: DDP on CPU (two spawned processes, gloo) trains an HNet run whose record and
metrics match a single-process run's, with every metric logged once."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.conftest import TINY_HNET, find_records, run_cli

pytestmark = pytest.mark.slow

EPOCHS = 4
# Same global batch in both runs: 64 in one process, 2 x 32 under DDP.
TINY = [o for o in TINY_HNET if not o.startswith(("data.batch_size=", "trainer.max_epochs="))]
COMMON = [*TINY, f"trainer.max_epochs={EPOCHS}", "callbacks.early_stopping=null", "logger=csv"]


def _train(tmp_path: Path, name: str, overrides: list[str]) -> dict:
    paths = [f"paths.log_dir={tmp_path / name}", f"paths.cache_dir={tmp_path / 'cache'}"]
    run_cli([*overrides, *COMMON, *paths], timeout=400)
    (record,) = find_records(tmp_path / name)
    return record


def _rows(record: dict, key: str) -> list[dict]:
    with (record["_dir"] / "csv" / "metrics.csv").open() as handle:
        return [row for row in csv.DictReader(handle) if row.get(key)]


def test_ddp_sim_trains_logs_once_and_matches_a_single_process_run(tmp_path: Path) -> None:
    single = _train(tmp_path, "single", ["trainer=cpu", "data.batch_size=64"])
    ddp = _train(tmp_path, "ddp", ["trainer=ddp_sim", "data.batch_size=32"])

    assert ddp["status"] == "completed", ddp.get("error")
    assert ddp["choices"]["trainer"] == "ddp_sim"
    assert ddp["epochs"] == single["epochs"] == EPOCHS
    assert ddp["attempt"] == 1 and not (ddp["_dir"] / "previous").exists()
    # Rank zero alone logs: one validation row per epoch, one test row, in the same metrics.csv.
    assert [int(r["epoch"]) for r in _rows(ddp, "val/f1_weighted")] == list(range(EPOCHS))
    assert len(_rows(ddp, "test/f1_weighted")) == 1
    # The record's best validation value is the best epoch's, as in a single process.
    best_logged = max(float(r["val/f1_weighted"]) for r in _rows(ddp, "val/f1_weighted"))
    assert ddp["metrics"]["val/f1_weighted"] == pytest.approx(best_logged)
    assert ddp["best_checkpoint"] == "checkpoints/best.ckpt"

    # Same data, same global batch, another sample order: close, not identical.
    for key, tolerance in (("val/f1_weighted", 0.03), ("test/f1_weighted", 0.03), ("test/loss", 0.1)):
        assert ddp["metrics"][key] == pytest.approx(single["metrics"][key], abs=tolerance), key
