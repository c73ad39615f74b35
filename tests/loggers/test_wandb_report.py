"""W&B in this process: the report logged as tables and images, and the offline file reader on large
records and torn files."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ablab.lightning.loggers.wandb_file import find_runs, read_run
from ablab.lightning.loggers.wandb_report import log_report_to_wandb


@pytest.fixture
def offline_wandb(tmp_path, monkeypatch) -> Path:
    """W&B offline by default, its folders under tmp_path (restored after the test)."""
    monkeypatch.delenv("WANDB_MODE", raising=False)
    for name, sub in (
        ("WANDB_CACHE_DIR", "cache"),
        ("WANDB_DATA_DIR", "data"),
        ("WANDB_CONFIG_DIR", "config"),
    ):
        monkeypatch.setenv(name, str(tmp_path / sub))
    monkeypatch.setenv("WANDB_SILENT", "true")
    return tmp_path


@dataclass
class FakeReport:
    """The fields of `ablab.analysis.build.Report` that W&B logging reads."""

    study: str
    report_dir: Path
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    plots: list[Path] = field(default_factory=list)


def _png(path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(2, 1.5))
    axes.plot([0, 1], [1, 0])
    figure.savefig(path)
    plt.close(figure)
    return path


def test_report_is_logged_as_tables_and_images_in_a_report_run_of_the_study_group(offline_wandb) -> None:
    comparison = pd.DataFrame(
        {
            "variant": ["baseline", "no_attention"],
            "mean": [0.81, 0.74],
            "p_holm": [np.nan, 0.03],
            "note": [None, "worse"],
        }
    ).set_index("variant")
    report = FakeReport(
        "hnet_ablation",
        offline_wandb / "report",
        {"comparison": comparison},
        [_png(offline_wandb / "val_curves.png")],
    )
    folder = log_report_to_wandb(report)
    assert folder.parent == offline_wandb / "report" / "wandb" and folder.name.startswith("offline-run-")
    run = read_run(folder)
    assert (run.group, run.job_type, run.name, run.exit_code) == (
        "hnet_ablation",
        "report",
        "hnet_ablation-report",
        0,
    )
    (row,) = run.history
    table = row["report/comparison"]
    assert (table["_type"], table["nrows"], table["ncols"]) == ("table-file", 2, 4)
    data = json.loads((folder / "files" / table["path"]).read_text())
    assert data["columns"] == ["variant", "mean", "p_holm", "note"]
    assert [r[:2] for r in data["data"]] == [["baseline", 0.81], ["no_attention", 0.74]]
    image = row["plots/val_curves"]
    assert image["_type"] == "image-file" and (folder / "files" / image["path"]).stat().st_size > 0


def test_reader_joins_records_split_over_blocks_and_stops_at_a_torn_tail(offline_wandb) -> None:
    import wandb

    big = "x" * 80_000  # a run record over three 32 KiB blocks: FIRST, MIDDLE and LAST chunks
    run = wandb.init(
        project="reader",
        dir=str(offline_wandb),
        mode="offline",
        config={"big": big, "n": 3},
        reinit="create_new",
    )
    for step in range(400):
        run.log({"loss": 1.0 / (step + 1), "note": f"step {step:04d}"})
    run.summary["final"] = 7
    run.finish()
    (folder,) = find_runs(offline_wandb)
    from ablab.lightning.loggers.wandb_setup import wait_for_run_file

    assert wait_for_run_file(run)
    decoded = read_run(folder)
    assert decoded.config["big"] == big and decoded.config["n"] == 3
    assert decoded.metric("loss") == pytest.approx([1.0 / (s + 1) for s in range(400)])
    assert decoded.summary["final"] == 7 and decoded.exit_code == 0
    assert decoded.path.stat().st_size > 3 * 32768

    torn = offline_wandb / "torn" / "run-x.wandb"
    torn.parent.mkdir()
    shutil.copyfile(decoded.path, torn)
    with torn.open("r+b") as handle:
        handle.truncate(decoded.path.stat().st_size * 2 // 3)
    partial = read_run(torn)
    assert partial.config["big"] == big
    assert 0 < len(partial.metric("loss")) < 400 and partial.exit_code is None
