"""The generic classification task: metrics, the test report files, the scaler in the checkpoint, the
StepLR recipe."""

from __future__ import annotations

import functools
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from sklearn.metrics import classification_report

from ablab.components.attention import MultiHeadAttention
from ablab.components.pooling import MeanPool
from ablab.families.hybrid.data import TabularDataModule
from ablab.families.hybrid.model import HybridCNNLSTM
from ablab.families.hybrid.task import (
    ClassificationTask,
    Standardize,
    classification_report_text,
    step_lr,
    write_test_report,
)


def tiny_task(lr: float = 0.01) -> ClassificationTask:
    model = HybridCNNLSTM(
        functools.partial(MultiHeadAttention, num_heads=2),
        MeanPool(),
        13,
        3,
        cnn_channels=4,
        lstm_hidden=8,
        lstm_layers=1,
    )
    return ClassificationTask(model, functools.partial(torch.optim.Adam, lr=lr), num_classes=3)


def test_fit_and_test_log_metrics_write_the_report_and_store_the_scaler(tmp_path: Path) -> None:
    torch.manual_seed(0)
    data = TabularDataModule(source="wine", batch_size=16)
    task = tiny_task()
    trainer = L.Trainer(
        max_epochs=3,
        default_root_dir=str(tmp_path),
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    trainer.fit(task, datamodule=data)
    np.testing.assert_allclose(task.scaler.mean.numpy(), data.feature_mean)
    assert task.class_names == ["class_0", "class_1", "class_2"]
    metrics = trainer.test(task, datamodule=data, verbose=False)[0]
    assert {"test/loss", "test/accuracy", "test/f1_macro"} <= set(metrics)
    assert {f"test/{m}_class_{k}" for m in ("precision", "recall") for k in range(3)} <= set(metrics)

    x, y = data.arrays("test")
    with torch.no_grad():
        preds = task.eval()(torch.from_numpy(x)).argmax(dim=-1).numpy()
    assert metrics["test/accuracy"] == pytest.approx((preds == y).mean())
    matrix = np.loadtxt(tmp_path / "confusion_matrix.csv", delimiter=",", skiprows=1, usecols=(1, 2, 3))
    expected = np.zeros((3, 3))
    np.add.at(expected, (y, preds), 1)
    np.testing.assert_array_equal(matrix, expected)
    assert (tmp_path / "classification_report.txt").read_text() == classification_report(
        y, preds, labels=[0, 1, 2], target_names=task.class_names, digits=4, zero_division=0
    )

    checkpoint = tmp_path / "task.ckpt"
    trainer.save_checkpoint(checkpoint)
    fresh = tiny_task()
    assert fresh.scaler.mean.numel() == 0  # identity until fitted or loaded
    stored = torch.load(checkpoint, weights_only=True)
    fresh.on_load_checkpoint(stored)
    fresh.load_state_dict(stored["state_dict"])
    np.testing.assert_allclose(fresh.scaler.std.numpy(), data.feature_std)
    assert fresh.class_names == task.class_names and fresh.feature_names == data.feature_names
    with torch.no_grad():
        torch.testing.assert_close(fresh.eval()(torch.from_numpy(x)), task(torch.from_numpy(x)))


def test_report_from_a_confusion_matrix_equals_sklearns() -> None:
    rng = np.random.default_rng(0)
    y, preds = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    preds[:100] = y[:100]
    matrix = np.zeros((4, 4), dtype=np.int64)
    np.add.at(matrix, (y, preds), 1)
    names = ["a", "b", "c", "d"]
    assert classification_report_text(matrix, names) == classification_report(
        y, preds, labels=[0, 1, 2, 3], target_names=names, digits=4, zero_division=0
    )


def test_report_files_name_the_classes(tmp_path: Path) -> None:
    paths = write_test_report(np.array([[3, 1], [0, 4]]), ["cats", "dogs"], tmp_path)
    assert paths["confusion_matrix_csv"].read_text().splitlines() == [
        "true,cats,dogs",
        "cats,3,1",
        "dogs,0,4",
    ]
    assert paths["confusion_matrix_png"].stat().st_size > 0


def test_standardize_is_identity_until_fitted() -> None:
    scaler = Standardize()
    x = torch.randn(4, 3)
    torch.testing.assert_close(scaler(x), x)
    scaler.fit(np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0]))
    torch.testing.assert_close(scaler(x), (x - torch.tensor([1.0, 2.0, 3.0])) / 2.0)


def test_step_lr_divides_by_ten_every_third_of_the_epochs() -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = step_lr(optimizer, max_epochs=60)
    rates = []
    for _ in range(60):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[0] == rates[19] == 1.0
    assert rates[20] == pytest.approx(0.1) and rates[40] == pytest.approx(0.01)
    assert step_lr(optimizer, max_epochs=2).step_size == 1
