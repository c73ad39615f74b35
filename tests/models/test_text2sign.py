"""Text-to-sign denoisers and model: shapes for several clip sizes, frame mixing, guidance context."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from ablab.errors import ConfigError
from ablab.families.text2sign.model import DiffusersUNet3D, SpaceTimeUNet, TextToSign
from ablab.families.text2sign.text_encoder import TextEncoder


@pytest.fixture(scope="module")
def tiny_encoder() -> TextEncoder:
    return TextEncoder("tiny", max_length=8, tiny_hidden_size=16, tiny_layers=1, tiny_heads=2)


@pytest.mark.parametrize(
    ("frames", "height", "width", "patch_size", "channel_mult"),
    [
        (1, 16, 16, 1, (1, 2)),
        (4, 32, 32, 4, (1, 2)),
        (8, 16, 24, 2, (1, 2)),
        (16, 32, 32, 2, (1, 2, 2)),
        (5, 8, 8, 1, (1,)),
    ],
)
def test_spacetime_unet_predicts_a_clip_of_the_input_shape(
    frames, height, width, patch_size, channel_mult
) -> None:
    torch.manual_seed(0)
    unet = SpaceTimeUNet(
        in_channels=3,
        context_dim=12,
        model_channels=8,
        channel_mult=channel_mult,
        attention_levels=(len(channel_mult) - 1,),
        heads=2,
        groups=4,
        patch_size=patch_size,
    )
    x = torch.randn(2, 3, frames, height, width)
    out = unet(x, torch.tensor([3, 900]), torch.randn(2, 5, 12))
    assert out.shape == x.shape
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(("frames", "size"), [(2, 16), (4, 32)])
def test_diffusers_unet3d_predicts_a_clip_of_the_input_shape(frames: int, size: int) -> None:
    unet = DiffusersUNet3D(
        in_channels=3,
        context_dim=12,
        model_channels=8,
        channel_mult=(1, 2),
        attention_levels=(1,),
        heads=2,
        groups=4,
    )
    x = torch.randn(2, 3, frames, size, size)
    assert unet(x, torch.tensor([10, 500]), torch.randn(2, 5, 12)).shape == x.shape


def test_spacetime_unet_mixes_frames_and_knows_frame_positions() -> None:
    torch.manual_seed(0)
    unet = SpaceTimeUNet(
        in_channels=3,
        context_dim=4,
        model_channels=8,
        channel_mult=(1, 2),
        attention_levels=(1,),
        heads=2,
        groups=4,
        patch_size=2,
    )
    for p in unet.parameters():  # leave the zero-initialised residuals' starting point
        torch.nn.init.normal_(p, std=0.2)
    x = torch.zeros(1, 3, 6, 8, 8, requires_grad=True)
    out = unet(x, torch.tensor([100]), torch.zeros(1, 2, 4))
    out[:, :, 0].sum().backward()
    assert x.grad[:, :, 5].abs().sum() > 0  # the last frame informs the first
    assert not torch.allclose(out[:, :, 0], out[:, :, 3])  # identical (empty) frames, different positions


def test_text_to_sign_swaps_dropped_captions_for_the_learned_null_context(tiny_encoder) -> None:
    model = TextToSign(
        tiny_encoder,
        partial(SpaceTimeUNet, model_channels=8, channel_mult=(1,), attention_levels=(0,), heads=2, groups=4),
        context_dim=8,
        frames=2,
        height=8,
        width=8,
    )
    tokens = tiny_encoder.tokenize(["hello go", "thanks"])
    states = model.encode_text(tokens["input_ids"], tokens["attention_mask"])
    assert states.shape == (2, 8, 16)
    assert (states[tokens["attention_mask"] == 0] == 0).all()  # padding carries nothing
    with torch.no_grad():
        model.null_context.fill_(7.0)
    ctx = model.context(states, torch.tensor([True, False]))
    assert (ctx[0] == 7.0).all() and not (ctx[1] == 7.0).all()
    assert model.unconditional(3, 8).shape == (3, 8, 8)
    clip = torch.randn(2, *model.clip_shape)
    assert model(clip, torch.tensor([1, 2]), ctx).shape == clip.shape


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(height=30), "data.height/width"),
        (dict(frames=100), "data.frames"),
        (dict(context_dim=0), "model.context_dim"),
    ],
)
def test_text_to_sign_rejects_clip_sizes_the_denoiser_cannot_take(tiny_encoder, kwargs, message) -> None:
    params = dict(context_dim=8, frames=4, height=32, width=32) | kwargs
    with pytest.raises(ConfigError, match=message):
        TextToSign(
            tiny_encoder,
            partial(
                SpaceTimeUNet,
                model_channels=8,
                channel_mult=(1, 2),
                attention_levels=(1,),
                heads=2,
                groups=4,
                patch_size=2,
                max_frames=64,
            ),
            **params,
        )


def test_bad_denoiser_settings_name_the_field() -> None:
    with pytest.raises(ConfigError, match=r"model\.denoiser\.groups"):
        SpaceTimeUNet(model_channels=12, groups=8)
    with pytest.raises(ConfigError, match=r"model\.denoiser\.attention_levels"):
        SpaceTimeUNet(model_channels=8, channel_mult=(1, 2), attention_levels=(2,), groups=4)
    with pytest.raises(ConfigError, match=r"model\.text_encoder\.name_or_path"):
        TextEncoder("/nonexistent/model/folder")
