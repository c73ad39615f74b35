"""Atomic on-disk caching of generated arrays, keyed by a hash of what generated them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def cache_key(params: dict[str, Any]) -> str:
    """A short, stable hash of JSON-serialisable generation parameters."""
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def cached_arrays(
    path: Path, build: Callable[[], dict[str, np.ndarray]], describe: str | None = None
) -> dict[str, np.ndarray]:
    """Load `path` (.npz) if present, else build, save atomically and return the arrays. Jobs of a
    sweep that need the same arrays at once build them once: the others wait on a lock beside the file.
    `describe` (`HNet data: 27,000 train samples`) is announced when the arrays have to be built."""
    if path.exists():
        return _load(path)
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path.parent / f".{path.name}.lock")):
        if path.exists():  # another job built it while this one waited
            return _load(path)
        if describe:
            from ablab.lightning.console import announce, display_path

            announce(f"generating {describe} (once; cached in {display_path(path.parent)})")
        return _build_and_save(path, build)


def _build_and_save(path: Path, build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    from ablab.lightning.files import atomic_file

    arrays = build()
    with atomic_file(path, "wb", suffix=".npz") as handle:
        np.savez(handle, **arrays)
    return arrays
