"""Hydra's submitit SLURM launcher, made safe for sweeps (`hydra/launcher=slurm`).

Hydra's own launcher collects results job by job and raises at the first job that SLURM ended without
a result (scancel, a node failure, a time limit with no requeue left): the sweep aborts without its
summary while the other jobs still run, and the killed run's record says `running` forever. This one
waits for every job and turns such a job into a failed run: its record, the sweep journal, the summary
(which then exits 1) and, under Optuna, a failed trial. Submission, requeue on timeout/preemption
(`checkpoint`) and the job itself are Hydra's.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as HydraSlurmLauncher
from omegaconf import OmegaConf

from ablab.journal import JOURNAL_ENV, append_event, read_events
from ablab.runs.records import RESULTS_FILE, CorruptRecord, Outcome, Status, read_record, write_json_atomic

log = logging.getLogger(__name__)

# Launcher fields that configure the executor itself rather than each job's sbatch parameters.
_EXECUTOR_FIELDS = ("submitit_folder", "max_num_timeout")


class SlurmLauncher(HydraSlurmLauncher):
    """Submits the sweep as one job array; a job without a result is a failed run, not a sweep abort."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list[JobReturn]:
        """Submit every job, wait for all of them, return one JobReturn per job in order."""
        import submitit

        assert self.config is not None
        params = {k: v for k, v in self.params.items() if k not in _EXECUTOR_FIELDS}
        executor = submitit.AutoExecutor(
            cluster=self._EXECUTOR,
            folder=self.params["submitit_folder"],
            slurm_max_num_timeout=self.params["max_num_timeout"],
        )
        shared = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{k if k in shared else f"slurm_{k}": v for k, v in params.items()})

        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        log.info(f"Submitit 'slurm' sweep output dir : {sweep_dir}")
        indices = list(range(initial_job_idx, initial_job_idx + len(job_overrides)))
        for idx, overrides in zip(indices, job_overrides):
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
        count = len(indices)
        jobs = executor.map_array(
            self,
            [list(o) for o in job_overrides],
            ["hydra.sweep.dir"] * count,
            indices,
            [f"job_id_for_{i}" for i in indices],
            [Singleton.get_state()] * count,
        )
        # The study's terminal asks SLURM why jobs that have not started yet are waiting.
        append_event({"event": "submitted", "job_ids": [str(job.job_id) for job in jobs]})
        return [_job_return(job, list(overrides)) for job, overrides in zip(jobs, job_overrides)]


def _job_return(job: Any, overrides: list[str]) -> JobReturn:
    """The job's own JobReturn; for a job SLURM ended without one, a failed run (return value None)."""
    from submitit.core.utils import UncompletedJobError

    try:
        return job.results()[0]
    except UncompletedJobError:
        reason = (
            f"SLURM job {job.job_id} ended {job.state} without a result (scancel, node failure or time "
            f"limit); its log: {job.paths.stdout}"
        )
        log.error(f"{reason} [{' '.join(filter_overrides(overrides))}]")
        mark_killed(job.job_id, reason, label=f"SLURM job {job.job_id} ({' '.join(overrides)})")
        return JobReturn(overrides=overrides, status=JobStatus.COMPLETED, _return_value=None)


def mark_killed(job_id: str, reason: str, label: str) -> None:
    """Record a job that ended without finishing its run: every run it started and left unfinished
    becomes `failed` (record and journal); a job killed before it started a run is journalled as `label`."""
    journal = os.environ.get(JOURNAL_ENV)
    events = [e for e in (read_events(Path(journal)) if journal else []) if "run_dir" in e]
    started = {
        e["run_dir"] for e in events if e.get("job_id") == job_id and e.get("outcome") == Outcome.STARTED
    }
    last = {e["run_dir"]: e.get("outcome") for e in events}
    unfinished = sorted(d for d in started if last.get(d) == Outcome.STARTED)
    if not started:
        append_event({"run_dir": label, "outcome": Outcome.FAILED, "reason": reason, "job_id": job_id})
    for run_dir in unfinished:
        _fail_record(Path(run_dir) / RESULTS_FILE, reason)
        append_event({"run_dir": run_dir, "outcome": Outcome.FAILED, "reason": reason, "job_id": job_id})


def _fail_record(path: Path, reason: str) -> None:
    """Turn a record the killed job left `running` into `failed`; any other record is the job's own."""
    try:
        record = read_record(path)
    except (CorruptRecord, FileNotFoundError):
        return
    if record["status"] != Status.RUNNING:
        return
    record.update(
        status=Status.FAILED,
        error={"message": f"Killed: {reason}", "traceback": ""},
        finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )
    write_json_atomic(path, record)
