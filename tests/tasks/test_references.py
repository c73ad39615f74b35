"""Each family's floors and ceilings on its default split, through the experiment's own `references`
config, with the numbers the README and the family docs quote."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from ablab.runs.identity import register_resolvers
from tests.conftest import ROOT


def references_of(experiment: str, cache: Path, *overrides: str) -> dict[str, dict[str, float]]:
    """{name: metrics} of the experiment's references on its data, set up as a run sets it up."""
    register_resolvers()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={experiment}", f"paths.cache_dir={cache}", *overrides])
    datamodule = (
        instantiate(cfg.data, cache_dir=str(cache)) if "cache_dir" in cfg.data else instantiate(cfg.data)
    )
    datamodule.prepare_data()
    datamodule.setup("fit")
    datamodule.setup("test")
    rows = instantiate(cfg.references)(datamodule)
    return {r.name: {"kind": r.kind, **r.metrics} for r in rows}


@pytest.mark.slow
def test_hnet_floors_and_oracle_on_the_default_test_split(tmp_path: Path) -> None:
    # the default test split, with `make sweep`'s training split (it sets the cell weights)
    refs = references_of("hnet", tmp_path, "data.train_per_case=1000", "data.val_per_case=10")
    assert {n: r["kind"] for n, r in refs.items()} == {
        "all zeros": "floor",
        "chord rule": "floor",
        "Hungarian oracle": "ceiling",
    }
    f1 = {n: r["test/f1_weighted"] for n, r in refs.items()}
    assert f1 == pytest.approx({"all zeros": 0.780, "chord rule": 0.894, "Hungarian oracle": 0.996}, abs=5e-4)
    assert refs["all zeros"]["test/recall"] == 0 and refs["chord rule"]["test/recall"] == 1


def test_hybrid_majority_class_and_classical_models_on_wine(tmp_path: Path) -> None:
    refs = references_of("hybrid", tmp_path, "data=wine")
    assert refs["majority class"]["test/accuracy"] == pytest.approx(14 / 36)
    assert refs["logistic regression"]["kind"] == refs["random forest"]["kind"] == "classical"
    assert (
        refs["logistic regression"]["test/accuracy"] >= 0.97
        and refs["random forest"]["test/accuracy"] >= 0.97
    )


def test_hybrid_default_motifs_leave_the_classical_models_far_from_the_ceiling(tmp_path: Path) -> None:
    """The motif sequences (the default): the order of two local motifs decides the class, which a
    linear model on raw features cannot see and a forest sees only in part (docs/hybrid.md)."""
    refs = references_of("hybrid", tmp_path)
    assert refs["majority class"]["test/accuracy"] == pytest.approx(0.25)
    assert refs["logistic regression"]["test/accuracy"] == pytest.approx(0.400, abs=0.005)
    assert refs["random forest"]["test/accuracy"] == pytest.approx(0.555, abs=0.01)


@pytest.mark.slow
def test_amp_composition_random_forest_reaches_the_quoted_roc_auc(tmp_path: Path) -> None:
    refs = references_of("amp", tmp_path)
    assert refs["majority class"]["test/roc_auc"] == 0.5
    assert refs["random forest (composition)"]["test/roc_auc"] == pytest.approx(0.967, abs=2e-3)
    assert 0.9 < refs["logistic regression (composition)"]["test/roc_auc"] < 0.967
