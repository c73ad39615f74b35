"""The hybrid family through its commands: train on a CSV, explain the checkpoint, predict with it, run
the notebook on it; bad input ends in one clear line and a non-zero exit."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from nbclient import NotebookClient

from tests.conftest import ROOT, cli_env, find_records, run_cli

NUM_FEATURES, DECIDING = 12, 7
# A small one-block hybrid (Grad-CAM's last block then has the input's resolution), quick to train.
TINY_HYBRID = [
    "experiment=hybrid",
    "data=csv",
    f"data.num_features={NUM_FEATURES}",
    "data.num_classes=2",
    "data.batch_size=32",
    "model.cnn_blocks=1",
    "model.cnn_channels=8",
    "model.lstm_hidden=16",
    "model.lstm_layers=1",
    "model.attention.num_heads=2",
    "task.optimizer.lr=0.01",
    "task.scheduler.steps=1",
    "trainer.max_epochs=15",
    "callbacks.early_stopping.patience=15",
    "trainer.enable_progress_bar=false",
    "callbacks.progress_bar=null",
    "logger=csv",
    "print_config=false",
]
EXPLAIN = [sys.executable, "-m", "ablab.cli.explain"]


def synthetic_csv(path: Path, rows: int = 500) -> Path:
    """Standard-normal features f0..f11; the label ('pos'/'neg') is the sign of f7 and nothing else."""
    x = np.random.default_rng(0).normal(size=(rows, NUM_FEATURES)).round(4)
    lines = [",".join([f"f{i}" for i in range(NUM_FEATURES)] + ["label"])]
    lines += [",".join([*map(str, row), "pos" if row[DECIDING] > 0 else "neg"]) for row in x]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One training run on the synthetic CSV; its record, checkpoint and folders."""
    tmp = tmp_path_factory.mktemp("hybrid_cli")
    csv_path = synthetic_csv(tmp / "sign_of_f7.csv")
    paths = [f"paths.log_dir={tmp / 'logs'}", f"paths.cache_dir={tmp / 'cache'}"]
    run_cli([*TINY_HYBRID, f"data.path={csv_path}", *paths])
    (record,) = find_records(tmp / "logs")
    return {"record": record, "ckpt": record["_dir"] / record["best_checkpoint"], "csv": csv_path, "tmp": tmp}


def test_training_records_metrics_report_files_and_a_self_contained_checkpoint(trained) -> None:
    record, run_dir = trained["record"], trained["record"]["_dir"]
    assert record["status"] == "completed" and record["family"] == "hybrid"
    metrics = record["metrics"]
    assert metrics["test/accuracy"] > 0.7  # chance is 0.5; 15 short epochs learn most of the rule
    assert {
        "test/f1_macro",
        "test/precision_neg",
        "test/precision_pos",
        "test/recall_neg",
        "test/recall_pos",
    } <= set(metrics)
    matrix = np.loadtxt(run_dir / "confusion_matrix.csv", delimiter=",", skiprows=1, usecols=(1, 2))
    assert matrix.sum() == 100  # the test split: 20 % of 500 rows
    assert np.trace(matrix) / matrix.sum() == pytest.approx(metrics["test/accuracy"])
    report = (run_dir / "classification_report.txt").read_text()
    assert "neg" in report and "pos" in report and f"{metrics['test/accuracy']:.4f}" in report
    assert (run_dir / "confusion_matrix.png").stat().st_size > 0

    checkpoint = torch.load(trained["ckpt"], map_location="cpu", weights_only=True)
    assert checkpoint["ablab"]["config"]["model"]["cnn_blocks"] == 1
    assert checkpoint["classification"] == {
        "class_names": ["neg", "pos"],
        "feature_names": [f"f{i}" for i in range(12)],
    }
    mean = checkpoint["state_dict"]["scaler.mean"]
    assert mean.shape == (NUM_FEATURES,) and mean.abs().max() < 0.3  # fitted on standard-normal rows


def test_explain_cli_writes_every_figure_and_points_at_the_deciding_feature(trained) -> None:
    out = trained["tmp"] / "explain"
    proc = run_cli([str(trained["ckpt"]), "--n-samples", "2", "--out", str(out)], program=EXPLAIN)
    assert "SHAP ranking: f7" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    expected = {
        "shap_global_bar.png",
        "shap_summary_neg.png",
        "shap_summary_pos.png",
        *(f"{kind}_sample{i}.png" for kind in ("shap_waterfall", "gradcam", "attention") for i in range(2)),
    }
    assert set(summary["files"]) == expected
    assert all((out / name).stat().st_size > 0 for name in expected)
    assert summary["shap_ranking"][0] == f"f{DECIDING}"
    cam = summary["gradcam_mean"]
    assert max(cam, key=cam.get) in {f"f{DECIDING - 1}", f"f{DECIDING}", f"f{DECIDING + 1}"}
    assert summary["explained_rows"] == 100 and summary["background_rows"] == 100


def test_predict_csv_reproduces_the_test_accuracy_from_the_checkpoint_alone(trained) -> None:
    from ablab.runs.checkpoints import load_run

    run = load_run(trained["ckpt"])
    data = run.datamodule
    features, labels = data.arrays("test")
    lines = [",".join(["label", *reversed(data.feature_names)])]  # column order does not matter
    lines += [",".join([data.class_names[y], *map(str, row[::-1])]) for row, y in zip(features, labels)]
    csv_path = trained["tmp"] / "test_rows.csv"
    csv_path.write_text("\n".join(lines) + "\n")
    frame = run.task.predict_csv(csv_path, run.config)
    assert list(frame.columns) == ["label", "prediction", "p_neg", "p_pos"]
    np.testing.assert_allclose(frame[["p_neg", "p_pos"]].sum(axis=1), 1.0, rtol=1e-5)
    accuracy = (frame["label"] == frame["prediction"]).mean()
    assert accuracy == pytest.approx(trained["record"]["metrics"]["test/accuracy"])

    unlabelled = trained["tmp"] / "unlabelled.csv"
    unlabelled.write_text("\n".join(line.split(",", 1)[1] for line in lines) + "\n")
    assert list(run.task.predict_csv(unlabelled, run.config).columns) == ["prediction", "p_neg", "p_pos"]


def test_ablab_eval_retests_and_predicts_a_csv(trained, capsys) -> None:
    import pandas as pd

    from ablab.cli import eval as ablab_eval

    run_dir = trained["ckpt"].parent.parent
    own = {p: p.stat().st_mtime_ns for p in run_dir.iterdir() if p.is_file()}
    from ablab.runs.evaluate import evaluate

    metrics = evaluate(trained["ckpt"])
    assert metrics["test/accuracy"] == pytest.approx(trained["record"]["metrics"]["test/accuracy"])
    assert {p: p.stat().st_mtime_ns for p in own} == own  # the run's own files are untouched
    assert list((run_dir / "eval").iterdir())  # the re-test's confusion matrix and report go here
    out = trained["tmp"] / "predictions.csv"
    assert ablab_eval.main([str(trained["ckpt"]), "--predict", str(trained["csv"]), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"500 predictions in {out}"
    frame = pd.read_csv(out)
    assert (frame["label"] == frame["prediction"]).mean() > 0.7
    assert ablab_eval.main([str(trained["ckpt"]), "--predict", str(trained["tmp"] / "nope.csv")]) == 2
    assert "nope.csv: file not found" in capsys.readouterr().err


def test_explanations_go_to_the_runs_wandb_run_when_it_logged_to_wandb(
    trained, tmp_path: Path, monkeypatch
) -> None:
    from ablab.cli.explain import explain_checkpoint

    monkeypatch.setenv("WANDB_MODE", "offline")
    run_dir = tmp_path / "run"
    checkpoint = torch.load(trained["ckpt"], map_location="cpu", weights_only=True)
    checkpoint["ablab"]["config"]["logger"] = {
        "wandb": {
            "_target_": "ablab.lightning.loggers.wandb.WandbLogger",
            "offline": True,
            "save_dir": str(run_dir),
            "cache_dir": str(tmp_path / "cache"),
            "name": "explain-test",
        }
    }
    (run_dir / "checkpoints").mkdir(parents=True)
    torch.save(checkpoint, run_dir / "checkpoints" / "best.ckpt")
    (run_dir / "wandb_run_id.txt").write_text("hybridtest-1\n")
    summary = explain_checkpoint(
        run_dir / "checkpoints" / "best.ckpt",
        n_samples=1,
        shap_samples=10,
        nsamples=20,
        shap_explainer="shap",
    )
    (wandb_run,) = (run_dir / "wandb").glob("offline-run-*-hybridtest-1")
    images = {
        p.parent.name + "/" + p.name.split("_")[0] for p in (wandb_run / "files" / "media").rglob("*.png")
    }
    assert len(list((wandb_run / "files" / "media").rglob("*.png"))) == len(summary["files"])
    assert {"shap/global", "gradcam/sample", "attention/sample"} <= images
    assert (run_dir / "explain" / "shap_global_bar.png").is_file()


def test_notebook_explains_the_checkpoint_a_test_made(trained, tmp_path: Path) -> None:
    notebook = nbformat.read(ROOT / "notebooks" / "explain_hybrid.ipynb", as_version=4)
    env = {"ABLAB_EXPLAIN_CKPT": str(trained["ckpt"]), "ABLAB_NOTEBOOK_DIR": str(tmp_path)}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        NotebookClient(
            notebook,
            timeout=300,
            kernel_name="python3",
            resources={"metadata": {"path": str(ROOT / "notebooks")}},
        ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1 + 1 + 2 + 2 + 2 + 2  # confusion matrix, global bar, 2 summaries, 2 x 3 samples
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "SHAP ranking: f7" in text and "p_pos" in text


@pytest.mark.parametrize(
    ("make_csv", "message"),
    [
        (None, "DataError: {path}: file not found; set data.path to an existing CSV file"),
        (
            lambda p: p.write_text("a,b,c\n1,2,3\n"),
            "DataError: {path}: no label column 'label' (columns: a, b, c); set data.label_column to one of them",
        ),
    ],
    ids=["missing_file", "missing_label_column"],
)
def test_bad_csv_fails_the_run_with_one_clear_line(tmp_path: Path, run_paths, make_csv, message: str) -> None:
    path = tmp_path / "table.csv"
    if make_csv:
        make_csv(path)
    proc = run_cli([*TINY_HYBRID, f"data.path={path}", *run_paths], check=False)
    assert proc.returncode == 2
    errors = [
        line for line in proc.stderr.splitlines() if line.startswith("error: ") and "Traceback" not in line
    ]
    assert errors[-1] == "error: " + message.format(path=path)


def test_explain_cli_on_a_missing_checkpoint(tmp_path: Path) -> None:
    proc = run_cli([str(tmp_path / "gone.ckpt")], program=EXPLAIN, check=False, env=cli_env())
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'gone.ckpt'}: checkpoint not found; pass a .ckpt file from a run's checkpoints/ folder"
    ]
