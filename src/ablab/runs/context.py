"""Hydra's runtime state, read in one place: what a job was asked (its overrides and group choices),
whether it is part of a multirun, its launcher's job id and parallelism, and the keys its study sweeps.

Inside a job Hydra keeps this in `HydraConfig`; where the launching process resolves `hydra.sweep.dir`
it is not set yet, but the config being resolved carries its own `hydra` node. The keys a multirun
sweeps reach its jobs through the environment (`SWEPT_ENV`, set by `SweepSummary`), which joblib
workers and SLURM jobs inherit: a job's own overrides name only its values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf

# Set by the sweep callback for its jobs: the override keys the multirun varies (comma-separated).
SWEPT_ENV = "ABLAB_SWEPT_KEYS"


@dataclass(frozen=True)
class HydraContext:
    """What Hydra knows of the current run; `HydraContext()` outside Hydra."""

    overrides: list[str] = field(default_factory=list)
    choices: dict[str, Any] = field(default_factory=dict)
    multirun: bool = False
    job_id: str | None = None
    n_jobs: int | None = None
    swept: list[str] | None = None
    cwd: str | None = None
    node: DictConfig | None = None

    @property
    def ablation(self) -> str | None:
        """The chosen `ablation=<family>/<name>`, if any."""
        return self.choices.get("ablation")


def _hydra_node(root: DictConfig | None) -> DictConfig | None:
    from hydra.core.hydra_config import HydraConfig

    if root is not None and "hydra" in root:
        return root.hydra
    return HydraConfig.get() if HydraConfig.initialized() else None


def swept_from_environment() -> list[str] | None:
    """The swept keys the launching process handed to its jobs, or None outside a sweep."""
    if SWEPT_ENV not in os.environ:
        return None
    return [k for k in os.environ[SWEPT_ENV].split(",") if k]


def hydra_context(root: DictConfig | None = None) -> HydraContext:
    """The context of the run whose config is `root` (a resolver's `_root_`), else of this job."""
    from hydra.types import RunMode

    hydra = _hydra_node(root)
    if hydra is None:
        return HydraContext()
    multirun = hydra.mode == RunMode.MULTIRUN
    choices = OmegaConf.to_container(hydra.runtime.choices) if "runtime" in hydra else {}
    # Unresolved: an override such as `+token=${oc.env:HF_TOKEN}` must not record the token.
    overrides = OmegaConf.to_container(hydra.overrides.task, resolve=False)
    n_jobs = OmegaConf.select(hydra, "launcher.n_jobs", default=None)
    job_id = OmegaConf.select(hydra, "job.id", default=None)
    swept = swept_from_environment() if multirun else None
    if multirun and swept is None:  # the launching process, before it handed the keys on
        from ablab.runs.study import swept_keys_of

        swept = swept_keys_of(hydra)
    return HydraContext(
        overrides=list(overrides),
        choices={k: v for k, v in choices.items() if not k.startswith("hydra/") and k != "hydra"},
        multirun=multirun,
        job_id=str(job_id) if job_id is not None else None,
        n_jobs=int(n_jobs) if n_jobs else None,
        swept=swept,
        cwd=OmegaConf.select(hydra, "runtime.cwd", default=None, throw_on_resolution_failure=False),
        node=hydra,
    )
