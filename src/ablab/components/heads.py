"""Output heads that are not a plain torch layer."""

from __future__ import annotations

import torch
from torch import nn

from ablab.errors import ConfigError


class NoHead(nn.Module):
    """The ablation without the FC head: features pass through, so they must already have the output
    size."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        if in_features != out_features:
            raise ConfigError(
                f"model/head=none needs model.hidden_size == data.max_len (got hidden_size={in_features}, "
                f"max_len={out_features}): without the FC head the GRU output is the association matrix; "
                f"set model.hidden_size={out_features} or use model/head=fc"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x
