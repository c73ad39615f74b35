"""Self-attention variants behind one signature: (B, T, D) [+ key padding mask] -> (B, T, D).

Each keeps the attention weights of its last forward in `last_weights` (B, T, T), detached, so
explanations can read them without a second code path.
"""

from __future__ import annotations

import torch
from torch import nn

from ablab.errors import require


class ConvAttention(nn.Module):
    """The Hungarian network's attention: bias-free 1x1 Conv1d Q, K, V; softmax(Q^T K) over the last
    dim without scaling; output A V^T. Padded keys (mask True) get no weight."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        require(dim > 0, "attention dim", dim, "must be > 0")
        self.query = nn.Conv1d(dim, dim, kernel_size=1, bias=False)
        self.key = nn.Conv1d(dim, dim, kernel_size=1, bias=False)
        self.value = nn.Conv1d(dim, dim, kernel_size=1, bias=False)
        self.last_weights: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        channels_first = x.transpose(1, 2)
        q, k, v = self.query(channels_first), self.key(channels_first), self.value(channels_first)
        scores = torch.bmm(q.transpose(1, 2), k)
        if padding_mask is not None:
            scores = scores.masked_fill(padding_mask[:, None, :], float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        self.last_weights = weights.detach()
        return torch.bmm(weights, v.transpose(1, 2))


class MultiHeadAttention(nn.Module):
    """torch.nn.MultiheadAttention as self-attention; weights averaged over heads."""

    def __init__(self, dim: int, num_heads: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        require(num_heads >= 1, "model.attention.num_heads", num_heads, "must be >= 1")
        require(
            dim % num_heads == 0,
            "model.attention.num_heads",
            num_heads,
            f"must divide the attention input size {dim}; pick a divisor of {dim}",
        )
        self.attention = nn.MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
        self.last_weights: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        out, weights = self.attention(x, x, x, key_padding_mask=padding_mask, need_weights=True)
        self.last_weights = weights.detach()
        return out


class NoAttention(nn.Module):
    """The ablation without attention: the sequence passes through unchanged."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.last_weights: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        return x
