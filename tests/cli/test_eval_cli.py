"""`ablab-eval` and training on bad input, as a hostile user types it: each ends in one `error:` line
and exit code 2, writes no partial result, and leaves the run's files as they were."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import TINY_CSV, find_records, run_cli

EVAL = [sys.executable, "-m", "ablab.cli.eval"]
TINY_TABLE = [
    "experiment=hybrid",
    "data=csv",
    "data.num_features=4",
    "data.num_classes=2",
    "model.cnn_blocks=1",
    "model.cnn_channels=4",
    "model.lstm_hidden=8",
    "model.lstm_layers=1",
    "model.attention.num_heads=2",
    "trainer.max_epochs=2",
    "trainer.enable_progress_bar=false",
    "callbacks.progress_bar=null",
    "logger=csv",
    "print_config=false",
]


def _table(path: Path, rows: int = 60, bad: str | None = None, at: int = 0) -> Path:
    """Features f0..f3 and a pos/neg label; `bad` replaces f2 of data row `at + 1`."""
    x = np.random.default_rng(0).normal(size=(rows, 4)).round(4)
    lines = ["f0,f1,f2,f3,label"]
    for i, r in enumerate(x):
        cells = [str(v) for v in r]
        if bad is not None and i == at:
            cells[2] = bad
        lines.append(",".join([*cells, "pos" if r[1] > 0 else "neg"]))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny HNet run and one tiny hybrid run on a CSV; their best checkpoints."""
    base = tmp_path_factory.mktemp("eval_cli")
    paths = [f"paths.log_dir={base / 'logs'}", f"paths.cache_dir={base / 'cache'}"]
    run_cli([*TINY_CSV, *paths])
    run_cli([*TINY_TABLE, f"data.path={_table(base / 'table.csv')}", *paths])
    records = {r["family"]: r for r in find_records(base / "logs")}
    return {family: r["_dir"] / r["best_checkpoint"] for family, r in records.items()} | {"base": base}


def _one_error(proc, code: int = 2) -> str:
    """The single stderr line of a failed command (nothing on stdout)."""
    assert proc.returncode == code, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-2000:]
    assert proc.stdout == ""
    return lines[0]


def _untouched(run_dir: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if p.is_file()}


def test_eval_of_a_file_that_is_no_checkpoint(trained, tmp_path: Path) -> None:
    notes = tmp_path / "notes.ckpt"
    notes.write_text("not a checkpoint\n" * 20)
    line = _one_error(run_cli([str(notes)], program=EVAL, check=False))
    assert line.startswith(f"error: {notes}: not a readable checkpoint: it is not a torch checkpoint")


def test_eval_of_a_truncated_checkpoint(trained, tmp_path: Path) -> None:
    half = tmp_path / "half.ckpt"
    half.write_bytes(trained["hnet"].read_bytes()[:20000])
    line = _one_error(run_cli([str(half)], program=EVAL, check=False))
    assert line == (
        f"error: {half}: not a readable checkpoint: it is truncated or corrupted (not a complete torch zip "
        "archive); pass a .ckpt file written by `python train.py`"
    )


def test_eval_of_a_checkpoint_of_another_family(trained, tmp_path: Path) -> None:
    rows = _table(tmp_path / "rows.csv", rows=5)
    line = _one_error(run_cli([str(trained["hnet"]), "--predict", str(rows)], program=EVAL, check=False))
    assert line == (
        f"error: {trained['hnet']}: predictions from a CSV need a classification run, not HNetTask"
    )
    # hybrid weights under an HNet checkpoint's config
    mixed = tmp_path / "mixed.ckpt"
    hnet = torch.load(trained["hnet"], map_location="cpu", weights_only=True)
    hybrid = torch.load(trained["hybrid"], map_location="cpu", weights_only=True)
    torch.save({**hnet, "state_dict": hybrid["state_dict"]}, mixed)
    line = _one_error(run_cli([str(mixed)], program=EVAL, check=False))
    assert line.startswith(f"error: {mixed}: its weights do not fit the model its config builds (")
    assert not (tmp_path / "eval").exists()


def test_eval_with_out_a_folder(trained, tmp_path: Path) -> None:
    out = tmp_path / "results"
    out.mkdir()
    run_dir = trained["hnet"].parent.parent
    before = _untouched(run_dir)
    line = _one_error(run_cli([str(trained["hnet"]), "--out", str(out)], program=EVAL, check=False))
    assert line == f"error: --out {out} is a folder: give a file to write, such as {out / 'metrics.json'}"
    assert list(out.iterdir()) == [] and _untouched(run_dir) == before


def test_eval_with_an_override_that_changes_the_models_shape(trained) -> None:
    run_dir = trained["hnet"].parent.parent
    before = _untouched(run_dir)
    line = _one_error(run_cli([str(trained["hnet"]), "model.hidden_size=32"], program=EVAL, check=False))
    assert line.startswith(
        f"error: {trained['hnet']}: its weights do not fit the model its config builds with model.hidden_size=32 "
        "(size mismatch for model."
    )
    assert "drop overrides that change the model's shape" in line
    assert _untouched(run_dir) == before


def test_predict_refuses_a_value_beyond_float32(trained, tmp_path: Path) -> None:
    """It used to give the row a class and empty probabilities."""
    rows = _table(tmp_path / "rows.csv", rows=5, bad="1e39", at=2)
    out = tmp_path / "predictions.csv"
    proc = run_cli(
        [str(trained["hybrid"]), "--predict", str(rows), "--out", str(out)], program=EVAL, check=False
    )
    line = _one_error(proc)
    assert line.startswith(
        f"error: {rows}: feature column 'f2' holds 1e+39 at data row 3 (file line 4), beyond float32"
    )
    assert not out.exists()


@pytest.mark.parametrize("split_row", [0, 59], ids=["somewhere", "last row"])
def test_training_on_a_value_beyond_float32_fails_before_any_epoch(
    trained, tmp_path: Path, split_row: int
) -> None:
    """It used to complete with val/loss NaN (a validation row) or diverge (a training row)."""
    data = _table(tmp_path / "table.csv", bad="-1e308", at=split_row)
    paths = [f"paths.log_dir={tmp_path / 'logs'}", f"paths.cache_dir={tmp_path / 'cache'}"]
    proc = run_cli([*TINY_TABLE, f"data.path={data}", *paths], check=False)
    assert proc.returncode == 2
    (line,) = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    message = (
        f"DataError: {data}: feature column 'f2' holds -1e+308 at data row {split_row + 1} (file line "
        f"{split_row + 2}), beyond float32's range"
    )
    assert line.startswith(f"error: {message}")
    (record,) = find_records(tmp_path / "logs")
    assert record["status"] == "failed" and record["error"]["message"].startswith(message)
    assert record["metrics"] == {} and not (record["_dir"] / "checkpoints").exists()
