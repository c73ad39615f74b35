"""`results.json`: the complete, atomically written record of one run that the report reads."""

from __future__ import annotations

import errno
import json
import os
import subprocess
from enum import StrEnum
from importlib import metadata
from pathlib import Path
from typing import Any

RESULTS_FILE = "results.json"
SCHEMA = 1


class Status(StrEnum):
    """What a record says of its run. Values are the strings written to results.json."""

    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    DIVERGED = "diverged"
    # Stopped early by a search's pruner: not a failure; a re-run trains it again from scratch.
    PRUNED = "pruned"
    # Died of CUDA out-of-memory (the record names the batch size it tried).
    OOM = "oom"


class Outcome(StrEnum):
    """What a job tells the sweep journal: a run started, or how it ended (skipped: completed earlier)."""

    STARTED = "started"
    COMPLETED = "completed"
    SKIPPED = "skipped"
    FAILED = "failed"
    DIVERGED = "diverged"
    PRUNED = "pruned"
    OOM = "oom"


STATUSES = tuple(Status)
# The ends a study's summary counts, in the order it prints them; those in OCCASIONAL only when a run
# ended so.
ENDS = (Outcome.COMPLETED, Outcome.SKIPPED, Outcome.FAILED, Outcome.DIVERGED, Outcome.PRUNED, Outcome.OOM)
OCCASIONAL = (Outcome.PRUNED, Outcome.OOM)
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
_VERSIONED = ("torch", "lightning", "torchmetrics", "hydra-core", "omegaconf", "numpy", "wandb", "ablab")


class CorruptRecord(ValueError):
    """A results.json that is partial, unparsable or missing required fields."""


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write via a temporary file in the same folder, fsync and rename: readers never see half a file."""
    from ablab.lightning.files import atomic_file

    with atomic_file(path) as handle:
        json.dump(data, handle, indent=2, sort_keys=True, default=str, allow_nan=True)
        handle.write("\n")


def write_record(path: Path, record: dict[str, Any]) -> None:
    """`write_json_atomic`, and on a full disk (which refuses the temporary copy an atomic write needs)
    the record without its traceback, compact, over the existing file's own blocks: a failed record
    still lands where a few kilobytes cannot be found. Raises when neither fits."""
    try:
        write_json_atomic(path, record)
    except OSError as exc:
        if exc.errno not in _DISK_FULL or not path.is_file():
            raise
        compact = {**record}
        if isinstance(compact.get("error"), dict):
            compact["error"] = {k: v for k, v in compact["error"].items() if k != "traceback"}
        text = json.dumps(compact, sort_keys=True, default=str, allow_nan=True) + "\n"
        try:
            with path.open("r+") as handle:
                handle.write(text)
                handle.truncate()
                handle.flush()
                os.fsync(handle.fileno())
        except OSError:
            raise exc from None


def read_record(path: Path) -> dict[str, Any]:
    """Read and check a results.json; raise CorruptRecord (with the path) when it cannot be trusted."""
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptRecord(f"{path}: unreadable results record ({exc})") from exc
    if not isinstance(record, dict):
        raise CorruptRecord(f"{path}: results record is not a JSON object")
    missing = [k for k in ("schema", "status", "config_hash", "metrics") if k not in record]
    if missing:
        raise CorruptRecord(f"{path}: results record lacks {', '.join(missing)}")
    if record["status"] not in STATUSES:
        raise CorruptRecord(f"{path}: unknown status {record['status']!r}")
    return record


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape results, for the record."""
    versions = {}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_commit(cwd: Path | None = None) -> str | None:
    """The checked-out commit (with `-dirty` when the tree has changes), or None outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}-dirty" if dirty else commit
