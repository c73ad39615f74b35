"""Run one job of a study: skip it when completed, resume it when interrupted, start it over with the
earlier outputs set aside otherwise (`ablab.runs.recovery` decides), and record it always.

The record (`results.json`) is written atomically at start (`status: running`) and at the end
(`completed`, `failed` with the traceback, or `diverged`). A run's exception never escapes into the
sweep, nor does an error around training (a read-only folder, a full disk): the sweep goes on and its
summary reports it with one line of cause.
"""

from __future__ import annotations

import contextlib
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ablab.errors import ConfigError, RunDiverged, error_kind, find_user_error
from ablab.journal import append_event
from ablab.runs.console import announce, in_sweep, redirected, run_output
from ablab.runs.context import hydra_context
from ablab.runs.fingerprint import data_fingerprint
from ablab.runs.identity import config_hash
from ablab.runs.job_files import write_hydra_files
from ablab.runs.records import (
    RESULTS_FILE,
    SCHEMA,
    Outcome,
    Status,
    git_commit,
    package_versions,
    write_record,
)
from ablab.runs.recovery import LOCK_FILE, SET_ASIDE, Plan, decide, set_aside
from ablab.secrets import redact


def global_rank() -> int:
    """This process's rank when several processes run the same job (srun tasks per node, torchrun), as
    Lightning reads it; 0 when alone. ddp_spawn's workers never call `run`: its main process is rank
    zero."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return int(getattr(rank_zero_only, "rank", 0) or 0)


def _one_line(exc: BaseException) -> str:
    """`Type: first line of the message`: what the console and the summary show of an error."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _say_error(line: str) -> None:
    """A failed job of a multirun says so in its train.log; the study's terminal shows its one line
    from the journal, and a single run's `error:` line comes from its entry point (once, with the exit
    code)."""
    if hydra_context().multirun and redirected():
        print(f"error: {line}", file=sys.stderr)


def _journal(event: dict[str, Any]) -> None:
    """Append to the sweep journal; a journal that cannot be written (full disk) costs one warning,
    and the summary counts the job as unfinished."""
    try:
        append_event(redact(event))
    except OSError as exc:
        print(f"warning: could not append to the sweep journal ({exc.strerror})", file=sys.stderr)


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
        if record.get("pruned"):
            event["pruned"] = record["pruned"]
    _journal(event)


def journal_outcome(cfg: DictConfig, run_dir: Path, record: dict[str, Any]) -> None:
    """Journal how the run ended (its record's status, metric, wall time and reason)."""
    _event(cfg, run_dir, record["status"], record)


def check_seed(cfg: DictConfig) -> None:
    """`seed=abc` names its field before any data is generated."""
    seed = cfg.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed={seed!r} is invalid: must be an integer (seed=1)")


def base_record(cfg: DictConfig) -> dict[str, Any]:
    """The fields known before training: identity, data fingerprint, choices, seed, versions, commit."""
    context = hydra_context()
    return {
        "schema": SCHEMA,
        "status": Status.RUNNING,
        "study": cfg.study,
        "variant": cfg.variant,
        "family": cfg.family,
        "seed": cfg.seed,
        "config_hash": config_hash(cfg),
        "data": data_fingerprint(cfg),
        "metric": {"name": cfg.metric.name, "mode": cfg.metric.mode},
        "report": {"margin": OmegaConf.select(cfg, "report.margin", default=None)},
        # The look of an adaptive study (sweep.seeds=auto) this run belongs to; None elsewhere.
        "look": OmegaConf.select(cfg, "sweep.look", default=None),
        "overrides": context.overrides,
        "choices": context.choices,
        "metrics": {},
        "cost": {},
        "versions": package_versions(),
        "git_commit": git_commit(Path(__file__).parent),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _follow(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """A non-zero rank: rank zero's skip/resume decision, read-only; only rank zero writes the record,
    the journal and set-aside folders."""
    plan = decide(cfg, run_dir)
    if plan.action == "skip":
        return {**plan.earlier, "skipped": True}
    try:
        from ablab.runs.fit import fit_and_test

        fit_and_test(cfg, run_dir, plan.resume_from if plan.action == "resume" else None)
    except Exception as exc:
        return {"status": Status.FAILED, "metrics": {}, "error": {"message": _one_line(exc)}}
    return {"status": Status.COMPLETED, "metrics": {}}


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


def skip_completed(cfg: DictConfig, run_dir: Path, earlier: dict[str, Any]) -> dict[str, Any]:
    """A completed run is reused as it is: its folder is left byte for byte as it was. The study's
    terminal (or a single run's last line) says so. The SLURM launcher calls this for runs it does not
    submit again."""
    _event(cfg, run_dir, Outcome.SKIPPED, {**earlier, "wall_time_s": None})
    return {**earlier, "skipped": True}


def _failed_around_training(
    cfg: DictConfig, run_dir: Path, record: dict[str, Any] | None, exc: BaseException
) -> dict[str, Any]:
    """An error outside training (the folder, the disk): a failed record where one can be written, one
    line of cause on the console and in the summary, no traceback."""
    message = _one_line(exc)
    _say_error(f"run failed: {run_dir}: {message}")
    if record is not None:
        record.update(
            status=Status.FAILED,
            error={"message": message, "traceback": traceback.format_exc(), "kind": error_kind(exc)},
        )
        record.setdefault("finished_at", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        with contextlib.suppress(OSError):  # the journal and the console still say what happened
            write_record(run_dir / RESULTS_FILE, redact(record))
    _event(cfg, run_dir, Outcome.FAILED, reason=message)
    return record or {"status": Status.FAILED, "metrics": {}, "error": {"message": message, "kind": "io"}}


def sweeper_value(record: dict[str, Any], run_dir: str | Path) -> dict[str, Any]:
    """What a job returns to Hydra's sweeper, from its record and run folder: the Optuna sweeper tells
    its trial the status, metrics and costs (a run the SLURM launcher skipped returns its earlier
    record's; the launcher cannot resolve `paths.output_dir`, a `${hydra:...}` interpolation)."""
    return {
        "status": str(record.get("status")),
        "metrics": dict(record.get("metrics") or {}),
        "cost": dict(record.get("cost") or {}),
        "error": {"message": (record.get("error") or {}).get("message")},
        "run_dir": str(run_dir),
        "wall_time_s": record.get("wall_time_s"),
    }


def run(cfg: DictConfig) -> dict[str, Any]:
    """Execute (or skip) the run described by `cfg`; return its record."""
    run_dir = Path(cfg.paths.output_dir)
    if global_rank() != 0:
        return _follow(cfg, run_dir)
    try:
        lock = _claim(run_dir)
    except OSError as exc:
        try:
            plan = decide(cfg, run_dir)  # a read-only folder still serves a completed result
        except OSError:
            plan = Plan("fresh")
        if plan.action == "skip":
            return skip_completed(cfg, run_dir, plan.earlier)
        return _failed_around_training(cfg, run_dir, None, exc)
    if lock is None:
        message = (
            f"Busy: another process is running {run_dir} now (it holds {run_dir / LOCK_FILE}); nothing "
            "was changed. Wait for it to finish or stop it, then run again"
        )
        _event(cfg, run_dir, Outcome.FAILED, reason=message)
        return {"status": "busy", "metrics": {}, "error": {"message": message, "kind": "busy"}}
    try:
        return _run_claimed(cfg, run_dir)
    finally:
        lock.release()


def _prepare(cfg: DictConfig, run_dir: Path, plan: Plan) -> dict[str, Any]:
    """Set earlier outputs aside as planned, write `.hydra/` and the `running` record."""
    kept = None
    if plan.action == "fresh" and plan.why:
        kept = set_aside(run_dir, plan.why)
    elif plan.corrupt_record:
        kept = set_aside(run_dir, "corrupt-record", [run_dir / RESULTS_FILE])
    if plan.notice:
        kept_in = kept.relative_to(run_dir) if kept else None
        what = (
            f"earlier outputs moved to {kept_in}; training from scratch"
            if plan.action == "fresh"
            else (f"kept it in {kept_in}")
        )
        # Paths inside the run folder are shown relative to it: the line names the folder once.
        announce(f"warning: {run_dir}: {plan.notice.replace(f'{run_dir}/', '')}; {what}")
    write_hydra_files(run_dir, cfg)
    earlier_attempts = len(list((run_dir / SET_ASIDE).iterdir())) if (run_dir / SET_ASIDE).is_dir() else 0
    record = base_record(cfg)
    record["attempt"] = max((plan.earlier or {}).get("attempt", 0), earlier_attempts) + 1
    record["resumed_from"] = str(plan.resume_from) if plan.resume_from else None
    record["set_aside"] = str(kept.relative_to(run_dir)) if kept else None
    _job_extras(cfg, record)
    _event(cfg, run_dir, Outcome.STARTED, job_id=hydra_context().job_id)
    write_record(run_dir / RESULTS_FILE, redact(record))
    return record


def _job_extras(cfg: DictConfig, record: dict[str, Any]) -> None:
    """What only some jobs have: the search trial they run, the GPU a local_parallel job was given."""
    from ablab.runs.devices import assign_device
    from ablab.search.trial import trial_note

    trial = trial_note()
    if trial is not None:
        record["trial"] = trial
    device = assign_device(cfg.paths.log_dir)
    if device is not None:
        record["gpu"] = device


def _run_claimed(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    record: dict[str, Any] | None = None
    try:
        plan = decide(cfg, run_dir)
        if plan.action == "skip":
            return skip_completed(cfg, run_dir, plan.earlier)
        record = _prepare(cfg, run_dir, plan)
    except OSError as exc:
        with contextlib.suppress(Exception):  # a failed record, where one can still be written
            record = record or base_record(cfg)
        return _failed_around_training(cfg, run_dir, record, exc)
    with run_output(run_dir, redirect=in_sweep()):
        record, cancelled = _train(cfg, run_dir, record, plan)
    try:
        write_record(run_dir / RESULTS_FILE, redact(record))
    except OSError as exc:
        return _failed_around_training(cfg, run_dir, None, exc)
    journal_outcome(cfg, run_dir, record)
    if cancelled is not None:
        raise cancelled
    return record


def _train(
    cfg: DictConfig, run_dir: Path, record: dict[str, Any], plan: Plan
) -> tuple[dict[str, Any], SystemExit | None]:
    """Fit and test; the outcome goes into `record` whatever happens. SIGTERM is handed back to be
    re-raised once the record is written."""
    if cfg.get("print_config"):
        from ablab.runs.config_tree import print_config_tree

        print_config_tree(cfg)
    started = time.perf_counter()
    cancelled: SystemExit | None = None
    try:
        check_seed(cfg)
        from ablab.runs.fit import fit_and_test
        from ablab.runs.oom import fit_retrying_oom

        outcome, oom = fit_retrying_oom(cfg, run_dir, plan.resume_from, fit_and_test)
        if not outcome.is_global_zero:
            return record, None
        if oom is not None:
            record["oom"] = oom
        if outcome.pruned is not None:
            record["pruned"] = outcome.pruned
        record.update(
            status=Status.PRUNED if outcome.pruned is not None else Status.COMPLETED,
            metrics=outcome.metrics,
            cost=outcome.cost,
            params=outcome.params,
            epochs=outcome.epochs,
            best_checkpoint=outcome.best_checkpoint,
            references=outcome.references,
            data_sizes=outcome.data_sizes,
        )
    except Exception as exc:
        from ablab.runs.oom import RunOutOfMemory

        user_error = find_user_error(exc)
        status = Status.DIVERGED if isinstance(user_error, RunDiverged) else Status.FAILED
        if isinstance(user_error, RunOutOfMemory):
            status = Status.OOM
            record["oom"] = user_error.note
        message = _one_line(user_error or exc)
        record.update(
            status=status,
            error={"message": message, "traceback": traceback.format_exc(), "kind": error_kind(exc)},
        )
        with contextlib.suppress(OSError):  # a full disk refuses train.log too
            if in_sweep():  # into train.log; the study's terminal shows the one line
                print(traceback.format_exc(), file=sys.stderr)
            _say_error(f"run {status}: {run_dir}: {message}")
    except SystemExit as exc:
        from lightning.pytorch.utilities.exceptions import SIGTERMException

        if not isinstance(exc, SIGTERMException):
            raise
        # Lightning's answer to SIGTERM (scancel, a time limit with no requeue left, a kill): record the
        # run as failed (a re-run resumes it from last.ckpt), then exit as asked.
        message = "Cancelled: the job received SIGTERM (scancel, a time limit or a kill)"
        record.update(
            status=Status.FAILED,
            error={"message": message, "traceback": traceback.format_exc(), "kind": "cancelled"},
        )
        _say_error(f"run failed: {run_dir}: {message}")
        cancelled = exc
    record["wall_time_s"] = round(time.perf_counter() - started, 3)
    record["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return record, cancelled
