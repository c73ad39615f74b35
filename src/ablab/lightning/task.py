"""What every task shares: optimiser and scheduler from config, parameter counting; and for tasks whose
steps differ only by stage, one `_step(batch, stage)` and one `_log_epoch(stage)`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from torch import nn

from ablab.errors import ConfigError

# Words of torch's optimiser messages ("Invalid learning rate: -1") and the argument they are about.
_OPTIMIZER_ARGS = {"learning rate": "lr", "weight_decay": "weight_decay", "beta": "betas", "epsilon": "eps"}


def check_optimizer(factory: Callable[..., torch.optim.Optimizer]) -> None:
    """Build the optimiser once on a stand-in parameter, so that `task.optimizer.lr=-1` fails naming
    its field at construction, before any data is generated, instead of when training starts. torch's
    own checks decide what is valid."""
    try:
        factory([nn.Parameter(torch.zeros(1))])
    except (ValueError, TypeError) as exc:
        text = str(exc)
        arg = next((a for words, a in _OPTIMIZER_ARGS.items() if words in text), None)
        keywords = getattr(factory, "keywords", {}) or {}
        field = f"task.optimizer.{arg}={keywords[arg]!r}" if arg in keywords else "task.optimizer"
        raise ConfigError(f"{field} is invalid: {text}") from exc


class Task(L.LightningModule):
    """Wraps a plain model; subclasses define the loss and metrics of their family."""

    def __init__(
        self,
        model: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., Any] | None = None,
        scheduler_interval: str = "epoch",
    ) -> None:
        super().__init__()
        check_optimizer(optimizer)
        self.model = model
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.scheduler_interval = scheduler_interval

    def trainable_parameters(self) -> list[nn.Parameter]:
        """What the optimiser updates; frozen parts get neither gradients nor optimiser state."""
        return [p for p in self.parameters() if p.requires_grad]

    def optimizer_groups(self) -> list[nn.Parameter] | list[dict[str, Any]]:
        """What the optimiser is built from: the trainable parameters, or parameter groups where a
        part trains at its own learning rate."""
        return self.trainable_parameters()

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.optimizer_groups())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": self.scheduler_interval},
        }


class StagedTask(Task):
    """Routes Lightning's train/val/test steps to `_step(batch, stage)` and each epoch's end to
    `_log_epoch(stage)`. Subclasses that do more at the end of test call `super().on_test_epoch_end()`."""

    def _step(self, batch: Any, stage: str) -> torch.Tensor:
        raise TypeError(f"{type(self).__name__} must define _step(batch, stage) -> loss")

    def _log_epoch(self, stage: str) -> None:
        raise TypeError(f"{type(self).__name__} must define _log_epoch(stage)")

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._step(batch, "test")

    def on_train_epoch_end(self) -> None:
        self._log_epoch("train")

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val")

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")


def count_parameters(module: nn.Module) -> int:
    """All parameters of `module`, trainable or not."""
    return sum(p.numel() for p in module.parameters())
