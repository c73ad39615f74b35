"""What every task shares: optimiser and scheduler from config, parameter counting; and for tasks whose
steps differ only by stage, one `_step(batch, stage)` and one `_log_epoch(stage)`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from torch import nn

from ablab.errors import ConfigError
from ablab.lightning.datamodule import DataInfo

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

    def inference(self, batch: Any) -> Any:
        """One prediction for a batch, what the cost figures time and count (`cost/flops`,
        `cost/latency_ms`): the forward on the batch's inputs. A task whose prediction is more (a
        sampling loop) or takes other inputs says so here."""
        return forward_inputs(self, batch)

    def data_info(self) -> DataInfo:
        """What the data module says of its data (`info()`), or an empty `DataInfo` without one."""
        datamodule = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
        return datamodule.info() if hasattr(datamodule, "info") else DataInfo()

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


STAGES = ("train", "val", "test")


def stage_key(stage: str) -> str:
    """ModuleDict key of a stage's metrics (`train` itself would clash with nn.Module.train)."""
    return f"{stage}_"


class StagedTask(Task):
    """Routes Lightning's train/val/test steps to `_step(batch, stage)`, and owns the per-stage
    metrics: subclasses build them with `per_stage(make)`, update `self.stage(metrics, stage)` in
    `_step`, and say in `epoch_values(stage)` what each epoch logs; this class logs those computed
    values and resets every per-stage metric. Subclasses that do more at the end of test call
    `super().on_test_epoch_end()`."""

    # Whether a stage's epoch values (beside the loss) show in the progress bar.
    metrics_in_progress_bar = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._per_stage: list[nn.ModuleDict] = []

    def per_stage(self, make: Callable[[str], nn.Module]) -> nn.ModuleDict:
        """One metric (or MetricCollection) per stage, made by `make(stage)`; reset by this class."""
        metrics = nn.ModuleDict({stage_key(stage): make(stage) for stage in STAGES})
        self._per_stage.append(metrics)
        return metrics

    @staticmethod
    def stage(metrics: nn.ModuleDict, stage: str) -> Any:
        """The stage's entry of a `per_stage` dict."""
        return metrics[stage_key(stage)]

    def log_loss(self, stage: str, loss: torch.Tensor, batch_size: int) -> None:
        """`<stage>/loss`: per step while training, per epoch everywhere."""
        self.log(
            f"{stage}/loss",
            loss,
            on_step=stage == "train",
            on_epoch=True,
            prog_bar=True,
            batch_size=batch_size,
        )

    def _step(self, batch: Any, stage: str) -> torch.Tensor:
        raise TypeError(f"{type(self).__name__} must define _step(batch, stage) -> loss")

    def epoch_values(self, stage: str) -> dict[str, torch.Tensor]:
        raise TypeError(f"{type(self).__name__} must define epoch_values(stage) -> {{key: value}}")

    def _log_epoch(self, stage: str) -> None:
        # Log computed values, then reset: logging the metric objects would let Lightning reset them
        # at its own time and mix epochs.
        values = self.epoch_values(stage)
        self.log_dict(values, prog_bar=self.metrics_in_progress_bar and stage != "train", sync_dist=False)
        for metrics in self._per_stage:
            metrics[stage_key(stage)].reset()

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


def forward_inputs(module: nn.Module, batch: Any) -> Any:
    """`module(inputs)` for a batch of `(inputs, targets...)` or a bare tensor."""
    inputs = batch[0] if isinstance(batch, list | tuple) else batch
    return module(inputs)


def count_parameters(module: nn.Module) -> int:
    """All parameters of `module`, trainable or not."""
    return sum(p.numel() for p in module.parameters())
