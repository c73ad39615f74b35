"""Hydra's submitit SLURM launcher, made safe for sweeps and for studies left to run (`hydra/launcher=slurm`).

Hydra's own launcher collects results job by job and raises at the first job that SLURM ended without
a result (scancel, a node failure, a time limit with no requeue left): the sweep aborts without its
summary while the other jobs still run, and the killed run's record says `running` forever. This one
waits for every job and turns such a job into a failed run: its record, the sweep journal, the summary
(which then exits 1) and, under Optuna, a failed trial. Submission, requeue on timeout/preemption
(`checkpoint`) and the job itself are Hydra's.

Before it submits, it works out each job's run folder (the job's own config, composed here as the job
will compose it) and submits only runs that are neither completed (their record says so: the run is
journalled as skipped) nor still queued or running from an earlier submission (squeue says so: a
blocking sweep waits for that job instead of starting a second copy; the run folder's lock keeps two
copies from ever training together anyway). `wait: false` returns once the jobs are submitted: each
job records itself through the journal and its record as before, and `ablab-status` follows them.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as HydraSlurmLauncher
from omegaconf import DictConfig, OmegaConf

from ablab.journal import JOURNAL_ENV, append_event, read_events
from ablab.runs.records import RESULTS_FILE, CorruptRecord, Outcome, Status, read_record, write_json_atomic

log = logging.getLogger(__name__)

# Launcher fields that configure the executor or the launcher itself rather than each job's sbatch
# parameters.
_EXECUTOR_FIELDS = ("submitit_folder", "max_num_timeout", "wait")


class _Job:
    """One job of the sweep: its overrides, its composed config and run folder, and what to do. (A
    plain class: Hydra executes this module outside sys.modules, where a dataclass cannot be made.)"""

    def __init__(self, index: int, overrides: list[str], cfg: DictConfig, run_dir: Path) -> None:
        self.index, self.overrides, self.cfg, self.run_dir = index, overrides, cfg, run_dir
        self.action = "submit"  # submit | skip (completed) | adopt (queued or running already)
        self.earlier: dict[str, Any] | None = None
        self.job_id: str | None = None

    def journal_entry(self) -> dict[str, Any]:
        """What `ablab-status` shows of a submitted job before it starts."""
        return {
            "job_id": self.job_id,
            "run_dir": str(self.run_dir),
            "family": self.cfg.family,
            "variant": self.cfg.variant,
            "seed": self.cfg.seed,
        }


class SlurmLauncher(HydraSlurmLauncher):
    """Submits the sweep's runs that need a job as one job array; a job without a result is a failed
    run, not a sweep abort; with `wait: false` it returns once they are submitted."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list[JobReturn]:
        """Plan every job, submit those that need one, and wait for them unless `wait` is false;
        return one JobReturn per job in order."""
        from ablab.errors import AblabError, exit_code

        assert self.config is not None
        wait = bool(self.params.get("wait", True))
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        log.info(f"Submitit 'slurm' sweep output dir : {sweep_dir}")
        try:
            jobs = [self._plan(initial_job_idx + i, list(o)) for i, o in enumerate(job_overrides)]
            _find_earlier(jobs, sweep_dir)
        except AblabError as exc:  # one line, as for a bad override; Hydra would print its traceback
            print(f"error: {exc}", file=sys.stderr, flush=True)
            raise SystemExit(exit_code(exc.kind)) from None
        for job in jobs:
            if job.action == "skip":
                from ablab.runs.execute import skip_completed

                skip_completed(job.cfg, job.run_dir, job.earlier or {})
        fresh = [job for job in jobs if job.action == "submit"]
        submitted = self._submit(fresh) if fresh else []
        if fresh or any(job.action == "adopt" for job in jobs):
            # The study's terminal asks SLURM why jobs that have not started yet are waiting, and
            # ablab-status shows each submitted run (queued) before it starts.
            append_event(
                {
                    "event": "submitted",
                    "job_ids": [job.job_id for job in fresh],
                    "jobs": [job.journal_entry() for job in fresh],
                    "already": [job.journal_entry() for job in jobs if job.action == "adopt"],
                    "wait": wait,
                }
            )
        _say_plan(jobs, wait)
        if not wait:
            return [
                JobReturn(overrides=j.overrides, status=JobStatus.COMPLETED, _return_value=None) for j in jobs
            ]
        return self._collect(jobs, dict(zip([id(j) for j in fresh], submitted)))

    def _plan(self, index: int, overrides: list[str]) -> _Job:
        """The job's config as the job will compose it, its run folder, and whether its run is done."""
        from ablab.runs.recovery import completed_earlier

        assert self.hydra_context is not None and self.config is not None
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
        run_dir = Path(str(cfg.hydra.sweep.dir)) / str(cfg.hydra.sweep.subdir)
        job = _Job(index, overrides, cfg, run_dir)
        job.earlier = completed_earlier(cfg, run_dir)
        if job.earlier is not None:
            job.action = "skip"
        return job

    def _submit(self, jobs: list[_Job]) -> list[Any]:
        import submitit

        params = {k: v for k, v in self.params.items() if k not in _EXECUTOR_FIELDS}
        executor = submitit.AutoExecutor(
            cluster=self._EXECUTOR,
            folder=self.params["submitit_folder"],
            slurm_max_num_timeout=self.params["max_num_timeout"],
        )
        shared = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{k if k in shared else f"slurm_{k}": v for k, v in params.items()})
        for job in jobs:
            log.info(f"\t#{job.index} : {' '.join(filter_overrides(job.overrides))}")
        count = len(jobs)
        submitted = executor.map_array(
            self,
            [job.overrides for job in jobs],
            ["hydra.sweep.dir"] * count,
            [job.index for job in jobs],
            [f"job_id_for_{job.index}" for job in jobs],
            [Singleton.get_state()] * count,
        )
        for job, handle in zip(jobs, submitted):
            job.job_id = str(handle.job_id)
        return submitted

    def _collect(self, jobs: list[_Job], handles: dict[int, Any]) -> list[JobReturn]:
        """Every job's JobReturn: a skipped run's recorded value, a submitted job's result, and for a
        job an earlier submission left queued or running, that job's result (its end journalled here,
        where this sweep's summary reads it)."""
        import submitit

        from ablab.runs.execute import sweeper_value

        returns = []
        for job in jobs:
            if job.action == "skip":
                value = sweeper_value(job.earlier or {}, job.run_dir)
                returns.append(
                    JobReturn(overrides=job.overrides, status=JobStatus.COMPLETED, _return_value=value)
                )
            elif job.action == "submit":
                returns.append(_job_return(handles[id(job)], job.overrides))
            else:
                handle = submitit.SlurmJob(folder=self.params["submitit_folder"], job_id=str(job.job_id))
                returns.append(_job_return(handle, job.overrides))
                _journal_end(job)
        return returns


def _find_earlier(jobs: list[_Job], sweep_dir: Path) -> None:
    """Runs whose job from an earlier submission is still queued or running are adopted, not submitted
    again: the journals name each run's latest job, squeue says whether it is alive."""
    from ablab.errors import ConfigError
    from ablab.runs.scheduler import SchedulerUnavailable, job_states

    latest: dict[str, str] = {}
    for path in sorted((sweep_dir / ".journal").glob("*.jsonl")):
        for event in read_events(path):
            if event.get("event") == "submitted":
                latest.update({str(j["run_dir"]): str(j["job_id"]) for j in event.get("jobs") or []})
    candidates = {str(j.run_dir): latest.get(str(j.run_dir)) for j in jobs if j.action == "submit"}
    candidates = {run: job_id for run, job_id in candidates.items() if job_id and job_id != "None"}
    if not candidates:
        return
    try:
        states = job_states(candidates.values(), strict=True)
    except SchedulerUnavailable as exc:
        raise ConfigError(
            f"cannot tell which runs of {sweep_dir} are still queued or running ({exc}); nothing was "
            "submitted: check that squeue works here, then submit again"
        ) from exc
    for job in jobs:
        job_id = candidates.get(str(job.run_dir))
        if job_id and job_id in states and states[job_id].alive:
            job.action, job.job_id = "adopt", job_id


def _say_plan(jobs: list[_Job], wait: bool) -> None:
    """One line on the launching terminal (the journal's watcher prints the runs' own lines)."""
    from ablab.lightning.console import display_path

    fresh = [j for j in jobs if j.action == "submit"]
    adopted = [j for j in jobs if j.action == "adopt"]
    skipped = [j for j in jobs if j.action == "skip"]
    parts = [f"submitted {len(fresh)} job(s)" + (f" ({fresh[0].job_id.split('_')[0]})" if fresh else "")]
    if adopted:
        parts.append(
            f"{len(adopted)} still queued or running from an earlier submission (not submitted again)"
        )
    if skipped:
        parts.append(f"{len(skipped)} completed earlier")
    line = "slurm: " + "; ".join(parts)
    if not wait and jobs:
        study = display_path(Path(str(jobs[0].cfg.hydra.sweep.dir)))
        line += f"\n  not waiting (hydra.launcher.wait=false): follow with `ablab-status {study}`"
    print(line, file=sys.stderr, flush=True)


def _journal_end(job: _Job) -> None:
    """The end of a run whose job an earlier submission started, from its record, into this sweep's
    journal (the job itself wrote to the earlier one)."""
    from ablab.runs.execute import journal_outcome

    try:
        record = read_record(job.run_dir / RESULTS_FILE)
    except (CorruptRecord, FileNotFoundError):
        return
    if record["status"] != Status.RUNNING:
        journal_outcome(job.cfg, job.run_dir, record)


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
