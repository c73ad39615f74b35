"""Text-to-sign video denoisers and the text-conditioned model around them.

`TextToSign` = text encoder -> context projection (+ a learned "no caption" context for
classifier-free guidance) -> denoiser. Two denoisers share one call signature
`(noisy clip (B, C, F, H, W), timesteps (B,), context (B, L, D)) -> predicted noise (B, C, F, H, W)`:

- `SpaceTimeUNet` (default): a factorised space-time UNet. Per-frame 2D convolutions, a temporal
  convolution in every residual block, and attention (spatial self, caption cross, temporal self)
  only at the low resolutions; every block gets its frame's position and the pooled caption by FiLM. Why not diffusers'
  UNet3DConditionModel at CPU scale: it has no frame-position signal (its temporal attention is
  permutation-equivariant over frames, so "first gloss, then second gloss" is hard to express),
  its temporal convolutions are Conv3d (a slow CPU path) and it puts temporal attention at full
  resolution; `benchmarks/bench_text2sign.py` measures the step-time gap.
- `DiffusersUNet3D`: diffusers' `UNet3DConditionModel`, sized down, for the reference scale on GPU.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ablab.components.positional import sinusoidal
from ablab.errors import require


class Attention(nn.Module):
    """Multi-head attention of queries over keys/values (of another width when `kv_dim` is given)."""

    def __init__(self, dim: int, heads: int, kv_dim: int | None = None) -> None:
        super().__init__()
        require(dim % heads == 0, "model.denoiser.heads", heads, f"must divide the channel width {dim}")
        self.heads = heads
        self.q = nn.Linear(dim, dim, bias=False)
        self.kv = nn.Linear(kv_dim or dim, 2 * dim, bias=False)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        b, n, d = x.shape
        k, v = self.kv(x if context is None else context).chunk(2, dim=-1)

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(b, -1, self.heads, d // self.heads).transpose(1, 2)

        out = F.scaled_dot_product_attention(split(self.q(x)), split(k), split(v))
        return self.out(out.transpose(1, 2).reshape(b, n, d))


class SpaceTimeResBlock(nn.Module):
    """Per-frame 3x3 convs with FiLM from the (timestep + frame position) embedding, then a
    residual temporal conv (kernel 3 over frames) mixing each pixel with its neighbours in time."""

    def __init__(self, cin: int, cout: int, emb_dim: int, groups: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.film = nn.Linear(emb_dim, 2 * cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
        self.temporal_norm = nn.GroupNorm(groups, cout)
        # A Conv2d over (frames, pixels) with kernel (3, 1) is a temporal conv on CPU's fast path.
        self.temporal = nn.Conv2d(cout, cout, (3, 1), padding=(1, 0))
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.temporal.weight)

    def forward(self, x: torch.Tensor, emb: torch.Tensor, frames: int) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(F.silu(emb)).chunk(2, dim=-1)
        h = self.norm2(h) * (1 + scale[..., None, None]) + shift[..., None, None]
        h = self.conv2(self.dropout(F.silu(h))) + self.skip(x)
        bf, c, height, width = h.shape
        z = h.reshape(bf // frames, frames, c, height * width).transpose(1, 2)
        z = self.temporal(F.silu(self.temporal_norm(z)))
        return h + z.transpose(1, 2).reshape(bf, c, height, width)


class SpaceTimeAttention(nn.Module):
    """Spatial self-attention, cross-attention to the caption, temporal self-attention (with
    frame positions), feed-forward; a residual whose output projection starts at zero."""

    def __init__(self, channels: int, context_dim: int, heads: int, groups: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.ln = nn.ModuleList(nn.LayerNorm(channels) for _ in range(4))
        self.spatial = Attention(channels, heads)
        self.cross = Attention(channels, heads, kv_dim=context_dim)
        self.temporal = Attention(channels, heads)
        self.ff = nn.Sequential(
            nn.Linear(channels, 4 * channels), nn.GELU(), nn.Linear(4 * channels, channels)
        )
        self.proj_out = nn.Linear(channels, channels)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)

    def forward(self, x: torch.Tensor, context: torch.Tensor, frames: int) -> torch.Tensor:
        bf, c, height, width = x.shape
        b, hw = bf // frames, height * width
        tokens = self.norm(x).flatten(2).transpose(1, 2)  # (B*F, HW, C)
        tokens = tokens + self.spatial(self.ln[0](tokens))
        tokens = tokens + self.cross(self.ln[1](tokens), context.repeat_interleave(frames, dim=0))
        seq = tokens.reshape(b, frames, hw, c).transpose(1, 2).reshape(b * hw, frames, c)
        pos = sinusoidal(torch.arange(frames, device=x.device), c)
        seq = seq + self.temporal(self.ln[2](seq) + pos)
        tokens = seq.reshape(b, hw, frames, c).transpose(1, 2).reshape(bf, hw, c)
        tokens = tokens + self.ff(self.ln[3](tokens))
        return x + self.proj_out(tokens).transpose(1, 2).reshape(bf, c, height, width)


class SpaceTimeUNet(nn.Module):
    """Factorised space-time UNet: levels of `num_res_blocks` residual blocks at widths
    `model_channels * channel_mult[i]`, halving the frame size between levels, attention at the
    levels listed in `attention_levels` and in the middle."""

    def __init__(
        self,
        in_channels: int = 3,
        context_dim: int = 64,
        model_channels: int = 32,
        channel_mult: Sequence[int] = (1, 2, 2),
        attention_levels: Sequence[int] = (2,),
        num_res_blocks: int = 1,
        heads: int = 4,
        groups: int = 8,
        dropout: float = 0.0,
        max_frames: int = 64,
        patch_size: int = 1,
    ) -> None:
        super().__init__()
        widths = _check_unet(
            model_channels, channel_mult, attention_levels, num_res_blocks, groups, patch_size
        )
        self.max_frames = max_frames
        self.patch_size = patch_size
        self.downsample_factor = patch_size * 2 ** (len(widths) - 1)
        emb_dim = 4 * model_channels
        self.model_channels = model_channels
        self.time_mlp = nn.Sequential(
            nn.Linear(model_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)
        )
        self.frame_embedding = nn.Embedding(max_frames, emb_dim)
        # The mean caption context joins the timestep embedding (as Imagen's pooled text embedding):
        # every block gets the caption by FiLM, cross-attention adds which token matters where.
        self.context_mlp = nn.Sequential(
            nn.Linear(context_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim)
        )
        # Two coordinate channels (CoordConv) let FiLM-conditioned features place things in the frame.
        self.conv_in = nn.Conv2d(in_channels * patch_size**2 + 2, widths[0], 3, padding=1)

        self.down, self.mid, self.up, width = _unet_paths(
            widths, num_res_blocks, attention_levels, emb_dim, context_dim, heads, groups, dropout
        )
        self.norm_out = nn.GroupNorm(groups, width)
        self.conv_out = nn.Conv2d(width, in_channels * patch_size**2, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def _block(
        self, block: nn.ModuleList, h: torch.Tensor, emb: torch.Tensor, context: torch.Tensor, frames: int
    ) -> torch.Tensor:
        if isinstance(block[0], SpaceTimeResBlock):
            h = block[0](h, emb, frames)
            return block[1](h, context, frames) if isinstance(block[1], SpaceTimeAttention) else h
        for layer in block:
            h = layer(h)
        return h

    def forward(self, sample: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, c, frames, height, width = sample.shape
        if frames > self.max_frames:
            raise ValueError(f"{frames} frames exceed model.denoiser.max_frames={self.max_frames}")
        temb = self.time_mlp(sinusoidal(timesteps.expand(b), self.model_channels)) + self.context_mlp(
            context.mean(1)
        )
        femb = self.frame_embedding(torch.arange(frames, device=sample.device))
        emb = (temb[:, None, :] + femb[None]).reshape(b * frames, -1)
        x = sample.transpose(1, 2).reshape(b * frames, c, height, width)
        x = F.pixel_unshuffle(x, self.patch_size)
        ys = torch.linspace(-1, 1, x.shape[-2], device=x.device)
        xs = torch.linspace(-1, 1, x.shape[-1], device=x.device)
        coords = torch.stack(torch.meshgrid(ys, xs, indexing="ij")).expand(x.shape[0], -1, -1, -1)
        h = self.conv_in(torch.cat([x, coords], dim=1))
        hs = [h]
        for block in self.down:
            h = self._block(block, h, emb, context, frames)
            hs.append(h)
        h = self.mid[0](h, emb, frames)
        h = self.mid[1](h, context, frames)
        h = self.mid[2](h, emb, frames)
        for block in self.up:
            if isinstance(block[0], SpaceTimeResBlock):
                h = torch.cat([h, hs.pop()], dim=1)
            h = self._block(block, h, emb, context, frames)
        h = F.pixel_shuffle(self.conv_out(F.silu(self.norm_out(h))), self.patch_size)
        return h.reshape(b, frames, c, height, width).transpose(1, 2)


def _check_unet(
    model_channels: int,
    channel_mult: Sequence[int],
    attention_levels: Sequence[int],
    num_res_blocks: int,
    groups: int,
    patch_size: int,
) -> list[int]:
    """The level widths, or a ConfigError naming the denoiser setting that cannot build a UNet."""
    require(patch_size >= 1, "model.denoiser.patch_size", patch_size, "must be >= 1")
    require(model_channels > 0, "model.denoiser.model_channels", model_channels, "must be > 0")
    require(len(channel_mult) >= 1, "model.denoiser.channel_mult", list(channel_mult), "needs >= 1 level")
    require(num_res_blocks >= 1, "model.denoiser.num_res_blocks", num_res_blocks, "must be >= 1")
    widths = [model_channels * m for m in channel_mult]
    require(
        all(w % groups == 0 for w in widths),
        "model.denoiser.groups",
        groups,
        f"must divide every level width {widths}",
    )
    require(
        all(0 <= i < len(widths) for i in attention_levels),
        "model.denoiser.attention_levels",
        list(attention_levels),
        f"must be level indices in 0..{len(widths) - 1}",
    )
    return widths


def _unet_paths(
    widths: list[int],
    num_res_blocks: int,
    attention_levels: Sequence[int],
    emb_dim: int,
    context_dim: int,
    heads: int,
    groups: int,
    dropout: float,
) -> tuple[nn.ModuleList, nn.ModuleList, nn.ModuleList, int]:
    """The down path, the middle and the up path (built in this order, as the seed expects), and the
    width the up path ends at."""

    def res(cin: int, cout: int) -> SpaceTimeResBlock:
        return SpaceTimeResBlock(cin, cout, emb_dim, groups, dropout)

    def attn(level: int) -> nn.Module | None:
        return (
            SpaceTimeAttention(widths[level], context_dim, heads, groups)
            if level in attention_levels
            else None
        )

    down = nn.ModuleList()
    skips = [widths[0]]
    width = widths[0]
    for level, out in enumerate(widths):
        for _ in range(num_res_blocks):
            down.append(nn.ModuleList([res(width, out), attn(level) or nn.Identity()]))
            width = out
            skips.append(width)
        if level < len(widths) - 1:
            down.append(nn.ModuleList([nn.Conv2d(width, width, 3, stride=2, padding=1)]))
            skips.append(width)
    mid = nn.ModuleList(
        [res(width, width), SpaceTimeAttention(width, context_dim, heads, groups), res(width, width)]
    )
    up = nn.ModuleList()
    for level in reversed(range(len(widths))):
        out = widths[level]
        for block in range(num_res_blocks + 1):
            up.append(nn.ModuleList([res(width + skips.pop(), out), attn(level) or nn.Identity()]))
            width = out
            if level > 0 and block == num_res_blocks:
                up.append(
                    nn.ModuleList(
                        [
                            nn.Upsample(scale_factor=2, mode="nearest"),
                            nn.Conv2d(width, width, 3, padding=1),
                        ]
                    )
                )
    return down, mid, up, width


class DiffusersUNet3D(nn.Module):
    """diffusers' UNet3DConditionModel (ModelScope text-to-video), sized down: cross-attention
    blocks at `attention_levels`, plain 3D blocks elsewhere, `heads` attention heads per block."""

    def __init__(
        self,
        in_channels: int = 3,
        context_dim: int = 64,
        model_channels: int = 32,
        channel_mult: Sequence[int] = (1, 2, 2),
        attention_levels: Sequence[int] = (1, 2),
        num_res_blocks: int = 1,
        heads: int = 4,
        groups: int = 8,
    ) -> None:
        super().__init__()
        from diffusers import UNet3DConditionModel

        widths = [model_channels * m for m in channel_mult]
        require(
            len(widths) >= 2,
            "model.denoiser.channel_mult",
            list(channel_mult),
            "UNet3DConditionModel needs >= 2 levels",
        )
        require(
            all(w % groups == 0 and w % heads == 0 for w in widths),
            "model.denoiser.groups/heads",
            (groups, heads),
            f"must divide every level width {widths}",
        )
        down = tuple(
            "CrossAttnDownBlock3D" if i in attention_levels else "DownBlock3D" for i in range(len(widths))
        )
        up = tuple(
            "CrossAttnUpBlock3D" if i in attention_levels else "UpBlock3D"
            for i in reversed(range(len(widths)))
        )
        self.max_frames = 10**6
        self.downsample_factor = 2 ** (len(widths) - 1)
        # diffusers' historical naming: `attention_head_dim` is the number of heads in the blocks.
        self.unet = UNet3DConditionModel(
            in_channels=in_channels,
            out_channels=in_channels,
            down_block_types=down,
            up_block_types=up,
            block_out_channels=tuple(widths),
            layers_per_block=num_res_blocks,
            norm_num_groups=groups,
            cross_attention_dim=context_dim,
            attention_head_dim=heads,
        )

    def forward(self, sample: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        return self.unet(sample, timesteps, encoder_hidden_states=context).sample


class TextToSign(nn.Module):
    """Caption -> text encoder states -> context (B, L, context_dim) -> denoiser; `null_context`
    is the learned "no caption" context that classifier-free guidance contrasts against."""

    def __init__(
        self,
        text_encoder: nn.Module,
        denoiser: Callable[..., nn.Module],
        context_dim: int = 64,
        channels: int = 3,
        frames: int = 8,
        height: int = 32,
        width: int = 32,
    ) -> None:
        super().__init__()
        require(context_dim > 0, "model.context_dim", context_dim, "must be > 0")
        self.text_encoder = text_encoder
        self.context_proj = nn.Linear(text_encoder.dim, context_dim)
        self.null_context = nn.Parameter(torch.zeros(1, 1, context_dim))
        self.denoiser = denoiser(in_channels=channels, context_dim=context_dim)
        factor = self.denoiser.downsample_factor
        require(
            height % factor == 0 and width % factor == 0,
            "data.height/width",
            (height, width),
            f"must be multiples of {factor} (the denoiser halves the frame size {factor.bit_length() - 1}x)",
        )
        require(
            1 <= frames <= self.denoiser.max_frames,
            "data.frames",
            frames,
            f"must be in 1..{self.denoiser.max_frames} (model.denoiser.max_frames)",
        )
        self.clip_shape = (channels, frames, height, width)

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Text encoder token states (B, L, text dim), padding positions zeroed."""
        return self.text_encoder(input_ids, attention_mask)

    def context(self, text_states: torch.Tensor, drop: torch.Tensor | None = None) -> torch.Tensor:
        """Projected context; rows where `drop` is true get the learned no-caption context."""
        ctx = self.context_proj(text_states)
        if drop is None:
            return ctx
        null = self.null_context.expand_as(ctx)
        return torch.where(drop[:, None, None], null, ctx)

    def unconditional(self, batch: int, length: int) -> torch.Tensor:
        """The no-caption context for a batch, (batch, length, context_dim)."""
        return self.null_context.expand(batch, length, -1)

    def forward(self, sample: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        return self.denoiser(sample, timesteps, context)
