"""Fixed sine/cosine encodings of positions or diffusion timesteps (Vaswani et al. 2017)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def frequencies(dim: int) -> torch.Tensor:
    """The `dim // 2` angular frequencies, from 1 down to 1/10000."""
    half = dim // 2
    return torch.exp(-math.log(10000.0) * torch.arange(half) / max(half, 1))


def sinusoidal(
    positions: torch.Tensor, dim: int, interleaved: bool = False, freqs: torch.Tensor | None = None
) -> torch.Tensor:
    """sin/cos features of (possibly fractional) positions, shape (..., dim): all sines then all
    cosines, or interleaved (sin, cos, sin, ...); an odd `dim` ends in a zero."""
    freqs = frequencies(dim).to(positions.device) if freqs is None else freqs
    angles = positions.float()[..., None] * freqs
    if interleaved:
        out = torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(-2)
    else:
        out = torch.cat([angles.sin(), angles.cos()], dim=-1)
    return F.pad(out, (0, dim - out.shape[-1]))


class SinusoidalPositions(nn.Module):
    """Adds interleaved position encodings to a (B, L, dim) sequence, any length. The frequencies are
    a buffer, as in the checkpoints of the AMP transformer head."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("freqs", frequencies(dim))
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(x.shape[1], device=x.device)
        return x + sinusoidal(positions, self.dim, interleaved=True, freqs=self.freqs).to(x.dtype)
