"""Loggers beyond Lightning's own: W&B with run identity, resume and hygiene (`ablab.loggers.wandb`).

This package's `__init__` imports no logger library, so `fit` calls these hooks whatever the config
chose: with `logger=csv` or `logger=none`, wandb is never imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig


def start_runs(loggers: list[Any], cfg: DictConfig, run_dir: Path, resume_from: Path | None) -> None:
    """Give loggers that track runs (W&B) the run's identity and config before training starts."""
    for logger in loggers:
        if hasattr(logger, "start_run"):
            logger.start_run(cfg, run_dir, resume_from)


def finish_runs(loggers: list[Any], summary: dict[str, Any]) -> None:
    """Write `summary` (test metrics, best val metric, cost) and end each tracked run: every job of a
    multirun ends its own W&B run, also when several jobs share a process."""
    for logger in loggers:
        if hasattr(logger, "finish_run"):
            logger.finish_run(summary)
