"""Run one job of a study: skip it when completed, resume it when interrupted, record it always.

The record (`results.json`) is written atomically at start (`status: running`) and at the end
(`completed`, `failed` with the traceback, or `diverged`). A run's exception never escapes into the
sweep: the sweep goes on and its summary reports it.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ablab.errors import RunDiverged, find_user_error
from ablab.runs.console import announce, in_sweep, run_output
from ablab.runs.identity import config_hash
from ablab.runs.journal import append_event
from ablab.runs.records import (
    RESULTS_FILE,
    SCHEMA,
    CorruptRecord,
    git_commit,
    package_versions,
    read_record,
    write_json_atomic,
)
from ablab.secrets import redact

LAST_CHECKPOINT = Path("checkpoints") / "last.ckpt"
LOCK_FILE = ".run.lock"
# Where srun tasks, torchrun and Lightning's subprocess launcher put a process's rank (Lightning's order).
_RANK_VARIABLES = ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")


def global_rank() -> int:
    """This process's rank when several processes run the same job (srun tasks per node, torchrun);
    0 when alone. ddp_spawn's workers never call `run`: its main process is rank zero."""
    return next((int(os.environ[name]) for name in _RANK_VARIABLES if name in os.environ), 0)


def _hydra_job_id() -> str | None:
    """The launcher's id for this job (the SLURM job id under submitit), for the sweep journal."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    job_id = OmegaConf.select(HydraConfig.get(), "job.id", default=None)
    return str(job_id) if job_id is not None else None


def _hydra_context() -> tuple[list[str], dict[str, Any], bool]:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return [], {}, False
    hydra = HydraConfig.get()
    choices = {
        k: v
        for k, v in OmegaConf.to_container(hydra.runtime.choices).items()
        if not k.startswith("hydra/") and k != "hydra"
    }
    # Unresolved: an override such as `+token=${oc.env:HF_TOKEN}` must not record the token.
    overrides = OmegaConf.to_container(hydra.overrides.task, resolve=False)
    return list(overrides), choices, hydra.mode == RunMode.MULTIRUN


def _set_aside(paths: list[Path], run_dir: Path, why: str) -> Path | None:
    """Move earlier outputs into `previous/<time>-<why>/` instead of deleting or overwriting them."""
    existing = [p for p in paths if p.exists()]
    if not existing:
        return None
    target = run_dir / "previous" / f"{time.strftime('%Y%m%d-%H%M%S')}-{why}"
    target.mkdir(parents=True, exist_ok=True)
    for path in existing:
        shutil.move(str(path), str(target / path.name))
    return target


def previous_record(run_dir: Path) -> dict[str, Any] | None:
    """The run's earlier record, or None; a corrupt one is set aside (kept) and the run redone."""
    path = run_dir / RESULTS_FILE
    if not path.exists():
        return None
    try:
        return read_record(path)
    except CorruptRecord as exc:
        kept = _set_aside([path], run_dir, "corrupt")
        announce(f"warning: {exc}; kept it in {kept} and re-running this run")
        return None


def base_record(cfg: DictConfig) -> dict[str, Any]:
    """The fields known before training: identity, choices, seed, versions, commit."""
    overrides, choices, _ = _hydra_context()
    return {
        "schema": SCHEMA,
        "status": "running",
        "study": cfg.study,
        "variant": cfg.variant,
        "family": cfg.family,
        "seed": cfg.seed,
        "config_hash": config_hash(cfg),
        "metric": {"name": cfg.metric.name, "mode": cfg.metric.mode},
        "overrides": overrides,
        "choices": choices,
        "metrics": {},
        "cost": {},
        "versions": package_versions(),
        "git_commit": git_commit(Path(__file__).parent),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _follow(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """A non-zero rank: rank zero's skip/resume decision, read-only; only rank zero writes the record,
    the journal and set-aside folders."""
    path = run_dir / RESULTS_FILE
    try:
        earlier = read_record(path) if path.exists() else None
    except CorruptRecord:
        earlier = None
    if earlier and earlier["status"] == "completed" and not cfg.force_rerun:
        return {**earlier, "skipped": True}
    last = run_dir / LAST_CHECKPOINT
    resume_from = last if not cfg.force_rerun and last.exists() else None
    try:
        from ablab.runs.fit import fit_and_test

        fit_and_test(cfg, run_dir, resume_from)
    except Exception as exc:
        return {"status": "failed", "metrics": {}, "error": {"message": f"{type(exc).__name__}: {exc}"}}
    return {"status": "completed", "metrics": {}}


def _claim(run_dir: Path) -> Any | None:
    """An exclusive lock on the run folder for this process's lifetime, or None when another process
    holds it (a sweep still running, or an orphaned worker of a killed one): two processes resuming
    the same run would write over each other's checkpoints. The OS drops the lock when its holder
    dies, even by SIGKILL, so a crash never leaves a run locked."""
    from filelock import FileLock, Timeout

    run_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(run_dir / LOCK_FILE)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return None
    return lock


def run(cfg: DictConfig) -> dict[str, Any]:
    """Execute (or skip) the run described by `cfg`; return its record."""
    run_dir = Path(cfg.paths.output_dir)
    if global_rank() != 0:
        return _follow(cfg, run_dir)
    lock = _claim(run_dir)
    if lock is None:
        message = (
            f"Busy: another process is running {run_dir} now (it holds {run_dir / LOCK_FILE}); nothing "
            "was changed. Wait for it to finish or stop it, then run again"
        )
        _event(cfg, run_dir, "failed", reason=message)
        return {"status": "busy", "metrics": {}, "error": {"message": message}}
    try:
        return _run_claimed(cfg, run_dir)
    finally:
        lock.release()


def _event(
    cfg: DictConfig, run_dir: Path, outcome: str, record: dict[str, Any] | None = None, **extra: Any
) -> None:
    """A journal line the study's terminal turns into `[3/27] hnet/relu seed 2 completed ...`."""
    key = f"test/{cfg.metric.name}"
    event: dict[str, Any] = {
        "run_dir": str(run_dir),
        "outcome": outcome,
        "family": cfg.family,
        "variant": cfg.variant,
        "seed": cfg.seed,
        **extra,
    }
    if record is not None:
        event.update(
            metric=key,
            value=(record.get("metrics") or {}).get(key),
            wall_time_s=record.get("wall_time_s"),
            reason=(record.get("error") or {}).get("message"),
        )
    append_event(event)


def _run_claimed(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    results_path = run_dir / RESULTS_FILE
    earlier = previous_record(run_dir)
    if earlier and earlier["status"] == "completed" and not cfg.force_rerun:
        _event(cfg, run_dir, "skipped", {**earlier, "wall_time_s": None})
        return {**earlier, "skipped": True}

    resume_from = None
    if cfg.force_rerun:
        outputs = [results_path, run_dir / "checkpoints", run_dir / "csv", run_dir / "wandb"]
        _set_aside(outputs, run_dir, "forced")
    elif (run_dir / LAST_CHECKPOINT).exists():
        resume_from = run_dir / LAST_CHECKPOINT
    elif earlier:
        _set_aside([results_path, run_dir / "wandb"], run_dir, earlier["status"])

    record = base_record(cfg)
    record["attempt"] = (earlier or {}).get("attempt", 0) + 1
    record["resumed_from"] = str(resume_from) if resume_from else None
    _event(cfg, run_dir, "started", job_id=_hydra_job_id())
    write_json_atomic(results_path, redact(record))
    with run_output(run_dir, redirect=in_sweep()):
        record = _train(cfg, run_dir, record, resume_from)
    return record


def _train(
    cfg: DictConfig, run_dir: Path, record: dict[str, Any], resume_from: Path | None
) -> dict[str, Any]:
    """Fit and test; record the outcome whatever happens (SIGTERM is recorded, then re-raised)."""
    results_path = run_dir / RESULTS_FILE
    if cfg.get("print_config"):
        from ablab.runs.config_tree import print_config_tree

        print_config_tree(cfg)
    started = time.perf_counter()
    cancelled: SystemExit | None = None
    try:
        from ablab.runs.fit import fit_and_test

        outcome = fit_and_test(cfg, run_dir, resume_from)
        if not outcome.is_global_zero:
            return record
        record.update(
            status="completed",
            metrics=outcome.metrics,
            cost=outcome.cost,
            params=outcome.params,
            epochs=outcome.epochs,
            best_checkpoint=outcome.best_checkpoint,
        )
    except Exception as exc:
        user_error = find_user_error(exc)
        status = "diverged" if isinstance(user_error, RunDiverged) else "failed"
        message = f"{type(user_error or exc).__name__}: {user_error or exc}"
        record.update(status=status, error={"message": message, "traceback": traceback.format_exc()})
        if in_sweep():  # into train.log; a single run's entry point prints its one error line
            print(traceback.format_exc(), file=sys.stderr)
    except SystemExit as exc:
        from lightning.pytorch.utilities.exceptions import SIGTERMException

        if not isinstance(exc, SIGTERMException):
            raise
        # Lightning's answer to SIGTERM (scancel, a time limit with no requeue left, a kill): record the
        # run as failed (a re-run resumes it from last.ckpt), then exit as asked.
        message = "Cancelled: the job received SIGTERM (scancel, a time limit or a kill)"
        record.update(status="failed", error={"message": message, "traceback": traceback.format_exc()})
        print(f"error: run failed: {run_dir}: {message}", file=sys.stderr)
        cancelled = exc
    record["wall_time_s"] = round(time.perf_counter() - started, 3)
    record["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    write_json_atomic(results_path, redact(record))
    _event(cfg, run_dir, record["status"], record)
    if cancelled is not None:
        raise cancelled
    return record
