"""The single-node SLURM cluster for the tests marked `slurm` (tests/slurm/cluster.sh).

Started once per session (about 5 s once its packages are installed) and stopped at the end when this
session started it; a cluster already up (CI starts it in .ci/run) is used and left running. Skips,
with the reason, only where the cluster cannot be started here (not root, or its Debian packages
cannot be installed) and only outside CI: with ABLAB_REQUIRE_SLURM=1 (.ci/run) that is a failure.
Any other start failure is an error.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CLUSTER_SH = Path(__file__).with_name("cluster.sh")
# Exit status of cluster.sh when the cluster cannot be started on this machine.
IMPOSSIBLE = 3
# apt-get install on a fresh machine takes about a minute.
START_TIMEOUT_S = 600
# Set by .ci/run: there "the cluster cannot start here" is a failure, never a silent skip.
REQUIRE_ENV = "ABLAB_REQUIRE_SLURM"


def _cannot_run(reason: str) -> None:
    """Skip on a developer's machine without root or packages; fail where SLURM is required (CI)."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but the SLURM tests cannot run: {reason}")
    pytest.skip(reason)


def _cluster(command: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(CLUSTER_SH), command],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[dict[str, str]]:
    """Environment variables that point SLURM clients (sbatch, sacct, submitit) at the test cluster."""
    if os.geteuid() != 0:
        _cannot_run(
            "SLURM tests need root: tests/slurm/cluster.sh starts munged, MariaDB and the SLURM "
            "daemons (CI runs them as root)"
        )
    was_up = _cluster("status").returncode == 0
    started = time.perf_counter()
    proc = _cluster("start", timeout=START_TIMEOUT_S)
    if proc.returncode == IMPOSSIBLE:
        _cannot_run(f"SLURM cluster cannot start here: {proc.stderr.strip().splitlines()[-1]}")
    if proc.returncode != 0:
        pytest.fail(f"tests/slurm/cluster.sh start failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    print(f"SLURM cluster up in {time.perf_counter() - started:.1f} s (already running: {was_up})")
    conf = _cluster("env").stdout.strip().removeprefix("export SLURM_CONF=")
    yield {"SLURM_CONF": conf}
    if not was_up:
        _cluster("stop")


@pytest.fixture(scope="session")
def blocking_study(slurm_cluster: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A tiny HNet study submitted once as a blocking sweep, for every module that reads or compares
    with it (tests/slurm/test_slurm_sweep.py)."""
    from tests.slurm.test_slurm_sweep import run_blocking_study

    return run_blocking_study(slurm_cluster, tmp_path_factory)
