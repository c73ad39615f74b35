"""Hybrid CNN-LSTM-attention classifier over a feature vector read as a 1-channel sequence.

B x F features -> CNN blocks (Conv1d -> BatchNorm1d -> ReLU -> MaxPool1d) -> LSTM -> self-attention
(the shared `model/attention` group) -> pooling over time (`model/pooling`) -> linear classifier.
Every shape is computed from the configuration; explanations read `gradcam_layer()` and
`attention.last_weights` without a second forward path.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch
from torch import nn

from ablab.errors import ConfigError, require

# replicate: the sequence edges repeat the outer features instead of inventing zero-valued ones, which
# would give edge positions their own activation pattern (and pull Grad-CAM peaks to the edges).
PADDING_MODES = ("replicate", "zeros", "reflect", "circular")


class ConvBlock(nn.Module):
    """Conv1d ('same' padding for odd kernels) -> BatchNorm1d -> ReLU -> MaxPool1d."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, pool_size: int, padding_mode: str
    ) -> None:
        super().__init__()
        self.conv = nn.Conv1d(
            in_channels, out_channels, kernel_size, padding=kernel_size // 2, padding_mode=padding_mode
        )
        self.norm = nn.BatchNorm1d(out_channels)
        self.act = nn.ReLU()
        self.pool = nn.MaxPool1d(pool_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.act(self.norm(self.conv(x))))


def lstm(in_features: int, hidden: int, layers: int, bidirectional: bool, dropout: float) -> nn.LSTM:
    """The recurrent layer (`model/recurrent=lstm`): a batch-first LSTM over the CNN's time steps."""
    return nn.LSTM(
        in_features,
        hidden,
        layers,
        batch_first=True,
        bidirectional=bidirectional,
        dropout=dropout if layers > 1 else 0.0,
    )


class NoRecurrence(nn.Module):
    """`model/recurrent=none`: the CNN's time steps go on unchanged, so nothing but the convolutions'
    reach relates one step to another (LSTM settings are ignored)."""

    def __init__(self, in_features: int, *_: object) -> None:
        super().__init__()
        self.hidden_size, self.bidirectional = in_features, False

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        return x, None


class HybridCNNLSTM(nn.Module):
    """Classifies B x F feature vectors; forward returns (B, num_classes) logits."""

    def __init__(
        self,
        attention: Callable[[int], nn.Module],
        pooling: nn.Module,
        num_features: int,
        num_classes: int,
        cnn_channels: int = 16,
        cnn_blocks: int = 2,
        kernel_size: int = 3,
        pool_size: int = 2,
        padding_mode: str = "replicate",
        lstm_hidden: int = 32,
        lstm_layers: int = 2,
        bidirectional: bool = True,
        dropout: float = 0.0,
        recurrent: Callable[..., nn.Module] = lstm,
    ) -> None:
        super().__init__()
        require(num_features >= 1, "model.num_features", num_features, "must be >= 1")
        require(num_classes >= 2, "model.num_classes", num_classes, "must be >= 2")
        require(cnn_channels >= 1, "model.cnn_channels", cnn_channels, "must be >= 1")
        require(cnn_blocks >= 1, "model.cnn_blocks", cnn_blocks, "must be >= 1")
        require(
            kernel_size >= 1 and kernel_size % 2 == 1,
            "model.kernel_size",
            kernel_size,
            "must be a positive odd number (the convolution keeps the sequence length)",
        )
        require(pool_size >= 1, "model.pool_size", pool_size, "must be >= 1")
        require(
            padding_mode in PADDING_MODES,
            "model.padding_mode",
            padding_mode,
            f"must be one of {', '.join(PADDING_MODES)}",
        )
        require(lstm_hidden >= 1, "model.lstm_hidden", lstm_hidden, "must be >= 1")
        require(lstm_layers >= 1, "model.lstm_layers", lstm_layers, "must be >= 1")
        require(0.0 <= dropout < 1.0, "model.dropout", dropout, "must be in [0, 1)")
        self.num_features, self.num_classes = num_features, num_classes
        self.pool_size = pool_size
        self.lengths = conv_lengths(num_features, cnn_blocks, pool_size)
        channels = [1] + [cnn_channels * 2**i for i in range(cnn_blocks)]
        self.cnn = nn.Sequential(
            *(
                ConvBlock(c_in, c_out, kernel_size, pool_size, padding_mode)
                for c_in, c_out in itertools.pairwise(channels)
            )
        )
        self.lstm = recurrent(channels[-1], lstm_hidden, lstm_layers, bidirectional, dropout)
        features = self.lstm.hidden_size * (2 if self.lstm.bidirectional else 1)
        self.attention = attention(features)
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(features, num_classes)

    @property
    def sequence_length(self) -> int:
        """Time steps the LSTM and the attention see: the length after the last pooling."""
        return self.lengths[-1]

    def gradcam_layer(self, block: int = -1) -> ConvBlock:
        """A CNN block (default: the last) whose activation, before its pooling, Grad-CAM explains."""
        if not -len(self.cnn) <= block < len(self.cnn):
            raise ConfigError(
                f"Grad-CAM block {block} does not exist: the model has {len(self.cnn)} CNN blocks"
            )
        return self.cnn[block]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, F) standardised features -> (B, num_classes) logits."""
        if x.shape[-1] != self.num_features:
            raise ConfigError(
                f"the model was built for {self.num_features} features but got {x.shape[-1]}; "
                "set model.num_features (data.num_features) to the data's feature count"
            )
        steps = self.cnn(x.unsqueeze(1)).transpose(1, 2)
        steps, _ = self.lstm(steps)
        steps = self.attention(steps)
        return self.classifier(self.dropout(self.pooling(steps)))


def conv_lengths(num_features: int, cnn_blocks: int, pool_size: int) -> list[int]:
    """Sequence length after each CNN block (odd kernels keep length, each pool floors by pool_size);
    a ConfigError when a block would get an empty sequence."""
    lengths, length = [], num_features
    for block in range(1, cnn_blocks + 1):
        length //= pool_size
        if length < 1:
            needed = pool_size**cnn_blocks
            raise ConfigError(
                f"model: {num_features} input features are too few for model.cnn_blocks={cnn_blocks} with "
                f"model.pool_size={pool_size} (block {block} would pool to an empty sequence; needs at "
                f"least {needed} features): use fewer cnn_blocks or a smaller pool_size"
            )
        lengths.append(length)
    return lengths
