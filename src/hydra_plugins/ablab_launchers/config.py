"""The schema of `hydra/launcher=slurm`: Hydra's submitit SLURM fields plus `wait`. Hydra imports this
module while it scans for plugins, before it composes any config, so `conf/hydra/launcher/slurm.yaml`
can build on `ablab_slurm` the way Hydra's own options build on `submitit_slurm`. No `from __future__
import annotations`: Hydra executes this module outside sys.modules, where dataclasses cannot read
string annotations."""

from dataclasses import dataclass

from hydra.core.config_store import ConfigStore
from hydra_plugins.hydra_submitit_launcher.config import SlurmQueueConf


@dataclass
class AblabSlurmQueueConf(SlurmQueueConf):
    """`wait: false` submits the study's jobs and returns at once (`ablab-status` follows them)."""

    _target_: str = "hydra_plugins.ablab_launchers.slurm.SlurmLauncher"
    wait: bool = True


ConfigStore.instance().store(
    group="hydra/launcher", name="ablab_slurm", node=AblabSlurmQueueConf(), provider="ablab"
)
