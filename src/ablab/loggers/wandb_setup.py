"""What a W&B run of ablab is: its mode, folders, tags and config. Imports neither wandb nor lightning,
so the report and the tests use it cheaply."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ablab.errors import ConfigError
from ablab.secrets import redact

MODES = ("online", "offline", "disabled", "shared")
_MODE_ALIASES = {"dryrun": "offline", "run": "online"}
MAX_TAG_LENGTH = 64  # W&B rejects longer tags
RUN_FILE_HEADER_BYTES = 7  # a .wandb file holding only its header has no records yet


def wandb_mode(offline: bool, environ: Mapping[str, str] | None = None) -> str:
    """`WANDB_MODE` from the environment wins (a machine without network sets it once); else the
    config's `offline` flag picks offline (the default) or online."""
    env = os.environ if environ is None else environ
    mode = env.get("WANDB_MODE", "").strip().lower()
    mode = _MODE_ALIASES.get(mode, mode)
    if not mode:
        return "offline" if offline else "online"
    if mode not in MODES:
        raise ConfigError(
            f"WANDB_MODE={mode!r} is not a W&B mode: set it to online, offline or disabled, "
            "or unset it and use logger.wandb.offline=true|false"
        )
    return mode


def use_local_dirs(cache_dir: Path | str, config_dir: Path | str | None = None) -> dict[str, str]:
    """Point W&B's cache (debug logs, artifact cache) and data (artifact staging) folders under
    `cache_dir`, and its settings folder at `config_dir` when given, instead of the user's home.
    A folder the user already set in the environment wins. Returns the W&B folder variables in use."""
    wanted = {"WANDB_CACHE_DIR": Path(cache_dir) / "cache", "WANDB_DATA_DIR": Path(cache_dir) / "data"}
    if config_dir is not None:
        wanted["WANDB_CONFIG_DIR"] = Path(config_dir)
    for name, path in wanted.items():
        if not os.environ.get(name):
            os.environ[name] = str(path)
    return {
        name: os.environ[name]
        for name in ("WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR")
        if os.environ.get(name)
    }


def run_tags(variant: str, overrides: list[str], ignore: list[str]) -> list[str]:
    """The variant and the overrides that change results (not paths, loggers, progress bars...), each
    cut to W&B's 64 characters."""
    from ablab.runs.identity import _matches

    tags = [variant]
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        if not _matches(key.replace("/", "."), ignore):
            tags.append(override.lstrip("+~"))
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
    from ablab.runs.execute import _hydra_context
    from ablab.runs.identity import config_hash
    from ablab.runs.records import git_commit, package_versions

    overrides, choices, _ = _hydra_context()
    config = resolved_config(cfg)
    config.update(
        hydra_choices=choices,
        config_hash=config_hash(cfg),
        overrides=overrides,
        versions=package_versions(),
        git_commit=git_commit(Path(__file__).parent),
    )
    return redact(config)


def default_tags(cfg: DictConfig) -> list[str]:
    """The run's variant and its result-changing overrides, as W&B tags; secrets redacted."""
    from ablab.runs.execute import _hydra_context

    overrides, _, _ = _hydra_context()
    ignore = list(OmegaConf.select(cfg, "run_id.ignore", default=[]) or [])
    return redact(run_tags(str(cfg.variant), overrides, ignore))


def wait_for_run_file(run: Any, timeout: float = 10.0, settle: float = 0.1) -> bool:
    """Wait until the finished run's offline `.wandb` file is written out: `run.finish()` can return
    before W&B's writer has flushed it, and a process that exits then may leave it empty. True when
    the file holds records and stopped growing; False after `timeout` (or when there is no file)."""
    import time

    path = Path(getattr(run.settings, "sync_file", "") or "")
    if not path.name or run.settings.mode != "offline":
        return False
    deadline = time.monotonic() + timeout
    last, stable_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        size = path.stat().st_size if path.exists() else 0
        if size != last:
            last, stable_since = size, time.monotonic()
        elif size > RUN_FILE_HEADER_BYTES and time.monotonic() - stable_since >= settle:
            return True
        time.sleep(0.02)
    return False
