"""One GPU per job under local_parallel: each joblib worker claims a device of its own (a lock file
per device, released when the worker exits) and sets CUDA_VISIBLE_DEVICES before CUDA starts. Proved
on CPU with a simulated device list: the logic is the same whatever the devices are."""

from __future__ import annotations

import datetime
import multiprocessing as mp
from pathlib import Path

import pytest

from ablab.runs.devices import claim_device
from tests.conftest import TINY_CSV, cli_env, find_records, run_cli


def _claim(lock_dir: str, devices: list[str], claimed, release) -> None:
    claimed.put(claim_device(Path(lock_dir), devices))
    release.wait(30)


def test_each_process_claims_its_own_device_until_it_exits(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    claimed, release = ctx.Queue(), ctx.Event()
    devices = ["0", "1", "2"]
    workers = [ctx.Process(target=_claim, args=(str(tmp_path), devices, claimed, release)) for _ in range(4)]
    for worker in workers:
        worker.start()
    got = [claimed.get(timeout=60) for _ in workers]
    assert sorted(d for d in got if d is not None) == devices and got.count(None) == 1
    release.set()
    for worker in workers:
        worker.join(30)
    # Released with its holders: a new process gets the first device again.
    hold = ctx.Event()
    again = ctx.Process(target=_claim, args=(str(tmp_path), devices, claimed, hold))
    again.start()
    assert claimed.get(timeout=60) == "0"
    hold.set()
    again.join(30)


def _span(record: dict) -> tuple[datetime.datetime, datetime.datetime]:
    read = datetime.datetime.strptime
    return read(record["started_at"], "%Y-%m-%dT%H:%M:%S%z"), read(
        record["finished_at"], "%Y-%m-%dT%H:%M:%S%z"
    )


@pytest.mark.slow
def test_local_parallel_gives_each_job_its_own_gpu(tmp_path: Path, run_paths) -> None:
    args = ["-m", "hydra/launcher=local_parallel", "seed=1,2,3,4", *TINY_CSV, *run_paths]
    run_cli(args, env=cli_env(CUDA_VISIBLE_DEVICES="0,1"))
    records = find_records(tmp_path / "logs")
    assert len(records) == 4 and {r["gpu"] for r in records} == {"0", "1"}
    for a in records:  # runs that overlapped in time were on different devices
        for b in records:
            if a is not b and _span(a)[0] < _span(b)[1] and _span(b)[0] < _span(a)[1]:
                assert a["gpu"] != b["gpu"], (a["_dir"], b["_dir"])
    # One job at a time (or one GPU) has nothing to assign.
    run_cli(["-m", "seed=5", *TINY_CSV, *run_paths], env=cli_env(CUDA_VISIBLE_DEVICES="0,1"))
    assert "gpu" not in next(r for r in find_records(tmp_path / "logs") if r["seed"] == 5)
