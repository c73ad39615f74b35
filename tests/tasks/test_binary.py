"""Binary classification task: the conservative loss, the metrics against scikit-learn, and the test
predictions file written for ensembles."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, matthews_corrcoef, roc_auc_score

from ablab.families.amp.task import BinaryTask, ConservativeBCELoss, binary_metrics


def test_conservative_bce_adds_a_cubic_penalty_on_over_prediction_only() -> None:
    loss = ConservativeBCELoss(alpha=2.0)
    bce = torch.nn.BCEWithLogitsLoss()
    logits = torch.tensor([0.0, 0.0, 3.0])
    # p = 0.5 above target 0 -> 0.125; p = 0.5 below target 1 and p > target 1 -> no penalty.
    target = torch.tensor([0.0, 1.0, 1.0])
    assert loss(logits, target).item() == pytest.approx(bce(logits, target).item() + 2.0 * 0.125 / 3)
    under = torch.tensor([1.0, 1.0])
    assert loss(torch.tensor([-1.0, 0.5]), under).item() == pytest.approx(
        bce(torch.tensor([-1.0, 0.5]), under).item()
    )


def test_conservative_bce_pushes_false_positives_down_harder_than_bce() -> None:
    logit = torch.tensor([2.0], requires_grad=True)
    ConservativeBCELoss(alpha=1.0)(logit, torch.tensor([0.0])).backward()
    conservative = logit.grad.item()
    logit.grad = None
    torch.nn.BCEWithLogitsLoss()(logit, torch.tensor([0.0])).backward()
    assert conservative > logit.grad.item() > 0


def test_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, size=200)
    probs = np.clip(labels * 0.3 + rng.random(200) * 0.7, 0, 1)
    metrics = binary_metrics(0.5)
    metrics.update(torch.tensor(probs, dtype=torch.float32), torch.tensor(labels))
    values = {k: float(v) for k, v in metrics.compute().items()}
    predicted = probs >= 0.5
    assert values["accuracy"] == pytest.approx((predicted == labels).mean(), abs=1e-6)
    assert values["precision"] == pytest.approx(labels[predicted].mean(), abs=1e-6)
    assert values["recall"] == pytest.approx(predicted[labels == 1].mean(), abs=1e-6)
    assert values["mcc"] == pytest.approx(matthews_corrcoef(labels, predicted), abs=1e-5)
    assert values["roc_auc"] == pytest.approx(roc_auc_score(labels, probs), abs=1e-5)
    assert values["ap"] == pytest.approx(average_precision_score(labels, probs), abs=1e-5)


class _Mean(torch.nn.Module):
    """A head that scores a peptide by its mean first feature."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.scale * (x[..., 0] * mask).sum(1) / mask.sum(1)


def test_test_predictions_are_saved_in_the_run_folder_by_sequence_id(tmp_path: Path) -> None:
    import lightning as L

    from ablab.families.amp.data import PeptideDataInfo

    class Data(L.LightningDataModule):
        def info(self) -> PeptideDataInfo:
            return PeptideDataInfo(["pep_a", "pep_b", "pep_c", "pep_d"])

        def test_dataloader(self) -> torch.utils.data.DataLoader:
            x = torch.tensor([[[2.0], [0.0]], [[-1.0], [-1.0]], [[0.5], [0.0]], [[-3.0], [0.0]]])
            mask = torch.tensor([[True, False], [True, True], [True, False], [True, True]])
            y = torch.tensor([1.0, 0.0, 1.0, 0.0])
            # Two batches, out of order: the file is sorted by record.
            batches = [
                {"x": x[i], "mask": mask[i], "y": y[i], "index": torch.tensor(i)} for i in ([2, 3], [0, 1])
            ]
            return torch.utils.data.DataLoader(batches, batch_size=None)

    task = BinaryTask(_Mean(), torch.nn.BCEWithLogitsLoss(), optimizer=lambda p: torch.optim.SGD(p, lr=0.1))
    trainer = L.Trainer(
        default_root_dir=tmp_path,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    metrics = trainer.test(task, datamodule=Data(), verbose=False)[0]
    assert metrics["test/accuracy"] == 1.0 and metrics["test/roc_auc"] == 1.0
    with (tmp_path / "predictions_test.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in rows] == ["pep_a", "pep_b", "pep_c", "pep_d"]
    assert [r["label"] for r in rows] == ["1", "0", "1", "0"]
    assert float(rows[0]["probability"]) == pytest.approx(torch.sigmoid(torch.tensor(2.0)).item(), abs=1e-5)
