"""`hydra/launcher=ray`: each job of a study is a Ray task, on a Ray instance started on this machine
or on an existing cluster (`hydra.launcher.ray.init.address=auto`, or a head address from
conf/local/ray.yaml). Each task asks Ray for `hydra.launcher.ray.remote.num_cpus` and `num_gpus`, so
Ray packs runs onto the cluster's CPUs and GPUs and sets each task's CUDA_VISIBLE_DEVICES.

Written on Ray's public API rather than installed from `hydra-ray-launcher`: its last release (1.2.2)
pins `cloudpickle<3`, which no resolver can install beside joblib 1.6 (`cloudpickle>=3`, the joblib
launcher's), and its local launcher collects results with `ray.get` job by job, so a task whose worker
died (an out-of-memory kill, a lost node) raises and aborts the whole sweep while other tasks still
run. The config keeps that plugin's shape (`ray.init`, `ray.remote`), so its documentation applies.
Here a task that ended without a result is a failed run (record, journal, summary, Optuna trial), as
under the SLURM launcher. The sweep's environment (the journal, the swept keys, W&B settings) travels
in each task's `runtime_env`, which reaches workers that a cluster started long before the sweep;
secrets never do (set them in the cluster's own environment).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger(__name__)

# Environment variables of the launching process that every task needs, wherever its worker started.
FORWARDED_PREFIXES = ("ABLAB_", "WANDB_", "HF_", "TRANSFORMERS_OFFLINE", "PYTHONUNBUFFERED")


def _run_job(hydra_context: HydraContext, sweep_config: DictConfig, task_function: TaskFunction, state: Any):
    """One job inside a Ray worker: Hydra's own job runner, with the launching process's state."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.utils import run_job

    setup_globals()
    Singleton.set_state(state)
    HydraConfig.instance().set_config(sweep_config)
    return run_job(
        hydra_context=hydra_context,
        task_function=task_function,
        config=sweep_config,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )


def forwarded_environment() -> dict[str, str]:
    """What of this process's environment the tasks get; never a secret."""
    from ablab.secrets import is_secret_name

    return {k: v for k, v in os.environ.items() if k.startswith(FORWARDED_PREFIXES) and not is_secret_name(k)}


class RayLauncher(Launcher):
    """Submits every job of a batch as a Ray task, waits for all, returns one JobReturn per job."""

    def __init__(self, ray: DictConfig) -> None:
        self.ray_cfg = ray
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function

    def _start_ray(self) -> None:
        import ray

        if ray.is_initialized():
            return
        init = OmegaConf.to_container(self.ray_cfg.init, resolve=True) or {}
        # Joining a running cluster: its own CPUs and GPUs count, the launcher may not name them.
        ray.init(**{k: v for k, v in init.items() if v is not None})

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list[JobReturn]:
        import ray

        assert self.config is not None and self.hydra_context is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        self._start_ray()
        options = OmegaConf.to_container(self.ray_cfg.remote, resolve=True) or {}
        options = {k: v for k, v in options.items() if v is not None}
        options["runtime_env"] = {"env_vars": forwarded_environment()}
        task = ray.remote(_run_job).options(**options)
        submitted = []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            sweep_config = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            job_id = f"ray-{os.getpid()}-{idx}"
            with open_dict(sweep_config):
                sweep_config.hydra.job.id = job_id
                sweep_config.hydra.job.num = idx
            ref = task.remote(self.hydra_context, sweep_config, self.task_function, Singleton.get_state())
            submitted.append((ref, list(overrides), job_id))
        return [_job_return(ref, overrides, job_id) for ref, overrides, job_id in submitted]


def _job_return(ref: Any, overrides: list[str], job_id: str) -> JobReturn:
    """The task's JobReturn; for a task Ray ended without one, a failed run (return value None)."""
    import ray
    from hydra_plugins.ablab_launchers.slurm import mark_killed

    try:
        return ray.get(ref)
    except ray.exceptions.RayError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        reason = f"Ray task {job_id} ended without a result ({type(exc).__name__}: {first})"
        log.error(f"{reason} [{' '.join(filter_overrides(overrides))}]")
        mark_killed(job_id, reason, label=f"Ray task {job_id} ({' '.join(overrides)})")
        return JobReturn(overrides=overrides, status=JobStatus.COMPLETED, _return_value=None)
