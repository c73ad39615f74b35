"""Shared fixtures: run the real CLI in a subprocess against temporary log and cache folders."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")

# A tiny HNet run: a few hundred samples, two epochs, no progress bars. Seconds on 2 CPU cores.
TINY_HNET = [
    "data.train_per_case=40",
    "data.val_per_case=10",
    "data.test_per_case=10",
    "data.batch_size=64",
    "model.hidden_size=16",
    "trainer.max_epochs=2",
    "trainer.enable_progress_bar=false",
    "print_config=false",
    "callbacks.progress_bar=null",
]
# The same with the CSV logger alone, for tests whose subject is not W&B.
TINY_CSV = [*TINY_HNET, "logger=csv"]


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for CLI subprocesses: no network, offline W&B, one thread per job."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "PYTEST_"))}
    env.update(
        WANDB_MODE="offline",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        PYTHONUNBUFFERED="1",
        OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "1"),
    )
    env.update(extra)
    return env


def run_cli(
    args: list[str],
    *,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    check: bool = True,
    program: list[str] | None = None,
) -> subprocess.CompletedProcess:
    """Run `python train.py ARGS` (or `program ARGS`); on unexpected failure show its output."""
    command = (program or [sys.executable, str(ROOT / "train.py")]) + list(args)
    proc = subprocess.run(
        command, cwd=cwd, env=env or cli_env(), capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} exited {proc.returncode}\n--- stdout\n{proc.stdout[-6000:]}\n"
            f"--- stderr\n{proc.stderr[-6000:]}"
        )
    return proc


def kill_when(command: list[str], ready: Callable[[], T | None], timeout: float = 300) -> T | None:
    """Start `command` (its own session, output discarded), poll `ready()` until it returns something,
    then SIGKILL the whole process group; what `ready()` returned, None if the command ended or
    `timeout` passed first."""
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            value = ready()
            if value:
                return value
            time.sleep(0.02)
        return None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def find_records(log_dir: Path) -> list[dict]:
    """Every results.json under `log_dir`, each with its folder under `_dir`."""
    records = []
    for path in sorted(log_dir.rglob("results.json")):
        if "previous" in path.parts:
            continue
        record = json.loads(path.read_text())
        record["_dir"] = path.parent
        records.append(record)
    return records


@pytest.fixture
def run_paths(tmp_path: Path) -> list[str]:
    """Overrides that send logs and caches of a CLI run into this test's temporary folder."""
    return [f"paths.log_dir={tmp_path / 'logs'}", f"paths.cache_dir={tmp_path / 'cache'}"]


@pytest.fixture(scope="session")
def tiny_wandb_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real tiny study with the default loggers (CSV and offline W&B): 2 variants x 2 seeds of HNet,
    one job at a time. Its study folder; tests that change it work on a copy."""
    base = tmp_path_factory.mktemp("wandb_study")
    run_cli(
        [
            "-m",
            "study=tiny_wandb",
            "ablation=hnet/baseline,hnet/no_attention",
            "seed=1,2",
            f"paths.log_dir={base / 'logs'}",
            f"paths.cache_dir={base / 'cache'}",
            *TINY_HNET,
        ]
    )
    return base / "logs" / "tiny_wandb"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under `make test` (pytest-xdist, `--dist loadgroup`) each test module runs on one worker, so its
    module-scoped fixtures (a trained study, a fresh clone) are built once; the SLURM and Ray tests
    share one cluster or one machine-wide Ray each, so every test marked `slurm` or `ray` (or in
    tests/slurm, tests/ray) runs on one worker, one after the other."""
    for item in items:
        parts = item.path.resolve().relative_to(ROOT / "tests").parts
        shared = [name for name in ("slurm", "ray") if parts[0] == name or item.get_closest_marker(name)]
        item.add_marker(pytest.mark.xdist_group(shared[0] if shared else "/".join(parts)))
