"""The text-to-sign study end to end through the real CLI: `python train.py -m sweep=text2sign`
cut down to one seed and a tiny model, then `ablab-report` on it."""

from __future__ import annotations

import sys
from pathlib import Path

import imageio.v3 as iio
import pandas as pd
import pytest

from tests.conftest import find_records, run_cli

VARIANTS = ("baseline", "no_ema", "text_finetuned")
# Seconds per run on 2 CPU cores: 4-frame 16x16 clips, an 8-channel UNet, the tiny random text encoder.
TINY_T2S = [
    "model/text_encoder=tiny",
    "data.num_glosses=3",
    "data.max_glosses=1",
    "data.frames=4",
    "data.height=16",
    "data.width=16",
    "data.train_size=16",
    "data.val_size=4",
    "data.test_size=6",
    "data.batch_size=4",
    "model.denoiser.model_channels=8",
    "model.denoiser.patch_size=2",
    "model.context_dim=8",
    "task.sample_steps=2",
    "task.val_clips=4",
    "trainer.max_epochs=2",
    "trainer.enable_progress_bar=false",
    "print_config=false",
    "callbacks.progress_bar=null",
    "logger=csv",
]


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory) -> tuple[Path, list[dict]]:
    base = tmp_path_factory.mktemp("t2s")
    run_cli(
        [
            "-m",
            "sweep=text2sign",
            "seed=1",
            *TINY_T2S,
            f"paths.log_dir={base / 'logs'}",
            f"paths.cache_dir={base / 'cache'}",
        ]
    )
    study = base / "logs" / "text2sign_ablation"
    return study, find_records(study)


def test_the_sweep_leaves_one_completed_run_per_variant_with_quality_and_cost(tiny_study) -> None:
    _, records = tiny_study
    assert sorted(r["variant"] for r in records) == list(VARIANTS)
    for record in records:
        assert record["status"] == "completed", record.get("error")
        metrics, cost = record["metrics"], record["cost"]
        assert record["metric"] == {"name": "retrieval_acc", "mode": "max"}
        assert 0.0 <= metrics["val/retrieval_acc"] <= 1.0 and 0.0 <= metrics["test/retrieval_acc"] <= 1.0
        for key in ("fd_random3d", "ssim", "psnr", "temporal_consistency", "retrieval_chance"):
            assert f"test/{key}" in metrics, key
        assert cost["cost/latency_ms_per_sample"] > 0 and cost["cost/latency_batch"] == 1  # one clip
        assert cost["cost/flops"] > 0 and cost["cost/infer_mem_mb"] >= 0
        assert cost["cost/train_s"] > 0 and cost["cost/model_mem_mb"] > 0
        grid = iio.imread(record["_dir"] / "samples" / "test.gif", index=None)
        assert grid.shape[0] == 4  # one GIF frame per clip frame
    by_variant = {r["variant"]: r for r in records}
    assert by_variant["baseline"]["choices"]["ablation"] == "text2sign/baseline"
    # Same model, same parameters; what differs is how they are trained and averaged.
    assert len({r["params"] for r in records}) == 1
    assert len({r["config_hash"] for r in records}) == 3


def test_the_report_compares_the_three_variants_against_the_baseline(tiny_study) -> None:
    study, _ = tiny_study
    run_cli([str(study)], program=[sys.executable, "-m", "ablab.cli.report", "--no-wandb"])
    table = pd.read_csv(study / "report" / "comparison_table.csv").set_index("variant")
    assert sorted(table.index) == list(VARIANTS)
    assert set(table["metric"]) == {"test/retrieval_acc"} and set(table["baseline"]) == {"baseline"}
    # The reference table: quality, train time, memory and inference deltas against the baseline.
    for column in ("delta", "train_s_delta", "model_mem_mb_delta", "latency_ms_per_sample_delta"):
        assert table.loc[["no_ema", "text_finetuned"], column].notna().all(), column
    # Finetuning the text encoder trains more weights: more optimiser state, same parameter count.
    assert table.loc["text_finetuned", "params_m_delta"] == 0
    markdown = (study / "report" / "comparison_table.md").read_text()
    # each cost column holds the mean and its delta against the baseline, e.g. "12.3 (+4.5% [...])"
    for header in ("Quality Δ", "Train time (s)", "Model memory, training (MB)", "Latency/sample (ms)"):
        assert header in markdown, header


def test_checkpoints_load_with_weights_only_and_the_allow_list(tiny_study) -> None:
    """What resume and ablab-eval read: no type beyond `ablab.runs.checkpoints.SAFE_GLOBALS` (EMA
    weights included)."""
    from ablab.runs.checkpoints import read_checkpoint

    _, records = tiny_study
    for record in records:
        for name in ("best.ckpt", "last.ckpt"):
            assert (
                read_checkpoint(record["_dir"] / "checkpoints" / name)["ablab"]["config"]["family"]
                == "text2sign"
            )
