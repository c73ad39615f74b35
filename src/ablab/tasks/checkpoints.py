"""Reading an ablab checkpoint (weights plus the run's resolved config) without importing Lightning, so
commands that take a checkpoint can reject a wrong path at once."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ablab.errors import DataError

# Types beyond tensors, numbers, strings and plain containers that ablab checkpoints hold, allowed to
# `torch.load(weights_only=True)`. None today: every callback stores plain values (RngStateInCheckpoint
# turns numpy's generator state into a tensor for this reason), and a test loads every family's
# checkpoints with this list. A callback that stores another type adds it here.
SAFE_GLOBALS: list[Any] = []


@contextmanager
def safe_loading() -> Iterator[None]:
    """Loads inside accept `SAFE_GLOBALS` besides torch's own: wrap Lightning's checkpoint reads
    (`trainer.fit(ckpt_path=..., weights_only=True)`) in it."""
    import torch

    with torch.serialization.safe_globals(SAFE_GLOBALS):
        yield


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """`torch.load` with `weights_only=True` said explicitly, so no pickled code runs whatever torch's
    default or `TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD` say; raises what torch raises."""
    import torch

    with safe_loading():
        return torch.load(path, map_location="cpu", weights_only=True)


def load_problem(exc: BaseException, path: Path) -> str:
    """Why `read_checkpoint(path)` failed, in a few words: torch's own messages run over several lines
    and end by suggesting the unsafe `weights_only=False`. Checkpoints are zip archives, so the file's
    first bytes tell a foreign file from a truncated one."""
    import zipfile

    try:
        with path.open("rb") as handle:
            zip_like = handle.read(2) == b"PK"
    except OSError as error:
        return f"it cannot be read ({error.strerror})"
    if not zip_like:
        return "it is not a torch checkpoint (not a zip archive)"
    if not zipfile.is_zipfile(path) or "PytorchStreamReader" in str(exc):
        return "it is truncated or corrupted (not a complete torch zip archive)"
    text = str(exc)
    if "Weights only load failed" in text:
        unsupported = next((line.strip() for line in text.splitlines() if "GLOBAL" in line), "")
        return f"it holds pickled objects other than plain data, which are never loaded ({unsupported})"
    if isinstance(exc, OSError) and exc.errno not in (None, errno.EINVAL):
        return f"it cannot be read ({exc.strerror})"
    lines = text.strip().splitlines()
    return f"it is not a readable torch checkpoint ({type(exc).__name__}: {lines[0] if lines else ''})"


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint written by an ablab run (it stores its resolved config), or a DataError."""
    path = Path(path)
    if not path.is_file():
        what = "is a folder, not a checkpoint file" if path.is_dir() else "checkpoint not found"
        raise DataError(f"{path}: {what}; pass a .ckpt file from a run's checkpoints/ folder")
    try:
        checkpoint = read_checkpoint(path)
    except Exception as exc:
        raise DataError(
            f"{path}: not a readable checkpoint: {load_problem(exc, path)}; pass a .ckpt file written by "
            "`python train.py`"
        ) from exc
    if not isinstance(checkpoint, dict) or "config" not in checkpoint.get("ablab", {}):
        raise DataError(f"{path}: no ablab config inside; use a checkpoint written by `python train.py`")
    return checkpoint
