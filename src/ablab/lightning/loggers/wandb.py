"""W&B logger for ablab runs (`logger=wandb`, part of `logger=default`); see docs/wandb.md.

On top of Lightning's WandbLogger: offline unless asked otherwise, files under the run folder and the
project cache instead of the home folder, the run's study/family/variant as group/job_type/name, the
Hydra group choices and config hash in the W&B config (secrets redacted), the same W&B run id when the
runner resumes a run, and one W&B run per job (Lightning never calls `wandb.finish()`). The id, config
and tags come from the runner (`run=`, an `ablab.lightning.loggers.TrackedRun`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import WandbLogger as LightningWandbLogger
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from ablab.errors import ConfigError
from ablab.lightning.loggers import TrackedRun
from ablab.lightning.loggers.wandb_setup import use_local_dirs, wait_for_run_file, wandb_mode


class WandbLogger(LightningWandbLogger):
    """Lightning's WandbLogger plus ablab's run identity (`run=`) and lifecycle (`finish_run`)."""

    TRACKS_RUNS = True

    def __init__(
        self,
        project: str = "ablab",
        save_dir: str | Path = ".",
        cache_dir: str | Path | None = None,
        config_dir: str | Path | None = None,
        offline: bool = True,
        group: str | None = None,
        job_type: str | None = None,
        name: str | None = None,
        tags: list[str] | None = None,
        entity: str | None = None,
        notes: str | None = None,
        log_model: bool | str = False,
        settings: dict[str, Any] | None = None,
        run: TrackedRun | None = None,
        **kwargs: Any,
    ) -> None:
        self.mode = wandb_mode(offline)
        if log_model and self.mode == "offline":
            raise ConfigError(
                "logger.wandb.log_model uploads checkpoints, which needs W&B online: set "
                "logger.wandb.offline=false (after `wandb login`) or logger.wandb.log_model=false"
            )
        if cache_dir is not None:
            use_local_dirs(cache_dir, config_dir)
        Path(save_dir).mkdir(parents=True, exist_ok=True)
        # A run still open in this process (started with reinit="create_new" elsewhere) must not be
        # handed back to this job, which W&B's default does outside notebooks.
        kwargs.setdefault("reinit", "finish_previous")
        _end_run_left_open()
        if run is not None:
            kwargs.update(id=run.id, config=run.config)
            tags = run.tags if tags is None else tags
        # W&B's banner, run summary and sync hints (about 30 lines a run) are left out offline: the sweep
        # prints one line saying where the offline runs are and how to upload them.
        settings = {"silent": self.mode == "offline", **dict(settings or {})}
        # offline=False: Lightning's offline flag would overwrite WANDB_MODE; `mode` says it instead.
        super().__init__(
            name=name,
            save_dir=str(save_dir),
            offline=False,
            project=project,
            log_model=log_model,
            group=group,
            job_type=job_type,
            tags=list(tags) if tags is not None else None,
            entity=entity,
            notes=notes,
            mode=self.mode,
            settings=settings,
            **kwargs,
        )
        self._wandb_init.pop("anonymous", None)  # W&B warns about the setting even when it is None
        self._finished = False

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """After fit and after test Lightning says "success": the run goes on until `finish_run`. A
        failure, or a SLURM requeue ("finished"), ends this attempt's run now."""
        super().finalize(status)
        if status != "success" and self._experiment is not None:
            self._end(exit_code=1 if status == "failed" else 0)

    @rank_zero_only
    def finish_run(self, summary: dict[str, Any]) -> None:
        """Write the final numbers into the W&B summary (the best validation value, not the last one)
        and end the run."""
        if self._finished:
            return
        run = self.experiment
        run.summary.update({k: v for k, v in summary.items() if v is not None})
        self._end(exit_code=0)

    def _end(self, exit_code: int) -> None:
        if not self._finished and self._experiment is not None:
            self._experiment.finish(exit_code=exit_code)
            wait_for_run_file(self._experiment)
        self._finished = True


def _end_run_left_open() -> None:
    """An earlier job of this process left its W&B run open (it crashed outside the Trainer): end it,
    or Lightning would log this job into it."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and wandb.run is not None:
        wandb.run.finish(exit_code=1)
