"""Where a study stands, while it runs and after it ends, under any launcher (`ablab-status`).

Joins what the study folder holds: its journals (`<study>/.journal/*.jsonl`: which jobs were submitted
for which runs, which started, how each ended), each run's record (`results.json`: the truth of how a
run ended), each running run's `csv/metrics.csv` (its current epoch) and, for SLURM jobs, what squeue
and sacct say of them. Counts and the ETA come from `ablab.runs.watch.Progress`, which also drives the
study's own terminal. Reads only; never imports torch or lightning.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ablab.analysis.collect import find_run_dirs, read_curves
from ablab.errors import DataError
from ablab.journal import read_events
from ablab.runs.records import RESULTS_FILE
from ablab.runs.scheduler import ALIVE, job_states
from ablab.runs.scheduler import QUEUED as SLURM_QUEUED
from ablab.runs.study import read_study_file
from ablab.runs.watch import OUTCOMES, Progress

JOURNAL_DIR = ".journal"
QUEUED, RUNNING, COMPLETED, SKIPPED = "queued", "running", "completed", "skipped"
# A run in one of these may still change: `ablab-report` lists it as not finished.
UNFINISHED = (QUEUED, RUNNING)


@dataclass
class RunStatus:
    """One run of the study as the table shows it."""

    run_dir: str
    variant: str | None = None
    seed: int | None = None
    family: str | None = None
    status: str = QUEUED
    reason: str | None = None
    epoch: int | None = None
    max_epochs: int | None = None
    job_id: str | None = None
    job_state: str | None = None
    value: float | None = None
    wall_time_s: float | None = None
    last_outcome: str | None = None
    record_status: str | None = None

    def describe(self, width: int = 80) -> str:
        """`running (epoch 3/12)`, `failed: ConfigError: ...`, `queued`, or the record's own status."""
        from ablab.runs.watch import first_line

        if self.status == RUNNING and self.epoch is not None:
            total = f"/{self.max_epochs}" if self.max_epochs else ""
            return f"running (epoch {self.epoch}{total})"
        if self.reason and self.status not in (COMPLETED, SKIPPED, QUEUED, RUNNING):
            reason = first_line(self.reason)
            reason = reason if len(reason) <= width else reason[: width - 1] + "…"
            return f"{self.status}: {reason}"
        return self.status

    @property
    def label(self) -> str:
        """`hnet/relu seed 2`, or the journal's name for a job that never got to a run."""
        if self.variant is None:
            return self.run_dir
        name = f"{self.family}/{self.variant}" if self.family else self.variant
        return f"{name} seed {self.seed}" if self.seed is not None else name


@dataclass
class StudyStatus:
    """A study's runs, counts, best result so far and ETA."""

    study: str
    folder: Path
    runs: list[RunStatus]
    total: int | None = None
    metric: str | None = None
    mode: str | None = None
    eta_s: float | None = None
    baseline: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def not_started(self) -> int:
        """Runs the study plans that no journal or record knows of yet (a local launcher's later jobs)."""
        return max(0, (self.total or 0) - len(self.runs))

    def counts(self) -> Counter:
        counts = Counter(r.status for r in self.runs)
        if self.not_started:
            counts["not started"] = self.not_started
        return counts

    @property
    def unfinished(self) -> list[RunStatus]:
        return [r for r in self.runs if r.status in UNFINISHED]

    @property
    def finished(self) -> bool:
        return not self.unfinished and not self.not_started

    def best(self) -> tuple[str, float, int, RunStatus] | None:
        """The best variant so far by its mean over completed seeds: (variant, mean, seeds, best run)."""
        done = [r for r in self.runs if r.status in (COMPLETED, SKIPPED) and _finite(r.value)]
        if not done or self.metric is None:
            return None
        sign = -1.0 if self.mode == "min" else 1.0
        by_variant: dict[str, list[RunStatus]] = defaultdict(list)
        for run in done:
            by_variant[str(run.variant)].append(run)
        means = {v: sum(r.value for r in rs) / len(rs) for v, rs in by_variant.items()}  # type: ignore[misc]
        variant = max(means, key=lambda v: sign * means[v])
        top = max(by_variant[variant], key=lambda r: sign * float(r.value))  # type: ignore[arg-type]
        return variant, means[variant], len(by_variant[variant]), top


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def journal_events(folder: Path) -> list[dict[str, Any]]:
    """Every event of every submission of the study, oldest journal first."""
    events: list[dict[str, Any]] = []
    for path in sorted((folder / JOURNAL_DIR).glob("*.jsonl")):
        events += read_events(path)
    return events


def _key(run_dir: str) -> str:
    return os.path.realpath(run_dir)


def _from_journal(events: list[dict[str, Any]]) -> dict[str, RunStatus]:
    """What the journals say of each run: its job, its last outcome, its labels."""
    runs: dict[str, RunStatus] = {}
    # Only the SLURM launcher journals submissions: a local launcher's job ids ("0", "1") are Hydra's.
    slurm_ids = {
        str(j["job_id"]) for e in events if e.get("event") == "submitted" for j in e.get("jobs") or []
    }

    def run_of(run_dir: str, event: dict[str, Any]) -> RunStatus:
        run = runs.setdefault(_key(run_dir), RunStatus(run_dir=run_dir))
        for name in ("variant", "seed", "family"):
            if event.get(name) is not None:
                setattr(run, name, event[name])
        if str(event.get("job_id")) in slurm_ids:
            run.job_id = str(event["job_id"])
        return run

    for event in events:
        if event.get("event") == "submitted":
            for job in event.get("jobs") or []:
                run = run_of(str(job["run_dir"]), job)
                run.last_outcome = "submitted"
            continue
        if "run_dir" not in event or "outcome" not in event:
            continue
        run = run_of(str(event["run_dir"]), event)
        run.last_outcome = event["outcome"]
        run.reason = event.get("reason") or (None if event["outcome"] == "started" else run.reason)
        if event.get("wall_time_s") is not None:
            run.wall_time_s = float(event["wall_time_s"])
        if event.get("value") is not None:
            run.value = float(event["value"])
    return runs


def read_status_record(path: Path) -> dict[str, Any] | None:
    """A results.json as it is, whatever its status (a status this version does not know is shown as
    it is); None when it cannot be read at all."""
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("status"), str) else None


def _apply_record(run: RunStatus, record: dict[str, Any]) -> tuple[str | None, str | None]:
    """Fill in what the run's record says; return the record's metric name and mode."""
    run.record_status = record["status"]
    for name in ("variant", "seed", "family"):
        if record.get(name) is not None:
            setattr(run, name, record[name])
    metric = record.get("metric") or {}
    key = f"test/{metric['name']}" if metric.get("name") else None
    value = (record.get("metrics") or {}).get(key) if key else None
    if _finite(value):
        run.value = float(value)
    if record.get("wall_time_s") is not None:
        run.wall_time_s = float(record["wall_time_s"])
    error = record.get("error") or {}
    if isinstance(error, dict) and error.get("message"):
        run.reason = str(error["message"])
    return key, metric.get("mode")


def _decide(run: RunStatus) -> str:
    """queued / running / completed / skipped / failed / diverged (or a record's own status) from the
    record, the journal and the scheduler together."""
    record, state = run.record_status, run.job_state
    if record == COMPLETED:
        return SKIPPED if run.last_outcome == SKIPPED else COMPLETED
    if state in SLURM_QUEUED:
        return QUEUED
    if state is not None and state not in ALIVE and (record in (None, RUNNING)):
        run.reason = f"SLURM job {run.job_id} ended {state} before its run finished"
        return "failed"
    if record is not None and record != RUNNING:
        return record
    if record == RUNNING or run.last_outcome == "started" or state in ALIVE:
        return RUNNING
    if run.last_outcome in OUTCOMES:  # a journal entry with no run folder (a job killed early)
        return str(run.last_outcome)
    return QUEUED


def _epochs(run: RunStatus) -> None:
    """The epochs a running run has logged so far, and how many it will train."""
    folder = Path(run.run_dir)
    curves = read_curves(folder)
    run.epoch = len(curves) if not curves.empty else 0
    try:
        from omegaconf import OmegaConf

        max_epochs = OmegaConf.select(OmegaConf.load(folder / ".hydra" / "config.yaml"), "trainer.max_epochs")
        run.max_epochs = int(max_epochs) if isinstance(max_epochs, int) and max_epochs > 0 else None
    except Exception:  # no saved config yet, or an interpolated value: the epoch alone is shown
        run.max_epochs = None


def study_status(folder: Path | str, *, ask_slurm: bool = True) -> StudyStatus:
    """The status of the study in `folder` (DataError when it holds neither a journal nor a run)."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError(f"{folder} is not a study folder: pass logs/<study> (the folder a sweep writes)")
    events = journal_events(folder)
    runs = _from_journal(events)
    metric = mode = None
    for run_dir in find_run_dirs(folder):
        run = runs.setdefault(_key(str(run_dir)), RunStatus(run_dir=str(run_dir)))
        record = read_status_record(run_dir / RESULTS_FILE)
        if record is not None:
            key, record_mode = _apply_record(run, record)
            metric, mode = metric or key, mode or record_mode
    if not runs:
        raise DataError(
            f"{folder}: no runs and no journal ({JOURNAL_DIR}/*.jsonl): pass a study folder that a sweep "
            "has started (python train.py -m ...)"
        )
    states = job_states([r.job_id for r in runs.values() if r.job_id]) if ask_slurm else {}
    for run in runs.values():
        known = states.get(run.job_id or "")
        run.job_state = known.state if known else None
        run.status = _decide(run)
        if run.status == RUNNING:
            _epochs(run)
    plan = read_study_file(folder) or {}
    status = StudyStatus(
        study=str(plan.get("study") or folder.name),
        folder=folder,
        runs=sorted(runs.values(), key=lambda r: (str(r.variant), r.seed if r.seed is not None else -1)),
        total=plan.get("total") if isinstance(plan.get("total"), int) else None,
        metric=metric,
        mode=mode,
        baseline=plan.get("baseline"),
    )
    progress = Progress(total=None)
    for event in events:
        progress.apply(event)
    if not status.finished:
        status.eta_s = progress.eta_s(left=len(status.unfinished) + status.not_started)
    return status
