"""What a tracked run (W&B) of a job is called and holds, computed once by the runner and handed to the
logger's constructor: its id, its config and its tags. The logger itself knows nothing of runs."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ablab.lightning.loggers import TrackedRun
from ablab.secrets import redact

# Holds the W&B run id of the run folder's current attempt; a resumed attempt continues that run.
RUN_ID_FILE = "wandb_run_id.txt"
MAX_TAG_LENGTH = 64  # W&B rejects longer tags


def run_tags(variant: str, overrides: list[str], ignore: list[str]) -> list[str]:
    """The variant and the overrides that change results (not paths, loggers, progress bars...), each
    cut to W&B's 64 characters."""
    from ablab.runs.identity import matches, override_key, without_prefix

    tags = [variant]
    for override in overrides:
        if not matches(override_key(override).replace("/", "."), ignore):
            tags.append(without_prefix(override))
    return list(dict.fromkeys(t[:MAX_TAG_LENGTH] for t in tags if t))


def resolved_config(cfg: DictConfig) -> dict[str, Any]:
    """The config with interpolations resolved where they can be (outside Hydra, `${hydra:...}` cannot)."""
    try:
        return OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    except Exception:
        return OmegaConf.to_container(cfg, resolve=False, enum_to_str=True)


def run_config(cfg: DictConfig) -> dict[str, Any]:
    """The W&B config: the resolved config plus `hydra_choices`, `config_hash` and `overrides` (so
    W&B's group-by and parallel-coordinates panels work on the ablation axes), and the record's package
    `versions` and `git_commit`; secrets redacted."""
    from ablab.runs.context import hydra_context
    from ablab.runs.identity import config_hash
    from ablab.runs.records import git_commit, package_versions

    context = hydra_context()
    config = resolved_config(cfg)
    config.update(
        hydra_choices=context.choices,
        config_hash=config_hash(cfg),
        overrides=context.overrides,
        versions=package_versions(),
        git_commit=git_commit(Path(__file__).parent),
    )
    return redact(config)


def default_tags(cfg: DictConfig) -> list[str]:
    """The run's variant and its result-changing overrides, as W&B tags; secrets redacted."""
    from ablab.runs.context import hydra_context

    ignore = list(OmegaConf.select(cfg, "run_id.ignore", default=[]) or [])
    return redact(run_tags(str(cfg.variant), hydra_context().overrides, ignore))


def run_id(cfg: DictConfig, run_dir: Path, resume_from: Path | None) -> str:
    """The W&B run id of this attempt: the stored one when the runner resumes the run from its last
    checkpoint, else a new `<config hash>-<random>` (stored, by rank zero only)."""
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    from ablab.runs.identity import config_hash

    path = run_dir / RUN_ID_FILE
    if resume_from is not None and path.exists():
        stored = path.read_text().strip()
        if stored:
            return stored
    new_id = f"{config_hash(cfg)}-{uuid.uuid4().hex[:8]}"
    if rank_zero_only.rank == 0:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(new_id + "\n")
    return new_id


def tracked_run(cfg: DictConfig, run_dir: Path, resume_from: Path | None) -> TrackedRun:
    """The id, config and tags of this job's tracked run."""
    return TrackedRun(id=run_id(cfg, run_dir, resume_from), config=run_config(cfg), tags=default_tags(cfg))
