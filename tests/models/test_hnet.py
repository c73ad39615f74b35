"""HNetGRU built from the real config groups: shapes for every part choice, learning, validation."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from ablab.components.attention import ConvAttention, MultiHeadAttention
from ablab.errors import ConfigError
from ablab.runs.identity import register_resolvers

CONF = str(Path(__file__).resolve().parents[2] / "conf")
register_resolvers()


def build_model(*overrides: str) -> torch.nn.Module:
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("train", overrides=list(overrides))
    return instantiate(cfg.model)


@pytest.mark.parametrize(
    ("attention", "activation", "max_len"),
    list(itertools.product(["additive", "mha", "none"], ["tanh", "relu", "gelu", "identity"], [2, 5, 10])),
)
def test_outputs_have_the_association_shapes(attention: str, activation: str, max_len: int) -> None:
    model = build_model(
        f"model/attention={attention}",
        f"model/activation={activation}",
        f"data.max_len={max_len}",
        "model.hidden_size=16",
    )
    flat, rows, cols = model(torch.rand(3, max_len, max_len))
    assert flat.shape == (3, max_len * max_len)
    assert rows.shape == cols.shape == (3, max_len)


@pytest.mark.parametrize("max_len", [2, 5, 10])
def test_without_head_the_gru_outputs_the_matrix(max_len: int) -> None:
    model = build_model("ablation=hnet/no_fc", f"data.max_len={max_len}")
    flat, rows, _ = model(torch.rand(4, max_len, max_len))
    assert flat.shape == (4, max_len * max_len) and rows.shape == (4, max_len)
    out, _ = model.gru(torch.rand(1, max_len, max_len))
    assert out.shape[-1] == max_len


def test_no_head_with_a_wider_gru_is_a_config_error() -> None:
    with pytest.raises(Exception) as info:
        build_model("model/head=none", "model.hidden_size=64")
    cause = info.value.__cause__ or info.value
    assert isinstance(cause, ConfigError)
    assert "model.hidden_size" in str(cause) and "data.max_len" in str(cause)


def test_row_and_column_outputs_are_maxima_of_the_matrix() -> None:
    model = build_model("data.max_len=3", "model.hidden_size=8")
    flat, rows, cols = model(torch.rand(2, 3, 3))
    matrix = flat.view(2, 3, 3)
    torch.testing.assert_close(rows, matrix.max(dim=-1).values)
    torch.testing.assert_close(cols, matrix.max(dim=-2).values)


def test_conv_attention_is_unscaled_softmax_of_q_transpose_k() -> None:
    torch.manual_seed(0)
    layer = ConvAttention(6)
    x = torch.randn(2, 4, 6)
    q = x @ layer.query.weight.squeeze(-1).T
    k = x @ layer.key.weight.squeeze(-1).T
    v = x @ layer.value.weight.squeeze(-1).T
    weights = torch.softmax(q @ k.transpose(1, 2), dim=-1)
    torch.testing.assert_close(layer(x), weights @ v)
    torch.testing.assert_close(layer.last_weights, weights)
    assert all(conv.bias is None for conv in (layer.query, layer.key, layer.value))


def test_mha_heads_must_divide_the_width() -> None:
    with pytest.raises(ConfigError, match="num_heads"):
        MultiHeadAttention(10, num_heads=4)


def test_loss_falls_when_overfitting_a_tiny_batch() -> None:
    torch.manual_seed(0)
    from ablab.families.hnet.data import generate
    from ablab.families.hnet.task import HNetTask

    data = generate(2, 8, [5, 10], seed=0)
    dist, target = torch.from_numpy(data["dist"]), torch.from_numpy(data["target"])
    task = HNetTask(build_model("model.hidden_size=32"), optimizer=lambda p: torch.optim.Adam(p, lr=1e-2))
    optimizer = task.configure_optimizers()
    losses = []
    for _ in range(150):
        optimizer.zero_grad()
        flat, rows, cols = task(dist)
        loss = (
            torch.nn.functional.binary_cross_entropy_with_logits(flat, target.flatten(1))
            + torch.nn.functional.binary_cross_entropy_with_logits(rows, target.sum(-1))
            + torch.nn.functional.binary_cross_entropy_with_logits(cols, target.sum(-2))
        )
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.25 * losses[0]
