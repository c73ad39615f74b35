"""The six antimicrobial-peptide classifier heads of the reference study, on per-residue embeddings.

Every head maps (B, T, embedding_dim) embeddings and a (B, T) mask (True on residues) to (B,) logits.
Masks are respected everywhere: recurrent layers run on packed sequences, the transformer ignores
padded keys, and poolings skip padding, so a batch's padding never changes a peptide's logit.

    CNN1DClassifier      multi-scale 1D convolutions -> masked global max pool
    RecurrentClassifier  BiLSTM (3 layers, last states), BiGRU, BiRNN (2-layer BiLSTM, mean over residues)
    TransformerClassifier  projection + sinusoidal positions -> transformer encoder -> masked mean
    CNNBiLSTMClassifier  convolution -> BiLSTM -> last states
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ablab.components.positional import SinusoidalPositions
from ablab.errors import require

RNN_CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}
RNN_POOLINGS = ("last", "mean", "max")
CNN_POOLINGS = ("max", "mean", "meanmax")


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, T, C) -> (B, C): mean over positions where mask is True."""
    weights = mask.unsqueeze(-1).to(x.dtype)
    return (x * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)


def masked_max(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, T, C) -> (B, C): max over positions where mask is True."""
    return x.masked_fill(~mask.unsqueeze(-1), torch.finfo(x.dtype).min).max(dim=1).values


def _classifier(in_features: int, hidden: int, dropout: float) -> nn.Sequential:
    """The shared output block: dropout -> Linear -> ReLU -> dropout -> Linear(1)."""
    return nn.Sequential(
        nn.Dropout(dropout),
        nn.Linear(in_features, hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, 1),
    )


def _check(embedding_dim: int, dropout: float) -> None:
    require(embedding_dim > 0, "model.embedding_dim", embedding_dim, "must be > 0 (set by the encoder)")
    require(0.0 <= dropout < 1.0, "model.dropout", dropout, "must be in [0, 1)")


def _run_rnn(rnn: nn.RNNBase, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run on packed sequences: per-position outputs (B, T, 2H) and final states (layers*2, B, H)."""
    lengths = mask.sum(dim=1).clamp_min(1).cpu()
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, state = rnn(packed)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    hidden = state[0] if isinstance(state, tuple) else state
    return out, hidden


def masked_mean_max(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, T, C) -> (B, 2C): masked mean and max side by side."""
    return torch.cat([masked_mean(x, mask), masked_max(x, mask)], dim=-1)


class CNN1DClassifier(nn.Module):
    """Parallel convolutions of several widths (motifs of 3, 5, 7 residues) -> masked global pooling:
    max (is the motif anywhere?), mean (how much of it?, composition-like) or both."""

    def __init__(
        self,
        embedding_dim: int,
        channels: int = 128,
        kernel_sizes: Sequence[int] = (3, 5, 7),
        hidden: int = 128,
        dropout: float = 0.3,
        pooling: str = "max",
    ) -> None:
        super().__init__()
        _check(embedding_dim, dropout)
        require(
            pooling in CNN_POOLINGS, "model.pooling", pooling, f"must be one of {', '.join(CNN_POOLINGS)}"
        )
        require(
            len(kernel_sizes) > 0 and all(k % 2 == 1 for k in kernel_sizes),
            "model.kernel_sizes",
            list(kernel_sizes),
            "needs odd widths (same-length outputs)",
        )
        self.convs = nn.ModuleList(
            nn.Conv1d(embedding_dim, channels, k, padding=k // 2) for k in kernel_sizes
        )
        self.pool = {"max": masked_max, "mean": masked_mean, "meanmax": masked_mean_max}[pooling]
        width = channels * len(kernel_sizes) * (2 if pooling == "meanmax" else 1)
        self.head = _classifier(width, hidden, dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = (x * mask.unsqueeze(-1)).transpose(1, 2)
        features = torch.cat([torch.relu(conv(x)) for conv in self.convs], dim=1).transpose(1, 2)
        return self.head(self.pool(features, mask)).squeeze(-1)


class RecurrentClassifier(nn.Module):
    """Bidirectional LSTM or GRU over the residues; the peptide vector is the last layer's final
    forward and backward states (`last`) or a masked mean or max of its outputs."""

    def __init__(
        self,
        embedding_dim: int,
        cell: str = "lstm",
        hidden_size: int = 128,
        num_layers: int = 3,
        pooling: str = "last",
        hidden: int = 128,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        _check(embedding_dim, dropout)
        require(cell in RNN_CELLS, "model.cell", cell, f"must be one of {', '.join(RNN_CELLS)}")
        require(
            pooling in RNN_POOLINGS, "model.pooling", pooling, f"must be one of {', '.join(RNN_POOLINGS)}"
        )
        require(num_layers >= 1, "model.num_layers", num_layers, "must be >= 1")
        require(hidden_size > 0, "model.hidden_size", hidden_size, "must be > 0")
        self.rnn = RNN_CELLS[cell](
            embedding_dim,
            hidden_size,
            num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.pool = {"last": None, "mean": masked_mean, "max": masked_max}[pooling]
        self.head = _classifier(2 * hidden_size, hidden, dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out, hidden = _run_rnn(self.rnn, x, mask)
        pooled = torch.cat([hidden[-2], hidden[-1]], dim=-1) if self.pool is None else self.pool(out, mask)
        return self.head(pooled).squeeze(-1)


class TransformerClassifier(nn.Module):
    """Linear projection + positions -> pre-norm transformer encoder (padded keys masked) -> masked mean."""

    def __init__(
        self,
        embedding_dim: int,
        d_model: int = 128,
        num_heads: int = 4,
        num_layers: int = 2,
        dim_feedforward: int = 256,
        hidden: int = 128,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        _check(embedding_dim, dropout)
        require(
            d_model % num_heads == 0, "model.num_heads", num_heads, f"must divide model.d_model={d_model}"
        )
        require(num_layers >= 1, "model.num_layers", num_layers, "must be >= 1")
        self.project = nn.Linear(embedding_dim, d_model)
        self.positions = SinusoidalPositions(d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, num_heads, dim_feedforward, dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = _classifier(d_model, hidden, dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.encoder(self.positions(self.project(x)), src_key_padding_mask=~mask)
        return self.head(masked_mean(self.norm(h), mask)).squeeze(-1)


class CNNBiLSTMClassifier(nn.Module):
    """A convolution extracts local motifs, a BiLSTM reads them in order; last forward/backward states."""

    def __init__(
        self,
        embedding_dim: int,
        channels: int = 128,
        kernel_size: int = 5,
        hidden_size: int = 64,
        num_layers: int = 1,
        hidden: int = 128,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        _check(embedding_dim, dropout)
        require(kernel_size % 2 == 1, "model.kernel_size", kernel_size, "must be odd (same-length outputs)")
        self.conv = nn.Conv1d(embedding_dim, channels, kernel_size, padding=kernel_size // 2)
        self.rnn = nn.LSTM(
            channels,
            hidden_size,
            num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.head = _classifier(2 * hidden_size, hidden, dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        conv = torch.relu(self.conv((x * mask.unsqueeze(-1)).transpose(1, 2))).transpose(1, 2)
        _, hidden = _run_rnn(self.rnn, self.dropout(conv), mask)
        return self.head(torch.cat([hidden[-2], hidden[-1]], dim=-1)).squeeze(-1)
