"""One GPU per job on one machine without Ray: under `hydra/launcher=local_parallel` (joblib) each
worker process claims one of the visible GPUs for its lifetime and sets `CUDA_VISIBLE_DEVICES` to it
before anything touches CUDA, so with `n_jobs` up to the number of GPUs every job has its own device.

joblib hands jobs to whichever worker is free, so a job's index says nothing about which GPU is free;
and a worker that has used CUDA cannot move to another device. So the claim belongs to the worker,
not the job: an exclusive lock file per device (`<paths.log_dir>/.devices/`, shared by every study
under that folder), which the OS releases when the worker exits, however it exits. With more jobs
than GPUs the jobs beyond share them, with a warning. SLURM and Ray assign devices themselves.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

DEVICES_ENV = "CUDA_VISIBLE_DEVICES"
LOCK_DIR = ".devices"
_held: tuple[str, Any] | None = None


def visible_devices() -> list[str]:
    """The GPUs this process may use: `CUDA_VISIBLE_DEVICES` as given, else every GPU torch counts
    (through NVML, without creating a CUDA context)."""
    listed = os.environ.get(DEVICES_ENV)
    if listed is not None:
        return [d.strip() for d in listed.split(",") if d.strip() and d.strip() != "-1"]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def claim_device(lock_dir: Path, devices: list[str]) -> str | None:
    """The first of `devices` no other process holds, now held by this one until it exits; None when
    all are taken. A process keeps the device it claimed first."""
    global _held
    if _held is not None:
        return _held[0]
    from filelock import FileLock, Timeout

    lock_dir.mkdir(parents=True, exist_ok=True)
    for device in devices:
        lock = FileLock(lock_dir / f"gpu-{re.sub(r'[^A-Za-z0-9_.-]', '_', device)}.lock")
        try:
            lock.acquire(timeout=0)
        except Timeout:
            continue
        _held = (device, lock)
        return device
    return None


def _runs_under_joblib(hydra: Any) -> bool:
    from omegaconf import OmegaConf

    target = str(OmegaConf.select(hydra, "launcher._target_", default="") or "")
    n_jobs = OmegaConf.select(hydra, "launcher.n_jobs", default=1) or 1
    return "joblib" in target.lower() and int(n_jobs) > 1


def assign_device(log_dir: Path | str) -> str | None:
    """Give this joblib job its own GPU; the device named in CUDA_VISIBLE_DEVICES, or None where there
    is nothing to assign (another launcher, one job at a time, fewer than two GPUs)."""
    from hydra.core.hydra_config import HydraConfig

    if _held is not None:
        return _held[0]
    if not HydraConfig.initialized() or not _runs_under_joblib(HydraConfig.get()):
        return None
    devices = visible_devices()
    if len(devices) < 2:
        return None
    device = claim_device(Path(log_dir) / LOCK_DIR, devices)
    if device is None:
        print(
            f"warning: every visible GPU ({', '.join(devices)}) is held by another job: this one shares "
            "them; keep hydra.launcher.n_jobs at most the number of GPUs",
            file=sys.stderr,
        )
        return None
    os.environ[DEVICES_ENV] = device
    return device
