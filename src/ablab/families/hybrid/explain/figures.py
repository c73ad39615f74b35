"""Saving figures as PNG files and sending them to the W&B logger when one is on."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any


def save_figure(fig: Any, path: Path) -> Path:
    """Write `fig` as a PNG (parents created) and close it, so long loops do not pile up figures."""
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def log_images(loggers: Iterable[Any], images: dict[str, Path]) -> int:
    """Log each image under its key to every W&B logger among `loggers`; returns how many loggers took
    them (other loggers have no image support and keep the PNG files only)."""
    from lightning.pytorch.loggers import WandbLogger

    taken = 0
    for logger in loggers:
        if not isinstance(logger, WandbLogger) or not images:
            continue
        for key, path in images.items():
            logger.log_image(key=key, images=[str(path)], caption=[Path(path).stem])
        taken += 1
    return taken
