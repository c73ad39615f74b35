"""W&B's cost per run, offline: init + finish in a fresh process, and a tiny HNet run (and a 3-job
multirun in one process) with `logger=default` (csv + wandb) against the same with `logger=csv`."""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.conftest import ROOT, TINY_HNET, cli_env

from benchmarks.common import Result, size

TARGET_S = 1.5
REPEAT = size(3, 1)
# W&B's cost on a tiny run in a fresh process (mostly `import wandb` and its service), and per job of
# a multirun in one process; CPU seconds, which other jobs on the cores do not swell.
TARGET_RUN_CPU_S, TARGET_JOB_CPU_S = 4.0, 2.0
# init + log + finish of consecutive runs in one process, each until its .wandb file is written out,
# with the W&B settings of conf/logger/wandb.yaml
_INIT_FINISH = """
import json, sys, time
from omegaconf import OmegaConf
settings = OmegaConf.to_container(OmegaConf.load("conf/logger/wandb.yaml").wandb.settings)
started = time.perf_counter()
import wandb
from ablab.lightning.loggers.wandb_setup import wait_for_run_file
times = {"import": time.perf_counter() - started, "runs": []}
for i in range(int(sys.argv[2])):
    started = time.perf_counter()
    run = wandb.init(project="bench", dir=sys.argv[1], mode="offline", config={"i": i}, reinit="create_new",
                     settings=settings)
    run.log({"loss": 1.0})
    run.finish()
    wait_for_run_file(run)
    times["runs"].append(time.perf_counter() - started)
print(json.dumps(times))
"""


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _train(tmp: Path, logger: str, *extra: str) -> tuple[float, float]:
    """Wall and CPU seconds of one `python train.py` process (its W&B service included)."""
    args = [
        *extra,
        *TINY_HNET,
        f"logger={logger}",
        "force_rerun=true",
        f"paths.log_dir={tmp / 'logs'}",
        f"paths.cache_dir={tmp / 'cache'}",
    ]
    started, cpu = time.perf_counter(), _cpu_children()
    subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=ROOT,
        env=cli_env(),
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started, _cpu_children() - cpu


def _median(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def run() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        raw = subprocess.run(
            [sys.executable, "-c", _INIT_FINISH, str(tmp / "bare"), "4"],
            cwd=ROOT,
            env=cli_env(
                WANDB_SILENT="true", WANDB_CACHE_DIR=str(tmp / "cache"), WANDB_DATA_DIR=str(tmp / "data")
            ),
            capture_output=True,
            text=True,
            check=True,
        )
        bare = json.loads(raw.stdout.strip().splitlines()[-1])
        csv_run = _median([_train(tmp, "csv") for _ in range(REPEAT)])
        wandb_run = _median([_train(tmp, "default") for _ in range(REPEAT)])
        sweep = ["-m", "model/attention=none,additive,mha"]
        csv_sweep = _train(tmp, "csv", *sweep)
        wandb_sweep = _train(tmp, "default", *sweep)
    first, later = bare["runs"][0], statistics.median(bare["runs"][1:])
    per_job = (wandb_sweep[0] - csv_sweep[0]) / 3
    per_job_cpu = (wandb_sweep[1] - csv_sweep[1]) / 3
    # The target is W&B's own init + finish; the whole-run comparisons are reported as ratios (their
    # wall times swell when other jobs share the cores; CPU seconds do not).
    return [
        Result(
            "wandb.init + log + finish, offline, first run of a process (service start)",
            first,
            None,
            f"<= {TARGET_S} s",
            first <= TARGET_S,
        ),
        Result(
            "wandb.init + log + finish, offline, later runs of the process (median)",
            later,
            None,
            f"<= {TARGET_S} s",
            later <= TARGET_S,
        ),
        Result("import wandb (once per process)", bare["import"], None, "<= 3 s", bare["import"] <= 3.0),
        Result(
            "tiny HNet run, logger=default (csv+wandb) vs logger=csv, fresh process, wall (median of 3)",
            wandb_run[0],
            csv_run[0],
            "ratio <= 1.5",
            wandb_run[0] <= 1.5 * csv_run[0],
        ),
        Result(
            "same, CPU seconds of the process and its W&B service (median of 3)",
            wandb_run[1],
            csv_run[1],
            f"+ <= {TARGET_RUN_CPU_S} CPU s",
            wandb_run[1] - csv_run[1] <= TARGET_RUN_CPU_S,
        ),
        Result(
            "3-job multirun in one process: W&B CPU overhead per job",
            per_job_cpu,
            None,
            f"<= {TARGET_JOB_CPU_S} CPU s",
            per_job_cpu <= TARGET_JOB_CPU_S,
        ),
        Result(
            "3-job multirun in one process: W&B wall overhead per job",
            per_job,
            None,
            f"<= {2 * TARGET_JOB_CPU_S} s",
            per_job <= 2 * TARGET_JOB_CPU_S,
        ),
    ]
