"""Reading an ablab checkpoint (weights plus the run's resolved config) without importing Lightning, so
commands that take a checkpoint can reject a wrong path at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ablab.errors import DataError


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint written by an ablab run (it stores its resolved config), or a DataError."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: checkpoint not found; pass a .ckpt file from a run's checkpoints/ folder")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise DataError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(checkpoint, dict) or "config" not in checkpoint.get("ablab", {}):
        raise DataError(f"{path}: no ablab config inside; use a checkpoint written by `python train.py`")
    return checkpoint
