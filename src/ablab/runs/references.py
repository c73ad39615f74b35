"""A data set's floors and ceilings, computed once by the runner after a run's test and kept in its
record (`references`), where the report finds them.

The experiment names its family's function (`references: {_target_: ..., _partial_: true}`); it gets
the run's data module, already set up, and returns `ablab.lightning.references.Reference`s. The
result is cached as JSON under `<paths.cache_dir>/references/`, keyed by the data config (minus the
loader settings that do not change the data), the fingerprint of the data files it reads, and the
references config: every run of a study reads the same file, and changed data is a new key. A
failure costs one warning in the run's log and an `error` in the record, never the run.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ablab.runs.fingerprint import data_fingerprint

# Data settings that change how batches are served, not what the data is.
LOADER_FIELDS = ("batch_size", "eval_batch_size", "num_workers", "cache_dir", "bucket_batches")
VERSION = 1
FOLDER = "references"


def references_key(cfg: DictConfig) -> str:
    """What the references depend on: the data, its files, how the references are made."""
    from ablab.lightning.cache import cache_key

    data = OmegaConf.to_container(cfg.data, resolve=True)
    spec = OmegaConf.to_container(cfg.references, resolve=True)
    return cache_key(
        {
            "data": {k: v for k, v in data.items() if k not in LOADER_FIELDS},
            "files": (data_fingerprint(cfg) or {}).get("hash"),
            "references": spec,
            "version": VERSION,
        }
    )


def _compute(cfg: DictConfig, datamodule: Any) -> list[dict[str, Any]]:
    from hydra.utils import instantiate

    from ablab.lightning.references import Reference

    rows = instantiate(cfg.references)(datamodule)
    if not all(isinstance(r, Reference) for r in rows):
        raise TypeError(
            f"{cfg.references._target_} must return a list of ablab.lightning.references.Reference"
        )
    return [r.to_dict() for r in rows]


def _read(path: Path) -> dict[str, Any] | None:
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return stored if isinstance(stored, dict) and isinstance(stored.get("rows"), list) else None


def cached_references(cfg: DictConfig, datamodule: Any) -> dict[str, Any]:
    """`{key, rows, computed_s}` from the cache, computed and stored there the first time; jobs that
    need them at once compute them once (a lock beside the file)."""
    from filelock import FileLock

    from ablab.lightning.files import atomic_file

    key = references_key(cfg)
    path = Path(cfg.paths.cache_dir) / FOLDER / f"{key}.json"
    stored = _read(path)
    if stored is not None:
        return stored
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path.parent / f".{path.name}.lock")):
        stored = _read(path)
        if stored is not None:
            return stored
        started = time.perf_counter()
        rows = _compute(cfg, datamodule)
        stored = {"key": key, "rows": rows, "computed_s": round(time.perf_counter() - started, 3)}
        with atomic_file(path) as handle:
            json.dump(stored, handle, indent=2, sort_keys=True, allow_nan=True)
    return stored


def run_references(cfg: DictConfig, datamodule: Any) -> dict[str, Any] | None:
    """The record's `references`: None when the experiment names none; `{key, error, rows: []}` with
    one warning when they cannot be computed (the run's own results stand)."""
    if not cfg.get("references"):
        return None
    try:
        return cached_references(cfg, datamodule)
    except Exception as exc:
        message = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        print(
            f"warning: the references ({cfg.references.get('_target_')}) failed: {message}", file=sys.stderr
        )
        return {"key": None, "rows": [], "error": message}
