"""Build everything a run needs from its config, fit, and test the best checkpoint."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf


@dataclass
class Outcome:
    """What a finished fit-and-test hands back for the record."""

    metrics: dict[str, float] = field(default_factory=dict)
    cost: dict[str, Any] = field(default_factory=dict)
    params: int = 0
    epochs: int = 0
    best_checkpoint: str | None = None
    is_global_zero: bool = True
    references: dict[str, Any] | None = None
    data_sizes: dict[str, int] = field(default_factory=dict)


def _floats(metrics: dict[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in metrics.items():
        number = float(value.item() if hasattr(value, "item") else value)
        out[key] = number if math.isfinite(number) else float("nan")
    return out


def threads_per_job() -> int | None:
    """CPU threads for this job when a parallel launcher runs `n_jobs` jobs on this machine, so that
    jobs split the cores instead of each taking all of them; None when running alone."""
    import os

    from ablab.runs.context import hydra_context

    n_jobs = hydra_context().n_jobs
    if not n_jobs or n_jobs <= 1:
        return None
    return max(1, (os.cpu_count() or 1) // n_jobs)


def _progress_in_checkpoint(checkpoint: Any) -> tuple[Any, int]:
    """Best score and epochs trained, read from the checkpoint callback's last checkpoint (best.ckpt
    without save_last, then counting the epochs up to the best)."""
    from ablab.runs.checkpoints import read_checkpoint

    folder = Path(checkpoint.dirpath)
    path = folder / f"{checkpoint.CHECKPOINT_NAME_LAST}{checkpoint.FILE_EXTENSION}"
    state = read_checkpoint(path if path.exists() else checkpoint.best_model_path)
    callback = next(v for k, v in state["callbacks"].items() if k.startswith("ModelCheckpoint"))
    return callback["best_model_score"], state["epoch"] + 1


def build(cfg: DictConfig) -> tuple[Any, Any]:
    """Data module, model and task. Constructors only validate their arguments (data is generated
    or read later, in prepare_data/setup), so a bad value fails before any data work; data comes first
    so that an error names the field the user set (`data.max_len`, not the model's copy of it)."""
    from hydra.utils import instantiate

    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model)
    task = instantiate(cfg.task, model=model)
    return datamodule, task


def _callbacks(cfg: DictConfig) -> tuple[list[Any], Any, bool]:
    """The config's callbacks, the progress bar dropped where it is noise, plus the ones every run
    needs: system metrics (its `cost/` figures), the config and data fingerprint in each checkpoint,
    the RNG states. Returns them, the SystemMetrics callback and whether the bar shows."""
    from lightning.pytorch.callbacks import ProgressBar

    from ablab.lightning.callbacks.config_checkpoint import ConfigInCheckpoint
    from ablab.lightning.callbacks.rng_state import RngStateInCheckpoint
    from ablab.lightning.callbacks.system_metrics import SystemMetrics
    from ablab.runs.console import in_sweep
    from ablab.runs.fingerprint import data_fingerprint
    from ablab.runs.instantiate import instantiate_group
    from ablab.secrets import redact

    callbacks = instantiate_group(cfg.get("callbacks"), "callbacks")
    # A job of a sweep writes into its train.log, where a live bar is noise; and
    # trainer.enable_progress_bar=false alone should silence the bar, not fail on its callback.
    show_bar = cfg.trainer.get("enable_progress_bar", True) and not in_sweep()
    if not show_bar:
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    system = next((c for c in callbacks if isinstance(c, SystemMetrics)), None)
    if system is None:
        system = SystemMetrics()
        callbacks.append(system)
    # The data fingerprint travels with the weights: ablab-eval refuses to re-test on changed data.
    config = redact(OmegaConf.to_container(cfg, resolve=True))
    callbacks.append(ConfigInCheckpoint(config, {"data": data_fingerprint(cfg)}))
    callbacks.append(RngStateInCheckpoint())
    return callbacks, system, bool(show_bar)


def _loggers(cfg: DictConfig, run_dir: Path, resume_from: Path | None) -> list[Any]:
    """The config's loggers; those that track runs (W&B) get this job's tracked run."""
    from ablab.lightning.loggers import tracks_runs
    from ablab.runs.instantiate import instantiate_group
    from ablab.runs.tracking import tracked_run

    def tracked(entry: DictConfig) -> dict[str, Any]:
        return {"run": tracked_run(cfg, run_dir, resume_from)} if tracks_runs(entry._target_) else {}

    return instantiate_group(cfg.get("logger"), "logger", extra=tracked)


def _best(trainer: Any, metric: str) -> tuple[str | None, dict[str, float], int]:
    """The best checkpoint's path, the validation metrics (the monitored one at its best) and the
    epochs trained."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    checkpoint = next((c for c in trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint)), None)
    best = checkpoint.best_model_path if checkpoint and checkpoint.best_model_path else None
    best_score = checkpoint.best_model_score if checkpoint is not None else None
    epochs = trainer.current_epoch
    if best and best_score is None:
        # ddp_spawn fitted in worker processes: this one got back the best path and the last metrics,
        # not the best score or the epoch count.
        best_score, epochs = _progress_in_checkpoint(checkpoint)
    fit_metrics = _floats({k: v for k, v in trainer.callback_metrics.items() if k.startswith("val/")})
    if best_score is not None:
        fit_metrics[f"val/{metric}"] = float(best_score)
    return best, fit_metrics, epochs


def split_sizes(datamodule: Any) -> dict[str, int]:
    """Samples per split, for the record and the report's run settings; empty where the data module
    cannot say (no `dataset(split)`, or not set up in this process, as under ddp_spawn)."""
    sizes = {}
    for split in ("train", "val", "test"):
        try:
            sizes[split] = len(datamodule.dataset(split))
        except Exception:
            continue
    return sizes


def fit_and_test(cfg: DictConfig, run_dir: Path, resume_from: Path | None) -> Outcome:
    """Seed, instantiate, fit (resuming from `resume_from`), test the best checkpoint."""
    import lightning as L
    import torch
    from hydra.utils import instantiate

    from ablab.lightning.loggers import finish_runs
    from ablab.lightning.task import count_parameters
    from ablab.runs.checkpoints import safe_loading
    from ablab.runs.console import route_library_logs
    from ablab.runs.references import run_references

    route_library_logs()
    threads = threads_per_job()
    if threads is not None:
        torch.set_num_threads(threads)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule, task = build(cfg)
    callbacks, system, show_bar = _callbacks(cfg)
    loggers = _loggers(cfg, run_dir, resume_from)
    trainer = instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, enable_progress_bar=show_bar
    )
    # weights_only said explicitly: no pickled code in a planted last.ckpt runs, whatever torch's default
    # or TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD say (ablab.runs.recovery has read it the same way already).
    with safe_loading():
        trainer.fit(
            task,
            datamodule=datamodule,
            ckpt_path=str(resume_from) if resume_from else None,
            weights_only=True,
        )
    best, fit_metrics, epochs = _best(trainer, cfg.metric.name)
    with safe_loading():
        trainer.test(task, datamodule=datamodule, ckpt_path=best, verbose=False, weights_only=True)
    test_metrics = _floats({k: v for k, v in trainer.callback_metrics.items() if k.startswith("test/")})
    outcome = Outcome(
        metrics={**fit_metrics, **test_metrics},
        cost=system.cost(trainer, task),
        params=count_parameters(task),
        epochs=epochs,
        best_checkpoint=str(Path(best).relative_to(run_dir))
        if best and Path(best).is_relative_to(run_dir)
        else best,
        is_global_zero=trainer.is_global_zero,
        references=run_references(cfg, datamodule) if trainer.is_global_zero else None,
        data_sizes=split_sizes(datamodule),
    )
    finish_runs(loggers, {**outcome.metrics, **outcome.cost})
    return outcome
