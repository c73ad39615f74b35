"""CUDA out-of-memory, as Ablator handles it: the run is recorded `oom` with the batch size it tried;
with `retry_oom=true` it is retried once, in the same folder, at half the batch size, and the record
says so (`oom: {batch_size, retried_at, retry}`). The run keeps its identity (its folder and hash are
those of the config asked for); the retry's own config, with the smaller batch, is what its
checkpoints carry.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from ablab.errors import AblabError

BATCH_KEY = "data.batch_size"
# What an attempt leaves that a retry must not resume from or append to; its record and log stay.
_ATTEMPT_OUTPUTS = ("checkpoints", "csv", "wandb", "wandb_run_id.txt")


class RunOutOfMemory(AblabError):
    """The run died of CUDA out-of-memory; `note` is the record's `oom` field."""

    kind = "oom"

    def __init__(self, message: str, note: dict[str, Any]) -> None:
        super().__init__(message)
        self.note = note


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether `exc`, or an exception behind it, is CUDA's out-of-memory error."""
    import torch

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, torch.cuda.OutOfMemoryError) or "CUDA out of memory" in str(current):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _halved(cfg: DictConfig, batch: int, run_dir: Path) -> DictConfig:
    smaller = cfg.copy()
    with open_dict(smaller):
        OmegaConf.update(smaller, BATCH_KEY, batch // 2)
        smaller.paths.output_dir = str(run_dir)  # the run's folder, whatever its config now hashes to
    return smaller


def fit_retrying_oom(
    cfg: DictConfig, run_dir: Path, resume_from: Path | None, fit: Callable[..., Any]
) -> tuple[Any, dict[str, Any] | None]:
    """`fit(cfg, run_dir, resume_from)`; on CUDA out-of-memory, RunOutOfMemory, or with `retry_oom`
    one more fit from scratch at half the batch size. Returns the outcome and the record's `oom` note."""
    from ablab.runs.recovery import set_aside

    try:
        return fit(cfg, run_dir, resume_from), None
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
        _free_memory()
        batch = OmegaConf.select(cfg, BATCH_KEY, default=None)
        note: dict[str, Any] = {"batch_size": batch}
        if not cfg.get("retry_oom") or not isinstance(batch, int) or batch < 2:
            why = "" if cfg.get("retry_oom") else "; or set retry_oom=true to retry once at half of it"
            fix = f"lower {BATCH_KEY} (now {batch}){why}" if isinstance(batch, int) else "use a smaller model"
            raise RunOutOfMemory(f"CUDA out of memory at {BATCH_KEY}={batch}: {fix}", note) from exc
    note["retried_at"] = batch // 2
    set_aside(run_dir, "oom", [run_dir / name for name in _ATTEMPT_OUTPUTS])
    try:
        outcome = fit(_halved(cfg, batch, run_dir), run_dir, None)
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
        _free_memory()
        note["retry"] = "oom"
        message = f"CUDA out of memory at {BATCH_KEY}={batch} and again at {batch // 2}: lower it further"
        raise RunOutOfMemory(message, note) from exc
    note["retry"] = "completed"
    return outcome, note
