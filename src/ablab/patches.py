"""Every place where ablab leans on a library's private API, with the version it was written against and
why no public API does. `tests/test_patches.py` fails, with the reason below, as soon as an installed
version differs: read that library's change log for the named internals before moving the pin."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Patch:
    """One reliance on a library's internals."""

    where: str
    package: str
    version: str
    internals: str
    why: str


PATCHES = (
    Patch(
        where="ablab.lightning.callbacks.ema.EMA",
        package="lightning",
        version="2.6.6",
        internals="WeightAveraging._average_model, ._swap_models, ._device, ._use_buffers, ._kwargs",
        why="Lightning's WeightAveraging swaps the averaged weights in for validation only; test and "
        "predict must see them too, and frozen weights must not be averaged",
    ),
    Patch(
        where="ablab.lightning.loggers.csv_logger.CSVLogger",
        package="lightning",
        version="2.6.6",
        internals="ExperimentWriter._check_log_dir_exists, CSVLogger._experiment and ._fs",
        why="Lightning's CSVLogger deletes metrics.csv when a new process writes it: a resumed run and "
        "ddp_spawn's test would lose the epochs already logged",
    ),
    Patch(
        where="ablab.lightning.loggers.wandb.WandbLogger",
        package="lightning",
        version="2.6.6",
        internals="WandbLogger._wandb_init (the arguments of wandb.init) and ._experiment",
        why="the logger has no public way to drop the `anonymous` argument W&B warns about, nor to "
        "tell whether a run was started before finishing it",
    ),
    Patch(
        where="hydra_plugins.ablab_launchers.slurm.SlurmLauncher.launch",
        package="hydra-submitit-launcher",
        version="1.2.0",
        internals="the body of BaseSubmititLauncher.launch, copied, and its executor parameters",
        why="Hydra's launcher raises at the first job SLURM ended without a result, aborting the sweep "
        "and its summary while other jobs run",
    ),
    Patch(
        where="ablab.secrets (config walk)",
        package="omegaconf",
        version="2.3.1",
        internals="DictConfig._get_node / ListConfig._get_node",
        why="finding secret-named keys must read nodes without resolving their interpolations, which "
        "could read the secret from the environment",
    ),
    Patch(
        where="ablab.lightning.loggers.workspace.specification",
        package="wandb-workspaces",
        version="0.4.13",
        internals="Workspace._to_model() (the pydantic View that .save() uploads)",
        why="ablab-dashboard writes the workspace's specification offline, where .save() cannot run; "
        "the library has no public call that returns what it would save",
    ),
    Patch(
        where="ablab.lightning.callbacks.gpu",
        package="torch",
        version="2.13.0",
        internals="torch.cuda._get_nvml_device_index",
        why="maps a CUDA device index to NVML's under CUDA_VISIBLE_DEVICES; torch has no public call",
    ),
)
