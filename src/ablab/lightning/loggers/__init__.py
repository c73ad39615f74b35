"""Loggers beyond Lightning's own: W&B with run identity, resume and hygiene (`ablab.lightning.loggers.wandb`).

This package's `__init__` imports no logger library, so `fit` uses it whatever the config chose: with
`logger=csv` or `logger=none`, wandb is never imported. Loggers know nothing of runs: the runner
computes a job's `TrackedRun` (ablab.runs.tracking) and hands it to the constructors of the loggers
that track runs (`TRACKS_RUNS = True`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TrackedRun:
    """A job's tracked run: its id (the same when the job resumes), config and tags."""

    id: str
    config: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)


def tracks_runs(target: str) -> bool:
    """Whether the logger class `target` (a `_target_`) takes a `TrackedRun` as `run=`."""
    from hydra.utils import get_class

    return bool(getattr(get_class(target), "TRACKS_RUNS", False))


def finish_runs(loggers: list[Any], summary: dict[str, Any]) -> None:
    """Write `summary` (test metrics, best val metric, cost) and end each tracked run: every job of a
    multirun ends its own W&B run, also when several jobs share a process."""
    for logger in loggers:
        if hasattr(logger, "finish_run"):
            logger.finish_run(summary)
