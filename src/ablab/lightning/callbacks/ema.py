"""EMA of the weights through Lightning's WeightAveraging, also swapped in for test and predict.

Lightning's callback swaps the averaged weights in for validation and saves them as the checkpoint's
`state_dict` (the raw ones under `current_model_state`). Testing a checkpoint in the same Trainer
after `fit` restores the raw weights into the module, though, and WeightAveraging does not swap for
test, so `trainer.test(ckpt_path="best")` would evaluate raw weights. This subclass swaps for test
and predict too; a fresh Trainer without the callback loads `state_dict`, the averaged weights.
"""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.callbacks import WeightAveraging
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ablab.errors import require


class TrainableAveragedModel(AveragedModel):
    """torch's AveragedModel that averages only parameters that train (and floating buffers):
    a frozen text encoder never changes, so averaging its 20M+ weights every step is pure cost."""

    def update_parameters(self, model: nn.Module) -> None:
        pairs = [
            (a, m)
            for a, m in zip(self.module.parameters(), model.parameters(), strict=True)
            if m.requires_grad
        ]
        if self.use_buffers:
            pairs += list(zip(self.module.buffers(), model.buffers(), strict=True))
        floats = [(a.detach(), m.detach().to(a.device)) for a, m in pairs if a.is_floating_point()]
        for averaged, current in ((a.detach(), m.detach()) for a, m in pairs if not a.is_floating_point()):
            averaged.copy_(current)
        if floats:
            averaged, current = [a for a, _ in floats], [m for _, m in floats]
            if self.n_averaged == 0:
                torch._foreach_copy_(averaged, current)
            else:
                self.multi_avg_fn(averaged, current, self.n_averaged.to(averaged[0].device))
        self.n_averaged += 1


class EMA(WeightAveraging):
    """Exponential moving average p_avg <- decay * p_avg + (1 - decay) * p (torch's EMA average,
    vectorised) after every `update_every_n_steps`-th optimiser step from `update_starting_at_step` on;
    frozen parameters are copied once, not averaged."""

    def __init__(
        self,
        decay: float = 0.999,
        update_every_n_steps: int = 1,
        update_starting_at_step: int = 0,
        use_buffers: bool = True,
    ) -> None:
        require(0.0 < decay < 1.0, "callbacks.ema.decay", decay, "must be in (0, 1)")
        require(
            update_every_n_steps >= 1,
            "callbacks.ema.update_every_n_steps",
            update_every_n_steps,
            "must be >= 1",
        )
        super().__init__(use_buffers=use_buffers, multi_avg_fn=get_ema_multi_avg_fn(decay))
        self.decay = decay
        self.update_every_n_steps = update_every_n_steps
        self.update_starting_at_step = update_starting_at_step

    def should_update(self, step_idx: int | None = None, epoch_idx: int | None = None) -> bool:
        return (
            step_idx is not None
            and step_idx >= self.update_starting_at_step
            and step_idx % self.update_every_n_steps == 0
        )

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == "fit":
            self._average_model = TrainableAveragedModel(
                model=pl_module,
                device=self._device or pl_module.device,
                use_buffers=self._use_buffers,
                **self._kwargs,
            )

    def averaged_module(self) -> L.LightningModule | None:
        """The averaged copy of the module (None before fit): tests compare it with the raw weights."""
        return None if self._average_model is None else self._average_model.module

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._average_model is not None:
            self._swap_models(pl_module)

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._average_model is not None:
            self._swap_models(pl_module)

    def on_predict_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._average_model is not None:
            self._swap_models(pl_module)

    def on_predict_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._average_model is not None:
            self._swap_models(pl_module)
