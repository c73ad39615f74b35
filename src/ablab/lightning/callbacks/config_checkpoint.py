"""Store the run's resolved config in every checkpoint, so a checkpoint alone rebuilds its model."""

from __future__ import annotations

from typing import Any

import lightning as L

CHECKPOINT_KEY = "ablab"


class ConfigInCheckpoint(L.Callback):
    """Adds `checkpoint["ablab"] = {"config": <resolved config as plain containers>, ...}`."""

    def __init__(self, config: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
        self.payload = {"config": config, **(extra or {})}

    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint[CHECKPOINT_KEY] = self.payload
