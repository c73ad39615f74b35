"""HNetGRU: the Hungarian network (Adavanne et al., WASPAA 2021), reimplemented from its description.

GRU over the rows of the N x N distance matrix -> attention -> activation -> head -> N x N logits.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ablab.errors import require


class HNetGRU(nn.Module):
    """Predicts the association matrix between N references (rows) and N predictions (columns)."""

    def __init__(
        self,
        attention: Callable[[int], nn.Module],
        activation: nn.Module,
        head: Callable[[int, int], nn.Module],
        max_len: int = 2,
        hidden_size: int = 128,
        gru_layers: int = 1,
    ) -> None:
        super().__init__()
        require(max_len >= 1, "model.max_len", max_len, "must be >= 1")
        require(hidden_size > 0, "model.hidden_size", hidden_size, "must be > 0")
        require(gru_layers >= 1, "model.gru_layers", gru_layers, "must be >= 1")
        self.max_len = max_len
        self.gru = nn.GRU(max_len, hidden_size, gru_layers, batch_first=True)
        self.attention = attention(hidden_size)
        self.activation = activation
        self.head = head(hidden_size, max_len)

    def forward(self, dist: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, N, N) distances -> flattened (B, N*N) logits, row-max (B, N), column-max (B, N)."""
        out, _ = self.gru(dist)
        out = self.head(self.activation(self.attention(out)))
        return out.flatten(1), out.max(dim=-1).values, out.max(dim=-2).values
