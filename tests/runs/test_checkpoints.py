"""One way back from a checkpoint to its run (`ablab.runs.checkpoints.load_run`), also for checkpoints
written before the family layout, whose stored configs name the old module paths."""

from __future__ import annotations

import sys

import pytest
import torch

from ablab.runs.checkpoints import LEGACY_TARGETS, load_run, upgrade_target
from tests.conftest import TINY_CSV, find_records, run_cli


def test_every_old_target_prefix_maps_to_an_importable_module() -> None:
    import importlib

    for old, new in LEGACY_TARGETS.items():
        module = new.rstrip(".") if new.endswith(".") else new.rsplit(".", 1)[0]
        importlib.import_module(module)
        assert upgrade_target(old + "X") == new + "X" if old.endswith(".") else upgrade_target(old) == new
    assert upgrade_target("torch.nn.Tanh") == "torch.nn.Tanh"


def _downgrade(node):
    """A stored config as the code before the family layout wrote it."""
    reverse = {new: old for old, new in LEGACY_TARGETS.items()}
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "_target_" and isinstance(value, str):
                for new in sorted(reverse, key=len, reverse=True):
                    if value.startswith(new):
                        value = reverse[new] + value[len(new) :]
                        break
            out[key] = _downgrade(value)
        return out
    if isinstance(node, list):
        return [_downgrade(v) for v in node]
    return node


def test_a_checkpoint_naming_the_old_module_paths_loads_and_re_tests_the_same(tmp_path) -> None:
    run_cli([*TINY_CSV, f"paths.log_dir={tmp_path / 'logs'}", f"paths.cache_dir={tmp_path / 'cache'}"])
    (record,) = find_records(tmp_path / "logs")
    checkpoint = torch.load(
        record["_dir"] / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=True
    )
    old = _downgrade(checkpoint["ablab"]["config"])
    assert old["model"]["_target_"] == "ablab.models.hnet.HNetGRU"
    assert old["task"]["_target_"] == "ablab.tasks.hnet.HNetTask"
    assert old["model"]["attention"]["_target_"] == "ablab.models.layers.attention.ConvAttention"
    checkpoint["ablab"]["config"] = old
    legacy = tmp_path / "legacy.ckpt"
    torch.save(checkpoint, legacy)

    run = load_run(legacy)
    assert type(run.task).__module__ == "ablab.families.hnet.task"
    assert type(run.datamodule).__module__ == "ablab.families.hnet.data"
    proc = run_cli([str(legacy)], program=[sys.executable, "-m", "ablab.cli.eval"])
    import json

    metrics = json.loads(proc.stdout)
    for key, value in record["metrics"].items():
        if key.startswith("test/"):
            assert metrics[key] == pytest.approx(value, abs=1e-6), key
