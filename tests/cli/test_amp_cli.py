"""The AMP family through the real CLI on tiny data: the offline heads study with its shared embedding
cache and ensemble, the ESM-2 grid on tiny local models (a missing size fails alone), the selection
metric, and a checkpoint re-evaluated alone."""

from __future__ import annotations

import csv
import json
import statistics
import sys
from pathlib import Path

import pytest
from sklearn.metrics import roc_auc_score

from tests.conftest import cli_env, find_records, run_cli
from tests.helpers.tiny_models import save_tiny_esm2

HEADS = ["cnn1d", "bilstm", "transformer", "bigru", "birnn", "cnn_bilstm"]
TINY_AMP = [
    "data.max_samples=120",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
    "print_config=false",
    "logger=csv",
]


def events(cache: Path) -> list[dict]:
    path = cache / "embeddings" / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def heads_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """`python train.py -m sweep=amp_heads` with two offline encoders and one seed: 12 runs, 2 at a time."""
    base = tmp_path_factory.mktemp("amp")
    run_cli(
        [
            "-m",
            "sweep=amp_heads",
            "encoder=onehot,blosum62",
            "seed=1",
            *TINY_AMP,
            f"paths.log_dir={base / 'logs'}",
            f"paths.cache_dir={base / 'cache'}",
        ]
    )
    return base, find_records(base / "logs" / "amp_heads")


def test_heads_study_trains_every_head_on_every_encoder(heads_study: tuple[Path, list[dict]]) -> None:
    _, records = heads_study
    assert sorted((r["choices"]["encoder"], r["choices"]["model"]) for r in records) == sorted(
        (e, f"amp/{h}") for e in ("onehot", "blosum62") for h in HEADS
    )
    for record in records:
        assert record["status"] == "completed" and record["metric"]["name"] == "roc_auc"
        assert set(record["metrics"]) >= {
            f"test/{m}" for m in ("accuracy", "precision", "recall", "f1", "mcc", "roc_auc", "ap")
        }
        with (record["_dir"] / "predictions_test.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == 12 and all(0.0 <= float(r["probability"]) <= 1.0 for r in rows)
        assert all(r["id"].startswith("AMPvsUniProt_") for r in rows)
    assert len({r["variant"] for r in records}) == 12


def test_each_encoder_is_computed_once_for_all_its_heads(heads_study: tuple[Path, list[dict]]) -> None:
    base, _ = heads_study
    log = events(base / "cache")
    computed = [e["encoder"] for e in log if e["event"] == "computed"]
    assert sorted(computed) == ["blosum62", "onehot"]
    assert sum(e["event"] == "hit" for e in log) == 10


def test_ensemble_votes_over_the_six_heads(
    heads_study: tuple[Path, list[dict]], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from ablab.cli.ensemble import main

    base, records = heads_study
    assert main([str(base / "logs" / "amp_heads"), "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "soft vote" in printed and "hard vote" in printed
    with (tmp_path / "ensemble.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert sorted({r["encoder"] for r in rows}) == ["blosum62", "onehot"]
    onehot = {r["method"]: r for r in rows if r["encoder"] == "onehot"}
    assert set(onehot) == {*(f"amp/{h}" for h in HEADS), "soft vote", "hard vote"}
    assert all(r["heads"] == "6" and r["n"] == "12" for r in onehot.values())
    # The soft vote is the mean of the heads' saved probabilities, scored like a head.
    probs: dict[str, list[float]] = {}
    labels: dict[str, int] = {}
    for record in (r for r in records if r["choices"]["encoder"] == "onehot"):
        with (record["_dir"] / "predictions_test.csv").open() as handle:
            for row in csv.DictReader(handle):
                probs.setdefault(row["id"], []).append(float(row["probability"]))
                labels[row["id"]] = int(row["label"])
    ids = sorted(probs)
    expected = roc_auc_score([labels[i] for i in ids], [statistics.fmean(probs[i]) for i in ids])
    assert float(onehot["soft vote"]["roc_auc"]) == pytest.approx(expected, abs=1e-4)
    head = next(
        r for r in records if r["choices"]["encoder"] == "onehot" and r["choices"]["model"] == "amp/cnn1d"
    )
    assert float(onehot["amp/cnn1d"]["roc_auc"]) == pytest.approx(head["metrics"]["test/roc_auc"], abs=1e-4)
    assert (tmp_path / "ensemble.md").read_text().count("vote") == 4


def test_checkpoint_alone_reproduces_its_test_metrics(
    heads_study: tuple[Path, list[dict]], tmp_path: Path
) -> None:
    _, records = heads_study
    record = next(r for r in records if r["choices"]["model"] == "amp/transformer")
    out = tmp_path / "eval.json"
    run_cli(
        [str(record["_dir"] / record["best_checkpoint"]), "--out", str(out)],
        program=[sys.executable, "-m", "ablab.cli.eval"],
    )
    metrics = json.loads(out.read_text())
    for name in ("roc_auc", "ap", "accuracy", "mcc"):
        assert metrics[f"test/{name}"] == pytest.approx(record["metrics"][f"test/{name}"], abs=1e-5)


def test_esm_grid_on_tiny_local_models_records_a_missing_size_as_failed(tmp_path: Path) -> None:
    models = tmp_path / "models"
    save_tiny_esm2(models / "esm2_t6_8M_UR50D", hidden_size=320, num_layers=1, num_heads=4)
    # esm2_t12_35M_UR50D is deliberately absent.
    proc = run_cli(
        [
            "-m",
            "sweep=amp_esm_grid",
            "encoder=esm2_t6_8M,esm2_t12_35M",
            "model=amp/cnn1d,amp/birnn",
            "data.max_samples=60",
            *TINY_AMP,
            f"paths.log_dir={tmp_path / 'logs'}",
            f"paths.cache_dir={tmp_path / 'cache'}",
        ],
        env=cli_env(ABLAB_ESM_DIR=str(models)),
        check=False,
    )
    assert proc.returncode != 0, "a failed run makes the sweep exit non-zero"
    records = find_records(tmp_path / "logs" / "amp_esm_grid")
    status = {(r["choices"]["encoder"], r["choices"]["model"]): r["status"] for r in records}
    assert status == {
        ("esm2_t6_8M", "amp/cnn1d"): "completed",
        ("esm2_t6_8M", "amp/birnn"): "completed",
        ("esm2_t12_35M", "amp/cnn1d"): "failed",
        ("esm2_t12_35M", "amp/birnn"): "failed",
    }
    failed = next(r for r in records if r["status"] == "failed")
    message = failed["error"]["message"]
    assert message.startswith("DataError: encoder esm2_t12_35M: ESM-2 weights")
    assert "hf download facebook/esm2_t12_35M_UR50D" in message and "encoder.name_or_path=" in message
    assert [e["encoder"] for e in events(tmp_path / "cache") if e["event"] == "computed"] == ["esm2_t6_8M"]
    completed = next(r for r in records if r["status"] == "completed")
    assert completed["params"] > 320 * 128 * 3  # the head was built for ESM-2 8M's 320 features


@pytest.mark.parametrize(
    ("selection", "metric"), [("precision", "precision"), ("ap", "ap"), (None, "roc_auc")]
)
def test_selection_sets_the_checkpoint_metric(selection: str | None, metric: str) -> None:
    args = ["experiment=amp", *([f"selection={selection}"] if selection else []), "--cfg", "job", "--resolve"]
    out = run_cli(args).stdout
    assert f"name: {metric}" in out
    assert f"monitor: val/{metric}" in out


def test_checkpoints_load_with_weights_only_and_the_allow_list(heads_study: tuple[Path, list[dict]]) -> None:
    """What resume and ablab-eval read: no type beyond `ablab.runs.checkpoints.SAFE_GLOBALS`."""
    from ablab.runs.checkpoints import read_checkpoint

    _, records = heads_study
    for record in records:
        for name in ("best.ckpt", "last.ckpt"):
            assert (
                read_checkpoint(record["_dir"] / "checkpoints" / name)["ablab"]["config"]["family"] == "amp"
            )
