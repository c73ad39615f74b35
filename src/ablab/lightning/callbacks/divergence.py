"""Stop a run whose loss is no longer finite, so it is recorded as diverged instead of training on."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from ablab.errors import RunDiverged


class DivergenceGuard(L.Callback):
    """Raise RunDiverged on the first NaN/inf training loss; the runner records `status: diverged`."""

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor) and not torch.isfinite(loss).all():
            raise RunDiverged(
                f"training loss became {loss.item()} at epoch {trainer.current_epoch}, batch {batch_idx}; "
                "lower the learning rate or enable gradient clipping (trainer.gradient_clip_val=1.0)"
            )
