"""What a run folder holds from earlier attempts, and what to do with it: skip the run, resume it from
`checkpoints/last.ckpt`, or start it over with every earlier output set aside in
`previous/<time>-<why>/`.

A run whose record is missing, corrupt or not `completed` but whose last.ckpt is at its final epoch is
retrained from scratch. Resuming it would train nothing: the new record would lose every validation
metric but the monitored one and report the seconds of a test as its training cost. Rebuilding the
record by re-testing best.ckpt ("recovered") was the alternative; it was not taken because the run's
own logs do not hold the figures a record needs: the cost figures (training seconds, samples/s,
peak memory) are measured live and written only into the record, and `csv/metrics.csv` is absent
under `logger=none`. A recovered record would have holes or guesses; a retrained one is exact (seeded
and RNG-checkpointed, it reaches the same metrics) and costs one more training.

Starting over always moves *all* earlier outputs (checkpoints/, csv/, wandb/, the W&B run id, the log,
results.json, .hydra/, eval and explain outputs): `checkpoints/best.ckpt` is always the current
attempt's, so Lightning never names a new best `best-v1.ckpt`, and metrics.csv never mixes attempts.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ablab.runs.records import RESULTS_FILE, CorruptRecord, Status, read_record

LAST_CHECKPOINT = Path("checkpoints") / "last.ckpt"
LOCK_FILE = ".run.lock"
SET_ASIDE = "previous"
_KEPT = (SET_ASIDE, LOCK_FILE)


@dataclass
class Plan:
    """The decision for one run folder. `why` names the set-aside folder when earlier outputs must
    move before a fresh start; `notice` is the one line that says what happened and why."""

    action: str  # "skip" | "resume" | "fresh"
    earlier: dict[str, Any] | None = None
    resume_from: Path | None = None
    why: str | None = None
    notice: str | None = None
    corrupt_record: bool = False


def _empty(path: Path) -> bool:
    if path.is_symlink():
        return False
    if path.is_dir():
        return all(_empty(p) for p in path.iterdir())
    return path.is_file() and path.stat().st_size == 0


def earlier_outputs(run_dir: Path) -> list[Path]:
    """Everything an earlier attempt left in the run folder: all but `previous/`, the lock and what
    holds no bytes (a log file this attempt's logging has just created, a folder a failed write left)."""
    if not run_dir.is_dir():
        return []
    return sorted(p for p in run_dir.iterdir() if p.name not in _KEPT and not _empty(p))


def _reopen_log_files(moved: dict[Path, Path]) -> None:
    """A logging FileHandler writing into a moved file would go on writing into `previous/`: close its
    stream so that its next record opens a fresh file at the original path."""
    handlers = list(logging.getLogger().handlers)
    for logger in logging.Logger.manager.loggerDict.values():
        handlers += list(getattr(logger, "handlers", []))
    for handler in handlers:
        if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename) in moved:
            handler.acquire()
            try:
                if handler.stream is not None:
                    handler.stream.close()
                    handler.stream = None
            finally:
                handler.release()


def set_aside(run_dir: Path, why: str, paths: list[Path] | None = None) -> Path | None:
    """Move earlier outputs (default: all of them) into `previous/<time>-<why>/`, never deleting or
    overwriting any; None when there was nothing to move."""
    existing = [p for p in (earlier_outputs(run_dir) if paths is None else paths) if p.exists()]
    if not existing:
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = run_dir / SET_ASIDE / f"{stamp}-{why}"
    n = 1
    while target.exists():
        n += 1
        target = run_dir / SET_ASIDE / f"{stamp}-{why}-{n}"
    target.mkdir(parents=True)
    moved = {}
    for path in existing:
        moved[path.resolve()] = target / path.name
        shutil.move(str(path), str(target / path.name))
    _reopen_log_files(moved)
    return target


def _read_record(run_dir: Path) -> tuple[dict[str, Any] | None, CorruptRecord | None]:
    path = run_dir / RESULTS_FILE
    if not path.exists():
        return None, None
    try:
        return read_record(path), None
    except CorruptRecord as exc:
        return None, exc


def training_finished(state: dict[str, Any], cfg: DictConfig) -> bool:
    """Whether a checkpoint was saved when training had nothing left to do: at the last epoch or step,
    or after early stopping ran out of patience (Lightning saves checkpoints after the other callbacks
    have updated their state)."""
    max_epochs = OmegaConf.select(cfg, "trainer.max_epochs", default=None)
    if max_epochs is not None and int(max_epochs) >= 0 and int(state.get("epoch", -1)) + 1 >= int(max_epochs):
        return True
    max_steps = OmegaConf.select(cfg, "trainer.max_steps", default=None)
    if max_steps is not None and int(max_steps) > 0 and int(state.get("global_step", 0)) >= int(max_steps):
        return True
    for name, callback in (state.get("callbacks") or {}).items():
        if str(name).startswith("EarlyStopping") and isinstance(callback, dict):
            patience = callback.get("patience")
            if patience is not None and int(callback.get("wait_count", 0)) >= int(patience):
                return True
    return False


def _checkpoint_problem(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The checkpoint's contents, or why it cannot be resumed from (unreadable, unsafe, not ours)."""
    from ablab.runs.checkpoints import load_problem, read_checkpoint

    try:
        state = read_checkpoint(path)
    except Exception as exc:
        return None, load_problem(exc, path)
    if not isinstance(state, dict) or "state_dict" not in state or "epoch" not in state:
        return None, "it is not a Lightning training checkpoint"
    return state, None


def completed_earlier(cfg: DictConfig, run_dir: Path) -> dict[str, Any] | None:
    """The record of a run that is to be skipped (completed, and no `force_rerun`), else None. The
    SLURM launcher asks this before it submits a job: a completed run needs no job at all."""
    earlier, _ = _read_record(run_dir)
    if earlier and earlier["status"] == Status.COMPLETED and not cfg.force_rerun:
        return earlier
    return None


def decide(cfg: DictConfig, run_dir: Path) -> Plan:
    """What to do with the run folder; reads only, so every rank of a multi-process job decides alike."""
    completed = completed_earlier(cfg, run_dir)
    if completed is not None:
        return Plan("skip", completed)
    earlier, corrupt = _read_record(run_dir)
    record_state = f"its record is corrupt ({corrupt})" if corrupt else None
    if cfg.force_rerun:
        return Plan("fresh", earlier, why="forced", corrupt_record=corrupt is not None)
    if earlier and earlier["status"] == Status.PRUNED:
        # A search's pruner stopped it: its checkpoint is no start for another trial, which trains anew.
        return Plan("fresh", earlier, why="pruned")
    last = run_dir / LAST_CHECKPOINT
    if last.exists():
        state, problem = _checkpoint_problem(last)
        if problem:
            return Plan(
                "fresh",
                earlier,
                why="unreadable-checkpoint",
                notice=f"{last} cannot be resumed from: {problem}",
                corrupt_record=corrupt is not None,
            )
        if training_finished(state, cfg):
            status = record_state or (
                f"its record says {earlier['status']}" if earlier else "it has no record"
            )
            return Plan(
                "fresh",
                earlier,
                why="finished-unrecorded",
                notice=f"{last} is at the end of training but {status}: a resume would train nothing",
                corrupt_record=corrupt is not None,
            )
        notice = f"{record_state}; resuming from {LAST_CHECKPOINT}" if corrupt else None
        return Plan("resume", earlier, resume_from=last, notice=notice, corrupt_record=corrupt is not None)
    if earlier_outputs(run_dir):
        why = earlier["status"] if earlier else ("corrupt-record" if corrupt else "incomplete")
        notice = f"{record_state} and there is no {LAST_CHECKPOINT} to resume" if corrupt else None
        return Plan("fresh", earlier, why=why, notice=notice, corrupt_record=corrupt is not None)
    return Plan("fresh", earlier)
