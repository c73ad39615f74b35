"""What a W&B run of ablab is: its mode, folders, tags and config. Imports neither wandb nor lightning,
so the report and the tests use it cheaply."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ablab.errors import ConfigError

MODES = ("online", "offline", "disabled", "shared")
_MODE_ALIASES = {"dryrun": "offline", "run": "online"}
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
