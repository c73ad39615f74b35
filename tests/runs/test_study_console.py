"""A multirun as a study (its name, axes, size and baseline) and what its terminal shows."""

from __future__ import annotations

import io
import json
import os
import pty
import time
from pathlib import Path

from omegaconf import OmegaConf

from ablab.runs.study import choose_baseline, plan, study_name
from ablab.runs.watch import StudyWatch


def _hydra(task: list[str], params: dict | None = None) -> OmegaConf:
    return OmegaConf.create({"overrides": {"task": task}, "sweeper": {"params": params or {}}})


def test_a_plain_multirun_is_named_by_the_keys_it_sweeps_not_its_seeds() -> None:
    hydra = _hydra(["model/attention=none,mha", "seed=1,2,3", "data.train_per_case=40"])
    study_plan = plan(hydra)
    assert [(a.key, a.values) for a in study_plan.axes] == [
        ("model/attention", ["none", "mha"]),
        ("seed", ["1", "2", "3"]),
    ]
    assert study_plan.total == 6
    assert study_name("hnet", [a.key for a in study_plan.axes]) == "hnet-model.attention"
    assert study_name("hnet", ["seed"]) == "hnet"
    swept = plan(_hydra(["seed=1,2"], {"ablation": "hnet/baseline,hnet/relu"}))
    assert swept.total == 4 and swept.axes[0].key == "ablation"


def test_the_baseline_is_the_default_when_swept_else_the_first_value_typed() -> None:
    cfg = OmegaConf.create(
        {"model": {"hidden_size": 128}, "hydra": {"runtime": {"choices": {"model/attention": "additive"}}}}
    )
    with_default = plan(_hydra(["model/attention=none,additive,mha"])).axes
    assert choose_baseline(cfg, with_default, []) == (
        "model.attention=additive",
        "model/attention: the default config's value",
    )
    without = plan(_hydra(["model/attention=none,mha", "model.hidden_size=64,128.0"])).axes
    variant, rule = choose_baseline(cfg, without, [])
    assert variant == "model.hidden_size=128.0,model.attention=none"  # as the jobs name it
    assert rule == "model/attention: the first value typed, model.hidden_size: the default config's value"
    named = plan(_hydra([], {"ablation": "hnet/baseline,hnet/relu"})).axes
    assert choose_baseline(OmegaConf.create({}), named, [])[0] == "baseline"


def _event(journal: Path, **event) -> None:
    with journal.open("a") as handle:
        handle.write(json.dumps(event) + "\n")


def _run(journal: Path, outcome: str, variant: str, seed: int, **extra) -> None:
    run_dir = f"/logs/s/{variant}/seed{seed}"
    if outcome != "skipped":
        _event(journal, run_dir=run_dir, outcome="started", family="hnet", variant=variant, seed=seed)
    _event(journal, run_dir=run_dir, outcome=outcome, family="hnet", variant=variant, seed=seed, **extra)


def test_the_terminal_shows_one_line_per_run_and_one_for_skipped_runs_arriving_together(tmp_path) -> None:
    journal = tmp_path / "journal.jsonl"
    journal.touch()
    terminal = io.StringIO()
    watch = StudyWatch(journal, terminal, total=5)
    watch.start()
    for seed in (1, 2):
        _run(journal, "skipped", "baseline", seed)
    _event(journal, event="note", message="generating HNet train data: 9,000 samples")
    _event(journal, event="note", message="generating HNet train data: 9,000 samples")  # a second worker
    _run(journal, "completed", "relu", 1, metric="test/f1", value=0.98123, wall_time_s=41.0)
    _run(
        journal, "failed", "relu", 2, reason="ConfigError: model.gru_layers=0 is invalid\nmore", wall_time_s=3
    )
    time.sleep(1.2)
    _run(journal, "diverged", "gelu", 1, reason="RunDiverged: loss is nan", wall_time_s=5)
    watch.stop()
    lines = terminal.getvalue().splitlines()
    assert lines[0] == "[1-2/5] 2 runs skipped (completed earlier)"
    assert lines[1] == "  generating HNet train data: 9,000 samples"
    assert lines[2].startswith("[3/5] hnet/relu seed 1  completed  test/f1 0.9812  (41 s) · ETA ")
    assert lines[3].startswith(
        "[4/5] hnet/relu seed 2  failed  ConfigError: model.gru_layers=0 is invalid  (3.0 s)"
    )
    assert lines[4].startswith("[5/5] hnet/gelu seed 1  diverged  RunDiverged: loss is nan  (5.0 s)")
    assert len(lines) == 5


def test_on_a_terminal_the_study_has_a_progress_bar_with_an_eta(tmp_path) -> None:
    journal = tmp_path / "journal.jsonl"
    journal.touch()
    leader, follower = pty.openpty()
    terminal = os.fdopen(follower, "w", buffering=1)
    watch = StudyWatch(journal, terminal, total=4)
    watch.start()
    _run(journal, "completed", "relu", 1, metric="test/f1", value=0.9, wall_time_s=2.0)
    _event(journal, run_dir="/logs/s/relu/seed2", outcome="started", family="hnet", variant="relu", seed=2)
    time.sleep(1.5)
    os.set_blocking(leader, False)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        shown += chunk
    watch.stop()
    text = shown.decode(errors="replace")
    assert "[1/4] hnet/relu seed 1" in text
    assert "1/4 done, 1 running, ETA" in text
    terminal.close()
    os.close(leader)
