"""A tiny HNet study on a real Ray head node (`ray start --head --num-cpus=2`), joined by the sweep
through `hydra/launcher=ray` and its address: every record complete, resources from the config, a
re-run skips every run, and a task whose worker dies is a failed run while the others complete."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from tests.conftest import TINY_CSV, cli_env, find_records, run_cli
from tests.ray.conftest import RayHead

pytestmark = [pytest.mark.slow, pytest.mark.ray]

STUDY = ["model/attention=none,mha"]


def _sweep(head: RayHead, tmp_path: Path, *extra: str, check: bool = True):
    args = [
        "-m",
        "hydra/launcher=ray",
        f"hydra.launcher.ray.init.address={head.address}",
        *TINY_CSV,
        f"paths.log_dir={tmp_path / 'logs'}",
        f"paths.cache_dir={tmp_path / 'cache'}",
        *extra,
    ]
    return run_cli(args, env=cli_env(HOME=head.env["HOME"]), timeout=600, check=check)


def _complete(record: dict) -> None:
    """What every completed record holds, whichever launcher ran it."""
    assert record["status"] == "completed", record.get("error")
    for key in ("test/f1_weighted", "val/f1_weighted"):
        assert 0 <= record["metrics"][key] <= 1
    for key in ("cost/train_s", "cost/params_m", "cost/latency_ms"):
        assert record["cost"][key] > 0
    assert record["epochs"] == 2 and record["wall_time_s"] > 0 and record["finished_at"]
    assert record["versions"]["torch"] and len(record["config_hash"]) == 10
    assert (record["_dir"] / record["best_checkpoint"]).is_file()


def test_a_study_on_a_ray_cluster_records_every_run_and_a_rerun_skips_them(
    ray_head: RayHead, tmp_path: Path
) -> None:
    # Two CPUs per run on a two-CPU cluster: Ray runs them one after another.
    proc = _sweep(ray_head, tmp_path, *STUDY, "hydra.launcher.ray.remote.num_cpus=2")
    assert "on Ray" in proc.stderr
    assert ": 2 completed / 0 skipped / 0 failed / 0 diverged" in proc.stderr
    records = find_records(tmp_path / "logs")
    assert sorted(r["variant"] for r in records) == ["model.attention=mha", "model.attention=none"]
    for record in records:
        _complete(record)
    spans = sorted((r["started_at"], r["finished_at"]) for r in records)
    assert all(done <= start for (_, done), (start, _) in itertools.pairwise(spans)), spans
    journal = [json.loads(line) for f in (tmp_path / "logs").rglob(".journal/*.jsonl") for line in f.open()]
    started = [e for e in journal if e.get("outcome") == "started"]
    assert len(started) == 2 and all(e["job_id"].startswith("ray-") for e in started)
    # The tasks ran in the cluster's workers: their log files are in its session folder.
    assert list((ray_head.temp_dir / "ray").glob("session_*/logs/worker-*.out"))

    before = {r["_dir"]: (r["_dir"] / "results.json").stat().st_mtime_ns for r in records}
    again = _sweep(ray_head, tmp_path, *STUDY, "hydra.launcher.ray.remote.num_cpus=2")
    assert ": 0 completed / 2 skipped / 0 failed / 0 diverged" in again.stderr
    assert {d: (d / "results.json").stat().st_mtime_ns for d in before} == before


def test_a_ray_worker_that_dies_is_a_failed_run_and_the_others_complete(
    ray_head: RayHead, tmp_path: Path
) -> None:
    fault = [
        "+callbacks.fault._target_=tests.helpers.faults.ExitOnSeed",
        "+callbacks.fault.seed=${seed}",
        "+callbacks.fault.die_on=2",
    ]
    proc = _sweep(ray_head, tmp_path, "seed=1,2", *fault, check=False)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert ": 1 completed / 0 skipped / 1 failed / 0 diverged" in proc.stderr
    records = {r["seed"]: r for r in find_records(tmp_path / "logs")}
    assert records[1]["status"] == "completed"
    assert records[2]["status"] == "failed"
    assert (
        "Ray task" in records[2]["error"]["message"] and "without a result" in records[2]["error"]["message"]
    )


def test_an_adaptive_study_runs_each_look_as_a_batch_of_ray_tasks(ray_head: RayHead, tmp_path: Path) -> None:
    proc = _sweep(
        ray_head,
        tmp_path,
        *STUDY,
        "sweep.seeds=auto",
        "sweep.seeds_initial=2",
        "sweep.seeds_max=3",
        "sweep.seeds_step=1",
    )
    assert "look 1 of 2: seeds up to 2" in proc.stderr and "adaptive seeds: stopped after look" in proc.stderr
    block = json.loads((tmp_path / "logs" / "hnet-model.attention" / "study.json").read_text())["adaptive"]
    records = find_records(tmp_path / "logs")
    assert block["runs"] == len(records) in (4, 6) and block["stopped"] in ("decided", "seeds_max")
    assert all(r["look"] == (1 if r["seed"] <= 2 else 2) for r in records)
    journal = [json.loads(line) for f in (tmp_path / "logs").rglob(".journal/*.jsonl") for line in f.open()]
    started = [e for e in journal if e.get("outcome") == "started"]
    assert len(started) == len(records) and all(e["job_id"].startswith("ray-") for e in started)
